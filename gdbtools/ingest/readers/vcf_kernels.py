"""numba kernels of the fast VCF text reader: lines -> site offsets and cyvcf2's genotype layout.

See :mod:`.kernels` for the genotype layout and the status codes.
"""

from __future__ import annotations

import numpy as np

from .kernels import (
    BAD,
    COLON,
    COMMA,
    DOT,
    FULL,
    INT32_MIN,
    INT32_VEC_END,
    MAX_ALLELE,
    MINUS,
    MORE,
    NL,
    PIPE,
    R_ALLELE,
    R_COLUMNS,
    R_NOGT,
    R_PLOIDY,
    R_POS,
    R_SYNTAX,
    SLASH,
    TAB,
    _store1,
    _store4,
    numba,
)

__all__ = ["vcf_lines", "vcf_format_int", "T_TXT1", "T_TXT2", "T_TXT2_LAST"]


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


T_TXT1, T_TXT2, T_TXT2_LAST = _text_tables()


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
