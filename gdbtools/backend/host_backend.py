"""The ``"host"`` backend: the CUDA kernels compiled as host C++ (OpenMP) and called through :mod:`ctypes`."""

from __future__ import annotations

import ctypes
import os

import numpy as np

from gdbtools.backend import kernels
from gdbtools.backend._base import Backend, HweResult
from gdbtools.errors import BackendError

__all__ = ["HostBackend", "default_threads"]

_P = ctypes.c_void_p
_I32 = ctypes.c_int32
_I64 = ctypes.c_int64
_SIGNATURES = {
    "gdb_host_variant_group_counts": (_P, _P, _P, _P, _I64, _I32, _I32, _P, _I32),
    "gdb_host_sample_class_counts": (_P, _P, _P, _P, _P, _P, _I32, _I32, _I32, _I32, _P, _I32, _I32),
    "gdb_host_hwe_exact": (_P, _P, _P, _I64, _P, _P, _P, _P, _I32),
    "gdb_host_missing_weight_sums": (_P, _P, _P, _P, _I64, _I32, _I32, _I32, _P, _I32),
    "gdb_host_dosages": (_P, _P, _P, _P, _I32, _P, _I64, _I32, _I32, _P, _P, _I32),
    "gdb_host_sparse_group_counts_u16": (_P, _P, _P, _P, _P, _P, _P, _I64, _I32, _I32, _I32, _P, _I32),
    "gdb_host_sparse_group_counts_i32": (_P, _P, _P, _P, _P, _P, _P, _I64, _I32, _I32, _I32, _P, _I32),
    "gdb_host_sparse_sample_sums_u16": (_P, _P, _P, _P, _P, _P, _P, _P, _I64, _I32, _I32, _I32),
    "gdb_host_sparse_sample_sums_i32": (_P, _P, _P, _P, _P, _P, _P, _P, _I64, _I32, _I32, _I32),
    "gdb_host_hwe_x_exact": (_P, _P, _P, _P, _P, _I64, _P, _P, _I32),
    "gdb_host_fisher_exact": (_P, _P, _P, _P, _I64, _P, _I32),
}
MAX_CHUNK = 65535  # kernels/sample_counts.cu: kCounterBits = 16


def default_threads() -> int:
    """``$GDBTOOLS_HOST_THREADS``, else the CPUs this process may run on."""
    env = os.environ.get("GDBTOOLS_HOST_THREADS")
    if env:
        return max(1, int(env))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _ptr(a) -> int | None:
    return None if a is None else a.ctypes.data


class HostBackend(Backend):
    """The kernels' own code on the CPU: SIMD lanes of 4-16 words, blocks spread over OpenMP threads.

    Parameters
    ----------
    n_threads : int, optional
        OpenMP threads per call (default :func:`default_threads`).  Under a threaded Dask worker, give each
        task ``1`` or the worker's share, so that threads are not oversubscribed.
    library_path : path, optional
        A library built by :func:`gdbtools.backend.kernels.build_host_library` or with the command of
        :func:`~gdbtools.backend.kernels.host_build_command` (default: build or find it in the cache).
    """

    name = "host"
    xp = np
    on_device = False

    window = None  # rows per class-sorting window of sample_class_counts (None: chosen per call)
    fisher_unique = False  # 95k batch-check tables: 22 ms as they are, 29 ms with np.unique first (2 cores)

    def __init__(self, n_threads: int | None = None, library_path: str | os.PathLike | None = None):
        self.n_threads = int(n_threads) if n_threads else default_threads()
        self.library_path = library_path or kernels.build_host_library()
        self.isa = kernels.host_isa()[0]
        try:
            lib = ctypes.CDLL(str(self.library_path))
        except OSError as exc:
            raise BackendError(f"cannot load the host kernels: {exc}", file=self.library_path,
                               fix="delete the file to force a rebuild") from exc
        for fname, argtypes in _SIGNATURES.items():
            fn = getattr(lib, fname)
            fn.argtypes = argtypes
            fn.restype = ctypes.c_int
        self._lib = lib

    def __repr__(self) -> str:
        return f"<gdbtools backend 'host' ({self.isa}, {self.n_threads} threads)>"

    def _variant_group_counts(self, lo, hi, masks, fail, out) -> None:
        self._lib.gdb_host_variant_group_counts(_ptr(lo), _ptr(hi), _ptr(fail), _ptr(masks), lo.shape[0],
                                                lo.shape[1], masks.shape[0], _ptr(out), self.n_threads)

    def _sample_class_plan(self, var_class, n_classes, shape):
        # windows of ~2048 rows per class: short enough to read the planes nearly in order, long enough that
        # flushing the counters is rare (measured with bench/bench_kernels.py)
        window = self.window or min(65536, max(8192, 2048 * n_classes))
        return self._class_chunks(var_class, n_classes, MAX_CHUNK, window)

    def _sample_class_launch(self, lo, hi, fail, plan, n_classes, n_samples, out, kind_major) -> None:
        order, chunk_start, chunk_class = plan
        if order.size == 0:
            return
        self._lib.gdb_host_sample_class_counts(_ptr(lo), _ptr(hi), _ptr(fail), _ptr(order), _ptr(chunk_start),
                                               _ptr(chunk_class), chunk_class.shape[0], lo.shape[1], n_samples,
                                               n_classes, _ptr(out), int(kind_major), self.n_threads)

    def _missing_weight_sums(self, lo, hi, fail, wfix, out) -> None:
        # chunks of rows short enough to give every thread work, long enough that flushing the per-lane sums
        # (32 atomics per word) stays rare next to the rows' missing calls
        n_variants, n_words = lo.shape
        lanes = -(-n_words // kernels.host_lane_words())
        rows_per_chunk = max(256, min(4096, -(-n_variants * lanes // (8 * self.n_threads))))
        self._lib.gdb_host_missing_weight_sums(_ptr(lo), _ptr(hi), _ptr(fail), _ptr(wfix), n_variants,
                                               rows_per_chunk, n_words, out.shape[0], _ptr(out), self.n_threads)

    def _dosages(self, lo, hi, fail, rows, samples, fill, out) -> None:
        # blocks of 1024 samples: a thread writes 1024 rows of `out` while the gene's words stay in its cache
        self._lib.gdb_host_dosages(_ptr(lo), _ptr(hi), _ptr(fail), _ptr(rows), rows.shape[0], _ptr(samples),
                                   samples.shape[0], 1024, lo.shape[1], _ptr(fill), _ptr(out), self.n_threads)

    # sparse rows (hybrid2 blocks): C++ loops of the host library (kernels/variant_counts.cu,
    # kernels/sparse_host.h), so that no statistics call starts numba (~0.6 s in a fresh process)
    def _sparse_group_counts(self, sp, n_rows, atoms, with_adj):
        n_masks = atoms.member.shape[1]
        out = np.zeros((n_rows, n_masks, 6 if with_adj else 3), dtype=np.int32)
        if sp.rows.shape[0] == 0 or n_masks == 0:
            return out
        rows, ptr, sample, code, suffix = self._sparse_args(sp)
        atom = np.ascontiguousarray(atoms.atom, dtype=np.int32)
        atom_ptr = np.ascontiguousarray(atoms.ptr, dtype=np.int64)
        atom_masks = np.ascontiguousarray(atoms.index, dtype=np.int32)
        getattr(self._lib, "gdb_host_sparse_group_counts_" + suffix)(
            _ptr(rows), _ptr(ptr), _ptr(sample), _ptr(code), _ptr(atom), _ptr(atom_ptr), _ptr(atom_masks),
            rows.shape[0], atoms.n_atoms, n_masks, int(with_adj), _ptr(out), self.n_threads)
        return out

    def _sparse_sample_sums(self, sp, var_class, out, wfix, wmiss, view) -> None:
        if var_class is not None and out.size == 0:
            var_class = out = None
        if (var_class is None and wfix is None) or sp.rows.shape[0] == 0:
            return
        rows, ptr, sample, code, suffix = self._sparse_args(sp)
        n_samples = out.shape[2] if out is not None else wmiss.shape[0]
        var_class = None if var_class is None else np.ascontiguousarray(var_class, dtype=np.uint8)
        wfix = None if wfix is None else np.ascontiguousarray(wfix, dtype=np.int64)
        getattr(self._lib, "gdb_host_sparse_sample_sums_" + suffix)(
            _ptr(rows), _ptr(ptr), _ptr(sample), _ptr(code), _ptr(var_class), _ptr(out), _ptr(wfix), _ptr(wmiss),
            rows.shape[0], n_samples, view, self.n_threads)

    @staticmethod
    def _sparse_args(sp):
        """Contiguous ``rows, ptr, sample, code`` and the kernels' suffix for the sample dtype."""
        rows = np.ascontiguousarray(sp.rows, dtype=np.int32)
        ptr = np.ascontiguousarray(sp.ptr, dtype=np.int64)
        code = np.ascontiguousarray(sp.code, dtype=np.uint8)
        if sp.sample.dtype == np.uint16:
            return rows, ptr, np.ascontiguousarray(sp.sample), code, "u16"
        return rows, ptr, np.ascontiguousarray(sp.sample, dtype=np.int32), code, "i32"

    def _hwe_x_exact(self, het, hom1, hom2, male1, male2, p, p_midp) -> None:
        args = [np.ascontiguousarray(a, dtype=np.int64) for a in (het, hom1, hom2, male1, male2)]
        self._lib.gdb_host_hwe_x_exact(*(_ptr(a) for a in args), p.shape[0], _ptr(p), _ptr(p_midp), self.n_threads)

    def _fisher_exact(self, a, b, c, d, p) -> None:
        args = [np.ascontiguousarray(x, dtype=np.int64) for x in (a, b, c, d)]
        self._lib.gdb_host_fisher_exact(*(_ptr(x) for x in args), p.shape[0], _ptr(p), self.n_threads)

    def _hwe_exact(self, n_het, n_hom1, n_hom2, res: HweResult) -> None:
        self._lib.gdb_host_hwe_exact(_ptr(n_het), _ptr(n_hom1), _ptr(n_hom2), n_het.shape[0],
                                     *(_ptr(r) for r in res), self.n_threads)
