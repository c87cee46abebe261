"""A killed ingest resumes and ends with the same store as an uninterrupted run; parallel equals inline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from gdbtools.errors import StoreError
from gdbtools.ingest import ingest, verify
from gdbtools.store import open_store

SRC = "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"


def store_fingerprint(store) -> dict:
    """Everything that defines a store's content (not its creation time): block checksums, variants, samples."""
    m = store.manifest
    return {
        "blocks": [(b["path"], b["sha256"], b["n_variants"], b["first_pos"], b["last_pos"]) for b in m["blocks"]],
        "partitions": [(p["id"], p["variants_sha256"], p["n_variants"]) for p in m["partitions"]],
        "params": m["params"], "stats": {k: v for k, v in m["stats"].items() if k != "htslib_messages"},
        "samples": m["samples"]["sha256"],
    }


def test_ingest__killed_midway_resumes_to_identical_store(data_dir, tmp_path):
    src = data_dir / SRC
    args = ["ingest", str(src), "--workers", "1", "--block-size", "256", "-q", "--index",
            "--partition-records", "5000"]
    reference = ingest(src, tmp_path / "reference", workers=1, progress=False, block_size=256, index=True,
                       partition_records=5000)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gdbtools", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once a few blocks are safely written, well before the end
        if len(list((out / "_work").glob("p*/b*.json"))) + 2 * len(list((out / "_work").glob("p*.done.json"))) >= 4:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the ingest finished before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    with pytest.raises(StoreError, match="has not finished"):
        open_store(out)
    rerun = subprocess.run([sys.executable, "-m", "gdbtools", *args, "--out", str(out)], capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr
    resumed = open_store(out)
    assert store_fingerprint(resumed) == store_fingerprint(reference)
    pd.testing.assert_frame_equal(resumed.variants(), reference.variants())
    assert not (out / "_work").exists()
    assert verify(resumed, progress=False).ok


def test_ingest__rerun_with_other_parameters_is_refused(data_dir, tmp_path):
    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    out = tmp_path / "store"
    plan_only = ingest(src, out, progress=False, step="init")
    assert len(plan_only.partitions) >= 1 and not (out / "manifest.json").exists()
    with pytest.raises(StoreError, match="different parameters.*block_size"):
        ingest(src, out, workers=1, progress=False, block_size=64)
    store = ingest(src, out, workers=1, progress=False)  # same parameters: resumes and completes
    assert store.n_variants == 1175
    with pytest.raises(StoreError, match="complete store already exists"):
        ingest(src, out, workers=1, progress=False)


def test_ingest__job_array_steps_and_finalize_refuses_missing_partition(data_dir, tmp_path):
    """init / partition I / finalize (bio2zarr's pattern): finalize names the missing partition."""
    src = data_dir / "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz"
    out = tmp_path / "store"
    plan = ingest(src, out, progress=False, step="init", partition_by="contig")
    assert len(plan.partitions) == 23
    for i in range(23):
        if i != 5:
            ingest(src, out, progress=False, step="partition", partition=i, partition_by="contig")
    with pytest.raises(StoreError, match=r"1 of 23 partitions have not finished \(first: p00005\)"):
        ingest(src, out, progress=False, step="finalize", partition_by="contig")
    ingest(src, out, progress=False, step="partition", partition=5, partition_by="contig")
    store = ingest(src, out, progress=False, step="finalize", partition_by="contig")
    whole = ingest(src, tmp_path / "whole", workers=1, progress=False)
    pd.testing.assert_frame_equal(store.variants(["contig", "pos", "ref", "alt"]),
                                  whole.variants(["contig", "pos", "ref", "alt"]))


def test_ingest__dask_parallel_equals_inline(data_dir, tmp_path):
    """Regions on a local Dask cluster (2 worker processes) give the same blocks as one inline run."""
    from distributed import Client, LocalCluster

    src = data_dir / "lct_region_1kg_phase3_2504/LCT_1kg_phase3_2504.biallelic.vcf.gz"
    inline = ingest(src, tmp_path / "inline", workers=1, progress=False, partition_records=2000, block_size=1024)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        parallel = ingest(src, tmp_path / "parallel", progress=False, partition_records=2000, block_size=1024)
    assert len(parallel.manifest["partitions"]) >= 4
    assert store_fingerprint(parallel) == store_fingerprint(inline)


def test_store__read_only_directory(small_store, tmp_path):
    """Opening and reading never write: a non-root user reads a store it cannot write (and root sees no change)."""
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="gdb-ro-", dir="/tmp")
    os.chmod(base, 0o755)
    ro = os.path.join(base, "store")
    shutil.copytree(small_store.path, ro)
    for root, dirs, files in os.walk(ro):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o555)
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
    os.chmod(ro, 0o555)

    def snapshot():
        out = {}
        for root, dirs, files in os.walk(ro):
            for name in dirs + files:
                st = os.stat(os.path.join(root, name))
                out[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns, st.st_mode)
        return out

    before = snapshot()
    script = ("import sys, numpy as np; from gdbtools.store import open_store; "
              "s = open_store(sys.argv[1]); n = sum(int((b.codes() == 1).sum()) for b in s.blocks(verify=True)); "
              "v = s.variants(region='chr1:1000000-1100000'); print(n, len(v), len(s.samples))")
    env = {**os.environ, "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba-", dir="/tmp")}
    os.chmod(env["NUMBA_CACHE_DIR"], 0o777)
    cmd = [sys.executable, "-c", script, ro]
    if os.geteuid() == 0 and shutil.which("setpriv"):  # run as nobody: the OS then enforces read-only
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    assert proc.returncode == 0, proc.stderr
    n_het, n_region, n_samples = map(int, proc.stdout.split()[:3])
    assert n_samples == small_store.n_samples and n_region > 0
    assert n_het == sum(int((b.codes() == 1).sum()) for b in small_store.blocks())
    assert snapshot() == before
    for root, dirs, _ in os.walk(ro):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(ro, 0o755)
    shutil.rmtree(base)


def test_store__region_blocks_are_trimmed(small_store):
    region = "chr1:1100000-1200000"
    variants = small_store.variants(["pos"], region=region)
    rows = []
    for block in small_store.blocks(region):
        rows.extend(range(block.variant_offset, block.variant_offset + block.n_variants))
    assert rows == variants.index.tolist()
    assert variants["pos"].between(1_100_000, 1_200_000).all()


def test_store__checksum_detects_corruption(small_store, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_store.path, copy)
    block = copy / small_store.manifest["blocks"][0]["path"]
    data = bytearray(block.read_bytes())
    data[-10] ^= 0xFF
    block.write_bytes(bytes(data))
    store = open_store(copy)
    with pytest.raises(StoreError, match="checksum mismatch"):
        store.read_block(0, verify=True)
    with pytest.raises(StoreError):
        verify(store, progress=False)


def test_manifest__records_provenance(small_store, small_cohort):
    m = json.loads((small_store.path / "manifest.json").read_text())
    assert m["format_version"] == 1 and m["software"]["gdbtools"]
    assert m["sources"][0]["sha256"] and m["sources"][0]["size"] == os.path.getsize(small_cohort.vcf)
    assert m["build"] == "GRCh38"
    assert {c["name"] for c in m["contigs"]} == {"chr1", "chrX"}
    assert sum(b["n_variants"] for b in m["blocks"]) == m["n_variants"]
    assert m["params"]["adj"] == {"min_gq": 20, "min_dp": 10, "min_dp_haploid": 5, "min_ab": 0.2}
    assert m["metadata"]["n_missing_metadata"] == 0
    assert np.all(np.diff([b["variant_offset"] for b in m["blocks"]]) > 0)


def test_store__missing_variant_table_is_a_clear_error(small_store, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_store.path, copy)
    (copy / small_store.manifest["partitions"][0]["variants"]).unlink()
    store = open_store(copy)
    with pytest.raises(StoreError, match="variant table listed in the manifest is missing"):
        store.variants()
    with pytest.raises(StoreError, match="variant table listed in the manifest is missing"):
        verify(store, progress=False)


def test_finalize__refuses_a_partition_whose_variant_table_is_gone(data_dir, tmp_path):
    src = data_dir / "hail_gatk_100/multipleChromosomes.vcf.gz"
    out = tmp_path / "store"
    plan = ingest(src, out, progress=False, step="init", partition_by="contig")
    for i in range(len(plan.partitions)):
        ingest(src, out, progress=False, step="partition", partition=i, partition_by="contig")
    (out / "variants" / "p00003.parquet").unlink()
    with pytest.raises(StoreError, match="variant table is missing or changed"):
        ingest(src, out, progress=False, step="finalize", partition_by="contig")
    assert not (out / "manifest.json").exists()


def test_ingest__forked_workers_equal_inline(data_dir, tmp_path):
    """Without a Dask client, --workers 2 runs Dask's multiprocessing scheduler on forked processes."""
    src = data_dir / "lct_region_1kg_phase3_2504/LCT_1kg_phase3_2504.biallelic.vcf.gz"
    inline = ingest(src, tmp_path / "inline", workers=1, progress=False, partition_records=2000, block_size=1024)
    forked = ingest(src, tmp_path / "forked", workers=2, progress=False, partition_records=2000, block_size=1024)
    assert len(forked.manifest["partitions"]) >= 4
    assert store_fingerprint(forked) == store_fingerprint(inline)
