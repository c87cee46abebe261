"""Per-sample burden scores of a gene's mask x bin columns, on the backend's device.

For the qualifying variants J of a mask x bin (:class:`gdbtools.burden.masks.MaskBin`) and the mean-imputed
dosages G (:class:`gdbtools.burden.genotypes.GeneMatrix`):

- ``wsum = G_J @ w_J`` with ``w_j = dbeta(MAF_j; 1, 25)`` (SKAT's default weight; SAIGE-GENE+'s burden score);
- ``sum = G_J @ 1`` (the count of alt alleles);
- ``max = max_j G_J`` (regenie's default "max" build: 0, 1 or 2 where no call is missing).

A mask x bin without variants scores 0 for every sample.  Weights of variants without a MAF (no calls) are 0.
Sums run over the variants in column order with one rounding per operation, so every backend (NumPy, host,
CuPy) gives the same bits; a gene has tens to hundreds of variants, so this costs little next to the tests.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, xlog1py, xlogy

__all__ = ["SCORE_KINDS", "beta_weights", "scores"]

SCORE_KINDS = ("max", "sum", "wsum")


def beta_weights(maf, a: float = 1.0, b: float = 25.0) -> np.ndarray:
    """The density of Beta(a, b) at each MAF, ``(m,) float64`` (host); NaN MAF -> weight 0.

    ``dbeta(x; a, b) = x^(a-1) (1-x)^(b-1) / B(a, b)``, as R's ``dbeta`` (``dbeta(0; 1, 25) = 25``).
    """
    maf = np.asarray(maf, dtype=np.float64)
    w = np.exp(xlogy(a - 1, maf) + xlog1py(b - 1, -maf) - betaln(a, b))
    return np.where(np.isnan(maf), 0.0, w)


def scores(gm, mb, kind: str, backend, weights: np.ndarray | None = None):
    """The score of every analysed sample for one mask x bin: ``(n,) float64`` on ``backend.xp``.

    Parameters
    ----------
    gm : GeneMatrix
    mb : MaskBin
        ``mb.columns`` index the gene's variants (G's columns).
    kind : {"max", "sum", "wsum"}
    backend : Backend
    weights : (m,) float64, optional
        Per-variant weights of ``wsum`` (default :func:`beta_weights` of ``gm.maf``).
    """
    if kind not in SCORE_KINDS:
        raise ValueError(f"unknown score {kind!r}; choose one of {', '.join(SCORE_KINDS)}")
    xp = backend.xp
    cols = np.asarray(mb.columns, dtype=np.int64)
    n = gm.G.shape[0]
    if cols.size == 0:
        return xp.zeros(n, dtype=np.float64)
    GJ = xp.ascontiguousarray(gm.G[:, backend.to_device(cols)].T)  # (m_j, n): one row per variant
    if kind == "max":
        return GJ.max(axis=0)
    # sums in column order, one rounding per operation (no reduction trees, no FMA): the same bits on every
    # backend, as the parity of the burden tests asks
    acc = xp.zeros(n, dtype=np.float64)
    if kind == "sum":
        for row in GJ:
            acc += row
        return acc
    w = beta_weights(gm.maf) if weights is None else np.asarray(weights, dtype=np.float64)
    for row, wj in zip(GJ, w[cols].tolist()):
        acc += row * wj
    return acc
