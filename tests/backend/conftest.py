"""Fixtures of the backend tests: every backend present, an isolated kernel cache, random cohorts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from backend_oracles import CI

from gdbtools.backend import get_backend
from gdbtools.backend.cupy_backend import gpu_available
from gdbtools.errors import BackendError


@pytest.fixture(scope="session", autouse=True)
def _isolated_kernel_cache(tmp_path_factory):
    """Build the host kernels into a fresh cache, never the user's (the build takes ~2 s)."""
    old = os.environ.get("GDBTOOLS_CACHE")
    os.environ["GDBTOOLS_CACHE"] = str(tmp_path_factory.mktemp("gdbtools-cache"))
    yield
    if old is None:
        os.environ.pop("GDBTOOLS_CACHE", None)
    else:
        os.environ["GDBTOOLS_CACHE"] = old


@pytest.fixture(params=["numpy", "host", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    """Each backend in turn: numpy, host (a failure under CI=true), cupy (skipped without a GPU; with one, a
    CuPy backend that cannot start is a failure, never a skip)."""
    name = request.param
    if name == "cupy" and not gpu_available():
        pytest.skip("no CUDA device")
    try:
        return get_backend(name)
    except BackendError as exc:
        if CI or name == "cupy":
            raise
        pytest.skip(f"{name} backend unavailable: {exc.message}")


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
