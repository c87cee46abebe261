"""The backend interface: argument checks and the work every backend shares."""

from __future__ import annotations

from typing import Any

import numpy as np

from gdbtools.backend import frames as frames_ops
from gdbtools.backend import sparse as sparse_ops
from gdbtools.backend.exact_tests import ExactTests, HweResult
from gdbtools.backend.timing import KernelTiming
from gdbtools.errors import BackendError

__all__ = ["Backend", "HweResult", "is_device_array"]

MAX_CLASSES = 255  # class 255 means "skip this variant", so classes are 0..254
MAX_ROWS = 2**31 - 1  # kernel grids and the class order are int32


def is_device_array(a) -> bool:
    """Whether `a` is a CuPy (GPU) array, without importing CuPy."""
    return type(a).__module__.split(".", 1)[0] == "cupy"


class Backend(ExactTests, KernelTiming):
    """A compute backend: an array module and the genotype kernels.

    Every backend takes and returns arrays of its own module (:attr:`xp`) and refuses arrays on the other
    device; moving data between host and GPU is the caller's explicit step.  Integer results are identical
    across backends, and so (bit for bit) are the HWE p-values.
    """

    name: str = "?"
    xp: Any = np
    on_device: bool = False

    def __repr__(self) -> str:
        return f"<gdbtools backend {self.name!r}>"

    # ------------------------------------------------------------------------------------------ transfers
    def to_device(self, a):
        """`a` (a NumPy array, or an array already on this backend's device) as an array of :attr:`xp`.

        The one host-to-device step of gdbtools: the store hands out NumPy arrays only, and the statistics
        move what the kernels need through here (a no-op on the host backends).
        """
        return self.xp.asarray(a)

    def to_host(self, a) -> np.ndarray:
        """A NumPy array with the values of `a` (an array of :attr:`xp` or NumPy); a no-op for NumPy input."""
        return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)

    def decode_blocks(self, blocks) -> frames_ops.DecodedBatch:
        """Decode several blocks from their compressed frames, onto this backend's device.

        Parameters
        ----------
        blocks : sequence of gdbtools.store.format.BlockFrames
            From ``Store.read_block_frames``; any mix of ``dense2`` and ``hybrid2`` blocks.

        Returns
        -------
        gdbtools.backend.frames.DecodedBatch
            ``.blocks[i]``: the planes ``(D, W) uint32`` and sparse rows of block i, arrays of :attr:`xp`,
            equal to what ``Store.read_block`` gives.  Call ``.release()`` when the work on them is issued.

        On the host all frames are decoded with ``zstandard`` (:func:`gdbtools.backend.frames.host_decode`);
        the ``cupy`` backend decodes them on the GPU in one nvCOMP batched call.
        """
        blocks = list(blocks)
        if not blocks:
            return frames_ops.DecodedBatch([])
        return self._decode_layout(frames_ops.batch_layout(blocks))

    @property
    def decodes_on_device(self) -> bool:
        """Whether :meth:`decode_blocks` decodes on this backend's device (the ``cupy`` backend with nvCOMP);
        else it decodes on the host, one thread, and a pass is better off decoding in reader threads."""
        return False

    def _decode_layout(self, layout: frames_ops.BatchLayout) -> frames_ops.DecodedBatch:
        return frames_ops.decode_batch_host(layout)

    # ------------------------------------------------------------------------------------------ public API
    def variant_group_counts(self, lo, hi, masks, fail=None):
        """Per variant and sample group, the counts of het, hom-alt and missing calls.

        Parameters
        ----------
        lo, hi : (V, W) uint32
            The genotype bit-planes (see :mod:`gdbtools.store.bitplanes`).
        masks : (G, W) uint32
            One sample-group mask per row, padding bits 0.  Groups may overlap.
        fail : (V, W) uint32, optional
            Calls failing the genotype filters; adds the counts of the adj view (failing calls missing).

        Returns
        -------
        (V, G, 3) int32, or (V, G, 6) int32 with `fail`
            ``[..., 0:3]`` = n_het, n_hom_alt, n_missing of the raw calls; ``[..., 3:6]`` the same for adj.
        """
        lo, hi, fail = self._planes(lo, hi, fail)
        masks = self._array("masks", masks, np.uint32, ndim=2)
        if masks.shape[1] != lo.shape[1]:
            raise ValueError(f"masks have {masks.shape[1]} words per row, the planes {lo.shape[1]}")
        n_out = 3 if fail is None else 6
        out = self.xp.zeros((lo.shape[0], masks.shape[0], n_out), dtype=np.int32)
        if out.size and lo.shape[1]:
            self._variant_group_counts(lo, hi, masks, fail, out)
        return out

    def sample_class_counts(self, lo, hi, var_class, n_classes: int, out, fail=None, *, n_samples: int,
                            kind_major: bool = False):
        """Add, per sample and variant class, the counts of het, hom-alt and missing calls to `out`.

        Parameters
        ----------
        lo, hi : (V, W) uint32
            The genotype bit-planes.
        var_class : (V,) uint8
            The class of each variant in ``0 .. n_classes - 1``; 255 skips the variant.
        n_classes : int
            C, the number of classes (1 to 255).
        out : (N, C, 3) int64, C-contiguous; with `kind_major` (C, 3, N)
            Accumulated IN PLACE: ``out[s, c, :] +=`` (n_het, n_hom_alt, n_missing) of sample s over the
            variants of class c (``out[c, :, s]`` kind-major).  int64, so a whole genome accumulates without
            overflow.
        fail : (V, W) uint32, optional
            With it, the counts are of the adj view (failing calls count as missing).
        n_samples : int
            N, the number of samples (``<= 32 W``); bits past N are ignored.
        kind_major : bool
            `out` is ``(C, 3, N)``: the layout of the sparse rows' sums (:meth:`sparse_sample_sums`), so one
            accumulator takes both; the host library adds each flush as contiguous runs (half the time of the
            ``(N, C, 3)`` scatter, bench/RESULTS.md).

        Returns
        -------
        out
        """
        lo, hi, fail = self._planes(lo, hi, fail)
        n_variants, n_words = lo.shape
        n_classes = int(n_classes)
        n_samples = int(n_samples)
        if not 1 <= n_classes <= MAX_CLASSES:
            raise ValueError(f"n_classes must be 1 to {MAX_CLASSES}, got {n_classes}")
        if not 0 <= n_samples <= 32 * n_words:
            raise ValueError(f"n_samples={n_samples} does not fit planes of {n_words} words (max {32 * n_words})")
        var_class = self._array("var_class", var_class, None, ndim=1)
        if var_class.shape[0] != n_variants:
            raise ValueError(f"var_class has {var_class.shape[0]} entries for {n_variants} variants")
        if var_class.dtype != np.uint8:
            if var_class.dtype.kind not in "iu":
                raise TypeError(f"var_class must be integers (uint8), got {var_class.dtype}")
            if var_class.size and bool(((var_class < 0) | (var_class > 255)).any()):
                raise ValueError("var_class values must be 0..254, or 255 to skip a variant")
            var_class = var_class.astype(np.uint8)
        if var_class.size and bool(((var_class >= n_classes) & (var_class != 255)).any()):
            raise ValueError(f"var_class has values >= n_classes={n_classes} (only 255 may skip a variant)")
        self._check_device("out", out)
        shape = (n_classes, 3, n_samples) if kind_major else (n_samples, n_classes, 3)
        if out.dtype != np.int64 or out.shape != shape or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous int64 array of shape {shape}, got {out.dtype} {out.shape}")
        if n_variants and n_samples:
            self._sample_class_counts(lo, hi, fail, var_class, n_classes, n_samples, out, bool(kind_major))
        return out

    def missing_weight_sums(self, lo, hi, wfix, out, fail=None):
        """Add, per sample, the weights of the variants where its call is missing to `out` (the F sums).

        Parameters
        ----------
        lo, hi : (V, W) uint32
            The genotype bit-planes.
        wfix : (V,) int64
            An integer weight per variant (e.g. fixed-point weights of the inbreeding F); rows of weight 0
            are skipped without being read.
        out : (S,) int64, C-contiguous, ``S <= 32 W``
            Accumulated IN PLACE: ``out[s] += sum(wfix[v] for v where sample s is missing)``, for s < S; bits
            past S are ignored.  Sums wrap like int64 addition, identically on every backend.
        fail : (V, W) uint32, optional
            With it, the adj view: calls failing the genotype filters are missing too.

        Returns
        -------
        out
        """
        lo, hi, fail = self._planes(lo, hi, fail)
        wfix = self._array("wfix", wfix, np.int64, ndim=1)
        if wfix.shape[0] != lo.shape[0]:
            raise ValueError(f"wfix has {wfix.shape[0]} entries for {lo.shape[0]} variants")
        self._check_device("out", out)
        if out.dtype != np.int64 or out.ndim != 1 or out.shape[0] > 32 * lo.shape[1] or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous 1-d int64 array of at most {32 * lo.shape[1]} samples, "
                             f"got {out.dtype} {out.shape}")
        if lo.shape[0] and out.shape[0]:
            self._missing_weight_sums(lo, hi, fail, wfix, out)
        return out

    def dosages(self, lo, hi, rows, samples, fill, out, fail=None):
        """The dosage matrix of some rows of the planes and some samples, as float64 (``kernels/dosages.cu``).

        Parameters
        ----------
        lo, hi : (V, W) uint32
            The genotype bit-planes.
        rows : (M,) int32
            The plane rows (variants) wanted, in ``0 .. V - 1`` (any order, repeats allowed): the columns of `out`.
        samples : (N,) int32
            The samples wanted, in ``0 .. 32 W - 1`` (any order): the rows of `out`.
        fill : (M,) float64
            The value of a missing call of each column (e.g. ``2 p`` for mean imputation, or NaN).
        out : (N, M) float64, C-contiguous
            Written IN PLACE: ``out[i, j]`` = the alt-allele count of sample ``samples[i]`` at row ``rows[j]``
            (0 hom-ref, 1 het, 2 hom-alt or haploid alt), or ``fill[j]`` where the call is missing.
        fail : (V, W) uint32, optional
            With it, the adj view: calls failing the genotype filters are missing too.

        Returns
        -------
        out
        """
        lo, hi, fail = self._planes(lo, hi, fail)
        rows, samples, fill = self._dosage_args(rows, samples, fill, out)
        if rows.size and int(rows.max()) >= lo.shape[0]:
            raise ValueError(f"rows has values >= the {lo.shape[0]} rows of the planes")
        if samples.size and int(samples.max()) >= 32 * lo.shape[1]:
            raise ValueError(f"samples has values >= the {32 * lo.shape[1]} samples of the planes")
        if rows.size and samples.size:
            self._dosages(lo, hi, fail, rows, samples, fill, out)
        return out

    def sparse_dosages(self, sparse, rows, samples, fill, out, view: int = sparse_ops.VIEW_RAW):
        """:meth:`dosages` of sparse rows of a ``hybrid2`` block (:class:`gdbtools.store.format.SparseRows`, on
        this backend's device): `rows` ``(M,) int32`` are block rows that are sparse (``sparse.rows``), `out`
        ``(N, M) float64`` is written whole (0 where a sample has no entry), `view` is
        :data:`~gdbtools.backend.sparse.VIEW_RAW` or ``VIEW_ADJ`` (failing calls missing)."""
        sp = self._sparse(sparse)
        rows, samples, fill = self._dosage_args(rows, samples, fill, out)
        if int(view) not in (sparse_ops.VIEW_RAW, sparse_ops.VIEW_ADJ):
            raise ValueError(f"view must be VIEW_RAW or VIEW_ADJ, got {view}")
        if rows.size and not bool(self.xp.isin(rows, sp.rows).all()):
            raise ValueError("rows has rows that are not sparse rows of the block")
        self._sparse_dosages(sp, rows, samples, fill, out, int(view))
        return out

    def _dosage_args(self, rows, samples, fill, out):
        rows = self._array("rows", rows, np.int32, ndim=1)
        samples = self._array("samples", samples, np.int32, ndim=1)
        fill = self._array("fill", fill, np.float64, ndim=1)
        if fill.shape != rows.shape:
            raise ValueError(f"fill has {fill.shape[0]} values for {rows.shape[0]} rows")
        if (rows.size and int(rows.min()) < 0) or (samples.size and int(samples.min()) < 0):
            raise ValueError("rows and samples must be >= 0")
        self._check_device("out", out)
        if out.dtype != np.float64 or out.shape != (samples.shape[0], rows.shape[0]) or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float64 array of shape {(samples.shape[0], rows.shape[0])}, "
                             f"got {out.dtype} {out.shape}")
        return rows, samples, fill

    # ------------------------------------------------------------------- sparse rows of hybrid2 blocks
    def sparse_group_counts(self, sparse, n_rows: int, atoms, with_adj: bool = False):
        """:meth:`variant_group_counts` of a block's sparse rows (:class:`gdbtools.store.format.SparseRows`,
        arrays on this backend's device) for masks given as :class:`gdbtools.backend.sparse.MaskAtoms`
        (:func:`~gdbtools.backend.sparse.mask_atoms` of the ``(M, W)`` masks, moved to the device):
        ``(V, M, 3)``, or ``(V, M, 6)`` with `with_adj`, int32, where V = `n_rows` is the block's row count and
        rows without entries are 0."""
        sp = self._sparse(sparse)
        for name in ("atom", "member", "ptr", "index"):
            self._check_device(f"atoms.{name}", getattr(atoms, name))
        return self._sparse_group_counts(sp, int(n_rows), atoms, bool(with_adj))

    def sparse_sample_sums(self, sparse, view: int = sparse_ops.VIEW_RAW, *, var_class=None, out=None, wfix=None,
                           wmiss=None) -> None:
        """The per-sample sums of a block's sparse rows, added IN PLACE, in one pass over the entries (sample
        QC and F read the same entries); give `var_class` and `out`, `wfix` and `wmiss`, or both pairs.

        - class counts (:meth:`sample_class_counts` of the sparse rows): `var_class` ``(V,) uint8`` indexed
          by the block's rows (255 skips a row); `out` *kind-major* ``(C, 3, N) int64`` (``out[c, kind, s]``;
          add ``out.transpose(2, 0, 1)`` to an ``(N, C, 3)`` total): the entries of a row then touch one
          stretch of memory;
        - missing-weight sums (the sparse part of :meth:`missing_weight_sums`): ``wmiss[s] += wfix[row]``
          (``(V,) int64`` fixed-point weights) for each missing entry, ``wmiss`` ``(>= N,) int64``.

        `view` is one of :data:`gdbtools.backend.sparse.VIEW_RAW` / ``VIEW_ADJ`` / ``VIEW_FAIL``.
        """
        sp = self._sparse(sparse)
        if (var_class is None) != (out is None) or (wfix is None) != (wmiss is None) or var_class is wfix is None:
            raise ValueError("give var_class and out, wfix and wmiss, or both pairs")
        if var_class is not None:
            var_class = self._array("var_class", var_class, np.uint8, ndim=1)
            self._check_device("out", out)
            if out.dtype != np.int64 or out.ndim != 3 or out.shape[1] != 3 or not out.flags.c_contiguous:
                raise ValueError(f"out must be a C-contiguous int64 array (C, 3, N), got {out.dtype} {out.shape}")
        if wfix is not None:
            wfix = self._array("wfix", wfix, np.int64, ndim=1)
            self._check_device("wmiss", wmiss)
            if wmiss.dtype != np.int64 or wmiss.ndim != 1:
                raise ValueError(f"wmiss must be a 1-d int64 array, got {wmiss.dtype} {wmiss.shape}")
        self._sparse_sample_sums(sp, var_class, out, wfix, wmiss, int(view))

    def _sparse(self, sp):
        for name in ("rows", "ptr", "sample", "code"):
            self._check_device(f"sparse.{name}", getattr(sp, name))
        if (sp.rows.dtype != np.int32 or sp.sample.dtype not in (np.int32, np.uint16) or sp.code.dtype != np.uint8
                or sp.ptr.dtype != np.int64):
            raise TypeError("sparse rows must be rows int32, ptr int64, sample uint16 or int32, code uint8")
        return sp

    def _sparse_group_counts(self, sp, n_rows, atoms, with_adj):
        return sparse_ops.group_counts(self.xp, sp.row, sp.sample, sp.code, n_rows, atoms, with_adj)

    def _sparse_sample_sums(self, sp, var_class, out, wfix, wmiss, view) -> None:
        if var_class is not None:
            sparse_ops.sample_class_counts(self.xp, sp.row, sp.sample, sp.code, var_class, out.shape[0], out, view)
        if wfix is not None:
            sparse_ops.missing_weight_sums(self.xp, sp.row, sp.sample, sp.code, wfix, wmiss, view)

    def _sparse_dosages(self, sp, rows, samples, fill, out, view) -> None:
        sparse_ops.dosages(self.xp, sp.rows, sp.ptr, sp.sample, sp.code, rows, samples, fill, out, view)

    # -------------------------------------------------------------------------------- for the subclasses
    def _variant_group_counts(self, lo, hi, masks, fail, out) -> None:
        raise NotImplementedError

    def _sample_class_counts(self, lo, hi, fail, var_class, n_classes, n_samples, out, kind_major) -> None:
        plan = self._sample_class_plan(var_class, n_classes, lo.shape)
        self._sample_class_launch(lo, hi, fail, plan, n_classes, n_samples, out, kind_major)

    def _sample_class_plan(self, var_class, n_classes: int, shape: tuple[int, int]) -> Any:
        """The set-up of :meth:`sample_class_counts` that depends on the classes only (e.g. the class order)."""
        raise NotImplementedError

    def _sample_class_launch(self, lo, hi, fail, plan, n_classes: int, n_samples: int, out, kind_major: bool) -> None:
        raise NotImplementedError

    def _missing_weight_sums(self, lo, hi, fail, wfix, out) -> None:
        raise NotImplementedError

    def _dosages(self, lo, hi, fail, rows, samples, fill, out) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------- checking
    def _check_device(self, name: str, a) -> None:
        if is_device_array(a) != self.on_device:
            if self.on_device:
                raise BackendError(f"{name} is a host (NumPy) array but the {self.name!r} backend computes on "
                                   "the GPU", fix=f"move it explicitly with cupy.asarray({name})")
            if is_device_array(a):
                raise BackendError(f"{name} is a CuPy array on the GPU but the {self.name!r} backend computes on "
                                   "the CPU", fix=f"move it explicitly with cupy.asnumpy({name}), or use the "
                                   "'cupy' backend")
            if not isinstance(a, (np.ndarray, np.generic, list, tuple, int)):
                raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
        if self.on_device:
            self._check_same_gpu(name, a)

    def _check_same_gpu(self, name: str, a) -> None:  # overridden by the CuPy backend
        pass

    def _array(self, name: str, a, dtype, *, ndim: int):
        self._check_device(name, a)
        a = self.xp.asarray(a)
        if dtype is not None and a.dtype != dtype:
            raise TypeError(f"{name} must be {np.dtype(dtype)}, got {a.dtype}")
        if a.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
        return self.xp.ascontiguousarray(a)

    def _planes(self, lo, hi, fail):
        lo = self._array("lo", lo, np.uint32, ndim=2)
        hi = self._array("hi", hi, np.uint32, ndim=2)
        if hi.shape != lo.shape:
            raise ValueError(f"lo {lo.shape} and hi {hi.shape} differ in shape")
        if fail is not None:
            fail = self._array("fail", fail, np.uint32, ndim=2)
            if fail.shape != lo.shape:
                raise ValueError(f"fail {fail.shape} and lo {lo.shape} differ in shape")
        if lo.shape[0] > MAX_ROWS:
            raise ValueError(f"at most {MAX_ROWS} variants per call, got {lo.shape[0]}")
        return lo, hi, fail

    # ------------------------------------------------------------------------- shared by host and CuPy
    def _class_chunks(self, var_class, n_classes: int, max_chunk: int, window: int):
        """Group the selected variants by class within windows of rows, in chunks of one class each.

        Rows are cut into windows of `window` consecutive variants; within a window the selected variants are
        ordered by class (stably, so rows stay ascending), and each (window, class) run is cut into chunks of
        at most `max_chunk`.  Kernels then read the planes almost sequentially, whatever the class pattern.

        Returns ``order (S,) int32`` (variant indices), ``chunk_start (K+1,) int32`` (chunk k is
        ``order[chunk_start[k]:chunk_start[k+1]]``) and ``chunk_class (K,) int32``, as arrays of :attr:`xp`.
        """
        xp = self.xp
        n = var_class.shape[0]
        key = (xp.arange(n, dtype=np.int64) // window) * 256 + var_class
        order = xp.argsort(key, kind="stable")
        n_sel = int((var_class != 255).sum())
        key = key[order]
        sel = (key % 256) != 255
        order, key = order[sel], key[sel]  # skip class 255 (it sorts last within each window)
        key = key.get() if self.on_device else key
        key = np.asarray(key)
        assert key.shape[0] == n_sel
        run_start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n_sel else np.zeros(0, np.int64)
        run_len = np.diff(np.r_[run_start, n_sel])
        pieces = -(-run_len // max_chunk)
        n_chunks = int(pieces.sum())
        first_piece = np.cumsum(pieces) - pieces
        piece = np.arange(n_chunks, dtype=np.int64) - np.repeat(first_piece, pieces)
        chunk_start = np.empty(n_chunks + 1, dtype=np.int32)
        chunk_start[:-1] = np.repeat(run_start, pieces) + piece * max_chunk
        chunk_start[-1] = n_sel
        chunk_class = np.repeat(key[run_start] % 256, pieces).astype(np.int32)
        return order.astype(np.int32), xp.asarray(chunk_start), xp.asarray(chunk_class)
