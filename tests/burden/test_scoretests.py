"""burden_test: linear Wald against statsmodels OLS, logistic score test against statsmodels' GLM score test,
the saddle-point p against a Monte Carlo of the null score distribution (1:20 case-control, rare scores)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm
from burden_oracles import beta_weights, covariates

from gdbtools.backend import get_backend
from gdbtools.burden import burden_test, fit_null, spa_pvalue

NAMES = ["pc1", "pc2", "sex"]


def _scores(kg_genes, n_genes=40):
    """(n, 3 * n_genes) wsum, sum and max scores of real genes."""
    cols = []
    for _, G in kg_genes[:n_genes]:
        cols += [G @ beta_weights(G), G.sum(axis=1), G.max(axis=1)]
    return np.column_stack(cols)


def test_burden_test__linear_equals_statsmodels_ols(kg_genes, rng, backend):
    """beta, se and p equal statsmodels' OLS of y on [X, score] to 1e-8 (relative), on real gene scores."""
    S = _scores(kg_genes)
    n = S.shape[0]
    X = covariates(rng, n)
    y = X @ [0.5, 0.2, -0.1, 0.3] + 0.4 * S[:, 0] + rng.normal(size=n)
    res = burden_test(fit_null(y, X, binary=False, covariate_names=NAMES), backend.to_device(S), backend)
    for j in range(S.shape[1]):
        fit = sm.OLS(y, np.column_stack([X, S[:, j]])).fit()
        assert res["beta"][j] == pytest.approx(fit.params[-1], rel=1e-8)
        assert res["se"][j] == pytest.approx(fit.bse[-1], rel=1e-8)
        assert res["stat"][j] == pytest.approx(fit.tvalues[-1], rel=1e-8)
        assert res["p"][j] == pytest.approx(fit.pvalues[-1], rel=1e-8, abs=1e-300)
        assert res["p_method"][j] == "t"


def test_burden_test__untestable_scores_are_nan(rng):
    """A score of zeros, or one in the covariates' span: NaN and p_method 'none', the others still tested."""
    be = get_backend("numpy")
    n = 200
    X = covariates(rng, n)
    S = np.column_stack([np.zeros(n), 2 * X[:, 1] + 1, rng.normal(size=n)])
    res = burden_test(fit_null(rng.normal(size=n), X, binary=False, covariate_names=NAMES), S, be)
    assert np.isnan(res["p"][:2]).all() and list(res["p_method"]) == ["none", "none", "t"]


def _case_control(rng, n):
    """About 1:20 cases:controls from a logistic model on the covariates."""
    X = covariates(rng, n)
    eta = X @ [-3.1, 0.3, -0.2, 0.2]
    return X, (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)


def test_burden_test__logistic_equals_statsmodels_score_test(kg_genes, rng):
    """z^2 equals statsmodels' GLM score test (exog_extra) on the same null fit to 1e-6 (relative; the two null
    fits agree to ~1e-9), and for |z| <= 2 the normal p equals its chi2_1 p."""
    be = get_backend("numpy")
    S = _scores(kg_genes)
    X, y = _case_control(rng, S.shape[0])
    null = fit_null(y, X, binary=True, covariate_names=NAMES)
    res = burden_test(null, S, be)
    glm = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    n_normal = 0
    for j in range(S.shape[1]):
        stat, p = glm.score_test(params_constrained=glm.params, exog_extra=S[:, [j]])[:2]
        assert res["stat"][j] ** 2 == pytest.approx(float(stat[0]), rel=1e-6)
        if abs(res["stat"][j]) <= 2:
            assert res["p_method"][j] == "normal"
            assert res["p"][j] == pytest.approx(float(p[0]), rel=1e-6)
            n_normal += 1
        else:
            assert res["p_method"][j] == "spa"
    assert n_normal > 0


def _mc_two_sided(g, mu, a_values, rng, draws=200_000):
    """Monte Carlo of U = g^T (y - mu), y_i ~ Bernoulli(mu_i): P(U >= a) + P(U <= -a) for each a."""
    U = np.empty(draws)
    for i in range(0, draws, 10_000):
        U[i:i + 10_000] = (rng.random((10_000, mu.size)) < mu) @ g - mu @ g
    return U, np.array([np.mean(U >= a) + np.mean(U <= -a) for a in a_values])


@pytest.mark.parametrize(("mac_range", "factor"), [((30, 60), 1.3), ((8, 20), 2.5)])
def test_spa__against_monte_carlo(kg_genes, rng, mac_range, factor):
    """1:20 case-control on 1,092 real genomes, a rare burden score: at the MC tail points 1e-2, 2e-3, 5e-4
    the SPA p is within `factor` of the Monte Carlo p (2e5 draws; SE <= 5 % of p), where the normal
    approximation is off by more than that factor. The rarer the score, the more discrete U and the
    looser SPA (a continuous approximation): within 1.3x for MAC 30-60, 2.5x for MAC 8-20."""
    be = get_backend("numpy")
    X, y = _case_control(rng, kg_genes[0][1].shape[0])
    null = fit_null(y, X, binary=True, covariate_names=NAMES)
    score = next(G.sum(axis=1) for _, G in kg_genes if mac_range[0] <= G.sum() <= mac_range[1])
    Ps = null.project(score[:, None], be)[:, 0]
    g = Ps / null.weights
    U, _ = _mc_two_sided(g, null.mu, [], rng)
    a_values = np.quantile(np.abs(U), [1 - 1e-2, 1 - 2e-3, 1 - 5e-4])
    mc = np.array([np.mean(U >= a) + np.mean(U <= -a) for a in a_values])
    for a, p_mc in zip(a_values, mc):
        p_spa = spa_pvalue(a, g, null.mu)
        p_norm = 2 * scipy.stats.norm.sf(a / np.sqrt(score @ Ps))
        assert 1 / factor < p_spa / p_mc < factor, (a, p_spa, p_mc)
        assert not 1 / factor < p_norm / p_mc < factor
    # burden_test reports the SPA p for such a score when |z| > 2
    res = burden_test(null, score[:, None], be)
    if abs(res["stat"][0]) > 2:
        assert res["p_method"][0] == "spa"
        assert res["p"][0] == pytest.approx(spa_pvalue(float(score @ null.residuals), g, null.mu), rel=1e-12)


def test_burden_test__spa_cutoff_zero_uses_the_saddle_point_at_every_z(kg_genes, rng):
    """``spa_cutoff=0`` (ACAT-V's per-variant tests): every testable column's p is its saddle-point p, also
    where |z| <= 2 (1e-8 absolute: near z = 0 the formula loses digits to cancellation); z does not depend on
    the cutoff."""
    be = get_backend("numpy")
    S = _scores(kg_genes)
    X, y = _case_control(rng, S.shape[0])
    null = fit_null(y, X, binary=True, covariate_names=NAMES)
    default, every = burden_test(null, S, be), burden_test(null, S, be, spa_cutoff=0.0)
    np.testing.assert_array_equal(default["stat"], every["stat"])
    ok = np.isfinite(every["stat"])
    assert (np.abs(every["stat"][ok]) <= 2).any()
    G = be.to_host(null.project(S, be)) / null.weights[:, None]
    for j in np.flatnonzero(ok):
        assert every["p_method"][j] == "spa"
        assert every["p"][j] == pytest.approx(spa_pvalue(float(S[:, j] @ null.residuals), G[:, j], null.mu),
                                              rel=0, abs=1e-8)
