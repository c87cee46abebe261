"""Fixtures of the backend tests: every backend present, an isolated kernel cache, random cohorts."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import backend_or_skip


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
    return backend_or_skip(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
