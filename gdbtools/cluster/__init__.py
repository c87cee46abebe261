"""Dask clients for gdbtools: on this machine's CPUs or GPUs, on SLURM jobs, or on a running scheduler.

The statistics run on whatever Dask client is current; this module only creates one::

    import gdbtools.cluster as gc
    client = gc.connect()                                # "local": worker processes on this machine
    client = gc.connect("local-cuda")                    # one worker per GPU, RMM pool, CuPy into RMM
    client = gc.connect("slurm", gpus=4, jobs=2, wait_for_workers=8)   # 2 GPU jobs, 4 workers each
    client = gc.connect("~/gdb-scheduler.json")          # a scheduler started elsewhere (its credentials)

    with gc.cluster("slurm", jobs=2) as client:           # closes the client, the cluster and its jobs
        ...

    print(gc.job_script("slurm", gpus=4))                # the exact batch script each job submits

Settings come from Dask's configuration under ``gdbtools.cluster`` (defaults in ``gdbtools.yaml`` next to
this file, documented there; user overrides in e.g. ``~/.config/dask/gdbtools.yaml``), and keyword arguments
override them for one call (``n_workers=...`` or ``n-workers``). ``gdbtools cluster config`` prints them.
Everything that stops a kind from starting raises :class:`ClusterError` (a
:class:`~gdbtools.errors.BackendError`) that says what is missing and what to do.

A started cluster belongs to its owner: TLS with temporary credentials (``security: true``, :mod:`.security`),
the scheduler on 127.0.0.1 (local kinds) or on the node's cluster-network address (slurm), the dashboard on
127.0.0.1 (:mod:`.network`). ``security=False`` (``--insecure``) gives plain TCP. Another process of the owner
connects through the scheduler file, which carries the credentials (:func:`write_scheduler_file`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from .config import KINDS, settings
from .errors import ClusterError
from .security import scheduler_file_security, write_scheduler_file

__all__ = ["connect", "cluster", "close", "new_cluster", "job_script", "settings", "write_scheduler_file",
           "ClusterError", "KINDS"]

_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://)?[\w.\-\[\]:]+:\d+$", re.IGNORECASE)


def _is_address(kind: str) -> bool:
    return "://" in kind or bool(_ADDRESS.match(kind)) or kind.endswith(".json")


def _resolve(kind: str | None) -> str:
    kind = kind or _config_kind()
    if kind not in KINDS and not _is_address(kind):
        raise ClusterError(f"unknown cluster kind {kind!r}",
                           fix="use one of local, local-cuda, slurm, a scheduler address like "
                               "tcp://host:8786, or a scheduler file (.json)")
    return kind


def _config_kind() -> str:
    import dask.config

    return str(dask.config.get("gdbtools.cluster.kind", "local"))


def connect(kind: str | None = None, *, quiet: bool = False, **overrides: Any):
    """Start (or reach) a Dask cluster and return a :class:`distributed.Client` on it.

    Parameters
    ----------
    kind
        ``"local"``, ``"local-cuda"``, ``"slurm"``, a scheduler address (``"tls://host:8786"``) or a
        scheduler file (``.json``, with the cluster's credentials when it uses TLS); default: the
        ``gdbtools.cluster.kind`` setting (``"local"``).
    quiet
        Do not print the scheduler address and dashboard link.
    **overrides
        Settings of this kind for this call, e.g. ``n_workers=4`` (local), ``gpus=4, jobs=2,
        walltime="02:00:00", interface="ib0"`` (slurm), ``security=False`` (no TLS: anyone who reaches the
        port can use the cluster), ``wait_for_workers=1, timeout="5 minutes"``,
        ``connect_timeout="10s"`` (for an address); see
        ``gdbtools cluster config``.

    The client owns the cluster it started: :func:`close` (or the :func:`cluster` context manager, or
    ``client.shutdown()``) stops both, and a SLURM cluster cancels its jobs. ``client.close()`` alone leaves
    the cluster running until this process exits.
    """
    kind = _resolve(kind)
    s = settings(kind if kind in KINDS else "address", overrides)
    if kind not in KINDS:
        return _connect_address(kind, s, quiet)
    cluster_ = _start(kind, s, asynchronous=False)
    client = None
    try:
        from distributed import Client

        client = Client(cluster_)
        if kind == "slurm":
            if s.get("adapt"):
                cluster_.adapt(minimum_jobs=int(s["minimum-jobs"]), maximum_jobs=int(s["maximum-jobs"]))
            else:
                cluster_.scale(jobs=int(s["jobs"]))
        client._gdbtools_cluster = cluster_  # type: ignore[attr-defined]  # ours, for close()
        if not quiet:
            print(_describe(kind, client, s), flush=True)
        _wait_for_workers(client, kind, s)
    except BaseException:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        cluster_.close()
        raise
    return client


def new_cluster(kind: str | None = None, *, asynchronous: bool = False, **overrides: Any):
    """The cluster object of ``kind`` (``local``, ``local-cuda`` or ``slurm``), without a client and without
    workers: the caller scales it (``cluster.scale(jobs=2)``, ``cluster.adapt(...)``).

    This is the factory for dask-labextension's "+ NEW" button (``labextension.factory``: module
    ``gdbtools.cluster``, class ``new_cluster``, args ``[slurm]``; see docs/SUPERCOMPUTER.md), which calls it
    with ``asynchronous=True`` and awaits the result.
    """
    kind = _resolve(kind)
    if kind not in KINDS:
        raise ClusterError(f"new_cluster starts a cluster; {kind!r} is an address: use connect({kind!r})")
    return _start(kind, settings(kind, overrides), asynchronous=asynchronous)


def _start(kind: str, s: dict[str, Any], asynchronous: bool):
    if kind == "local":
        from .local import local_cluster as start
    elif kind == "local-cuda":
        from .local import local_cuda_cluster as start
    else:
        from .slurm import slurm_cluster as start
    return start(s, asynchronous=asynchronous)


def _describe(kind: str, client, s: dict[str, Any]) -> str:
    address = client.scheduler.address
    how_safe = (" (TLS, temporary credentials: only this process and its workers hold them)"
                if address.startswith("tls://") else " (in this process only)" if address.startswith("inproc://")
                else " (INSECURE: no TLS, anyone who can reach this port can run code as you)")
    lines = [f"gdbtools: {kind} Dask cluster started; scheduler {address}{how_safe}"]
    if kind == "slurm":
        how = (f"adaptive, {s['minimum-jobs']}..{s['maximum-jobs']} jobs" if s.get("adapt")
               else f"{s['jobs']} job(s)")
        gpus = int(s.get("gpus") or 0)
        lines[0] += f"; {how} of {f'{gpus} GPU(s), ' if gpus else ''}{s['cores']} cores, {s['memory']}"
    if client.dashboard_link and s.get("dashboard-address") is not None:
        lines.append(f"gdbtools: Dask dashboard: {client.dashboard_link}")
        host, _, port = client.dashboard_link.split("://", 1)[-1].split("/", 1)[0].rpartition(":")
        if host in ("127.0.0.1", "localhost") and port:
            lines.append(f"gdbtools: the dashboard listens on this node only; from your computer: ssh -L "
                         f"{port}:127.0.0.1:{port} {_hostname()}, then open http://localhost:{port}/status "
                         f"(JupyterLab on this node: /proxy/{port}/status)")
    return "\n".join(lines)


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _wait_for_workers(client, kind: str, s: dict[str, Any]) -> None:
    n = int(s.get("wait-for-workers") or 0)
    if n <= 0:
        return
    from dask.utils import parse_timedelta

    timeout = parse_timedelta(s.get("timeout") or "10 minutes")
    try:
        client.wait_for_workers(n, timeout=timeout)
    except TimeoutError:
        have = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        hint = ""
        if kind == "slurm":
            log_dir = s.get("log-directory")
            hint = (f"; the jobs may still be queued (`squeue --me`) or failed: see their logs in "
                    f"{os.path.abspath(os.path.expanduser(log_dir)) if log_dir else 'the job output files'}")
        raise ClusterError(f"{have} of {n} Dask workers joined within {timeout:.0f} s{hint}",
                           fix="raise timeout=, lower wait_for_workers=, or check the worker logs") from None


def _connect_address(address: str, s: dict[str, Any], quiet: bool):
    from dask.utils import parse_timedelta
    from distributed import Client

    timeout = parse_timedelta(s.get("connect-timeout") or "30s")
    kwargs: dict[str, Any]
    if address.endswith(".json") and "://" not in address:
        address = os.path.expanduser(address)
        try:
            with open(address) as f:
                info = json.load(f)
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read the scheduler file: {exc}", file=address,
                               fix="start a cluster with `gdbtools cluster start --scheduler-file FILE`") from None
        kwargs = {"address": info.get("address"), "security": scheduler_file_security(info)}
        if kwargs["address"] is None:
            raise ClusterError("the scheduler file names no address", file=address,
                               fix="start a cluster with `gdbtools cluster start --scheduler-file FILE`")
    else:
        kwargs = {"address": address}
    given = s.get("security")
    if given is not None and not isinstance(given, bool):  # a distributed.security.Security for this address
        kwargs["security"] = given
    try:
        client = Client(timeout=timeout, **kwargs)
    except TypeError as exc:  # distributed: "TLS expects a `ssl_context` argument" (no credentials)
        raise ClusterError(f"the Dask scheduler at {address} requires TLS, and this process has no credentials "
                           f"for it ({exc})",
                           fix="connect through the cluster's scheduler file (`gdbtools cluster start "
                               "--scheduler-file FILE`, then gdbtools.cluster.connect(FILE))") from None
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:.0f} s "
                           f"({type(exc).__name__}: {exc})",
                           fix="check the address printed by `gdbtools cluster start` (or its scheduler file), "
                               "that the scheduler still runs, and that this host can reach it") from None
    if not quiet:
        print(f"gdbtools: connected to the Dask scheduler {client.scheduler.address}\n"
              f"gdbtools: Dask dashboard: {client.dashboard_link}", flush=True)
    _wait_for_workers(client, "address", s)
    return client


def close(client) -> None:
    """Close ``client`` and, when :func:`connect` started its cluster, the cluster too (SLURM jobs are
    cancelled). A scheduler reached by address is left running."""
    owned = getattr(client, "_gdbtools_cluster", None)
    with contextlib.suppress(Exception):
        client.close()
    if owned is not None:
        owned.close()


@contextlib.contextmanager
def cluster(kind: str | None = None, **overrides: Any) -> Iterator[Any]:
    """:func:`connect` as a context manager: the client is current inside the block, and the client, the
    cluster and any SLURM jobs are gone after it (even on error or Ctrl-C).

    >>> with cluster("local", n_workers=2, dashboard_address=None, quiet=True) as client:  # doctest: +SKIP
    ...     total = client.submit(sum, [1, 2, 3]).result()
    """
    client = connect(kind, **overrides)
    try:
        with client.as_current():
            yield client
    finally:
        close(client)


def job_script(kind: str = "slurm", **overrides: Any) -> str:
    """The batch script that each job of ``connect(kind, **overrides)`` submits.

    Identical to the started cluster's ``cluster.job_script()`` except that the scheduler address, unknown
    until it starts, reads ``tls://<scheduler-address>:<port>`` (``tcp://`` with ``security=False``), and the
    workers' credential files ``<ca-file>``, ``<worker-cert>``, ``<worker-key>`` in ``security-directory``.
    Needs neither SLURM nor a scheduler.

    >>> print(job_script("slurm", gpus=2, cores=8))          # doctest: +SKIP
    #!/usr/bin/env bash
    #SBATCH -J gdbtools-dask
    ...
    #SBATCH --gres=gpu:2
    ... -m dask_cuda.cli tls://<scheduler-address>:<port> ... --nthreads 1 --memory-limit 8589934592 ...
    """
    if kind != "slurm":
        raise ClusterError(f"cluster kind {kind!r} submits no job script; only 'slurm' does")
    from .slurm import job_script as _job_script

    return _job_script(settings("slurm", overrides))
