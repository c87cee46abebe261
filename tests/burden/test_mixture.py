"""P(sum lambda_k chi2_1 > q): Davies against exact chi-squares, Imhof's integral, momentchi2 and Monte Carlo;
Liu's matching; the auto fallback and the fault codes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from burden_oracles import imhof_sf, mc_mixture_sf
from helpers import need

from gdbtools.burden import davies, liu, mixture_chi2_sf
from gdbtools.burden.mixture import DaviesTail


@pytest.mark.parametrize(("m", "scale", "q"), [(3, 1.0, 5.0), (5, 0.3, 9.0), (8, 2.0, 40.0), (20, 0.05, 1.9)])
def test_davies__equal_weights_is_a_scaled_chi2(m, scale, q):
    """Equal weights: the mixture is scale * chi2_m exactly; Davies within its error bound (<= 1e-9)."""
    res = davies(q, np.full(m, scale))
    exact = scipy.stats.chi2.sf(q / scale, m)
    assert res.ifault == 0
    assert res.error < 1e-9 + 1e-15
    assert abs(res.p - exact) <= res.error


def test_davies__against_imhof(rng):
    """Distinct weights (eigenvalue-like spectra): Davies equals Imhof's adaptive integral to 1e-9."""
    for m, q_frac in [(8, 1.0), (12, 2.5), (25, 4.0)]:
        lam = np.sort(rng.exponential(size=m))[::-1]
        q = q_frac * lam.sum()
        res = davies(q, lam)
        assert res.ifault == 0
        assert abs(res.p - imhof_sf(q, lam)) < 1e-9, (m, q)


def test_davies__against_momentchi2(rng):
    """momentchi2's Wood F approximation (an approximation itself: agrees within 10 % at p > 5e-3). momentchi2's
    more accurate lpb4 does not run under NumPy 2 (np.math); chiscore needs a C library absent from PyPI."""
    try:
        import momentchi2
    except ImportError:
        need(False, "momentchi2 is not installed (the test extra has it)")
    for m in (4, 10, 30):
        lam = rng.exponential(size=m)
        for q in (lam.sum(), 2 * lam.sum()):
            p = davies(q, lam).p
            if p > 5e-3:
                assert 1 - momentchi2.wf(list(lam), q) == pytest.approx(p, rel=0.10)


def test_davies__against_monte_carlo(rng):
    """2e6 draws of the same mixture: Davies within 5 binomial standard errors (SE ~ 2e-4 at p ~ 0.1)."""
    lam = np.array([3.1, 1.7, 0.9, 0.4, 0.25, 0.1, 0.02])
    for q in (4.0, 9.0, 20.0):
        p_mc, se = mc_mixture_sf(q, lam, 2_000_000, rng)
        res = davies(q, lam)
        assert abs(res.p - p_mc) < 5 * se, (q, res.p, p_mc, se)


def test_davies__fault_codes():
    """ifault 3 for invalid input; 1 when the terms needed exceed lim, with an error bound above acc."""
    assert davies(1.0, []).ifault == 3
    assert davies(1.0, [1.0, 0.0]).ifault == 3
    assert davies(float("nan"), [1.0, 2.0]).ifault == 3
    res = davies(3.0, [1.0, 0.5], acc=1e-9, lim=1000)
    assert res.ifault == 1 and res.error > 1e-9
    # with enough terms the same case is fine and near the exact value (Imhof)
    ok = davies(3.0, [1.0, 0.5], acc=1e-5)
    assert ok.ifault == 0 and abs(ok.p - scipy_two_term(3.0, 1.0, 0.5)) < 1e-5


def scipy_two_term(q: float, a: float, b: float) -> float:
    """P(a chi2_1 + b chi2_1 > q) by one-dimensional quadrature over the second term."""
    import scipy.integrate

    f = lambda x: scipy.stats.chi2.sf((q - b * x) / a, 1) * scipy.stats.chi2.pdf(x, 1)  # noqa: E731
    v1, _ = scipy.integrate.quad(f, 0, q / b, epsabs=1e-13, limit=500)
    return v1 + scipy.stats.chi2.sf(q / b, 1)


def test_davies__negative_weights(rng):
    """Weights of both signs (the lower Chernoff point is used): against Monte Carlo."""
    lam = np.array([2.0, 1.0, 0.7, -0.5, -0.3, 0.2])
    p_mc, se = mc_mixture_sf(1.5, lam, 1_000_000, rng)
    assert abs(davies(1.5, lam).p - p_mc) < 5 * se


def test_davies_tail__equals_davies(rng):
    """The shared-grid evaluator used by SKAT-O agrees with davies() within both error bounds."""
    lam = rng.exponential(size=9)
    tail = DaviesTail(lam, acc=1e-6)
    for q in np.linspace(0.1, 6 * lam.sum(), 13):
        a, b = tail(q), davies(q, lam, acc=1e-6)
        assert abs(a.p - b.p) <= a.error + b.error


def test_davies_tail__blocked_sum_equals_the_written_out_sum(rng):
    """DaviesTail's per-q sum (a blocked complex matrix-vector product) equals Davies' sum of sines written out
    on the same grid to round-off (1e-12 absolute), for a dominated spectrum of thousands of terms."""
    lam = np.concatenate([[40.0], rng.uniform(0.01, 0.2, 30)])
    tail = DaviesTail(lam, acc=1e-6)
    assert tail.ifault == 0 and tail.k > 1000
    u = (np.arange(tail.k + 1) + 0.5) * tail.delta
    x = 2.0 * np.outer(u, lam)
    theta = 0.5 * np.arctan(x).sum(axis=1)
    mod = np.exp(-0.25 * np.log1p(x * x).sum(axis=1))
    for q in np.linspace(tail.lower, tail.upper, 17)[1:-1]:
        direct = 0.5 + float(np.sum(mod * np.sin(theta - u * q) / (u / tail.delta))) / np.pi
        assert abs(tail(q).p - direct) < 1e-12

def test_liu__exact_for_equal_weights():
    """Liu's matching is exact when the mixture is a scaled chi-square."""
    assert liu(7.0, [0.5] * 6) == pytest.approx(scipy.stats.chi2.sf(14.0, 6), rel=1e-12)


def test_mixture_chi2_sf__auto(rng):
    """auto: Davies for ordinary p; refines accuracy for small p; Liu where Davies cannot reach p."""
    lam = rng.exponential(size=10)
    p, method = mixture_chi2_sf(2 * lam.sum(), lam)
    assert method == "davies" and abs(p - imhof_sf(2 * lam.sum(), lam)) < 1e-6  # acc 1e-6 (1e-9 if cheap)
    # p ~ 1e-8: Davies at acc 1e-12 (relative error bound 1e-4 of p), checked against equal-weight exact
    q = scipy.stats.chi2.isf(1e-8, 10) * 0.5
    p, method = mixture_chi2_sf(q, np.full(10, 0.5))
    assert method == "davies" and p == pytest.approx(1e-8, rel=1e-3)
    # far tail beyond Davies' reach (p ~ 1e-30): Liu, reported
    p, method = mixture_chi2_sf(200.0, lam[:3] / lam[:3].max())
    assert method == "liu" and 0 < p < 1e-20
    # one weight: exact
    assert mixture_chi2_sf(3.0, [2.0]) == (pytest.approx(scipy.stats.chi2.sf(1.5, 1), rel=1e-14), "exact")
    assert mixture_chi2_sf(-1.0, [2.0, 1.0]) == (1.0, "exact")


def test_mixture_chi2_sf__two_terms_exact(rng):
    """Two eigenvalues: the one-dimensional quadrature ('exact') equals chi2_2 for equal weights (1e-12),
    Davies where Davies converges (within its bound), and a Monte Carlo (5 SE); tails to 1e-45 stay positive."""
    p, method = mixture_chi2_sf(7.0, [1.0, 1.0])
    assert method == "exact" and p == pytest.approx(scipy.stats.chi2.sf(7.0, 2), rel=1e-12)
    p, _ = mixture_chi2_sf(9.0, [2.5, 1.5])
    ref = davies(9.0, [2.5, 1.5], acc=1e-5)
    assert ref.ifault == 0 and abs(p - ref.p) <= ref.error
    p_mc, se = mc_mixture_sf(10.0, [3.0, 0.2], 2_000_000, rng)
    assert abs(mixture_chi2_sf(10.0, [3.0, 0.2])[0] - p_mc) < 5 * se
    far, _ = mixture_chi2_sf(200.0, [1.0, 0.5])
    assert 0 < far < 1e-40 and far == pytest.approx(scipy_two_term(200.0, 1.0, 0.5), rel=1e-6)


# Real spectra: SKAT eigenvalues of genes of 1000 Genomes chr22 (bench/bench_skat_hail.py, linear trait, seed 11)
ACR_Q, ACR_LAM = 135.96834394005896, np.array([4610.124673795017, 300.9486702862733])
KCTD17_LAM = np.array([303.62848446, 305.43489945, 593.41921454, 1363.80057299, 4794.81450672]) / 4794.81450672


def test_davies__term_limit_keeps_an_accurate_p():
    """ACR (2 variants, p ~ 0.95): Davies needs more than DAVIES_LIM terms at acc 1e-6 (ifault 1), yet the
    sum cut at the limit is within its error bound (~1.3e-6) of Imhof's integral, as is the exact quadrature
    (1e-8)."""
    res = davies(ACR_Q, ACR_LAM, acc=1e-6)
    ref = imhof_sf(ACR_Q / ACR_LAM.max(), ACR_LAM / ACR_LAM.max())
    assert res.ifault == 1 and res.error < 1e-5
    assert abs(res.p - ref) <= res.error
    p, method = mixture_chi2_sf(ACR_Q, ACR_LAM)
    assert method == "exact" and abs(p - ref) < 1e-8


def test_mixture_chi2_sf__auto_keeps_a_faulted_davies_p():
    """ACR's two eigenvalues and a small third: Davies faults (term limit) at p ~ 0.95; auto keeps its p (error
    bound <= MAX_FAULT_ERROR) instead of Liu's (1.0 before the fix), and it equals Imhof's within that bound."""
    lam = np.append(ACR_LAM, 0.002)
    res = davies(ACR_Q, lam, acc=1e-6)
    assert res.ifault == 1
    p, method = mixture_chi2_sf(ACR_Q, lam)
    ref = imhof_sf(ACR_Q / lam.max(), lam / lam.max())
    assert method == "davies" and abs(p - ref) <= res.error
    assert abs(liu(ACR_Q, lam) - ref) > 0.01  # what the Liu fallback gave: off by ~0.05


def test_mixture_chi2_sf__auto_refines_a_negative_coarse_p():
    """KCTD17 (5 eigenvalues) at p ~ 6e-8: Davies at acc 1e-6 gives p < 0, a p outside (0, 1] to refine, not to
    replace by Liu (anti-conservative by ~2x here); auto reaches acc 1e-12 (Davies, within 1 % of Imhof's
    integral)."""
    assert davies(30.0, KCTD17_LAM, acc=1e-6).p < 0
    p, method = mixture_chi2_sf(30.0, KCTD17_LAM)
    ref = imhof_sf(30.0, KCTD17_LAM)
    assert method == "davies" and p == pytest.approx(ref, rel=1e-2)
    assert liu(30.0, KCTD17_LAM) < 0.6 * ref
