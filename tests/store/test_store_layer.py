"""The store layer on its own: a store written block by block with the writer reads back identical through the
reader (both encodings, with and without the fail plane), a newer format version or an unknown encoding is
refused with a message naming the fix, an unfinished store does not open, and a read-only store opens and
reads as an unprivileged user without a byte changing.

No VCF and no ingest: the genotypes are random codes packed with the NumPy reference (:mod:`gdbtools.store.bitplanes`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from gdbtools.errors import StoreError, StoreIncompleteError
from gdbtools.store import PartitionWriter, StoreWriter, open_store, pack_codes
from gdbtools.store.bitplanes import CODE_FAIL_BIT, pack_bits, unpack_codes
from gdbtools.store.format import FORMAT_VERSION

N_SAMPLES = 77  # not a multiple of 32: the padding bits are exercised


def _genotypes(rng, n_variants: int, rare: bool):
    """``(V, N)`` codes 0..3 (mostly hom-ref when `rare`, so hybrid2 stores most rows sparse) and fail bits."""
    if rare:
        codes = np.where(rng.random((n_variants, N_SAMPLES)) < 0.02, rng.integers(1, 4, (n_variants, N_SAMPLES)), 0)
    else:
        codes = rng.integers(0, 4, (n_variants, N_SAMPLES))
    fail = (rng.random((n_variants, N_SAMPLES)) < 0.05) & (codes != 3)
    return codes.astype(np.uint8), fail


def _write_store(path, rng, *, encoding: str, with_fail: bool, blocks_per_partition=(3, 2)):
    """A store of two partitions (chr1, chrX) written through the writer; returns the codes and fail bits
    of every variant in store order and the variant table."""
    samples = pd.DataFrame({"sample_id": [f"S{i:03d}" for i in range(N_SAMPLES)],
                            "sex": ["XX" if i % 2 else "XY" for i in range(N_SAMPLES)]})
    contigs = ("chr1", "chrX")
    plan = {"params": {"encoding": encoding}, "partitions": [{"contig": c, "start": 1, "end": None} for c in contigs]}
    writer = StoreWriter(path, plan, samples)
    all_codes, all_fail, tables = [], [], []
    for index, (contig, n_blocks) in enumerate(zip(contigs, blocks_per_partition)):
        part = PartitionWriter(path, index, N_SAMPLES, encoding=encoding)
        pos = 1000
        for k in range(n_blocks):
            nv = int(rng.integers(1, 90))
            codes, fail = _genotypes(rng, nv, rare=k % 2 == 0)
            lo, hi = pack_codes(codes)
            planes = {"lo": lo, "hi": hi}
            if with_fail:
                planes["fail"] = pack_bits(fail)
            positions = pos + np.arange(nv) * 7
            pos = int(positions[-1]) + 7
            variants = pa.table({"contig": [contig] * nv, "pos": positions.astype(np.int64),
                                 "ref": ["A"] * nv, "alt": ["G"] * nv})
            part.write_block(planes, variants, {"k": k}, int(positions[0]), int(positions[-1]), contig)
            all_codes.append(codes)
            all_fail.append(fail if with_fail else np.zeros_like(fail))
            tables.append(variants.to_pandas())
        part.finish()
    writer.finalize({"build": None}, {"chr1": 10_000_000, "chrX": 5_000_000})
    return np.concatenate(all_codes), np.concatenate(all_fail), pd.concat(tables, ignore_index=True), samples


@pytest.mark.parametrize("encoding", ["dense2", "hybrid2"])
@pytest.mark.parametrize("with_fail", [False, True])
def test_writer_reader__round_trip(tmp_path, encoding, with_fail):
    rng = np.random.default_rng(7)
    codes, fail, variants, samples = _write_store(tmp_path / "s", rng, encoding=encoding, with_fail=with_fail)
    store = open_store(tmp_path / "s")
    assert (store.n_samples, store.n_variants) == (N_SAMPLES, len(codes))
    assert store.manifest["format_version"] == FORMAT_VERSION
    assert [c["name"] for c in store.manifest["contigs"]] == ["chr1", "chrX"]
    pd.testing.assert_frame_equal(store.samples[["sample_id", "sex"]].astype(str), samples.astype(str))
    got = store.variants()
    np.testing.assert_array_equal(got["pos"].to_numpy(), variants["pos"].to_numpy())
    assert got["contig"].astype(str).tolist() == variants["contig"].tolist()
    read_codes, read_fail = [], []
    for block in store.blocks(verify=True):  # checksums checked against the manifest
        assert block.n_samples == N_SAMPLES
        read_codes.append(block.codes())
        assert (block.dense_fail is not None) == with_fail
        if with_fail:
            raw = unpack_codes(block.lo, block.hi, N_SAMPLES)
            adj = block.codes(adj=True)
            read_fail.append((adj == 3) & (raw != 3))
    np.testing.assert_array_equal(np.concatenate(read_codes), codes)
    if with_fail:
        np.testing.assert_array_equal(np.concatenate(read_fail), fail)
    if encoding == "hybrid2":  # the rare blocks went sparse
        assert any(store.read_block(i).sparse is not None for i in range(len(store.blocks_meta)))
    region = store.variants(["pos"], region="chrX")
    assert len(region) == int((variants["contig"] == "chrX").sum())


def test_fail_bit__one_definition_shared_by_the_backend():
    from gdbtools.backend import sparse
    from gdbtools.store import format as fmt

    assert CODE_FAIL_BIT == 4 and fmt.CODE_FAIL_BIT is CODE_FAIL_BIT
    code = np.array([1, 1 | CODE_FAIL_BIT, 2 | CODE_FAIL_BIT, 3], np.uint8)
    assert sparse.entry_kinds(np, code, sparse.VIEW_ADJ).tolist() == [0, 2, 2, 2]
    assert sparse.entry_kinds(np, code, sparse.VIEW_FAIL).tolist() == [-1, 2, 2, -1]


def _small(tmp_path):
    rng = np.random.default_rng(3)
    _write_store(tmp_path / "s", rng, encoding="hybrid2", with_fail=True, blocks_per_partition=(1, 1))
    return tmp_path / "s"


def test_manifest__newer_format_version_is_refused(tmp_path):
    path = _small(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=f"format version {FORMAT_VERSION + 1} is newer") as err:
        open_store(path)
    assert err.value.fix == "upgrade gdbtools" and err.value.file == str(path)


def test_manifest__unknown_encoding_and_damage_are_refused(tmp_path):
    path = _small(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["blocks"][0]["encoding"] = "future3"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="encodings unknown to this gdbtools .future3."):
        open_store(path)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest.json does not parse"):
        open_store(path)


def test_writer__unfinished_store_does_not_open_and_resumes_with_the_same_plan(tmp_path):
    samples = pd.DataFrame({"sample_id": ["a", "b"]})
    plan = {"params": {"x": 1}, "partitions": [{"contig": "chr1", "start": 1, "end": None}]}
    StoreWriter(tmp_path / "s", plan, samples)
    with pytest.raises(StoreIncompleteError, match="has not finished"):
        open_store(tmp_path / "s")
    assert StoreWriter(tmp_path / "s", plan, samples).resumed
    with pytest.raises(StoreError, match="differs in: x"):
        StoreWriter(tmp_path / "s", {**plan, "params": {"x": 2}}, samples)
    with pytest.raises(StoreError, match="1 of 1 partitions have not finished"):
        StoreWriter(tmp_path / "s", plan, samples).finalize({})


def test_store__opens_read_only_and_changes_nothing():
    """A store whose files and directories are read-only opens and reads (as user nobody when run as root)."""
    base = tempfile.mkdtemp(prefix="gdb-ro-", dir="/tmp")  # pytest's tmp_path is private to its user (0700)
    os.chmod(base, 0o755)
    path = _small(Path(base))
    before = {}
    for root, dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs + files:
            st = os.stat(os.path.join(root, name))
            before[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
    for root, dirs, _ in os.walk(path, topdown=False):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(path, 0o555)
    script = ("import sys; from gdbtools.store import open_store; s = open_store(sys.argv[1]); "
              "n = sum(int((b.codes(adj=True) == 3).sum()) for b in s.blocks(verify=True)); "
              "print(n, len(s.variants()), len(s.samples))")
    env = {**os.environ, "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba-", dir="/tmp")}
    os.chmod(env["NUMBA_CACHE_DIR"], 0o777)
    cmd = [sys.executable, "-c", script, str(path)]
    as_nobody = os.geteuid() == 0 and shutil.which("setpriv") is not None
    if as_nobody:  # root ignores permissions: run as nobody so the OS enforces read-only
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
        assert proc.returncode == 0, proc.stderr
        n_missing, n_variants, n_samples = map(int, proc.stdout.split()[:3])
        store = open_store(path)
        assert (n_variants, n_samples) == (store.n_variants, N_SAMPLES)
        assert n_missing == sum(int((b.codes(adj=True) == 3).sum()) for b in store.blocks())
        after = {}
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                st = os.stat(os.path.join(root, name))
                after[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
        assert after == before
    finally:
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        os.chmod(path, 0o755)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(env["NUMBA_CACHE_DIR"], ignore_errors=True)
