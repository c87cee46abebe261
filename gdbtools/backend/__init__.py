"""The backend seam: the one place that chooses the array module and the kernel implementation.

>>> import numpy as np
>>> from gdbtools.backend import get_backend
>>> from gdbtools.store.bitplanes import pack_codes, sample_mask
>>> lo, hi = pack_codes(np.array([[0, 1, 2, 3, 1]]))
>>> be = get_backend("numpy")
>>> be.variant_group_counts(lo, hi, sample_mask(np.ones((1, 5), bool)))[0, 0].tolist()  # het, hom-alt, missing
[2, 1, 1]
>>> be.hwe_exact(np.array([2]), np.array([1]), np.array([1])).p.round(4).tolist()
[1.0]
>>> be.fisher_exact(np.array([3]), np.array([1]), np.array([1]), np.array([3])).round(4).tolist()  # [[3, 1], [1, 3]]
[0.4857]

Backends (each has ``.name``, ``.xp`` and the same kernel methods with identical signatures and results):

- ``"numpy"``: the NumPy twins (:mod:`gdbtools.backend.twins`), the reference and the last resort;
- ``"host"``: the CUDA sources compiled as host C++ with OpenMP, built once and cached
  (:mod:`gdbtools.backend.kernels`);
- ``"cupy"``: the CUDA sources through NVRTC on the current GPU; arrays in and out are CuPy arrays;
- ``"auto"``: ``"cupy"`` when a CUDA device is usable, else ``"host"`` (measured several to tens of times
  faster than ``"numpy"``, see ``bench/bench_kernels.py``), else ``"numpy"``.  Each fallback warns with
  the reason (a GPU whose kernels do not compile, a missing C++ compiler); ``GDBTOOLS_REQUIRE_GPU=1``
  makes ``"auto"`` raise instead of leaving the GPU.

Statistics code asks for a backend and uses ``backend.xp``; nothing else in gdbtools tests for CuPy.
"""

from __future__ import annotations

import functools
import os
import warnings

# OpenMP threads (host kernels, numba) wait passively between parallel regions: the statistics call kernels
# back to back from a thread that also decodes blocks, and spinning threads starve it (measured 2.4x slower
# on 2 cores). Set before any OpenMP runtime loads; a value set by the user is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gdbtools.backend._base import Backend, HweResult, is_device_array
from gdbtools.errors import BackendError

__all__ = ["Backend", "HweResult", "BACKEND_NAMES", "get_backend", "available_backends", "hwe_exact_unique",
           "is_device_array", "default_host_backend"]

BACKEND_NAMES = ("numpy", "host", "cupy")


@functools.cache
def _make(name: str, n_threads: int | None) -> Backend:
    if name == "numpy":
        from gdbtools.backend.numpy_backend import NumpyBackend
        return NumpyBackend()
    if name == "host":
        from gdbtools.backend.host_backend import HostBackend
        return HostBackend(n_threads)
    if name == "cupy":
        from gdbtools.backend.cupy_backend import CupyBackend
        return CupyBackend()
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)} or 'auto'")


def get_backend(name: str = "auto", *, n_threads: int | None = None) -> Backend:
    """The backend called `name` (cached: one instance per process and name).

    Parameters
    ----------
    name : {"auto", "numpy", "host", "cupy"}
    n_threads : int, optional
        CPU threads per kernel call of the ``"host"`` backend (default: the CPUs available).

    Raises
    ------
    BackendError
        When the named backend cannot run here (no GPU, no C++ compiler, ...), with what to do about it.
    """
    if name != "auto":
        return _make(name, n_threads if name == "host" else None)
    from gdbtools.backend.cupy_backend import gpu_available
    require_gpu = os.environ.get("GDBTOOLS_REQUIRE_GPU", "") not in ("", "0")
    if gpu_available():
        try:
            return _make("cupy", None)
        except BackendError as exc:
            if require_gpu:
                raise
            warnings.warn(f"gdbtools: a GPU is present but the CuPy backend cannot run ({exc.message}); using "
                          "the host kernels. Set GDBTOOLS_REQUIRE_GPU=1 to make this an error.",
                          RuntimeWarning, stacklevel=2)
    elif require_gpu:
        raise BackendError("GDBTOOLS_REQUIRE_GPU is set but no CUDA device is usable here",
                           fix="run on a GPU node (check nvidia-smi and that CuPy is installed), or unset "
                               "GDBTOOLS_REQUIRE_GPU")
    try:
        return _make("host", n_threads)
    except BackendError as exc:
        warnings.warn(f"gdbtools: host kernels unavailable, using the slower NumPy backend ({exc.message})",
                      RuntimeWarning, stacklevel=2)
        return _make("numpy", None)


def available_backends() -> list[str]:
    """Names of the backends that can run here (building the host kernels if needed)."""
    names = []
    for name in BACKEND_NAMES:
        try:
            _make(name, None)
        except BackendError:
            continue
        names.append(name)
    return names


def hwe_exact_unique(n_het, n_hom1, n_hom2, *, backend: Backend | None = None) -> HweResult:
    """The HWE exact test computed once per distinct (canonical) triple and scattered back.

    Parameters
    ----------
    n_het, n_hom1, n_hom2 : (M,) integer
        On the backend's device.
    backend : Backend, optional
        Default: ``"cupy"`` for CuPy inputs, else ``get_backend("host")`` falling back to ``"numpy"``.

    Returns
    -------
    HweResult
        Four ``(M,) float64`` arrays (see :meth:`Backend.hwe_exact`).
    """
    if backend is None:
        backend = get_backend("cupy") if is_device_array(n_het) else default_host_backend()
    return backend.hwe_exact_unique(n_het, n_hom1, n_hom2)


def default_host_backend() -> Backend:
    """The ``"host"`` backend, or ``"numpy"`` where the host kernels cannot be built: where the small tests
    on host arrays (chrX HWE, Fisher's exact test) run by default."""
    try:
        return get_backend("host")
    except BackendError:
        return get_backend("numpy")
