"""The slurm/ templates, against a fake `gdbtools` with the CLI contract (conftest.fake_gdbtools): run directly
with bash for the exit codes, and through the single-node SLURM for the array -> finalise chain."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SLURM_DIR = Path(__file__).resolve().parents[2] / "slurm"
TEMPLATES = ["qc_job.sbatch", "ingest_array.sbatch", "ingest_finalize.sbatch", "submit_ingest.sh", "jupyterlab.sbatch"]


def run(script, *args, env=None, cwd=None, timeout=60):
    return subprocess.run(["bash", str(SLURM_DIR / script), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


@pytest.fixture
def delivery(tmp_path):
    d = tmp_path / "incoming" / "2026-11"
    d.mkdir(parents=True)
    for name in ("batch1.vcf.gz", "batch2.bcf"):
        (d / name).write_bytes(b"not really a vcf")
    (d / "samples.tsv").write_text("sample\tsex\n")
    return d


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates__are_valid_bash_with_strict_mode(name):
    path = SLURM_DIR / name
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    text = path.read_text()
    assert "set -euo pipefail" in text
    assert os.access(path, os.X_OK), f"{name} should be executable (scrontab runs it directly)"
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", "-S", "warning", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates__help_prints_the_header(name):
    result = run(name, "--help")
    assert result.returncode == 0 and "Exit codes" in result.stdout


# --- qc_job.sbatch: `gdbtools run` on a pipeline file, nothing else ------------------------------------------

@pytest.fixture
def pipeline_file(tmp_path):
    path = tmp_path / "nightly.yaml"
    path.write_text("inputs: {store: s}\noutputs: {dir: r}\nsteps: [verify]\n")
    return path


def test_qc_job__runs_the_pipeline_with_gdbtools_run(fake_gdbtools, pipeline_file):
    result = run("qc_job.sbatch", pipeline_file, "--force", "verify")
    assert result.returncode == 0, result.stderr
    assert "done: pipeline" in result.stderr
    calls = fake_gdbtools.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["run", "run", "ran"]  # --check, then the run; no other command


def test_qc_job__takes_the_pipeline_from_the_environment(fake_gdbtools, pipeline_file):
    result = run("qc_job.sbatch", env={"GDB_PIPELINE": str(pipeline_file), "SLURM_JOB_ID": "77"})
    assert result.returncode == 0, result.stderr
    assert "job 77 on" in result.stderr and "ran nightly.yaml" in fake_gdbtools.read_text()


def test_qc_job__has_no_second_sequencer():
    text = (SLURM_DIR / "qc_job.sbatch").read_text()
    commands = re.findall(r'"\$\{gdb\[@\]\}" (\w+)', text)
    assert commands and set(commands) == {"run"}, commands


@pytest.mark.parametrize("case, code, message", [
    ("no pipeline", 64, "no pipeline file"),
    ("unreadable", 64, "is not a readable file"),
    ("invalid", 64, "the pipeline file (or an argument) is invalid"),
    ("input rejected", 65, "a step rejected its input"),
    ("step crashed", 70, "the pipeline failed with exit status 1"),
    ("busy", 75, "holds its lock"),
    ("terminated", 143, "resubmit to resume"),
])
def test_qc_job__exit_codes(fake_gdbtools, pipeline_file, tmp_path, monkeypatch, case, code, message):
    monkeypatch.delenv("GDB_PIPELINE", raising=False)
    args, env = [pipeline_file], {}
    if case == "no pipeline":
        args = []
    elif case == "unreadable":
        args = [tmp_path / "nowhere.yaml"]
    elif case == "invalid":
        pipeline_file.write_text("inputs: {store: s}\n")
    else:
        env["FAKE_GDB_FAIL"] = "run:" + {"input rejected": "2", "step crashed": "1", "busy": "75",
                                         "terminated": "143"}[case]
    result = run("qc_job.sbatch", *args, env=env)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


# --- ingest array + finalise ---------------------------------------------------------------------------------

def test_ingest_array__needs_an_array_task(fake_gdbtools, delivery, tmp_path):
    result = run("ingest_array.sbatch", delivery / "batch1.vcf.gz", "--out", tmp_path / "s")
    assert result.returncode == 64 and "--array" in result.stderr


def test_ingest_finalize__refuses_while_a_partition_is_missing(fake_gdbtools, delivery, tmp_path):
    args = [delivery / "batch1.vcf.gz", "--out", tmp_path / "s", "--partition-by", "contig"]
    assert subprocess.run(["gdbtools", "ingest", *map(str, args), "--init"], capture_output=True).returncode == 0
    for i in (0, 2):
        assert run("ingest_array.sbatch", *args, env={"SLURM_ARRAY_TASK_ID": str(i)}).returncode == 0
    result = run("ingest_finalize.sbatch", *args)
    assert result.returncode == 75
    assert "partition(s) 1 missing" in result.stderr and "resubmit" in result.stderr
    assert not (tmp_path / "s" / "manifest.json").exists()
    assert run("ingest_array.sbatch", *args, env={"SLURM_ARRAY_TASK_ID": "1"}).returncode == 0
    assert run("ingest_finalize.sbatch", *args).returncode == 0
    assert (tmp_path / "s" / "manifest.json").exists()


def test_ingest_array__exit_codes(fake_gdbtools, delivery, tmp_path):
    args = [delivery / "batch1.vcf.gz", "--out", tmp_path / "s"]
    subprocess.run(["gdbtools", "ingest", *map(str, args), "--init"], capture_output=True, check=True)
    crashed = run("ingest_array.sbatch", *args, env={"SLURM_ARRAY_TASK_ID": "1", "FAKE_GDB_FAIL": "partition1:1"})
    assert crashed.returncode == 70 and "resubmit this index" in crashed.stderr
    rejected = run("ingest_array.sbatch", tmp_path / "missing.vcf.gz", "--out", tmp_path / "s",
                   env={"SLURM_ARRAY_TASK_ID": "0"})
    assert rejected.returncode == 65


def _job_states(slurm, jobs):
    return {job: slurm.job_state(job) for job in jobs}


def _wait_all(slurm, jobs, timeout=90):
    for job in jobs:
        slurm.wait_for_job(job, timeout=timeout)
    return _job_states(slurm, jobs)


@pytest.mark.slurm
def test_submit_ingest__array_then_finalize(slurm_queue, fake_gdbtools, delivery, tmp_path):
    store = tmp_path / "cohorts" / "2026-11"
    result = run("submit_ingest.sh", "--out", store, "--metadata", delivery / "samples.tsv", "--max-parallel", "2",
                 delivery / "batch1.vcf.gz", delivery / "batch2.bcf", cwd=tmp_path,
                 env={"FAKE_GDB_PARTITIONS": "4"})
    assert result.returncode == 0, result.stderr
    array, final = map(int, result.stdout.split())
    tasks = [f"{array}_{i}" for i in range(4)]
    states = _wait_all(slurm_queue, [*tasks, final])
    assert all(state == ("COMPLETED", "0:0") for state in states.values()), states
    assert (store / "manifest.json").exists()
    logs = sorted(p.name for p in Path(f"{store}.logs").iterdir())
    assert logs == [f"finalize-{final}.out"] + [f"ingest-{array}_{i}.out" for i in range(4)]
    calls = fake_gdbtools.read_text().splitlines()
    assert sorted(c.split()[1] for c in calls if c.startswith("partition")) == ["0", "1", "2", "3"]
    assert calls[-1].startswith("finalize")  # after every partition


@pytest.mark.slurm
def test_submit_ingest__failed_partition_then_resubmit(slurm_queue, fake_gdbtools, delivery, tmp_path):
    """A partition crashes: SLURM cancels the finalise job (its dependency can never be met), the store stays
    incomplete; submitting again runs only the missing partition and then finalises."""
    store = tmp_path / "store"
    args = ["--out", store, delivery / "batch1.vcf.gz"]
    first = run("submit_ingest.sh", *args, cwd=tmp_path, env={"FAKE_GDB_FAIL": "partition1:1:once"})
    assert first.returncode == 0, first.stderr
    array, final = map(int, first.stdout.split())
    slurm_queue.wait_for_job(final, timeout=90)
    states = _job_states(slurm_queue, [f"{array}_{i}" for i in range(3)] + [final])
    assert states[f"{array}_1"] == ("FAILED", "70:0"), states
    assert states[final][0] == "CANCELLED", states
    assert states[f"{array}_0"][0] == states[f"{array}_2"][0] == "COMPLETED"
    assert not (store / "manifest.json").exists()
    deadline = time.monotonic() + 30
    while slurm_queue.queue():
        assert time.monotonic() < deadline, slurm_queue.queue()
        time.sleep(0.2)

    second = run("submit_ingest.sh", *args, cwd=tmp_path, env={"FAKE_GDB_FAIL": "partition1:1:once"})
    assert second.returncode == 0, second.stderr
    array2, final2 = map(int, second.stdout.split())
    states = _wait_all(slurm_queue, [f"{array2}_{i}" for i in range(3)] + [final2])
    assert all(state == ("COMPLETED", "0:0") for state in states.values()), states
    assert (store / "manifest.json").exists()
    runs = [c.split() for c in fake_gdbtools.read_text().splitlines() if c.startswith("partition")]
    assert sorted(r[1] for r in runs) == ["0", "1", "1", "2"]  # 0 and 2 were not redone


@pytest.mark.slurm
def test_qc_job__through_sbatch(slurm_queue, fake_gdbtools, pipeline_file, tmp_path, monkeypatch):
    monkeypatch.delenv("GDB_PIPELINE", raising=False)
    job = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", f"--output={tmp_path}/qc-%j.out", "--cpus-per-task=1",
                             "--mem=1G", args=(pipeline_file,))
    assert slurm_queue.wait_for_job(job, timeout=90) == "COMPLETED", (tmp_path / f"qc-{job}.out").read_text()
    assert f"job {job} on" in (tmp_path / f"qc-{job}.out").read_text()
    assert "ran nightly.yaml" in fake_gdbtools.read_text()

    bad = slurm_queue.sbatch(SLURM_DIR / "qc_job.sbatch", f"--output={tmp_path}/bad-%j.out", "--cpus-per-task=1",
                             "--mem=1G", args=("--pipeline",))
    assert slurm_queue.wait_for_job(bad) == "FAILED"
    assert slurm_queue.job_state(bad) == ("FAILED", "64:0")
    assert "--pipeline needs a value" in (tmp_path / f"bad-{bad}.out").read_text()


# --- scrontab -------------------------------------------------------------------------------------------------

def test_nightly_scrontab__entries_are_well_formed():
    text = (SLURM_DIR / "nightly.scrontab").read_text()
    sbatch_help = subprocess.run(["sbatch", "--help"], capture_output=True, text=True).stdout \
        if shutil.which("sbatch") else ""
    entries, options = [], []
    for line in text.splitlines():
        if line.startswith("#SCRON"):
            options.append(line.split(None, 1)[1])
        elif line and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line):
            fields = line.split(None, 5)
            assert len(fields) == 6, line
            assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
            assert "qc_job.sbatch" in fields[5]
            assert "%" not in fields[5] or "\\%" in fields[5], "unescaped % in a crontab command"
            entries.append((options, fields[5]))
            options = []
    assert len(entries) == 2 and not options, "#SCRON lines must precede an entry"
    for opts, _ in entries:
        assert any(o.startswith("--time=") for o in opts)
        for opt in opts:
            assert opt.startswith("--"), opt
            if sbatch_help:
                assert opt.split("=")[0] in sbatch_help, f"sbatch knows no {opt}"
