"""Cauchy combinations: ACAT (Liu & Xie 2020) and ACAT-V (Liu et al. 2019).

- :func:`acat`: ``T = sum_i w_i tan((1/2 - p_i) pi)`` with the weights normalised to sum 1, and
  ``p = 1/2 - arctan(T) / pi`` (computed as ``arctan(1 / T) / pi`` for T > 1, free of cancellation).  For
  ``p_i < 1e-15`` the term is ``w_i / (p_i pi)`` (the tangent's expansion, exact to double precision there),
  and for ``T > 1e15`` the p-value is ``1 / (T pi)``.  NaN
  p-values are left out with their weights; any ``p_i == 0`` gives 0.
- :func:`acat_v`: per-variant tests of the variants with a MAC above ``collapse_mac``
  (:data:`~gdbtools.burden.scores.COLLAPSE_MAC`, 10), and one burden test of the ultra-rare variants
  (MAC <= collapse_mac) with the score ``sum_j w_j g_j`` (w the Beta weights), combined by :func:`acat` with weights
  ``w_j^2 MAF_j (1 - MAF_j)`` for each variant and the mean of those weights of the ultra-rare variants for
  their burden term (as the ACAT package's ``ACAT_V``).  Each test is :func:`gdbtools.burden.burden_test` on
  its score (linear: Wald t; logistic: score test with the saddle-point p at every z, ``spa_cutoff=0``, not
  only beyond |z| > 2 as the burden rows).  MAF is taken from G's column means (mean imputation keeps them).
  The gene loop passes the effective MAC (:func:`~gdbtools.burden.scores.effective_mac`): for a binary trait
  ``MAC * 4 phi (1 - phi)``, phi the case fraction.

For a binary trait the per-variant p-values of rare variants are discrete: a variant with MAC 11..21 among
54 cases of 1,092 has 0.5..1 expected case carriers, the likeliest outcome, no case carrier (probability
near 0.6), gets p near 0.45, so they are not uniform in the bulk (their tails are right: 0.86 % below 0.01),
and neither is their Cauchy combination (1kg chr22, 1:20, 4 permutations: median ACAT-V p 0.46, KS p 2e-7
with the raw MAC <= 10).  Counting the effective MAC (there: MAC <= 53 is ultra-rare) moves those variants
into the burden term: median 0.49, KS p 5e-3 (docs/STATISTICS.md, Calibration).
"""

from __future__ import annotations

import math

import numpy as np

from gdbtools.burden.nullmodel import NullModel
from gdbtools.burden.scores import COLLAPSE_MAC
from gdbtools.burden.scoretests import burden_test

__all__ = ["acat", "acat_v"]
_SMALL_P = 1e-15
_LARGE_T = 1e15


def acat(pvalues, weights=None) -> float:
    """The Cauchy combination of `pvalues` (any shape; NaN left out) with optional nonnegative `weights`."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != p.shape:
        raise ValueError(f"{w.size} weights for {p.size} p-values")
    keep = np.isfinite(p) & (w > 0)
    p, w = p[keep], w[keep]
    if p.size == 0:
        return math.nan
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    if (p == 0).any():
        return 0.0
    w = w / w.sum()
    small = p < _SMALL_P
    terms = np.where(small, w / (np.where(small, p, 1.0) * math.pi), w * np.tan((0.5 - p) * math.pi))
    t = float(terms.sum())
    if t > _LARGE_T:
        return 1.0 / (t * math.pi)
    if t > 1.0:  # the same value without the cancellation of 1/2 - arctan(t) / pi at small p
        return math.atan(1.0 / t) / math.pi
    return 0.5 - math.atan(t) / math.pi


def acat_v(null: NullModel, G, weights, mac, backend, collapse_mac: float = COLLAPSE_MAC) -> tuple[float, float]:
    """ACAT-V of one variant set.

    Parameters
    ----------
    null : NullModel
    G : (n, m) float64 on ``backend.xp``, mean-imputed dosages
    weights : (m,) float64 Beta weights w_j
    mac : (m,) minor allele counts among the analysed samples (or the effective MACs)
    backend : gdbtools.backend.Backend
    collapse_mac : float
        Variants with ``mac <= collapse_mac`` go into the burden term (0: none, every variant on its own).

    Returns
    -------
    (stat, p)
        stat = the Cauchy statistic ``tan((1/2 - p) pi)``; NaN for a set with nothing testable.
    """
    m = G.shape[1]
    if m == 0:
        return math.nan, math.nan
    w = np.asarray(weights, dtype=np.float64)
    mac = np.asarray(mac)
    af = backend.to_host(G.mean(axis=0)) / 2.0
    maf = np.minimum(af, 1.0 - af)
    omega = w * w * maf * (1.0 - maf)
    rare = mac <= collapse_mac
    cols, col_w = [], []
    dense = np.flatnonzero(~rare)
    if dense.size:
        cols.append(G[:, backend.to_device(dense)])
        col_w.append(omega[dense])
    if rare.any():
        idx = np.flatnonzero(rare)
        cols.append((G[:, backend.to_device(idx)] @ backend.to_device(w[idx]))[:, None])
        col_w.append(np.array([omega[idx].mean()]))
    scores = backend.xp.concatenate(cols, axis=1)
    res = burden_test(null, scores, backend, spa_cutoff=0.0)
    p = acat(res["p"], np.concatenate(col_w))
    if not math.isfinite(p):
        return math.nan, math.nan
    stat = math.tan((0.5 - p) * math.pi) if p > 0 else math.inf
    return stat, p
