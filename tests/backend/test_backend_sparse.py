"""Parity of the sparse-row reductions (hybrid2 blocks) with the dense kernels, on every backend present.

The same random genotypes are stored as sparse rows (every row sparse: ``sparse_max = n_samples``) and
counted by ``sparse_group_counts`` / ``sparse_sample_sums`` (class counts, missing-weight sums); the
answers must equal, exactly, the brute-force decode of the dense planes (and so the dense kernels, which the
parity suite checks against the same oracle).
"""

from __future__ import annotations

import numpy as np
import pytest
from backend_oracles import decode_group_counts, decode_sample_counts, random_cohort, random_masks

from gdbtools.backend import sparse as sparse_ops
from gdbtools.store.bitplanes import unpack_codes
from gdbtools.store.format import decode_block, encode_block

SAMPLE_COUNTS = [1, 31, 33, 1000, 5003]


def dev(backend, a):
    return None if a is None else (backend.xp.asarray(a) if backend.on_device else a)


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def sparse_of(lo, hi, fail, n_samples, sparse_max=None):
    """Encode planes as a hybrid2 block with every row sparse (default) and decode its sparse rows."""
    planes = {"lo": lo, "hi": hi} if fail is None else {"lo": lo, "hi": hi, "fail": fail}
    data = encode_block(planes, n_samples, encoding="hybrid2",
                        sparse_max=n_samples if sparse_max is None else sparse_max)
    header, dense, sp = decode_block(data)
    return header, dense, sp


def on(backend, sp):
    return sp if not backend.on_device else sp.to(backend.xp.asarray)


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("n_groups", [1, 3, 8])
@pytest.mark.parametrize("with_fail", [False, True])
def test_sparse_group_counts__equal_the_dense_decode(backend, rng, n_samples, n_groups, with_fail):
    lo, hi, fail = random_cohort(rng, 40, n_samples)
    fail = fail if with_fail else None
    masks = random_masks(rng, n_groups, n_samples)
    _, _, sp = sparse_of(lo, hi, fail, n_samples)
    assert sp.n_rows == 40
    atoms = sparse_ops.mask_atoms(masks, n_samples)
    atoms_dev = atoms if not backend.on_device else atoms.to(backend.xp.asarray)
    got = host(backend.sparse_group_counts(on(backend, sp), 40, atoms_dev, with_fail))
    assert got.dtype == np.int32 and got.shape == (40, n_groups, 6 if with_fail else 3)
    np.testing.assert_array_equal(got, decode_group_counts(lo, hi, masks, n_samples, fail))


def test_mask_atoms__one_atom_per_membership_pattern(rng):
    masks = random_masks(rng, 5, 300)
    atoms = sparse_ops.mask_atoms(masks, 300)
    from gdbtools.store.bitplanes import unpack_bits

    inside = unpack_bits(masks, 300).T.astype(np.int32)  # (N, M)
    np.testing.assert_array_equal(atoms.member[atoms.atom], inside)
    assert len({tuple(r) for r in inside}) == atoms.n_atoms
    for a in range(atoms.n_atoms):
        np.testing.assert_array_equal(atoms.index[atoms.ptr[a]:atoms.ptr[a + 1]], np.flatnonzero(atoms.member[a]))


@pytest.mark.parametrize("n_samples", SAMPLE_COUNTS)
@pytest.mark.parametrize("view", ["raw", "adj", "fail"])
def test_sparse_sample_class_counts__equal_the_dense_decode(backend, rng, n_samples, view):
    n_classes = 5
    lo, hi, fail = random_cohort(rng, 60, n_samples)
    var_class = rng.integers(0, n_classes, 60).astype(np.uint8)
    var_class[7] = 255  # skipped
    _, _, sp = sparse_of(lo, hi, fail, n_samples)
    code = {"raw": sparse_ops.VIEW_RAW, "adj": sparse_ops.VIEW_ADJ, "fail": sparse_ops.VIEW_FAIL}[view]
    out = backend.xp.zeros((n_classes, 3, n_samples), dtype=np.int64)
    backend.sparse_sample_sums(on(backend, sp), code, var_class=dev(backend, var_class), out=out)
    backend.sparse_sample_sums(on(backend, sp), code, var_class=dev(backend, var_class), out=out)  # adds
    if view == "fail":
        want = decode_sample_counts(fail, fail, var_class, n_classes, n_samples)
    else:
        want = decode_sample_counts(lo, hi, var_class, n_classes, n_samples, fail if view == "adj" else None)
    np.testing.assert_array_equal(host(out).transpose(2, 0, 1), 2 * want)


@pytest.mark.parametrize("n_samples", [33, 1000])
@pytest.mark.parametrize("adj", [False, True])
def test_sparse_missing_weight_sums__equal_brute_force(backend, rng, n_samples, adj):
    lo, hi, fail = random_cohort(rng, 50, n_samples)
    wfix = rng.integers(0, 2**33, 50).astype(np.int64)
    wfix[::7] = 0
    _, _, sp = sparse_of(lo, hi, fail, n_samples)
    out = backend.xp.zeros(n_samples + 64, dtype=np.int64)
    view = sparse_ops.VIEW_ADJ if adj else sparse_ops.VIEW_RAW
    backend.sparse_sample_sums(on(backend, sp), view, wfix=dev(backend, wfix), wmiss=out)
    codes = unpack_codes(lo, hi, n_samples, fail if adj else None)
    want = ((codes == 3) * wfix[:, None]).sum(axis=0)
    np.testing.assert_array_equal(host(out)[:n_samples], want)
    assert not host(out)[n_samples:].any()


def test_sparse_rows_refuse_the_other_device_and_bad_types(backend, rng):
    lo, hi, fail = random_cohort(rng, 10, 100)
    _, _, sp = sparse_of(lo, hi, fail, 100)
    out = backend.xp.zeros((2, 3, 100), dtype=np.int64)
    bad = type(sp)(sp.rows, sp.ptr, sp.sample.astype(np.float32), sp.code)
    vc = dev(backend, np.zeros(10, np.uint8))
    with pytest.raises(TypeError, match="sample"):
        backend.sparse_sample_sums(on(backend, bad), var_class=vc, out=out)
    with pytest.raises(ValueError, match="out must be"):
        backend.sparse_sample_sums(on(backend, sp), var_class=vc, out=backend.xp.zeros((100, 2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="give var_class and out"):
        backend.sparse_sample_sums(on(backend, sp), var_class=vc)
    with pytest.raises(ValueError, match="give var_class and out"):
        backend.sparse_sample_sums(on(backend, sp))


# ------------------------------------------------------------------------------------------------ dtype contract
def test_scatter_add_int64_through_uint64_view_is_exact():
    """int64 accumulators are added through their uint64 view (CuPy has no int64 scatter_add): same sums,
    including negative values and totals past 2**32, as NumPy's int64 ``add.at``."""
    rng = np.random.default_rng(7)
    index = rng.integers(0, 50, 10_000)
    values = rng.integers(-(2**40), 2**40, 10_000)
    expected = np.zeros(50, np.int64)
    np.add.at(expected, index, values)
    got = np.zeros(50, np.int64)
    sparse_ops._scatter_add(np, got, index, values)
    np.testing.assert_array_equal(got, expected)
    ones = np.zeros(50, np.int64)
    sparse_ops._scatter_add(np, ones, index, 1)
    np.testing.assert_array_equal(ones, np.bincount(index, minlength=50))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.int64, np.uint32, np.float64])
def test_scatter_view_dtype_contract(dtype):
    """Every target type either maps to one CuPy's scatter_add accepts, or is refused on every backend."""
    target = np.zeros(4, dtype)
    if np.dtype(dtype) in sparse_ops.SCATTER_ADD_DTYPES or dtype is np.int64:
        view = sparse_ops.scatter_view(target)
        assert view.dtype in sparse_ops.SCATTER_ADD_DTYPES and np.shares_memory(view, target)
    else:
        with pytest.raises(TypeError, match="not supported by CuPy"):
            sparse_ops.scatter_view(target)


# ------------------------------------------------------------------------ int32 samples, many entries, threads
def _random_sparse(rng, n_rows, n_samples, per_row, sample_dtype):
    """Sparse rows with `per_row` distinct random samples each (every code, failing bit at random); the
    block has 2 * n_rows rows, every other one sparse (rows without entries in between)."""
    samples = np.concatenate([np.sort(rng.choice(n_samples, per_row, replace=False)) for _ in range(n_rows)])
    code = (rng.integers(1, 4, samples.size) | (rng.integers(0, 2, samples.size) << 2)).astype(np.uint8)
    from gdbtools.store.format import SparseRows

    return SparseRows(np.arange(0, 2 * n_rows, 2, dtype=np.int32),
                      np.arange(0, samples.size + 1, per_row, dtype=np.int64), samples.astype(sample_dtype), code)


@pytest.mark.parametrize("sample_dtype", [np.uint16, np.int32])
@pytest.mark.parametrize("n_rows, per_row", [(30, 100), (700, 1000)])  # 700k entries: threads on the host
def test_sparse_per_sample_sums__equal_the_twin_with_int32_samples_and_many_entries(
        backend, rng, sample_dtype, n_rows, per_row):
    """The per-sample reductions (each alone and both in one call) against the NumPy twins of
    gdbtools.backend.sparse, with int32 samples
    (cohorts past 65,536 samples) and with enough entries that the host library splits the samples over
    threads (kernels/sparse_host.h: 16,384 entries per thread; 700k entries -> 4 threads of 500 samples)."""
    from gdbtools.backend import get_backend

    if backend.name == "host":
        backend = get_backend("host", n_threads=4)
    n_samples, n_classes = 2000, 3
    sp = _random_sparse(rng, n_rows, n_samples, per_row, sample_dtype)
    var_class = rng.integers(0, n_classes, 2 * n_rows).astype(np.uint8)
    var_class[1::5] = 255
    wfix = rng.integers(-(2**40), 2**40, 2 * n_rows).astype(np.int64)
    wfix[::3] = 0
    for view in (sparse_ops.VIEW_RAW, sparse_ops.VIEW_ADJ, sparse_ops.VIEW_FAIL):
        want = np.zeros((n_classes, 3, n_samples), dtype=np.int64)
        sparse_ops.sample_class_counts(np, sp.row, sp.sample, sp.code, var_class, n_classes, want, view)
        want_w = np.full(n_samples, 5, dtype=np.int64)
        sparse_ops.missing_weight_sums(np, sp.row, sp.sample, sp.code, wfix, want_w, view)
        assert want.sum() > 0 and (want_w != 5).any()
        # each sum alone, then both in one pass over the entries (what the engine runs)
        out = backend.xp.zeros((n_classes, 3, n_samples), dtype=np.int64)
        backend.sparse_sample_sums(on(backend, sp), view, var_class=dev(backend, var_class), out=out)
        out_w = backend.xp.full(n_samples, 5, dtype=np.int64)
        backend.sparse_sample_sums(on(backend, sp), view, wfix=dev(backend, wfix), wmiss=out_w)
        np.testing.assert_array_equal(host(out), want)
        np.testing.assert_array_equal(host(out_w), want_w)
        out = backend.xp.zeros((n_classes, 3, n_samples), dtype=np.int64)
        out_w = backend.xp.full(n_samples, 5, dtype=np.int64)
        backend.sparse_sample_sums(on(backend, sp), view, var_class=dev(backend, var_class), out=out,
                                   wfix=dev(backend, wfix), wmiss=out_w)
        np.testing.assert_array_equal(host(out), want)
        np.testing.assert_array_equal(host(out_w), want_w)


@pytest.mark.parametrize("sample_dtype", [np.uint16, np.int32])
@pytest.mark.parametrize("with_adj", [False, True])
@pytest.mark.parametrize("split", [False, True])
def test_sparse_group_counts__rows_past_255_entries_equal_the_twin(backend, rng, sample_dtype, with_adj, split):
    """The host library counts a row's codes per atom in byte lanes of a word (kernels/variant_counts.cu),
    spilled every 255 entries: rows of 1,000 and 1 entries, every code, and rows of one code only; masks that
    hold every sample (one atom, the word in a register) or split them (four atoms)."""
    from gdbtools.backend import get_backend
    from gdbtools.store.bitplanes import n_words

    if backend.name == "host":
        backend = get_backend("host", n_threads=2)
    n_samples = 2000
    sp = _random_sparse(rng, 40, n_samples, 1000, sample_dtype)
    one = _random_sparse(rng, 3, n_samples, 1, sample_dtype)
    same = _random_sparse(rng, 4, n_samples, 1000, sample_dtype)
    same.code[:] = 3  # 1,000 entries of one code: past a byte lane unless spilled
    masks = np.full((2, n_words(n_samples)), 0xFFFFFFFF, dtype=np.uint32)  # both groups: every sample
    if split:
        masks[0, ::2] = 0
        masks[1, :n_words(n_samples) // 3] = 0
    atoms = sparse_ops.mask_atoms(masks, n_samples)
    assert atoms.n_atoms == (4 if split else 1)
    atoms_dev = atoms if not backend.on_device else atoms.to(backend.xp.asarray)
    for rows in (sp, one, same):
        want = sparse_ops.group_counts(np, rows.row, rows.sample, rows.code, 80, atoms, with_adj)
        got = host(backend.sparse_group_counts(on(backend, rows), 80, atoms_dev, with_adj))
        np.testing.assert_array_equal(got, want)
        assert want.sum() > 0
