"""Calibration sanity on real genotypes, and backend parity of every p-value.

Under permuted phenotypes on ~50 real chr22 genes the burden and SKAT p-values are not anti-conservative
(a loose check; the full calibration belongs to the gene loop's tests), except SKAT for unbalanced binary
traits, a known property of the asymptotic SKAT p (an xfail that documents it)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from burden_oracles import beta_weights, covariates

from gdbtools.backend import get_backend
from gdbtools.burden import acat_v, burden_test, fit_null, skat, skato

NAMES = ["pc1", "pc2", "sex"]


def _mac(G):
    ac = G.sum(axis=0)
    return np.minimum(ac, 2 * G.shape[0] - ac)


def _null_pvalues(kg_genes, rng, trait: str, test: str, n_perm: int = 3) -> np.ndarray:
    """p-values of `test` over the genes under `n_perm` permutations of a simulated `trait`:
    "quantitative" (t_5 noise), "balanced" (1:1) or "unbalanced" (about 1:20 cases:controls)."""
    be = get_backend("numpy")
    n = kg_genes[0][1].shape[0]
    X = covariates(rng, n)
    if trait == "quantitative":
        y0 = X @ [0.5, 0.2, -0.1, 0.3] + rng.standard_t(5, size=n)
    else:
        b0 = -3.1 if trait == "unbalanced" else 0.0
        y0 = (rng.random(n) < 1 / (1 + np.exp(-(X @ [b0, 0.3, -0.2, 0.2])))).astype(float)
    out = []
    for _ in range(n_perm):
        null = fit_null(rng.permutation(y0), X, binary=trait != "quantitative", covariate_names=NAMES)
        for _, G in kg_genes:
            w = beta_weights(G)
            if test == "burden":
                out.append(burden_test(null, G @ w, be)["p"][0])
            else:
                out.append(skat(null, G, w, be, spa_adjust=test == "skat_spa")[1])
    p = np.asarray(out)
    return p[np.isfinite(p)]


def _tail_within_bounds(p: np.ndarray) -> None:
    """At 0.01 and 0.05 the count of p below stays within the binomial 99.9 % upper bound."""
    for alpha in (0.01, 0.05):
        bound = scipy.stats.binom.isf(1e-3, p.size, alpha)
        assert np.sum(p < alpha) <= bound, (alpha, int(np.sum(p < alpha)), bound)


@pytest.mark.parametrize("test", ["burden", "skat"])
def test_null_pvalues__quantitative(kg_genes, rng, test):
    """3 permutations x >= 50 genes: the one-sided KS test of 'p smaller than uniform' is not rejected at
    0.001, and the tails are within their binomial bounds."""
    p = _null_pvalues(kg_genes, rng, "quantitative", test)
    assert p.size >= 150
    assert scipy.stats.kstest(p, "uniform", alternative="greater").pvalue > 1e-3
    _tail_within_bounds(p)


@pytest.mark.parametrize(("trait", "test"), [
    ("unbalanced", "burden"), ("balanced", "burden"), ("balanced", "skat"), ("unbalanced", "skat_spa"),
    pytest.param("unbalanced", "skat", marks=pytest.mark.xfail(strict=True, reason=(
        "SKAT's asymptotic p (as the SKAT package without its small-sample adjustment, and Hail) is inflated "
        "for unbalanced case-control with rare variants (Zhao et al. 2020): about 3 % below 0.01 here; "
        "spa_adjust=True calibrates it"))),
])
def test_null_pvalues__binary(kg_genes, rng, trait, test):
    """Binary traits: the rare scores make p discrete (a KS test would reject discreteness, not
    miscalibration), so only the tails are checked, over 6 permutations."""
    p = _null_pvalues(kg_genes, rng, trait, test, n_perm=6)
    assert p.size >= 300
    _tail_within_bounds(p)


@pytest.mark.parametrize("binary", [False, True])
def test_every_backend_gives_the_same_pvalues(kg_genes, rng, backend, binary):
    """burden, SKAT, SKAT-O and ACAT-V on `backend` against the NumPy backend: p-values to 1e-10 (relative)."""
    ref = get_backend("numpy")
    n = kg_genes[0][1].shape[0]
    X = covariates(rng, n)
    y = (rng.random(n) < 0.1).astype(float) if binary else rng.normal(size=n)
    null = fit_null(y, X, binary=binary, covariate_names=NAMES)
    for _, G in kg_genes[:5]:
        w = beta_weights(G)
        S = np.column_stack([G @ w, G.sum(axis=1)])
        got = [burden_test(null, backend.to_device(S), backend)["p"],
               skat(null, backend.to_device(G), w, backend)[1],
               skato(null, backend.to_device(G), w, backend)[1],
               acat_v(null, backend.to_device(G), w, _mac(G), backend)[1]]
        want = [burden_test(null, S, ref)["p"], skat(null, G, w, ref)[1], skato(null, G, w, ref)[1],
                acat_v(null, G, w, _mac(G), ref)[1]]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=0)
