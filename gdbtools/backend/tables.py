"""2x2 tables for :meth:`gdbtools.backend.Backend.fisher_exact`: the cells' checks and their de-duplication."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_FISHER_TOTAL", "check_cells", "unique_tables"]

MAX_FISHER_TOTAL = 2**31 - 1  # per 2x2 table (a + b + c + d); the C++ forms (n + 1) * (k + 1) in int64


def check_cells(arrays) -> list:
    """The four ``(M,)`` integer cell arrays ``a, b, c, d`` as int64, after checking them.

    Raises ``ValueError`` (different lengths, a negative cell, a table of more than
    :data:`MAX_FISHER_TOTAL` counts) or ``TypeError`` (not integers), naming the cell.
    """
    if len({x.shape[0] for x in arrays}) > 1:
        raise ValueError(f"table cells differ in length: {[x.shape[0] for x in arrays]}")
    for name, x in zip("abcd", arrays):
        if x.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer counts, got {x.dtype}")
        if x.size and (int(x.min()) < 0 or int(x.max()) > MAX_FISHER_TOTAL):
            raise ValueError(f"{name} must be counts in 0..{MAX_FISHER_TOTAL}")
    cells = [x.astype(np.int64) for x in arrays]
    if cells[0].size and int((cells[0] + cells[1] + cells[2] + cells[3]).max()) > MAX_FISHER_TOTAL:
        raise ValueError(f"a table has more than {MAX_FISHER_TOTAL} counts (a + b + c + d)")
    return cells


def unique_tables(xp, cells):
    """The distinct tables of the checked int64 `cells` (four ``(M,)`` arrays of :mod:`xp`, M > 0).

    Returns ``(uniq, inverse)``: four contiguous ``(U,) int64`` arrays and ``(M,) int64`` with
    ``uniq[j][inverse] == cells[j]``.  Cells below 2^16 pack into one int64 key (a 1-d unique); larger ones
    into two keys sorted together (much faster than a 2-d unique).
    """
    if max(int(x.max()) for x in cells) < 2**16:
        key = (cells[0] << 48) | (cells[1] << 32) | (cells[2] << 16) | cells[3]
        uniq, inverse = xp.unique(key, return_inverse=True)
        return [xp.ascontiguousarray((uniq >> s) & 0xFFFF) for s in (48, 32, 16, 0)], inverse.reshape(-1)
    k1, k2 = (cells[0] << 32) | cells[1], (cells[2] << 32) | cells[3]  # cells < 2^31
    order = xp.lexsort(xp.stack([k2, k1]))
    s1, s2 = k1[order], k2[order]
    first = xp.ones(order.shape[0], dtype=bool)
    first[1:] = (s1[1:] != s1[:-1]) | (s2[1:] != s2[:-1])
    inverse = xp.empty(order.shape[0], dtype=np.int64)
    inverse[order] = xp.cumsum(first) - 1
    return [xp.ascontiguousarray(x[order[first]]) for x in cells], inverse
