"""The parity suite: every backend present against the NumPy twins and a brute-force decode of the calls.

Counts must match exactly.  The ``backend`` fixture (conftest.py) runs each test on numpy, host and, with a
GPU, cupy.
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_oracles import (
    decode_group_counts,
    decode_sample_counts,
    decode_weight_sums,
    random_cohort,
    random_masks,
)

from gdbtools.backend import twins
from gdbtools.errors import BackendError
from gdbtools.store.bitplanes import n_words, pack_bits, pack_codes

SAMPLE_COUNTS = [1, 31, 33, 1000, 5003]


def dev(backend, a):
    """`a` on the backend's device (an explicit move, as callers must make)."""
    return None if a is None else (backend.xp.asarray(a) if backend.on_device else a)


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


# ----------------------------------------------------------------------------------- variant_group_counts
@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("n_groups", [1, 3, 8])
@pytest.mark.parametrize("with_fail", [False, True])
def test_variant_group_counts__matches_twin_and_decode(backend, rng, n_samples, n_groups, with_fail):
    lo, hi, fail = random_cohort(rng, 40, n_samples)
    fail = fail if with_fail else None
    masks = random_masks(rng, n_groups, n_samples)
    got = host(backend.variant_group_counts(dev(backend, lo), dev(backend, hi), dev(backend, masks),
                                            dev(backend, fail)))
    assert got.dtype == np.int32 and got.shape == (40, n_groups, 6 if with_fail else 3)
    np.testing.assert_array_equal(got, twins.variant_group_counts(lo, hi, masks, fail))
    np.testing.assert_array_equal(got, decode_group_counts(lo, hi, masks, n_samples, fail))


def test_variant_group_counts__64_groups(backend, rng):
    lo, hi, fail = random_cohort(rng, 30, 1000)
    masks = random_masks(rng, 64, 1000)
    got = host(backend.variant_group_counts(dev(backend, lo), dev(backend, hi), dev(backend, masks),
                                            dev(backend, fail)))
    np.testing.assert_array_equal(got, decode_group_counts(lo, hi, masks, 1000, fail))


def test_variant_group_counts__special_rows(backend):
    n = 70
    codes = np.array([[3] * n, [0] * n, [2] * n, [1] * n, [0, 1, 2, 3] * 17 + [1, 1]])
    lo, hi = pack_codes(codes)
    fail = pack_bits(np.array([[False] * n, [True] * n, [True] * n, [False] * n, [True, False] * 35]), lo.shape[1])
    masks = pack_bits(np.ones((1, n), bool), lo.shape[1])
    got = host(backend.variant_group_counts(dev(backend, lo), dev(backend, hi), dev(backend, masks),
                                            dev(backend, fail)))[:, 0]
    np.testing.assert_array_equal(got[:4], [[0, 0, n, 0, 0, n], [0, 0, 0, 0, 0, n], [0, n, 0, 0, 0, n],
                                            [n, 0, 0, n, 0, 0]])
    np.testing.assert_array_equal(got[4], [19, 17, 17, 18, 0, 35 + 17])


def test_variant_group_counts__empty_inputs(backend):
    w = n_words(10)
    lo = np.zeros((0, w), np.uint32)
    out = host(backend.variant_group_counts(dev(backend, lo), dev(backend, lo), dev(backend, np.zeros((2, w),
                                                                                                    np.uint32))))
    assert out.shape == (0, 2, 3)
    lo = np.zeros((3, w), np.uint32)
    out = host(backend.variant_group_counts(dev(backend, lo), dev(backend, lo), dev(backend, np.zeros((0, w),
                                                                                                    np.uint32))))
    assert out.shape == (3, 0, 3)


def test_variant_group_counts__refuses_bad_input(backend):
    lo = np.zeros((2, 4), np.uint32)
    m = np.zeros((1, 4), np.uint32)
    with pytest.raises(TypeError, match="uint32"):
        backend.variant_group_counts(dev(backend, lo.astype(np.int32)), dev(backend, lo), dev(backend, m))
    with pytest.raises(ValueError, match="words"):
        backend.variant_group_counts(dev(backend, lo), dev(backend, lo), dev(backend, np.zeros((1, 8), np.uint32)))
    with pytest.raises(ValueError, match="shape"):
        backend.variant_group_counts(dev(backend, lo), dev(backend, lo[:1]), dev(backend, m))


def test_variant_group_counts__refuses_arrays_on_the_other_device(backend):
    lo = np.zeros((2, 4), np.uint32)
    if backend.on_device:
        with pytest.raises(BackendError, match="cupy.asarray"):
            backend.variant_group_counts(lo, lo, lo[:1])
    else:
        class FakeCupyArray:  # stands for a cupy.ndarray: only its module is looked at
            __module__ = "cupy._core.core"
        with pytest.raises(BackendError, match="cupy.asnumpy"):
            backend.variant_group_counts(FakeCupyArray(), lo, lo[:1])


# ------------------------------------------------------------------------------------ sample_class_counts
def _sample_counts(backend, lo, hi, var_class, n_classes, n_samples, fail, out=None):
    """The counts into `out` (N, C, 3), and the same into the kind-major (C, 3, N) layout, and on the host
    also with one thread (the kernels' flushes are plain adds then, atomic with several): all must agree."""
    from gdbtools.backend import get_backend

    out = np.zeros((n_samples, n_classes, 3), np.int64) if out is None else out
    runs = [(backend, False), (backend, True)]
    if backend.name == "host":
        runs += [(get_backend("host", n_threads=1), False), (get_backend("host", n_threads=1), True)]
    results = []
    for be, kind_major in runs:
        out_d = dev(be, out.transpose(1, 2, 0).copy() if kind_major else out.copy())  # copies: C order
        res = be.sample_class_counts(dev(be, lo), dev(be, hi), dev(be, var_class), n_classes, out_d,
                                     dev(be, fail), n_samples=n_samples, kind_major=kind_major)
        assert res is out_d
        results.append(host(out_d).transpose(2, 0, 1) if kind_major else host(out_d))
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    return results[0]


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("n_classes", [1, 5, 32])
@pytest.mark.parametrize("with_fail", [False, True])
def test_sample_class_counts__matches_twin_and_decode(backend, rng, n_samples, n_classes, with_fail):
    lo, hi, fail = random_cohort(rng, 60, n_samples)
    fail = fail if with_fail else None
    var_class = rng.integers(0, n_classes, size=60).astype(np.uint8)
    var_class[rng.random(60) < 0.15] = 255
    got = _sample_counts(backend, lo, hi, var_class, n_classes, n_samples, fail)
    twin = np.zeros_like(got)
    twins.sample_class_counts(lo, hi, var_class, n_classes, twin, fail, n_samples=n_samples)
    np.testing.assert_array_equal(got, twin)
    np.testing.assert_array_equal(got, decode_sample_counts(lo, hi, var_class, n_classes, n_samples, fail))


@pytest.mark.parametrize("n_rows", [1, 2, 3, 4, 5, 7, 8, 9])
def test_sample_class_counts__chunks_of_every_length_mod_four(backend, rng, n_rows):
    # the kernels add rows four at a time (carry-save) and a chunk's last 1-3 rows one by one: one class,
    # so the chunk is the whole input; all-missing and all-het rows make every counter plane carry
    lo, hi, fail = random_cohort(rng, n_rows, 70, special_rows=False)
    lo[: n_rows // 2] = hi[: n_rows // 2] = 0xFFFFFFFF
    lo[: n_rows // 2, -1] &= 0x3F  # 70 samples: padding bits stay zero
    hi[: n_rows // 2, -1] &= 0x3F
    got = _sample_counts(backend, lo, hi, np.zeros(n_rows, np.uint8), 1, 70, fail)
    np.testing.assert_array_equal(got, decode_sample_counts(lo, hi, np.zeros(n_rows, np.uint8), 1, 70, fail))


def test_sample_class_counts__accumulates_in_place(backend, rng):
    lo, hi, fail = random_cohort(rng, 50, 100)
    var_class = rng.integers(0, 3, size=50).astype(np.uint8)
    first = _sample_counts(backend, lo, hi, var_class, 3, 100, fail)
    twice = _sample_counts(backend, lo, hi, var_class, 3, 100, fail, out=first.copy())
    np.testing.assert_array_equal(twice, 2 * first)


def test_sample_class_counts__skipped_and_empty_classes(backend, rng):
    lo, hi, fail = random_cohort(rng, 30, 40)
    all_skipped = _sample_counts(backend, lo, hi, np.full(30, 255, np.uint8), 4, 40, None)
    assert not all_skipped.any()
    var_class = np.where(np.arange(30) % 2 == 0, 3, 255).astype(np.uint8)  # classes 0-2 empty
    got = _sample_counts(backend, lo, hi, var_class, 4, 40, fail)
    assert not got[:, :3].any()
    np.testing.assert_array_equal(got, decode_sample_counts(lo, hi, var_class, 4, 40, fail))


def test_sample_class_counts__counts_beyond_one_counter_chunk(backend):
    # 70,000 variants of one class: more than a 16-bit counter holds, so chunks must be cut and flushed
    n, v = 33, 70_000
    codes = np.zeros((v, n), np.int8)
    codes[:, 0] = 1  # sample 0 het everywhere
    codes[:, 32] = 2  # sample 32 (second word) hom-alt everywhere
    codes[::3, 5] = 3
    lo, hi = pack_codes(codes)
    got = _sample_counts(backend, lo, hi, np.zeros(v, np.uint8), 1, n, None)
    assert got[0, 0].tolist() == [v, 0, 0]
    assert got[32, 0].tolist() == [0, v, 0]
    assert got[5, 0].tolist() == [0, 0, (v + 2) // 3]
    assert got.sum() == 2 * v + (v + 2) // 3


def test_sample_class_counts__many_windows_of_mixed_classes(backend, rng):
    lo, hi, fail = random_cohort(rng, 20_000, 70, special_rows=False)
    var_class = rng.integers(0, 7, size=20_000).astype(np.uint8)
    var_class[::11] = 255
    got = _sample_counts(backend, lo, hi, var_class, 7, 70, fail)
    np.testing.assert_array_equal(got, decode_sample_counts(lo, hi, var_class, 7, 70, fail))


def test_sample_class_counts__refuses_bad_input(backend):
    lo = np.zeros((3, 4), np.uint32)
    out = dev(backend, np.zeros((10, 2, 3), np.int64))
    cls = np.zeros(3, np.uint8)
    with pytest.raises(ValueError, match="n_classes"):
        backend.sample_class_counts(dev(backend, lo), dev(backend, lo), dev(backend, np.array([0, 2, 1], np.uint8)),
                                    2, out, n_samples=10)
    with pytest.raises(ValueError, match="int64"):
        backend.sample_class_counts(dev(backend, lo), dev(backend, lo), dev(backend, cls), 2,
                                    dev(backend, np.zeros((10, 2, 3), np.int32)), n_samples=10)
    with pytest.raises(ValueError, match="n_samples"):
        backend.sample_class_counts(dev(backend, lo), dev(backend, lo), dev(backend, cls), 2, out, n_samples=200)
    with pytest.raises(ValueError, match="entries"):
        backend.sample_class_counts(dev(backend, lo), dev(backend, lo), dev(backend, cls[:2]), 2, out, n_samples=10)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 10\)"):  # kind-major wants (C, 3, N)
        backend.sample_class_counts(dev(backend, lo), dev(backend, lo), dev(backend, cls), 2, out, n_samples=10,
                                    kind_major=True)


# ------------------------------------------------------------------------------------ missing_weight_sums
def _weight_sums(backend, lo, hi, wfix, n_out, fail, out=None):
    out = np.zeros(n_out, np.int64) if out is None else out
    out_d = dev(backend, out)
    res = backend.missing_weight_sums(dev(backend, lo), dev(backend, hi), dev(backend, wfix), out_d,
                                      dev(backend, fail))
    assert res is out_d
    return host(out_d)


def _fixed_point_weights(rng, n_variants):
    """Weights as the F sums make them (0 .. 2**32, a sixth of the rows 0), and a few at the extremes."""
    wfix = rng.integers(0, 2**32 + 1, size=n_variants, dtype=np.int64)
    wfix[rng.random(n_variants) < 1 / 6] = 0
    wfix[:3] = [2**32, 1, 0][: min(3, n_variants)]
    return wfix


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("with_fail", [False, True])
def test_missing_weight_sums__matches_twin_and_decode(backend, rng, n_samples, with_fail):
    lo, hi, fail = random_cohort(rng, 300, n_samples)
    fail = fail if with_fail else None
    wfix = _fixed_point_weights(rng, 300)
    got = _weight_sums(backend, lo, hi, wfix, n_samples, fail)
    want = decode_weight_sums(lo, hi, wfix, n_samples, fail)
    assert want.any()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, twins.missing_weight_sums(lo, hi, wfix, np.zeros(n_samples, np.int64), fail))


def test_missing_weight_sums__every_padding_sample_and_accumulation(backend, rng):
    # out as long as the planes' bits (the statistics pass this): padding samples stay 0; calls add up
    lo, hi, fail = random_cohort(rng, 50, 70)
    wfix = _fixed_point_weights(rng, 50)
    words = lo.shape[1]
    first = _weight_sums(backend, lo, hi, wfix, 32 * words, fail)
    assert not first[70:].any()
    np.testing.assert_array_equal(first[:70], decode_weight_sums(lo, hi, wfix, 70, fail))
    twice = _weight_sums(backend, lo, hi, wfix, 32 * words, fail, out=first.copy())
    np.testing.assert_array_equal(twice, 2 * first)


def test_missing_weight_sums__many_chunks_and_extreme_weights(backend, rng):
    # 20,000 rows: several row chunks on every backend; negative and huge weights wrap like int64 addition
    n, v = 97, 20_000
    codes = rng.choice(4, size=(v, n), p=[0.6, 0.2, 0.1, 0.1])
    codes[:, 64] = 3  # sample 64 missing everywhere
    lo, hi = pack_codes(codes)
    wfix = rng.integers(-(2**62), 2**62, size=v, dtype=np.int64)
    wfix[::7] = 0
    got = _weight_sums(backend, lo, hi, wfix, n, None)
    np.testing.assert_array_equal(got, decode_weight_sums(lo, hi, wfix, n, None))
    with np.errstate(over="ignore"):
        assert got[64] == wfix.sum()


def test_missing_weight_sums__zero_weights_and_empty_inputs(backend, rng):
    lo, hi, fail = random_cohort(rng, 20, 40)
    assert not _weight_sums(backend, lo, hi, np.zeros(20, np.int64), 40, fail).any()
    empty = np.zeros((0, lo.shape[1]), np.uint32)
    assert not _weight_sums(backend, empty, empty, np.zeros(0, np.int64), 40, None).any()
    assert _weight_sums(backend, lo, hi, _fixed_point_weights(rng, 20), 0, fail).shape == (0,)


def test_missing_weight_sums__refuses_bad_input(backend):
    lo = np.zeros((3, 2), np.uint32)
    w = np.ones(3, np.int64)
    out = dev(backend, np.zeros(64, np.int64))
    with pytest.raises(TypeError, match="int64"):
        backend.missing_weight_sums(dev(backend, lo), dev(backend, lo), dev(backend, w.astype(np.int32)), out)
    with pytest.raises(ValueError, match="entries"):
        backend.missing_weight_sums(dev(backend, lo), dev(backend, lo), dev(backend, w[:2]), out)
    with pytest.raises(ValueError, match="at most 64"):
        backend.missing_weight_sums(dev(backend, lo), dev(backend, lo), dev(backend, w),
                                    dev(backend, np.zeros(65, np.int64)))
    with pytest.raises(ValueError, match="int64"):
        backend.missing_weight_sums(dev(backend, lo), dev(backend, lo), dev(backend, w),
                                    dev(backend, np.zeros(64, np.int32)))


# ------------------------------------------------------------------------------------- kernel_launcher
def test_kernel_launcher__relaunches_the_kernel_on_the_same_arguments(backend, rng):
    """What the benchmarks time: each launch adds the kernel's result once more (or rewrites it)."""
    n = 300
    lo, hi, fail = random_cohort(rng, 80, n)
    lo_d, hi_d, fail_d = dev(backend, lo), dev(backend, hi), dev(backend, fail)
    var_class = rng.integers(0, 3, size=80).astype(np.int64)  # converted once, as the method does
    out = dev(backend, np.zeros((n, 3, 3), np.int64))
    launch = backend.kernel_launcher("sample_class_counts", lo_d, hi_d, dev(backend, var_class), 3, out, fail_d,
                                     n_samples=n)
    launch()
    launch()
    np.testing.assert_array_equal(host(out), 3 * decode_sample_counts(lo, hi, var_class, 3, n, fail))

    wfix = rng.integers(0, 2**32, size=80, dtype=np.int64)
    sums = dev(backend, np.zeros(n, np.int64))
    launch = backend.kernel_launcher("missing_weight_sums", lo_d, hi_d, dev(backend, wfix), sums, fail=fail_d)
    launch()
    np.testing.assert_array_equal(host(sums), 2 * decode_weight_sums(lo, hi, wfix, n, fail))

    masks = random_masks(rng, 3, n)
    launch = backend.kernel_launcher("variant_group_counts", lo_d, hi_d, dev(backend, masks), fail_d)
    launch()  # the counts are written, not added: the same after a relaunch
    np.testing.assert_array_equal(host(launch()), decode_group_counts(lo, hi, masks, n, fail))

    het, hom1, hom2 = rng.integers(0, 500, size=(3, 40))
    launch = backend.kernel_launcher("hwe_exact", dev(backend, het), dev(backend, hom1), dev(backend, hom2))
    np.testing.assert_array_equal(host(launch().p), twins.hwe_exact(het, hom1, hom2)[0])
    with pytest.raises(ValueError, match="no kernel"):
        backend.kernel_launcher("hwe_exact_unique", het, hom1, hom2)
