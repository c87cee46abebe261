"""The chrX HWE test (Graffelman-Weir) on every backend: the Python twin bit for bit, exact enumeration.

The statistics tests (tests/stats/test_hwe_x.py, test_variant_qc.py) check it against plink2's ``.hardy.x``
through :func:`gdbtools.stats.hwe_x.hwe_x_exact`; here the backend method itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import stats_oracles as so  # tests/stats (pytest's pythonpath)

from gdbtools.backend import twin_hwe_x


def _hwe_x(backend, tuples, unique=True):
    cols = [backend.xp.asarray(np.ascontiguousarray(tuples[:, j], dtype=np.int64)) for j in range(5)]
    p, midp = backend.hwe_x_exact(*cols, unique=unique)
    return tuple(r.get() if hasattr(r, "get") else np.asarray(r) for r in (p, midp))


def _random_tuples(rng, m, max_n):
    nf, nm = rng.integers(0, max_n, m), rng.integers(0, max_n, m)
    q = rng.beta(0.5, 2, m)
    het = rng.binomial(nf, 2 * q * (1 - q))
    h2 = rng.binomial(nf - het, q * q / (1 - 2 * q * (1 - q) + 1e-12))
    m2 = rng.binomial(nm, np.clip(q * rng.uniform(0.5, 1.5, m), 0, 1))
    return np.stack([het, nf - het - h2, h2, nm - m2, m2], axis=1).astype(np.int64)


def test_hwe_x_exact__matches_the_twin_bit_for_bit(backend, rng):
    tuples = _random_tuples(rng, 400, 3000)
    # the method puts the alleles in canonical order first (fewer homozygotes for allele 1, then fewer males)
    het, h1, h2, m1, m2 = tuples.T
    swap = (h1 > h2) | ((h1 == h2) & (m1 > m2))
    assert 0 < swap.sum() < 400
    canonical = [het, np.where(swap, h2, h1), np.where(swap, h1, h2), np.where(swap, m2, m1), np.where(swap, m1, m2)]
    want_p, want_mid = np.empty(400), np.empty(400)
    twin_hwe_x.hwe_x_many(*canonical, want_p, want_mid)
    for unique in (True, False):
        p, midp = _hwe_x(backend, tuples, unique)
        np.testing.assert_array_equal(p, want_p)
        np.testing.assert_array_equal(midp, want_mid)


def test_hwe_x_exact__matches_exact_enumeration_for_small_tuples(backend):
    tuples = np.array([(a, b, c, d, e) for a in range(4) for b in range(4) for c in range(4) for d in range(5)
                       for e in range(5)], dtype=np.int64)
    p, midp = _hwe_x(backend, tuples)
    want = np.array([so.hwe_x_enumerate(*map(int, t)) for t in tuples])
    np.testing.assert_allclose(p, want[:, 0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(midp, want[:, 1], rtol=1e-9, atol=0)


def test_hwe_x_exact__symmetric_degenerate_and_bad_input(backend):
    t = np.array([[10, 20, 5, 30, 10], [0, 7, 0, 2, 0], [0, 0, 0, 4, 5], [0, 4000, 4000, 0, 8000]])
    p, midp = _hwe_x(backend, t)
    ps, mids = _hwe_x(backend, t[:, [0, 2, 1, 4, 3]])
    np.testing.assert_array_equal(p, ps)
    np.testing.assert_array_equal(midp, mids)
    assert p[1] == p[2] == 1.0 and midp[1] == midp[2] == 0.5 and p[3] == 0.0
    assert round(float(p[0]), 6) == 0.154551 and round(float(midp[0]), 6) == 0.149491
    empty = _hwe_x(backend, np.zeros((0, 5), dtype=np.int64))
    assert empty[0].shape == empty[1].shape == (0,)
    xp = backend.xp
    with pytest.raises(ValueError, match="female_het"):
        backend.hwe_x_exact(*(xp.asarray(np.array([v], dtype=np.int64)) for v in (-1, 0, 0, 0, 0)))
    with pytest.raises(TypeError, match="male2"):
        backend.hwe_x_exact(*(xp.asarray(np.array([1], dtype=np.int64)) for _ in range(4)), xp.asarray([1.0]))
    with pytest.raises(ValueError, match="differ in length"):
        backend.hwe_x_exact(*(xp.asarray(np.zeros(n, dtype=np.int64)) for n in (1, 2, 1, 1, 1)))
