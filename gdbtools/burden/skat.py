"""SKAT and SKAT-O (the SKAT R package's scaling and SKAT-O method "optimal.adj").

With ``Z = G diag(w)`` (w the Beta(1, 25) weights), ``r = y - mu`` and ``S = Z^T r``:

- SKAT: ``Q = S^T S / (2 sigma2)`` (``sigma2 = r^T r / (n - k)`` linear, 1 logistic); under the null
  ``Q ~ sum_k lambda_k chi2_1`` with lambda the eigenvalues of ``Z^T P Z / 2`` (``P0`` for linear),
  computed by ``numpy.linalg.eigvalsh`` of the m x m matrix (one BLAS thread: ``gdbtools.backend.blas``).
  Eigenvalues are kept as the SKAT package keeps them: those above ``mean(nonnegative eigenvalues) / 1e5``
  (:data:`EIGEN_REL`); the rest are numerical zeros of a rank-deficient kernel (e.g. two identical variants).
  p by :func:`mixture_chi2_sf` (Davies, Liu fallback).
- SKAT-O (Lee et al. 2012): ``Q_rho = ((1 - rho) S^T S + rho (sum S)^2) / (2 sigma2)`` over the rho grid
  :data:`DEFAULT_RHO` (SKAT's "optimal.adj"; rho = 1 computed as 0.999, as the package does).  Each
  ``Q_rho``'s p from the eigenvalues of ``R_rho^(1/2) Z^T P Z R_rho^(1/2) / 2``; T = the minimum p; its
  p-value ``1 - int_0^40 P(kappa <= min_rho (q_rho(T) - tau_rho x) / (1 - rho)) dchi2_1(x) dx`` with
  ``q_rho(T)`` the Liu (modified) quantiles, ``kappa`` the mixture of the eigenvalues of the part of ``Z1``
  orthogonal to its row mean (variance-adjusted), and ``P(kappa > .)`` by Davies at ``acc = 1e-6``
  (Liu if Davies faults); then SKAT's guards: p capped at ``n_rho * min p``; a p <= 0 or a zero per-rho p
  gives ``3 * min p``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats

from gdbtools.backend.blas import one_blas_thread
from gdbtools.burden.mixture import DaviesTail, liu_params, mixture_chi2_sf
from gdbtools.burden.nullmodel import NullModel
from gdbtools.burden.scoretests import SPA_CUTOFF, spa_pvalue

__all__ = ["skat", "skato", "skat_eigenvalues", "DEFAULT_RHO", "EIGEN_REL"]

DEFAULT_RHO = (0.0, 0.01, 0.04, 0.09, 0.16, 0.25, 0.5, 1.0)
EIGEN_REL = 1e-5  # eigenvalues <= EIGEN_REL * mean(nonnegative eigenvalues) are dropped (SKAT's Get_Lambda)
_RHO_MAX = 0.999
_SKATO_DAVIES_LIM = 1 << 16
_EPS_REL = np.finfo(float).eps ** 0.25


def skat_eigenvalues(A: np.ndarray) -> np.ndarray:
    """The eigenvalues of the symmetric m x m `A` that SKAT keeps (see :data:`EIGEN_REL`), ascending."""
    if A.shape[0] == 1:
        ev = np.array([float(A[0, 0])])
    else:
        ev = np.linalg.eigvalsh(0.5 * (A + A.T))
    nonneg = ev[ev >= 0]
    if nonneg.size == 0 or nonneg.mean() <= 0:
        return np.empty(0)
    return ev[ev > nonneg.mean() * EIGEN_REL]


def _prepare(null: NullModel, G, weights, backend, spa_adjust: bool = False):
    """(S = Z^T r / sqrt(sigma2), A = Z^T P Z / 2 = Z1^T Z1) on the host, ``Z = G diag(w)``, ``Z1 = (I - Q Q^T)
    V^(1/2) Z / sqrt(2)``: A from the projected dosages ``G1 = (I - Q Q^T) V^(1/2) G`` as ``(G1^T G1) * w w^T / 2``
    (one pass over G for the projection, one symmetric product; no Z or Z1 formed); with `spa_adjust`
    (logistic) A rescaled by :func:`_spa_variance_ratios`."""
    w = np.asarray(weights, dtype=np.float64)
    S = backend.to_host(G.T @ null.residuals_on(backend)) * (w / math.sqrt(null.sigma2))
    G1 = null.root_project(G, backend)
    H = backend.to_host(G1.T @ G1)
    A = (0.5 * (H + H.T)) * np.multiply.outer(0.5 * w, w)  # exactly symmetric whatever the device's product
    if spa_adjust and null.kind == "logistic":
        Z1 = G1 * backend.to_device(w / math.sqrt(2.0))[None, :]
        d = np.sqrt(_spa_variance_ratios(null, Z1, S, A, backend))
        A = A * np.outer(d, d)
    return S, A


def _spa_variance_ratios(null: NullModel, Z1, S: np.ndarray, A: np.ndarray, backend) -> np.ndarray:
    """Per variant, ``Var_adj / Var``: for a variant score with ``|z| > 2`` the variance that makes its normal
    p equal its saddle-point p (``S_j^2 / chi2_1.isf(p_spa)``), as SAIGE-GENE adjusts its variance matrix for
    unbalanced case-control; 1 elsewhere."""
    var = 2.0 * np.diag(A)
    ratio = np.ones(S.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, S / np.sqrt(var), 0.0)
    far = np.flatnonzero(np.abs(z) > SPA_CUTOFF)
    if far.size:
        # g_j = P Z_j / w = sqrt(2) Z1_j / sqrt(w): the covariate-adjusted score of each sample
        g = backend.to_host(Z1[:, backend.to_device(far)]) * (math.sqrt(2.0) / np.sqrt(null.weights))[:, None]
        for i, j in enumerate(far):
            chi = scipy.stats.chi2.isf(spa_pvalue(float(S[j]), g[:, i], null.mu), 1)
            if math.isfinite(chi) and chi > 0:
                ratio[j] = S[j] ** 2 / chi / var[j]
    return ratio


@one_blas_thread
def skat(null: NullModel, G, weights, backend, *, spa_adjust: bool = False) -> tuple[float, float, str]:
    """SKAT of one variant set.

    Parameters
    ----------
    null : NullModel
    G : (n, m) float64 on ``backend.xp``
        Dosages, mean-imputed, rows in the null model's sample order.
    weights : (m,) float64
        Per-variant weights w (``Z = G diag(w)``; Beta(1, 25) of the MAF by convention).
    backend : gdbtools.backend.Backend
    spa_adjust : bool
        Logistic only: rescale the kernel's variances by each variant's saddle-point p (SAIGE-GENE's
        adjustment; calibrates unbalanced case-control). Off by default, as the SKAT package and Hail.

    Returns
    -------
    (Q, p, p_method)
        NaN p and ``"none"`` for an empty set or one with no variation outside the covariates' span.
    """
    if G.shape[1] == 0:
        return math.nan, math.nan, "none"
    S, A = _prepare(null, G, weights, backend, spa_adjust)
    q = float(S @ S) / 2.0
    lam = skat_eigenvalues(A)
    if lam.size == 0:
        return q, math.nan, "none"
    p, method = mixture_chi2_sf(q, lam)
    return q, p, method


def _rho_kernel(A: np.ndarray, r: float) -> np.ndarray:
    """``R^(1/2) A R^(1/2)`` for ``R = (1 - r) I + r 1 1^T`` (its eigenvalues are those of SKAT's
    ``L^T A L``), with the closed-form root ``R^(1/2) = a I + c 1 1^T``: O(m^2), no factorisation."""
    m = A.shape[0]
    a = math.sqrt(1.0 - r)
    c = (math.sqrt(1.0 - r + m * r) - a) / m
    col = A.sum(axis=1)
    return a * a * A + a * c * (col[:, None] + col[None, :]) + c * c * float(col.sum())


def _param(A1: np.ndarray, v: np.ndarray, zz: float, rhos: np.ndarray) -> dict:
    """SKAT-O's mixture parameters from ``A1 = Z1^T Z1``, ``v = Z1^T zbar`` and ``zz = zbar^T zbar``."""
    m = A1.shape[0]
    cof = v / zz
    item1 = zz * np.outer(cof, cof)  # Z.item1^T Z.item1
    item2 = A1 - item1  # Z.item2^T Z.item2
    lam = skat_eigenvalues(item2)
    var_remain = 4.0 * float(np.sum(item1 * item2))
    mu_q = float(lam.sum())
    var_q = 2.0 * float(np.sum(lam**2)) + var_remain
    tau = (m * m * rhos + float(np.sum(cof**2)) * (1 - rhos)) * zz
    sd1 = math.sqrt(max(var_q - var_remain, 0.0) / var_q) if var_q > 0 else math.nan
    return {"lambda": lam, "mu_q": mu_q, "var_q": var_q, "var_remain": var_remain, "tau": tau, "sd1": sd1}


def _kappa_sf(x: float, par: dict) -> float:
    """``P(kappa > x)`` for SKAT-O's integrand (Davies at acc 1e-6 with at most 2^16 terms; SKAT's Liu
    approximation when Davies faults, e.g. for a remainder of two dominant eigenvalues)."""
    lam = par["lambda"]
    if lam.size == 0:
        return 0.0 if x >= 0 else 1.0
    if x > lam.sum() * 1e4:
        return 0.0
    xs = (x - par["mu_q"]) * par["sd1"] + par["mu_q"]
    if lam.size == 1:  # chi2_1's tail as scipy.stats.chi2.sf computes it (chdtrc), without its per-call overhead
        return float(scipy.special.chdtrc(1.0, xs / lam[0])) if xs > 0 else 1.0
    if "tail" not in par:
        par["tail"] = DaviesTail(lam, acc=1e-6, lim=_SKATO_DAVIES_LIM)
    if par["tail"].ifault == 0:  # the grid's fault is known before any q: skip its sum when it fails
        res = par["tail"](xs)
        if res.ifault in (0, 2) and math.isfinite(res.p):
            return min(max(res.p, 0.0), 1.0)
    # SKAT's Liu branch: a chi-square with df = (sum l^2)^2 / sum l^4 matched to (mu_q, var_q)
    # (a negative argument is P = 1, as R's pchisq; chdtrc gives NaN there, and a NaN integrand crashes QUADPACK)
    df = par.setdefault("liu_df", float(np.sum(lam**2)) ** 2 / float(np.sum(lam**4)))
    arg = (x - par["mu_q"]) / math.sqrt(par["var_q"]) * math.sqrt(2 * df) + df
    return float(scipy.special.chdtrc(df, max(arg, 0.0)))


@one_blas_thread
def skato(null: NullModel, G, weights, backend, rho=DEFAULT_RHO, *,
          spa_adjust: bool = False) -> tuple[float, float, str, float]:
    """SKAT-O of one variant set (arguments as :func:`skat`; `rho` the grid of kernel correlations).

    Returns
    -------
    (stat, p, p_method, rho_best)
        stat = the minimum over rho of the per-rho p-values; rho_best the rho attaining it (1 for 0.999).
    """
    if G.shape[1] == 0:
        return math.nan, math.nan, "none", math.nan
    rhos = np.minimum(np.asarray(rho, dtype=np.float64), _RHO_MAX)
    S, A = _prepare(null, G, weights, backend, spa_adjust)
    q_rho = ((1 - rhos) * float(S @ S) + rhos * float(S.sum()) ** 2) / 2.0
    # Z1's row mean zbar = Z1 1 / m enters through v = Z1^T zbar = A 1 / m and zz = zbar^T zbar = 1^T A 1 / m^2
    m = A.shape[0]
    v = A.sum(axis=1) / m
    zz = float(v.sum()) / m
    pvals = np.empty(rhos.size)
    methods = []
    liu_q = []
    for i, r in enumerate(rhos):
        lam = skat_eigenvalues(_rho_kernel(A, r))
        if lam.size == 0:
            return float("nan"), math.nan, "none", math.nan
        pvals[i], meth = mixture_chi2_sf(q_rho[i], lam)
        methods.append(meth)
        liu_q.append(liu_params(lam, modified=True))
    pmin = float(pvals.min())
    best = float(np.asarray(rho, dtype=np.float64)[int(np.argmin(pvals))])
    if zz <= 0:
        return pmin, min(1.0, pmin * rhos.size), "bonferroni", best
    qmin = np.array([(scipy.stats.chi2.isf(pmin, pr["df"]) - pr["df"]) / math.sqrt(2 * pr["df"])
                     * pr["sigma_q"] + pr["mu_q"] for pr in liu_q])
    par = _param(A, v, zz, rhos)

    # the threshold's terms as Python floats (the same IEEE operations as the array expression, without numpy's
    # per-call overhead on 8 elements; quad calls the integrand ~1,000 times per gene)
    terms = [(float(a), float(t), float(1 - r)) for a, t, r in zip(qmin, par["tau"], rhos)]
    finite = bool(np.isfinite(qmin).all() and np.isfinite(par["tau"]).all())  # np.min's NaN, which min() drops

    def integrand(x: float) -> float:
        thr = min([(a - t * x) / d for a, t, d in terms]) if finite else math.nan
        return (1.0 - _kappa_sf(thr, par)) * math.exp(-0.5 * x) / math.sqrt(2.0 * math.pi * x) if x > 0 else 0.0

    # R's integrate() as the SKAT package calls it: abs.tol 1e-25, its default rel.tol eps^(1/4)
    integral, _ = scipy.integrate.quad(integrand, 0.0, 40.0, limit=1000, epsabs=1e-25, epsrel=_EPS_REL)
    p = 1.0 - integral
    method = "liu" if all(mm == "liu" for mm in methods) else "davies"
    p = min(p, pmin * rhos.size)
    if p <= 0 or (pvals <= 0).any():
        p = 3.0 * pmin
    if p == 0 and (pvals > 0).any():
        p = float(pvals[pvals > 0].min())
    return pmin, float(p), method, 1.0 if best >= _RHO_MAX else best
