"""Dask workers as SLURM batch jobs (:class:`dask_jobqueue.SLURMCluster`), CPU or GPU.

A CPU job runs ``processes`` worker processes with ``cores / processes`` threads each. A GPU job
(``gpus > 0``) runs ``python -m dask_cuda.cli``, which starts one worker per GPU; dask-jobqueue passes
``--nthreads`` and ``--memory-limit`` for the whole job, so each is repeated in ``worker_extra_args`` per GPU
worker (one thread, ``memory / gpus``; the later value wins), together with the RMM pool and CuPy's allocator
routed into it. ``processes = gpus`` makes dask-jobqueue expect the worker names that dask-cuda gives
(``<name>-0`` ... ``<name>-<gpus-1>``), so ``scale(jobs=...)`` and ``adapt`` count the workers right.

Unless ``security: false``, the cluster uses TLS with temporary credentials (:mod:`.security`): dask-jobqueue
writes the workers' copy to files (0600) in ``security-directory`` (made 0700 here; it must be on a file system
the compute nodes share) for the job script's ``--tls-*`` options, and removes them when the cluster closes.
The scheduler listens on the address of ``interface`` or the one that routes to slurmctld (:mod:`.network`),
its dashboard on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from importlib.util import find_spec
from typing import Any

from .errors import ClusterError
from .network import dashboard_address, slurm_scheduler_host
from .security import cluster_security, private_directory, wants_tls

__all__ = ["job_kwargs", "job_script", "slurm_cluster", "check_submission", "SCHEDULER_PLACEHOLDER",
           "TLS_SCHEDULER_PLACEHOLDER", "CREDENTIAL_PLACEHOLDERS"]

#: stand for the scheduler address in :func:`job_script` (the real one exists once the cluster starts)
SCHEDULER_PLACEHOLDER = "tcp://<scheduler-address>:<port>"
TLS_SCHEDULER_PLACEHOLDER = "tls://<scheduler-address>:<port>"
#: stand for the names of the credential files in ``security-directory`` (made when the cluster starts)
CREDENTIAL_PLACEHOLDERS = {"ca_file": "<ca-file>", "cert": "<worker-cert>", "key": "<worker-key>"}


def _require_jobqueue() -> None:
    if find_spec("dask_jobqueue") is None:
        raise ClusterError("cluster kind 'slurm' needs dask-jobqueue, which is not installed",
                           fix="pip install 'gdbtools[slurm]'")


def job_kwargs(s: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``SLURMCluster``/``SLURMJob`` for the ``slurm`` settings ``s``."""
    from dask.utils import parse_bytes

    gpus = int(s.get("gpus") or 0)
    cores = int(s["cores"])
    directives = list(s.get("job-extra-directives") or [])
    extra_args = list(s.get("worker-extra-args") or [])
    kwargs: dict[str, Any] = dict(
        queue=s.get("queue"),
        account=s.get("account"),
        walltime=s.get("walltime"),
        cores=cores,
        memory=str(s["memory"]),
        processes=int(s.get("processes") or 1),
        interface=s.get("interface"),
        log_directory=os.path.abspath(os.path.expanduser(s["log-directory"])) if s.get("log-directory") else None,
        local_directory=s.get("local-directory"),
        job_name=s.get("job-name"),
        python=s.get("python"),
        death_timeout=s.get("death-timeout"),
        job_script_prologue=list(s.get("job-script-prologue") or []),
    )
    if gpus < 0:
        raise ClusterError(f"gpus={gpus}: the number of GPUs per job cannot be negative")
    if gpus > 0:
        if cores < gpus:
            raise ClusterError(f"cores={cores} < gpus={gpus}: a GPU job needs at least one CPU core per GPU",
                               fix=f"ask for cores={gpus} or more (one dask-cuda worker thread per GPU)")
        per_worker = parse_bytes(str(s["memory"])) // gpus
        kwargs["worker_command"] = "dask_cuda.cli"
        kwargs["processes"] = gpus
        directives.append(str(s.get("gpu-directive") or "--gres=gpu:{gpus}").format(gpus=gpus))
        extra_args += ["--nthreads", "1", "--memory-limit", str(per_worker)]
        if s.get("rmm-pool-size") not in (None, "", 0):
            extra_args += ["--rmm-pool-size", str(s["rmm-pool-size"])]
        extra_args += ["--set-rmm-allocator-for-libs", "cupy"]
    if not any(arg.startswith(("--dashboard-address", "--no-dashboard", "--dashboard")) for arg in extra_args):
        extra_args += ["--dashboard-address", "127.0.0.1:0"]  # a worker's dashboard (no login) stays on its node
    kwargs["job_extra_directives"] = directives
    kwargs["worker_extra_args"] = extra_args
    return kwargs


def job_script(s: dict[str, Any]) -> str:
    """The batch script each job of the cluster would submit, with :data:`SCHEDULER_PLACEHOLDER` for the
    scheduler address and dask-jobqueue's ``dummy-name`` for the worker name (as ``cluster.job_script()``).
    Needs neither SLURM nor a scheduler."""
    _require_jobqueue()
    from dask_jobqueue.slurm import SLURMJob

    kwargs = job_kwargs(s)
    address = SCHEDULER_PLACEHOLDER
    if wants_tls(s):
        from distributed.security import Security

        folder = _security_directory(s)
        names = {key: os.path.join(folder, name) for key, name in CREDENTIAL_PLACEHOLDERS.items()}
        address = TLS_SCHEDULER_PLACEHOLDER
        kwargs["protocol"] = "tls://"
        kwargs["security"] = Security(tls_ca_file=names["ca_file"], tls_worker_cert=names["cert"],
                                      tls_worker_key=names["key"], require_encryption=True)
    log_dir = kwargs.pop("log_directory")
    if log_dir is None:
        return SLURMJob(address, name="dummy-name", **kwargs).job_script()
    # dask-jobqueue creates the log directory when it builds a job; showing the script should not
    with tempfile.TemporaryDirectory(prefix="gdbtools-logs-") as tmp:
        script = SLURMJob(address, name="dummy-name", log_directory=tmp, **kwargs).job_script()
    return script.replace(f"{tmp}/", f"{log_dir}/")


def _security_directory(s: dict[str, Any]) -> str:
    return os.path.abspath(os.path.expandvars(os.path.expanduser(str(s.get("security-directory")
                                                                      or "~/.cache/gdbtools/dask-tls"))))


def check_submission(script: str) -> None:
    """Ask SLURM whether it would accept ``script`` (``sbatch --test-only``): a partition, account, GPU or
    memory request it cannot satisfy is reported now, rather than as a worker that never arrives."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="gdbtools-dask-") as f:
        f.write(script)
        f.flush()
        try:
            proc = subprocess.run(["sbatch", "--test-only", f.name], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise ClusterError("`sbatch --test-only` did not answer within 60 s: is slurmctld reachable?",
                               fix="check `sinfo` / `scontrol ping` on this node") from None
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()
        raise ClusterError(f"SLURM refuses the worker job: {message}",
                           where="sbatch --test-only",
                           fix="check queue/account/gpus/memory/walltime against `sinfo -o '%P %G %m %l'`; "
                               "`gdbtools cluster script` shows the job script")


def slurm_cluster(s: dict[str, Any], asynchronous: bool = False):
    """A started :class:`dask_jobqueue.SLURMCluster` (no jobs yet) from the ``slurm`` settings ``s``."""
    if shutil.which("sbatch") is None:
        raise ClusterError("cluster kind 'slurm' cannot start here: `sbatch` is not on PATH",
                           fix="run on a SLURM login node (or load the slurm module), or use kind='local'")
    _require_jobqueue()
    if int(s.get("gpus") or 0) > 0 and find_spec("dask_cuda") is None and not s.get("python"):
        raise ClusterError("GPU workers run `python -m dask_cuda.cli`, but dask-cuda is not installed in this "
                           "environment (which the jobs use)",
                           fix="pip install 'gdbtools[gpu]', or set python= to an interpreter that has it")
    kwargs = job_kwargs(s)
    if kwargs.get("interface"):  # checked here: dask-jobqueue reports it only as "Cluster failed to start"
        from distributed.utils import get_ip_interface

        try:
            get_ip_interface(kwargs["interface"])
        except ValueError as exc:
            raise ClusterError(f"interface={kwargs['interface']!r}: {exc}",
                               fix="name a network interface that this host and the compute nodes share "
                                   "(`ip -br addr`), e.g. ib0 or eth0; or leave interface unset") from None
    check_submission(job_script(s))
    scheduler_options = dict(s.get("scheduler-options") or {})
    scheduler_options.update(slurm_scheduler_host(s))
    if s.get("dashboard-address") is None:  # no dashboard; the scheduler's HTTP server on a free local port
        scheduler_options.setdefault("dashboard", False)
    scheduler_options.setdefault("dashboard_address", dashboard_address(s))
    security = cluster_security(s)
    secure: dict[str, Any] = {}
    if security is not None:
        secure = {"security": security, "shared_temp_directory": private_directory(_security_directory(s))}
    try:
        return _cluster_class()(scheduler_options=scheduler_options, asynchronous=asynchronous, **secure, **kwargs)
    except (ValueError, RuntimeError) as exc:
        raise ClusterError(f"the SLURM cluster's scheduler did not start: {exc}",
                           fix="check interface=, scheduler_options= and the port range this host allows") from None


_CLASS: list[type] = []


def _cluster_class() -> type:
    """dask-jobqueue's ``SLURMCluster`` that also removes the workers' credential files when it closes
    (dask-jobqueue keeps them, as open temporary files, until the cluster object is garbage-collected)."""
    if not _CLASS:
        from dask_jobqueue import SLURMCluster as Base

        class SLURMCluster(Base):  # same name: dask-jobqueue names the workers after the class
            async def _close(self) -> None:
                try:
                    await super()._close()
                finally:
                    for key in ("ca_file", "cert", "key"):
                        handle = getattr(self, f"_job_{key}", None)
                        if handle is not None:
                            with contextlib.suppress(OSError):
                                handle.close()

        _CLASS.append(SLURMCluster)
    return _CLASS[0]
