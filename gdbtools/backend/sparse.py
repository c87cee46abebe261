"""The statistics of sparse rows (``hybrid2`` blocks): NumPy/CuPy twins of the three dense reductions.

A sparse row is a list of entries ``(row, sample, code)`` (see :class:`gdbtools.store.format.SparseRows`):
every sample without an entry is a hom-ref call that passes the filters.  The three functions here are the
sparse counterparts of ``variant_group_counts``, ``sample_class_counts`` and the F weight sums, written once
for any array module `xp` (NumPy: the reference and the ``numpy`` backend; CuPy: the ``cupy`` backend), in
time proportional to the entries.  The ``host`` backend runs the same logic as C++ loops of the host library
(``kernels/variant_counts.cu``, ``kernels/sparse_host.h``; OpenMP); the parity suite checks all of them against
the dense kernels on the same genotypes.

A *view* says how an entry counts:

- ``VIEW_RAW`` (0): by its genotype code (het, hom-alt, missing; hom-ref counts nothing);
- ``VIEW_ADJ`` (1): as raw, but a call that fails the filters is missing (``lo | fail, hi | fail``);
- ``VIEW_FAIL`` (2): only the failing calls, as missing (the dense kernels called on ``(fail, fail)``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..store.bitplanes import CODE_FAIL_BIT

__all__ = ["VIEW_RAW", "VIEW_ADJ", "VIEW_FAIL", "MaskAtoms", "mask_atoms", "entry_kinds", "group_counts",
           "sample_class_counts", "missing_weight_sums", "dosages"]

VIEW_RAW, VIEW_ADJ, VIEW_FAIL = 0, 1, 2


def entry_kinds(xp, code, view: int):
    """``(E,) int8``: 0 het, 1 hom-alt, 2 missing, -1 nothing, of each entry under `view`."""
    gt = (code & 3).astype(np.int8) - 1  # 0 het, 1 hom, 2 missing, -1 hom-ref
    if view == VIEW_RAW:
        return gt
    failing = (code & CODE_FAIL_BIT) != 0
    if view == VIEW_ADJ:
        return xp.where(failing, np.int8(2), gt)
    return xp.where(failing, np.int8(2), np.int8(-1))


class MaskAtoms(NamedTuple):
    """Sample masks as "atoms": the distinct patterns of mask membership.

    Samples with the same memberships form an atom; a mask is a union of atoms.  Sparse rows are then counted
    per atom (one lookup per entry, whatever the number of masks) and the atom counts summed into the masks.

    Attributes
    ----------
    atom : (N,) int32
        The atom of each sample.
    member : (A, M) int32
        1 where atom a lies in mask m.
    ptr, index : (A + 1,) int64, (K,) int32
        The same as CSR: the masks of atom a are ``index[ptr[a]:ptr[a + 1]]``.
    """

    atom: Any
    member: Any
    ptr: Any
    index: Any

    @property
    def n_atoms(self) -> int:
        return int(self.member.shape[0])

    def to(self, conv) -> MaskAtoms:
        return MaskAtoms(*(conv(a) for a in self))


def mask_atoms(masks: np.ndarray, n_samples: int) -> MaskAtoms:
    """:class:`MaskAtoms` of packed masks ``(M, W) uint32`` (host NumPy) over `n_samples` samples."""
    from ..store.bitplanes import unpack_bits

    masks = np.asarray(masks, dtype=np.uint32)
    if masks.shape[0] == 0:
        empty = np.zeros((1, 0), dtype=np.int32)
        return MaskAtoms(np.zeros(n_samples, np.int32), empty, np.zeros(2, np.int64), np.zeros(0, np.int32))
    inside = unpack_bits(masks, n_samples).T  # (N, M) bool
    keys = np.packbits(inside, axis=1)
    uniq, atom = np.unique(keys, axis=0, return_inverse=True)
    member = np.unpackbits(uniq, axis=1, count=masks.shape[0]).astype(np.int32)  # (A, M)
    a_idx, m_idx = np.nonzero(member)
    ptr = np.zeros(member.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(a_idx, minlength=member.shape[0]), out=ptr[1:])
    return MaskAtoms(atom.reshape(-1).astype(np.int32), member, ptr, m_idx.astype(np.int32))


def group_counts(xp, row, sample, code, n_rows: int, atoms: MaskAtoms, with_adj: bool):
    """Per row and mask, het / hom-alt / missing counts of the entries (raw, then adj with `with_adj`).

    Parameters
    ----------
    row : (E,) int32
    sample : (E,) uint16 or int32
    code : (E,) uint8
    n_rows : int
        V; `row` values are below it.
    atoms : MaskAtoms
        Of the masks ``(M, W)`` (:func:`mask_atoms`).
    with_adj : bool

    Returns
    -------
    (V, M, 3) or (V, M, 6) int32, as ``variant_group_counts``.
    """
    n_kinds = 6 if with_adj else 3
    n_masks = atoms.member.shape[1]
    out = xp.zeros((n_rows, n_masks, n_kinds), dtype=np.int32)
    if row.shape[0] == 0 or n_rows == 0 or n_masks == 0:
        return out
    n_atoms = atoms.n_atoms
    base = (row.astype(np.int64) * n_atoms + atoms.atom[sample]) * 3
    member = atoms.member.astype(np.int64)
    views = [(entry_kinds(xp, code, VIEW_RAW), 0)]
    if with_adj:
        views.append((entry_kinds(xp, code, VIEW_ADJ), 3))
    for kinds, first in views:
        take = kinds >= 0
        hist = xp.bincount(base[take] + kinds[take], minlength=n_rows * n_atoms * 3).reshape(n_rows, n_atoms, 3)
        out[:, :, first:first + 3] = xp.einsum("vak,am->vmk", hist.astype(np.int64), member).astype(np.int32)
    return out


def sample_class_counts(xp, row, sample, code, var_class, n_classes: int, out, view: int) -> None:
    """Add per class and sample the het / hom-alt / missing entries to `out` ``(C, 3, N) int64`` (kind-major)
    in place.  `var_class` ``(V,) uint8`` is the class of each row (255: skip the row)."""
    if row.shape[0] == 0:
        return
    kinds = entry_kinds(xp, code, view)
    cls = var_class[row]
    take = (kinds >= 0) & (cls != 255)
    flat = (cls[take].astype(np.int64) * 3 + kinds[take]) * out.shape[2] + sample[take]
    _scatter_add(xp, out.reshape(-1), flat, 1)


def missing_weight_sums(xp, row, sample, code, wfix, out, view: int) -> None:
    """Add to `out[s]` ``(>= N,) int64`` the weight ``wfix[row]`` ``(V,) int64`` of each missing entry."""
    if row.shape[0] == 0:
        return
    kinds = entry_kinds(xp, code, view)
    w = wfix[row]
    take = (kinds == 2) & (w != 0)
    _scatter_add(xp, out, sample[take].astype(np.int64), w[take])


def dosages(xp, sp_rows, ptr, sample, code, rows, samples, fill, out, view: int) -> None:
    """Write the dosages of block rows `rows` ``(M,) int32`` (rows of `sp_rows`, the sparse rows ``(S,) int32``
    whose entries are ``ptr[k]:ptr[k + 1]``) and samples `samples` ``(N,) int32`` into `out` ``(N, M) float64``:
    0 for a sample without an entry, else 1 (het), 2 (hom-alt) or ``fill[j]`` ``(M,) float64`` (missing; with
    ``VIEW_ADJ`` also a failing call): the dense ``dosages`` kernel's values.  Repeats in `rows` or `samples`
    are allowed."""
    out[...] = 0
    if sample.shape[0] == 0 or rows.shape[0] == 0 or samples.shape[0] == 0:
        return
    k = xp.searchsorted(sp_rows, rows)
    first, count = ptr[k], ptr[k + 1] - ptr[k]
    n_entries = int(count.sum())
    if n_entries == 0:
        return
    # the column of each matched entry, and the entry itself (searchsorted, not repeat: CuPy's repeat takes no
    # array of counts)
    end = xp.cumsum(count)
    e = xp.arange(n_entries, dtype=np.int64)
    col = xp.searchsorted(end, e, side="right")
    entry = first[col] + e - (end - count)[col]
    uniq, inverse = xp.unique(samples, return_inverse=True)
    pos = xp.full(int(max(int(sample.max()), int(uniq.max()))) + 1, -1, dtype=np.int64)
    pos[uniq] = xp.arange(uniq.shape[0], dtype=np.int64)
    p = pos[sample[entry]]
    kinds = entry_kinds(xp, code[entry], view)
    take = (p >= 0) & (kinds >= 0)
    p, c, kinds = p[take], col[take], kinds[take]
    value = xp.where(kinds == 2, fill[c], (kinds + 1).astype(np.float64))
    if uniq.shape[0] == samples.shape[0]:  # samples distinct: `inverse` is a permutation
        order = xp.empty_like(inverse)
        order[inverse.reshape(-1)] = xp.arange(samples.shape[0], dtype=order.dtype)
        out[order[p], c] = value
        return
    dense = xp.zeros((uniq.shape[0], rows.shape[0]), dtype=np.float64)
    dense[p, c] = value
    out[...] = dense[inverse.reshape(-1)]


# The element types ``cupyx.scatter_add`` accepts (CuPy's atomicAdd overloads): int64 is not among them.
SCATTER_ADD_DTYPES = frozenset(np.dtype(t) for t in (np.int32, np.uint32, np.uint64, np.float32, np.float64))


def scatter_view(target):
    """`target` viewed with an element type that ``cupyx.scatter_add`` accepts, same bytes and same sums.

    int64 is viewed as uint64: two's-complement addition wraps identically, so adding into the uint64 view
    gives the int64 sums bit for bit.  Any other type outside :data:`SCATTER_ADD_DTYPES` is an error on
    every backend, so a CPU run catches what the GPU would refuse.
    """
    if target.dtype == np.int64:
        return target.view(np.uint64)
    if target.dtype not in SCATTER_ADD_DTYPES:
        raise TypeError(f"scatter_add into {target.dtype} is not supported by CuPy; use one of "
                        f"{sorted(str(t) for t in SCATTER_ADD_DTYPES)}")
    return target


def _scatter_add(xp, target, index, values) -> None:
    """``target[index] += values`` with repeated indices accumulating (NumPy ``add.at``, CuPy ``scatter_add``).

    Both paths add into :func:`scatter_view` of `target` with `values` cast to its type, so the dtype contract
    of the GPU is exercised on the CPU.
    """
    view = scatter_view(target)
    if not hasattr(values, "shape"):
        values = xp.full(index.shape, values, dtype=view.dtype)
    values = values.astype(view.dtype)
    if xp is np:
        np.add.at(view, index, values)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(view, index, values)
