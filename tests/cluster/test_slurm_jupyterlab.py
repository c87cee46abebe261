"""slurm/jupyterlab.sbatch on the test SLURM: the job log prints the tunnel command, the lab answers on the
node with the token from the private URL file (and refuses without it), and scancel stops it cleanly."""

from __future__ import annotations

import os
import pwd
import re
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
from jupyterlab_helpers import read_url_file

pytestmark = pytest.mark.slurm

SBATCH = Path(__file__).resolve().parents[2] / "slurm" / "jupyterlab.sbatch"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_jupyterlab_sbatch__prints_the_tunnel_and_serves_with_the_token(slurm_queue, tmp_path, monkeypatch):
    monkeypatch.setenv("GDB_ENV", sys.prefix)
    monkeypatch.setenv("GDB_JUPYTER_DIR", str(tmp_path / "urls"))
    monkeypatch.setenv("GDB_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("GDB_LOGIN_HOST", "login.example")
    log = tmp_path / "jupyter.out"
    extra = ["--allow-root"] if os.geteuid() == 0 else []
    job = slurm_queue.sbatch(SBATCH, "--cpus-per-task=1", "--mem=1G", f"--output={log}", args=extra)
    url_file = tmp_path / "urls" / f"jupyter-{job}.url"
    try:
        line = wait_for(lambda: log.exists() and re.search(r"tunnel: (.*)", log.read_text()), 120, "the tunnel line")
        tunnel = line.group(1)
        port = int(re.search(r"-L (\d+):127\.0\.0\.1:(\d+) ", tunnel).group(1))
        user = os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name
        assert tunnel == f"ssh -N -L {port}:127.0.0.1:{port} -J {user}@login.example {user}@{socket.gethostname()}"
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
        server = read_url_file(url_file)
        assert server.token not in log.read_text()  # the token stays out of the (often world-readable) log
        assert server.url == f"http://127.0.0.1:{port}"
        server.wait_ready(120)
        assert server.api("GET", "/api/status", token=False)[0] == 403
        assert server.api("GET", "/api/kernelspecs")[0] == 200
    finally:
        slurm_queue.run("scancel", str(job), check=False)
    slurm_queue.wait_for_job(job, timeout=60)
    wait_for(lambda: not url_file.exists(), 30, "the URL file to be removed")
    assert "stopping JupyterLab" in log.read_text()
