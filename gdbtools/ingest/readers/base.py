"""What the fast VCF-text and BCF readers share: region queries, BGZF batching and the cyvcf2-like records.

A reader (:class:`~.vcf.VcfTextReader`, :class:`~.bcf.BcfReader`) iterates over the whole file or over the
records of a region, in batches of ~1 MB of inflated data; the records of one kernel call share a
:class:`_Batch` (buffers and per-record offsets) and hand out views: ``rec.genotype.array()`` is cyvcf2's
``(N, P+1) int16`` genotype array, ``rec.format(name)`` an Integer FORMAT field as ``(N, k) int32``.
Regions are read as :func:`gdbtools.genome.parse_region` reads them (``chr1:5000`` is the one position 5000).
"""

from __future__ import annotations

import os

import numpy as np

from ...genome import parse_region
from .bgzf import PAD, BgzfBatches, Recycler
from .errors import FastPathUnsupported
from .index import query_start, read_index

__all__ = ["Reader", "Batch", "RecordBase", "MAX_REC", "BATCH_BYTES", "ADJ_FIELDS", "from_bytes", "u16_views",
           "no_progress"]

MAX_REC = 4096
BATCH_BYTES = 1 << 20  # inflated bytes parsed per kernel call (the genotype rows of a batch stay in cache)
ADJ_FIELDS = ("GQ", "DP", "AD")


def from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def u16_views(buf):
    """`buf` as uint16 from byte 0 and from byte 1 (the table lookups read two bytes at a time)."""
    n = buf.size
    return buf[: n // 2 * 2].view(np.uint16), buf[1: 1 + (n - 1) // 2 * 2].view(np.uint16)


def _gt_view(pool, off, n, ploidy):
    """cyvcf2's (N, P+1) genotype array (C-contiguous, a view into the batch's pool)."""
    return pool[off: off + n * (ploidy + 1)].reshape(n, ploidy + 1)


def no_progress(stalled: int, grew: bool, path: str, kind: str) -> int:
    """Count kernel calls that returned no record; a call that did not ask for a larger buffer, or a second
    retry in a row, is a bug in the reader (never an endless loop)."""
    stalled += 1
    if not grew or stalled > 2:
        raise RuntimeError(f"the fast {kind} reader makes no progress in {path} (a buffer did not grow); "
                           "please report this")
    return stalled


class _Genotype:
    __slots__ = ("_a",)

    def __init__(self, a):
        self._a = a

    def array(self):
        return self._a


class Reader:
    """What both readers share: region handling, batching and the cyvcf2-like surface."""

    samples: list[str]

    def __init__(self, path, index, formats, info, prefetch):
        self.path = str(path)
        self.index_path = index
        self.prefetch = prefetch
        self.formats = tuple(formats or ())
        self.info_fields = tuple(info or ())
        self._open_batches: list[BgzfBatches] = []
        self._pools = Recycler()
        self._index = None

    # -- interface ---------------------------------------------------------------------------------------------
    def __iter__(self):
        return self._iterate(None)

    def __call__(self, region: str | None = None):
        if not region:
            return self._iterate(None)
        reg = parse_region(region)
        return self._iterate((reg.contig, reg.start - 1, (1 << 63) - 1 if reg.end is None else reg.end))

    def close(self):
        for b in self._open_batches:
            b.close()
        self._open_batches.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers -----------------------------------------------------------------------------------------------
    def _find_index(self):
        if self._index is not None:
            return self._index
        candidates = [self.index_path] if self.index_path else []
        candidates += [f"{self.path}.tbi", f"{self.path}.csi"] if not self._is_bcf else [f"{self.path}.csi"]
        for cand in candidates:
            if cand and os.path.exists(cand):
                self._index = read_index(cand)
                return self._index
        raise FastPathUnsupported("no index for a region query")

    def _batches(self, voffset: int, whole_file: bool) -> BgzfBatches:
        # the prefetch thread overlaps inflation with parsing where a core is free: by default only for a
        # whole-file read (one partition per file); region partitions run in parallel and fill the cores
        prefetch = whole_file if self.prefetch is None else self.prefetch
        b = BgzfBatches(self.path, voffset >> 16, voffset & 0xFFFF, prefetch=prefetch, batch_bytes=BATCH_BYTES)
        self._open_batches.append(b)
        return b

    def _data(self, region):
        """Batches of record data: the whole file after the header, or from the region's first offset."""
        if region is None:
            return self._batches(0, True), self._data_start
        contig, beg, end = region
        tid = self._tid(contig)
        if tid is None:
            return None, 0
        voff = query_start(self._find_index(), tid, beg, end)
        if voff is None:
            return None, 0
        return self._batches(voff, False), 0

    def _iterate(self, region):
        batches, skip = self._data(region)
        if batches is None:
            return
        try:
            yield from self._records(batches, skip, region)
        finally:
            batches.close()
            if batches in self._open_batches:
                self._open_batches.remove(batches)

    @staticmethod
    def _chunks(batches, skip, state):
        """(buf, start, stop, final) with the unfinished record of the previous chunk in front (the caller
        puts it in ``state["carry"]``); at the end a last chunk with the unfinished tail, if any, and `final`."""
        for buf, start, stop in batches:
            if skip:
                take = min(skip, stop - start)
                start += take
                skip -= take
                if start >= stop:
                    continue
            carry = state["carry"]
            if carry is not None and len(carry):
                n = len(carry)
                if n <= start:
                    buf[start - n: start] = carry
                    start -= n
                else:
                    nb = np.empty(n + (stop - start) + PAD, dtype=np.uint8)
                    nb[:n] = carry
                    nb[n: n + stop - start] = buf[start:stop]
                    buf, start, stop = nb, 0, n + stop - start
                batches.room = max(batches.room, 2 * n + 1024)
            state["carry"] = None
            yield buf, start, stop, False
        carry = state["carry"]
        if carry is not None and len(carry):
            nb = np.empty(len(carry) + PAD, dtype=np.uint8)
            nb[: len(carry)] = carry
            yield nb, 0, len(carry), True



class Batch:
    """What the records of one kernel call share: the buffers and per-record offsets (as lists)."""

    __slots__ = ("reader", "buf", "pool", "flt_ids", "flt_off", "flt_n", "meta", "n_allele", "n_info", "info_off",
                 "gt_off", "ploidy", "ie", "ss")

    def __init__(self, reader, buf, pool, flt_ids, flt_off, flt_n, meta, n_allele, n_info, info_off, gt_off, ploidy):
        self.reader, self.buf, self.pool = reader, buf, pool
        self.flt_ids, self.flt_off, self.flt_n, self.meta = flt_ids, flt_off, flt_n, meta
        self.n_allele, self.n_info, self.info_off = n_allele, n_info, info_off
        self.gt_off, self.ploidy = gt_off, ploidy

    def genotype(self, i):
        n = self.reader.n
        if n == 0:
            return None
        return _Genotype(_gt_view(self.pool, self.gt_off[i], n, self.ploidy[i]))


class RecordBase:
    """What text and BCF records share: the genotype view and FORMAT access (decoded values cached)."""

    __slots__ = ()

    _b: Batch
    _i: int
    _fmt: dict

    @property
    def genotype(self):
        return self._b.genotype(self._i)

    def _format(self, name: str):
        raise NotImplementedError

    def format(self, name: str):
        if name in self._fmt:
            return self._fmt[name]
        return self._format(name)

    def _integer_format(self, name):
        """The batch and reader of this record if FORMAT `name` can be decoded here, else None (no samples)."""
        b = self._b
        r = b.reader
        if r.n == 0:
            return None
        if r._ftypes.get(name) != "Integer":
            raise FastPathUnsupported(f"FORMAT/{name} is not declared as Integer")
        return b, r


