"""NumPy twins of the CUDA kernels: the CPU fallback of the ``"numpy"`` backend and the tests' oracle.

Each function computes what its kernel in ``kernels/*.cu`` computes, with whole-array NumPy operations
(``np.bitwise_count`` on the bit-planes) instead of threads.  Arguments are not checked here; the backend
seam (:class:`gdbtools.backend.Backend`) checks them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["variant_group_counts", "sample_class_counts", "missing_weight_sums", "dosages", "hwe_exact"]

_CHUNK_ELEMENTS = 1 << 22  # bound on the temporaries of variant_group_counts (elements)


def _kinds(lo: np.ndarray, hi: np.ndarray, fail: np.ndarray | None) -> list[np.ndarray]:
    """The rows of het, hom-alt and missing calls (then the same for adj, with `fail`)."""
    het, hom, mis = lo & ~hi, hi & ~lo, lo & hi
    if fail is None:
        return [het, hom, mis]
    return [het, hom, mis, het & ~fail, hom & ~fail, mis | fail]


def variant_group_counts(lo: np.ndarray, hi: np.ndarray, masks: np.ndarray,
                         fail: np.ndarray | None = None) -> np.ndarray:
    """Per variant and group: n_het, n_hom_alt, n_missing (and the adj three with `fail`).

    Parameters
    ----------
    lo, hi : (V, W) uint32
    masks : (G, W) uint32
    fail : (V, W) uint32, optional

    Returns
    -------
    (V, G, 3) or (V, G, 6) int32
    """
    n_variants, n_words = lo.shape
    n_groups = masks.shape[0]
    n_out = 3 if fail is None else 6
    out = np.zeros((n_variants, n_groups, n_out), dtype=np.int32)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_groups * n_words))
    m = masks[None, :, :]
    for v0 in range(0, n_variants, step):
        rows = slice(v0, v0 + step)
        kinds = _kinds(lo[rows], hi[rows], None if fail is None else fail[rows])
        for j, x in enumerate(kinds):
            out[rows, :, j] = np.bitwise_count(x[:, None, :] & m).sum(axis=-1, dtype=np.int32)
    return out


# byte b -> uint64 whose byte k is bit k of b: summing up to 255 spread rows counts 8 samples per byte lane
_SPREAD = np.array([sum(((b >> k) & 1) << (8 * k) for k in range(8)) for b in range(256)], dtype=np.uint64)


def _column_counts(rows: np.ndarray, n_samples: int) -> np.ndarray:
    """Number of set bits per sample (column) over the rows of a ``(R, W) uint32`` plane: ``(n_samples,)``."""
    total = np.zeros(rows.shape[1] * 32, dtype=np.int64)
    for r0 in range(0, rows.shape[0], 255):  # at most 255 rows per sum: a byte lane cannot overflow
        block = np.ascontiguousarray(rows[r0:r0 + 255]).view(np.uint8)
        total += _SPREAD[block].sum(axis=0, dtype=np.uint64).view(np.uint8)  # byte k of word m: sample 8m+k
    return total[:n_samples]


def sample_class_counts(lo: np.ndarray, hi: np.ndarray, var_class: np.ndarray, n_classes: int, out: np.ndarray,
                        fail: np.ndarray | None = None, *, n_samples: int) -> np.ndarray:
    """Add per-sample, per-class n_het, n_hom_alt, n_missing to `out` in place (adj view with `fail`).

    Parameters
    ----------
    lo, hi : (V, W) uint32
    var_class : (V,) uint8, class per variant, 255 skips it
    n_classes : int
    out : (N, C, 3) int64, accumulated in place
    fail : (V, W) uint32, optional
    n_samples : int

    Returns
    -------
    out
    """
    for c in range(n_classes):
        idx = np.flatnonzero(var_class == c)
        for i0 in range(0, idx.size, 4096):
            sel = idx[i0:i0 + 4096]
            kinds = _kinds(lo[sel], hi[sel], None if fail is None else fail[sel])
            if fail is not None:
                kinds = kinds[3:]
            for t, x in enumerate(kinds):
                out[:, c, t] += _column_counts(x, n_samples)
    return out


_WSUM_ROWS = 2048  # rows per float64 product: 2**11 rows of |part| < 2**38 sum exactly (< 2**53)
_WSUM_ELEMENTS = 1 << 24  # and at most this many unpacked bits per product (128 MiB of float64)
_WSUM_SPLIT = 26  # weights are split as (w >> 26) * 2**26 + (w & (2**26 - 1)), each part summed exactly


def missing_weight_sums(lo: np.ndarray, hi: np.ndarray, wfix: np.ndarray, out: np.ndarray,
                        fail: np.ndarray | None = None) -> np.ndarray:
    """Add per sample the weights of the variants where its call is missing to `out` (``kernels/weight_sums.cu``).

    The missing bits of the weighted rows are unpacked and multiplied by the two halves of each weight as
    float64 matrix products, each exact (a chunk's sums stay below 2**53), then joined in int64: the same
    integers as the kernel for any int64 weights (wrapping like int64 addition).

    Parameters
    ----------
    lo, hi : (V, W) uint32
    wfix : (V,) int64
    out : (S,) int64, S <= 32 W, accumulated in place
    fail : (V, W) uint32, optional (adj view: failing calls are missing)

    Returns
    -------
    out
    """
    rows = np.flatnonzero(wfix)
    n_samples = out.shape[0]
    step = max(1, min(_WSUM_ROWS, _WSUM_ELEMENTS // max(1, 32 * lo.shape[1])))
    for r0 in range(0, rows.size, step):
        sel = rows[r0:r0 + step]
        miss = lo[sel] & hi[sel]
        if fail is not None:
            miss |= fail[sel]
        bits = np.unpackbits(np.ascontiguousarray(miss).view(np.uint8), axis=1, bitorder="little")
        bits = bits[:, :n_samples].astype(np.float64)
        w = wfix[sel]
        high = (w >> _WSUM_SPLIT).astype(np.float64) @ bits
        low = (w & ((1 << _WSUM_SPLIT) - 1)).astype(np.float64) @ bits
        with np.errstate(over="ignore"):
            out += (high.astype(np.int64) << _WSUM_SPLIT) + low.astype(np.int64)
    return out


def dosages(lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, samples: np.ndarray, fill: np.ndarray,
            out: np.ndarray, fail: np.ndarray | None = None) -> np.ndarray:
    """Write the dosages of plane rows `rows` and samples `samples` into `out` (``kernels/dosages.cu``).

    Parameters
    ----------
    lo, hi : (V, W) uint32
    rows : (M,) int32
    samples : (N,) int32
    fill : (M,) float64, the value of a missing call per column
    out : (N, M) float64, written in place: 0, 1, 2 (alt alleles) or ``fill[j]``
    fail : (V, W) uint32, optional (adj view: failing calls are missing)

    Returns
    -------
    out
    """
    word = samples >> 5
    bit = (samples & 31).astype(np.uint32)
    a = (lo[rows][:, word] >> bit) & 1  # (M, N)
    b = (hi[rows][:, word] >> bit) & 1
    if fail is not None:
        f = (fail[rows][:, word] >> bit) & 1
        a, b = a | f, b | f
    out[...] = np.where((a & b) == 1, fill[:, None], (a + 2 * b).astype(np.float64)).T
    return out


# ---------------------------------------------------------------------------------------------- HWE
_BIAS = 2.0 ** -83  # plink2's kExactTestBias
_EPS = 2.0 ** -44  # plink2's kSmallEpsilon
_T0 = (1 - _EPS) * _BIAS  # weight of the observed count
_TIE = (1 - 2 * _EPS) * _BIAS
_T0_HALF = (1 - _EPS) * _BIAS * 0.5
_DBL_MAX = np.finfo(np.float64).max


def _down(h, r, c, lastp):
    """One step to 2 fewer hets: ``(h, r, c, lastp)`` after it (the kernel's expression order)."""
    r = r + 1
    c = c + 1
    lastp = lastp * ((h * (h - 1)) / (4 * r * c))
    return h - 2, r, c, lastp


def _up(h, r, c, lastp):
    """One step to 2 more hets."""
    h = h + 2
    lastp = lastp * ((4 * r * c) / (h * (h - 1)))
    return h, r - 1, c - 1, lastp


def _can_step(upper_dir: np.ndarray, h: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Whether a walk can take one more step: down needs h >= 2, up needs a rare homozygote to convert."""
    return np.where(upper_dir, r > 0.5, h > 1.5)


def _step(up: np.ndarray, h, r, c, lastp):
    hd, rd, cd, pd = _down(h, r, c, lastp)
    hu, ru, cu, pu = _up(h, r, c, lastp)
    return np.where(up, hu, hd), np.where(up, ru, rd), np.where(up, cu, cd), np.where(up, pu, pd)


def hwe_exact(n_het: np.ndarray, n_hom1: np.ndarray, n_hom2: np.ndarray):
    """Hardy-Weinberg exact test p-values, vectorised over triples (same algorithm as ``kernels/hwe.cu``).

    Parameters
    ----------
    n_het, n_hom1, n_hom2 : (M,) integer

    Returns
    -------
    p, p_midp, p_het_excess, p_het_excess_midp : (M,) float64 each
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the center may overflow: p = 0
        return _hwe_exact(n_het, n_hom1, n_hom2)


def _hwe_exact(n_het, n_hom1, n_hom2):
    het = np.asarray(n_het, dtype=np.int64)
    homr = np.minimum(n_hom1, n_hom2).astype(np.int64)
    homc = np.maximum(n_hom1, n_hom2).astype(np.int64)
    m = het.shape[0]
    p = np.ones(m)
    p_midp = np.full(m, 0.5)
    p_exc = np.ones(m)
    p_exc_midp = np.full(m, 0.5)
    live = np.flatnonzero(het + homr + homc > 0)
    if live.size == 0:
        return p, p_midp, p_exc, p_exc_midp
    het, homr, homc = het[live], homr[live], homc[live]
    n = live.size
    rare = 2 * homr + het
    g2 = 2 * (het + homr + homc)
    upper = het * g2 > rare * (g2 - rare)  # observed above expectation: the center lies below (walk down)
    h0, r0, c0 = het.astype(np.float64), homr.astype(np.float64), homc.astype(np.float64)

    tailp = np.full(n, _T0)
    centerp = np.zeros(n)
    tie = np.ones(n, dtype=np.int64)
    overflow = np.zeros(n, dtype=bool)

    # 1. towards the center: terms >= BIAS are center, the first one below is tail (maybe a tie)
    toward_up = ~upper
    h, r, c, lastp = h0.copy(), r0.copy(), c0.copy(), np.full(n, _T0)
    act = np.flatnonzero(_can_step(toward_up, h, r))
    far = []  # elements that went on to the far tail
    while act.size:
        hh, rr, cc, pp = _step(toward_up[act], h[act], r[act], c[act], lastp[act])
        h[act], r[act], c[act], lastp[act] = hh, rr, cc, pp
        low = pp < _BIAS
        li = act[low]
        tie[li] += pp[low] > _TIE
        tailp[li] += pp[low]
        far.append(li)
        hi_ = act[~low]
        centerp[hi_] += pp[~low]
        of = hi_[centerp[hi_] > _DBL_MAX]
        overflow[of] = True
        keep = hi_[~overflow[hi_]]
        act = keep[_can_step(toward_up[keep], h[keep], r[keep])]
    # 2. the far tail, until it no longer changes the sum
    act = np.concatenate(far) if far else np.zeros(0, dtype=np.int64)
    act = act[_can_step(toward_up[act], h[act], r[act])]
    while act.size:
        hh, rr, cc, pp = _step(toward_up[act], h[act], r[act], c[act], lastp[act])
        h[act], r[act], c[act], lastp[act] = hh, rr, cc, pp
        pre = tailp[act]
        tailp[act] = pre + pp
        go = tailp[act] > pre
        act = act[go]
        act = act[_can_step(toward_up[act], h[act], r[act])]

    # observed above expectation: the one-sided sum is observed + near tail; below: everything but near tail
    upper_side = np.where(upper, _T0, tailp + centerp)

    # 3. the near tail, away from the center (upper: up, as long as a term changes tailp or upper_side)
    away_up = upper
    h, r, c, lastp = h0.copy(), r0.copy(), c0.copy(), np.full(n, _T0)
    tail_open = np.ones(n, dtype=bool)
    act = np.flatnonzero(~overflow)
    act = act[_can_step(away_up[act], h[act], r[act])]
    while act.size:
        hh, rr, cc, pp = _step(away_up[act], h[act], r[act], c[act], lastp[act])
        h[act], r[act], c[act], lastp[act] = hh, rr, cc, pp
        opened = act[tail_open[act]]
        pre = tailp[opened]
        tailp[opened] = pre + lastp[opened]
        tail_open[opened] = tailp[opened] > pre
        u = act[upper[act]]
        pre_u = upper_side[u]
        upper_side[u] = pre_u + lastp[u]
        u_more = np.zeros(n, dtype=bool)
        u_more[u] = upper_side[u] > pre_u
        go = tail_open[act] | (upper[act] & u_more[act])
        act = act[go]
        act = act[_can_step(away_up[act], h[act], r[act])]

    total = tailp + centerp
    pl = tailp / total
    pml = (tailp - _T0_HALF * tie) / total
    el = np.minimum(upper_side / total, 1.0)
    eml = np.minimum((upper_side - _T0 * 0.5) / total, 1.0)
    pl[overflow] = 0.0
    pml[overflow] = 0.0
    el[overflow] = np.where(upper[overflow], 0.0, 1.0)
    eml[overflow] = np.where(upper[overflow], 0.0, 1.0)
    p[live], p_midp[live], p_exc[live], p_exc_midp[live] = pl, pml, el, eml
    return p, p_midp, p_exc, p_exc_midp
