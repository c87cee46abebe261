"""The two-sided Fisher exact test on every backend (:meth:`Backend.fisher_exact`) against scipy's fisher_exact.

The batch check (tests/stats/test_batch_check.py) uses it through
:func:`gdbtools.stats.batch_check.fisher_exact_two_sided`; here the backend method itself, on random tables of
up to 2 x 60,000 alleles a row (a 60,000-sample batch against the rest), zeros and degenerate margins.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps


def _fisher(backend, tables, unique=True):
    cells = [backend.xp.asarray(np.ascontiguousarray(tables[:, j], dtype=np.int64)) for j in range(4)]
    p = backend.fisher_exact(*cells, unique=unique)
    return p.get() if hasattr(p, "get") else np.asarray(p)


def _scipy(tables):
    return np.array([sps.fisher_exact([[a, b], [c, d]], alternative="two-sided")[1] for a, b, c, d in tables])


def _exact(a, b, c, d):
    """The two-sided p in exact integer arithmetic: the tables' C(K, x) C(N-K, n-x) by their integer ratios,
    the tail those within 1e-7 of the observed (or less), over C(N, n)."""
    n, k, total = a + b, a + c, a + b + c + d
    lo, hi = max(0, n - (total - k)), min(n, k)
    term = math.comb(k, lo) * math.comb(total - k, n - lo)
    terms = []
    for x in range(lo, hi + 1):
        terms.append(term)
        if x < hi:
            term = term * (k - x) * (n - x) // ((x + 1) * (total - k - n + x + 1))
    obs = terms[a - lo]
    tail = sum(t for t in terms if t * 10**7 <= obs * (10**7 + 1))
    return float(Fraction(tail, math.comb(total, n)))


def _random_tables(rng):
    small = rng.integers(0, 30, size=(600, 4))
    mid = rng.integers(0, 3000, size=(150, 4))
    big = []
    for _ in range(250):  # allele counts of two batches of up to 60,000 diploid samples, similar allele freqs
        n1, n2 = rng.integers(1, 120_001, size=2)
        q = rng.beta(0.3, 1.0)
        a, c = rng.binomial(n1, q), rng.binomial(n2, min(1.0, q * rng.uniform(0.8, 1.2)))
        big.append((a, n1 - a, c, n2 - c))
    rare = []
    for _ in range(150):  # rare variants: AC of a few, tiny and huge p (AC all in one batch)
        n1 = int(rng.integers(1, 120_000))
        rare.append((int(rng.integers(0, 6)), n1, int(rng.integers(0, 6)), 120_000 - n1))
    return np.concatenate([small, mid, np.array(big), np.array(rare)]).astype(np.int64)


EDGE = np.array([[0, 0, 0, 0], [0, 5, 0, 7], [0, 0, 3, 9], [0, 0, 4, 4], [7, 0, 3, 0], [1, 0, 0, 0], [3, 0, 0, 9],
                 [10, 10, 10, 10], [5, 5, 5, 5], [1, 1000, 40, 960], [0, 4000, 35, 1365], [2, 386, 11, 202],
                 [120_000, 0, 0, 120_000], [0, 120_000, 120_000, 0], [60_000, 60_000, 60_000, 60_000],
                 [3000, 117_000, 0, 120_000], [1, 119_999, 0, 120_000]], dtype=np.int64)


def test_fisher_exact__matches_scipy_on_random_and_edge_tables(backend, rng):
    tables = np.concatenate([_random_tables(rng), EDGE])
    want = _scipy(tables)
    assert (want < 1e-300).sum() >= 2 and (want == 1.0).sum() >= 5 and ((want > 1e-300) & (want < 1e-20)).any()
    for unique in (True, False, None):  # None: the backend's default
        p = _fisher(backend, tables, unique)
        assert p.dtype == np.float64 and p.shape == want.shape
        np.testing.assert_allclose(p, want, rtol=1e-10, atol=1e-300)


def test_fisher_exact__matches_exact_integer_arithmetic(backend, rng):
    """scipy's own p is off by up to ~3e-11 relative on tables of 1e5 alleles; the C++ is within ~4e-15 of the
    exact value (checked on 60 such tables by hand; here smaller ones, to keep the test fast)."""
    n1, n2 = rng.integers(1, 12_000, size=(2, 40))
    q = rng.uniform(0, 1, 40)
    a, c = rng.binomial(n1, q), rng.binomial(n2, np.clip(q * rng.uniform(0.9, 1.1, 40), 0, 1))
    tables = np.concatenate([np.stack([a, n1 - a, c, n2 - c], axis=1), EDGE[:12]]).astype(np.int64)
    want = np.array([_exact(*map(int, t)) for t in tables])
    assert ((want > 1e-300) & (want < 1e-10)).sum() >= 3
    rtol = 1e-13 if backend.name != "numpy" else 1e-10  # the twin is scipy's arithmetic
    np.testing.assert_allclose(_fisher(backend, tables), want, rtol=rtol, atol=1e-300)


def test_fisher_exact__degenerate_margins_transposes_and_repeats(backend, rng):
    p = _fisher(backend, EDGE)
    assert (p[:6] == 1.0).all()  # a zero row or column: one possible table
    assert p[12] == p[13] == 0.0 and p[14] == 1.0
    t = _random_tables(rng)[::3]  # small, mid, big (cells >= 2^16: the other de-duplication) and rare
    ref = _fisher(backend, t)
    for perm in ([0, 2, 1, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 1, 0]):  # transpose, swap columns, rows, both
        np.testing.assert_allclose(_fisher(backend, t[:, perm]), ref, rtol=1e-12, atol=1e-300)
    for part in (slice(0, 50), slice(-80, None)):
        rep = np.repeat(t[part], 7, axis=0)[::-1]
        np.testing.assert_array_equal(_fisher(backend, rep), np.repeat(ref[part], 7)[::-1])


def test_fisher_exact__host_and_numpy_agree_on_many_tables(backend, rng):
    from gdbtools.backend import get_backend

    t = _random_tables(rng)
    np.testing.assert_allclose(_fisher(backend, t), _fisher(get_backend("numpy"), t), rtol=1e-10, atol=1e-300)


def test_fisher_exact__empty_and_bad_input(backend):
    xp = backend.xp
    empty = _fisher(backend, np.zeros((0, 4), dtype=np.int64))
    assert empty.shape == (0,) and empty.dtype == np.float64
    with pytest.raises(ValueError, match="b must be counts"):
        backend.fisher_exact(*(xp.asarray(np.array([v], dtype=np.int64)) for v in (1, -1, 0, 0)))
    with pytest.raises(TypeError, match="d must be integer"):
        backend.fisher_exact(*(xp.asarray(np.array([1], dtype=np.int64)) for _ in range(3)), xp.asarray([1.0]))
    with pytest.raises(ValueError, match="differ in length"):
        backend.fisher_exact(*(xp.asarray(np.zeros(n, dtype=np.int64)) for n in (1, 2, 1, 1)))
    with pytest.raises(ValueError, match="more than"):
        backend.fisher_exact(*(xp.asarray(np.array([2**30], dtype=np.int64)) for _ in range(4)))
