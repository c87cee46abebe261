"""Batched block decoding (``Backend.decode_blocks``) equals ``Store.read_block``, block by block, on every
backend: dense2 and hybrid2 stores of a real VCF (ingested with small blocks, so that last frames are partial)
and of the synthetic cohort of the GPU check, in batches of one, three and all blocks.

On the ``cupy`` backend the frames are decoded by nvCOMP on the GPU (skipped without a device; under
``GDBTOOLS_REQUIRE_GPU=1`` a host fallback is a failure).  Exact equality: same bytes, same dtypes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from gdbtools.backend import frames
from gdbtools.errors import StoreError
from gdbtools.simulate_store import write_synthetic_store
from gdbtools.store.format import FRAME_VARIANTS

REAL_VCF = "hail_gatk_100/sample.vcf.gz"  # 100 samples, GT:AD:DP:GQ:PL: a fail plane
REQUIRE_GPU = os.environ.get("GDBTOOLS_REQUIRE_GPU", "") not in ("", "0")


@pytest.fixture(scope="module")
def stores(data_dir, tmp_path_factory):
    pytest.importorskip("cyvcf2")  # the ingest reads with htslib
    from gdbtools.ingest import ingest

    out = tmp_path_factory.mktemp("decode")
    made = {}
    for enc in ("dense2", "hybrid2"):
        made[f"real-{enc}"] = ingest(data_dir / REAL_VCF, out / f"real_{enc}", workers=1, progress=False,
                                     encoding=enc, block_size=150)
        made[f"synthetic-{enc}"] = write_synthetic_store(out / f"syn_{enc}", 700, 2500, block_size=600,
                                                         encoding=enc, workers=1)
    return made


def _host(backend, a):
    return backend.to_host(a)


def _assert_equal_to_read_block(backend, store, index, decoded):
    ref = store.read_block(index)
    for name, plane in (("lo", ref.dense_lo), ("hi", ref.dense_hi), ("fail", ref.dense_fail)):
        got = decoded.planes.get(name)
        if plane is None:
            assert got is None
            continue
        got = _host(backend, got)
        assert got.dtype == np.uint32 and got.shape == plane.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, plane, err_msg=f"block {index} plane {name}")
    if ref.sparse is None:
        assert decoded.sparse is None or decoded.sparse.n_rows == 0
        return
    for name in ("rows", "ptr", "sample", "code", "row"):
        want, got = getattr(ref.sparse, name), _host(backend, getattr(decoded.sparse, name))
        assert got.dtype == want.dtype, (index, name)
        np.testing.assert_array_equal(got, want, err_msg=f"block {index} sparse {name}")


@pytest.mark.parametrize("batch", [1, 3, None])
@pytest.mark.parametrize("name", ["real-dense2", "real-hybrid2", "synthetic-dense2", "synthetic-hybrid2"])
def test_decode_blocks__equals_read_block(backend, stores, name, batch):
    store = stores[name]
    n = len(store.blocks_meta)
    assert n >= 3
    step = batch or n
    for start in range(0, n, step):
        indices = list(range(start, min(n, start + step)))
        decoded = backend.decode_blocks([store.read_block_frames(i) for i in indices])
        assert len(decoded.blocks) == len(indices)
        for i, block in zip(indices, decoded.blocks):
            _assert_equal_to_read_block(backend, store, i, block)
        decoded.release()
    if backend.name == "cupy" and REQUIRE_GPU:
        assert backend.decode_fallback is None, backend.decode_fallback


@pytest.mark.parametrize("name", ["real-hybrid2", "synthetic-hybrid2"])
def test_read_block__sparse_row_of_every_entry(stores, name):
    # on the host the row of each entry is derived on first use (np.repeat); the oracle is the CSR ranges
    store = stores[name]
    seen = 0
    for i in range(len(store.blocks_meta)):
        sp = store.read_block(i).sparse
        if sp is None:
            continue
        want = np.empty(sp.nnz, np.int32)
        for k in range(sp.n_rows):
            want[sp.ptr[k]:sp.ptr[k + 1]] = sp.rows[k]
        assert sp.row.dtype == np.int32
        np.testing.assert_array_equal(sp.row, want)
        seen += sp.nnz
    assert seen > 0


def test_decode_blocks__the_stores_exercise_every_case(stores):
    """Partial last frames, blocks with and without sparse rows, more than one frame per block."""
    frames_of = {name: [s.read_block_frames(i) for i in range(len(s.blocks_meta))] for name, s in stores.items()}
    for name, blocks in frames_of.items():
        assert any(b.frames.shape[0] > 1 for b in blocks), name
        assert any(b.frames.shape[0] and b.frames[-1, 4] < FRAME_VARIANTS for b in blocks), name
    for name in ("real-hybrid2", "synthetic-hybrid2"):
        assert any(b.sparse is not None and b.sparse.shape[0] for b in frames_of[name])
        assert all(b.header.n_dense < b.header.n_variants for b in frames_of[name] if b.sparse.shape[0])
    assert all(b.sparse is None for b in frames_of["real-dense2"])


def test_decode_blocks__batches_in_flight_stay_intact(backend, stores):
    """Two batches held at once (the double buffer), then a third after the first is released."""
    store = stores["synthetic-hybrid2"]
    n = len(store.blocks_meta)
    a = backend.decode_blocks([store.read_block_frames(i) for i in range(0, 2)])
    b = backend.decode_blocks([store.read_block_frames(i) for i in range(2, n)])
    for i, block in enumerate(a.blocks):
        _assert_equal_to_read_block(backend, store, i, block)
    a.release()
    c = backend.decode_blocks([store.read_block_frames(i) for i in range(0, n)])
    for i, block in enumerate(b.blocks):
        _assert_equal_to_read_block(backend, store, i + 2, block)
    for i, block in enumerate(c.blocks):
        _assert_equal_to_read_block(backend, store, i, block)
    b.release()
    c.release()
    assert backend.decode_blocks([]).blocks == []


@pytest.mark.parametrize("align", [16, 64])
def test_batch_layout__aligned_and_complete(stores, align):
    store = stores["real-hybrid2"]
    blocks = [store.read_block_frames(i) for i in range(len(store.blocks_meta))]
    layout = frames.batch_layout(blocks, align).pack()
    table = layout.table
    assert (table[:, [0, 2]] % align == 0).all()
    assert table[:, 1].sum() == sum(b.frames[:, 1].sum() + (0 if b.sparse is None else b.sparse.shape[0])
                                    for b in blocks)
    assert table[:, 3].sum() == sum(b.raw_dense_bytes + b.raw_sparse_bytes for b in blocks)
    ends = table[:, 2] + table[:, 3]
    assert (table[1:, 2] >= ends[:-1]).all() and ends.max() <= layout.out_bytes  # outputs do not overlap
    assert (table[1:, 0] >= table[:-1, 0] + table[:-1, 1]).all()
    for s_off, s_size, _, _, b in table.tolist():  # the packed bytes are the block's own frames
        assert layout.src[s_off:s_off + s_size].tobytes() in (blocks[b].data.tobytes() + (
            b"" if blocks[b].sparse is None else blocks[b].sparse.tobytes()))
    with pytest.raises(ValueError, match="packing buffer"):
        layout.pack(np.empty(layout.src_bytes - 1, np.uint8))


def test_decode_blocks__a_damaged_frame_names_its_file(stores, tmp_path):
    from gdbtools.backend import get_backend

    store = stores["real-dense2"]
    bf = store.read_block_frames(1)
    data = bf.data.copy()
    data[bf.frames[0, 0] + 8: bf.frames[0, 0] + 40] ^= 0x5A  # inside the first frame's compressed bytes
    damaged = type(bf)(bf.header, data, bf.frames, bf.sparse, "blocks/damaged.gdb")
    with pytest.raises(StoreError, match="damaged.gdb"):
        get_backend("numpy").decode_blocks([store.read_block_frames(0), damaged])


def test_nvcomp__importable_wherever_a_gpu_is_required():
    """Where a GPU is required (the device check), nvCOMP must be there; elsewhere its absence is a reason that
    names the package to install (the cupy backend then decodes on the host and warns once)."""
    from gdbtools.backend.nvcomp_decode import nvcomp_missing

    reason = nvcomp_missing()
    if REQUIRE_GPU:
        assert reason is None, reason
    elif reason is not None:
        assert "nvidia-nvcomp-cu12" in reason


@pytest.mark.parametrize("case", ["all-sparse", "all-dense", "one-variant", "frames-of-7", "no-fail-plane"])
def test_decode_blocks__edge_blocks_equal_decode_block(backend, rng, case):
    """Blocks written by ``encode_block`` itself: every row sparse (no dense frame), no sparse row, a single
    variant, frames of 7 variants, two planes only; in one batch, against ``format.decode_block``."""
    from gdbtools.store.bitplanes import pack_codes
    from gdbtools.store.format import block_frames, decode_block, encode_block

    n_samples, n_variants = 150, {"one-variant": 1}.get(case, 200)
    codes = np.zeros((n_variants, n_samples), np.int8)
    if case != "all-sparse":  # common variants: dense rows
        codes[::2] = rng.choice(4, size=codes[::2].shape, p=[0.5, 0.3, 0.15, 0.05])
    codes[1::2, :3] = 1  # rare variants: sparse rows in hybrid2
    lo, hi = pack_codes(codes)
    planes = {"lo": lo, "hi": hi}
    if case != "no-fail-plane":
        rate = 0.0 if case == "all-sparse" else 0.02
        failing = rng.random(codes.shape) < rate
        failing[:, 5] = True  # one failing call per variant: rows stay under the sparse limit (150 // 16)
        planes["fail"] = pack_codes(np.where(failing, 3, 0))[0]
    encoding = "dense2" if case == "all-dense" else "hybrid2"
    data = [encode_block(planes, n_samples, encoding=encoding, frame_variants=7 if case == "frames-of-7" else 64)
            for _ in range(2)]
    batch = backend.decode_blocks([block_frames(d, f"block{i}.gdb") for i, d in enumerate(data)])
    for d, got in zip(data, batch.blocks):
        header, want_planes, want_sparse = decode_block(d)
        if case == "all-sparse":
            assert header.n_dense == 0
        for name, want in want_planes.items():
            np.testing.assert_array_equal(_host(backend, got.planes[name]), want)
        assert set(got.planes) == set(want_planes)
        if want_sparse is None:
            assert got.sparse is None
        else:
            for name in ("rows", "ptr", "sample", "code", "row"):
                np.testing.assert_array_equal(_host(backend, getattr(got.sparse, name)), getattr(want_sparse, name))
    batch.release()
