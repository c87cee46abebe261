"""The block encodings give identical statistics: a dense2 and a hybrid2 store of the same real VCF.

hybrid2 (the default) stores rare variants as sparse entries and the statistics take a separate code path for
them (gdbtools.backend.sparse); every table must equal the dense2 store's exactly, on every CPU backend, with
genotype filters (adj), stratified groups and chrX ploidy.
"""

from __future__ import annotations

import pandas as pd
import pytest
from stats_oracles import KG, KG_META

import gdbtools
from gdbtools.errors import StoreError
from gdbtools.ingest import ingest

ADJ_SET = "hail_gatk_100/sample.vcf.gz"  # GT:AD:DP:GQ:PL: a fail plane


@pytest.fixture(scope="module")
def pairs(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("encodings")
    made = {}
    for name, src, meta in (("kg", data_dir / KG, data_dir / KG_META), ("adj", data_dir / ADJ_SET, None)):
        made[name] = {enc: ingest(src, out / f"{name}_{enc}", metadata=meta, workers=1, progress=False,
                                  encoding=enc) for enc in ("dense2", "hybrid2")}
    return made


@pytest.mark.parametrize("backend", ["numpy", "host"])
@pytest.mark.parametrize("name", ["kg", "adj"])
def test_dense2_and_hybrid2_give_identical_tables(pairs, backend, name):
    stores = pairs[name]
    hybrid = stores["hybrid2"]
    n_sparse = sum(0 if b.sparse is None else b.sparse.n_rows for b in hybrid.blocks())
    assert 0 < n_sparse < hybrid.n_variants  # both code paths are exercised
    by = ["Population", "sex"] if name == "kg" else None
    results = {}
    for enc, store in stores.items():
        cohort = gdbtools.open(store.path)
        results[enc] = cohort.compute(freq=by or True, variant_qc=True, sample_qc=True, qc_adj=(name == "adj"),
                                      backend=backend, client=False)
    for table in ("freq", "variant_qc", "sample_qc"):
        pd.testing.assert_frame_equal(getattr(results["dense2"], table), getattr(results["hybrid2"], table))


def test_hybrid2_planes_equal_dense2_planes(pairs):
    dense, hybrid = pairs["adj"]["dense2"], pairs["adj"]["hybrid2"]
    for a, b in zip(dense.blocks(), hybrid.blocks()):
        assert (a.lo == b.lo).all() and (a.hi == b.hi).all() and (a.fail == b.fail).all()
        assert (a.slice(3, 40).codes(adj=True) == b.slice(3, 40).codes(adj=True)).all()


def test_damaged_sparse_part_is_refused(pairs, tmp_path):
    import shutil

    src = pairs["adj"]["hybrid2"]
    copy = tmp_path / "store"
    shutil.copytree(src.path, copy)
    block = copy / src.blocks_meta[0]["path"]
    data = block.read_bytes()
    block.write_bytes(data[:-7])  # truncate the sparse frame at the end
    with pytest.raises(StoreError, match="genotype block|damaged"):
        gdbtools.store.open_store(copy).read_block(0)


def _retag(data: bytes, **changes) -> bytes:
    """A block's bytes with fields of its sparse header changed (payload untouched)."""
    import json
    import struct

    from gdbtools.store.format import MAGIC

    (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    meta = json.loads(data[start:start + hlen])
    meta["sparse"].update(changes)
    header = json.dumps(meta, separators=(",", ":")).encode()
    return data[:len(MAGIC)] + struct.pack("<I", len(header)) + header + data[start + hlen:]


def test_inconsistent_sparse_header_is_refused():
    import numpy as np

    from gdbtools.store.bitplanes import pack_codes
    from gdbtools.store.format import decode_block, encode_block

    codes = np.zeros((4, 40), dtype=np.int8)
    codes[:, 39] = 1  # one het per row, in the last sample
    lo, hi = pack_codes(codes)
    data = encode_block({"lo": lo, "hi": hi}, 40, encoding="hybrid2", sparse_max=5)
    header, _, sp = decode_block(data)
    assert sp.n_rows == 4 and header.n_dense == 0
    with pytest.raises(StoreError, match="sparse part has the wrong size"):
        decode_block(_retag(data, nnz=5), "b.gdb")
    with pytest.raises(StoreError, match="names a sample beyond the cohort"):
        decode_block(data.replace(b'"n_samples":40', b'"n_samples":39'), "b.gdb")
