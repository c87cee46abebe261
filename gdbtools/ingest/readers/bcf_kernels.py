"""numba kernels of the fast BCF reader: BCF 2.2 records -> site text, offsets and cyvcf2's genotype layout.

See :mod:`.kernels` for the genotype layout and the status codes.
"""

from __future__ import annotations

import numpy as np

from .kernels import (
    BAD,
    COMMA,
    DOT,
    FULL,
    INT32_MIN,
    INT32_VEC_END,
    MORE,
    NL,
    R_LAYOUT,
    R_NOGT,
    R_SYNTAX,
    R_TYPE,
    TAB,
    _store1,
    _store4,
    numba,
)

__all__ = ["bcf_records", "bcf_format_int", "T_BCF8"]


def _bcf8_table():
    """BCF int8 diploid GT (two bytes as one uint16 key) -> a0, a1, phase packed in int16 lanes."""
    out = np.empty(65536, np.uint64)
    for key in range(65536):
        v0, v1 = (key & 255), key >> 8
        v0 = v0 - 256 if v0 >= 128 else v0
        v1 = v1 - 256 if v1 >= 128 else v1
        end0 = v0 == -127
        end1 = end0 or v1 == -127
        a0 = -2 if end0 else (-1 if v0 == -128 else (v0 >> 1) - 1)
        a1 = -2 if end1 else (-1 if v1 == -128 else (v1 >> 1) - 1)
        ph = 1 if end1 else (0 if v1 == -128 else v1 & 1)
        out[key] = np.uint64(a0 & 0xFFFF) | (np.uint64(a1 & 0xFFFF) << np.uint64(16)) | (np.uint64(ph) << np.uint64(32))
    return out


T_BCF8 = _bcf8_table()


@numba.njit(cache=True, nogil=True, inline="always")
def _u32(buf, q):
    return np.int64(buf[q]) | (np.int64(buf[q + 1]) << 8) | (np.int64(buf[q + 2]) << 16) | (np.int64(buf[q + 3]) << 24)


@numba.njit(cache=True, nogil=True, inline="always")
def _i32(buf, q):
    v = _u32(buf, q)
    return v - (1 << 32) if v >= (1 << 31) else v


@numba.njit(cache=True, nogil=True, inline="always")
def _i16(buf, q):
    v = np.int64(buf[q]) | (np.int64(buf[q + 1]) << 8)
    return v - (1 << 16) if v >= (1 << 15) else v


@numba.njit(cache=True, nogil=True, inline="always")
def _i8(buf, q):
    v = np.int64(buf[q])
    return v - 256 if v >= 128 else v


@numba.njit(cache=True, nogil=True, inline="always")
def _size(t):
    if t == 1 or t == 7:
        return 1
    if t == 2:
        return 2
    if t == 3 or t == 5:
        return 4
    if t == 0:
        return 0
    return -1


@numba.njit(cache=True, nogil=True)
def _typed_int(buf, q, end):
    """A typed scalar int at q -> (value, next q); next q = -1 when malformed."""
    if q >= end:
        return np.int64(0), np.int64(-1)
    d = np.int64(buf[q])
    t = d & 15
    if (d >> 4) != 1:
        return 0, -1
    if t == 1 and q + 2 <= end:
        return _i8(buf, q + 1), q + 2
    if t == 2 and q + 3 <= end:
        return _i16(buf, q + 1), q + 3
    if t == 3 and q + 5 <= end:
        return _i32(buf, q + 1), q + 5
    return 0, -1


@numba.njit(cache=True, nogil=True)
def _typed_desc(buf, q, end):
    """A type descriptor at q -> (type, n, next q); next q = -1 when malformed."""
    if q >= end:
        return np.int64(0), np.int64(0), np.int64(-1)
    d = np.int64(buf[q])
    t = d & 15
    n = d >> 4
    q += 1
    if _size(t) < 0:
        return 0, 0, -1
    if n == 15:
        n, q = _typed_int(buf, q, end)
        if q < 0 or n < 0:
            return 0, 0, -1
    return t, n, q


@numba.njit(cache=True, nogil=True, inline="always")
def _raw32(buf, q, t):
    """Element at q of type t, as htslib's bcf_get_format_values converts it: (value, is_vector_end)."""
    if t == 1:
        v = _i8(buf, q)
        if v == -127:
            return INT32_VEC_END, True
        if v == -128:
            return INT32_MIN, False
        return v, False
    if t == 2:
        v = _i16(buf, q)
        if v == -32767:
            return INT32_VEC_END, True
        if v == -32768:
            return INT32_MIN, False
        return v, False
    v = _i32(buf, q)
    return v, v == INT32_VEC_END


@numba.njit(cache=True, nogil=True)
def bcf_records(buf, p, stop, n_samples, gt_key, ctg_ok, str_ok, want, max_rec, rec_off, rid, pos0, rlen,
                qual, n_allele, n_info, info_off, flt_off, flt_n, flt_ids, fmt_meta, gt_off, ploidy, gt_pool,
                pool64, sites, site_end, b16e, b16o, tab8):
    """Parse the complete BCF 2.2 records of ``buf[p:stop]``.

    Per record r: rec_off (offset of l_shared), rid, pos0, rlen, qual (raw float32 bits as uint32), n_allele,
    n_info, info_off (first INFO key), filter ids (flt_ids[flt_off[r]: flt_off[r] + flt_n[r]]), fmt_meta[r, i]
    = (type, n, data offset) of FORMAT key ``want[i]`` (type -1 if absent), the genotypes decoded into gt_pool
    at gt_off[r] as ``(N, ploidy+1)``, and ``ID\\tREF\\tALT1,ALT2\\n`` appended to `sites`.
    Returns ``(n_records, position, status, reason, gt_used, sites_used, flt_used)``.
    """
    n = 0
    used = 0
    sused = 0
    fused = 0
    n_want = want.size
    while True:
        if p + 8 > stop:
            return n, p, MORE, 0, used, sused, fused
        if n >= max_rec:
            return n, p, FULL, 0, used, sused, fused
        l_shared = _u32(buf, p)
        l_indiv = _u32(buf, p + 4)
        rs = p
        end = p + 8 + l_shared + l_indiv
        if end > stop:
            return n, p, MORE, 0, used, sused, fused
        if l_shared < 24:
            return n, rs, BAD, R_LAYOUT, used, sused, fused
        q = p + 8
        send = q + l_shared
        r_rid = _i32(buf, q)
        r_pos = _i32(buf, q + 4)
        r_rlen = _i32(buf, q + 8)
        r_qual = _u32(buf, q + 12)
        x = _u32(buf, q + 16)
        r_ninfo = x & 0xFFFF
        r_nallele = x >> 16
        x = _u32(buf, q + 20)
        r_nsample = x & 0xFFFFFF
        r_nfmt = x >> 24
        if r_rid < 0 or r_rid >= ctg_ok.size or ctg_ok[r_rid] == 0 or r_nallele < 1 or r_pos < -1:
            return n, rs, BAD, R_LAYOUT, used, sused, fused
        if r_nsample != n_samples:
            return n, rs, BAD, R_LAYOUT, used, sused, fused
        q += 24
        # ID
        t, m, q = _typed_desc(buf, q, send)
        if q < 0 or (t != 7 and not (t == 0 and m == 0)) or q + m > send:
            return n, rs, BAD, R_TYPE, used, sused, fused
        # room in the site text: ID + alleles (bounded by l_shared) + separators
        if sused + l_shared + r_nallele + 8 > sites.size:
            if n == 0:
                return n, rs, FULL, 0, used, -1 - (l_shared + r_nallele + 8), fused
            return n, rs, FULL, 0, used, sused, fused
        s0 = sused
        k = _copy_str(buf, q, m, sites, sused)
        if k < 0:
            return n, rs, BAD, R_SYNTAX, used, sused, fused
        if k == 0:
            sites[sused] = DOT
            k = 1
        sused += k
        sites[sused] = TAB
        sused += 1
        q += m
        # alleles
        for a in range(r_nallele):
            t, m, q = _typed_desc(buf, q, send)
            if q < 0 or (t != 7 and not (t == 0 and m == 0)) or q + m > send:
                return n, rs, BAD, R_TYPE, used, s0, fused
            if a >= 2:
                sites[sused] = COMMA
                sused += 1
            k = _copy_str(buf, q, m, sites, sused)
            if k < 0:
                return n, rs, BAD, R_SYNTAX, used, s0, fused
            sused += k
            if a == 0:
                sites[sused] = TAB
                sused += 1
            q += m
        sites[sused] = NL
        sused += 1
        # FILTER
        t, m, q = _typed_desc(buf, q, send)
        if q < 0 or (m > 0 and t not in (1, 2, 3)) or q + m * _size(t) > send:
            return n, rs, BAD, R_TYPE, used, s0, fused
        f0 = fused
        if fused + m > flt_ids.size:
            if n == 0:
                return n, rs, BAD, R_LAYOUT, used, s0, f0
            return n, rs, FULL, 0, used, s0, f0
        for i in range(m):
            if t == 1:
                v = _i8(buf, q + i)
            elif t == 2:
                v = _i16(buf, q + 2 * i)
            else:
                v = _i32(buf, q + 4 * i)
            if v < 0 or v >= str_ok.size or str_ok[v] == 0:
                return n, rs, BAD, R_TYPE, used, s0, f0
            flt_ids[fused] = v
            fused += 1
        q += m * _size(t)
        # INFO: walk to check the layout
        io = q
        for _ in range(r_ninfo):
            key, q = _typed_int(buf, q, send)
            if q < 0 or key < 0 or key >= str_ok.size or str_ok[key] == 0:
                return n, rs, BAD, R_TYPE, used, s0, f0
            t, m, q = _typed_desc(buf, q, send)
            if q < 0 or q + m * _size(t) > send:
                return n, rs, BAD, R_TYPE, used, s0, f0
            q += m * _size(t)
        if q != send:
            return n, rs, BAD, R_LAYOUT, used, s0, f0
        # FORMAT
        iend = send + l_indiv
        for i in range(n_want):
            fmt_meta[n, i, 0] = -1
        g_t = -1
        g_n = 0
        g_q = 0
        for _ in range(r_nfmt):
            key, q = _typed_int(buf, q, iend)
            if q < 0 or key < 0 or key >= str_ok.size or str_ok[key] == 0:
                return n, rs, BAD, R_TYPE, used, s0, f0
            t, m, q = _typed_desc(buf, q, iend)
            if q < 0:
                return n, rs, BAD, R_TYPE, used, s0, f0
            nbytes = np.int64(m) * _size(t) * n_samples
            if q + nbytes > iend:
                return n, rs, BAD, R_LAYOUT, used, s0, f0
            if key == gt_key and g_t < 0:
                g_t = t
                g_n = m
                g_q = q
            for w in range(n_want):
                if want[w] == key and fmt_meta[n, w, 0] < 0:
                    fmt_meta[n, w, 0] = t
                    fmt_meta[n, w, 1] = m
                    fmt_meta[n, w, 2] = q
            q += nbytes
        if q != iend:
            return n, rs, BAD, R_LAYOUT, used, s0, f0
        # genotypes
        pl = 0
        if n_samples > 0:
            if g_t < 0 or g_n < 1:
                return n, rs, BAD, R_NOGT, used, s0, f0
            if g_t != 1 and g_t != 2 and g_t != 3:
                return n, rs, BAD, R_TYPE, used, s0, f0
            need = n_samples * (g_n + 1) + 4
            if used + need > gt_pool.size:
                if n == 0:
                    return n, rs, FULL, -need, used, s0, f0
                return n, rs, FULL, 0, used, s0, f0
            _bcf_gt(buf, g_q, g_t, g_n, n_samples, gt_pool, pool64, used, b16e, b16o, tab8)
            pl = g_n
        rec_off[n] = rs
        rid[n] = r_rid
        pos0[n] = r_pos
        rlen[n] = r_rlen
        qual[n] = r_qual
        n_allele[n] = r_nallele
        n_info[n] = r_ninfo
        info_off[n] = io
        flt_off[n] = f0
        flt_n[n] = fused - f0
        gt_off[n] = used
        ploidy[n] = pl
        site_end[n] = sused
        used += (n_samples * (pl + 1) + 3) // 4 * 4  # records start 8-byte aligned (uint64 stores)
        n += 1
        p = end


@numba.njit(cache=True, nogil=True)
def _copy_str(buf, q, m, out, o):
    """Copy a BCF string (up to its first NUL, like a C string) to out[o:]; -1 if it has a tab/newline/comma."""
    k = 0
    for i in range(m):
        c = buf[q + i]
        if c == 0:
            break
        if c == TAB or c == NL or c == COMMA:
            return -1
        out[o + k] = c
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _gt8_table(src, i0, N, out, out64, o, tab):
    s = 0
    while s + 4 <= N:
        _store4(out64, (o + 3 * s) // 4, tab[src[i0 + s]], tab[src[i0 + s + 1]], tab[src[i0 + s + 2]],
                tab[src[i0 + s + 3]])
        s += 4
    while s < N:
        _store1(out, o + 3 * s, tab[src[i0 + s]])
        s += 1


@numba.njit(cache=True, nogil=True)
def _bcf_gt(buf, q, t, P, N, out, out64, o, b16e, b16o, tab8):
    """GT values (type t, P per sample) at buf[q:] -> cyvcf2's ``(N, P+1)`` genotype rows at out[o:]."""
    size = _size(t)
    if t == 1 and P == 2:  # the common case: int8 diploid, one table lookup per sample
        if q % 2 == 0:
            _gt8_table(b16e, q // 2, N, out, out64, o, tab8)
        else:
            _gt8_table(b16o, q // 2, N, out, out64, o, tab8)
        return
    W = P + 1
    for s in range(N):
        j = o + W * s
        ended = False
        second = 0
        for a in range(P):
            if ended:
                out[j + a] = -2
                if a == 1:
                    second = INT32_VEC_END
                continue
            v, ve = _raw32(buf, q + (s * P + a) * size, t)
            if ve:
                ended = True
                out[j + a] = -2
            else:
                out[j + a] = np.int16((v >> 1) - 1)
            if a == 1:
                second = v
        if P >= 2:
            out[j + P] = second & 1
        else:
            if s + 1 < N:
                v, ve = _raw32(buf, q + (s + 1) * size, t)
                out[j + 1] = v & 1
            else:
                out[j + 1] = 0


@numba.njit(cache=True, nogil=True)
def bcf_format_int(buf, q, t, m, n_samples):
    """A BCF FORMAT block as htslib's bcf_get_format_int32 returns it: ``(N, m) int32``; ok False if not ints."""
    out = np.empty((n_samples, m), dtype=np.int32)
    if t != 1 and t != 2 and t != 3:
        return False, out
    size = _size(t)
    for s in range(n_samples):
        ended = False
        for a in range(m):
            if ended:
                out[s, a] = INT32_VEC_END
                continue
            v, ve = _raw32(buf, q + (s * m + a) * size, t)
            if ve:
                ended = True
                out[s, a] = INT32_VEC_END
            else:
                out[s, a] = v
    return True, out
