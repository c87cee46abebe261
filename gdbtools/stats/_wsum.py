"""Per-sample weighted sums over missing calls: the one reduction the backend kernels do not cover.

The inbreeding F of a sample (plink's method of moments) needs ``E = sum over its called variants of
(1 - 2pq)``: a per-variant weight summed over a sample's calls.  It is computed as the total weight minus the
weights of the sample's *missing* calls, so the work is proportional to the missing calls.

Weights are fixed-point integers (:data:`FIXED_BITS` fractional bits, about 2e-10 resolution), so the sums
are exact integers: identical on every backend and whatever the order of the blocks or Dask tasks.

Implementations (chosen by backend name, here only):

- ``"host"``: a numba kernel over the set bits of the missing words (threads over rows), in
  :mod:`gdbtools.stats._wsum_host` (imported on first use, so importing gdbtools compiles nothing);
- ``"numpy"`` and ``"cupy"``: unpack the missing bits of the weighted rows and multiply by the weights as
  float64 (exact: a chunk's sum stays below 2**53), on the array module of the backend.

This belongs in the backend seam as a fourth kernel (``kernels/*.cu`` plus a NumPy twin); until then the
statistics keep it in this one module.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIXED_BITS", "fixed_weights", "missing_weight_sums"]

FIXED_BITS = 32
_SCALE = float(2**FIXED_BITS)
_CHUNK_ROWS = 2048  # rows per float64 matmul at most: 2048 * 2**33 < 2**53, so the chunk sums are exact
_CHUNK_ELEMENTS = 1 << 24  # and at most this many unpacked bits per chunk (128 MiB of float64)


def fixed_weights(w: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] (``(V,) float64``, NaN or negative for "skip") as ``(V,) int64`` fixed point."""
    w = np.asarray(w, dtype=np.float64)
    out = np.zeros(w.shape, dtype=np.int64)
    ok = np.isfinite(w) & (w > 0)
    out[ok] = np.rint(w[ok] * _SCALE).astype(np.int64)
    return out


def _as64(plane: np.ndarray) -> np.ndarray:
    """A ``(V, W) uint32`` plane as ``(V, W/2) uint64`` (W is a multiple of 4; little-endian: bit b of word
    w is sample 64 w + b)."""
    return np.ascontiguousarray(plane).view(np.uint64)


def missing_weight_sums(backend, lo, hi, fail, wfix: np.ndarray, out) -> None:
    """Add, per sample, the weights of the variants where the sample's call is missing, to `out` in place.

    Parameters
    ----------
    backend : gdbtools.backend.Backend
    lo, hi : (V, W) uint32
        Bit-planes on the backend's device.
    fail : (V, W) uint32 or None
        With it, the adj view: failing calls are missing too.
    wfix : (V,) int64, on the host
        Fixed-point weights (:func:`fixed_weights`); rows with weight 0 are skipped.
    out : (32 W,) int64
        On the backend's device; one entry per sample bit (padding bits stay 0).
    """
    rows = np.flatnonzero(wfix).astype(np.int64)
    if rows.size == 0:
        return
    if backend.name == "host":
        import numba

        from ._wsum_host import host_kernel  # numba: compiled (or loaded from its cache) on first use

        n_threads = max(1, min(getattr(backend, "n_threads", 1), numba.config.NUMBA_NUM_THREADS, rows.size))
        if numba.get_num_threads() != n_threads:
            numba.set_num_threads(n_threads)  # per calling thread
        partial = np.zeros((n_threads, out.shape[0]), dtype=np.int64)
        lo64, hi64 = _as64(lo), _as64(hi)
        host_kernel(lo64, hi64, lo64 if fail is None else _as64(fail), fail is not None, rows, wfix, partial)
        out += partial.sum(axis=0)
        return
    xp = backend.xp
    shifts = xp.arange(32, dtype=np.uint32)
    step = max(1, min(_CHUNK_ROWS, _CHUNK_ELEMENTS // (32 * lo.shape[1])))
    for r0 in range(0, rows.size, step):
        sel_host = rows[r0:r0 + step]
        sel = xp.asarray(sel_host)
        miss = lo[sel] & hi[sel]
        if fail is not None:
            miss |= fail[sel]
        bits = ((miss[:, :, None] >> shifts) & np.uint32(1)).reshape(sel_host.size, -1).astype(np.float64)
        weights = xp.asarray(wfix[sel_host].astype(np.float64))
        out += (weights @ bits).astype(np.int64)
