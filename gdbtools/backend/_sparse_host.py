"""numba loops of :mod:`gdbtools.backend.sparse` for the ``host`` backend.

Same results as the twins, integer for integer (the parity suite checks).  The loops go row by row (entries
of a row are contiguous, ``ptr``): per-row counts stay in registers instead of a memory histogram whose
increments would wait on each other, and per-sample sums go to a kind-major ``(C, 3, N)`` accumulator, so
the entries of a row (increasing samples, one class) touch one short stretch of it.
"""

from __future__ import annotations

import numpy as np

from ..runtime import import_numba
from ..store.bitplanes import CODE_FAIL_BIT

numba = import_numba()

__all__ = ["group_counts", "sample_class_counts", "missing_weight_sums"]


@numba.njit(inline="always")
def _kind(c, view):  # pragma: no cover - compiled
    """0 het, 1 hom-alt, 2 missing, -1 nothing (see sparse.entry_kinds)."""
    if view == 2:
        return 2 if (c & CODE_FAIL_BIT) != 0 else -1
    if view == 1 and (c & CODE_FAIL_BIT) != 0:
        return 2
    return (c & 3) - 1


@numba.njit(nogil=True, cache=True)
def group_counts(rows, ptr, sample, code, atom, atom_ptr, atom_masks, n_atoms, with_adj, out):  # pragma: no cover
    """``out[rows[k], m, :]`` = het, hom-alt, missing (raw, then adj) of sparse row k's entries in mask m.

    Entries are counted per atom (:class:`gdbtools.backend.sparse.MaskAtoms`), in registers when there is
    one atom (every mask holds the same samples: the common "whole selection" case), then added to the masks
    of each atom."""
    n_kinds = 6 if with_adj else 3
    hist = np.zeros(n_atoms * 6, np.int64)
    for k in range(rows.shape[0]):
        r = rows[k]
        e0, e1 = ptr[k], ptr[k + 1]
        if n_atoms == 1:
            het = hom = mis = 0
            a_het = a_hom = a_mis = 0
            for e in range(e0, e1):
                c = code[e]
                g = c & 3
                f = (c >> 2) & 1
                het += g == 1
                hom += g == 2
                mis += g == 3
                a_het += (g == 1) & (f == 0)
                a_hom += (g == 2) & (f == 0)
                a_mis += (g == 3) | (f == 1)
            hist[0], hist[1], hist[2] = het, hom, mis
            hist[3], hist[4], hist[5] = a_het, a_hom, a_mis
        else:
            for e in range(e0, e1):
                c = code[e]
                g = c & 3
                a = atom[sample[e]] * 6
                if g != 0:
                    hist[a + g - 1] += 1
                if (c & CODE_FAIL_BIT) != 0:
                    hist[a + 5] += 1
                elif g != 0:
                    hist[a + 2 + g] += 1
        for a in range(n_atoms):
            h = a * 6
            if hist[h] | hist[h + 1] | hist[h + 2] | hist[h + 3] | hist[h + 4] | hist[h + 5]:
                for j in range(atom_ptr[a], atom_ptr[a + 1]):
                    m = atom_masks[j]
                    for t in range(n_kinds):
                        out[r, m, t] += hist[h + t]
                for t in range(6):
                    hist[h + t] = 0


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
