"""The NumPy twin of the two-sided Fisher exact test (``kernels/fisher.h``): :meth:`Backend.fisher_exact` of
``"numpy"``.

Vectorised over :data:`scipy.stats.hypergeom`: the observed and the mode's log-pmf, then a binary search on the
other side of the mode for the first table no more likely than the observed one (relative tolerance 1e-7, as
the C++), and the two tails from ``cdf`` / ``sf``.  Same tables summed, different arithmetic: scipy's p is
off the exact one by up to ~3e-11 relative on tables of 1e5 alleles, the C++'s by ~4e-15.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fisher_exact_many"]


def fisher_exact_many(a, b, c, d, p) -> None:
    """Two-sided Fisher exact p of the ``(M,) int64`` tables ``[[a, b], [c, d]]`` into the ``(M,) float64`` `p`."""
    from scipy import stats as sps

    a, b, c, d = (np.asarray(x, dtype=np.int64) for x in (a, b, c, d))
    total = a + b + c + d          # population
    row1 = a + b                   # draws (the first row)
    col1 = a + c                   # successes (the first column)
    lo = np.maximum(0, row1 - (total - col1))
    hi = np.minimum(row1, col1)
    hyper = sps.hypergeom
    mode = np.clip((row1 + 1) * (col1 + 1) // (total + 2), lo, hi)
    with np.errstate(divide="ignore"):
        lp_obs = hyper.logpmf(a, total, col1, row1)
        lp_mode = hyper.logpmf(mode, total, col1, row1)
    tol = np.log1p(1e-7)
    out = np.ones(a.shape, dtype=np.float64)
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
        out[i] = hyper.cdf(a[i], total[i], col1[i], row1[i]) + tail
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
        out[i] = hyper.sf(a[i] - 1, total[i], col1[i], row1[i]) + tail
    p[...] = np.minimum(out, 1.0)
