"""ACAT (Cauchy combination) and ACAT-V: the formula, its small-p forms, and ACAT-V's parts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from burden_oracles import beta_weights, covariates

from gdbtools.backend import get_backend
from gdbtools.burden import acat, acat_v, burden_test, fit_null
from gdbtools.burden.scores import COLLAPSE_MAC


def test_acat__is_the_cauchy_combination(rng):
    """Against scipy's Cauchy distribution: p = P(C > sum w_i tan((1/2 - p_i) pi)), weights normalised."""
    p = rng.random(7)
    w = rng.random(7)
    t = np.sum(w / w.sum() * np.tan((0.5 - p) * np.pi))
    assert acat(p, w) == pytest.approx(scipy.stats.cauchy.sf(t), rel=1e-12)
    assert acat([0.3] * 5) == pytest.approx(0.3, rel=1e-12)  # identical p-values combine to themselves


def test_acat__small_p_forms():
    """p_i < 1e-15 uses 1 / (p_i pi): continuous with the tangent; T > 1e15 gives 1 / (T pi)."""
    assert acat([1e-16, 0.5]) == pytest.approx(2e-16, rel=1e-6)
    assert acat([1e-20]) == pytest.approx(1e-20, rel=1e-10)
    just_above = acat([1.0001e-15, 0.5])
    just_below = acat([0.9999e-15, 0.5])
    assert just_below < just_above and just_above == pytest.approx(2.0002e-15, rel=1e-6)


def test_acat__nan_zero_and_checks():
    assert acat([np.nan, 0.2]) == pytest.approx(0.2)
    assert math.isnan(acat([np.nan]))
    assert acat([0.0, 0.5]) == 0.0
    with pytest.raises(ValueError):
        acat([1.5])
    with pytest.raises(ValueError):
        acat([0.1, 0.2], [1.0])


def _null(rng, n, binary=False):
    X = covariates(rng, n)
    y = (rng.random(n) < 0.2).astype(float) if binary else rng.normal(size=n)
    return fit_null(y, X, binary=binary, covariate_names=["pc1", "pc2", "sex"])


@pytest.mark.parametrize("binary", [False, True])
def test_acat_v__combines_variant_tests_and_an_ultra_rare_burden(kg_genes, rng, binary):
    """ACAT-V equals acat() of burden_test p-values of each variant with MAC > 10 (weights w^2 MAF (1 - MAF))
    and of the weighted sum of the ultra-rare ones (weight: their mean), built here column by column."""
    be = get_backend("numpy")
    G = np.column_stack([G for _, G in kg_genes[:10]])
    n = G.shape[0]
    null = _null(rng, n, binary)
    w = beta_weights(G)
    ac = G.sum(axis=0)
    mac = np.minimum(ac, 2 * n - ac)
    rare = mac <= COLLAPSE_MAC
    assert rare.any() and (~rare).any()
    maf = np.minimum(ac / (2 * n), 1 - ac / (2 * n))
    omega = w**2 * maf * (1 - maf)
    ps = [burden_test(null, G[:, [j]], be, spa_cutoff=0.0)["p"][0] for j in np.flatnonzero(~rare)]
    ps.append(burden_test(null, (G[:, rare] @ w[rare])[:, None], be, spa_cutoff=0.0)["p"][0])
    expected = acat(ps, np.append(omega[~rare], omega[rare].mean()))
    stat, p = acat_v(null, G, w, mac, be)
    # binary: 1e-8, the saddle point near z = 0 loses digits to cancellation (scores summed in another order)
    assert p == pytest.approx(expected, rel=1e-8 if binary else 1e-12)
    assert stat == pytest.approx(math.tan((0.5 - p) * math.pi), rel=1e-9)


def test_acat_v__single_variant_is_its_test(kg_genes, rng):
    be = get_backend("numpy")
    G = kg_genes[0][1][:, :1]
    null = _null(rng, G.shape[0])
    _, p = acat_v(null, G, beta_weights(G), np.array([COLLAPSE_MAC + 1]), be)
    assert p == pytest.approx(burden_test(null, G, be, spa_cutoff=0.0)["p"][0], rel=1e-12)
