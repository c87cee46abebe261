"""Brute-force oracles for the backend tests: decode the planes to codes and count; enumerate HWE exactly."""

from __future__ import annotations

import os
from fractions import Fraction
from math import comb

import numpy as np

from gdbtools.store.bitplanes import n_words, pack_bits, pack_codes, unpack_bits, unpack_codes

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # under CI a missing compiler fails, not skips


def random_cohort(rng, n_variants: int, n_samples: int, *, special_rows: bool = True):
    """Random planes ``lo, hi, fail`` with zero padding; some rows all-missing, monomorphic or all-failing."""
    p = rng.dirichlet(np.ones(4), size=n_variants)  # per-variant code frequencies
    u = rng.random((n_variants, n_samples))
    codes = (u[:, :, None] > np.cumsum(p, axis=1)[:, None, :3]).sum(axis=2)
    fail_bits = rng.random((n_variants, n_samples)) < rng.uniform(0, 0.3, size=(n_variants, 1))
    if special_rows and n_variants >= 6:
        codes[0] = 3  # all missing
        codes[1] = 0  # monomorphic hom-ref
        codes[2] = 2  # monomorphic hom-alt
        codes[3] = 1  # all het
        fail_bits[4] = True  # every call fails
        fail_bits[5] = False
    w = n_words(n_samples)
    lo, hi = pack_codes(codes, w)
    return lo, hi, pack_bits(fail_bits, w)


def random_masks(rng, n_groups: int, n_samples: int):
    """``(G, W)`` masks of random overlapping groups; group 0 is everyone, group 1 (if any) no one."""
    sel = rng.random((n_groups, n_samples)) < rng.uniform(0.1, 0.9, size=(n_groups, 1))
    sel[0] = True
    if n_groups > 1:
        sel[1] = False
    return pack_bits(sel, n_words(n_samples))


def decode_group_counts(lo, hi, masks, n_samples: int, fail=None) -> np.ndarray:
    """(V, G, 3|6) by decoding every call to its code."""
    sel = unpack_bits(masks, n_samples)
    views = [unpack_codes(lo, hi, n_samples)]
    if fail is not None:
        views.append(unpack_codes(lo, hi, n_samples, fail))
    parts = [((codes == k)[:, None, :] & sel[None]).sum(axis=2) for codes in views for k in (1, 2, 3)]
    return np.stack(parts, axis=2).astype(np.int32)


def decode_sample_counts(lo, hi, var_class, n_classes: int, n_samples: int, fail=None) -> np.ndarray:
    """(N, C, 3) by decoding every call to its code (adj view with `fail`)."""
    codes = unpack_codes(lo, hi, n_samples, fail)
    out = np.zeros((n_samples, n_classes, 3), dtype=np.int64)
    for c in range(n_classes):
        rows = codes[var_class == c]
        for t, k in enumerate((1, 2, 3)):
            out[:, c, t] = (rows == k).sum(axis=0)
    return out


def decode_weight_sums(lo, hi, wfix, n_samples: int, fail=None) -> np.ndarray:
    """(n_samples,) int64: per sample, the sum of ``wfix[v]`` over the variants it is missing at (decoded codes,
    adj view with `fail`), accumulated with Python integers and wrapped to int64."""
    codes = unpack_codes(lo, hi, n_samples, fail)
    sums = [0] * n_samples
    for v, w in enumerate(wfix.tolist()):
        if w:
            for s in np.flatnonzero(codes[v] == 3).tolist():
                sums[s] += w
    return np.array([(x + 2**63) % 2**64 - 2**63 for x in sums], dtype=np.int64)


def hwe_enumerate(n_het: int, n_hom1: int, n_hom2: int) -> tuple[float, float, float, float]:
    """Exact HWE p-values by enumerating every het count with exact integers (no recursion, no floats).

    The weight of k hets given n genotypes and r rare alleles is the multinomial n! / (a! k! b!) times 2^k,
    with a = (r - k) / 2 rare and b = n - a - k common homozygotes.
    """
    n = n_het + n_hom1 + n_hom2
    if n == 0:
        return 1.0, 0.5, 1.0, 0.5
    rare = 2 * min(n_hom1, n_hom2) + n_het
    weights = {}
    for k in range(rare % 2, rare + 1, 2):
        a = (rare - k) // 2
        b = n - a - k
        if b < 0:
            continue
        weights[k] = comb(n, k) * comb(n - k, a) * 2**k
    total = sum(weights.values())
    w_obs = weights[n_het]
    p = Fraction(sum(w for w in weights.values() if w <= w_obs), total)
    ties = Fraction(sum(w for w in weights.values() if w == w_obs), total)
    p_midp = Fraction(sum(w for w in weights.values() if w < w_obs), total) + ties / 2
    exc = Fraction(sum(w for k, w in weights.items() if k >= n_het), total)
    exc_midp = exc - Fraction(w_obs, total) / 2
    return float(p), float(p_midp), float(exc), float(exc_midp)
