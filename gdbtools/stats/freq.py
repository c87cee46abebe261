"""Allele frequencies per sample group: gnomAD's fields with bcftools ``+fill-tags`` names, faf and grpmax.

The table is *wide*, one row per variant, one set of columns per group (see ``docs/STATISTICS.md``)::

    contig pos ref alt | AC AN AF nhomalt AC_Het AC_Hom AC_Hemi NS | AC_raw ... | AC_nfe AN_nfe ... | faf95 ...

- the whole selection has the bare names (``AC``), each group the names with its label (``AC_nfe``,
  ``AC_nfe_XX``: the values of the grouping columns in the order of ``by``, joined by ``_``);
- with ``adj=True`` the counts are of the adj view (calls failing the genotype filters are missing) and the
  whole selection also gets ``AC_raw``, ``AN_raw``, ``AF_raw``, ``nhomalt_raw`` (gnomAD's release fields);
- ``faf95``/``faf99`` for the whole selection and each group of the population column, then ``grpmax`` and
  ``fafmax_*`` over those groups;
- ``df.attrs["freq_meta"]`` lists the groups (gnomAD's ``freq_meta``): label, view (``group``: adj or raw),
  column values and ``n_samples``; a sample column named ``group``, ``label`` or ``n_samples`` appears as
  ``column:group`` ...; :func:`freq_meta` returns it as a table.  ``to_parquet`` keeps ``attrs``.

The same names serve a Parquet release and a sites-only VCF: ``AC``, ``AN``, ``AF``, ``AC_Het``, ``AC_Hom``,
``AC_Hemi``, ``NS`` are the INFO tags of ``bcftools +fill-tags`` (per group ``AC_<group>`` ..., as
``+fill-tags -S``), ``nhomalt``, ``faf95``, ``grpmax`` those of gnomAD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..table import INT32, STRING, Table, int32_with_nulls, text_of_codes
from .engine.counts import genotype_totals
from .gammainc import gammainccinv
from .selection import Group
from .variables import check_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GRPMAX_EXCLUDE", "filtering_allele_frequency", "freq_table", "freq_meta", "PER_GROUP", "META_KEYS"]

# gnomAD leaves these groups out of grpmax / fafmax: bottlenecked (founder) populations, whose drift-raised
# frequencies would over-filter (asj, fin, ami), and heterogeneous or catch-all groups (mid in v4, remaining
# / oth / unknown).  Compared case-insensitively with the group's value.
GRPMAX_EXCLUDE = frozenset({"asj", "fin", "ami", "mid", "oth", "remaining", "other", "unknown", "unk"})
PER_GROUP = ("AC", "AN", "AF", "nhomalt", "AC_Het", "AC_Hom", "AC_Hemi", "NS")


def filtering_allele_frequency(ac, an, ci: float = 0.95) -> np.ndarray:
    """gnomAD's filtering allele frequency (Hail's ``filtering_allele_frequency``), exactly.

    The highest true allele frequency at which the observed `ac` (or more) would still be seen with
    probability ``1 - ci`` under a Poisson model: ``lambda / an`` where ``P(X <= ac - 1 | lambda) = ci``.
    Hail finds it by root finding on a grid of 1e-6 and returns a value up to about 1e-6 *below* this one;
    here it is the exact root (:func:`gdbtools.stats.gammainc.gammainccinv`: SciPy's ``gammainccinv``
    without importing SciPy, equal to it within a relative 1e-12).

    Parameters
    ----------
    ac, an : (V,) int
    ci : float
        0.95 for faf95, 0.99 for faf99.

    Returns
    -------
    (V,) float64
        0 where ``ac <= 1`` or ``an == 0`` (Hail: "FAF should not be calculated on singletons").
    """
    ac, an = np.asarray(ac), np.asarray(an, dtype=np.float64)
    out = np.zeros(np.broadcast(ac, an).shape, dtype=np.float64)
    ok = (ac > 1) & (an > 0)
    if np.any(ok):
        # Q(ac, lambda) = P(Poisson(lambda) <= ac - 1) = ci; lambda depends on ac only: once per distinct ac
        counts = ac[ok]
        if counts.dtype.kind in "iu":  # integer counts: distinct values by a lookup table, not a sort
            seen = np.zeros(int(counts.max()) + 1, dtype=bool)
            seen[counts] = True
            uniq = np.flatnonzero(seen)
            inverse = np.cumsum(seen) - 1
            lam = gammainccinv(uniq.astype(np.float64), ci)[inverse[counts]]
        else:
            uniq, inverse = np.unique(counts.astype(np.float64), return_inverse=True)
            lam = gammainccinv(uniq, ci)[inverse]
        out[ok] = lam / an[ok]
    return out


def _af(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(an > 0, ac / np.where(an > 0, an, 1), np.nan)


def _group_columns(counts: np.ndarray, suffix: str) -> dict[str, np.ndarray]:
    tot = genotype_totals(counts)
    cols = {}
    for name in PER_GROUP:
        key = name if not suffix else f"{name}_{suffix}"
        cols[key] = _af(tot["AC"], tot["AN"]) if name == "AF" else tot[name].astype(np.int32)
    return cols


def freq_table(variants: Table, groups: list[Group], counts: np.ndarray, *, adj: bool,
               raw_overall: np.ndarray | None = None, grpmax_column: str | None = None,
               grpmax_exclude=GRPMAX_EXCLUDE, has_adj: bool = True) -> Table:
    """Assemble the frequency table from per-variant genotype counts (a :class:`~gdbtools.table.Table`;
    :func:`gdbtools.stats.compute` hands it out as a DataFrame).

    Parameters
    ----------
    variants : Table
        The selected variants (:attr:`Selection.variant_table`: index ``variant_index``; contig, pos, ref, alt).
    groups : list of Group
        Group 0 is the whole selection.
    counts : (V, G, 6) int32
        Genotype counts of the view (:data:`gdbtools.stats.engine.COUNT_FIELDS`).
    adj : bool
        Whether `counts` are of the adj view (then `raw_overall`, ``(V, 6)``, gives the ``*_raw`` columns).
    grpmax_column : str, optional
        Column whose single-column groups get faf and enter grpmax / fafmax.
    """
    cols: dict = {}
    for name in ("contig", "pos", "ref", "alt"):
        cols[name] = variants[name]
    cols.update(_group_columns(counts[:, 0], ""))
    if adj and raw_overall is not None:
        raw = genotype_totals(raw_overall)
        cols.update({"AC_raw": raw["AC"].astype(np.int32), "AN_raw": raw["AN"].astype(np.int32),
                     "AF_raw": _af(raw["AC"], raw["AN"]), "nhomalt_raw": raw["nhomalt"].astype(np.int32)})
    for g, group in enumerate(groups[1:], start=1):
        cols.update(_group_columns(counts[:, g], group.label))
    # filtering allele frequency: whole selection and each population group
    pop_groups = [(g, grp) for g, grp in enumerate(groups)
                  if grpmax_column is not None and list(grp.meta) == [grpmax_column]]
    for ci, name in ((0.95, "faf95"), (0.99, "faf99")):
        cols[name] = filtering_allele_frequency(cols["AC"], cols["AN"], ci)
        for _, grp in pop_groups:
            cols[f"{name}_{grp.label}"] = filtering_allele_frequency(cols[f"AC_{grp.label}"],
                                                                     cols[f"AN_{grp.label}"], ci)
    if grpmax_column is not None:
        exclude = {str(x).lower() for x in grpmax_exclude}
        eligible = [grp for _, grp in pop_groups if str(grp.meta[grpmax_column]).lower() not in exclude]
        cols.update(_grpmax(cols, eligible, len(variants)))
    kinds = {name: STRING for name in _GRPMAX_TEXT} | {f"{name}_grpmax": INT32 for name in ("AC", "AN", "nhomalt")}
    df = Table(cols, variants.index, "variant_index", kinds=kinds)
    view = "adj" if adj else "raw"
    df.attrs["freq_meta"] = [_meta_entry(grp.label, view, grp.meta, grp.n_samples) for grp in groups]
    if adj and raw_overall is not None:
        df.attrs["freq_meta"].append(_meta_entry("raw", "raw", {}, groups[0].n_samples))
    df.attrs["adj"] = bool(adj)
    df.attrs["adj_filters_present"] = bool(has_adj)
    df.attrs["grpmax_column"] = grpmax_column
    df.attrs["grpmax_exclude"] = sorted(str(x) for x in grpmax_exclude) if grpmax_column else []
    return check_table(df, "freq")


_GRPMAX_TEXT = ("grpmax", "fafmax_faf95_max_gen_anc", "fafmax_faf99_max_gen_anc")  # pandas "string" columns


META_KEYS = ("label", "group", "n_samples")  # the fields of a freq_meta entry that are not sample columns
META_RENAME = "column:"  # prefix of a sample column whose name is one of META_KEYS


def _meta_entry(label: str, view: str, meta: dict, n_samples: int) -> dict:
    """One ``freq_meta`` entry: ``label``, ``group`` (gnomAD's adj/raw marker), the grouping columns' values,
    ``n_samples``.  A grouping column named like a marker field (``group``, ``label``, ``n_samples``) is
    written as ``column:<name>`` so it can neither overwrite the marker nor be overwritten by it."""
    entry: dict = {"label": label, "group": view}
    for column, value in meta.items():
        entry[f"{META_RENAME}{column}" if column in META_KEYS else column] = value
    entry["n_samples"] = n_samples
    return entry


def _grpmax(cols: dict, eligible: list[Group], n: int) -> dict:
    out: dict = {}
    labels = np.array([grp.label for grp in eligible], dtype=object)
    if not eligible:
        none = np.zeros(n, bool)
        out["grpmax"] = text_of_codes([], np.full(n, -1))
        for name in ("AC", "AN", "nhomalt"):
            out[f"{name}_grpmax"] = int32_with_nulls(np.zeros(n, np.int32), none)
        out["AF_grpmax"] = np.full(n, np.nan)
        for name in ("faf95", "faf99"):
            out[f"fafmax_{name}_max"] = np.zeros(n)
            out[f"fafmax_{name}_max_gen_anc"] = text_of_codes([], np.full(n, -1))
        return out
    ac = np.stack([cols[f"AC_{grp.label}"] for grp in eligible], axis=1)
    af = np.stack([cols[f"AF_{grp.label}"] for grp in eligible], axis=1)
    score = np.where(ac > 0, np.nan_to_num(af, nan=-1.0), -np.inf)
    best = np.argmax(score, axis=1)  # ties: the first group in label order
    found = np.isfinite(score[np.arange(n), best])
    out["grpmax"] = text_of_codes(labels, np.where(found, best, -1))
    for name in ("AC", "AN", "nhomalt"):
        stacked = np.stack([cols[f"{name}_{grp.label}"] for grp in eligible], axis=1)
        out[f"{name}_grpmax"] = int32_with_nulls(np.where(found, stacked[np.arange(n), best], 0), found)
    out["AF_grpmax"] = np.where(found, af[np.arange(n), best], np.nan)
    for name in ("faf95", "faf99"):
        faf = np.stack([cols[f"{name}_{grp.label}"] for grp in eligible], axis=1)
        top = np.argmax(faf, axis=1)
        value = faf[np.arange(n), top]
        out[f"fafmax_{name}_max"] = value
        out[f"fafmax_{name}_max_gen_anc"] = text_of_codes(labels, np.where(value > 0, top, -1))
    return out


def freq_meta(df: pd.DataFrame) -> pd.DataFrame:
    """The groups of a frequency table (its ``attrs["freq_meta"]``) as a DataFrame, one row per group."""
    import pandas as pd

    meta = df.attrs.get("freq_meta")
    if meta is None:
        raise ValueError("this table has no freq_meta (was it made by gdbtools.stats.freq?)")
    return pd.DataFrame(meta)
