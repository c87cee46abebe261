"""What the numba kernels of the fast readers share: status codes, reasons, byte values, genotype stores.

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
