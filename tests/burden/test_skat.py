"""SKAT and SKAT-O: the statistic and eigenvalues against explicit-matrix formulas (SKAT package scaling),
SKAT-O's p against a Monte Carlo of its own null distribution, the one-variant and rho-grid identities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from burden_oracles import beta_weights, covariates

from gdbtools.backend import get_backend
from gdbtools.burden import fit_null, mixture_chi2_sf, skat, skato
from gdbtools.burden.mixture import DaviesTail
from gdbtools.burden.skat import DEFAULT_RHO, skat_eigenvalues

NAMES = ["pc1", "pc2", "sex"]


def _explicit(null, G, w):
    """Q and the kernel eigenvalues from the SKAT formulas with the explicit P (an explicit inverse)."""
    X, V = null.X, np.diag(null.weights)
    P = V - V @ X @ np.linalg.inv(X.T @ V @ X) @ X.T @ V
    Z = G * w
    r = null.y - null.mu
    Q = r @ Z @ Z.T @ r / (2 * null.sigma2)
    return Q, Z, P


def _traits(rng, n, binary):
    X = covariates(rng, n)
    if binary:
        y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [-2.0, 0.3, -0.2, 0.2])))).astype(float)
    else:
        y = X @ [0.5, 0.2, -0.1, 0.3] + rng.normal(size=n)
    return fit_null(y, X, binary=binary, covariate_names=NAMES)


@pytest.mark.parametrize("binary", [False, True])
def test_skat__equals_the_explicit_formulas(kg_genes, rng, binary, backend):
    """Q = r^T Z Z^T r / (2 sigma2) and p from the eigenvalues of Z^T P Z / 2 built with explicit matrices."""
    null = _traits(rng, kg_genes[0][1].shape[0], binary)
    for _, G in kg_genes[:8]:
        w = beta_weights(G)
        q, p, method = skat(null, backend.to_device(G), w, backend)
        Q, Z, P = _explicit(null, G, w)
        lam = skat_eigenvalues(Z.T @ P @ Z / 2)
        assert q == pytest.approx(Q, rel=1e-10)
        assert p == pytest.approx(mixture_chi2_sf(Q, lam)[0], rel=1e-6, abs=1e-9)


def test_skat_eigenvalues__drop_numerical_zeros():
    """Two identical variants: a rank-1 kernel, one eigenvalue kept (SKAT's mean/1e5 rule)."""
    A = np.array([[2.0, 2.0], [2.0, 2.0]]) + 1e-13 * np.eye(2)
    assert skat_eigenvalues(A) == pytest.approx([4.0])


def test_skat__empty_set_is_nan(rng):
    be = get_backend("numpy")
    null = _traits(rng, 100, False)
    q, p, method = skat(null, np.zeros((100, 0)), np.zeros(0), be)
    assert np.isnan(p) and method == "none"
    assert np.isnan(skato(null, np.zeros((100, 0)), np.zeros(0), be)[1])


@pytest.mark.parametrize("binary", [False, True])
def test_skato__one_variant_equals_skat(kg_genes, rng, binary):
    """With one variant every rho gives the same statistic: SKAT-O's p equals SKAT's (to SKAT-O's
    integration accuracy, 1e-3 relative)."""
    be = get_backend("numpy")
    null = _traits(rng, kg_genes[0][1].shape[0], binary)
    G = kg_genes[3][1][:, :1]
    w = beta_weights(G)
    _, p_skat, _ = skat(null, G, w, be)
    stat, p, _, _ = skato(null, G, w, be)
    assert stat == pytest.approx(p_skat, rel=1e-10)
    assert p == pytest.approx(p_skat, rel=1e-3)


def _skato_mc(null, G, w, t_obs, rng, draws=200_000):
    """P(min_rho p_rho <= t_obs) under the null, S ~ N(0, Z^T P Z / sigma2-scaled): each p_rho is monotone in
    Q_rho, so the event is 'some Q_rho above its exact (1 - t_obs) quantile' (quantiles by Davies)."""
    _, Z, P = _explicit(null, G, w)
    A = Z.T @ P @ Z / 2
    m = A.shape[0]
    rhos = np.minimum(np.array(DEFAULT_RHO), 0.999)
    thresholds = []
    for r in rhos:
        L = np.linalg.cholesky((1 - r) * np.eye(m) + r * np.ones((m, m)))
        lam = skat_eigenvalues(L.T @ A @ L)
        tail = DaviesTail(lam, acc=1e-8)
        thresholds.append(scipy.optimize.brentq(lambda q, tail=tail: tail(q).p - t_obs, 0.0, tail.upper, xtol=1e-10))
    C = np.linalg.cholesky(2 * A + 1e-12 * np.eye(m))
    S = rng.standard_normal((draws, m)) @ C.T
    ss, s1 = (S * S).sum(axis=1), S.sum(axis=1) ** 2
    hit = np.zeros(draws, bool)
    for r, thr in zip(rhos, thresholds):
        hit |= ((1 - r) * ss + r * s1) / 2 >= thr
    p = hit.mean()
    return p, np.sqrt(p * (1 - p) / draws)


@pytest.mark.parametrize("binary", [False, True])
def test_skato__against_monte_carlo(kg_genes, rng, binary):
    """SKAT-O's p (Lee et al. 2012's integration with Liu quantiles) against a Monte Carlo of the minimum-p
    statistic under the asymptotic null: within 10 % + 4 SE (the method itself is an approximation; on these
    genes it is within 2 %)."""
    be = get_backend("numpy")
    null = _traits(rng, kg_genes[0][1].shape[0], binary)
    checked = 0
    for _, G in kg_genes[:12]:
        if G.shape[1] < 3:
            continue
        w = beta_weights(G)
        stat, p, _, rho = skato(null, G, w, be)
        if not 1e-3 < p < 0.9:
            continue
        p_mc, se = _skato_mc(null, G, w, stat, rng)
        assert abs(p - p_mc) < 0.10 * p_mc + 4 * se, (p, p_mc, se, rho)
        checked += 1
        if checked == 3:
            break
    assert checked >= 2


def test_skato__bounded_by_its_parts(kg_genes, rng):
    """min p <= SKAT-O p <= n_rho * min p; the rho = 0 member is SKAT."""
    be = get_backend("numpy")
    null = _traits(rng, kg_genes[0][1].shape[0], False)
    for _, G in kg_genes[:6]:
        w = beta_weights(G)
        stat, p, method, rho = skato(null, G, w, be)
        assert stat <= skat(null, G, w, be)[1] + 1e-12
        assert stat - 1e-9 <= p <= len(DEFAULT_RHO) * stat + 1e-12
        assert rho in DEFAULT_RHO and method in ("davies", "liu")


def test_skat__spa_adjust(kg_genes, rng):
    """spa_adjust changes nothing for a linear trait; for a 1:20 binary trait it rescales only the variants
    whose score has |z| > 2, each to the variance that turns its normal p into its saddle-point p."""
    import scipy.stats

    from gdbtools.burden import burden_test
    from gdbtools.burden.skat import _prepare

    be = get_backend("numpy")
    n = kg_genes[0][1].shape[0]
    lin = _traits(rng, n, False)
    G = np.column_stack([G for _, G in kg_genes[:6]])
    w = beta_weights(G)
    assert skat(lin, G, w, be, spa_adjust=True) == skat(lin, G, w, be)
    X = covariates(rng, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [-3.1, 0.3, -0.2, 0.2])))).astype(float)
    y[np.argsort(-(G @ w))[:8]] = 1.0  # some carriers are cases: a few scores with |z| > 2
    null = fit_null(y, X, binary=True, covariate_names=NAMES)
    S, A = _prepare(null, G, w, be)
    _, A_adj = _prepare(null, G, w, be, spa_adjust=True)
    per_variant = burden_test(null, G * w, be)
    far = np.abs(per_variant["stat"]) > 2
    assert far.any() and (~far).any()
    np.testing.assert_allclose(np.diag(A_adj)[~far], np.diag(A)[~far], rtol=1e-12)
    chi = scipy.stats.chi2.isf(per_variant["p"][far], 1)  # burden_test's p of each variant: its SPA p
    np.testing.assert_allclose(2 * np.diag(A_adj)[far], S[far] ** 2 / chi, rtol=1e-8)
    # SKAT-O on the adjusted kernel: its rho = 0 member is the adjusted SKAT
    stat, p, _, _ = skato(null, G, w, be, spa_adjust=True)
    assert stat <= skat(null, G, w, be, spa_adjust=True)[1] * (1 + 1e-9) and stat <= p


def test_rho_kernel__same_spectrum_as_the_cholesky_route(rng):
    """SKAT-O's per-rho kernel via the closed-form root of R_rho: the eigenvalues of SKAT's L^T A L (1e-12)."""
    from gdbtools.burden.skat import _rho_kernel

    B = rng.normal(size=(9, 9))
    A = B @ B.T
    for r in np.minimum(DEFAULT_RHO, 0.999):
        L = np.linalg.cholesky((1 - r) * np.eye(9) + r * np.ones((9, 9)))
        np.testing.assert_allclose(np.linalg.eigvalsh(_rho_kernel(A, r)), np.linalg.eigvalsh(L.T @ A @ L),
                                   rtol=1e-12, atol=1e-12 * np.abs(A).max())
