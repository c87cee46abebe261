"""The dense 2-bit genotype encoding as two bit-planes, and its NumPy reference pack/unpack.

Genotype codes (PLINK 2's): ``0`` hom-ref, ``1`` het, ``2`` hom-alt (or haploid alt), ``3`` missing.
A code is stored as two bits in two planes of ``uint32`` words:

======  ==  ==
code    lo  hi
======  ==  ==
0       0   0
1       1   0
2       0   1
3       1   1
======  ==  ==

Bit ``j`` of word ``w`` of a row is sample ``32*w + j``. Rows are padded to a multiple of 4 words (16 bytes)
so that kernels can use 128-bit loads; padding bits are 0 in every plane, so they read as hom-ref and every
computation must AND with a sample mask (see :func:`sample_mask`).

A third, optional plane ``fail`` marks calls that fail the genotype-level filters ("adj"): the adj view of a
call is missing where ``fail`` is set, i.e. ``lo_adj = lo | fail`` and ``hi_adj = hi | fail``.  Where a call
is one 3-bit code (sparse entries, ingest's encoder) the fail plane is bit :data:`CODE_FAIL_BIT` (4): code
``lo + 2 hi + 4 fail``.

This module is the lowest layer of the genotype layout: it imports only NumPy, and the backend imports it
(and nothing else of :mod:`gdbtools.store`) for the codes and the fail bit.
"""

from __future__ import annotations

import sys

import numpy as np

if sys.byteorder != "little":  # pragma: no cover - every supported CPU and GPU is little-endian
    raise ImportError("gdbtools' bit-plane encoding assumes a little-endian machine")

__all__ = ["CODE_HOM_REF", "CODE_HET", "CODE_HOM_ALT", "CODE_MISSING", "CODE_FAIL_BIT", "n_words", "pack_codes",
           "unpack_codes", "sample_mask", "pack_bits", "unpack_bits"]

CODE_HOM_REF, CODE_HET, CODE_HOM_ALT, CODE_MISSING = 0, 1, 2, 3
CODE_FAIL_BIT = 4  # the fail plane's bit in a 3-bit call code (lo | hi << 1 | fail << 2)
WORD_ALIGN = 4  # words per 16 bytes


def n_words(n_samples: int) -> int:
    """Words per plane row for `n_samples` samples, padded to a multiple of 4 (``0`` for no samples)."""
    words = (n_samples + 31) // 32
    return ((words + WORD_ALIGN - 1) // WORD_ALIGN) * WORD_ALIGN


def pack_bits(bits: np.ndarray, words: int | None = None) -> np.ndarray:
    """Pack a boolean matrix ``(V, N)`` into ``uint32`` words ``(V, W)``, bit j of word w = column 32w+j."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim == 1:
        return pack_bits(bits[None, :], words)[0]
    v, n = bits.shape
    w = n_words(n) if words is None else words
    out = np.zeros((v, w), dtype=np.uint32)
    packed = np.packbits(bits, axis=1, bitorder="little")
    out.view(np.uint8)[:, : packed.shape[1]] = packed  # little-endian words: byte 4w+k holds bits 8k..8k+7
    return out


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``(V, W) uint32 -> (V, n) bool``."""
    words = np.ascontiguousarray(words, dtype="<u4")
    if words.ndim == 1:
        return unpack_bits(words[None, :], n)[0]
    return np.unpackbits(words.view(np.uint8), axis=1, count=n, bitorder="little").astype(bool)


def pack_codes(codes: np.ndarray, words: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Genotype codes ``(V, N)`` int in 0..3 -> planes ``lo, hi`` each ``(V, W) uint32``."""
    codes = np.asarray(codes)
    return pack_bits((codes & 1).astype(bool), words), pack_bits((codes & 2).astype(bool), words)


def unpack_codes(lo: np.ndarray, hi: np.ndarray, n: int, fail: np.ndarray | None = None) -> np.ndarray:
    """Planes -> genotype codes ``(V, n) int8``; with `fail`, failing calls read as missing (the adj view)."""
    if fail is not None:
        lo, hi = lo | fail, hi | fail
    return (unpack_bits(lo, n).astype(np.int8) | (unpack_bits(hi, n).astype(np.int8) << 1)).astype(np.int8)


def sample_mask(selected: np.ndarray, words: int | None = None) -> np.ndarray:
    """A sample selection as a mask row: boolean ``(N,)`` (or ``(G, N)`` for groups) -> ``uint32`` words."""
    return pack_bits(selected, words)
