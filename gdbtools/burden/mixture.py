"""P(sum_k lambda_k chi2_1 > q): the null distribution of SKAT-type quadratic forms.

Two methods:

- :func:`davies`: Davies' inversion of the characteristic function (Davies 1973, 1980, Applied Statistics
  algorithm AS 155), written here from the papers' formulas with error bounds of our own derivation.  With
  ``phi(u) = prod_k (1 - 2 i lambda_k u)^(-1/2)``, ``u_j = (j + 1/2) Delta``,

      P(Q > q) ~= 1/2 + (1/pi) sum_{j=0}^{K} |phi(u_j)| sin(theta(u_j) - u_j q) / (j + 1/2),
      theta(u) = (1/2) sum_k atan(2 lambda_k u),

  and three error terms, each bounded and kept below ``acc / 4``: (1) the discretisation ("aliasing") error
  of the step ``Delta``, at most ``P(Q < q - 2 pi / Delta) + P(Q > q + 2 pi / Delta)`` (Davies 1973), both
  tails bounded by Chernoff's bound ``P(Q > x) <= min_t exp(-t x) E exp(t Q)``; (2) the truncation after K
  terms, at most ``(1/pi) int_{U}^inf |phi(u)| / u du <= (2 / (pi s)) prod_{k in S} (2 |lambda_k| U)^(-1/2)``
  with ``U = u_K`` and ``S`` the s terms with ``2 |lambda_k| U >= 1`` (since ``|1 - 2 i l u|^(-1/2) <=
  (2 |l| u)^(-1/2)``); (3) round-off, estimated as ``eps * sum |terms|``.  ``ifault``: 0 ok; 1 the accuracy
  needs more than `lim` terms (the sum is cut at `lim`, the error bound says how far off it may be); 2
  round-off may exceed `acc`; 3 invalid input.  Unlike AS 155 no convergence factor is used, so a mixture
  dominated by one or two eigenvalues (slow decay of ``|phi|``) needs many terms: ``ifault = 1`` then.
- :func:`liu`: Liu, Tang & Zhang (2009) matching of the first four cumulants to a (noncentral) chi-square;
  :func:`liu_params` with ``modified=True`` is the variant of the SKAT package (Lee et al. 2012) that matches
  the kurtosis when ``s1^2 <= s2``, used by SKAT-O.

:func:`mixture_chi2_sf` with ``method="auto"`` (SKAT's practice, with our thresholds): Davies at
``acc = 1e-6`` (``1e-9`` when that takes at most 65,536 terms, as for most spectra of 5 or more variants);
a p below ``100 * acc`` (where the error bound exceeds 1 % of p) or outside (0, 1] (a tiny p computed at a
coarse accuracy can come out negative) is recomputed at ``1e-9``, then ``1e-12``.  When the accuracy needs
more than :data:`DAVIES_LIM` terms (``ifault = 1``), the sum cut at the limit is kept, as the SKAT package
keeps a faulted Davies p in (0, 1], provided its error bound (truncation included) is at most
:data:`MAX_FAULT_ERROR` and 1 % of p.  Liu otherwise: a faulted p outside (0, 1] or with a larger bound, or p
still below ``100 * acc`` at ``1e-12`` (p < 1e-10); the method returned says which.  One or two positive
eigenvalues are computed exactly (method ``"exact"``): ``chi2.sf(q / lambda, 1)``, and for two a
one-dimensional quadrature over the smaller term (where Davies' sum, without AS 155's convergence factor,
would need millions of terms).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import scipy.integrate
import scipy.stats

__all__ = ["DaviesResult", "DaviesTail", "davies", "liu", "liu_params", "mixture_chi2_sf", "AUTO_ACCURACIES",
           "DAVIES_LIM", "MAX_FAULT_ERROR"]

AUTO_ACCURACIES = (1e-6, 1e-9, 1e-12)
DAVIES_LIM = 1 << 22  # most terms of the Davies sum (about 4.2 million)
_CHUNK = 1 << 16
_EPS = float(np.finfo(float).eps)
_CHEAP_TERMS = 1 << 16  # auto starts at acc 1e-9 when that needs at most this many terms
MAX_FAULT_ERROR = 1e-5  # auto keeps a Davies p cut at DAVIES_LIM terms when its error bound is below this


class DaviesResult(NamedTuple):
    """Upper tail ``p = P(Q > q)``, its absolute error bound, the fault code and the number of terms."""

    p: float
    error: float
    ifault: int
    n_terms: int


def _upper_point(lam: np.ndarray, a: float) -> float:
    """An x with ``P(sum lam chi2_1 > x) <= a`` by Chernoff's bound (0 when no lambda is positive).

    The bound ``exp(K(t) - t x)`` (K the cumulant generating function) equals `a` at ``x(t) = (K(t) - log a) / t``,
    smallest where ``h(t) = t K'(t) - K(t) = -log a`` (h increases from 0 on ``[0, 1 / (2 lmax))``, h' = t K''):
    a safeguarded Newton solve in ``s = 2 lmax t``, kept within ``[1e-9, 1 - 1e-9]``.
    """
    lmax = float(lam.max())
    if lmax <= 0:
        return 0.0
    c = 2.0 * lam / (2.0 * lmax)  # 1 - 2 t lam = 1 - s c
    target = -math.log(a)

    def x_of(s: float) -> float:  # the x at which the bound with t = s / (2 lmax) equals a
        return (-0.5 * float(np.sum(np.log1p(-s * c))) + target) * (2.0 * lmax) / s

    lo, hi = 1e-9, 1.0 - 1e-9
    s = 2.0 * target / (1.0 + 2.0 * target)  # the root for one eigenvalue, its log term left out
    for _ in range(100):
        d = 1.0 - s * c
        k0 = -0.5 * float(np.log(d).sum())
        cd = c / d
        k1 = 0.5 * float(cd.sum())  # dK/ds
        g = s * k1 - k0 - target  # h - (-log a), increasing in s
        if g > 0:
            hi = s
        else:
            lo = s
        step = g / (s * 0.5 * float((cd * cd).sum()))  # h'(s) = s K''(s)
        if abs(step) <= 1e-15 * s or hi - lo <= 1e-15:
            break
        s = s - step if lo < s - step < hi else 0.5 * (lo + hi)
    return float(min(x_of(min(max(s, 1e-9), 1.0 - 1e-9)), x_of(0.5)))


def _truncation_bound(absl: np.ndarray, u: float) -> float:
    """Bound on ``(1/pi) int_u^inf |phi(v)| / v dv`` (absl: |lambda|, sorted descending)."""
    x = 2.0 * absl * u
    s = int(np.count_nonzero(x >= 1.0))
    if s == 0:
        return math.inf
    return 2.0 / (math.pi * s) * math.exp(-0.5 * float(np.sum(np.log(x[:s]))))


def _cutoff(absl: np.ndarray, a: float) -> float:
    """Smallest u with the truncation bound at u at most `a` (inf when above 1e87); absl sorted descending.

    Between the breakpoints ``b_s = 1 / (2 absl_s)`` the bound is ``2 / (pi s) prod_{k <= s} (2 absl_k u)^(-1/2)``
    (s terms past their breakpoint), decreasing in u and continuing downwards across each breakpoint: on the
    piece of s terms it reaches `a` at ``log u = (2 / s) (log(2 / (pi s)) - L_s / 2 - log a)``, ``L_s = sum_{k <= s}
    log(2 absl_k)``; the first piece whose solution (or start) lies before its end holds the answer."""
    s = np.arange(1, absl.size + 1, dtype=np.float64)
    starts = 0.5 / absl
    log_u = 2.0 / s * (np.log(2.0 / (math.pi * s)) - 0.5 * np.cumsum(np.log(2.0 * absl)) - math.log(a))
    cand = np.maximum(np.exp(np.minimum(log_u, 700.0)), starts)
    ends = np.append(starts[1:], math.inf)
    ok = np.flatnonzero(cand < ends)
    u = float(cand[ok[0]]) if ok.size else math.inf
    return u if u <= math.exp(200.0) else math.inf


@functools.lru_cache(maxsize=4096)
def _bounds(lam_bytes: bytes, acc: float) -> tuple[float, float, float]:
    """(upper, lower, u_max) for the weights (float64 bytes): the Chernoff points with tails below acc / 4 and
    the integration cutoff with the truncation bound below acc / 4.  None of them depends on q."""
    lam = np.frombuffer(lam_bytes, dtype=np.float64)
    upper = _upper_point(lam, acc / 4)
    lower = -_upper_point(-lam, acc / 4) if (lam < 0).any() else 0.0
    return upper, lower, _cutoff(np.sort(np.abs(lam))[::-1], acc / 4)


def _plan(q: float, lam: np.ndarray, acc: float) -> tuple[float, int]:
    """The step Delta and the number of terms K for accuracy `acc`."""
    upper, lower, u_max = _bounds(lam.tobytes(), float(acc))
    delta = 2.0 * math.pi / max(upper - q, q - lower, 1e-300)
    k = u_max / delta - 0.5
    return delta, (1 << 62) if not k < (1 << 62) else max(1, math.ceil(k))


def _phi_polar(j: np.ndarray, delta: float, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|phi(u)|`` and ``theta(u)`` at ``u = j delta`` (phi the characteristic function of sum lam chi2_1)."""
    lu = np.multiply.outer(2.0 * lam, j * delta)  # (m, K): the sums over lambda add whole rows (3-5x faster
    theta = 0.5 * np.arctan(lu).sum(axis=0)  # than row-wise reductions of a (K, m) array)
    np.multiply(lu, lu, out=lu)
    np.log1p(lu, out=lu)
    return np.exp(-0.25 * lu.sum(axis=0)), theta


def davies(q: float, lambdas, *, acc: float = 1e-9, lim: int = DAVIES_LIM) -> DaviesResult:
    """``P(sum_k lambdas_k chi2_1 > q)`` by Davies' method (see the module docstring for the bounds).

    Parameters
    ----------
    q : float
    lambdas : (m,) float
        Nonzero weights (either sign).
    acc : float
        Wanted absolute accuracy of p.
    lim : int
        Most terms of the sum.
    """
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size == 0 or not np.isfinite(lam).all() or not math.isfinite(q) or (lam == 0).any() or acc <= 0:
        return DaviesResult(math.nan, math.nan, 3, 0)
    delta, k_needed = _plan(q, lam, acc)
    ifault, k = (1, lim) if k_needed > lim else (0, k_needed)
    total = 0.0
    absum = 0.0
    for start in range(0, k + 1, _CHUNK):
        j = np.arange(start, min(k + 1, start + _CHUNK), dtype=np.float64) + 0.5
        mod, theta = _phi_polar(j, delta, lam)
        terms = j * delta  # mod sin(theta - j delta q) / j in one buffer (the same operations as written out)
        terms *= q
        np.subtract(theta, terms, out=terms)
        np.sin(terms, out=terms)
        terms *= mod
        terms /= j
        total += float(terms.sum())
        absum += float(np.abs(terms, out=terms).sum())
    return _result(0.5 + total / math.pi, absum, acc, ifault, k, delta, lam)


def _result(p, absum, acc, ifault, k, delta, lam) -> DaviesResult:
    trunc = acc / 4 if ifault == 0 else _truncation_bound(np.sort(np.abs(lam))[::-1], (k + 0.5) * delta)
    roundoff = 8 * _EPS * (absum / math.pi + 1.0)
    if ifault == 0 and roundoff > acc / 4:
        ifault = 2
    return DaviesResult(float(p), float(acc / 2 + trunc + roundoff), ifault, k + 1)


class DaviesTail:
    """``q -> P(sum lambdas chi2_1 > q)`` by Davies' method for many q with the same weights.

    One step ``Delta = 2 pi / (upper - lower)`` serves every q in ``[lower, upper]`` (the Chernoff points
    with tails below ``acc / 4``), so the characteristic function is evaluated once, and each q then costs one
    complex (nb x B) matrix-vector product and ``nb + B`` exponentials (``nb B >= K``, B ~ sqrt(K); see
    :meth:`_terms`) instead of K sines; the round-off estimate uses ``sum_j |phi(u_j)| / (j + 1/2)``, a bound
    on ``sum |terms|``.  Outside that range the tail is within ``acc / 4`` of 0 or 1 and is returned as 0 or 1.
    Used by SKAT-O's integrand.
    """

    def __init__(self, lambdas, *, acc: float = 1e-6, lim: int = DAVIES_LIM):
        lam = np.asarray(lambdas, dtype=np.float64).ravel()
        self.lam, self.acc = lam, acc
        self.upper, self.lower, u_max = _bounds(lam.tobytes(), float(acc))
        self.delta = 2.0 * math.pi / max(self.upper - self.lower, 1e-300)
        k = u_max / self.delta - 0.5
        self.k_needed = (1 << 62) if not k < (1 << 62) else max(1, math.ceil(k))
        self.ifault, self.k = (1, lim) if self.k_needed > lim else (0, self.k_needed)
        self._grid: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None  # on the first q inside

    def _terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """``(C, v_outer, v_inner, sum a)``, computed once (a caller that checks ``ifault`` first and gives up on a
        fault never pays for the up to ``lim`` terms): the complex terms ``c_j = a_j exp(i theta(u_j))``, ``a_j =
        |phi(u_j)| / (j + 1/2)``, zero-padded to a (nb, B) block matrix ``C[b, k] = c_{bB + k}`` (B ~ sqrt(K)),
        the outer frequencies ``u_{bB}`` and the inner ``k Delta``."""
        if self._grid is None:
            n = self.k + 1
            j = np.arange(n, dtype=np.float64) + 0.5
            mod, theta = _phi_polar(j, self.delta, self.lam)
            a = mod / j
            width = max(1, math.ceil(math.sqrt(n)))
            nb = -(-n // width)
            c = np.zeros(nb * width, dtype=np.complex128)
            c[:n] = a * np.exp(1j * theta)
            outer = (np.arange(nb, dtype=np.float64) * width + 0.5) * self.delta
            inner = np.arange(width, dtype=np.float64) * self.delta
            self._grid = (c.reshape(nb, width), outer, inner, float(a.sum()))
        return self._grid

    def __call__(self, q: float) -> DaviesResult:
        if q >= self.upper:
            return DaviesResult(0.0, self.acc / 4, self.ifault, 0)
        if q <= self.lower:
            return DaviesResult(1.0, self.acc / 4, self.ifault, 0)
        c, outer, inner, asum = self._terms()
        # sum_j a_j sin(theta_j - u_j q) = Im sum_b exp(-i u_{bB} q) sum_k c_{bB+k} exp(-i k Delta q): one complex
        # matrix-vector product and nb + B exponentials instead of K sines (the same sum to round-off); the
        # round-off estimate uses sum a_j >= sum |terms| (a bound, as |sin| <= 1)
        total = float((np.exp(-1j * q * outer) @ (c @ np.exp(-1j * q * inner))).imag)
        return _result(0.5 + total / math.pi, asum, self.acc, self.ifault, self.k, self.delta, self.lam)


def liu_params(lambdas, *, modified: bool = False) -> dict[str, float]:
    """Liu et al. (2009) moment matching: Q ~ (X - mu_x) / sigma_x * sigma_q + mu_q, X ~ chi2(l, delta).

    ``modified=True`` is the SKAT package's variant (Lee et al. 2012): when ``s1^2 <= s2`` match the kurtosis
    (``l = 1 / s2``) instead of the skewness; SKAT-O uses it for its per-rho quantiles.
    """
    lam = np.asarray(lambdas, dtype=np.float64)
    c1, c2, c3, c4 = (float(np.sum(lam**i)) for i in (1, 2, 3, 4))
    s1, s2 = c3 / c2**1.5, c4 / c2**2
    if s1 * s1 > s2:
        a = 1.0 / (s1 - math.sqrt(s1 * s1 - s2))
        d = s1 * a**3 - a * a
        dof = a * a - 2 * d
    else:
        d = 0.0
        if modified:
            dof = 1.0 / s2
            a = math.sqrt(dof)
        else:
            a = 1.0 / s1
            dof = c2**3 / c3**2
    return {"mu_q": c1, "sigma_q": math.sqrt(2 * c2), "mu_x": dof + d, "sigma_x": math.sqrt(2) * a,
            "df": dof, "ncp": d}


def liu(q: float, lambdas, *, modified: bool = False) -> float:
    """``P(sum lambdas chi2_1 > q)`` by Liu et al.'s (2009) four-moment matching (positive lambdas)."""
    pr = liu_params(lambdas, modified=modified)
    x = (q - pr["mu_q"]) / pr["sigma_q"] * pr["sigma_x"] + pr["mu_x"]
    if pr["ncp"] > 0:
        return float(scipy.stats.ncx2.sf(x, pr["df"], pr["ncp"]))
    return float(scipy.stats.chi2.sf(x, pr["df"]))


def _two_term_sf(q: float, a: float, b: float) -> float:
    """``P(a X1 + b X2 > q)``, X1, X2 ~ chi2_1, a >= b > 0: ``P(b X2 > q) + int P(a X1 > q - b t^2) dF(t)`` over
    ``X2 = t^2``, t in ``[0, sqrt(q / b)]`` (a smooth integrand; adaptive quadrature to 1e-10 relative)."""
    c = math.sqrt(2.0 / math.pi)

    def f(t: float) -> float:
        return c * math.exp(-0.5 * t * t) * math.erfc(math.sqrt(max(q - b * t * t, 0.0) / (2.0 * a)))

    val, _ = scipy.integrate.quad(f, 0.0, math.sqrt(q / b), epsabs=0.0, epsrel=1e-10, limit=200)
    return float(min(1.0, val + math.erfc(math.sqrt(q / (2.0 * b)))))


def mixture_chi2_sf(q: float, lambdas, *, method: str = "auto") -> tuple[float, str]:
    """``P(sum_k lambdas_k chi2_1 > q)`` and the method used (``"davies"``, ``"liu"``, ``"exact"``).

    Parameters
    ----------
    q : float
        The observed statistic.
    lambdas : (m,) float
        Positive weights (eigenvalues; drop the negligible ones first, see :func:`gdbtools.burden.skat`).
    method : {"auto", "davies", "liu"}
        ``"auto"``: Davies, falling back to Liu (module docstring).  ``"davies"``: Davies at ``acc = 1e-9``
        whatever the fault code (NaN for invalid input).
    """
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    lam = lam[lam != 0]
    if lam.size == 0 or not math.isfinite(q):
        return math.nan, "none"
    if method not in ("auto", "davies", "liu"):
        raise ValueError(f"unknown method {method!r}; choose auto, davies or liu")
    if (lam > 0).all() and q <= 0:
        return 1.0, "exact"
    if lam.size == 1 and method == "auto":
        x = q / lam[0]
        return float(scipy.stats.chi2.sf(x, 1) if lam[0] > 0 else scipy.stats.chi2.cdf(x, 1)), "exact"
    if lam.size == 2 and method == "auto" and (lam > 0).all():
        return _two_term_sf(q, float(lam.max()), float(lam.min())), "exact"
    if method == "liu":
        return liu(q, lam), "liu"
    if method == "davies":
        return davies(q, lam).p, "davies"
    accs: tuple[float, ...] = AUTO_ACCURACIES
    if _plan(q, lam, accs[1])[1] <= _CHEAP_TERMS:  # the finer accuracy costs little: start there
        accs = accs[1:]
    for acc in accs:
        delta, k = _plan(q, lam, acc)
        if k > DAVIES_LIM and acc / 2 + _truncation_bound(np.sort(np.abs(lam))[::-1], (DAVIES_LIM + 0.5) * delta) \
                > MAX_FAULT_ERROR:
            break  # a sum cut at the limit could not be kept (below): spare it
        res = davies(q, lam, acc=acc)
        if res.ifault == 0 and 100 * acc <= res.p <= 1 + acc:
            return min(res.p, 1.0), "davies"
        if res.ifault == 2:  # round-off may exceed acc: Liu
            break
        if res.ifault == 1:  # more terms than DAVIES_LIM: a finer accuracy would need more still
            if 0 < res.p <= 1 + res.error and res.error <= min(MAX_FAULT_ERROR, 0.01 * res.p):
                return min(res.p, 1.0), "davies"  # cut at the limit, yet within an acceptable bound
            break
        # p below 100 acc or outside (0, 1] (e.g. negative, a tiny p at a coarse accuracy): refine
    return liu(q, lam), "liu"
