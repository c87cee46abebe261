"""fit_null: linear and logistic fits against statsmodels, the projection against its explicit matrix, the
design checks (each a NullModelError naming the problem)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from burden_oracles import covariates

from gdbtools.burden import NullModelError, fit_null
from gdbtools.errors import GdbError

NAMES = ["pc1", "pc2", "sex"]


def test_fit_null__linear_equals_statsmodels(rng):
    X = covariates(rng, 500)
    y = X @ [1.0, 0.3, -0.2, 0.5] + rng.normal(size=500)
    null = fit_null(y, X, binary=False, covariate_names=NAMES)
    ols = sm.OLS(y, X).fit()
    np.testing.assert_allclose(null.coef, ols.params, rtol=1e-10)
    np.testing.assert_allclose(null.residuals, ols.resid, atol=1e-10)
    assert null.sigma2 == pytest.approx(ols.scale, rel=1e-12)
    assert null.summary() == {"kind": "linear", "n": 500, "k": 4, "covariates": NAMES, "n_cases": None,
                              "n_controls": None, "sigma2": null.sigma2, "converged": True, "n_iter": 0}


def test_fit_null__logistic_equals_statsmodels(rng):
    """Unbalanced (about 1:20) case-control: IRLS converges to statsmodels' GLM Binomial fit."""
    X = covariates(rng, 2000)
    eta = X @ [-3.2, 0.4, -0.3, 0.2]
    y = (rng.random(2000) < 1 / (1 + np.exp(-eta))).astype(float)
    null = fit_null(y, X, binary=True, covariate_names=NAMES)
    glm = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    assert null.converged
    np.testing.assert_allclose(null.coef, glm.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(null.mu, glm.fittedvalues, rtol=1e-7)
    assert (null.n_cases, null.n_controls) == (int(y.sum()), 2000 - int(y.sum()))
    assert np.abs(X.T @ null.residuals).max() < 1e-8  # the score equations hold at the fit


@pytest.mark.parametrize("binary", [False, True])
def test_project__equals_the_explicit_matrix(rng, binary, backend):
    """P A against P = V - V X (X^T V X)^-1 X^T V (V = I for linear) formed with an explicit inverse."""
    n = 120
    X = covariates(rng, n)
    y = (rng.random(n) < 0.3).astype(float) if binary else rng.normal(size=n)
    null = fit_null(y, X, binary=binary, covariate_names=NAMES)
    V = np.diag(null.weights)
    P = V - V @ X @ np.linalg.inv(X.T @ V @ X) @ X.T @ V
    A = rng.normal(size=(n, 5))
    got = backend.to_host(null.project(backend.to_device(A), backend))
    np.testing.assert_allclose(got, P @ A, atol=1e-12)


@pytest.mark.parametrize(("case", "binary", "words"), [
    ("constant", False, ["constant covariate", "sex"]),
    ("collinear", False, ["collinear", "pc2"]),
    ("not01", True, ["other than 0 and 1"]),
    ("oneclass", True, ["one class"]),
    ("few", False, ["samples for", "parameters"]),
    ("missing", False, ["missing"]),
])
def test_fit_null__refuses_bad_designs(rng, case, binary, words):
    n = 50
    X = covariates(rng, n)
    y = (rng.random(n) < 0.5).astype(float) if binary else rng.normal(size=n)
    if case == "constant":
        X[:, 3] = 1.0
    elif case == "collinear":
        X[:, 2] = 2 * X[:, 1] - X[:, 3]
    elif case == "not01":
        y = y + 1
    elif case == "oneclass":
        y[:] = 1.0
    elif case == "few":
        X, y = X[:4], y[:4]
    elif case == "missing":
        y[3] = np.nan
    with pytest.raises(NullModelError) as err:
        fit_null(y, X, binary=binary, covariate_names=NAMES)
    assert isinstance(err.value, GdbError) and err.value.fix
    for w in words:
        assert w in str(err.value)
