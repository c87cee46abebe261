"""The numba kernel of :func:`gdbtools.stats._wsum.missing_weight_sums` for the ``"host"`` backend."""

from __future__ import annotations

import numpy as np

from ..runtime import import_numba

numba = import_numba()
from numba.cpython.unsafe.numbers import trailing_zeros  # noqa: E402  (after the cache set-up)

__all__ = ["host_kernel"]


@numba.njit(parallel=True, nogil=True, cache=True)
def host_kernel(lo, hi, fail, use_fail, rows, wfix, out2d):  # pragma: no cover - compiled
    """Rows split over threads, each with its own accumulator row; per row, the words with a missing call
    are first compacted without branches, then their set bits are visited (64-bit words)."""
    n_threads = out2d.shape[0]
    n = rows.shape[0]
    n_words = lo.shape[1]
    for t in numba.prange(n_threads):
        start = t * n // n_threads
        stop = (t + 1) * n // n_threads
        where = np.empty(n_words, np.int64)
        value = np.empty(n_words, np.uint64)
        for i in range(start, stop):
            r = rows[i]
            weight = wfix[r]
            k = 0
            if use_fail:
                for w in range(n_words):
                    m = (lo[r, w] & hi[r, w]) | fail[r, w]
                    where[k] = w
                    value[k] = m
                    k += m != 0
            else:
                for w in range(n_words):
                    m = lo[r, w] & hi[r, w]
                    where[k] = w
                    value[k] = m
                    k += m != 0
            for j in range(k):
                m = value[j]
                base = where[j] * 64
                while m != 0:
                    out2d[t, base + trailing_zeros(m)] += weight
                    m &= m - np.uint64(1)
