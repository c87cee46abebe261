"""The host BLAS's threads: one thread for the many small matrix products of the gene-based tests.

A gene's SKAT kernel is a product of an (n, m) matrix with itself and an eigendecomposition of m x m, m
mostly below 50: too small for a second BLAS thread to pay, and OpenBLAS's threads spin while they wait, so
on a loaded machine (2 cores shared with other jobs) the default two threads made the whole SKAT loop
2-5x slower than one (bench/RESULTS.md, "SKAT vs Hail, skatspeed"). :func:`single_thread_blas` limits the
BLAS libraries loaded in the process (through threadpoolctl) to one thread while it is held, and restores
their counts when the last holder leaves; it nests, and its bookkeeping is locked so that several threads may
enter it. The limit is the library's process-wide setting; OpenBLAS 0.3.31 was seen to ignore a limit set from
a second thread after the main thread had set and restored one (threadpoolctl still reports two threads), so
the gain is certain only for the gene loop run from the main thread, as ``gdbtools burden`` runs it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

__all__ = ["single_thread_blas", "one_blas_thread"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_lock = threading.Lock()
_state: dict[str, Any] = {"depth": 0, "limiter": None, "controller": None}


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Hold the host BLAS (NumPy's and SciPy's OpenBLAS/MKL) at one thread; restore the count on the last exit."""
    with _lock:
        if _state["depth"] == 0:
            if _state["controller"] is None:
                from threadpoolctl import ThreadpoolController

                _state["controller"] = ThreadpoolController()
            _state["limiter"] = _state["controller"].limit(limits=1, user_api="blas")
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None


def one_blas_thread(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run `func` under :func:`single_thread_blas`."""
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with single_thread_blas():
            return func(*args, **kwargs)
    return wrapper
