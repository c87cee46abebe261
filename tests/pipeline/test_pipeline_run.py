"""Running pipelines locally (no SLURM): idempotent reruns, resume after a failure or a kill, the run record.

The freq/qc steps need the statistics; their tests are marked ``needs_stats`` (pipeline_helpers) and skip with
the import error as the reason until ``gdbtools.cohort`` imports.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pysam
import pytest
from helpers import run_cli
from pipeline_helpers import (
    CHR22,
    HAIL,
    assert_same_store,
    clean_env,
    make_delivery,
    needs_stats,
    records,
    write_pipeline,
)

import gdbtools
from gdbtools.ingest import ingest
from gdbtools.options import option
from gdbtools.outputs import read_provenance, replacing
from gdbtools.pipeline import STEPS, PipelineBusy, PipelineError, PipelineInvalid, StepFailed, StepKind, load, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def delivery(data_dir, tmp_path):
    return make_delivery(tmp_path / "incoming" / "d1")


def basic(delivery: Path, *steps, **ingest_params) -> dict:
    return {"name": "t", "inputs": {"vcf": str(delivery / "*.vcf.gz"), "metadata": str(delivery / "samples.tsv")},
            "outputs": {"store": "store", "dir": "results"},
            "steps": [{"kind": "ingest", "workers": 1, **ingest_params}, *(steps or ["verify"])]}


def outcomes(result_or_record) -> dict:
    steps = result_or_record["steps"] if isinstance(result_or_record, dict) else result_or_record.steps
    return {s["name"]: s["outcome"] for s in steps}


# --- idempotence ------------------------------------------------------------------------------------------------

def test_run__second_run_skips_every_step_and_says_so(delivery, tmp_path):
    path = write_pipeline(tmp_path / "p.yaml", basic(delivery))
    first = run(path, quiet=True)
    assert first.ok and outcomes(first) == {"ingest": "done", "verify": "done"}
    manifest = (tmp_path / "store" / "manifest.json").read_bytes()
    verify_mtime = (tmp_path / "results" / "verify.json").stat().st_mtime_ns
    prov = json.loads((tmp_path / "results" / "verify.json").read_text())["provenance"]
    assert prov["store"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert prov["command"] == "verify" and prov["gdbtools_version"] == gdbtools.__version__

    second = run_cli("run", path)
    for name in ("ingest", "verify"):
        assert f"gdbtools run: step {name}: up to date, skipped" in second.stderr
    assert "succeeded" in second.stderr and "(2 skipped)" in second.stderr
    rec = records(tmp_path / "results")[-1]
    assert rec["outcome"] == "succeeded" and outcomes(rec) == {"ingest": "skipped", "verify": "skipped"}
    assert all(s["reason"] == "up to date (inputs, parameters and outputs unchanged)" for s in rec["steps"])
    assert (tmp_path / "store" / "manifest.json").read_bytes() == manifest  # nothing rewritten
    assert (tmp_path / "results" / "verify.json").stat().st_mtime_ns == verify_mtime


def test_run__what_changed_decides_what_reruns(delivery, tmp_path):
    spec = basic(delivery)
    path = write_pipeline(tmp_path / "p.yaml", spec)
    run(path, quiet=True)

    spec["steps"][0]["workers"] = 2  # a setting that does not change results
    assert outcomes(run(write_pipeline(path, spec), quiet=True)) == {"ingest": "skipped", "verify": "skipped"}

    (tmp_path / "results" / "verify.json").unlink()  # an output removed: only that step reruns
    again = run(path, quiet=True)
    assert outcomes(again) == {"ingest": "skipped", "verify": "done"}
    assert again.step("verify")["reason"] == f"output missing: {tmp_path / 'results' / 'verify.json'}"

    assert outcomes(run(path, quiet=True, force=["verify"])) == {"ingest": "skipped", "verify": "done"}

    spec["steps"][0]["block_size"] = 64  # a parameter of the ingest: the complete store no longer matches
    with pytest.raises(StepFailed) as info:
        run(write_pipeline(path, spec), quiet=True)
    assert info.value.step == "ingest" and info.value.exit_code == 2
    assert "complete store ingested from other inputs or with other parameters is here (differs in: " \
           "block_size)" in str(info.value) and "`overwrite: true`" in str(info.value.cause)

    spec["steps"][0]["overwrite"] = True
    rebuilt = run(write_pipeline(path, spec), quiet=True)
    assert outcomes(rebuilt) == {"ingest": "done", "verify": "done"}
    assert rebuilt.step("ingest")["reason"] == "parameters changed: block_size"
    assert rebuilt.step("verify")["reason"] == "inputs changed: store"  # it reads what the ingest rewrote
    assert json.loads((tmp_path / "store" / "manifest.json").read_text())["params"]["block_size"] == 64


def test_run__dry_run_says_what_would_run_and_writes_nothing(delivery, tmp_path):
    path = write_pipeline(tmp_path / "p.yaml", basic(delivery))
    dry = run_cli("run", path, "--dry-run")
    assert "step ingest: would run (no earlier run)" in dry.stderr
    assert "step verify: would run (no earlier run)" in dry.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "results").exists()
    run(path, quiet=True)
    (tmp_path / "results" / "verify.json").unlink()
    result = run(path, dry_run=True, quiet=True)
    assert outcomes(result) == {"ingest": "skipped", "verify": "would run"}
    assert not (tmp_path / "results" / "verify.json").exists() and len(records(tmp_path / "results")) == 1


def test_run__complete_store_from_the_same_ingest_is_kept(delivery, tmp_path):
    """A store made by `gdbtools ingest` with the same inputs and parameters is taken over, not re-ingested."""
    ingest(str(delivery / HAIL.name), tmp_path / "store", metadata=delivery / "samples.tsv", workers=1,
           progress=False)
    before = (tmp_path / "store" / "manifest.json").read_bytes()
    result = run(write_pipeline(tmp_path / "p.yaml", basic(delivery)), quiet=True)
    assert outcomes(result) == {"ingest": "done", "verify": "done"}
    assert (tmp_path / "store" / "manifest.json").read_bytes() == before


# --- failures and resume ----------------------------------------------------------------------------------------

def test_run__failed_ingest_resumes_after_the_bad_input_is_fixed(data_dir, bcftools_bin, tmp_path):
    """Two per-chromosome files; the second has a malformed record: the ingest fails naming the file and the
    record, the run fails naming the step, the record says so; with the file fixed, the same command
    finishes and the store equals one ingested from the good files."""
    d = tmp_path / "delivery"
    d.mkdir()
    first, second = ",".join(map(str, range(1, 12))), ",".join(map(str, range(12, 23)))

    def bcftools(*args, **kwargs):
        return subprocess.run([bcftools_bin, *map(str, args)], check=True, capture_output=True, text=True, **kwargs)

    bcftools("view", "-r", first, HAIL, "-Oz", "-o", d / "a.vcf.gz")
    bcftools("view", "-r", second, HAIL, "-Oz", "-o", tmp_path / "b.good.vcf.gz")
    text = bcftools("view", tmp_path / "b.good.vcf.gz").stdout.split("\n")
    bad = [i for i, line in enumerate(text) if line.startswith("15\t")][5]
    fields = text[bad].split("\t")
    fields[9] = "0/Z" + fields[9][3:]  # a GT that htslib cannot parse
    text[bad] = "\t".join(fields)
    (tmp_path / "b.bad.vcf").write_text("\n".join(text))
    pysam.tabix_compress(str(tmp_path / "b.bad.vcf"), str(d / "b.vcf.gz"))  # bgzip (bcftools would refuse it)
    for f in (d / "a.vcf.gz", tmp_path / "b.good.vcf.gz", d / "b.vcf.gz"):
        pysam.tabix_index(str(f), preset="vcf", force=True)
    spec = {"inputs": {"vcf": str(d / "*.vcf.gz")}, "outputs": {"store": "store", "dir": "results"},
            "steps": [{"kind": "ingest", "partition_by": "contig", "workers": 1}, "verify"]}
    path = write_pipeline(tmp_path / "p.yaml", spec)

    failed = run_cli("run", path, check=False)
    assert failed.returncode == 2, failed.stderr
    assert "error: step 'ingest' failed: " in failed.stderr and f"{d / 'b.vcf.gz'}" in failed.stderr
    assert "15:1-" in failed.stderr and "GT" in failed.stderr  # the region and what htslib says
    rec = records(tmp_path / "results")[-1]
    assert rec["outcome"] == "failed" and rec["failed_step"] == "ingest"
    assert outcomes(rec) == {"ingest": "failed", "verify": "not run"}
    assert "cannot parse the record" in rec["error"]["message"] and rec["error"]["file"] == str(d / "b.vcf.gz")
    assert f"\n  run record: {tmp_path / 'results' / 'runs'}" in failed.stderr
    assert "fix: repair or regenerate the file" in failed.stderr and "then run the same pipeline again" in failed.stderr
    assert not (tmp_path / "store" / "manifest.json").exists()
    assert len(list((tmp_path / "store" / "_work").glob("p*.done.json"))) >= 11  # chr1-11 and more finished

    (d / "b.vcf.gz").write_bytes((tmp_path / "b.good.vcf.gz").read_bytes())  # the delivery is fixed
    (d / "b.vcf.gz.tbi").write_bytes((tmp_path / "b.good.vcf.gz.tbi").read_bytes())
    fixed = run_cli("run", path)
    assert "step ingest: running (a previous run stopped during this step)" in fixed.stderr
    assert "differs in: inputs); starting it again (this pipeline started it)" in fixed.stderr
    rec = records(tmp_path / "results")[-1]
    assert rec["outcome"] == "succeeded" and outcomes(rec) == {"ingest": "done", "verify": "done"}
    reference = ingest([str(d / "a.vcf.gz"), str(d / "b.vcf.gz")], tmp_path / "reference", partition_by="contig",
                       workers=1, progress=False)
    assert_same_store(tmp_path / "store", reference.path)


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """Options of the test's check_count step."""

    min_variants: int = option(0, "fail below this many variants")


@pytest.fixture
def check_step():
    """A step kind the test adds to the table: it reads the verify report and fails when the store has fewer
    variants than its option says."""

    def check_count(ctx):
        """Fail when the verify report counts fewer variants than min_variants."""
        n = json.loads(Path(ctx.inputs["verify"]).read_text())["n_variants"]
        if n < ctx.options.min_variants:
            raise PipelineError(f"only {n} variants, fewer than {ctx.options.min_variants}",
                                fix="lower min_variants")
        out = Path(ctx.output)
        with replacing(out, overwrite=True) as tmp:
            (tmp / out.name).write_text(f"{n}\n")
        return {"n_variants": n}

    STEPS["check_count"] = StepKind(CheckOptions, check_count, inputs=("verify",),
                                    outputs={"{name}": "{dir}/{name}.txt"})
    yield check_count
    del STEPS["check_count"]


def test_run__resumes_at_the_failed_step_after_the_fix(delivery, tmp_path, check_step):
    spec = basic(delivery, "verify", {"kind": "check_count", "min_variants": 1000})
    path = write_pipeline(tmp_path / "p.yaml", spec)
    with pytest.raises(StepFailed) as info:
        run(path, quiet=True)
    assert info.value.step == "check_count" and "only 346 variants, fewer than 1000" in str(info.value)
    rec = records(tmp_path / "results")[-1]
    assert outcomes(rec) == {"ingest": "done", "verify": "done", "check_count": "failed"}
    assert rec["error"]["fix"] == "lower min_variants" and rec["failed_step"] == "check_count"

    spec["steps"][2]["min_variants"] = 100
    fixed = run(write_pipeline(path, spec), quiet=True)
    assert outcomes(fixed) == {"ingest": "skipped", "verify": "skipped", "check_count": "done"}
    assert fixed.step("check_count")["reason"] == "a previous run stopped during this step"
    assert (tmp_path / "results" / "check_count.txt").read_text() == "346\n"
    kinds = ", ".join(sorted(STEPS))  # the built-in kinds and the one this test registered
    assert "check_count" in kinds and "ingest" in kinds
    with pytest.raises(PipelineInvalid, match=f"did you mean 'ingest'\\? the known step kinds are: {kinds}$"):
        load({**spec, "steps": ["ingst"]}, base_dir=tmp_path)


def test_run__sigterm_midway_then_rerun_resumes_inside_the_store(data_dir, tmp_path):
    """SIGTERM (what scancel and a time limit send) during the ingest: exit 143, the record says interrupted;
    the rerun resumes the store from its finished blocks and ends equal to an uninterrupted ingest."""
    spec = {"inputs": {"vcf": str(CHR22)}, "outputs": {"store": "store", "dir": "results"},
            "steps": [{"kind": "ingest", "block_size": 128, "workers": 1}]}
    path = write_pipeline(tmp_path / "p.yaml", spec)
    proc = subprocess.Popen([sys.executable, "-m", "gdbtools", "run", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    work = tmp_path / "store" / "_work"
    deadline = time.monotonic() + 120
    while len(list(work.glob("p*/b*.json"))) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the ingest wrote no blocks"
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted: " + proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "error: interrupted by SIGTERM during step 'ingest'" in err and "the ingest resumes" in err
    rec = records(tmp_path / "results")[-1]
    assert rec["outcome"] == "interrupted" and outcomes(rec) == {"ingest": "interrupted"}
    assert not (tmp_path / "store" / "manifest.json").exists()
    blocks_before = {p.name for p in work.glob("p*/b*.json")}

    resumed = run_cli("run", path)
    assert "step ingest: running (a previous run stopped during this step)" in resumed.stderr
    assert "resuming the unfinished ingest" in resumed.stderr
    assert blocks_before  # (the markers are consumed by the finished partition)
    reference = ingest(str(CHR22), tmp_path / "reference", block_size=128, workers=1, progress=False)
    assert_same_store(tmp_path / "store", reference.path)
    assert records(tmp_path / "results")[-1]["outcome"] == "succeeded"


def test_run__one_run_at_a_time(delivery, tmp_path):
    path = write_pipeline(tmp_path / "p.yaml", basic(delivery))
    lock = tmp_path / "results" / "state" / "lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(PipelineBusy, match="another run of this pipeline is in progress"):
            run(path, quiet=True)
        cli = run_cli("run", path, check=False)
        assert cli.returncode == 75 and "wait for it to finish" in cli.stderr
    assert not (tmp_path / "store").exists()


# --- the run record ---------------------------------------------------------------------------------------------

def test_run__record_has_inputs_versions_timings_host_slurm_and_outcome(delivery, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "cpu")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    spec = basic(delivery)
    spec["cluster"] = {"kind": "local", "n_workers": 1, "processes": False, "dashboard_address": None}
    path = write_pipeline(tmp_path / "p.yaml", spec)
    result = run(path, quiet=True)
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}\.json", result.record_path.name)
    assert result.record_path.parent == tmp_path / "results" / "runs"
    rec = json.loads(result.record_path.read_text())
    assert rec == json.loads(json.dumps(result.record))
    assert rec["format"] == "gdbtools-pipeline-run" and rec["outcome"] == "succeeded" and rec["failed_step"] is None
    assert rec["run_id"] in result.record_path.name
    assert rec["pipeline"]["path"] == str(path)
    assert rec["pipeline"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # inputs with checksums
    vcf = delivery / HAIL.name
    by_name = {i["name"]: i for i in rec["inputs"]}
    assert by_name["vcf"]["path"] == str(vcf) and by_name["vcf"]["size"] == vcf.stat().st_size
    assert by_name["vcf"]["checksum"] == hashlib.sha256(vcf.read_bytes()).hexdigest()
    assert by_name["metadata"]["checksum"] == hashlib.sha256((delivery / "samples.tsv").read_bytes()).hexdigest()
    # software, host, SLURM job, cluster
    sw = rec["software"]
    assert sw["gdbtools"] == gdbtools.__version__ and sw["python"] == platform.python_version()
    for lib in ("numpy", "pandas", "pyarrow", "cyvcf2", "dask", "distributed", "htslib"):
        assert sw.get(lib), lib
    assert rec["host"]["hostname"] == socket.gethostname() and rec["host"]["pid"] == os.getpid()
    assert rec["slurm"]["job_id"] == "4242" and rec["slurm"]["job_partition"] == "cpu"
    assert rec["cluster"]["kind"] == "local" and rec["cluster"]["settings"]["n_workers"] == 1
    assert rec["cluster"]["scheduler"].startswith(("inproc://", "tcp://"))
    # per step: parameters, inputs, outputs with checksums, timings, outcome
    ingest_step, verify_step = rec["steps"]
    assert ingest_step["params"]["workers"] == 1 and ingest_step["params"]["partition_by"] == "region"
    assert ingest_step["inputs"]["vcf"] == [[str(vcf), by_name["vcf"]["checksum"]]]
    store_sum = "store:" + hashlib.sha256((tmp_path / "store" / "manifest.json").read_bytes()).hexdigest()
    assert ingest_step["output_checksums"] == {"store": store_sum}
    assert verify_step["inputs"]["store"] == store_sum
    assert ingest_step["results"]["n_variants"] == 346 and verify_step["results"]["n_mismatches"] == 0
    for s in rec["steps"]:
        assert s["outcome"] == "done" and s["seconds"] > 0 and s["started"] <= s["finished"]
        assert re.fullmatch(r"[0-9a-f]{64}", s["fingerprint"])
    assert rec["outputs"] == {"store": str(tmp_path / "store"), "verify": str(tmp_path / "results" / "verify.json")}
    assert rec["started"] <= rec["finished"] and rec["seconds"] >= sum(s["seconds"] for s in rec["steps"])


# --- the statistics steps (need gdbtools.cohort) ------------------------------------------------------------------

@needs_stats
def test_run__freq_and_qc_steps_write_what_the_commands_write(delivery, tmp_path):
    spec = basic(delivery, {"kind": "freq", "by": ["population"]}, "qc")
    path = write_pipeline(tmp_path / "p.yaml", spec)
    first = run(path, quiet=True)
    assert outcomes(first) == {"ingest": "done", "freq": "done", "qc": "done"}
    results = tmp_path / "results"
    run_cli("freq", tmp_path / "store", "--by", "population", "--out", tmp_path / "cli-freq.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(results / "freq.parquet"),
                                  pd.read_parquet(tmp_path / "cli-freq.parquet"))
    run_cli("qc", tmp_path / "store", "--out", tmp_path / "cli-qc")
    assert sorted(p.name for p in (results / "qc").iterdir()) == sorted(p.name for p in (tmp_path / "cli-qc").iterdir())
    pd.testing.assert_frame_equal(pd.read_parquet(results / "qc" / "sample_qc.parquet"),
                                  pd.read_parquet(tmp_path / "cli-qc" / "sample_qc.parquet"))
    assert not [p for p in results.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert read_provenance(results / "freq.parquet")["params"]["by"] == ["population"]
    assert read_provenance(results / "qc" / "summary.json")["command"] == "qc"

    spec["steps"][1]["by"] = ["population", "sex"]  # only the changed step reruns
    again = run(write_pipeline(path, spec), quiet=True)
    assert outcomes(again) == {"ingest": "skipped", "freq": "done", "qc": "skipped"}
    assert again.step("freq")["reason"] == "parameters changed: by"


@needs_stats
def test_run__failed_freq_step_resumes_there_after_the_fix(delivery, tmp_path):
    spec = basic(delivery, "verify", {"kind": "freq", "by": ["ancestry"]})  # the metadata has no such column
    path = write_pipeline(tmp_path / "p.yaml", spec)
    cli = run_cli("run", path, check=False)
    assert cli.returncode == 2 and "error: step 'freq' failed: no sample column 'ancestry'" in cli.stderr, cli.stderr
    assert outcomes(records(tmp_path / "results")[-1]) == {"ingest": "done", "verify": "done", "freq": "failed"}
    assert not (tmp_path / "results" / "freq.parquet").exists()
    assert not [p for p in (tmp_path / "results").iterdir() if p.name.startswith(".")]
    spec["steps"][2]["by"] = ["population"]
    fixed = run(write_pipeline(path, spec), quiet=True)
    assert outcomes(fixed) == {"ingest": "skipped", "verify": "skipped", "freq": "done"}


@needs_stats
def test_run__export_step_writes_what_the_command_writes(delivery, tmp_path):
    from gdbtools.release.vcf import read_vcf

    spec = basic(delivery, {"kind": "export", "tier": "public", "by": ["population"], "release_version": "1"})
    first = run(write_pipeline(tmp_path / "p.yaml", spec), quiet=True)
    assert outcomes(first) == {"ingest": "done", "export": "done"}
    ours = tmp_path / "results" / "export.vcf.gz"
    assert ours.exists() and (tmp_path / "results" / "export.vcf.gz.tbi").exists()
    run_cli("export", tmp_path / "store", "--tier", "public", "--by", "population", "--release-version", "1",
            "--out", tmp_path / "cli.vcf.gz")
    pd.testing.assert_frame_equal(read_vcf(ours), read_vcf(tmp_path / "cli.vcf.gz"))
    assert read_provenance(ours.with_name(ours.name + ".meta.json"))["params"]["tier"] == "public"
