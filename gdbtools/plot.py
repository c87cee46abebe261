"""The common QC pictures of a cohort, from its result tables: ``gdb.plot.af_spectrum(cohort.variant_qc())``.

Every function takes the tables that :mod:`gdbtools.stats` returns (or ``gdbtools qc`` writes) and returns a
:class:`Figure`: a matplotlib Figure that a notebook shows once, as a picture, when it is the cell's last
value (no stray ``Text(...)`` or ``<Axes>`` lines, and no second copy from pyplot). Figures are made without
pyplot, so the report can draw them in any thread and process. Importing this module imports nothing heavy;
matplotlib is imported when a picture is drawn.

- :func:`af_spectrum`: variants by allele count, one bar per count for AC = 1 .. ``discrete_max`` (the
  spectrum is discrete there), then log-spaced frequency bins;
- :func:`hwe_qq`: HWE p-values against the uniform, one panel per contig class (autosomes, chrX PARs,
  chrX outside the PARs with its own test), one series per table (pass one table per population to see them
  apart; the title says whether samples were pooled);
- :func:`sex_check`: chrX F against chrY calls (or against the reported sex when there is no chrY), the
  plink thresholds drawn, every PROBLEM sample labelled;
- :func:`sample_metrics`: call rate, heterozygosity and Ti/Tv (or any sample QC column) by sample group;
- :func:`batch_effect`: the batch check's p-values against the uniform and the flagged variants per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GdbError
from .genome import BUILDS, Build, contig_kind

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure as MplFigure

__all__ = ["af_spectrum", "hwe_qq", "sex_check", "sample_metrics", "batch_effect", "contig_class",
           "spectrum_bins", "SAMPLE_METRICS", "new_figure"]

#: the sample metrics drawn by default: column (or ``heterozygosity``, n_het / n_called) -> axis label
SAMPLE_METRICS = {"call_rate": "call rate", "heterozygosity": "heterozygosity (n_het / n_called)",
                  "r_ti_tv": "Ti/Tv (n_transition / n_transversion)"}
SEX_COLOURS = {"XX": "tab:red", "XY": "tab:blue", "unknown": "tab:gray"}
_CLASS_ORDER = ("autosomes", "chrX PAR", "chrX non-PAR")


def new_figure(n_axes: int = 1, *, width: float = 5.0, height: float = 3.6) -> tuple[MplFigure, list[Any]]:
    """A figure of ``n_axes`` panels in a row that shows itself once in a notebook (PNG), and its axes."""
    from matplotlib.figure import Figure

    class PlotFigure(Figure):
        """A matplotlib Figure that IPython displays as a PNG (without pyplot)."""

        def _repr_png_(self) -> bytes:
            import io

            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=100)
            return buf.getvalue()

    fig = PlotFigure(figsize=(width * n_axes, height), layout="constrained")
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    return fig, list(axes)


def _check_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise GdbError(f"the {what} has no column {', '.join(missing)} (it has {', '.join(map(str, table.columns))})",
                       fix=f"pass the {what} as gdbtools computes it (or name the columns in the call)")


# -- allele frequency spectrum --------------------------------------------------------------------------------
def spectrum_bins(ac, an, *, folded: bool = True, discrete_max: int = 5, n_log_bins: int = 6
                  ) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Variants per bin of the allele-frequency spectrum: AC = 1 .. `discrete_max` one bin each, then AF bins.

    Parameters
    ----------
    ac, an : (V,) int
        Allele count and number of called alleles per variant.
    folded : bool
        Count the minor allele (``min(AC, AN - AC)``, frequencies up to 0.5) instead of the alternate allele.
    discrete_max : int
        Counts 1 .. `discrete_max` are bins of their own (a singleton is one allele at any AN).
    n_log_bins : int
        Log-spaced frequency bins above them, from the lowest frequency there to 0.5 (folded) or 1.

    Returns
    -------
    labels : list of str
        ``"1"``, ``"2"``, ..., then ``"0.61-1.2%"``-style frequency ranges.
    counts : (B,) int64
    excluded : dict
        ``{"monomorphic": n, "no_calls": n}``: variants with count 0 (or all alternate when unfolded: those are
        in the last bin) and variants with AN = 0, not in any bin.
    """
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    called = an > 0
    count = np.minimum(ac, an - ac) if folded else ac
    poly = called & (count > 0)
    excluded = {"monomorphic": int((called & (count == 0)).sum()), "no_calls": int((~called).sum())}
    labels = [str(k) for k in range(1, discrete_max + 1)]
    counts = [int((poly & (count == k)).sum()) for k in range(1, discrete_max + 1)]
    rest = poly & (count > discrete_max)
    if rest.any():
        freq = count[rest] / an[rest]
        top = 0.5 if folded else 1.0
        edges = np.geomspace(freq.min(), top, n_log_bins + 1)
        which = np.clip(np.searchsorted(edges, freq, side="right") - 1, 0, n_log_bins - 1)
        counts += np.bincount(which, minlength=n_log_bins).tolist()
        labels += [f"{_pct(lo)}-{_pct(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
    return labels, np.asarray(counts, dtype=np.int64), excluded


def _pct(x: float) -> str:
    return f"{100 * x:.2g}%"


def af_spectrum(table: pd.DataFrame, *, ac: str = "AC", an: str = "AN", folded: bool = True, discrete_max: int = 5,
                n_log_bins: int = 6, title: str | None = None) -> MplFigure:
    """The allele-frequency spectrum of a variant QC or frequency table (bins of :func:`spectrum_bins`).

    `ac`/`an` name the columns (``"AC_nfe"``, ``"AN_nfe"`` for a group of a frequency table). The title says
    how many variants are drawn and how many are left out (monomorphic, no calls).
    """
    _check_columns(table, [ac, an], "variant table")
    labels, counts, excluded = spectrum_bins(table[ac].to_numpy(), table[an].to_numpy(), folded=folded,
                                             discrete_max=discrete_max, n_log_bins=n_log_bins)
    fig, (axis,) = new_figure(width=7.5)
    x = np.arange(len(labels))
    colours = ["tab:blue"] * min(discrete_max, len(labels)) + ["tab:orange"] * max(0, len(labels) - discrete_max)
    axis.bar(x, np.maximum(counts, 0), color=colours)
    axis.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    if counts.max(initial=0) > 0:
        axis.set_yscale("log")
    allele = "minor allele" if folded else "alternate allele"
    axis.set_xlabel(f"{allele} count (1-{discrete_max}), then {allele} frequency")
    axis.set_ylabel("variants")
    left = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in excluded.items() if v)
    axis.set_title(title or f"Allele-frequency spectrum: {int(counts.sum()):,} variants"
                   + (f" (not shown: {left})" if left else ""), fontsize=10)
    return fig


# -- HWE QQ per contig class ------------------------------------------------------------------------------------
def contig_class(contig, pos, build: Build | str | None) -> np.ndarray:
    """``"autosomes"``, ``"chrX PAR"``, ``"chrX non-PAR"``, or ``""`` (chrY, chrM, other contigs) per variant.

    Without a build the PARs are unknown and every chrX variant is ``"chrX non-PAR"``.
    """
    import pandas as pd

    if isinstance(build, str):
        build = BUILDS.get(build)
    codes, names = pd.factorize(pd.Series(np.asarray(contig, dtype=object)))
    pos = np.asarray(pos)
    out = np.full(len(codes), "", dtype=object)
    for i, name in enumerate(names):
        rows = codes == i
        kind = contig_kind(str(name))
        if kind.isdigit() and 1 <= int(kind) <= 22:
            out[rows] = "autosomes"
        elif kind == "X":
            par = build.in_par("X", pos[rows]) if build is not None else np.zeros(int(rows.sum()), bool)
            out[rows] = np.where(par, "chrX PAR", "chrX non-PAR")
    return out


def _qq_points(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(expected, observed) -log10 p of the finite p-values, and the inflation factor lambda: the median of the
    1-df chi-squared statistics of the p-values over its expected value (0.455)."""
    from scipy.stats import chi2

    p = np.sort(p[np.isfinite(p)])
    n = len(p)
    expected = -np.log10((np.arange(1, n + 1) - 0.5) / n)
    observed = -np.log10(np.clip(p, 1e-300, 1.0))
    lam = float(np.median(chi2.isf(p, 1)) / chi2.ppf(0.5, 1)) if n else float("nan")
    return expected, observed, lam


def _polymorphic(table: pd.DataFrame) -> np.ndarray:
    """0 < AC < AN where the table has AC and AN (a monomorphic variant's p is 1, or 0.5 as a mid-p), else all."""
    if "AC" not in table.columns or "AN" not in table.columns:
        return np.ones(len(table), dtype=bool)
    ac, an = table["AC"].to_numpy(dtype=np.float64), table["AN"].to_numpy(dtype=np.float64)
    return (ac > 0) & (ac < an)


def hwe_qq(variant_qc: pd.DataFrame | Mapping[str, pd.DataFrame], *, build: Build | str | None = None,
           p_column: str = "p_value_hwe", x_column: str = "p_value_hwe_x", pooled: str | None = None) -> MplFigure:
    """HWE QQ plots, one panel per contig class, one series per table.

    Parameters
    ----------
    variant_qc : DataFrame or mapping of label -> DataFrame
        Variant QC table(s) with ``contig``, ``pos`` and the p-value columns. A mapping draws each (e.g. one
        per population: ``{p: cohort.select(samples=f"population == '{p}'").variant_qc() for p in pops}``).
    build : Build or its name, optional
        For the chrX PARs (``cohort.store.build_name``); without it all of chrX is "non-PAR".
    p_column : str
        Autosomes and chrX PARs: the test of the diploid calls (default mid-p, Hail).
    x_column : str
        chrX outside the PARs: the test with males (Graffelman-Weir, ``p_value_hwe_x``) when the table has it,
        else `p_column` (the XX calls only); the panel title says which.
    pooled : str, optional
        Words for the samples of a single table (default "all samples pooled in one test").

    Monomorphic variants (AC 0 or AN; their p is 1, or 0.5 as a mid-p) are left out, and chrY, chrM and other
    contigs, which have no HWE test; the legends count what is drawn and give the inflation factor lambda.
    """
    tables = dict(variant_qc) if isinstance(variant_qc, Mapping) else {"": variant_qc}
    for t in tables.values():
        _check_columns(t, ["contig", "pos", p_column], "variant QC table")
    classes = {label: contig_class(t["contig"].to_numpy(), t["pos"].to_numpy(), build) for label, t in tables.items()}
    present = [c for c in _CLASS_ORDER if any((cls == c).any() for cls in classes.values())]
    if not present:
        raise GdbError("no autosome or chrX variant to draw HWE p-values of",
                       fix="select autosomes or chrX (chrY and chrM have no HWE test)")
    fig, axes = new_figure(len(present), width=4.2, height=4.0)
    for axis, cls in zip(axes, present):
        column_used = p_column
        n_drawn = 0
        for label, t in tables.items():
            column = x_column if cls == "chrX non-PAR" and x_column in t.columns and \
                t[x_column].notna().any() else p_column
            column_used = column
            rows = (classes[label] == cls) & _polymorphic(t)
            p = t.loc[rows, column].to_numpy(dtype=np.float64)
            expected, observed, lam = _qq_points(p)
            n_drawn += len(expected)
            name = f"{label}: " if label else ""
            axis.scatter(expected, observed, s=6, label=f"{name}{len(expected):,} variants, lambda {lam:.2f}")
        top = axis.get_xlim()[1]
        axis.plot([0, top], [0, top], color="black", lw=0.8, ls="--")
        axis.set_xlabel("expected -log10 p")
        axis.set_ylabel("observed -log10 p")
        test = "with males, Graffelman-Weir" if column_used == x_column else "XX calls only" \
            if cls == "chrX non-PAR" else "diploid calls"
        axis.set_title(f"{cls}: {column_used}\n({test}; polymorphic variants)", fontsize=9)
        axis.legend(fontsize=7, loc="upper left")
    who = (pooled or "all samples pooled in one test") if len(tables) == 1 else \
        f"{len(tables)} groups, each tested apart"
    fig.suptitle(f"HWE QQ plot ({who})", fontsize=10)
    return fig


# -- sex check ------------------------------------------------------------------------------------------------
def sex_check(table: pd.DataFrame, *, female_max_f: float = 0.2, male_min_f: float = 0.8,
              max_labels: int = 20) -> MplFigure:
    """chrX F against chrY calls per sample, coloured by reported sex; PROBLEM samples circled and labelled.

    With no chrY variant in the table (``y_n_variants`` 0) the vertical axis is the reported sex (points
    spread a little) and the title says so. At most `max_labels` ids are written (the title counts the rest).
    """
    _check_columns(table, ["sample_id", "reported_sex", "status", "f_stat"], "sex check table")
    reported = table["reported_sex"].astype(object).where(table["reported_sex"].notna(), "unknown").astype(str)
    has_y = "y_n_variants" in table.columns and bool((table["y_n_variants"] > 0).any())
    fig, (axis,) = new_figure(width=7.0, height=4.6)
    if has_y:
        y = table["y_n_called"].to_numpy(dtype=np.float64)
        axis.set_ylabel("chrY calls outside the PARs")
    else:
        order = {"XX": 0, "XY": 1, "unknown": 2}
        jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(table))
        y = reported.map(order).fillna(2).to_numpy(dtype=np.float64) + jitter
        axis.set_yticks([0, 1, 2], ["reported XX", "reported XY", "unknown"])
    f = table["f_stat"].to_numpy(dtype=np.float64)
    for sex, colour in SEX_COLOURS.items():
        rows = (reported == sex).to_numpy()
        if rows.any():
            axis.scatter(f[rows], y[rows], s=12, color=colour, alpha=0.7, label=f"reported {sex} ({rows.sum()})")
    problem = (table["status"] == "PROBLEM").to_numpy()
    if problem.any():
        axis.scatter(f[problem], y[problem], s=60, facecolors="none", edgecolors="black", lw=1.0,
                     label=f"PROBLEM ({problem.sum()})")
        for i in np.flatnonzero(problem)[:max_labels]:
            axis.annotate(str(table["sample_id"].iloc[i]), (f[i], y[i]), fontsize=6, xytext=(3, 3),
                          textcoords="offset points")
    for x in (female_max_f, male_min_f):
        axis.axvline(x, color="gray", lw=0.8, ls=":")
    axis.set_xlabel(f"chrX inbreeding F (XX below {female_max_f}, XY above {male_min_f})")
    axis.legend(fontsize=7, loc="best")
    more = int(problem.sum()) - max_labels
    axis.set_title("Sex check" + ("" if has_y else " (no chrY variants: chrX F only)")
                   + (f"; {more} more PROBLEM samples not labelled" if more > 0 else ""), fontsize=10)
    return fig


# -- sample metrics by group ----------------------------------------------------------------------------------
def _metric(sample_qc: pd.DataFrame, name: str) -> np.ndarray:
    if name == "heterozygosity" and name not in sample_qc.columns:
        _check_columns(sample_qc, ["n_het", "n_called"], "sample QC table")
        called = sample_qc["n_called"].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(called > 0, sample_qc["n_het"].to_numpy(dtype=np.float64) / called, np.nan)
    _check_columns(sample_qc, [name], "sample QC table")
    return sample_qc[name].to_numpy(dtype=np.float64)


def sample_metrics(sample_qc: pd.DataFrame, groups: pd.Series | None = None, *,
                   metrics: Sequence[str] | Mapping[str, str] = tuple(SAMPLE_METRICS),
                   outliers: pd.Series | None = None, group_name: str | None = None) -> MplFigure:
    """Box plots (with the samples as points) of sample QC metrics by group, one panel per metric.

    Parameters
    ----------
    sample_qc : DataFrame
        A sample QC table (index ``sample_index``).
    groups : Series, optional
        Group of each sample, aligned on the index (``cohort.samples.set_index("sample_index")["population"]``);
        ``None``: one group. Missing values form the group "missing".
    metrics : sequence of column names, or mapping column -> axis label
        Default: call rate, heterozygosity (n_het / n_called) and Ti/Tv.
    outliers : (N,) bool Series, optional
        Samples drawn in red (e.g. ``sample_outliers(...)["outlier"]``), aligned on the index.
    """
    import pandas as pd

    labels = dict(metrics) if isinstance(metrics, Mapping) else {m: SAMPLE_METRICS.get(m, m) for m in metrics}
    if groups is None:
        group = pd.Series("all samples", index=sample_qc.index)
    else:
        group = groups.reindex(sample_qc.index).astype(object).where(lambda g: g.notna(), "missing").astype(str)
    names = sorted(group.unique())
    flagged = np.zeros(len(sample_qc), bool) if outliers is None else \
        outliers.reindex(sample_qc.index).fillna(False).to_numpy(dtype=bool)
    fig, axes = new_figure(len(labels), width=max(3.5, 0.6 * len(names) + 2), height=3.8)
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(sample_qc))
    for axis, (column, label) in zip(axes, labels.items()):
        values = _metric(sample_qc, column)
        data = [values[(group == g).to_numpy() & np.isfinite(values)] for g in names]
        axis.boxplot(data, showfliers=False, widths=0.6)
        position = group.map({g: i + 1 for i, g in enumerate(names)}).to_numpy(dtype=np.float64) + jitter
        axis.scatter(position[~flagged], values[~flagged], s=5, color="tab:blue", alpha=0.5)
        if flagged.any():
            axis.scatter(position[flagged], values[flagged], s=14, color="tab:red", label="outlier")
            axis.legend(fontsize=7)
        axis.set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right", fontsize=8)
        axis.set_ylabel(label, fontsize=9)
    fig.suptitle(f"Sample QC by {group_name or 'group'} ({len(sample_qc):,} samples"
                 + (f", {int(flagged.sum())} outliers in red" if outliers is not None else "") + ")", fontsize=10)
    return fig


# -- batch effects --------------------------------------------------------------------------------------------
def batch_effect(batch_check: pd.DataFrame) -> MplFigure:
    """The batch check: its p-values against the uniform (lambda) and the flagged variants per batch."""
    _check_columns(batch_check, ["p_value", "flagged", "batch"], "batch check table")
    fig, (qq, bars) = new_figure(2, width=4.6, height=3.8)
    expected, observed, lam = _qq_points(batch_check["p_value"].to_numpy(dtype=np.float64))
    qq.scatter(expected, observed, s=5, color="tab:purple")
    top = qq.get_xlim()[1]
    qq.plot([0, top], [0, top], color="black", lw=0.8, ls="--")
    qq.set_xlabel("expected -log10 p")
    qq.set_ylabel("observed -log10 p")
    qq.set_title(f"batch p (smallest x batches): {len(expected):,} variants, lambda {lam:.2f}", fontsize=9)
    batches = list(batch_check.attrs.get("batches") or sorted(batch_check["batch"].dropna().unique()))
    flagged = batch_check.loc[batch_check["flagged"].astype(bool), "batch"].value_counts()
    counts = [int(flagged.get(b, 0)) for b in batches]
    bars.bar(range(len(batches)), counts, color="tab:purple")
    bars.set_xticks(range(len(batches)), [str(b) for b in batches], rotation=45, ha="right", fontsize=8)
    bars.set_ylabel("flagged variants (most different batch)")
    fdr = batch_check.attrs.get("fdr")
    bars.set_title(f"flagged at FDR {fdr}: {sum(counts):,} of {len(batch_check):,}" if fdr is not None
                   else f"flagged: {sum(counts):,} of {len(batch_check):,}", fontsize=9)
    by = batch_check.attrs.get("batch_by")
    fig.suptitle(f"Batch effects{f' by {by}' if by else ''}", fontsize=10)
    return fig
