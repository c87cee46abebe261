"""Parity of the dosage kernel (``kernels/dosages.cu``) and its sparse twin on every backend present.

The dosage matrix of chosen rows and samples must equal, exactly (bit for bit, NaN fills included), the NumPy
twin and a brute-force decode of the calls to codes; the sparse rows of a ``hybrid2`` block must give the
same matrix as the dense planes they encode.
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_oracles import random_cohort
from test_backend_sparse import on, sparse_of

from gdbtools.backend import sparse as sparse_ops
from gdbtools.backend import twins
from gdbtools.store.bitplanes import unpack_codes

SAMPLE_COUNTS = [1, 31, 33, 1000, 5003]


def dev(backend, a):
    return None if a is None else (backend.xp.asarray(a) if backend.on_device else a)


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def decode_dosages(lo, hi, rows, samples, fill, n_samples, fail=None):
    """(N, M) by decoding every call to its code: code itself, or fill where the code is 3."""
    codes = unpack_codes(lo, hi, n_samples, fail)[rows][:, samples].T.astype(np.float64)
    return np.where(codes == 3, fill[None, :], codes)


def _draw(rng, n_variants, n_samples):
    rows = rng.choice(n_variants, size=min(n_variants, 17), replace=False).astype(np.int32)
    rows = np.r_[rows, rows[:2]].astype(np.int32)  # repeats allowed
    samples = rng.permutation(n_samples)[: max(1, int(n_samples * 0.7))].astype(np.int32)
    fill = rng.random(rows.size) * 2
    fill[::5] = np.nan
    return rows, samples, fill


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("with_fail", [False, True])
def test_dosages__match_twin_and_decode(backend, rng, n_samples, with_fail):
    lo, hi, fail = random_cohort(rng, 40, n_samples)
    fail = fail if with_fail else None
    rows, samples, fill = _draw(rng, 40, n_samples)
    out = backend.xp.full((samples.size, rows.size), -7.0)
    res = backend.dosages(dev(backend, lo), dev(backend, hi), dev(backend, rows), dev(backend, samples),
                          dev(backend, fill), out, dev(backend, fail))
    assert res is out
    got = host(out)
    want = decode_dosages(lo, hi, rows, samples, fill, n_samples, fail)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, twins.dosages(lo, hi, rows, samples, fill, np.empty_like(got), fail))


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("view", [sparse_ops.VIEW_RAW, sparse_ops.VIEW_ADJ])
def test_sparse_dosages__equal_the_dense_decode(backend, rng, n_samples, view):
    lo, hi, fail = random_cohort(rng, 40, n_samples)
    _, _, sp = sparse_of(lo, hi, fail, n_samples)
    rows, samples, fill = _draw(rng, 40, n_samples)
    out = backend.xp.full((samples.size, rows.size), -7.0)
    backend.sparse_dosages(on(backend, sp), dev(backend, rows), dev(backend, samples), dev(backend, fill), out, view)
    want = decode_dosages(lo, hi, rows, samples, fill, n_samples, fail if view == sparse_ops.VIEW_ADJ else None)
    np.testing.assert_array_equal(host(out), want)


def test_sparse_dosages__repeated_samples(backend, rng):
    lo, hi, fail = random_cohort(rng, 12, 70)
    _, _, sp = sparse_of(lo, hi, fail, 70)
    rows = np.arange(12, dtype=np.int32)
    samples = np.array([5, 3, 5, 69, 0, 3], np.int32)
    fill = np.full(12, 0.25)
    out = backend.xp.zeros((6, 12))
    backend.sparse_dosages(on(backend, sp), dev(backend, rows), dev(backend, samples), dev(backend, fill), out)
    np.testing.assert_array_equal(host(out), decode_dosages(lo, hi, rows, samples, fill, 70))


def test_dosages__hybrid_block_dense_and_sparse_parts_make_the_whole(backend, rng):
    """A hybrid2 block split into its dense rows (the kernel) and sparse rows (the twin) gives the matrix of the
    original planes."""
    n = 400
    lo, hi, fail = random_cohort(rng, 60, n)
    rare = rng.random((60, n)) < 0.02  # half the rows made rare, so the encoder stores them sparse
    keep = np.zeros((60, 1), bool)
    keep[::2] = True
    from gdbtools.store.bitplanes import pack_bits
    m = pack_bits(rare | ~keep, lo.shape[1])
    lo, hi, fail = lo & m, hi & m, fail & m
    header, dense, sp = sparse_of(lo, hi, fail, n, sparse_max=n // 16)
    assert 0 < sp.n_rows < 60
    samples = rng.permutation(n)[:300].astype(np.int32)
    fill = np.full(60, np.nan)
    dense_rows = np.setdiff1d(np.arange(60), sp.rows).astype(np.int32)
    got = np.zeros((300, 60))
    d_out = backend.xp.zeros((300, dense_rows.size))
    backend.dosages(dev(backend, dense["lo"]), dev(backend, dense["hi"]),
                    dev(backend, np.arange(dense_rows.size, dtype=np.int32)), dev(backend, samples),
                    dev(backend, fill[dense_rows]), d_out, dev(backend, dense["fail"]))
    s_out = backend.xp.zeros((300, sp.n_rows))
    backend.sparse_dosages(on(backend, sp), dev(backend, sp.rows), dev(backend, samples),
                           dev(backend, fill[sp.rows]), s_out, sparse_ops.VIEW_ADJ)
    got[:, dense_rows] = host(d_out)
    got[:, sp.rows] = host(s_out)
    np.testing.assert_array_equal(got, decode_dosages(lo, hi, np.arange(60), samples, fill, n, fail))


def test_dosages__empty_inputs(backend):
    lo = np.zeros((3, 4), np.uint32)
    for rows, samples in ((np.zeros(0, np.int32), np.arange(5, dtype=np.int32)),
                          (np.arange(3, dtype=np.int32), np.zeros(0, np.int32))):
        out = backend.xp.zeros((samples.size, rows.size))
        backend.dosages(dev(backend, lo), dev(backend, lo), dev(backend, rows), dev(backend, samples),
                        dev(backend, np.zeros(rows.size)), out)
        assert out.shape == (samples.size, rows.size)


def test_dosages__refuses_bad_input(backend):
    lo = np.zeros((3, 4), np.uint32)
    rows, samples, fill = np.arange(3, dtype=np.int32), np.arange(5, dtype=np.int32), np.zeros(3)
    out = backend.xp.zeros((5, 3))

    def call(rows=rows, samples=samples, fill=fill, out=out):
        backend.dosages(dev(backend, lo), dev(backend, lo), dev(backend, rows), dev(backend, samples),
                        dev(backend, fill), out)

    with pytest.raises(TypeError, match="rows must be int32"):
        call(rows=rows.astype(np.int64))
    with pytest.raises(ValueError, match="rows has values"):
        call(rows=np.array([0, 1, 3], np.int32))
    with pytest.raises(ValueError, match="samples has values"):
        call(samples=np.array([0, 1, 2, 3, 128], np.int32))
    with pytest.raises(ValueError, match=">= 0"):
        call(samples=np.array([0, -1, 2, 3, 4], np.int32))
    with pytest.raises(ValueError, match="fill has"):
        call(fill=np.zeros(2))
    with pytest.raises(ValueError, match="out must be"):
        call(out=backend.xp.zeros((3, 5)))
    with pytest.raises(ValueError, match="out must be"):
        call(out=backend.xp.zeros((5, 3), dtype=np.float32))


def test_kernel_launcher__relaunches_dosages(backend, rng):
    lo, hi, fail = random_cohort(rng, 30, 100)
    rows, samples, fill = _draw(rng, 30, 100)
    out = backend.xp.zeros((samples.size, rows.size))
    launch = backend.kernel_launcher("dosages", dev(backend, lo), dev(backend, hi), dev(backend, rows),
                                     dev(backend, samples), dev(backend, fill), out, dev(backend, fail))
    out[...] = -1.0
    assert launch() is out
    np.testing.assert_array_equal(host(out), decode_dosages(lo, hi, rows, samples, fill, 100, fail))
