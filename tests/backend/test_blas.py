"""gdbtools.backend.blas: the host BLAS held at one thread while held, restored after, nesting."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from gdbtools.backend.blas import one_blas_thread, single_thread_blas


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_single_thread_blas__limits_nests_and_restores():
    np.ones((2, 2)) @ np.ones((2, 2))  # NumPy's BLAS is loaded
    before = _blas_threads()
    assert before  # a BLAS library to limit
    with single_thread_blas():
        assert set(_blas_threads()) == {1}
        with single_thread_blas():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}  # the inner exit keeps the outer limit
    assert _blas_threads() == before


def test_one_blas_thread__decorates():
    @one_blas_thread
    def threads_inside(x: int) -> tuple[int, list[int]]:
        return x, _blas_threads()

    x, inside = threads_inside(3)
    assert x == 3 and set(inside) == {1}
