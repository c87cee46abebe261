"""Variant and sample QC (Hail's ``variant_qc`` / ``sample_qc`` fields), inbreeding F, sex check, outliers, batches.

Tables are assembled here from the partials of the fused pass (:mod:`gdbtools.stats.engine`); the
functions that run a pass live in :mod:`gdbtools.stats` (``compute``, ``sex_check``).  Conventions are in
``docs/STATISTICS.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import engine as en
from . import ploidy as pl
from ._wsum import FIXED_BITS

__all__ = ["variant_qc_table", "sample_qc_table", "sex_check_table", "infer_sex", "sample_outliers",
           "batch_check_table", "fisher_exact_two_sided", "benjamini_hochberg", "OUTLIER_METRICS", "Y_METHODS"]

# gnomAD v3's stratified QC metrics (compute_stratified_metrics_filter)
OUTLIER_METRICS = ("n_snp", "r_ti_tv", "r_insertion_deletion", "n_insertion", "n_deletion", "r_het_hom_var",
                   "n_het", "n_hom_var", "n_transition", "n_transversion")
MAD_SCALE = 1.4826  # consistency constant: the MAD of a normal distribution times this is its sd


def _ratio(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


def _key_columns(variants: pd.DataFrame) -> dict:
    return {name: variants[name].array for name in ("contig", "pos", "ref", "alt")}


def variant_qc_table(variants: pd.DataFrame, counts: np.ndarray, hwe: np.ndarray, *,
                     raw_counts: np.ndarray | None = None, x_nonpar: np.ndarray | None = None) -> pd.DataFrame:
    """Hail's ``variant_qc`` fields (plus bcftools' HWE/ExcHet, gnomAD's InbreedingCoeff and the chrX test).

    Parameters
    ----------
    variants : DataFrame
        Selected variants (index ``variant_index``).
    counts : (V, 6) int32
        Genotype counts of the whole selection in the QC view (:data:`gdbtools.stats.engine.COUNT_FIELDS`).
    hwe : (V, 4) float64
        p, p_midp, p_het_excess, p_het_excess_midp of the diploid counts.
    raw_counts : (V, 6) int32, optional
        Raw counts when `counts` are adj (gives ``n_filtered``).
    x_nonpar : (V,) bool, optional
        Rows on chrX outside the PARs: they get ``HWE_X`` / ``p_value_hwe_x``, the Graffelman-Weir test of
        the diploid genotypes and the haploid alleles together (:func:`gdbtools.stats.hwe_x.hwe_x_exact`);
        NaN on the other rows (all rows when not given).
    """
    tot = en.genotype_totals(counts)
    c = counts.astype(np.int64)
    het, ref, hom = c[:, en.HET], c[:, en.REF], c[:, en.HOM]
    n_dip = het + ref + hom
    n_called, n_missing = tot["NS"], tot["n_missing"]
    cols = _key_columns(variants)
    cols["call_rate"] = _ratio(n_called, n_called + n_missing)
    cols["n_called"] = n_called.astype(np.int32)
    cols["n_not_called"] = n_missing.astype(np.int32)
    if raw_counts is not None:
        cols["n_filtered"] = (en.genotype_totals(raw_counts)["NS"] - n_called).astype(np.int32)
    else:
        cols["n_filtered"] = np.zeros(len(variants), np.int32)
    cols["n_hom_ref"] = tot["n_hom_ref"].astype(np.int32)
    cols["n_het"] = tot["n_het"].astype(np.int32)
    cols["n_hom_var"] = tot["n_hom_var"].astype(np.int32)
    cols["n_non_ref"] = (tot["n_het"] + tot["n_hom_var"]).astype(np.int32)
    cols["AC"] = tot["AC"].astype(np.int32)
    cols["AN"] = tot["AN"].astype(np.int32)
    cols["AF"] = _ratio(tot["AC"], tot["AN"])
    n_ref_alleles = 2 * ref + het
    n_alt_alleles = 2 * hom + het
    cols["het_freq_hwe"] = _ratio(n_ref_alleles * n_alt_alleles, (2 * n_dip - 1) * n_dip)
    none = n_dip == 0
    p, midp, exc, exc_midp = (np.where(none, np.nan, hwe[:, j]) for j in range(4))
    cols["p_value_hwe"] = midp
    cols["p_value_excess_het"] = exc_midp
    cols["HWE"] = p
    cols["ExcHet"] = exc
    pq2n = 2.0 * _ratio(n_ref_alleles, 2 * n_dip) * _ratio(n_alt_alleles, 2 * n_dip) * n_dip
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["InbreedingCoeff"] = np.where(pq2n > 0, 1.0 - het / np.where(pq2n > 0, pq2n, 1), np.nan)
    x_p, x_midp = _hwe_x_columns(c, p, midp, x_nonpar)
    cols["p_value_hwe_x"] = x_midp
    cols["HWE_X"] = x_p
    return pd.DataFrame(cols, index=variants.index)


def _hwe_x_columns(c: np.ndarray, p: np.ndarray, midp: np.ndarray, x_nonpar: np.ndarray | None):
    """``HWE_X`` and ``p_value_hwe_x``: the X test on the rows of `x_nonpar` that have diploid calls.

    Rows without haploid calls take the diploid test's values (the X test is that test then, as in plink2);
    rows without diploid calls are NaN, as the diploid columns.
    """
    from .hwe_x import hwe_x_exact

    v = c.shape[0]
    out_p = np.full(v, np.nan)
    out_mid = np.full(v, np.nan)
    if x_nonpar is None:
        return out_p, out_mid
    x_nonpar = np.asarray(x_nonpar, dtype=bool)
    if x_nonpar.shape != (v,):
        raise ValueError(f"x_nonpar must have shape ({v},), got {x_nonpar.shape}")
    n_dip = c[:, en.REF] + c[:, en.HET] + c[:, en.HOM]
    n_hap = c[:, en.HAP_REF] + c[:, en.HAP_ALT]
    rows = np.flatnonzero(x_nonpar & (n_dip > 0))
    only_dip = rows[n_hap[rows] == 0]
    out_p[only_dip], out_mid[only_dip] = p[only_dip], midp[only_dip]
    both = rows[n_hap[rows] > 0]
    if both.size:
        cc = c[both]
        out_p[both], out_mid[both] = hwe_x_exact(cc[:, en.HET], cc[:, en.REF], cc[:, en.HOM], cc[:, en.HAP_REF],
                                                 cc[:, en.HAP_ALT])
    return out_p, out_mid


def _class_arrays(layout: np.ndarray, n_classes: int):
    """Zone, allele type and state of each class id of a layout."""
    zone = np.zeros(n_classes, np.int64)
    atype = np.zeros(n_classes, np.int64)
    state = np.zeros(n_classes, np.int64)
    for (z, t, s), cid in np.ndenumerate(layout):
        if cid >= 0:
            zone[cid], atype[cid], state[cid] = z, t, s
    return zone, atype, state


def _f_stat(observed, called, expected):
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = called - expected
        return np.where(denom != 0, (observed - expected) / np.where(denom != 0, denom, 1), np.nan)


def sample_qc_table(samples: pd.DataFrame, selected: np.ndarray, res: "en.PassResult", layout: np.ndarray,
                    sex: np.ndarray, unknown_sex: str, *, adj: bool) -> pd.DataFrame:
    """Hail's ``sample_qc`` fields and plink's inbreeding F from the per-sample partials of a pass.

    Parameters
    ----------
    samples : DataFrame
        ``store.samples`` (all samples).
    selected : (N,) bool
    res : PassResult
        With ``class_counts (N, C, 3)``, ``class_sizes (C,)``, ``wmiss``, ``wtotal`` (and ``filtered``).
    layout : (7, 6, 3) int16
        Class id per (zone, allele type, state).
    sex : (N,) int8
        Sex part per sample.
    """
    zone, atype, state = _class_arrays(layout, res.class_sizes.shape[0])
    ptable = pl.ploidy_table(unknown_sex)
    idx = np.flatnonzero(selected)
    cc = res.class_counts[idx].astype(np.int64)
    het, hom, mis = cc[..., 0], cc[..., 1], cc[..., 2]
    size = res.class_sizes[None, :].astype(np.int64)
    mode = ptable[zone][:, sex[idx]].T  # (n, C)
    dip = mode == pl.DIPLOID
    hap = mode == pl.HAPLOID
    counted = dip | hap
    called = np.where(dip, size - mis, 0) + np.where(hap, size - mis - het, 0)
    not_called = np.where(dip, mis, 0) + np.where(hap, mis + het, 0)
    n_het = np.where(dip, het, 0)
    n_hom_var = np.where(counted, hom, 0)
    alt = np.where(dip, het + 2 * hom, 0) + np.where(hap, hom, 0)

    def over(mask_c, values):
        return values[:, mask_c].sum(axis=1)

    everything = np.ones(zone.shape[0], bool)
    cols = {"sample_id": samples["sample_id"].to_numpy()[idx]}
    n_called = over(everything, called)
    n_not = over(everything, not_called)
    cols["call_rate"] = _ratio(n_called, n_called + n_not)
    cols["n_called"] = n_called
    cols["n_not_called"] = n_not
    if res.filtered is not None and adj:
        cols["n_filtered"] = over(everything, np.where(counted, res.filtered[idx].astype(np.int64), 0))
    else:
        cols["n_filtered"] = np.zeros(idx.size, np.int64)
    cols["n_het"] = over(everything, n_het)
    cols["n_hom_var"] = over(everything, n_hom_var)
    cols["n_hom_ref"] = n_called - cols["n_het"] - cols["n_hom_var"]
    cols = {k: cols[k] for k in ("sample_id", "call_rate", "n_called", "n_not_called", "n_filtered", "n_hom_ref",
                                 "n_het", "n_hom_var")}
    cols["n_non_ref"] = cols["n_het"] + cols["n_hom_var"]
    cols["n_singleton"] = over(state == en.STATE_SINGLETON, alt)
    cols["n_snp"] = over((atype == en.TI) | (atype == en.TV), alt)
    cols["n_insertion"] = over(atype == en.INS, alt)
    cols["n_deletion"] = over(atype == en.DEL, alt)
    cols["n_transition"] = over(atype == en.TI, alt)
    cols["n_transversion"] = over(atype == en.TV, alt)
    cols["n_star"] = over(atype == en.STAR, alt)
    cols["r_ti_tv"] = _ratio(cols["n_transition"], cols["n_transversion"])
    cols["r_het_hom_var"] = _ratio(cols["n_het"], cols["n_hom_var"])
    cols["r_insertion_deletion"] = _ratio(cols["n_insertion"], cols["n_deletion"])
    # inbreeding F over the polymorphic variants of the autosomes and PARs (diploid for everyone)
    f_cls = np.isin(zone, en.F_ZONES) & (state != en.STATE_MONO)
    f_called = over(f_cls, size - mis)
    f_obs = over(f_cls, size - mis - het)
    f_exp = np.where(f_called > 0, (res.wtotal - res.wmiss[idx]).astype(np.float64) / 2.0**FIXED_BITS, 0.0)
    cols["f_stat"] = _f_stat(f_obs, f_called, f_exp)
    cols["f_n_called"] = f_called
    cols["f_observed_homs"] = f_obs
    cols["f_expected_homs"] = f_exp
    for k, v in cols.items():
        if k != "sample_id" and np.asarray(v).dtype.kind in "iu":
            cols[k] = np.asarray(v, dtype=np.int64)
    out = pd.DataFrame(cols, index=pd.Index(idx, name="sample_index"))
    out["sample_id"] = out["sample_id"].astype("string")
    return out


Y_METHODS = (None, "ycount", "y-only")


def infer_sex(f_stat, y_n_called, *, female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
              female_max_y_calls: int = 0, male_min_y_calls: int | None = None) -> np.ndarray:
    """Sex inferred from chrX F and chrY call counts, by plink 1.9's ``--check-sex`` rules.

    Parameters
    ----------
    f_stat : (N,) float64
        chrX inbreeding F (NaN: no chrX call).
    y_n_called : (N,) int
        chrY non-PAR calls per sample (plink YCOUNT).
    y_method : {None, "ycount", "y-only"}
        ``None``: XX if F < `female_max_f`, XY if F > `male_min_f`.  ``"ycount"``: the same, but an XX call
        needs at most `female_max_y_calls` chrY calls and an XY call at least `male_min_y_calls`, else the
        sample is left ambiguous.  ``"y-only"``: XY with at least `male_min_y_calls` chrY calls, else XX
        with at most `female_max_y_calls`, else ambiguous; F is not used.
    male_min_y_calls : int, optional
        plink's default: 0 for ycount, 1 for y-only.

    Returns
    -------
    (N,) object
        ``"XX"``, ``"XY"`` or ``None``.
    """
    if y_method not in Y_METHODS:
        raise ValueError(f"y_method must be one of {Y_METHODS}, got {y_method!r}")
    f = np.asarray(f_stat, dtype=np.float64)
    y = np.asarray(y_n_called, dtype=np.int64)
    if male_min_y_calls is None:
        male_min_y_calls = 1 if y_method == "y-only" else 0
    y_male = y >= male_min_y_calls
    y_female = y <= female_max_y_calls
    if y_method == "y-only":
        male, female = y_male, ~y_male & y_female
    else:
        with np.errstate(invalid="ignore"):
            f_male, f_female = f > male_min_f, f < female_max_f
        if y_method == "ycount":
            male, female = f_male & y_male, f_female & y_female
        else:
            male, female = f_male, f_female
    return np.where(male, "XY", np.where(female, "XX", None)).astype(object)


def sex_check_table(samples: pd.DataFrame, selected: np.ndarray, res: "en.PassResult", layout: np.ndarray, *,
                    female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
                    female_max_y_calls: int = 0, male_min_y_calls: int | None = None) -> pd.DataFrame:
    """plink's ``--check-sex`` from a pass over chrX/chrY outside the PARs (every call read as diploid).

    F is the method-of-moments inbreeding coefficient over the polymorphic chrX non-PAR variants, with
    allele frequencies counting XY samples as haploid (plink 1.9).  The inferred sex follows
    :func:`infer_sex` (chrX F, optionally with the chrY call counts: plink's ``ycount`` and ``y-only``
    modes); status OK when it equals the reported sex.
    """
    zone, _, state = _class_arrays(layout, res.class_sizes.shape[0])
    idx = np.flatnonzero(selected)
    cc = res.class_counts[idx].astype(np.int64)
    het, mis = cc[..., 0], cc[..., 2]
    size = res.class_sizes[None, :].astype(np.int64)
    x_cls = (zone == pl.X_NONPAR) & (state != en.STATE_MONO)
    y_cls = zone == pl.Y_NONPAR
    x_called = (size - mis)[:, x_cls].sum(axis=1)
    x_obs = (size - mis - het)[:, x_cls].sum(axis=1)
    x_exp = np.where(x_called > 0, (res.wtotal - res.wmiss[idx]).astype(np.float64) / 2.0**FIXED_BITS, 0.0)
    f = _f_stat(x_obs, x_called, x_exp)
    y_called = (size - mis)[:, y_cls].sum(axis=1)
    inferred = infer_sex(f, y_called, female_max_f=female_max_f, male_min_f=male_min_f, y_method=y_method,
                         female_max_y_calls=female_max_y_calls, male_min_y_calls=male_min_y_calls)
    reported = pl.pd_to_object(samples["sex"])[idx]
    status = np.where((reported == inferred) & pd.notna(reported) & pd.notna(inferred), "OK", "PROBLEM")
    out = pd.DataFrame({
        "sample_id": pd.array(samples["sample_id"].to_numpy()[idx], dtype="string"),
        "reported_sex": pd.array(reported, dtype="string"),
        "inferred_sex": pd.array(inferred, dtype="string"),
        "status": pd.array(status, dtype="string"),
        "f_stat": f,
        "x_n_called": x_called.astype(np.int64),
        "x_observed_homs": x_obs.astype(np.int64),
        "x_expected_homs": x_exp,
        "y_n_called": y_called.astype(np.int64),
        "y_n_variants": np.full(idx.size, int(res.class_sizes[y_cls].sum()), np.int64),
    }, index=pd.Index(idx, name="sample_index"))
    return out


def sample_outliers(sample_qc: pd.DataFrame, groups: pd.Series | None = None, *, metrics=OUTLIER_METRICS,
                    n_mads: float = 4.0) -> pd.DataFrame:
    """Flag samples more than `n_mads` median absolute deviations from their group's median (gnomAD).

    gnomAD's ``compute_stratified_metrics_filter``: per metric and group (population, pipeline, ...), the
    median and ``MAD = 1.4826 * median(|x - median|)``; a sample fails the metric when it lies outside
    ``median +- n_mads * MAD``.  NaN values never fail.

    Parameters
    ----------
    sample_qc : DataFrame
        A sample QC table (index ``sample_index``, column ``sample_id``).
    groups : Series, optional
        Group of each sample (aligned on the index); ``None``: one group.  Null values form their own group.
    metrics : sequence of str
        Columns of `sample_qc` (default gnomAD v3's list, :data:`OUTLIER_METRICS`).
    n_mads : float

    Returns
    -------
    DataFrame
        ``sample_id``, ``group``, per metric ``<m>``, ``<m>_median``, ``<m>_mad``, ``fail_<m>``, then
        ``qc_metrics_filters`` (comma-separated failing metrics) and ``outlier``.
    """
    missing = [m for m in metrics if m not in sample_qc.columns]
    if missing:
        raise KeyError(f"metrics not in the sample QC table: {missing}")
    if groups is None:
        key = pd.Series("all", index=sample_qc.index, dtype="string")
        group_out = pd.array([None] * len(sample_qc), dtype="string")
    else:
        key = groups.reindex(sample_qc.index).astype("string")
        group_out = key.array
        key = key.fillna("NA")
    out = {"sample_id": sample_qc["sample_id"].astype("string").array, "group": group_out}
    fails = []
    for m in metrics:
        x = sample_qc[m].astype(np.float64)
        med = x.groupby(key).transform("median")
        mad = MAD_SCALE * (x - med).abs().groupby(key).transform("median")
        fail = ((x < med - n_mads * mad) | (x > med + n_mads * mad)) & x.notna()
        out[m] = x.to_numpy()
        out[f"{m}_median"] = med.to_numpy(dtype=np.float64)
        out[f"{m}_mad"] = mad.to_numpy(dtype=np.float64)
        out[f"fail_{m}"] = fail.to_numpy(dtype=bool)
        fails.append(fail.to_numpy(dtype=bool))
    fail_matrix = np.stack(fails, axis=1) if fails else np.zeros((len(sample_qc), 0), bool)
    names = np.array(list(metrics), dtype=object)
    out["qc_metrics_filters"] = pd.array([",".join(names[row]) for row in fail_matrix], dtype="string")
    out["outlier"] = fail_matrix.any(axis=1)
    return pd.DataFrame(out, index=sample_qc.index)


# ------------------------------------------------------------------------------------------------ batch check
def fisher_exact_two_sided(a, b, c, d) -> np.ndarray:
    """Two-sided Fisher exact p of 2x2 tables ``[[a, b], [c, d]]``, vectorised (scipy's ``fisher_exact``).

    The p-value sums the probabilities of all tables with the same margins that are no more likely than the
    observed one (relative tolerance 1e-7), found by binary search on both sides of the mode.

    Parameters
    ----------
    a, b, c, d : (M,) int

    Returns
    -------
    (M,) float64
    """
    from scipy import stats as sps

    a, b, c, d = (np.asarray(x, dtype=np.int64) for x in (a, b, c, d))
    total = a + b + c + d          # population
    row1 = a + b                   # draws (the batch's alleles)
    col1 = a + c                   # successes (alt alleles)
    lo = np.maximum(0, row1 - (total - col1))
    hi = np.minimum(row1, col1)
    hyper = sps.hypergeom
    mode = np.floor((row1 + 1) * (col1 + 1) / (total + 2)).astype(np.int64)
    mode = np.clip(mode, lo, hi)
    lp_obs = hyper.logpmf(a, total, col1, row1)
    lp_mode = hyper.logpmf(mode, total, col1, row1)
    tol = np.log1p(1e-7)
    p = np.ones(a.shape, dtype=np.float64)
    below = (a < mode) & (lp_obs + tol < lp_mode)
    above = (a > mode) & (lp_obs + tol < lp_mode)
    if below.any():  # other tail: smallest y in [mode, hi] with pmf(y) <= pmf(a)
        i = np.flatnonzero(below)
        left, right = mode[i].copy(), hi[i] + 1
        while True:
            active = left < right
            if not active.any():
                break
            mid = (left + right) // 2
            ok = hyper.logpmf(mid, total[i], col1[i], row1[i]) <= lp_obs[i] + tol
            right = np.where(active & ok, mid, right)
            left = np.where(active & ~ok, mid + 1, left)
        tail = np.where(left <= hi[i], hyper.sf(left - 1, total[i], col1[i], row1[i]), 0.0)
        p[i] = hyper.cdf(a[i], total[i], col1[i], row1[i]) + tail
    if above.any():  # other tail: largest y in [lo, mode] with pmf(y) <= pmf(a)
        i = np.flatnonzero(above)
        left, right = lo[i] - 1, mode[i]
        while True:
            active = left < right
            if not active.any():
                break
            mid = (left + right + 1) // 2
            ok = hyper.logpmf(mid, total[i], col1[i], row1[i]) <= lp_obs[i] + tol
            left = np.where(active & ok, mid, left)
            right = np.where(active & ~ok, mid - 1, right)
        tail = np.where(left >= lo[i], hyper.cdf(left, total[i], col1[i], row1[i]), 0.0)
        p[i] = hyper.sf(a[i] - 1, total[i], col1[i], row1[i]) + tail
    return np.minimum(p, 1.0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def batch_check_table(variants: pd.DataFrame, labels: list[str], counts: np.ndarray, *,
                      fdr: float = 0.05) -> pd.DataFrame:
    """Per variant, whether a batch's allele frequency differs from the other batches'.

    Parameters
    ----------
    variants : DataFrame
    labels : list of str
        Batch labels (B >= 2).
    counts : (V, B, 6) int32
        Genotype counts per batch.
    fdr : float
        Benjamini-Hochberg false discovery rate for ``flagged``.

    Notes
    -----
    Per batch, Fisher's exact test (two-sided) of its (AC, AN - AC) against the other batches' sums.  With
    two batches both tests are the same table, so ``p_value`` is that p; with more, the smallest p times
    the number of batches (Bonferroni within the variant).  Variants with AC = 0, or fewer than two batches
    with calls, are not tested (NaN).  ``batch`` is the batch with the smallest p (ties: the higher AF).
    """
    tot = en.genotype_totals(counts)
    ac, an = tot["AC"], tot["AN"]  # (V, B)
    n_b = len(labels)
    cols = _key_columns(variants)
    for j, lab in enumerate(labels):
        cols[f"AC_{lab}"] = ac[:, j].astype(np.int32)
        cols[f"AN_{lab}"] = an[:, j].astype(np.int32)
        cols[f"AF_{lab}"] = _ratio(ac[:, j], an[:, j])
    ac_all, an_all = ac.sum(axis=1), an.sum(axis=1)
    testable = (ac_all > 0) & (ac_all < an_all) & ((an > 0).sum(axis=1) >= 2)
    pv = np.full((len(variants), n_b), np.nan)
    rows = np.flatnonzero(testable)
    for j in range(n_b if n_b > 2 else 1):
        a, b = ac[rows, j], an[rows, j] - ac[rows, j]
        c, d = ac_all[rows] - ac[rows, j], (an_all[rows] - an[rows, j]) - (ac_all[rows] - ac[rows, j])
        pv[rows, j] = fisher_exact_two_sided(a, b, c, d)
    if n_b == 2:
        pv[:, 1] = pv[:, 0]
    af = np.nan_to_num(_ratio(ac, an), nan=-1.0)
    pk = np.where(np.isnan(pv), np.inf, pv)
    tied = pk == pk.min(axis=1, keepdims=True)
    best = np.argmax(np.where(tied, af, -np.inf), axis=1)  # smallest p; ties: the higher AF
    pmin = pv[np.arange(len(variants)), best]
    p_value = np.minimum(1.0, pmin * (n_b if n_b > 2 else 1))
    cols["batch"] = pd.array(np.where(testable, np.array(labels, dtype=object)[best], None), dtype="string")
    cols["p_value"] = np.where(testable, p_value, np.nan)
    cols["q_value"] = benjamini_hochberg(cols["p_value"])
    cols["flagged"] = np.nan_to_num(cols["q_value"], nan=1.0) < fdr
    return pd.DataFrame(cols, index=variants.index)
