"""The single-node SLURM itself: jobs run, exit codes arrive, a cancelled job resumes, restarts are safe."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from slurm_env import SlurmEnv

pytestmark = pytest.mark.slurm


def test_sbatch__trivial_job_completes(slurm_queue, tmp_path):
    out = tmp_path / "hello.out"
    job = slurm_queue.sbatch("#!/bin/bash\necho hello from $SLURM_JOB_ID on $(hostname)\n", f"--output={out}")
    assert slurm_queue.wait_for_job(job) == "COMPLETED"
    assert out.read_text().startswith(f"hello from {job} on ")
    assert slurm_queue.job_state(job) == ("COMPLETED", "0:0")


def test_sbatch__exit_code_reaches_the_scheduler(slurm_queue, tmp_path):
    job = slurm_queue.sbatch("#!/bin/bash\nexit 65\n", f"--output={tmp_path / 'fail.out'}")
    assert slurm_queue.wait_for_job(job) == "FAILED"
    assert slurm_queue.job_state(job) == ("FAILED", "65:0")


# --- a job killed midway and resubmitted ---------------------------------------------------------------------
# A resumable job: `submit()` starts it, `progress()` counts finished units of work, `check_complete()` checks
# the final result. The generic one below writes numbered chunk files atomically and skips those that exist;
# the lead will add one that runs `gdbtools ingest --partition` here (progress = finished blocks).

CHUNK_SCRIPT = """#!/bin/bash
set -euo pipefail
work=$1 n=$2
for ((i = 0; i < n; i++)); do
    [[ -f $work/chunk-$i.done ]] && continue      # done by an earlier run: skip
    sleep 0.2                                      # the work
    echo "$SLURM_JOB_ID" > "$work/chunk-$i.tmp"    # write, then rename: a chunk is complete or absent
    mv "$work/chunk-$i.tmp" "$work/chunk-$i.done"
done
echo complete > "$work/COMPLETE"
"""


@dataclass
class ChunkedJob:
    work: Path
    total: int = 25
    jobs: list[int] = field(default_factory=list)

    def submit(self, env: SlurmEnv) -> int:
        script = self.work / "chunks.sh"
        script.write_text(CHUNK_SCRIPT)
        job = env.sbatch(script, f"--output={self.work}/job-%j.out", args=(self.work, self.total))
        self.jobs.append(job)
        return job

    def progress(self) -> int:
        return len(list(self.work.glob("chunk-*.done")))

    def check_complete(self) -> None:
        assert (self.work / "COMPLETE").exists()
        assert self.progress() == self.total
        assert not list(self.work.glob("*.tmp"))


RESUMABLE_JOBS = {"chunks": ChunkedJob}


@pytest.mark.parametrize("kind", sorted(RESUMABLE_JOBS))
def test_scancel__resubmitted_job_resumes(slurm_queue, tmp_path, kind):
    job = RESUMABLE_JOBS[kind](tmp_path)
    first = job.submit(slurm_queue)
    deadline = time.monotonic() + 60
    while job.progress() < 3:
        assert time.monotonic() < deadline, f"job {first} made no progress: {slurm_queue.job_state(first)}"
        time.sleep(0.1)
    slurm_queue.run("scancel", str(first))
    assert slurm_queue.wait_for_job(first) == "CANCELLED"
    deadline = time.monotonic() + 30
    while slurm_queue.queue():
        assert time.monotonic() < deadline, f"still queued after scancel: {slurm_queue.queue()}"
        time.sleep(0.2)
    done_before = job.progress()
    assert 3 <= done_before < job.total, "the job should have been killed midway"

    second = job.submit(slurm_queue)
    assert slurm_queue.wait_for_job(second, timeout=120) == "COMPLETED"
    job.check_complete()
    if kind == "chunks":  # nothing done twice: the first run's chunks are still the first run's
        owners = [int((tmp_path / f"chunk-{i}.done").read_text()) for i in range(job.total)]
        assert owners.count(first) >= done_before - 1  # the chunk being renamed at scancel may be either
        assert set(owners) <= {first, second}
        assert owners == sorted(owners)


def test_slurm_env__second_start_replaces_a_stale_instance(slurm, tmp_path):
    """A run that died without stopping its SLURM leaves daemons, pid files and a munge key: the next start
    ends them by pid and comes up with a fresh key and fresh ports."""
    root = Path(tempfile.mkdtemp(prefix="gdbs-", dir="/tmp"))  # short: unix socket paths live under it
    first = SlurmEnv.start(root)
    try:
        first._unlock()  # as if its process had been killed
        old_pids = {name: proc.pid for name, proc in first._procs.items()}
        old_key = (root / "munge" / "munge.key").read_bytes()
        second = SlurmEnv.start(root)
        try:
            assert second.node_state() == "idle"
            for proc in first._procs.values():
                proc.wait(timeout=20)  # ended by the second start (and reaped here)
            assert (root / "munge" / "munge.key").read_bytes() != old_key
            assert all(p.pid not in old_pids.values() for p in second._procs.values())
            job = second.sbatch("#!/bin/bash\ntrue\n", f"--output={tmp_path / 'x.out'}")
            assert second.wait_for_job(job) == "COMPLETED"
        finally:
            second.stop()
    finally:
        first._procs.clear()
    assert not root.exists()
    assert slurm.node_state() in {"idle", "mix", "alloc"}  # the session's instance is untouched


@pytest.mark.parametrize("ci, outcome", [("", "1 skipped"), ("true", "1 error")])
def test_slurm_fixture__skips_normally_but_fails_under_ci(tmp_path, ci, outcome):
    """Without SLURM (here: its programs hidden from PATH) the SLURM tests skip with the reason, and fail
    under CI=true."""
    import os
    import subprocess
    import sys

    test = f"{Path(__file__).resolve()}::test_sbatch__trivial_job_completes"
    env = {**os.environ, "PATH": str(tmp_path), "CI": ci, "GDBTOOLS_SLURM_ROOT": str(tmp_path / "slurm")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert outcome in proc.stdout, proc.stdout
    assert "SLURM/munge programs not found" in proc.stdout and "apt-get install" in proc.stdout
    if ci:
        assert proc.returncode != 0 and "CI=true" in proc.stdout
