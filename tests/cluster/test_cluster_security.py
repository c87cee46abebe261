"""A cluster only its owner can use (issue 9): with the default settings, local and SLURM clusters require TLS
with temporary credentials, listen on private addresses only, and serve the owner's gdbtools computations;
a script that starts a local cluster without the main guard fails at once with the fix.
"""

from __future__ import annotations

import gc as pygc
import ipaddress
import os
import socket
import ssl
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pandas as pd
import psutil
import pytest
from distributed import Client
from distributed.security import Security

import gdbtools as gdb
import gdbtools.cluster as gc
import gdbtools.cluster.slurm
from gdbtools.runtime import current_client

REPO = Path(__file__).resolve().parents[2]
REFUSED = (OSError, TimeoutError, TypeError)  # CommClosedError is an OSError; TypeError: no TLS context


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
    return host.strip("[]"), int(port)


def _listeners(pids) -> set[tuple[str, int]]:
    """(address, port) of every listening inet socket of the processes ``pids``."""
    out = set()
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        out |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return out


def _cluster_processes(client) -> list[int]:
    """This process (scheduler, nannies) and the cluster's worker processes (not the test SLURM's daemons,
    which are children of this process too)."""
    return [os.getpid(), *client.run(os.getpid).values()]


def _assert_refuses_strangers(client) -> None:
    """(a) a client without the cluster's credentials cannot connect, however it tries."""
    address = client.scheduler.address
    assert address.startswith("tls://")
    host, port = _host_port(address)
    attempts = {
        "plain tcp://": (f"tcp://{host}:{port}", None),
        "tls:// without credentials": (address, None),
        "tls:// trusting the cluster's CA, without its client certificate":
            (address, Security(tls_ca_file=client.security.tls_ca_file, require_encryption=True)),
        "tls:// with other temporary credentials": (address, Security.temporary()),
    }
    for what, (addr, security) in attempts.items():
        start = time.monotonic()
        with pytest.raises(REFUSED):
            Client(addr, security=security, timeout="5s")
            pytest.fail(f"{what}: a stranger's client connected")
        assert time.monotonic() - start < 30, what
        # the half-made Client must be collected now: collected later, inside the next Client's start, its
        # __del__ waits for the loop lock that start holds (a deadlock in distributed 2026.7)
        pygc.collect()
    # below Dask: a TLS handshake that offers no client certificate is cut off by the scheduler
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 8)
                if tls.recv(1) == b"":
                    raise ConnectionResetError("closed by the scheduler")


def _assert_private(client, scheduler_host: str, pids) -> None:
    """(b) the scheduler on ``scheduler_host``, the dashboard on 127.0.0.1, and no listener of ``pids`` on a
    wildcard or public address."""
    host, port = _host_port(client.scheduler.address)
    assert host == scheduler_host
    dash_host, dash_port = _host_port(client.dashboard_link)
    assert dash_host == "127.0.0.1"
    listening = _listeners(pids)
    assert (scheduler_host, port) in listening and ("127.0.0.1", dash_port) in listening, listening
    for ip, lport in listening:
        assert ip not in ("0.0.0.0", "::"), f"{ip}:{lport} listens on every interface"
        assert ipaddress.ip_address(ip).is_loopback or ip == scheduler_host, f"{ip}:{lport} is public"


def _freq(store):
    return gdb.open(store).freq(by=["population"])


# --- local --------------------------------------------------------------------------------------------------

def test_local__defaults_admit_only_the_owner(small_store):
    expected = _freq(small_store.path)  # no cluster: computed in this process
    with gc.cluster("local", n_workers=2, threads_per_worker=1, quiet=True) as client:
        assert current_client() is client  # gdbtools finds the secured client
        _assert_refuses_strangers(client)
        pids = _cluster_processes(client)
        assert len(set(pids)) == 3  # the worker processes are checked too
        _assert_private(client, "127.0.0.1", pids)
        # (c) the owner's gdbtools computation runs on the workers
        result = _freq(small_store.path)
    pd.testing.assert_frame_equal(result, expected)


def test_local__scheduler_file_hands_the_credentials_to_the_owner_only(tmp_path):
    with gc.cluster("local", n_workers=1, threads_per_worker=1, dashboard_address=None, quiet=True) as client:
        path = tmp_path / "scheduler.json"
        gc.write_scheduler_file(client, str(path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        other = gc.connect(str(path), quiet=True)
        try:
            assert other.submit(lambda: 6 * 7).result() == 42
        finally:
            other.close()


def test_local__connect_to_a_tls_address_without_credentials_names_the_scheduler_file():
    with gc.cluster("local", n_workers=1, threads_per_worker=1, dashboard_address=None, quiet=True) as client:
        with pytest.raises(gc.ClusterError, match=r"(?s)requires TLS.*--scheduler-file"):
            gc.connect(client.scheduler.address, connect_timeout="5s", quiet=True)


def test_local__insecure_is_plain_tcp_on_localhost():
    with gc.cluster("local", n_workers=1, threads_per_worker=1, security=False, quiet=True) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        with Client(client.scheduler.address, timeout="10s") as anyone:
            assert anyone.submit(lambda: 6 * 7).result() == 42


# --- slurm --------------------------------------------------------------------------------------------------

@pytest.mark.slurm
def test_slurm__defaults_admit_only_the_owner(slurm_queue, small_store, tmp_path):
    from gdbtools.cluster.network import route_address, slurm_controller

    expected = _freq(small_store.path)
    folder = Path(gc.slurm._security_directory(gc.settings("slurm")))
    # the test SLURM is small: only the job's size differs from the defaults
    with gc.cluster("slurm", cores=1, memory="1GiB", walltime="00:10:00", log_directory=str(tmp_path),
                    wait_for_workers=1, timeout="120s", quiet=True) as client:
        assert current_client() is client
        # the scheduler listens on this node's address towards slurmctld, not on every interface
        controller = slurm_controller()
        assert controller is not None
        _assert_private(client, route_address(controller), [os.getpid()])
        _assert_refuses_strangers(client)
        # the workers' credentials: owner-only files, named in the job script
        script = client.cluster.job_script()
        files = [Path(script.split(f"--tls-{opt} ", 1)[1].split()[0]) for opt in ("ca-file", "cert", "key")]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for f in files:
            assert f.parent == folder and stat.S_IMODE(f.stat().st_mode) == 0o600
        # (c) the owner's gdbtools computation runs on the SLURM worker
        workers = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
        assert all(workers.values()), workers
        assert "--dashboard-address 127.0.0.1:0" in script
        for info in client.scheduler_info()["workers"].values():  # the worker's own dashboard stays local
            assert ("127.0.0.1", info["services"]["dashboard"]) in _listeners(client.run(os.getpid).values())
        result = _freq(small_store.path)
    pd.testing.assert_frame_equal(result, expected)
    assert not any(f.exists() for f in files)  # removed with the cluster
    deadline = time.monotonic() + 60
    while slurm_queue.queue():
        assert time.monotonic() < deadline, f"jobs still queued after the cluster closed: {slurm_queue.queue()}"
        time.sleep(0.2)


# --- the main guard -----------------------------------------------------------------------------------------

def _run_script(tmp_path, source: str, timeout=120):
    """Run ``source`` as a script (python script.py) with this checkout first on the path; returns the
    completed process and the pids that still carry its marker afterwards (orphans)."""
    script = tmp_path / "analysis.py"
    script.write_text(textwrap.dedent(source))
    marker = uuid.uuid4().hex
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GDB_TEST_MARKER": marker}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=tmp_path)
    elapsed = time.monotonic() - start
    time.sleep(1)
    orphans = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("GDB_TEST_MARKER") == marker:
                orphans.append(p.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return proc, elapsed, orphans, script


def test_main_guard__unguarded_script_fails_fast_naming_the_fix(tmp_path):
    proc, elapsed, orphans, script = _run_script(tmp_path, """\
        import gdbtools.cluster as gc

        client = gc.connect("local", n_workers=1, threads_per_worker=1, quiet=True)
        print("computed", client.submit(sum, [1, 2]).result())
        """)
    assert proc.returncode != 0 and "computed" not in proc.stdout
    assert elapsed < 60
    assert f"{script}: line 3:" in proc.stderr
    assert 'if __name__ == "__main__":' in proc.stderr
    assert not orphans, f"processes left behind: {orphans}"


def test_main_guard__guarded_script_runs(tmp_path):
    proc, _, orphans, _ = _run_script(tmp_path, """\
        import gdbtools.cluster as gc

        if __name__ == "__main__":
            with gc.cluster("local", n_workers=1, threads_per_worker=1, quiet=True) as client:
                print("computed", client.submit(sum, [1, 2]).result())
        """)
    assert proc.returncode == 0, proc.stderr
    assert "computed 3" in proc.stdout
    assert not orphans


def test_main_guard__a_worker_importing_the_script_stops_at_once(tmp_path):
    """The backstop in the child: a spawned process that imports the script reaches the check and raises."""
    proc, _, orphans, _ = _run_script(tmp_path, """\
        import multiprocessing

        from gdbtools.cluster.guard import check_main_guard
        from gdbtools.errors import GdbError

        try:
            check_main_guard()
        except GdbError as exc:
            print(multiprocessing.current_process().name, "|", str(exc).splitlines()[0], flush=True)

        def work():
            pass

        if __name__ == "__main__":
            child = multiprocessing.get_context("spawn").Process(target=work)
            child.start()
            child.join()
        """)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" | ", 1) for line in proc.stdout.splitlines())
    assert "started at the top level of the script without a main guard" in lines["MainProcess"]
    assert "a Dask worker process, importing your script again" in lines["SpawnProcess-1"]
    assert not orphans
