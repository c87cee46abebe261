"""Tabix (.tbi) and CSI (.csi) indexes for the fast readers: where a region query starts reading.

:func:`query_start` reproduces htslib's ``hts_itr_query`` choice of the first virtual offset: the linear
index (tbi) or the bin's ``loff`` (csi) gives ``min_off``; the chunks of the bins that overlap the region,
clamped to ``min_off``, give the first offset actually read. The reader then reads sequentially from there,
yields records that overlap the region and stops at the first record of another contig or starting at or
after the region's end -- the records htslib's iterator returns, in the same order.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputError
from .errors import FastPathUnsupported

__all__ = ["Index", "find_index", "read_index", "query_start"]


@dataclass
class Index:
    kind: str                       # "tbi" or "csi"
    min_shift: int
    n_lvls: int
    names: list[str] | None         # sequence names (tabix meta); None for a BCF's CSI (header dictionary ids)
    bins: list[dict]                # per reference: bin -> (loff, chunks (K, 2) uint64)
    lidx: list[np.ndarray]          # per reference: linear index (tbi only; filled forward)
    #: per reference, built on its first query: its bins sorted (n,) int64, where each bin's chunks start in
    #: the chunks below (n + 1,) int64, and all its chunks in the order of the bins (K, 2) uint64
    sorted_chunks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)


def read_index(path: str) -> Index:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FastPathUnsupported(f"cannot read the index {path} ({exc})") from None
    try:
        return _parse(data)
    except (struct.error, ValueError, IndexError) as exc:
        raise FastPathUnsupported(f"cannot parse the index {path} ({exc})") from None


def _tabix_names(data, p):
    l_nm = struct.unpack_from("<i", data, p + 24)[0]
    raw = data[p + 28: p + 28 + l_nm]
    names = [n.decode("utf-8", "replace") for n in raw.split(b"\0")]
    if names and names[-1] == "":
        names.pop()
    return names, p + 28 + l_nm


def _parse(data: bytes) -> Index:
    magic = data[:4]
    if magic == b"TBI\x01":
        n_ref = struct.unpack_from("<i", data, 4)[0]
        names, p = _tabix_names(data, 8)
        min_shift, n_lvls, kind = 14, 5, "tbi"
    elif magic == b"CSI\x01":
        min_shift, depth, l_aux = struct.unpack_from("<3i", data, 4)
        names = None
        if l_aux >= 28:
            names, _ = _tabix_names(data, 16)
        p = 16 + l_aux
        n_ref = struct.unpack_from("<i", data, p)[0]
        p += 4
        n_lvls, kind = depth, "csi"
    else:
        raise FastPathUnsupported("unknown index format (neither TBI nor CSI)")
    bins, lidx = [], []
    for _ in range(n_ref):
        n_bin = struct.unpack_from("<i", data, p)[0]
        p += 4
        ref = {}
        for _ in range(n_bin):
            if kind == "csi":
                b, loff, n_chunk = struct.unpack_from("<IQi", data, p)
                p += 16
            else:
                b, n_chunk = struct.unpack_from("<Ii", data, p)
                loff = 0
                p += 8
            chunks = np.frombuffer(data, dtype="<u8", count=2 * n_chunk, offset=p).reshape(n_chunk, 2)
            p += 16 * n_chunk
            ref[b] = (loff, chunks)
        bins.append(ref)
        if kind == "tbi":
            n_intv = struct.unpack_from("<i", data, p)[0]
            p += 4
            off = np.frombuffer(data, dtype="<u8", count=n_intv, offset=p).copy()
            p += 8 * n_intv
            for j in range(1, len(off)):  # htslib fills empty windows from the previous one when loading
                if off[j] == 0:
                    off[j] = off[j - 1]
            lidx.append(off)
    return Index(kind, min_shift, n_lvls, names, bins, lidx)


def _bin_first(level: int) -> int:
    return ((1 << (3 * level)) - 1) // 7


def _bin_parent(b: int) -> int:
    return (b - 1) >> 3


def _bin_ranges(beg: int, end: int, min_shift: int, n_lvls: int) -> list[tuple[int, int]]:
    """The bins that overlap the 0-based half-open region, one inclusive range ``(first, last)`` per level
    (the SAM specification's ``reg2bins``, without listing them: a whole contig spans ~37k bins)."""
    s = min_shift + n_lvls * 3
    if beg >= end:
        return []
    end = min(end, 1 << s) - 1
    out = []
    t = 0
    for level in range(n_lvls + 1):
        out.append((t + (beg >> s), t + (end >> s)))
        s -= 3
        t += 1 << (3 * level)
    return out


def _sorted_chunks(index: Index, tid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bins of reference `tid` sorted, the offset of each bin's chunks, and the chunks in that order."""
    got = index.sorted_chunks.get(tid)
    if got is None:
        bidx = index.bins[tid]
        keys = np.array(sorted(bidx), dtype=np.int64)
        parts = [bidx[int(b)][1] for b in keys]
        starts = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(c) for c in parts], out=starts[1:])
        chunks = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.uint64)
        got = index.sorted_chunks[tid] = (keys, starts, chunks.astype(np.uint64, copy=False))
    return got


def query_start(index: Index, tid: int, beg: int, end: int) -> int | None:
    """The first virtual offset htslib reads for the 0-based half-open region; None if nothing can overlap."""
    if tid < 0 or tid >= len(index.bins):
        return None
    bidx = index.bins[tid]
    if not bidx or beg >= end:
        return None
    rel_off = beg >> index.min_shift
    b = _bin_first(index.n_lvls) + rel_off
    found = None
    while True:
        if b in bidx:
            found = b
            break
        if b == 0:
            break
        first = (_bin_parent(b) << 3) + 1
        b = b - 1 if b > first else _bin_parent(b)
    min_off = bidx[found][0] if found is not None else 0
    if index.kind == "tbi" and tid < len(index.lidx) and rel_off < len(index.lidx[tid]):
        min_off = max(min_off, int(index.lidx[tid][rel_off]))
    keys, starts, chunks = _sorted_chunks(index, tid)
    floor = np.uint64(min_off)
    best = None
    for lo, hi in _bin_ranges(beg, end, index.min_shift, index.n_lvls):
        i, j = np.searchsorted(keys, [lo, hi + 1])
        sel = chunks[starts[i]:starts[j]]
        sel = sel[sel[:, 1] > floor]
        if len(sel):
            first_read = max(int(sel[:, 0].min()), min_off)
            best = first_read if best is None else min(best, first_read)
    return best


def find_index(path: str | os.PathLike, extra_dirs: tuple = ()) -> str | None:
    """Path of an index (.tbi or .csi) for `path`, next to it or in one of `extra_dirs`; else ``None``."""
    path = Path(path)
    candidates = [Path(f"{path}.tbi"), Path(f"{path}.csi")]
    for d in extra_dirs:
        candidates += [Path(d) / f"{path.name}.tbi", Path(d) / f"{path.name}.csi"]
    for cand in candidates:
        if cand.exists():
            if cand.stat().st_mtime + 1 < path.stat().st_mtime:
                raise InputError("the index is older than the file", file=cand,
                                 fix=f"re-index: `bcftools index -f {path}` (or pass --index)")
            return str(cand)
    return None
