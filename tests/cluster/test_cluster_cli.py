"""`gdbtools cluster script | start | config`."""

from __future__ import annotations

import contextlib
import gc as gc_module
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml
from click.testing import CliRunner

from gdbtools.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", [("cluster",), ("cluster", "script"), ("cluster", "start"),
                                     ("cluster", "config")])
def test_cli__help_shows_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and "gdbtools cluster" in result.output


def test_cli__script_prints_the_gpu_job_script():
    result = invoke("cluster", "script", "--gpus", "2", "--cores", "8", "--memory", "64GiB", "-p", "gpu",
                    "-o", "job_extra_directives=[--exclusive]", "-o", "walltime=02:00:00")
    assert result.exit_code == 0, result.output
    script = result.output
    assert script.startswith("#!/usr/bin/env bash")
    for line in ("#SBATCH --gres=gpu:2", "#SBATCH -p gpu", "#SBATCH --exclusive", "#SBATCH -t 02:00:00",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64G"):
        assert line in script
    assert "-m dask_cuda.cli" in script


def test_cli__script_rejects_unknown_settings():
    result = invoke("cluster", "script", "-o", "bogus=1")
    assert result.exit_code == 2
    assert "bogus: not a setting" in result.output


def test_cli__config_prints_the_settings():
    result = invoke("cluster", "config")
    assert result.exit_code == 0
    config = yaml.safe_load(result.output)["gdbtools"]["cluster"]
    assert config["kind"] == "local" and config["slurm"]["gpus"] == 0


def test_cli__start_local_cuda_fails_without_traceback():
    result = CliRunner().invoke(main, ["cluster", "start", "--kind", "local-cuda"])
    assert result.exit_code == 2
    assert "error: cluster kind 'local-cuda' cannot start here" in result.output
    assert "Traceback" not in result.output


def test_cli__start_slurm_options_need_slurm():
    result = invoke("cluster", "start", "--kind", "local", "--gpus", "2")
    assert result.exit_code == 2 and "only apply to --kind slurm" in result.output


def test_cli__start_runs_until_interrupted(tmp_path):
    """`gdbtools cluster start` prints the address, serves clients, and stops cleanly on Ctrl-C (SIGINT)."""
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    with _cluster_cli("-o", "dashboard_address=':0'", "--scheduler-file", str(sched_file)) as text:
        assert "scheduler tls://127.0.0.1:" in text and "Dask dashboard: http://127.0.0.1:" in text
        address = text.split("scheduler ", 1)[1].split(";")[0].split()[0]
        assert sched_file.stat().st_mode & 0o777 == 0o600  # it holds the credentials
        with pytest.raises((OSError, TimeoutError, TypeError)):  # the address alone is not enough
            Client(address, timeout="5s")
        gc_module.collect()  # the half-made Client now, not inside the next Client's start (a distributed deadlock)
        import gdbtools.cluster as gc

        client = gc.connect(str(sched_file), connect_timeout="20s", quiet=True)  # the scheduler file is
        assert client.scheduler.address == address
        assert client.submit(lambda: 6 * 7).result() == 42
        client.close()


def test_cli__start_insecure_serves_plain_tcp(tmp_path):
    """--insecure: plain TCP, any client that reaches the port connects (still on 127.0.0.1 only)."""
    from distributed import Client

    with _cluster_cli("--insecure") as text:
        assert "scheduler tcp://127.0.0.1:" in text and "INSECURE" in text
        address = text.split("scheduler ", 1)[1].split(";")[0].split()[0]
        with Client(address, timeout="20s") as client:
            assert client.submit(lambda: 6 * 7).result() == 42


def test_cli__config_and_script_show_the_security_choice():
    config = yaml.safe_load(invoke("cluster", "config").output)["gdbtools"]["cluster"]
    assert config["security"] is True and config["dashboard-address"].startswith("127.0.0.1:")
    secure = invoke("cluster", "script").output
    insecure = invoke("cluster", "script", "--insecure").output
    assert "tls://<scheduler-address>:<port>" in secure and "--tls-key" in secure
    assert "tcp://<scheduler-address>:<port>" in insecure and "--tls" not in insecure


@contextlib.contextmanager
def _cluster_cli(*args: str) -> Iterator[str]:
    """`gdbtools cluster start --kind local` with one worker thread and `args`, running while the block runs;
    yields what it printed up to "Ctrl-C stops the cluster" (within 90 s). On leaving, Ctrl-C (SIGINT) must
    stop it with status 0; it is killed if anything failed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gdbtools.cli import main; main()", "cluster", "start", "--kind", "local",
         "-o", "n_workers=1", "-o", "threads_per_worker=1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while not any("Ctrl-C stops the cluster" in line for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            lines.append(proc.stdout.readline())
        yield "".join(lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
