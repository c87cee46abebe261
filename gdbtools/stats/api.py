"""The statistics on a :class:`~gdbtools.stats.selection.Selection`: one fused pass, several tables.

:func:`compute` runs one pass for any combination of frequencies, variant QC, sample QC and the batch
check; :func:`freq`, :func:`variant_qc`, :func:`sample_qc`, :func:`batch_check` are :func:`compute` with one
table; :func:`sex_check` runs its own small pass over chrX/chrY.  Every function takes the same keywords:
``backend`` (``"auto"``: CuPy with a GPU, else the host kernels, else NumPy; chosen once per call),
``unknown_sex`` (see :mod:`gdbtools.stats.ploidy`) and ``client`` (``None``: the current Dask client if
there is one, else this process; ``False``: this process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GdbError
from ..runtime import current_client
from . import engine as en
from . import ploidy as pl
from .batch_check import batch_check_table
from .freq import GRPMAX_EXCLUDE, freq_table
from .sample_qc import sample_qc_table
from .selection import POPULATION_COLUMNS, Selection, build_groups
from .sex_check import Y_METHODS, sex_check_table
from .variant_qc import variant_qc_table

if TYPE_CHECKING:
    import pandas as pd

    from ..table import Table

__all__ = ["Results", "compute", "freq", "variant_qc", "sample_qc", "sex_check", "batch_check"]


class Results:
    """Tables of one pass and how they were computed (``info``).

    ``freq``, ``variant_qc``, ``sample_qc``, ``batch_check``: DataFrames (made from the tables on first access),
    ``None`` for those not asked for.  ``tables``: the same as :class:`~gdbtools.table.Table` (what
    :mod:`gdbtools.outputs` writes, without pandas).
    """

    def __init__(self, tables: dict[str, Table] | None = None, info: dict | None = None):
        self.tables: dict[str, Table] = dict(tables or {})
        self.info: dict = dict(info or {})
        self._frames: dict[str, pd.DataFrame] = {}

    def _frame(self, name: str) -> pd.DataFrame | None:
        if name not in self._frames and name in self.tables:
            self._frames[name] = self.tables[name].to_pandas()
        return self._frames.get(name)

    freq = property(lambda self: self._frame("freq"), doc="The frequency table, or None.")
    variant_qc = property(lambda self: self._frame("variant_qc"), doc="The variant QC table, or None.")
    sample_qc = property(lambda self: self._frame("sample_qc"), doc="The sample QC table, or None.")
    batch_check = property(lambda self: self._frame("batch_check"), doc="The batch check table, or None.")

    def __repr__(self) -> str:
        return f"<Results {', '.join(self.tables) or 'no tables'}>"


def _client(client):
    if client is False:
        return None
    if client is None:
        return current_client()
    return client


def _class_layout(zone: np.ndarray, atype: np.ndarray) -> tuple[np.ndarray, int]:
    layout = np.full((len(pl.ZONES), len(en.ATYPE_NAMES), 3), -1, dtype=np.int16)
    present = np.zeros(len(pl.ZONES) * 8, dtype=bool)  # (zone, allele type) pairs of the selection
    present[zone.astype(np.int64) * 8 + atype.astype(np.int64)] = True
    n = 0
    for combo in np.flatnonzero(present):
        for s in range(3):
            layout[combo // 8, combo % 8, s] = n
            n += 1
    if n > 254:  # pragma: no cover - 7 zones x 6 types x 3 states = 126
        raise AssertionError("too many sample QC classes")
    return layout, n


def _pick_pop_column(by, grpmax_by):
    singles = [e for e in (by or []) if isinstance(e, str)]
    if grpmax_by is False:
        return None
    if grpmax_by is not None:
        if grpmax_by not in singles:
            raise GdbError(f"grpmax_by={grpmax_by!r} is not one of the grouping columns {singles}",
                           fix=f"add {grpmax_by!r} to by (the population groups grpmax is taken over)")
        return grpmax_by
    for name in singles:
        if name in POPULATION_COLUMNS:
            return name
    return None


def _pass_name(freq: bool, qc: bool) -> str:
    """The pass's name in Dask task keys (``gdbtools-<name>-blocks``) and progress lines."""
    return "freq-qc" if freq and qc else ("freq" if freq else "qc")


def compute(sel: Selection, *, freq=False, adj: bool = True, variant_qc: bool = False, sample_qc: bool = False,
            qc_adj: bool = False, batch_by: str | None = None, batch_adj: bool = False, fdr: float = 0.05,
            grpmax_by=None, grpmax_exclude=GRPMAX_EXCLUDE, unknown_sex: str = "exclude", backend: str = "auto",
            client=None, progress: bool = True, on_table: Callable[[str, Table, dict], Any] | None = None) -> Results:
    """Compute the requested tables in one pass over the blocks.

    Parameters
    ----------
    sel : Selection
    freq : bool or sequence
        ``False``: no frequency table; ``True``: the whole selection only; a list of columns (or tuples):
        stratify by them (:func:`gdbtools.stats.selection.build_groups`).
    adj : bool
        Frequencies of the adj view (calls failing the genotype filters missing), plus ``*_raw`` overall.
    variant_qc, sample_qc : bool
    qc_adj : bool
        QC on the adj view (default raw: QC describes the calls as delivered).
    batch_by : str, optional
        Sample column whose values are batches (``pipeline``, ``region``): the batch check table.
    batch_adj : bool
    fdr : float
        False discovery rate of the batch check.
    grpmax_by : str, False or None
        Population column for faf per group and grpmax (``None``: the first of ``by`` named like a
        population column: population, pop, gen_anc, ...; ``False``: none).
    grpmax_exclude : set of str
        Groups left out of grpmax / fafmax (default gnomAD's, :data:`gdbtools.stats.freq.GRPMAX_EXCLUDE`).
    unknown_sex : {"exclude", "diploid"}
    backend : {"auto", "numpy", "host", "cupy"}
    client : distributed.Client, None or False
    progress : bool
        Show the pass's progress: a bar in a terminal or JupyterLab, a line every 10 % (30 s apart at least)
        in a log (:mod:`gdbtools.stats.progress`); ``False``: silent.
    on_table : callable, optional
        Called as ``on_table(name, table, info)`` as soon as each table is made, before the next one is
        (variant QC, frequencies, batch check, sample QC, in this order), so that a writer thread can start
        on it (:func:`gdbtools.outputs.write_qc`); ``info`` is :attr:`Results.info` so far.

    Returns
    -------
    Results
    """
    if unknown_sex not in pl.UNKNOWN_SEX_POLICIES:
        raise GdbError(f"unknown_sex must be one of {', '.join(pl.UNKNOWN_SEX_POLICIES)}, got {unknown_sex!r}")
    t0 = time.perf_counter()
    client = _client(client)
    backend_name = en.resolve_backend(backend, client)
    store = sel.store
    samples = store.sample_arrow
    by = [] if freq is True or freq is False else ([freq] if isinstance(freq, str) else list(freq))
    groups = build_groups(samples, sel.samples, by)
    n_freq = len(groups) if freq is not False else 1
    batch_groups = []
    if batch_by is not None:
        batch_groups = [g for g in build_groups(samples, sel.samples, [batch_by])[1:]]
        if len(batch_groups) < 2:
            raise GdbError(f"the batch check needs at least two values of {batch_by!r} among the selected samples",
                           fix="choose another column, or select more samples")
    all_groups = groups[:n_freq] + batch_groups
    fview = "adj" if adj else "raw"
    qview = "adj" if qc_adj else "raw"
    bview = "adj" if batch_adj else "raw"
    keep: dict[str, list[int]] = {"raw": [], "adj": []}
    if freq is not False:
        keep[fview] += list(range(n_freq))
        if adj:
            keep["raw"].append(0)
    if variant_qc:
        keep[qview].append(0)
        if qc_adj:
            keep["raw"].append(0)
    keep[bview] += list(range(n_freq, n_freq + len(batch_groups)))
    keep = {view: sorted(set(groups_)) for view, groups_ in keep.items()}
    zone, atype = sel.zones(), sel.allele_types()
    layout, n_classes = _class_layout(zone, atype) if sample_qc else (None, 0)
    sex = sel.sex
    plan = en.Plan(str(store.path), backend_name, store.n_samples, np.stack([g.mask for g in all_groups]), keep,
                   unknown_sex=unknown_sex, sex=sex, hwe_view=qview if variant_qc else None,
                   sample_view=qview if sample_qc else None, class_layout=layout, n_classes=n_classes,
                   count_filtered=bool(sample_qc and qc_adj and sel.has_adj))
    specs = sel.block_specs()
    t1 = time.perf_counter()
    res = en.run_pass(plan, specs, zone, atype, client=client, progress=progress,
                      name=_pass_name(freq is not False, variant_qc or sample_qc or bool(batch_groups)))
    t2 = time.perf_counter()
    variants = sel.variant_table

    def counts_of(view, g):
        return res.counts[view][:, keep[view].index(g)]

    out = Results(info={"backend": backend_name, "dask": client is not None, "n_variants": len(variants),
                        "n_samples": int(sel.samples.sum()), "n_blocks": len(specs),
                        "adj_filters_present": sel.has_adj})
    made: dict[str, Table] = {}

    def made_table(name: str, table: Table) -> None:
        made[name] = table
        if on_table is not None:
            on_table(name, table, out.info)

    # the tables whose writing takes longest first (a writer thread starts on each while the next is made)
    if variant_qc:
        assert res.hwe is not None  # the pass computes HWE when variant QC is asked for
        table = variant_qc_table(variants, counts_of(qview, 0), res.hwe,
                                 raw_counts=counts_of("raw", 0) if qc_adj else None, x_nonpar=zone == pl.X_NONPAR)
        table.attrs["adj"] = bool(qc_adj)
        made_table("variant_qc", table)
    if freq is not False:
        fcounts = np.stack([counts_of(fview, g) for g in range(n_freq)], axis=1)  # group 0: the whole selection
        made_table("freq", freq_table(variants, groups, fcounts, adj=adj,
                                      raw_overall=counts_of("raw", 0) if adj else None,
                                      grpmax_column=_pick_pop_column(by, grpmax_by) if (by or grpmax_by) else None,
                                      grpmax_exclude=grpmax_exclude, has_adj=sel.has_adj))
    if batch_groups:
        bcounts = np.stack([counts_of(bview, g) for g in range(n_freq, n_freq + len(batch_groups))], axis=1)
        table = batch_check_table(variants, [g.label for g in batch_groups], bcounts, fdr=fdr)
        table.attrs.update({"batch_by": batch_by, "fdr": fdr, "adj": bool(batch_adj),
                            "batches": {g.label: g.meta[batch_by] for g in batch_groups}})
        made_table("batch_check", table)
    if sample_qc:
        assert layout is not None
        table = sample_qc_table(samples, sel.samples, res, layout, sex, unknown_sex, adj=qc_adj)
        table.attrs["adj"] = bool(qc_adj)
        made_table("sample_qc", table)
    out.tables.update((name, made[name]) for name in ("freq", "variant_qc", "sample_qc", "batch_check") if name in made)
    t3 = time.perf_counter()
    out.info.update({"seconds_setup": t1 - t0, "seconds_pass": t2 - t1, "seconds_tables": t3 - t2,
                     "pass_timers": {k: round(v, 4) for k, v in res.timers.items()}})
    return out


def freq(sel: Selection, by=(), *, adj: bool = True, **kwargs) -> pd.DataFrame:
    """Allele frequencies of the selection and of its groups by `by` (see :func:`compute`)."""
    return compute(sel, freq=[by] if isinstance(by, str) else list(by or ()), adj=adj, **kwargs).freq


def variant_qc(sel: Selection, *, adj: bool = False, **kwargs) -> pd.DataFrame:
    """Hail's ``variant_qc`` fields per variant (see :func:`compute`)."""
    return compute(sel, variant_qc=True, qc_adj=adj, **kwargs).variant_qc


def sample_qc(sel: Selection, *, adj: bool = False, **kwargs) -> pd.DataFrame:
    """Hail's ``sample_qc`` fields and plink's inbreeding F per selected sample (see :func:`compute`)."""
    return compute(sel, sample_qc=True, qc_adj=adj, **kwargs).sample_qc


def batch_check(sel: Selection, by: str = "pipeline", *, adj: bool = False, fdr: float = 0.05,
                **kwargs) -> pd.DataFrame:
    """Variants whose allele frequency differs between batches of column `by` (see :func:`compute`)."""
    return compute(sel, batch_by=by, batch_adj=adj, fdr=fdr, **kwargs).batch_check


def sex_check(sel: Selection, *, female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
              female_max_y_calls: int = 0, male_min_y_calls: int | None = None, backend: str = "auto",
              client=None, progress: bool = True, as_table: bool = False) -> pd.DataFrame | Table:
    """plink's ``--check-sex``: chrX F per sample against the reported sex (plus chrY call counts).

    Allele frequencies count XY samples as haploid and samples of unknown sex as diploid (plink), over the
    selected samples; F uses the polymorphic chrX variants outside the PARs (raw calls, each read as
    diploid).  ``y_n_called`` counts each sample's calls on chrY outside the PARs (plink's YCOUNT).

    Parameters
    ----------
    sel : Selection
    female_max_f, male_min_f : float
        XX if F < `female_max_f`, XY if F > `male_min_f` (plink's 0.2 and 0.8).
    y_method : {None, "ycount", "y-only"}
        ``None``: chrX F only (plink's default).  ``"ycount"`` (plink ``--check-sex ycount``): an XX call
        also needs at most `female_max_y_calls` chrY calls and an XY call at least `male_min_y_calls`, else
        the sample is ambiguous.  ``"y-only"`` (plink ``--check-sex y-only``): XY with at least
        `male_min_y_calls` chrY calls, XX with at most `female_max_y_calls`, F not used (still reported
        when the selection has chrX).  Both need chrY variants outside the PARs in the selection: without
        them this raises (plink 1.9 warns and goes on with ycount, which with its default thresholds is the
        F-only call).
    female_max_y_calls : int
        plink's default 0.
    male_min_y_calls : int, optional
        plink's default: 0 for ycount, 1 for y-only.
    backend, client, progress
        As for :func:`compute`.
    as_table : bool
        Return the :class:`~gdbtools.table.Table` (what :mod:`gdbtools.outputs` writes, no pandas) instead
        of a DataFrame.
    """
    if y_method == "y_only":
        y_method = "y-only"
    if y_method not in Y_METHODS:
        raise GdbError(f"y_method must be None, 'ycount' or 'y-only', got {y_method!r}")
    for name, value in (("female_max_y_calls", female_max_y_calls), ("male_min_y_calls", male_min_y_calls)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
            raise GdbError(f"{name} must be a non-negative integer, got {value!r}")
    if male_min_y_calls is None:
        male_min_y_calls = 1 if y_method == "y-only" else 0
    client = _client(client)
    backend_name = en.resolve_backend(backend, client)
    zone_all = sel.zones()
    rows = np.isin(zone_all, (pl.X_NONPAR, pl.Y_NONPAR))
    if y_method != "y-only" and not (zone_all == pl.X_NONPAR).any():
        raise GdbError("the sex check needs chrX variants outside the PARs, and the selection has none",
                       fix="select a region on chrX (or none), and check the store's genome build")
    if y_method is not None and not (zone_all == pl.Y_NONPAR).any():
        raise GdbError(f"the sex check with y_method={y_method!r} counts chrY calls outside the PARs, and the "
                       "selection has no such variant",
                       fix="use y_method=None (chrX F only), or select chrY too (and check the store's build)")
    sub = sel.with_variants(rows)
    zone, atype = zone_all[rows], sel.allele_types()[rows]
    layout, n_classes = _class_layout(zone, atype)
    plan = en.Plan(str(sel.store.path), backend_name, sel.store.n_samples, sel.samples[None, :], {},
                   unknown_sex="diploid", sex=sel.sex, sample_view="raw", f_zones=(pl.X_NONPAR,),
                   class_layout=layout, n_classes=n_classes)
    res = en.run_pass(plan, sub.block_specs(), zone, atype, client=client, name="sex-check", progress=progress)
    out = sex_check_table(sel.store.sample_arrow, sel.samples, res, layout, female_max_f=female_max_f,
                          male_min_f=male_min_f, y_method=y_method, female_max_y_calls=int(female_max_y_calls),
                          male_min_y_calls=int(male_min_y_calls))
    out.attrs.update({"female_max_f": female_max_f, "male_min_f": male_min_f, "y_method": y_method,
                      "female_max_y_calls": int(female_max_y_calls), "male_min_y_calls": int(male_min_y_calls),
                      "backend": backend_name})
    return out if as_table else out.to_pandas()
