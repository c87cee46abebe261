"""Genotypes of one VCF record -> rows of bit-planes, one row per alternate allele (the multi-allelic split).

The input is what ``cyvcf2``'s ``variant.genotype.array()`` returns: ``(N, P+1) int16`` with the allele
indices in the first P columns (``-1`` missing allele, ``-2`` "vector end", i.e. a lower ploidy) and the
phase flag last. Row ``a`` (alternate allele ``a`` = 1..n_alt) gets, per sample:

- diploid call: the number of copies of allele ``a`` (0, 1, 2); any other alternate allele counts as reference
  (Hail's ``split_multi_hts``, ``bcftools norm -m-``);
- haploid call (``a0`` then vector end): 2 if ``a0 == a`` (haploid alt), else 0; missing -> 3;
- both alleles missing: 3;
- half call (``0/.``, ``./1``): by ``half_call``:

  ============  ==============================================================  ==================
  policy        meaning                                                          ``1/.`` for allele 1
  ============  ==============================================================  ==================
  ``haploid``   the called allele is a haploid call (plink2 --vcf-half-call h)   2
  ``missing``   the call is missing (plink2 m)                                   3
  ``reference`` the missing allele is reference (plink2 r)                       1
  ``error``     refuse the input (plink2's default)                              --
  ============  ==============================================================  ==================

  ``haploid`` is the default: 1000 Genomes phase 3 writes male non-PAR chrX calls as ``0/.``, and bcftools
  (``bcf_gt_type``) reads them as haploid too.

Two implementations: :func:`encode_record` (numba, the ingest path) and :func:`reference_codes` (plain
NumPy, used by ``gdbtools verify`` and the tests as an independent oracle).
"""

from __future__ import annotations

import numpy as np

from ..runtime import import_numba

numba = import_numba()

__all__ = ["HALF_CALL_POLICIES", "encode_record", "fail_record", "reference_codes", "reference_fail",
           "INT32_MISSING", "record_genotypes", "missing_genotypes", "haploid_on_diploid"]

HALF_CALL_POLICIES = {"haploid": 0, "missing": 1, "reference": 2, "error": 3}
INT32_MISSING = np.int32(-(2**31))


@numba.njit(cache=True, nogil=True, inline="always")
def _code(a0, a1, allele, half_mode):
    """Code of one call for `allele`; returns -1 for a half call under the 'error' policy."""
    if a1 == -2:  # haploid
        if a0 < 0:
            return 3
        return 2 if a0 == allele else 0
    if a0 < 0:
        if a1 < 0:
            return 3
        x = a1
    elif a1 < 0:
        x = a0
    else:
        return (1 if a0 == allele else 0) + (1 if a1 == allele else 0)
    # half call
    if half_mode == 0:
        return 2 if x == allele else 0
    if half_mode == 1:
        return 3
    if half_mode == 2:
        return 1 if x == allele else 0
    return -1


@numba.njit(cache=True, nogil=True)
def encode_record(gt, n_alt, row0, lo, hi, half_mode):
    """Encode one record into rows ``row0 .. row0+n_alt-1`` of planes `lo`, `hi` (``(R, W) uint32``).

    Parameters
    ----------
    gt : (N, K) int16
        cyvcf2 genotype array (K-1 allele columns then phase); K >= 2.
    n_alt : int
        Number of alternate alleles of the record.
    half_mode : int
        ``HALF_CALL_POLICIES`` value.

    Returns
    -------
    (n_half, bad_sample, bad_kind) : int, int, int
        Number of half calls; ``bad_sample`` >= 0 names a sample whose call is invalid, with ``bad_kind``
        1 = allele index above n_alt, 2 = half call under the 'error' policy, 3 = ploidy above 2.
    """
    n = gt.shape[0]
    k = gt.shape[1] - 1
    n_half = 0
    if n_alt == 1 and k == 2:  # the common case: biallelic, (at most) diploid: one pass, no second loop
        w = 0
        for base in range(0, n, 32):
            lw = np.uint32(0)
            hw = np.uint32(0)
            stop = min(32, n - base)
            for j in range(stop):
                a0 = gt[base + j, 0]
                a1 = gt[base + j, 1]
                if (a0 == 0 or a0 == 1) and (a1 == 0 or a1 == 1):
                    c = a0 + a1
                else:
                    if a0 > 1 or a1 > 1:
                        return n_half, base + j, 1
                    if a1 != -2 and ((a0 < 0) != (a1 < 0)):
                        n_half += 1
                        if half_mode == 3:
                            return n_half, base + j, 2
                    c = _code(a0, a1, 1, half_mode)
                lw |= np.uint32(c & 1) << np.uint32(j)
                hw |= np.uint32(c >> 1) << np.uint32(j)
            lo[row0, w] = lw
            hi[row0, w] = hw
            w += 1
        return n_half, -1, 0
    # validation pass (once per record): allele range, ploidy, half calls
    for s in range(n):
        a0 = gt[s, 0]
        a1 = gt[s, 1] if k >= 2 else -2
        if a0 > n_alt or a1 > n_alt:
            return n_half, s, 1
        if k >= 3 and gt[s, 2] != -2:
            return n_half, s, 3
        if a1 != -2 and ((a0 < 0) != (a1 < 0)):
            n_half += 1
            if half_mode == 3:
                return n_half, s, 2
    for allele in range(1, n_alt + 1):
        r = row0 + allele - 1
        w = 0
        for base in range(0, n, 32):
            lw = np.uint32(0)
            hw = np.uint32(0)
            stop = min(32, n - base)
            for j in range(stop):
                s = base + j
                a0 = gt[s, 0]
                a1 = gt[s, 1] if k >= 2 else -2
                c = _code(a0, a1, allele, half_mode)
                lw |= np.uint32(c & 1) << np.uint32(j)
                hw |= np.uint32(c >> 1) << np.uint32(j)
            lo[r, w] = lw
            hi[r, w] = hw
            w += 1
    return n_half, -1, 0


@numba.njit(cache=True, nogil=True)
def fail_record(gt, n_alt, row0, fail, half_mode, gq, dp, ad, hap_sample, use_gq, use_dp, use_ad,
                min_gq, min_dp, min_dp_haploid, min_ab):
    """Set the genotype-filter ("adj") plane for the rows of one record; returns the number of failing calls.

    A called genotype fails when GQ < min_gq, or DP < min_dp (``min_dp_haploid`` for a haploid call or a
    sample that is haploid here, e.g. XY outside the PARs), or, for a het call of this row's allele,
    AD[allele] / DP < min_ab (gnomAD's ``get_adj_expr`` on split rows). A filter field that is missing for a
    call fails it; a field absent from the header is not used. Missing calls never fail (they are missing).

    gq, dp : (N,) float64 (missing = -inf; a ``Type=Float`` value is compared unrounded); ad : (N, A) float64
    (A >= n_alt + 1 when used); hap_sample : (N,) bool.
    """
    n = gt.shape[0]
    k = gt.shape[1] - 1
    n_fail = 0
    for allele in range(1, n_alt + 1):
        r = row0 + allele - 1
        w = 0
        for base in range(0, n, 32):
            fw = np.uint32(0)
            stop = min(32, n - base)
            for j in range(stop):
                s = base + j
                a0 = gt[s, 0]
                a1 = gt[s, 1] if k >= 2 else -2
                c = _code(a0, a1, allele, half_mode)
                if c == 3 or c < 0:
                    continue
                bad = False
                if use_gq and gq[s] < min_gq:
                    bad = True
                if use_dp:
                    haploid = a1 == -2 or hap_sample[s] or (half_mode == 0 and (a0 < 0) != (a1 < 0))
                    if dp[s] < (min_dp_haploid if haploid else min_dp):
                        bad = True
                if use_ad and c == 1:
                    d = dp[s]
                    x = ad[s, allele]
                    if d <= 0 or x < 0 or x < min_ab * d:
                        bad = True
                if bad:
                    fw |= np.uint32(1) << np.uint32(j)
                    n_fail += 1
            fail[r, w] = fw
            w += 1
    return n_fail


def record_genotypes(var, n: int) -> np.ndarray | None:
    """cyvcf2's ``(N, P+1) int16`` genotype array of a record, or None if the record has no GT.

    A record without GT in its FORMAT (``GL``/``PL``-only calls, FORMAT ``.``) is read as bcftools counts it:
    every call missing (fill-tags AN=0). cyvcf2 raises a bare ``Exception`` there ("couldn't get genotypes
    for variant": htslib's ``bcf_get_genotypes`` found no GT values; the record's ``FORMAT`` must not be read
    then: cyvcf2 crashes on a lazily unpacked record).
    """
    try:
        gt = var.genotype.array()
    except Exception:
        return None
    return gt if gt.shape[1] >= 2 else None


def missing_genotypes(n: int) -> np.ndarray:
    """``(n, 3) int16``: n missing diploid calls (``./.``), as :func:`record_genotypes` would give them."""
    gt = np.full((n, 3), -1, dtype=np.int16)
    gt[:, 2] = 0
    return gt


@numba.njit(cache=True, nogil=True)
def haploid_on_diploid(gt, diploid):
    """Haploid calls and half calls of the samples that the store counts as diploid (`diploid`).

    gt : (N, P+1) int16, cyvcf2's genotype array; diploid : (N,) bool. Returns ``(first, n_half)``: the first
    such sample with a haploid call (``1``; a haploid *missing* call ``.`` is missing whatever the ploidy and
    does not count), or -1; and how many of them have a half call (``1/.``).
    """
    n = gt.shape[0]
    k = gt.shape[1] - 1
    n_half = 0
    for s in range(n):
        if not diploid[s]:
            continue
        a0 = gt[s, 0]
        a1 = gt[s, 1] if k >= 2 else -2
        if a1 == -2:
            if a0 >= 0:
                return s, n_half
        elif (a0 < 0) != (a1 < 0):
            n_half += 1
    return -1, n_half


def warm_up() -> None:
    """Compile (or load from numba's cache) the encoders on a tiny record, e.g. before forking workers."""
    gt = np.zeros((3, 3), dtype=np.int16)
    planes = np.zeros((2, 4), dtype=np.uint32)
    encode_record(gt, 1, 0, planes, planes.copy(), 0)
    encode_record(gt, 2, 0, planes, planes.copy(), 0)
    full = np.zeros(3, np.float64)
    fail_record(gt, 1, 0, planes, 0, full, full, np.zeros((3, 2), np.float64), np.zeros(3, bool), True, True, True,
                20, 10, 5, 0.2)
    haploid_on_diploid(gt, np.ones(3, dtype=np.bool_))


def reference_codes(gt: np.ndarray, n_alt: int, half_call: str = "haploid") -> np.ndarray:
    """Plain-NumPy twin of :func:`encode_record`: ``(n_alt, N) int8`` codes of one record.

    Raises ``ValueError`` for alleles above n_alt, ploidy above 2, or half calls under ``"error"``.
    """
    gt = np.asarray(gt)
    a0 = gt[:, 0].astype(np.int64)
    a1 = gt[:, 1].astype(np.int64) if gt.shape[1] > 2 else np.full(len(gt), -2)
    if gt.shape[1] > 3 and np.any(gt[:, 2] != -2):
        raise ValueError("ploidy above 2")
    if np.any(a0 > n_alt) or np.any(a1 > n_alt):
        raise ValueError("allele index above the number of ALT alleles")
    haploid = a1 == -2
    m0, m1 = a0 < 0, (a1 < 0) & ~haploid
    half = ~haploid & (m0 ^ m1)
    if half.any() and half_call == "error":
        raise ValueError("half call")
    out = np.empty((n_alt, len(gt)), dtype=np.int8)
    for allele in range(1, n_alt + 1):
        c0, c1 = a0 == allele, a1 == allele
        codes = c0.astype(np.int8) + c1.astype(np.int8)
        codes[haploid] = np.where(c0[haploid], 2, 0)
        codes[haploid & m0] = 3
        codes[~haploid & m0 & m1] = 3
        x = np.where(m0, c1, c0)
        codes[half] = {"haploid": np.where(x[half], 2, 0), "missing": np.full(half.sum(), 3),
                       "reference": np.where(x[half], 1, 0)}[half_call]
        out[allele - 1] = codes
    return out


def reference_fail(codes: np.ndarray, gt: np.ndarray, gq, dp, ad, hap_sample, use_gq: bool, use_dp: bool,
                   use_ad: bool, *, half_call="haploid", min_gq=20, min_dp=10, min_dp_haploid=5,
                   min_ab=0.2) -> np.ndarray:
    """Plain-NumPy twin of :func:`fail_record`: ``(n_alt, N) bool`` for one record (same inputs)."""
    n_alt, n = codes.shape
    a0 = gt[:, 0]
    a1 = gt[:, 1] if gt.shape[1] > 2 else np.full(n, -2)
    haploid = (a1 == -2) | np.asarray(hap_sample, bool)
    if half_call == "haploid":
        haploid |= (a1 != -2) & ((a0 < 0) != (a1 < 0))
    out = np.zeros((n_alt, n), dtype=bool)
    for i in range(n_alt):
        bad = np.zeros(n, dtype=bool)
        if use_gq:
            bad |= gq < min_gq
        if use_dp:
            bad |= dp < np.where(haploid, min_dp_haploid, min_dp)
        if use_ad:
            d = dp.astype(np.float64)
            x = ad[:, i + 1].astype(np.float64)
            bad |= (codes[i] == 1) & ((d <= 0) | (x < 0) | (x < min_ab * d))
        out[i] = bad & (codes[i] != 3)
    return out
