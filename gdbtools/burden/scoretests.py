"""The burden test of per-sample scores: linear Wald t (= OLS), logistic score test with saddle-point p.

Linear (``null.kind == "linear"``): for a score ``s``, the OLS of ``y`` on ``[X, s]`` through the
Frisch-Waugh-Lovell theorem: ``s~ = P0 s``, ``beta = s~^T r / s~^T s~``, residual variance
``(r^T r - beta^2 s~^T s~) / (n - k - 1)``, ``se = sqrt(that / s~^T s~)``, ``t = beta / se`` and a two-sided
p from Student's t with ``n - k - 1`` degrees of freedom (p_method ``"t"``): statsmodels' ``OLS`` numbers.

Logistic: the score test on the fitted null model, ``U = s^T (y - mu)``, ``V = s^T P s`` (the efficient
information, covariates projected out), ``z = U / sqrt(V)``; ``beta = U / V`` and ``se = 1 / sqrt(V)``
(the one-step estimate).  When ``|z| > SPA_CUTOFF`` (2, as SAIGE) the p-value is the saddle-point
approximation of Dey et al. (2017): with ``g = P s / w`` (the score adjusted for the covariates, so that
``U = g^T (y - mu)``) the cumulant generating function of U under the null, the y_i independent
Bernoulli(mu_i), is ``K(t) = sum_i log(1 - mu_i + mu_i e^(g_i t)) - t g_i mu_i``; solving ``K'(zeta) = u``
and ``w = sign(zeta) sqrt(2 (zeta u - K(zeta)))``, ``v = zeta sqrt(K''(zeta))``, the tail is
``P(U > u) ~= 1 - Phi(w + log(v / w) / w)`` (Barndorff-Nielsen's formula).  The two-sided p is
``P(U >= |u|) + P(U <= -|u|)``, each tail from its own saddle point (p_method ``"spa"``; ``"normal"`` when
``|z| <= 2`` or when no saddle point exists, e.g. u at the edge of U's support).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from gdbtools.burden.nullmodel import NullModel

__all__ = ["burden_test", "spa_pvalue", "SPA_CUTOFF"]

SPA_CUTOFF = 2.0
_DEGENERATE = 1e-10  # a score whose part outside the covariates' span is below this fraction of it is untestable


def burden_test(null: NullModel, scores, backend, *, spa_cutoff: float = SPA_CUTOFF) -> dict[str, np.ndarray]:
    """Test each column of `scores` for association with the trait, given the null model.

    Parameters
    ----------
    null : NullModel
    scores : (n, K) float64 on ``backend.xp`` (or (n,))
        One column per mask x bin, rows in the null model's sample order.
    backend : gdbtools.backend.Backend
    spa_cutoff : float
        Logistic only: the saddle-point p replaces the normal one where ``|z| > spa_cutoff`` (SAIGE's 2;
        ACAT-V's per-variant tests use 0, the saddle point at every z).

    Returns
    -------
    dict of (K,) host arrays
        ``beta``, ``se``, ``stat`` (t or z), ``p`` (float64, NaN for a score that is constant or lies in the
        covariates' span) and ``p_method`` (object: ``"t"``, ``"normal"``, ``"spa"`` or ``"none"``).
    """
    xp = backend.xp
    S = scores[:, None] if scores.ndim == 1 else scores
    S = S.astype(np.float64, copy=False)
    PS = null.project(S, backend)
    r = null.residuals_on(backend)
    U = backend.to_host(S.T @ r)  # = (P0 S)^T r, = g^T r for logistic: r is orthogonal to X's span
    SPS = backend.to_host(xp.sum(S * PS, axis=0))  # s^T P s
    SS = backend.to_host(xp.sum(S * S, axis=0))
    K = S.shape[1]
    out = {name: np.full(K, np.nan) for name in ("beta", "se", "stat", "p")}
    method = np.full(K, "none", dtype=object)
    ok = (SPS > _DEGENERATE * SS) & (SS > 0)
    if null.kind == "linear":
        dof = null.n - null.k - 1
        rss0 = float(null.residuals @ null.residuals)
        beta = U[ok] / SPS[ok]
        s2 = (rss0 - beta * beta * SPS[ok]) / dof
        se = np.sqrt(s2 / SPS[ok])
        t = beta / se
        out["beta"][ok], out["se"][ok], out["stat"][ok] = beta, se, t
        out["p"][ok] = 2.0 * scipy.stats.t.sf(np.abs(t), dof)
        method[ok] = "t"
    else:
        V = SPS[ok]
        z = U[ok] / np.sqrt(V)
        out["beta"][ok], out["se"][ok], out["stat"][ok] = U[ok] / V, 1.0 / np.sqrt(V), z
        out["p"][ok] = 2.0 * scipy.stats.norm.sf(np.abs(z))
        method[ok] = "normal"
        cols = np.flatnonzero(ok)
        far = cols[np.abs(z) > spa_cutoff]
        if far.size:
            # the covariate-adjusted scores g = P s / w, (n, #far)
            G = backend.to_host(PS[:, backend.to_device(far)]) / null.weights[:, None]
            for i, col in enumerate(far):
                p = spa_pvalue(float(U[col]), G[:, i], null.mu)
                if math.isfinite(p):
                    out["p"][col] = p
                    method[col] = "spa"
    out["p_method"] = method
    return out


def _cgf(t: float, g: np.ndarray, mu: np.ndarray, logit_mu: np.ndarray) -> tuple[float, float, float]:
    """K(t), K'(t), K''(t) of ``U = g^T (y - mu)``, y_i ~ Bernoulli(mu_i) independent."""
    a = logit_mu + g * t
    k0 = float(np.sum(np.logaddexp(0.0, a) - np.logaddexp(0.0, logit_mu) - t * g * mu))
    pt = scipy.special.expit(a)
    k1 = float(np.sum(g * (pt - mu)))
    k2 = float(np.sum(g * g * pt * (1.0 - pt)))
    return k0, k1, k2


def _tail(u: float, g: np.ndarray, mu: np.ndarray, logit_mu: np.ndarray) -> float:
    """``P(U >= u)`` by the saddle-point approximation (NaN when no saddle point is found)."""
    lo_sup = float(np.sum(np.where(g < 0, g, 0.0) * (1 - mu)) - np.sum(np.where(g > 0, g, 0.0) * mu))
    hi_sup = float(np.sum(np.where(g > 0, g, 0.0) * (1 - mu)) - np.sum(np.where(g < 0, g, 0.0) * mu))
    if not lo_sup < u < hi_sup:
        return 0.0 if u >= hi_sup else 1.0
    def f(t: float) -> float:
        return _cgf(t, g, mu, logit_mu)[1] - u
    step = 1.0 / max(float(np.max(np.abs(g))), 1e-300)
    lo, hi = (0.0, step) if u > 0 else (-step, 0.0)
    for _ in range(200):
        if u > 0 and f(hi) < 0:
            lo, hi = hi, hi * 2
        elif u < 0 and f(lo) > 0:
            lo, hi = lo * 2, lo
        else:
            break
    else:
        return math.nan
    zeta = scipy.optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)
    k0, _, k2 = _cgf(zeta, g, mu, logit_mu)
    arg = 2.0 * (zeta * u - k0)
    if zeta == 0 or arg <= 0 or k2 <= 0:
        return math.nan
    w = math.copysign(math.sqrt(arg), zeta)
    v = zeta * math.sqrt(k2)
    return float(scipy.stats.norm.sf(w + math.log(v / w) / w))


def spa_pvalue(u: float, g, mu) -> float:
    """Two-sided saddle-point p-value of the score ``u = g^T (y - mu)`` (see the module docstring).

    Parameters
    ----------
    u : float
        The observed score.
    g : (n,) float64
        The covariate-adjusted score of each sample.
    mu : (n,) float64
        The null model's fitted probabilities.
    """
    g = np.asarray(g, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    logit_mu = np.log(mu) - np.log1p(-mu)
    a = abs(u)
    upper = _tail(a, g, mu, logit_mu)
    lower = _tail(a, -g, mu, logit_mu)
    p = upper + lower
    return min(p, 1.0) if math.isfinite(p) else math.nan
