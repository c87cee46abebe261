"""numba kernels of the fast readers: VCF text lines and BCF records -> cyvcf2's genotype layout.

The genotype output is what cyvcf2's ``variant.genotype.array()`` returns for htslib 1.19: ``(N, P+1) int16``,
allele ``(raw >> 1) - 1`` (so ``.`` is -1), ``-2`` where htslib has the vector end (lower ploidy), and last the
phase bit of the sample's *second* raw value (``raw[i*P + 1] & 1``; the vector end has that bit set). For
P == 1 cyvcf2 reads the next sample's first value there (and past its buffer for the last sample, where we
write 0).

Status codes returned by the batch kernels: ``MORE`` (the batch ends inside a record: give more data),
``FULL`` (an output buffer is full: call again from the returned position), ``BAD`` (this record is not
something the fast path reads exactly like htslib: the caller raises FastPathUnsupported after handing out
the records before it), ``DONE`` (the requested stop was reached).
"""

from __future__ import annotations

import numpy as np

from ...runtime import import_numba

numba = import_numba()

MORE, FULL, BAD = 0, 1, 2
INT32_MIN = -(2**31)
INT32_VEC_END = -(2**31) + 1
MAX_ALLELE = 32767

# BAD reasons (for the message)
R_SYNTAX, R_PLOIDY, R_COLUMNS, R_ALLELE, R_NOGT, R_TYPE, R_LAYOUT, R_POS = 1, 2, 3, 4, 5, 6, 7, 8
REASONS = {R_SYNTAX: "a value the fast parser does not accept", R_PLOIDY: "ploidy above 2 in text VCF",
           R_COLUMNS: "wrong number of columns", R_ALLELE: "allele index above 32767",
           R_NOGT: "GT is not the first FORMAT field (or absent)", R_TYPE: "unexpected BCF value type",
           R_LAYOUT: "inconsistent BCF record layout", R_POS: "POS not a plain positive integer"}

TAB, NL, COLON, SLASH, PIPE, DOT, COMMA, MINUS = 9, 10, 58, 47, 124, 46, 44, 45


def _text_tables():
    """Text GT "a|b\\t" as two uint16 keys -> a0, a1, phase packed in int16 lanes; bit 63 flags anything else."""
    bad = np.uint64(1) << np.uint64(63)
    t1 = np.full(65536, bad, np.uint64)
    t2 = np.full(65536, bad, np.uint64)
    t2_last = np.full(65536, bad, np.uint64)
    for c0 in [*range(48, 58), DOT]:
        a = (c0 - 48 if c0 != DOT else -1) & 0xFFFF
        for sep, ph in ((PIPE, 1), (SLASH, 0)):
            t1[c0 | (sep << 8)] = np.uint64(a) | (np.uint64(ph) << np.uint64(32))
        t2[c0 | (TAB << 8)] = np.uint64(a) << np.uint64(16)
        t2_last[c0 | (NL << 8)] = np.uint64(a) << np.uint64(16)
    return t1, t2, t2_last


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


T_TXT1, T_TXT2, T_TXT2_LAST = _text_tables()
T_BCF8 = _bcf8_table()


# --------------------------------------------------------------------------------------------------------------
# VCF text
# --------------------------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def vcf_lines(buf, p, stop, n_samples, max_rec, line_start, info_end, samp_start, line_end, pos_out, ploidy,
              gt_off, gt_pool, pool64, sites, site_end, b16e, b16o, t1, t2, t2_last):
    """Parse the complete lines of ``buf[p:stop]`` (``buf[stop]`` must be ``\\n``: a sentinel).

    Per record r: line_start, info_end (end of column 8), samp_start (first sample column), line_end
    (its ``\\n``), POS, ploidy (0 without samples), gt_off (offset in gt_pool of its ``(N, P+1)`` genotypes),
    and the text of columns 1-8 appended to `sites` followed by ``\\n`` (site_end: end offset). b16e/b16o:
    `buf` seen as uint16 from byte 0 / byte 1 (for the table lookups); t1, t2, t2_last: the text GT tables.
    Returns ``(n_records, position, status, reason, gt_used, sites_used)``.
    """
    n = 0
    used = 0
    sused = 0
    need = n_samples * 3 + 4
    while True:
        if p >= stop:
            return n, p, MORE, 0, used, sused
        if n >= max_rec or used + need > gt_pool.size:
            return n, p, FULL, 0, used, sused
        ls = p
        q = p
        # CHROM
        while buf[q] != TAB and buf[q] != NL:
            q += 1
        if buf[q] == NL:
            if q >= stop:
                return n, ls, MORE, 0, used, sused
            return n, ls, BAD, R_COLUMNS, used, sused
        if q == ls or buf[ls] == 35:  # empty CHROM, or a '#' line in the body
            return n, ls, BAD, R_SYNTAX, used, sused
        q += 1
        # POS: a plain decimal without a leading zero
        c = buf[q]
        if c < 49 or c > 57:
            if c == NL and q >= stop:
                return n, ls, MORE, 0, used, sused
            return n, ls, BAD, R_POS, used, sused
        v = 0
        while 48 <= buf[q] <= 57:
            v = v * 10 + (buf[q] - 48)
            if v > 2147483647:
                return n, ls, BAD, R_POS, used, sused
            q += 1
        if buf[q] != TAB:
            if buf[q] == NL and q >= stop:
                return n, ls, MORE, 0, used, sused
            return n, ls, BAD, R_POS, used, sused
        pos = v
        q += 1
        # ID REF ALT QUAL FILTER INFO
        for _ in range(6):
            while buf[q] != TAB and buf[q] != NL:
                q += 1
            if buf[q] == NL:
                break
            q += 1
        # q is now after the tab ending INFO, or at the NL ending the line
        if buf[q] == NL:
            if q >= stop:
                return n, ls, MORE, 0, used, sused
            if _count_tabs(buf, ls, q) != 7:
                return n, ls, BAD, R_COLUMNS, used, sused
            if n_samples > 0:
                return n, ls, BAD, R_COLUMNS, used, sused
            ie = q
            le = q
            ss = q
            pl = 0
        else:
            ie = q - 1
            if n_samples == 0:
                return n, ls, BAD, R_COLUMNS, used, sused
            # FORMAT: GT first
            if not (buf[q] == 71 and buf[q + 1] == 84 and (buf[q + 2] == COLON or buf[q + 2] == TAB)):
                if q + 2 >= stop:
                    return n, ls, MORE, 0, used, sused
                return n, ls, BAD, R_NOGT, used, sused
            nsub = 1
            q += 2
            while buf[q] != TAB and buf[q] != NL:
                if buf[q] == COLON:
                    nsub += 1
                q += 1
            if buf[q] == NL:
                if q >= stop:
                    return n, ls, MORE, 0, used, sused
                return n, ls, BAD, R_COLUMNS, used, sused
            q += 1
            ss = q
            st, rs, le, pl = _vcf_samples(buf, ss, stop, n_samples, nsub, gt_pool, pool64, used, b16e, b16o, t1, t2,
                                          t2_last)
            if st != 3:
                return n, ls, st, rs, used, sused
        if buf[le - 1] == 13:  # CRLF: htslib strips the CR; leave such files to it
            return n, ls, BAD, R_SYNTAX, used, sused
        # site text
        ln = ie - ls
        if sused + ln + 1 > sites.size:
            if n == 0:  # grow: the caller reallocates a larger sites buffer
                return n, ls, FULL, 0, used, -1 - (ln + 1)
            return n, ls, FULL, 0, used, sused
        sites[sused: sused + ln] = buf[ls: ie]
        sites[sused + ln] = NL
        sused += ln + 1
        line_start[n] = ls
        info_end[n] = ie
        samp_start[n] = ss
        line_end[n] = le
        pos_out[n] = pos
        ploidy[n] = pl
        gt_off[n] = used
        site_end[n] = sused
        if pl:
            used += (n_samples * (pl + 1) + 3) // 4 * 4  # records start 8-byte aligned (uint64 stores)
        n += 1
        p = le + 1


@numba.njit(cache=True, nogil=True)
def _text_gt_table(src, i0, N, out, out64, o, t1, t2, t2_last):
    bad = np.uint64(0)
    s = 0
    while s + 4 <= N - 1:  # four samples = 24 bytes = three aligned uint64 stores (o is a multiple of 4)
        v0 = t1[src[i0 + 2 * s]] | t2[src[i0 + 2 * s + 1]]
        v1 = t1[src[i0 + 2 * s + 2]] | t2[src[i0 + 2 * s + 3]]
        v2 = t1[src[i0 + 2 * s + 4]] | t2[src[i0 + 2 * s + 5]]
        v3 = t1[src[i0 + 2 * s + 6]] | t2[src[i0 + 2 * s + 7]]
        bad |= v0 | v1 | v2 | v3
        _store4(out64, (o + 3 * s) // 4, v0, v1, v2, v3)
        s += 4
    while s < N:
        v = t1[src[i0 + 2 * s]] | (t2_last[src[i0 + 2 * s + 1]] if s == N - 1 else t2[src[i0 + 2 * s + 1]])
        bad |= v
        _store1(out, o + 3 * s, v)
        s += 1
    return (bad >> np.uint64(63)) == 0


@numba.njit(cache=True, nogil=True, inline="always")
def _store4(out64, k, v0, v1, v2, v3):
    """Four packed samples (a0, a1, phase in the low 48 bits) as 12 int16 = three uint64 at out64[k]."""
    m48 = np.uint64(0xFFFFFFFFFFFF)
    v0 &= m48
    v1 &= m48
    v2 &= m48
    v3 &= m48
    out64[k] = v0 | (v1 << np.uint64(48))
    out64[k + 1] = (v1 >> np.uint64(16)) | (v2 << np.uint64(32))
    out64[k + 2] = (v2 >> np.uint64(32)) | (v3 << np.uint64(16))


@numba.njit(cache=True, nogil=True, inline="always")
def _store1(out, j, v):
    m = np.uint64(0xFFFF)
    out[j] = np.int16(v & m)
    out[j + 1] = np.int16((v >> np.uint64(16)) & m)
    out[j + 2] = np.int16((v >> np.uint64(32)) & m)


@numba.njit(cache=True, nogil=True)
def _text_allele(buf, q, stop):
    """One allele of a text GT at `q` (``.`` or decimal digits): ``(status, reason, allele, next q)``, status 3 =
    read (``.`` is -1); MORE where the batch ends there, BAD for another character or an allele above 32767."""
    c = buf[q]
    if c == DOT:
        return 3, 0, -1, q + 1
    if 48 <= c <= 57:
        a = 0
        while 48 <= buf[q] <= 57:
            a = a * 10 + (buf[q] - 48)
            if a > MAX_ALLELE:
                return BAD, R_ALLELE, 0, q
            q += 1
        return 3, 0, a, q
    if c == NL and q >= stop:
        return MORE, 0, 0, q
    return BAD, R_SYNTAX, 0, q


@numba.njit(cache=True, nogil=True)
def _vcf_samples(buf, ss, stop, n_samples, nsub, pool, pool64, out, b16e, b16o, t1, t2, t2_last):
    """The sample columns of one line, from ss. Returns (status, reason, line end, ploidy); status 3 = done."""
    # 1. GT-only lines of one-character alleles ("0|1\t" x N): fixed stride, two 64K-entry tables
    if nsub == 1:
        le = ss + 4 * n_samples - 1
        if le < stop and buf[le] == NL:
            if ss % 2 == 0:
                ok = _text_gt_table(b16e, ss // 2, n_samples, pool, pool64, out, t1, t2, t2_last)
            else:
                ok = _text_gt_table(b16o, ss // 2, n_samples, pool, pool64, out, t1, t2, t2_last)
            if ok:
                return 3, 0, le, 2
    # 2. anything else, sample by sample
    q = ss
    o = out
    maxk = 1
    s = 0
    while True:
        st, rs, a0, q = _text_allele(buf, q, stop)
        if st != 3:
            return st, rs, q, 0
        c = buf[q]
        if c == SLASH or c == PIPE:
            ph = 1 if c == PIPE else 0
            st, rs, a1, q = _text_allele(buf, q + 1, stop)
            if st != 3:
                return st, rs, q, 0
            c = buf[q]
            if c == SLASH or c == PIPE:
                return BAD, R_PLOIDY, q, 0
            pool[o] = a0
            pool[o + 1] = a1
            pool[o + 2] = ph
            maxk = 2
        else:
            pool[o] = a0
            pool[o + 1] = -2
            pool[o + 2] = 1
        o += 3
        if c == COLON:  # the other FORMAT subfields
            k = 1
            while buf[q] != TAB and buf[q] != NL:
                if buf[q] == COLON:
                    k += 1
                q += 1
            if k > nsub:
                if buf[q] == NL and q >= stop:
                    return MORE, 0, q, 0
                return BAD, R_COLUMNS, q, 0
            c = buf[q]
        if c == TAB:
            s += 1
            if s >= n_samples:
                return BAD, R_COLUMNS, q, 0
            q += 1
        elif c == NL:
            if q >= stop:
                return MORE, 0, q, 0
            if s != n_samples - 1:
                return BAD, R_COLUMNS, q, 0
            break
        else:
            return BAD, R_SYNTAX, q, 0
    if maxk == 1:  # all haploid: (N, 2) with cyvcf2's phase column (next sample's first raw bit = 0)
        for j in range(n_samples):
            pool[out + 2 * j] = pool[out + 3 * j]
            pool[out + 2 * j + 1] = 0
    return 3, 0, q, maxk


@numba.njit(cache=True, nogil=True)
def _count_tabs(buf, a, b):
    k = 0
    for i in range(a, b):
        if buf[i] == TAB:
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _subfield(buf, q, j):
    """Position of subfield j (0-based, ':'-separated) of the sample starting at q, or -1 if it has fewer."""
    k = 0
    while k < j:
        c = buf[q]
        if c == TAB or c == NL:
            return -1
        if c == COLON:
            k += 1
        q += 1
    return q


@numba.njit(cache=True, nogil=True)
def _next_sample(buf, q):
    while buf[q] != TAB and buf[q] != NL:
        q += 1
    return q + 1


@numba.njit(cache=True, nogil=True)
def vcf_format_int(buf, samp_start, n_samples, j):
    """FORMAT subfield `j` (an Integer field) of one line as htslib stores it: ``(N, k) int32``.

    Missing ``.`` -> INT32_MIN; shorter vectors padded with the vector end (INT32_MIN+1); a sample without the
    subfield -> missing then vector ends. Returns ``(ok, values)``; ok is False for anything unusual.
    """
    # pass 1: values per sample (k = the maximum)
    kmax = 1
    q = samp_start
    for _ in range(n_samples):
        f = _subfield(buf, q, j)
        if f >= 0:
            cnt = 1
            while buf[f] != COLON and buf[f] != TAB and buf[f] != NL:
                if buf[f] == COMMA:
                    cnt += 1
                f += 1
            if cnt > kmax:
                kmax = cnt
        q = _next_sample(buf, q)
    out = np.full((n_samples, kmax), INT32_VEC_END, dtype=np.int32)
    q = samp_start
    for s in range(n_samples):
        f = _subfield(buf, q, j)
        if f < 0:
            out[s, 0] = INT32_MIN
        else:
            i = 0
            while True:
                c = buf[f]
                if c == DOT:
                    out[s, i] = INT32_MIN
                    f += 1
                else:
                    neg = False
                    if c == MINUS:
                        neg = True
                        f += 1
                    if not (48 <= buf[f] <= 57):
                        return False, out
                    v = 0
                    while 48 <= buf[f] <= 57:
                        v = v * 10 + (buf[f] - 48)
                        if v > 2147483647:
                            return False, out
                        f += 1
                    if neg:
                        v = -v
                        if v < INT32_MIN + 8:
                            return False, out
                    out[s, i] = v
                i += 1
                c = buf[f]
                if c == COMMA:
                    f += 1
                    continue
                if c == COLON or c == TAB or c == NL:
                    break
                return False, out
        q = _next_sample(buf, q)
    return True, out


# --------------------------------------------------------------------------------------------------------------
# BCF
# --------------------------------------------------------------------------------------------------------------
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
