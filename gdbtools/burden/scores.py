"""Per-sample burden scores of a gene's mask x bin columns, on the backend's device.

For the qualifying variants J of a mask x bin (:class:`gdbtools.burden.masks.MaskBin`) and the mean-imputed
dosages G (:class:`gdbtools.burden.genotypes.GeneMatrix`):

- ``wsum = G_J @ w_J`` with ``w_j = dbeta(MAF_j; 1, 25)`` (SKAT's default weight; SAIGE-GENE+'s burden score);
- ``sum = G_J @ 1`` (the count of alt alleles);
- ``max = max_j G_J`` (regenie's default "max" build: 0, 1 or 2 where no call is missing).

A mask x bin without variants scores 0 for every sample.  Weights of variants without a MAF (no calls) are 0.
Sums run over the variants in column order with one rounding per operation, so every backend (NumPy, host,
CuPy) gives the same bits; a gene has tens to hundreds of variants, so this costs little next to the tests.

:func:`collapse_ultra_rare` replaces the ultra-rare variants of a set by one pseudo-variant, the per-sample
``max`` of their dosages, weighted by ``dbeta`` of its own MAF (SAIGE-GENE+'s collapsing before SKAT and
SKAT-O); :func:`effective_mac` is the count that decides which variants are ultra-rare.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, xlog1py, xlogy

__all__ = ["SCORE_KINDS", "beta_weights", "scores", "collapse_ultra_rare", "effective_mac", "COLLAPSE_MAC"]

SCORE_KINDS = ("max", "sum", "wsum")
COLLAPSE_MAC = 10  #: variants with an effective MAC <= this are ultra-rare (SAIGE-GENE+, regenie, ACAT-V: 10)


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


def effective_mac(mac, n_cases: int | None = None, n: int | None = None) -> np.ndarray:
    """The minor allele count of each variant as a balanced study would need for the same information,
    ``(m,) float64``: ``MAC`` for a quantitative trait (``n_cases`` None), ``MAC * 4 phi (1 - phi)`` for a
    binary one with ``phi = n_cases / n`` (the score's variance is proportional to ``MAC phi (1 - phi)``;
    ``4 phi (1 - phi)`` is the effective sample size of a case-control study per sample, as METAL's
    ``N_eff = 4 / (1/N_cases + 1/N_controls)``).  At 1:1 it is the MAC; at 1:20 a MAC of 53 counts as 10
    (about 2.5 expected case alleles)."""
    mac = np.asarray(mac, dtype=np.float64)
    if n_cases is None or not n:
        return mac
    phi = n_cases / n
    return mac * (4.0 * phi * (1.0 - phi))


def collapse_ultra_rare(G, weights, ultra_rare, backend):
    """Collapse the ultra-rare columns of `G` into one pseudo-variant, as SAIGE-GENE+ before SKAT.

    Parameters
    ----------
    G : (n, m) float64 on ``backend.xp``
        Mean-imputed dosages of a variant set.
    weights : (m,) float64
        Per-variant weights (Beta(1, 25) of the MAF).
    ultra_rare : (m,) bool
        The columns to collapse (:func:`effective_mac` <= :data:`COLLAPSE_MAC`).
    backend : Backend

    Returns
    -------
    (G', weights')
        With fewer than two ultra-rare columns, `G` and `weights` unchanged; else the other columns in their
        order, then the pseudo-variant ``max_j G_j`` over the ultra-rare ones, ``(n, m' + 1)``, its weight
        ``dbeta(MAF; 1, 25)`` of its own MAF (its mean dosage / 2, folded).
    """
    ultra_rare = np.asarray(ultra_rare, dtype=bool)
    if int(ultra_rare.sum()) < 2:
        return G, np.asarray(weights, dtype=np.float64)
    xp = backend.xp
    rest = np.flatnonzero(~ultra_rare)
    pseudo = G[:, backend.to_device(np.flatnonzero(ultra_rare))].max(axis=1)
    af = float(backend.to_host(pseudo.sum())) / (2.0 * pseudo.shape[0])
    w = np.concatenate([np.asarray(weights, dtype=np.float64)[rest], beta_weights([min(af, 1.0 - af)])])
    return xp.concatenate([G[:, backend.to_device(rest)], pseudo[:, None]], axis=1), w
