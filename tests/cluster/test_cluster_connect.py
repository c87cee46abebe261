"""gdbtools.cluster: settings, job scripts, the clusters that start here, and the errors of those that cannot."""

from __future__ import annotations

import re
import socket
import subprocess
import time

import dask
import dask.array as da
import dask.config
import pytest
import yaml

import gdbtools.cluster as gc
import gdbtools.cluster.local
import gdbtools.cluster.slurm  # noqa: F401 - the tests patch and call into the submodules
from gdbtools.errors import BackendError, GdbError

FAST = {"dashboard_address": None, "quiet": True}


# --- settings ------------------------------------------------------------------------------------------------

def test_settings__defaults_are_shipped_and_documented():
    shipped = yaml.safe_load(gc.config.DEFAULTS_FILE.read_text())["gdbtools"]["cluster"]
    s = gc.settings("slurm")
    assert s["gpus"] == shipped["slurm"]["gpus"] == 0
    assert s["gpu-directive"] == "--gres=gpu:{gpus}"
    assert set(gc.KINDS) <= set(shipped)
    # every key carries a comment in the shipped file
    for line in gc.config.DEFAULTS_FILE.read_text().splitlines():
        if re.match(r"^\s{6}[a-z-]+:\s*\S", line):
            assert "#" in line, f"undocumented default: {line.strip()}"


def test_settings__user_config_then_call_overrides(tmp_path):
    (tmp_path / "gdbtools.yaml").write_text("gdbtools:\n  cluster:\n    slurm:\n      queue: gpu\n      cores: 16\n")
    dask.config.refresh(paths=[str(tmp_path)])  # as ~/.config/dask/gdbtools.yaml would be read
    assert gc.settings("slurm")["queue"] == "gpu"
    assert gc.settings("slurm")["walltime"] == "01:00:00"  # untouched defaults stay
    s = gc.settings("slurm", {"cores": 32, "job_name": "x"})
    assert (s["queue"], s["cores"], s["job-name"]) == ("gpu", 32, "x")
    with dask.config.set({"gdbtools.cluster.slurm.queue": "debug"}):
        assert gc.settings("slurm")["queue"] == "debug"


def test_settings__unknown_override_names_the_valid_ones():
    with pytest.raises(TypeError, match=r"gpus: not a setting of cluster kind 'local'.*n_workers"):
        gc.connect("local", gpus=2)


# --- job scripts ---------------------------------------------------------------------------------------------

def test_job_script__cpu_job_has_no_gpu_directives():
    script = gc.job_script("slurm", cores=8, memory="32GiB", walltime="02:00:00", queue="cpu", account="proj")
    assert script.startswith("#!/usr/bin/env bash\n")
    for line in ("#SBATCH -p cpu", "#SBATCH -A proj", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G",
                 "#SBATCH -t 02:00:00"):
        assert line in script
    assert "gres" not in script and "dask_cuda" not in script
    assert "-m distributed.cli.dask_worker tls://<scheduler-address>:<port>" in script
    assert "--nthreads 8 --memory-limit 32.00GiB" in script
    folder = gc.slurm._security_directory(gc.settings("slurm"))
    assert (f"--protocol tls:// --tls-ca-file {folder}/<ca-file> --tls-cert {folder}/<worker-cert> "
            f"--tls-key {folder}/<worker-key>") in script


def test_job_script__insecure_has_no_tls():
    script = gc.job_script("slurm", security=False)
    assert "-m distributed.cli.dask_worker tcp://<scheduler-address>:<port>" in script
    assert "--tls" not in script and "tls://" not in script


def test_job_script__gpu_job_has_gpu_directives_and_one_thread_per_worker():
    script = gc.job_script("slurm", gpus=4, cores=16, memory="256GiB", interface="ib0", rmm_pool_size="30GB")
    assert "#SBATCH --gres=gpu:4" in script
    assert "#SBATCH --cpus-per-task=16" in script
    command = script.strip().splitlines()[-1]
    assert " -m dask_cuda.cli tls://<scheduler-address>:<port> " in command
    # dask-jobqueue's job-wide values come first; the per-GPU-worker ones after them win (click: last wins)
    args = command.split()
    last = {opt: args[len(args) - 1 - args[::-1].index(opt) + 1] for opt in ("--nthreads", "--memory-limit")}
    assert last == {"--nthreads": "1", "--memory-limit": str(64 * 2**30)}
    assert "--rmm-pool-size 30GB" in command and "--set-rmm-allocator-for-libs cupy" in command
    assert "--interface ib0" in command and "--nanny" not in command


def test_job_script__gpu_directive_follows_the_site():
    script = gc.job_script("slurm", gpus=2, gpu_directive="--gpus-per-node=a100:{gpus}",
                           job_extra_directives=["--constraint=nvlink"])
    assert "#SBATCH --gpus-per-node=a100:2" in script and "--gres" not in script
    assert "#SBATCH --constraint=nvlink" in script


def test_job_script__needs_a_core_per_gpu():
    with pytest.raises(gc.ClusterError, match="cores=2 < gpus=4"):
        gc.job_script("slurm", gpus=4, cores=2)


def test_job_script__creates_no_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = gc.job_script("slurm", log_directory="logs")
    assert f"#SBATCH -o {tmp_path}/logs/gdbtools-dask-%J.out" in script
    assert not (tmp_path / "logs").exists()


def test_job_script__only_slurm():
    with pytest.raises(gc.ClusterError, match="only 'slurm'"):
        gc.job_script("local")


# --- kinds that cannot start here -----------------------------------------------------------------------------

def test_connect__local_cuda_without_gpu_raises_backend_error():
    problems = gc.local.cuda_problems()
    if not problems:
        pytest.skip("this machine can run local-cuda")
    with pytest.raises(BackendError) as info:
        gc.connect("local-cuda", **FAST)
    message = str(info.value)
    assert "cluster kind 'local-cuda' cannot start here" in message
    assert any(word in message for word in ("dask-cuda", "NVML", "GPU"))
    assert "use kind='local'" in message  # says what to do instead


def test_connect__bad_address_raises_cluster_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(gc.ClusterError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        gc.connect(f"tcp://127.0.0.1:{port}", connect_timeout="2s", quiet=True)
    assert time.monotonic() - start < 30


def test_connect__bad_scheduler_file_raises_cluster_error(tmp_path):
    with pytest.raises(gc.ClusterError, match="cannot read the scheduler file"):
        gc.connect(str(tmp_path / "missing.json"), quiet=True)


def test_connect__unknown_kind():
    with pytest.raises(GdbError, match="unknown cluster kind 'slrum'"):
        gc.connect("slrum")


def test_connect__local_cluster_computes():
    with gc.cluster("local", n_workers=1, threads_per_worker=2, **FAST) as client:
        x = da.arange(100_000, chunks=10_000)
        assert client.compute(x.sum()).result() == 100_000 * 99_999 // 2
        assert len(client.scheduler_info()["workers"]) == 1
    assert client.status == "closed"


def test_connect__prints_dashboard_link(capsys):
    with gc.cluster("local", n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        assert client.dashboard_link
    out = capsys.readouterr().out
    assert "gdbtools: local Dask cluster started; scheduler tls://127.0.0.1:" in out
    assert f"Dask dashboard: {client.dashboard_link}" in out
    assert client.dashboard_link.startswith("http://127.0.0.1:")
    port = client.dashboard_link.split(":")[2].split("/")[0]
    assert f"ssh -L {port}:127.0.0.1:{port} " in out


def test_connect__slurm_without_sbatch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gc.ClusterError, match="`sbatch` is not on PATH"):
        gc.connect("slurm", **FAST)


SLURM_TEST_SETTINGS = dict(cores=1, memory="1GiB", walltime="00:10:00", interface="lo", wait_for_workers=1,
                           timeout="120s", dashboard_address=":0")


def _wait_for_empty_queue(slurm, timeout=60):
    deadline = time.monotonic() + timeout
    while slurm.queue():
        assert time.monotonic() < deadline, f"jobs still queued after the cluster closed: {slurm.queue()}"
        time.sleep(0.2)


@pytest.mark.slurm
def test_cluster__context_manager_cancels_its_jobs(slurm_queue, tmp_path):
    settings = dict(SLURM_TEST_SETTINGS, log_directory=str(tmp_path), jobs=2, wait_for_workers=2)
    with gc.cluster("slurm", quiet=True, **settings) as client:
        assert len(slurm_queue.queue()) == 2
        assert client.submit(lambda x: x + 1, 41).result() == 42
    _wait_for_empty_queue(slurm_queue)
    assert client.status == "closed"
    assert sorted(p.name.rsplit(".", 1)[1] for p in tmp_path.iterdir()) == ["err", "err", "out", "out"]


@pytest.mark.slurm
def test_connect__slurm_refuses_gpus_the_cluster_lacks(slurm_queue, tmp_path, monkeypatch):
    monkeypatch.setattr(gc.slurm, "find_spec", lambda name: object())  # as if dask-cuda were installed
    with pytest.raises(gc.ClusterError, match="SLURM refuses the worker job") as info:
        gc.connect("slurm", gpus=1, cores=1, memory="1GiB", interface="lo", log_directory=str(tmp_path), **FAST)
    assert "gres" in str(info.value).lower() or "not available" in str(info.value)


@pytest.mark.slurm
@pytest.mark.parametrize("setting, message", [
    ({"interface": "ib9"}, "interface='ib9': 'ib9' is not a valid network interface"),
    ({"queue": "no-such-partition"}, "SLURM refuses the worker job"),
    ({"cores": 4096}, "Requested node configuration is not available"),
])
def test_connect__slurm_refuses_what_cannot_run(slurm_queue, tmp_path, setting, message):
    settings = dict(cores=1, memory="1GiB", interface="lo", log_directory=str(tmp_path), **FAST)
    with pytest.raises(gc.ClusterError, match=re.escape(message)):
        gc.connect("slurm", **{**settings, **setting})
    assert not slurm_queue.queue()


@pytest.mark.slurm
def test_connect__slurm_reports_workers_that_never_come(slurm_queue, tmp_path):
    with pytest.raises(gc.ClusterError, match=r"0 of 1 Dask workers joined within 1 s.*job") as info:
        gc.connect("slurm", jobs=0, cores=1, memory="1GiB", interface="lo", log_directory=str(tmp_path),
                   wait_for_workers=1, timeout="1s", **FAST)
    assert str(tmp_path) in str(info.value)


@pytest.mark.slurm
def test_slurm__visible_to_subprocesses(slurm):
    """dask-jobqueue calls sbatch/scancel as subprocesses: they must find this SLURM (SLURM_CONF)."""
    out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] in {"idle", "mix", "alloc"}


@pytest.mark.parametrize("kind", ["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def test_new_cluster__works_as_the_dask_labextension_factory(kind, request, tmp_path):
    """JupyterLab's Dask panel ("+ NEW") builds clusters through labextension.factory = gdbtools.cluster
    .new_cluster (docs/SUPERCOMPUTER.md): asynchronously, then scaled to `workers`."""
    import asyncio

    from distributed import Client

    manager = pytest.importorskip("dask_labextension.manager")
    kwargs = {"dashboard-address": None, "processes": False} if kind == "local" else dict(
        cores=1, memory="1GiB", interface="lo", log_directory=str(tmp_path), dashboard_address=None)
    slurm = request.getfixturevalue("slurm_queue") if kind == "slurm" else None

    async def run():
        factory = {"module": "gdbtools.cluster", "class": "new_cluster", "args": [kind], "kwargs": kwargs}
        with dask.config.set({"labextension.factory": factory}):
            cluster, _ = await manager.make_cluster({"workers": 1})
        try:
            async with Client(cluster, asynchronous=True) as client:
                await client.wait_for_workers(1, timeout=60)
                assert await client.submit(lambda: 6 * 7) == 42
        finally:
            await cluster.close()

    asyncio.run(run())
    if slurm is not None:
        _wait_for_empty_queue(slurm)
