"""Oracles and helpers of the burden tests: Imhof's integral, Monte Carlo of chi-square mixtures, weights,
covariates (import as ``from burden_oracles import ...``)."""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate


def beta_weights(G: np.ndarray) -> np.ndarray:
    """dbeta(MAF; 1, 25) of each column of G (MAF from the column means)."""
    from scipy.stats import beta

    af = G.mean(axis=0) / 2
    return beta.pdf(np.minimum(af, 1 - af), 1, 25)


def covariates(rng, n: int, k: int = 3) -> np.ndarray:
    """(n, 1 + k) design: intercept, then k simulated covariates (two normal, one 0/1 'sex')."""
    cols = [np.ones(n), *(rng.normal(size=n) for _ in range(k - 1)), (rng.random(n) < 0.5).astype(float)]
    return np.column_stack(cols)


def imhof_sf(q: float, lam) -> float:
    """``P(sum lam chi2_1 > q)`` by Imhof's (1961) integral, integrated piecewise with scipy's quad to ~1e-12.

    An independent route to Davies' p: the same characteristic function, integrated adaptively instead of
    summed on a grid (no error bound of ours involved).
    """
    lam = np.asarray(lam, dtype=np.float64)

    def f(u: float) -> float:
        theta = 0.5 * np.sum(np.arctan(lam * u)) - 0.5 * q * u
        rho = np.exp(0.25 * np.sum(np.log1p((lam * u) ** 2)))
        return math.sin(theta) / (u * rho)

    # the integrand decays like u^(-1 - m/2); integrate to where its bound is below 1e-14
    edges = [0.0]
    step = math.pi / max(q, lam.sum()) if q > 0 else 1.0
    total = 0.0
    u = 0.0
    while True:
        nxt = u + step
        val, _ = scipy.integrate.quad(f, u, nxt, epsabs=1e-15, epsrel=1e-12, limit=200)
        total += val
        u = nxt
        edges.append(u)
        bound = np.exp(-0.25 * np.sum(np.log1p((lam * u) ** 2))) / u
        if bound * u / max(len(lam) / 2, 0.5) < 1e-13 or u > 1e7:
            break
        step *= 1.05
    return 0.5 + total / math.pi


def mc_mixture_sf(q: float, lam, n_draws: int, rng) -> tuple[float, float]:
    """Monte Carlo estimate of ``P(sum lam chi2_1 > q)`` and its binomial standard error."""
    lam = np.asarray(lam, dtype=np.float64)
    hits = 0
    done = 0
    while done < n_draws:
        b = min(250_000, n_draws - done)
        x = rng.standard_normal((b, lam.size))
        hits += int(np.count_nonzero((x * x) @ lam > q))
        done += b
    p = hits / n_draws
    return p, math.sqrt(max(p * (1 - p), 1.0 / n_draws) / n_draws)
