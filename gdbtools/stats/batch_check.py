"""The batch check table: per variant, Fisher's exact test of each batch's allele counts against the other
batches', Benjamini-Hochberg q-values, flagged variants."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import engine as en
from ._qc_common import key_columns, ratio

__all__ = ["batch_check_table", "fisher_exact_two_sided", "benjamini_hochberg"]


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
    cols = key_columns(variants)
    for j, lab in enumerate(labels):
        cols[f"AC_{lab}"] = ac[:, j].astype(np.int32)
        cols[f"AN_{lab}"] = an[:, j].astype(np.int32)
        cols[f"AF_{lab}"] = ratio(ac[:, j], an[:, j])
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
    af = np.nan_to_num(ratio(ac, an), nan=-1.0)
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
