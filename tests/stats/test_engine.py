"""The fused pass: identical results on every backend and on a Dask cluster, one read per block, selections.

Tolerance: none.  Integer columns and every float column (computed from the same integers, HWE bit-identical
across backends, the F sums in fixed point) must be exactly equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gdbtools
from gdbtools.backend import get_backend
from gdbtools.backend.cupy_backend import gpu_available
from gdbtools.errors import BackendError, GdbError
from gdbtools.stats.engine import readahead, schedule

KW = dict(freq=["sex", "population"], adj=True, variant_qc=True, sample_qc=True, qc_adj=True, batch_by="pipeline")
TABLES = ("freq", "variant_qc", "sample_qc", "batch_check")


def _backends():
    names = ["numpy", "host"]
    if gpu_available():
        names.append("cupy")
    return names


@pytest.fixture(scope="module")
def reference(small_store):
    return gdbtools.open(small_store.path).compute(backend="numpy", client=False, **KW)


@pytest.mark.parametrize("name", ["host", pytest.param("cupy", marks=pytest.mark.gpu)])
def test_compute__whole_result_identical_on_every_backend(small_store, reference, name):
    if name == "cupy" and not gpu_available():
        pytest.skip("no CUDA device")
    try:
        get_backend(name)
    except BackendError as exc:
        pytest.skip(f"{name} backend unavailable: {exc.message}")
    cohort = gdbtools.open(small_store.path)
    res = cohort.compute(backend=name, client=False, **KW)
    assert res.info["backend"] == name
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(res, table), getattr(reference, table), check_exact=True)
    pd.testing.assert_frame_equal(cohort.sex_check(backend=name, client=False),
                                  cohort.sex_check(backend="numpy", client=False), check_exact=True)
    assert reference.sample_qc["n_filtered"].sum() > 0 and reference.freq["AC_Hemi"].sum() > 0


def test_compute__dask_cluster_gives_the_local_result(small_store, reference, monkeypatch):
    """On a Dask LocalCluster (worker processes), tasks of ~1,000 variants, per-sample partials tree-reduced."""
    from distributed import Client, LocalCluster

    monkeypatch.setattr(schedule, "TASK_VARIANTS", 1000)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        cohort = gdbtools.open(small_store.path)
        res = cohort.compute(backend="numpy", **KW)  # client=None: the current client
        assert res.info["dask"] is True
        sex = cohort.sex_check(backend="numpy")
        local = cohort.compute(backend="numpy", client=False, freq=True)
        assert local.info["dask"] is False
        del client
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(res, table), getattr(reference, table), check_exact=True)
    pd.testing.assert_frame_equal(sex, gdbtools.open(small_store.path).sex_check(backend="numpy", client=False))


def test_decode_block__equals_store_read_block(small_store):
    pool = readahead.BufferPool()
    for i in range(len(small_store.blocks_meta)):
        ours, buf = readahead.decode_block(small_store, i, pool)
        theirs = small_store.read_block(i)
        for plane in ("lo", "hi", "fail"):
            np.testing.assert_array_equal(getattr(ours, plane), getattr(theirs, plane))
        assert (ours.variant_offset, ours.contig, ours.n_samples) == (theirs.variant_offset, theirs.contig, 300)
        pool.put(buf)


def test_compute__one_read_per_block(small_store, monkeypatch):
    """freq + variant QC + sample QC + batch check read every block exactly once (the fused pass; decoded on
    the host here, the backend's batched decoding below)."""
    monkeypatch.setenv("GDBTOOLS_DECODE", "host")
    reads = []
    original = readahead.decode_block
    monkeypatch.setattr(readahead, "decode_block", lambda store, i, pool: reads.append(i) or original(store, i, pool))
    gdbtools.open(small_store.path).compute(backend="numpy", client=False, **KW)
    assert sorted(reads) == list(range(len(small_store.blocks_meta)))


def test_compute__selection_equals_subset_of_samples_and_rows(small_store):
    cohort = gdbtools.open(small_store.path)
    ids = cohort.store.samples["sample_id"][::3].tolist()
    a = cohort.select(samples=ids, region="chrX:2700000-2800000").compute(freq=["population"], variant_qc=True,
                                                                          sample_qc=True, client=False)
    mask = np.zeros(cohort.store.n_samples, bool)
    mask[::3] = True
    b = cohort.select(samples=mask).select(region=["chrX"]).select(region="chrX:2700000-2800000")
    b = b.compute(freq=["population"], variant_qc=True, sample_qc=True, client=False)
    for table in ("freq", "variant_qc", "sample_qc"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    assert len(a.sample_qc) == len(ids) and a.freq["contig"].eq("chrX").all()
    assert a.freq["pos"].between(2_700_000, 2_800_000).all() and len(a.freq) > 10


def test_cohort__select_and_its_errors(small_store):
    cohort = gdbtools.open(small_store.path)
    assert cohort.n_samples == 300 and cohort.n_variants == small_store.n_variants
    sub = cohort.select(samples="population == 'nfe' and sex == 'XX'").select(samples="region == 'Capital'")
    samples = cohort.store.samples
    want = ((samples["population"] == "nfe") & (samples["sex"] == "XX") & (samples["region"] == "Capital")).sum()
    assert sub.n_samples == want > 0
    assert "300" in repr(cohort) and str(want) in repr(sub)
    assert cohort.select(region="chr1:1-10", allow_empty=True).select(region="chrX", allow_empty=True).n_variants == 0
    with pytest.raises(GdbError, match="cannot evaluate the sample query"):
        cohort.select(samples="nonexistent == 1")
    with pytest.raises(GdbError, match="not in the store"):
        cohort.select(samples=["GDB000001", "nobody"])
    with pytest.raises(GdbError, match="unknown_sex"):
        cohort.freq(unknown_sex="maybe")
    with pytest.raises(GdbError, match="at least two values"):
        cohort.select(samples="pipeline == 'gatk-4.2'").batch_check(by="pipeline")
    with pytest.raises(GdbError, match="unknown backend"):
        cohort.freq(backend="tpu")
    with pytest.raises(GdbError, match="grpmax_by='population' is not one of the grouping columns"):
        cohort.freq(by=["sex"], grpmax_by="population")


def test_compute__tables_convert_to_arrow(reference):
    import pyarrow as pa

    for table in TABLES:
        df = getattr(reference, table)
        back = pa.Table.from_pandas(df).to_pandas()
        pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_compute__empty_selection_gives_empty_tables(small_store):
    cohort = gdbtools.open(small_store.path).select(region="chr2", allow_empty=True)
    res = cohort.compute(freq=["sex"], variant_qc=True, sample_qc=True, client=False)
    assert len(res.freq) == 0 and len(res.variant_qc) == 0
    assert len(res.sample_qc) == 300 and (res.sample_qc["n_called"] == 0).all()


@pytest.mark.parametrize("name", ["numpy", "host"])
def test_compute__backend_decode_gives_the_host_decode_result(small_store, reference, monkeypatch, name):
    """The batched path (frames read, the backend decodes 4 blocks a call, one batch ahead) gives the tables of
    today's path (zstd in reader threads); the host backend's twin is what a GPU pass runs around nvCOMP."""
    try:
        get_backend(name)
    except BackendError as exc:
        pytest.skip(f"{name} backend unavailable: {exc.message}")
    monkeypatch.setenv("GDBTOOLS_DECODE", "backend")
    reads = []
    original = small_store.read_block_frames.__func__
    monkeypatch.setattr(type(small_store), "read_block_frames",
                        lambda self, i, **kw: reads.append(i) or original(self, i, **kw))
    got = gdbtools.open(small_store.path).compute(backend=name, client=False, **KW)
    assert sorted(reads) == list(range(len(small_store.blocks_meta)))  # every block read once, as frames
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(reference, table), getattr(got, table), check_exact=True)


def test_compute__backend_decode_of_a_trimmed_selection(small_store, monkeypatch):
    """Blocks cut by a region (slices of decoded blocks) and a sample subset: same tables on both paths."""
    cohort = gdbtools.open(small_store.path)
    sel = cohort.select(samples=cohort.store.samples["sample_id"][::3].tolist(), region="chrX:2700000-2800000")
    results = {}
    for mode in ("host", "backend"):
        monkeypatch.setenv("GDBTOOLS_DECODE", mode)
        results[mode] = sel.compute(freq=["population"], variant_qc=True, sample_qc=True, qc_adj=True,
                                    backend="numpy", client=False)
    for table in ("freq", "variant_qc", "sample_qc"):
        pd.testing.assert_frame_equal(getattr(results["host"], table), getattr(results["backend"], table))
    assert len(results["host"].freq) > 10


def test_compute__device_copies_back_a_constant_per_block(small_store, monkeypatch):
    """Device-to-host copies (``Backend.to_host``) of a pass with every table: at most one per block (the
    group-0 totals of sample QC) plus a constant at the end, whatever the number of groups and views."""
    from gdbtools.backend.numpy_backend import NumpyBackend

    calls = []
    original = NumpyBackend.to_host
    monkeypatch.setattr(NumpyBackend, "to_host", lambda self, a: calls.append(np.shape(a)) or original(self, a))
    monkeypatch.setenv("GDBTOOLS_DECODE", "backend")
    gdbtools.open(small_store.path).compute(backend="numpy", client=False, **KW)
    n_blocks = len(small_store.blocks_meta)
    assert n_blocks >= 4
    assert len(calls) <= n_blocks + 8, (len(calls), n_blocks)


def test_decode_mode__host_backends_decode_in_reader_threads_unless_asked(small_store, monkeypatch):
    be = get_backend("numpy")
    assert not be.decodes_on_device
    for mode, batched in (("auto", False), ("", False), ("host", False), ("backend", True)):
        monkeypatch.setenv("GDBTOOLS_DECODE", mode)
        assert readahead.use_backend_decode(be) is batched
    monkeypatch.setenv("GDBTOOLS_DECODE", "gpu")
    with pytest.raises(GdbError, match="GDBTOOLS_DECODE"):
        gdbtools.open(small_store.path).compute(freq=True, backend="numpy", client=False)


def test_backend_block_reader__two_batches_at_most_released_in_order(small_store):
    """The contract the GPU decoder's two buffer slots rely on: when a batch is decoded, at most one earlier
    batch is still held (decoded, not released); each batch is released once, in order, after its last block;
    the blocks come in order and equal ``Store.read_block``."""
    from gdbtools.backend import frames
    from gdbtools.backend.numpy_backend import NumpyBackend

    events: list = []

    class Recording(NumpyBackend):
        def decode_blocks(self, blocks):
            held = sum(1 for e in events if e[0] == "decode") - sum(1 for e in events if e[0] == "release")
            k = sum(1 for e in events if e[0] == "decode")
            events.append(("decode", k, held))
            batch = super().decode_blocks(blocks)
            return frames.DecodedBatch(batch.blocks, lambda: events.append(("release", k, None)))

    specs = [readahead.BlockSpec(i, 0, m["n_variants"], m["variant_offset"], m["contig"])
             for i, m in enumerate(small_store.blocks_meta)]
    reader = readahead.BackendBlockReader(small_store, specs, Recording(), threads=2, batch=3)
    seen = []
    for spec, block, done in reader:
        ref = small_store.read_block(spec.index)
        for plane in ("lo", "hi", "fail"):
            np.testing.assert_array_equal(getattr(block, plane), getattr(ref, plane))
        seen.append(spec.index)
        events.append(("block", spec.index // 3, None))
        done()
    assert seen == list(range(len(specs)))
    n_batches = -(-len(specs) // 3)
    assert n_batches >= 3
    assert [e[1] for e in events if e[0] == "release"] == list(range(n_batches))
    assert max(e[2] for e in events if e[0] == "decode") <= 1
    for k in range(n_batches):  # released after its last block, before the batch two later is decoded
        at = events.index(("release", k, None))
        assert max(i for i, e in enumerate(events) if e[:2] == ("block", k)) < at
        later = [i for i, e in enumerate(events) if e[0] == "decode" and e[1] == k + 2]
        assert all(at < i for i in later)
