"""numba loops of :mod:`gdbtools.backend.sparse` for the ``host`` backend: the per-sample sums.

(The sparse group counts, on the frequency path, are C++ in the host library: ``kernels/variant_counts.cu``,
``gdb_host_sparse_group_counts_*``, so that a frequency call does not start numba.)

Same results as the twins, integer for integer (the parity suite checks).  The loops go row by row (entries
of a row are contiguous, ``ptr``): per-row counts stay in registers instead of a memory histogram whose
increments would wait on each other, and per-sample sums go to a kind-major ``(C, 3, N)`` accumulator, so
the entries of a row (increasing samples, one class) touch one short stretch of it.
"""

from __future__ import annotations

from ..runtime import import_numba
from ..store.bitplanes import CODE_FAIL_BIT

numba = import_numba()

__all__ = ["sample_class_counts", "missing_weight_sums"]


@numba.njit(inline="always")
def _kind(c, view):  # pragma: no cover - compiled
    """0 het, 1 hom-alt, 2 missing, -1 nothing (see sparse.entry_kinds)."""
    if view == 2:
        return 2 if (c & CODE_FAIL_BIT) != 0 else -1
    if view == 1 and (c & CODE_FAIL_BIT) != 0:
        return 2
    return (c & 3) - 1


@numba.njit(nogil=True, cache=True)
def sample_class_counts(rows, ptr, sample, code, var_class, view, out):  # pragma: no cover - compiled
    """``out[class, kind, sample] += 1`` per entry (``out`` ``(C, 3, N) int64``, kind-major)."""
    for k in range(rows.shape[0]):
        cls = var_class[rows[k]]
        if cls == 255:
            continue
        for e in range(ptr[k], ptr[k + 1]):
            kind = _kind(code[e], view)
            if kind >= 0:
                out[cls, kind, sample[e]] += 1


@numba.njit(nogil=True, cache=True)
def missing_weight_sums(rows, ptr, sample, code, wfix, view, out):  # pragma: no cover - compiled
    for k in range(rows.shape[0]):
        w = wfix[rows[k]]
        if w == 0:
            continue
        for e in range(ptr[k], ptr[k + 1]):
            if _kind(code[e], view) == 2:
                out[sample[e]] += w
