"""The slurm/ templates with the real gdbtools on the single-node SLURM (tests/slurm_env.py).

- the per-chromosome ingest array plus finalise (submit_ingest.sh) gives the store an inline ingest gives;
- finalise refuses, naming the partition, when one partition's output is removed, and completes once that
  array index is resubmitted;
- a pipeline job killed midway with scancel, resubmitted, resumes inside the store and ends identical to an
  uninterrupted ingest;
- a pipeline submitted with sbatch writes its outputs and its run record (with the SLURM job id); submitted
  again, it skips every step; an invalid file and a rejected input give the documented exit codes.

Every test leaves the queue empty (the ``slurm_queue`` fixture fails a test that leaves a job behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import CHR22, HAIL, assert_same_store, make_delivery, needs_stats, records, write_pipeline

from gdbtools.ingest import ingest

TESTS = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slurm

SLURM_DIR = TESTS.parent / "slurm"
SMALL_JOB = ("--cpus-per-task=1", "--mem=1G")  # two jobs at a time on a 2-CPU test node


@pytest.fixture
def gdb_env(monkeypatch, data_dir):
    """The real gdbtools for the templates and their jobs: GDB_ENV is this interpreter's environment."""
    monkeypatch.setenv("GDB_ENV", sys.prefix)
    for name in ("GDBTOOLS", "GDB_MODULES", "GDB_STORE", "GDB_OUT", "GDB_DELIVERY", "GDB_STEPS", "GDB_PIPELINE",
                 "SLURM_JOB_ID", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(name, raising=False)
    return Path(sys.prefix) / "bin" / "gdbtools"


def script(name, *args, timeout=120, **kwargs):
    return subprocess.run(["bash", str(SLURM_DIR / name), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def gdbtools(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "gdbtools", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"gdbtools {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr}")
    return proc


def wait_all(slurm, jobs, timeout=180):
    for job in jobs:
        slurm.wait_for_job(job, timeout=timeout)
    return {job: slurm.job_state(job) for job in jobs}


def wait_queue_empty(slurm, timeout=30):
    deadline = time.monotonic() + timeout
    while slurm.queue():
        assert time.monotonic() < deadline, f"jobs still queued: {slurm.queue()}"
        time.sleep(0.2)


def test_submit_ingest__per_contig_array_then_finalize_equals_inline_ingest(slurm_queue, gdb_env, tmp_path):
    """Six of the file's 22 contigs (--region), one array task each, two at a time."""
    store = tmp_path / "cohorts" / "hail"
    regions = [x for c in ("1", "2", "5", "10", "21", "22") for x in ("--region", c)]
    result = script("submit_ingest.sh", "--out", store, "--max-parallel", "2", "--sbatch-args", " ".join(SMALL_JOB),
                    "--ingest-args", " ".join(["--workers", "1", "-q", *regions]), HAIL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    array, final = map(int, result.stdout.split())
    assert "6 partitions" in result.stderr
    states = wait_all(slurm_queue, [f"{array}_{i}" for i in range(6)] + [final])
    assert all(state == ("COMPLETED", "0:0") for state in states.values()), states
    assert "the store is complete" in (Path(f"{store}.logs") / f"finalize-{final}.out").read_text()
    assert [c["name"] for c in json.loads((store / "manifest.json").read_text())["contigs"]] == \
        ["1", "2", "5", "10", "21", "22"]

    inline = tmp_path / "inline"  # the same ingest in one process
    gdbtools("ingest", HAIL, "--out", inline, "--partition-by", "contig", "--workers", "1", "-q", *regions)
    assert_same_store(store, inline)
    again = script("submit_ingest.sh", "--out", store, HAIL, cwd=tmp_path)  # complete: nothing to submit
    assert again.returncode == 0 and again.stdout == "" and "complete already" in again.stderr
    assert slurm_queue.queue() == []


def test_ingest_finalize__names_a_removed_partition_then_completes_after_resubmitting_it(slurm_queue, gdb_env,
                                                                                        tmp_path):
    store = tmp_path / "store"
    args = [HAIL, "--out", store, "--partition-by", "contig", "-q",
            *[x for c in ("1", "2", "3") for x in ("--region", c)]]
    assert gdbtools("ingest", *args, "--init").stdout.strip() == "3"
    array = slurm_queue.sbatch(SLURM_DIR / "ingest_array.sbatch", "--array=0-2", *SMALL_JOB,
                               f"--output={tmp_path}/ingest-%A_%a.out", args=args)
    states = wait_all(slurm_queue, [f"{array}_{i}" for i in range(3)])
    assert all(state == ("COMPLETED", "0:0") for state in states.values()), states

    # partition 2's output is removed (its completion marker, variant rows and blocks)
    (store / "_work" / "p00002.done.json").unlink()
    (store / "variants" / "p00002.parquet").unlink()
    for block in (store / "blocks" / "p00002").iterdir():
        block.unlink()
    final = slurm_queue.sbatch(SLURM_DIR / "ingest_finalize.sbatch", *SMALL_JOB,
                               f"--output={tmp_path}/finalize-%j.out", args=args)
    assert slurm_queue.wait_for_job(final) == "FAILED"
    assert slurm_queue.job_state(final) == ("FAILED", "75:0")
    log = (tmp_path / f"finalize-{final}.out").read_text()
    assert "1 of 3 partitions have not finished (first: p00002)" in log
    assert "resubmit the missing array indices (first: 2;" in log
    assert not (store / "manifest.json").exists()

    redo = slurm_queue.sbatch(SLURM_DIR / "ingest_array.sbatch", "--array=2", *SMALL_JOB,
                              f"--output={tmp_path}/ingest-%A_%a.out", args=args)
    final2 = slurm_queue.sbatch(SLURM_DIR / "ingest_finalize.sbatch", f"--dependency=afterok:{redo}",
                                "--kill-on-invalid-dep=yes", *SMALL_JOB, f"--output={tmp_path}/finalize-%j.out",
                                args=args)
    states = wait_all(slurm_queue, [f"{redo}_2", final2])
    assert all(state == ("COMPLETED", "0:0") for state in states.values()), states
    inline = ingest(HAIL, tmp_path / "inline", partition_by="contig", regions=["1", "2", "3"], workers=1,
                    progress=False)
    assert_same_store(store, inline.path)
    assert slurm_queue.queue() == []


def test_pipeline_job__killed_with_scancel_then_resubmitted_resumes_to_identical_store(slurm_queue, gdb_env,
                                                                                       tmp_path):
    path = write_pipeline(tmp_path / "chr22.yaml", {
        "name": "chr22", "inputs": {"vcf": str(CHR22)}, "outputs": {"store": "store", "dir": "results"},
        "steps": [{"kind": "ingest", "block_size": 128, "workers": 1}]})
    store, results = tmp_path / "store", tmp_path / "results"
    first = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", *SMALL_JOB, f"--output={tmp_path}/job-%j.out",
                               args=(path,))
    deadline = time.monotonic() + 120
    while len(list((store / "_work").glob("p*/b*.json"))) < 3:  # a few blocks written: kill it midway
        assert time.monotonic() < deadline, f"no blocks written: {slurm_queue.job_state(first)}"
        assert slurm_queue.job_state(first)[0] in ("PENDING", "RUNNING", "CONFIGURING"), \
            (tmp_path / f"job-{first}.out").read_text()
        time.sleep(0.05)
    slurm_queue.run("scancel", str(first))
    assert slurm_queue.wait_for_job(first) == "CANCELLED"
    wait_queue_empty(slurm_queue)
    assert not (store / "manifest.json").exists(), "the job finished before scancel reached it"
    (killed,) = records(results)
    assert killed["outcome"] == "interrupted" and killed["failed_step"] == "ingest"
    assert killed["slurm"]["job_id"] == str(first)
    assert "terminated by a signal" in (tmp_path / f"job-{first}.out").read_text()

    second = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", *SMALL_JOB, f"--output={tmp_path}/job-%j.out",
                                args=(path,))
    assert slurm_queue.wait_for_job(second, timeout=180) == "COMPLETED", (tmp_path / f"job-{second}.out").read_text()
    log = (tmp_path / f"job-{second}.out").read_text()
    assert "step ingest: running (a previous run stopped during this step)" in log
    assert "resuming the unfinished ingest" in log
    done = records(results)[-1]
    assert done["outcome"] == "succeeded" and done["slurm"]["job_id"] == str(second)

    reference = ingest(CHR22, tmp_path / "reference", block_size=128, workers=1, progress=False)  # uninterrupted
    assert_same_store(store, reference.path)
    assert slurm_queue.queue() == []


@pytest.mark.parametrize("steps", [
    pytest.param(["ingest", "verify"], id="ingest-verify"),
    pytest.param(["ingest", "verify", {"kind": "freq", "by": ["population"]}, "qc"], id="with-statistics",
                 marks=needs_stats),
])
def test_pipeline_job__writes_outputs_and_record_then_skips_everything(slurm_queue, gdb_env, tmp_path, steps):
    make_delivery(tmp_path / "incoming" / "d1")
    with_stats = len(steps) > 2
    path = write_pipeline(tmp_path / "nightly.yaml", {
        "name": "nightly", "inputs": {"vcf": "incoming/${DELIVERY}/*.vcf.gz",
                                      "metadata": "incoming/${DELIVERY}/samples.tsv"},
        "outputs": {"store": "cohorts/${DELIVERY}", "dir": "qc/${DELIVERY}"}, "steps": steps})
    env = {"GDB_PIPELINE": str(path), "DELIVERY": "d1"}  # as the scrontab line passes them
    os.environ.update(env)
    try:
        first = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", *SMALL_JOB, f"--output={tmp_path}/job-%j.out")
        assert slurm_queue.wait_for_job(first, timeout=180) == "COMPLETED", \
            (tmp_path / f"job-{first}.out").read_text()
        second = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", *SMALL_JOB, f"--output={tmp_path}/job-%j.out")
        assert slurm_queue.wait_for_job(second, timeout=180) == "COMPLETED"
    finally:
        for key in env:
            os.environ.pop(key, None)
    results = tmp_path / "qc" / "d1"
    assert (tmp_path / "cohorts" / "d1" / "manifest.json").exists()
    assert json.loads((results / "verify.json").read_text())["n_mismatches"] == 0
    if with_stats:
        assert (results / "freq.parquet").exists() and (results / "qc" / "sample_qc.parquet").exists()
    ran, skipped = records(results)
    names = [s if isinstance(s, str) else s["kind"] for s in steps]
    assert ran["outcome"] == "succeeded" and [s["outcome"] for s in ran["steps"]] == ["done"] * len(names)
    assert ran["slurm"]["job_id"] == str(first) and ran["slurm"]["cpus_per_task"] == "1"
    assert ran["pipeline"]["environment_variables"] == {"DELIVERY": "d1"}
    assert skipped["slurm"]["job_id"] == str(second)
    assert [s["outcome"] for s in skipped["steps"]] == ["skipped"] * len(names)
    log = (tmp_path / f"job-{second}.out").read_text()
    assert all(f"step {n}: up to date, skipped" in log for n in names)
    # a batch log, not a terminal: no progress-bar redraws, a few lines per step
    first_log = (tmp_path / f"job-{first}.out").read_text()
    assert "\r" not in first_log and "it/s" not in first_log and "variants/s" not in first_log, first_log
    assert len(first_log.splitlines()) <= 8 * len(names) + 10, first_log
    assert slurm_queue.queue() == []


@pytest.mark.parametrize("case, exit_code, message", [
    ("invalid pipeline", "64:0", "the pipeline file (or an argument) is invalid"),
    ("input rejected", "65:0", "a step rejected its input"),
])
def test_pipeline_job__exit_codes(slurm_queue, gdb_env, tmp_path, case, exit_code, message):
    delivery = make_delivery(tmp_path / "d1")
    spec = {"inputs": {"vcf": str(delivery / HAIL.name), "metadata": str(delivery / "samples.tsv")},
            "outputs": {"store": "store", "dir": "results"}, "steps": ["ingest"]}
    if case == "invalid pipeline":
        spec["steps"] = [{"kind": "ingest", "blocksize": 100}]
    else:  # a sex that is no sex: the metadata is rejected, naming the line
        tsv = delivery / "samples.tsv"
        tsv.write_text(tsv.read_text().replace("\tfemale\t", "\tunknown-value\t", 1))
    path = write_pipeline(tmp_path / "p.yaml", spec)
    job = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", *SMALL_JOB, f"--output={tmp_path}/job-%j.out",
                             args=(path,))
    assert slurm_queue.wait_for_job(job, timeout=120) == "FAILED"
    assert slurm_queue.job_state(job) == ("FAILED", exit_code)
    log = (tmp_path / f"job-{job}.out").read_text()
    assert message in log
    if case == "invalid pipeline":
        assert "unknown key 'blocksize' in a ingest step" in log and not (tmp_path / "results").exists()
    else:
        assert "error: step 'ingest' failed:" in log and "unknown-value" in log
        assert records(tmp_path / "results")[-1]["failed_step"] == "ingest"


def test_pipeline__cluster_section_runs_the_ingest_on_slurm_dask_workers(slurm_queue, gdb_env, tmp_path):
    """`cluster: {kind: slurm, ...}`: the pipeline starts Dask workers as SLURM jobs through gdbtools.cluster,
    the ingest partitions run on them, and the jobs are gone when the run ends."""
    from gdbtools.pipeline import run

    logs = tmp_path / "dask-logs"
    path = write_pipeline(tmp_path / "p.yaml", {
        "inputs": {"vcf": str(HAIL)}, "outputs": {"store": "store", "dir": "results"},
        "steps": [{"kind": "ingest", "partition_by": "contig", "regions": ["1", "2", "3", "4"]}],
        "cluster": {"kind": "slurm", "cores": 1, "memory": "1GiB", "walltime": "00:10:00", "interface": "lo",
                    "wait_for_workers": 1, "timeout": "120s", "dashboard_address": None,
                    "log_directory": str(logs)}})
    result = run(path, quiet=True)
    assert result.ok and result.record["cluster"]["kind"] == "slurm"
    assert result.record["cluster"]["scheduler"].startswith("tls://127.0.0.1:")
    wait_queue_empty(slurm_queue)  # the worker job was cancelled with the cluster
    assert sorted(p.suffix for p in logs.iterdir()) == [".err", ".out"]
    inline = ingest(HAIL, tmp_path / "inline", partition_by="contig", regions=["1", "2", "3", "4"], workers=1,
                    progress=False)
    assert_same_store(tmp_path / "store", inline.path)
