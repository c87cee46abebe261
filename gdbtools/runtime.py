"""Process-wide set-up shared by every layer: numba's compile cache and the current Dask client.

Below every other module (like :mod:`gdbtools.errors`): it imports nothing of gdbtools.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

__all__ = ["cache_root", "import_numba", "current_client"]


def cache_root() -> str:
    """``$GDBTOOLS_CACHE`` or ``~/.cache/gdbtools``: compiled kernels and numba's cache live below it."""
    return os.environ.get("GDBTOOLS_CACHE", os.path.expanduser("~/.cache/gdbtools"))


def import_numba() -> ModuleType:
    """Import numba with its on-disk cache usable.

    numba caches compiled functions next to their module; when the install is read-only (a shared conda
    environment) the cache goes to ``<cache_root()>/numba`` instead.  An explicit ``NUMBA_CACHE_DIR`` wins.
    Must run before numba is first imported, so every numba module of gdbtools imports it through here.
    """
    if "NUMBA_CACHE_DIR" not in os.environ and not os.access(os.path.dirname(__file__), os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(cache_root(), "numba")
    import numba

    return numba


def current_client() -> Any:
    """The current Dask ``distributed`` client, or ``None`` (never starts one).

    A client exists only once ``distributed`` has been imported, so a process that never imported it gets
    ``None`` without paying for the import (about 0.5 s: the cold start of every command).
    """
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return get_client()
    except ValueError:
        return None
