"""The same computation gives the same result on SLURM workers (gdbtools.cluster "slurm") as on a local cluster.

Each entry of PARITY_CASES builds a lazy computation (no client argument: gdbtools statistics run on
whatever client is current); every case is computed on both clusters and the results must agree. Add the
gdbtools statistics here as they land, e.g. ``"freq": lambda: gdb.open(small_store).freq(by=["sex"])``.
"""

from __future__ import annotations

import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest

import gdbtools.cluster as gc
import gdbtools.cluster.slurm  # noqa: F401 - gc.slurm's placeholders

REPO = Path(__file__).resolve().parents[2]

SLURM_TEST_SETTINGS = dict(cores=1, memory="1GiB", walltime="00:10:00", interface="lo", dashboard_address=":0")


# --- the cases -----------------------------------------------------------------------------------------------

def _genotype_codes(n_variants=20_000, n_samples=96, chunk=2_500):
    """PLINK-style codes (0 hom-ref, 1 het, 2 hom-alt, 3 missing), in blocks of variants."""
    rs = da.random.RandomState(20261125)
    return rs.choice(4, size=(n_variants, n_samples), p=[0.80, 0.12, 0.05, 0.03], chunks=(chunk, n_samples))


def case_allele_counts():
    """Per-variant AC, AN, nhomalt: one partial per block, the shape of the frequency statistics."""
    g = _genotype_codes()
    ac = (g == 1).sum(axis=1) + 2 * (g == 2).sum(axis=1)
    return {"AC": ac, "AN": 2 * (g != 3).sum(axis=1), "nhomalt": (g == 2).sum(axis=1), "total_AC": ac.sum()}


def case_sample_counts():
    """Per-sample vectors tree-reduced over blocks: the shape of sample QC."""
    g = _genotype_codes()
    return {"call_rate": (g != 3).mean(axis=0), "n_het": (g == 1).sum(axis=0), "n_hom_var": (g == 2).sum(axis=0)}


def case_float_reduction():
    x = da.random.RandomState(7).standard_normal((40_000, 50), chunks=(5_000, 50))
    return {"sum": x.sum(axis=0), "mean": x.mean(), "std": x.std(axis=0)}


_STORE = {}


def _real_store():
    """1000 Genomes phase 3 chr22 subset (1,126 samples, populations and sex), ingested once per session."""
    if "path" not in _STORE:
        import tempfile

        from gdbtools.ingest import ingest

        data = REPO.parent / "shared" / "data" / "1kg_phase3_subset_1126"
        meta = tempfile.mkdtemp(prefix="gdb-parity-")
        table = pd.read_csv(data / "samples_annot.tsv", sep="\t")[["sample.id", "Population", "sex"]]
        table.rename(columns={"sample.id": "sample_id", "Population": "population"}).to_csv(
            f"{meta}/meta.tsv", sep="\t", index=False)
        _STORE["path"] = ingest(data / "per_chrom" / "1KG_phase3_subset_chr22.vcf.gz", f"{meta}/store",
                                metadata=f"{meta}/meta.tsv", workers=1, progress=False, block_size=256).path
    return _STORE["path"]


def case_gdbtools_freq():
    """gdbtools frequencies by population and sex on the current client (tasks are block ranges)."""
    import gdbtools as gdb

    return {"freq": gdb.open(_real_store()).freq(by=["population", "sex"])}


def case_gdbtools_qc():
    import gdbtools as gdb

    cohort = gdb.open(_real_store())
    return {"variant_qc": cohort.variant_qc(), "sample_qc": cohort.sample_qc()}


PARITY_CASES = {
    "allele_counts": case_allele_counts,
    "sample_counts": case_sample_counts,
    "float_reduction": case_float_reduction,
    "gdbtools_freq": case_gdbtools_freq,
    "gdbtools_qc": case_gdbtools_qc,
}


# --- running and comparing -----------------------------------------------------------------------------------

def compute_on(client, case):
    """Compute ``case()`` with ``client`` current; returns (result, the workers that ran its tasks)."""
    from distributed import get_task_stream

    with client.as_current(), get_task_stream(client) as ts:
        (result,) = dask.compute(case())
    return result, {t["worker"] for t in ts.data}


def assert_same(a, b, path="result"):
    """Equal results: exactly for integers, to 1e-12 relative for floats; dicts, tuples, frames, arrays."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    elif np.asarray(a).dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=path)
    else:
        np.testing.assert_array_equal(a, b, err_msg=path)


@pytest.fixture(scope="module")
def local_client():
    with gc.cluster("local", n_workers=1, threads_per_worker=2, dashboard_address=None, quiet=True) as client:
        yield client


@pytest.fixture(scope="module")
def slurm_client(slurm, tmp_path_factory):
    """A SLURM cluster of one worker job, for this module; its job is gone from the queue afterwards."""
    logs = tmp_path_factory.mktemp("dask-logs")
    client = gc.connect("slurm", jobs=1, log_directory=str(logs), wait_for_workers=1, timeout="120s",
                        **SLURM_TEST_SETTINGS)
    try:
        yield client
    finally:
        gc.close(client)
        deadline = time.monotonic() + 60
        while slurm.queue():
            assert time.monotonic() < deadline, f"jobs still queued after the cluster closed: {slurm.queue()}"
            time.sleep(0.2)


@pytest.mark.parametrize("name", sorted(PARITY_CASES))
def test_local__computes_every_case(local_client, name):
    result, workers = compute_on(local_client, PARITY_CASES[name])
    assert workers and workers <= set(local_client.scheduler_info()["workers"])
    assert result


@pytest.mark.slurm
@pytest.mark.parametrize("name", sorted(PARITY_CASES))
def test_connect__slurm_matches_local(slurm_client, local_client, name):
    on_slurm, slurm_workers = compute_on(slurm_client, PARITY_CASES[name])
    on_local, _ = compute_on(local_client, PARITY_CASES[name])
    assert slurm_workers and slurm_workers <= set(slurm_client.scheduler_info()["workers"])
    assert_same(on_slurm, on_local)


@pytest.mark.slurm
def test_connect__slurm_workers_run_inside_the_job(slurm, slurm_client):
    [(job, state)] = slurm.queue()
    assert state == "RUNNING"
    seen = slurm_client.run(lambda: __import__("os").environ.get("SLURM_JOB_ID"))
    assert list(seen.values()) == [str(job)]


@pytest.mark.slurm
def test_job_script__is_what_the_cluster_submits(slurm_client):
    cluster = slurm_client.cluster
    expected = gc.job_script("slurm", log_directory=cluster._dummy_job.log_directory, **SLURM_TEST_SETTINGS)
    script = cluster.job_script().replace(cluster.scheduler_address, gc.slurm.TLS_SCHEDULER_PLACEHOLDER)
    for key, placeholder in gc.slurm.CREDENTIAL_PLACEHOLDERS.items():  # the credential files' random names
        path = getattr(cluster, f"_job_{key}").name
        assert path in script
        script = script.replace(path, str(Path(path).with_name(placeholder)))
    assert script == expected
