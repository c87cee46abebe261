"""Clusters on this machine: ``local`` (CPU worker processes) and ``local-cuda`` (one worker per GPU).

Both listen on 127.0.0.1 only (scheduler, workers, dashboard) and, unless ``security: false``, require TLS
with temporary credentials (:mod:`.security`). Both refuse to start inside a worker's import of the user's
script (:mod:`.guard`).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .errors import ClusterError
from .guard import check_main_guard
from .network import LOCALHOST, dashboard_address
from .security import cluster_security

__all__ = ["local_cluster", "local_cuda_cluster", "cuda_problems"]


def _common(s: dict[str, Any]) -> dict[str, Any]:
    """Address, security and dashboard arguments shared by both kinds. ``dashboard-address: null`` turns the
    dashboard off; the scheduler's HTTP server (health, metrics) still starts, on a free port of 127.0.0.1."""
    security = cluster_security(s)
    # security None: distributed's Security() from the Dask config (plain TCP unless the site configures TLS)
    kwargs: dict[str, Any] = {"host": LOCALHOST, "dashboard_address": dashboard_address(s), "security": security}
    if s.get("dashboard-address") is None:
        kwargs["scheduler_kwargs"] = {"dashboard": False}
    return kwargs


def local_cluster(s: dict[str, Any], asynchronous: bool = False):
    """A :class:`distributed.LocalCluster` from the ``local`` settings."""
    from distributed import LocalCluster

    if s.get("processes", True):
        check_main_guard()
    common = _common(s)
    if not s.get("processes", True):  # threads of this process: in-process comms, nothing listens but HTTP
        common.pop("host")
        if common["security"] is not None and s.get("security") is True:
            common["security"] = None  # inproc:// cannot be reached from outside; TLS would make it tls://
    return LocalCluster(
        n_workers=s.get("n-workers"),
        threads_per_worker=s.get("threads-per-worker"),
        processes=bool(s.get("processes", True)),
        memory_limit=s.get("memory-limit", "auto"),
        local_directory=s.get("local-directory"),
        asynchronous=asynchronous,
        **common,
    )


def cuda_problems() -> list[str]:
    """Why ``local-cuda`` cannot start on this machine (empty when it can)."""
    problems = []
    for module, package in (("dask_cuda", "dask-cuda"), ("rmm", "rmm-cu12 / rmm-cu13"), ("cupy", "cupy-cuda12x")):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            problems.append(f"{package} is not importable ({exc})")
        except Exception as exc:  # CUDA libraries fail in many ways without a driver
            problems.append(f"importing {module} failed: {type(exc).__name__}: {exc}")
    try:
        import pynvml  # shipped as nvidia-ml-py, a dependency of dask-cuda
    except ImportError:
        problems.append("NVML is not available: pynvml (nvidia-ml-py) is not installed")
        return problems
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml raises NVMLError_* subclasses
        problems.append(f"NVML cannot be initialised ({exc}): no NVIDIA driver on this machine")
        return problems
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    if count == 0:
        problems.append("NVML sees no GPU")
    elif os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        problems.append(f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r} hides every GPU")
    return problems


def local_cuda_cluster(s: dict[str, Any], asynchronous: bool = False):
    """A :class:`dask_cuda.LocalCUDACluster`: one single-threaded worker per GPU, each with an RMM pool that
    CuPy allocates from (dask-cuda's ``rmm_allocator_external_lib_list=["cupy"]``, set up on every worker).
    """
    check_main_guard()
    problems = cuda_problems()
    if problems:
        raise ClusterError(
            "cluster kind 'local-cuda' cannot start here:\n  - " + "\n  - ".join(problems),
            fix="run on a GPU node with the NVIDIA driver and `pip install 'gdbtools[gpu]'` (dask-cuda, rmm and "
                "CuPy matching the CUDA version), or use kind='local' for CPU workers")
    common = _common(s)
    protocol = s.get("protocol")
    if common["security"] is not None:
        if protocol not in (None, "tcp", "tls"):
            raise ClusterError(f"protocol={protocol!r} cannot use TLS, which a secured cluster (the default) "
                               "requires", fix="use protocol tcp (TLS over TCP), or security=False / --insecure "
                                               "on a node no one else uses")
        protocol = "tls"
    from dask_cuda import LocalCUDACluster

    return LocalCUDACluster(
        CUDA_VISIBLE_DEVICES=s.get("cuda-visible-devices"),
        threads_per_worker=1,
        memory_limit=s.get("memory-limit", "auto"),
        rmm_pool_size=s.get("rmm-pool-size"),
        rmm_managed_memory=bool(s.get("rmm-managed-memory")),
        rmm_allocator_external_lib_list=["cupy"],
        protocol=protocol,
        local_directory=s.get("local-directory"),
        asynchronous=asynchronous,
        **common,
    )
