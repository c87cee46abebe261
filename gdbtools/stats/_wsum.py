"""Per-sample weighted sums over missing calls, for the inbreeding F.

The inbreeding F of a sample (plink's method of moments) needs ``E = sum over its called variants of
(1 - 2pq)``: a per-variant weight summed over a sample's calls.  It is computed as the total weight minus the
weights of the sample's *missing* calls, so the work is proportional to the missing calls.

Weights are fixed-point integers (:data:`FIXED_BITS` fractional bits, about 2e-10 resolution), so the sums
are exact integers: identical on every backend and whatever the order of the blocks or Dask tasks.  The sums
themselves are the backend's kernel :meth:`gdbtools.backend.Backend.missing_weight_sums`
(``kernels/weight_sums.cu``, with its NumPy twin); this module only makes the weights and moves them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FIXED_BITS", "fixed_weights", "missing_weight_sums"]

FIXED_BITS = 32
_SCALE = float(2**FIXED_BITS)


def fixed_weights(w: np.ndarray) -> np.ndarray:
    """Weights in [0, 1] (``(V,) float64``, NaN or negative for "skip") as ``(V,) int64`` fixed point."""
    w = np.asarray(w, dtype=np.float64)
    out = np.zeros(w.shape, dtype=np.int64)
    ok = np.isfinite(w) & (w > 0)
    out[ok] = np.rint(w[ok] * _SCALE).astype(np.int64)
    return out


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
    wfix = np.ascontiguousarray(wfix, dtype=np.int64)
    if not wfix.any():
        return
    backend.missing_weight_sums(lo, hi, backend.to_device(wfix), out, fail)
