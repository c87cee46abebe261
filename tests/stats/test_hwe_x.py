"""The X-chromosomal HWE exact test (Graffelman & Weir 2016) against exact enumeration.

Tolerances: p and mid-p relative 1e-9 against rational enumeration of every table (small counts, ties
exact); p relative 1e-8 against log-space enumeration (counts in the hundreds, p down to 1e-280); without
males relative 1e-12 against the autosomal exact test of the backend.  plink2's ``.hardy.x`` on real data is
in test_variant_qc.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import stats_oracles as so

from gdbtools.stats.hwe_x import hwe_x_exact


def _random_tuples(rng, n, max_females, max_males, min_females=0, min_males=0):
    """Female genotype and male allele counts with inbreeding and sex differences in allele frequency."""
    out = []
    for _ in range(n):
        nf = int(rng.integers(min_females, max_females + 1))
        nm = int(rng.integers(min_males, max_males + 1))
        q = rng.uniform(0.02, 0.98)
        q_male = q if rng.random() < 0.6 else rng.uniform(0.02, 0.98)
        f = rng.uniform(-0.6, 0.9)
        probs = np.clip([q * q + f * q * (1 - q), 2 * q * (1 - q) * (1 - f), (1 - q) ** 2 + f * q * (1 - q)], 0, None)
        hom1, het, hom2 = rng.multinomial(nf, probs / probs.sum())
        m1 = int(rng.binomial(nm, q_male))
        out.append((int(het), int(hom1), int(hom2), m1, nm - m1))
    return out


EDGE_CASES = [
    (0, 0, 0, 3, 4),     # no females: one table
    (0, 5, 0, 3, 0),     # monomorphic
    (0, 5, 0, 0, 3),     # the sexes fixed for different alleles
    (2, 0, 0, 1, 1),
    (1, 0, 0, 0, 0),     # one female, no males
    (0, 1, 1, 0, 0),
    (4, 1, 1, 2, 2),
    (0, 0, 5, 1, 0),
    (10, 0, 0, 0, 10),   # all females het, all males allele 2
    (0, 10, 10, 5, 5),   # no female het at all
    (3, 3, 3, 3, 3),     # symmetric: ties
    (1, 0, 0, 1, 0),
    (0, 0, 1, 1, 0),
]


def test_hwe_x_exact__matches_exact_enumeration():
    rng = np.random.default_rng(20160)
    tuples = _random_tuples(rng, 400, 22, 22) + EDGE_CASES
    p, midp = hwe_x_exact(*np.array(tuples).T)
    want = np.array([so.hwe_x_enumerate(*t) for t in tuples])
    np.testing.assert_allclose(p, want[:, 0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(midp, want[:, 1], rtol=1e-9, atol=0)
    assert (p < 1e-3).sum() > 20 and (want[:, 1] < want[:, 0]).all()


def test_hwe_x_exact__tails_of_large_tables_match_log_space_enumeration():
    """Hundreds of females and males, p from 1 down to about 1e-280: the row-by-row walk (carried
    boundaries, summed tails) adds up to the sum over every table."""
    rng = np.random.default_rng(558)
    tuples = _random_tuples(rng, 40, 400, 400, min_females=150, min_males=150)
    tuples += [(0, 300, 300, 0, 400), (0, 250, 250, 200, 200), (500, 0, 0, 100, 100), (100, 150, 150, 50, 350)]
    p, _ = hwe_x_exact(*np.array(tuples).T)
    want = np.array([so.hwe_x_log_enumerate(*t) for t in tuples])
    assert want.min() < 1e-270 and want.max() > 0.5
    np.testing.assert_allclose(p, want, rtol=1e-8, atol=0)


def test_hwe_x_exact__without_males_is_the_autosomal_test():
    """No males: the X test is the exact test of the female genotypes (plink2 does the same), with the same
    tie tolerance."""
    from gdbtools.backend import get_backend

    rng = np.random.default_rng(5)
    tuples = [(h, a, b, 0, 0) for h, a, b, _, _ in _random_tuples(rng, 300, 300, 0)]
    t = np.array(tuples)
    p, midp = hwe_x_exact(*t.T)
    ref = get_backend("numpy").hwe_exact(t[:, 0], t[:, 1], t[:, 2])
    nonempty = t[:, :3].sum(axis=1) > 0
    np.testing.assert_allclose(p[nonempty], ref.p[nonempty], rtol=1e-12)
    np.testing.assert_allclose(midp[nonempty], ref.p_midp[nonempty], rtol=1e-12)


def test_hwe_x_exact__symmetric_in_the_alleles_and_deduplicated():
    rng = np.random.default_rng(9)
    t = np.array(_random_tuples(rng, 200, 60, 60) * 3)
    p, midp = hwe_x_exact(*t.T)
    swapped = hwe_x_exact(t[:, 0], t[:, 2], t[:, 1], t[:, 4], t[:, 3])
    each = hwe_x_exact(*t.T, unique=False)
    for got in (swapped, each):
        np.testing.assert_array_equal(got[0], p)
        np.testing.assert_array_equal(got[1], midp)


def test_hwe_x_exact__degenerate_tuples_and_bad_input():
    p, midp = hwe_x_exact([0, 0, 0], [0, 7, 0], [0, 0, 0], [4, 2, 0], [5, 0, 0])
    np.testing.assert_array_equal(p, [1.0, 1.0, 1.0])  # no females; monomorphic; nothing
    np.testing.assert_array_equal(midp, [0.5, 0.5, 0.5])
    empty = hwe_x_exact([], [], [], [], [])
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    with pytest.raises(ValueError, match="non-negative integer"):
        hwe_x_exact([-1], [0], [0], [0], [0])
    with pytest.raises(ValueError, match="differ in length"):
        hwe_x_exact([1, 2], [0], [0], [0], [0])
    p, _ = hwe_x_exact([0], [4000], [4000], [0], [8000])  # p far below the double range
    assert p[0] == 0.0
