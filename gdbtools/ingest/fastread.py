"""Fast genotype readers for BGZF VCF and BCF, behind the subset of cyvcf2's interface that ingest uses.

htslib's text parsing (inside cyvcf2) and cyvcf2's ``genotype.array()`` bound the ingest; these readers parse
the bytes themselves. BGZF blocks are walked by their BSIZE and inflated with libdeflate (PyPI ``deflate``)
when installed, else ISA-L (``isal``), else zlib, CRC32-checked like htslib does; for a whole-file read a
prefetch thread inflates ahead (the inflaters and the numba kernels release the GIL). numba kernels then
turn ~1 MB of records at a time into cyvcf2's genotype layout (GT-only text lines of one-digit alleles and
int8 BCF genotypes by table lookup, two bytes at a time), and the per-record objects hand out views.
Region queries read the .tbi/.csi themselves (:mod:`._fastindex`).

Interface (duck-typed like ``cyvcf2.VCF``)::

    reader = open_fast(path, index)          # FastPathUnsupported if the file is not for the fast path
    reader.samples                           # sample ids
    for rec in reader:  ...                  # the whole file
    for rec in reader("chr1:1000-2000"): ... # records overlapping the region (htslib's tabix/CSI semantics)
    rec.CHROM, rec.POS, rec.ID, rec.REF, rec.ALT, rec.QUAL, rec.FILTERS, rec.INFO.get(name)
    rec.genotype.array()                     # (N, P+1) int16 as cyvcf2 (a read-only-by-convention view)
    rec.format("GQ")                         # (N, k) int32 as cyvcf2 for an Integer field, or None
    reader.close()

Exactness comes first: anything the fast path cannot read exactly as htslib 1.19 + cyvcf2 would (another
layout, a value it does not parse, damaged bytes) raises :class:`FastPathUnsupported` *before* the first
record that could differ is handed out. :func:`open_reader` (in :mod:`.sources`) wraps a fast reader so
that it then continues with cyvcf2 from that record on (:class:`FallbackReader`), which reports htslib's own
error for malformed input.

For VCF text, the site columns of each record (CHROM .. INFO) are parsed by htslib itself (cyvcf2's
``Writer.variant_from_string`` on the 8-column line, ~1 us), so ID/REF/ALT/QUAL/FILTER/INFO follow htslib
exactly; only the sample columns are parsed here. For BCF everything is decoded here from the binary record.

Not covered (these use htslib): plain-text and non-BGZF gzip VCF, text VCF with ploidy above 2 or CRLF line
ends, allele indices above 32767, FORMAT fields other than Integer read through ``format()``, BCF 2.1.
"""

from __future__ import annotations

import os
import struct
import sys

import numpy as np

from . import _fastkernels as K
from ._fastbgzf import PAD, BgzfBatches, FastPathUnsupported, Recycler
from ._fastindex import parse_region, query_start, read_index

__all__ = ["FastPathUnsupported", "open_fast", "FallbackReader", "reader_mode"]

_MAX_REC = 4096
BATCH_BYTES = 1 << 20  # inflated bytes parsed per kernel call (the genotype rows of a batch stay in cache)
_ADJ_FIELDS = ("GQ", "DP", "AD")


def reader_mode() -> str:
    """``GDBTOOLS_READER``: ``auto`` (fast, htslib where it cannot), ``fast`` (mandatory) or ``htslib``."""
    mode = os.environ.get("GDBTOOLS_READER", "auto").strip().lower() or "auto"
    if mode not in ("auto", "fast", "htslib"):
        raise ValueError(f"GDBTOOLS_READER={mode!r}: use auto, fast or htslib")
    return mode


def open_fast(path: str, index: str | None = None, *, formats=(), info=(), prefetch: bool | None = None):
    """A fast reader for a BGZF VCF or BCF file (raises :class:`FastPathUnsupported` for anything else).

    `formats`: FORMAT fields the caller will read with ``format()`` (checked and decoded before each record
    is handed out, so a problem there still falls back cleanly); `info`: INFO fields it will ``get``.
    `prefetch`: inflate on a background thread (None: for whole-file reads only, where a core is likely free).
    """
    with open(path, "rb") as handle:
        head = handle.read(18)
    if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
        raise FastPathUnsupported("not a BGZF file")
    batches = BgzfBatches(path, 0, 0, batch_bytes=1 << 18, prefetch=False)
    try:
        buf, start, stop = next(batches)
    except StopIteration:
        raise FastPathUnsupported("empty file") from None
    finally:
        batches.close()
    if bytes(buf[start: start + 3]) == b"BCF":
        return BcfReader(path, index, formats=formats, info=info, prefetch=prefetch)
    return VcfTextReader(path, index, formats=formats, info=info, prefetch=prefetch)


# ---------------------------------------------------------------------------------------------------------------
# header helpers
# ---------------------------------------------------------------------------------------------------------------
def _header_lines(text: str):
    from .sources import _META, _parse_meta

    for line in text.split("\n"):
        m = _META.match(line)
        if m:
            yield m["key"], _parse_meta(m["body"])


def _from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _u16_views(buf):
    """`buf` as uint16 from byte 0 and from byte 1 (the table lookups read two bytes at a time)."""
    n = buf.size
    return buf[: n // 2 * 2].view(np.uint16), buf[1: 1 + (n - 1) // 2 * 2].view(np.uint16)


def _gt_view(pool, off, n, ploidy):
    """cyvcf2's (N, P+1) genotype array (C-contiguous, a view into the batch's pool)."""
    return pool[off: off + n * (ploidy + 1)].reshape(n, ploidy + 1)


def _no_progress(stalled: int, grew: bool, path: str, kind: str) -> int:
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


class _Reader:
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
        contig, beg, end = parse_region(region)
        return self._iterate((contig, beg, end))

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


# ---------------------------------------------------------------------------------------------------------------
# VCF text
# ---------------------------------------------------------------------------------------------------------------
class VcfTextReader(_Reader):
    _is_bcf = False

    def __init__(self, path, index=None, *, formats=(), info=(), prefetch=None):
        super().__init__(path, index, formats, info, prefetch)
        header = self._read_header()
        self.header_text = header
        if "\r" in header:
            raise FastPathUnsupported("CRLF line ends")
        lines = header.rstrip("\n").split("\n")
        if not lines[-1].startswith("#CHROM"):
            raise FastPathUnsupported("no #CHROM line")
        cols = lines[-1].split("\t")
        self.samples = cols[9:]
        if len(cols) == 9 or (len(cols) > 8 and cols[8] != "FORMAT"):
            raise FastPathUnsupported("unusual #CHROM line")
        self.n = len(self.samples)
        self._ftypes = {m["ID"]: m.get("Type") for k, m in _header_lines(header) if k == "FORMAT" and "ID" in m}
        for name in self.formats:
            if self._ftypes.get(name) != "Integer":
                raise FastPathUnsupported(f"FORMAT/{name} is not declared as Integer")
        sites_header = "\n".join(lines[:-1]) + "\n" + "\t".join(cols[:8]) + "\n"
        import cyvcf2

        try:
            self._writer = cyvcf2.Writer.from_string(os.devnull, sites_header)
        except Exception as exc:  # noqa: BLE001
            raise FastPathUnsupported(f"htslib does not take the header ({exc})") from None
        self._fmt_cache: dict[bytes, list[bytes]] = {}

    def close(self):
        super().close()
        w = getattr(self, "_writer", None)
        if w is not None:
            self._writer = None
            try:
                w.close()
            except Exception:  # noqa: BLE001
                pass

    def _read_header(self) -> str:
        b = BgzfBatches(self.path, 0, 0, batch_bytes=1 << 20, prefetch=False)
        try:
            parts = []
            total = 0
            for buf, start, stop in b:
                chunk = bytes(buf[start:stop])
                parts.append(chunk)
                data = b"".join(parts) if len(parts) > 1 else chunk
                if not data.startswith(b"##fileformat=VCF"):
                    raise FastPathUnsupported("not a VCF text file")
                i = data.find(b"\n#CHROM")
                if i >= 0:
                    j = data.find(b"\n", i + 1)
                    if j >= 0:
                        self._data_start = j + 1
                        return data[: j + 1].decode("utf-8", "replace")
                total += len(chunk)
                if total > 256 << 20:
                    break
            raise FastPathUnsupported("no #CHROM line in the header")
        finally:
            b.close()

    def _tid(self, contig):
        idx = self._find_index()
        if idx.names is None or contig not in idx.names:
            return None
        return idx.names.index(contig)

    def _records(self, batches, skip, region):
        n_s = self.n
        target = region[0].encode() if region else None
        rbeg, rend = (region[1], region[2]) if region else (0, 0)
        writer = self._writer
        formats = self.formats
        sites_cap = 1 << 20
        sites_need = 0
        for buf, start, stop, final in self._chunks(batches, skip, state := {"carry": None}):
            if final:  # the last line lacks its newline: htslib reads it anyway
                buf[stop] = 10
                stop += 1
            buf[stop: stop + PAD] = 10
            p = start
            stalled = 0
            while p < stop:
                nmax = min(_MAX_REC, (stop - p) // 16 + 2)
                if n_s:
                    nmax = min(nmax, (stop - p) // (2 * n_s) + 2)
                ls, ie, ss, le, pos = (np.empty(nmax, np.int64) for _ in range(5))
                ploidy = np.empty(nmax, np.int8)
                gt_off = np.empty(nmax, np.int64)
                site_end = np.empty(nmax, np.int64)
                pool = self._pools.take(4 * (n_s * nmax + nmax + 2), np.int16)
                pool64 = pool[: pool.size // 4 * 4].view(np.uint64)
                sites = np.empty(max(min(sites_cap, stop - p + 1), sites_need), np.uint8)
                b16e, b16o = _u16_views(buf)
                n, p2, status, reason, used, sused = K.vcf_lines(buf, p, stop, n_s, nmax, ls, ie, ss, le, pos,
                                                                 ploidy, gt_off, pool, pool64, sites, site_end,
                                                                 b16e, b16o, K.T_TXT1, K.T_TXT2, K.T_TXT2_LAST)
                if status == K.FULL and n == 0:
                    if sused < 0:
                        sites_need = max(sites_need, -sused - 1)
                    stalled = _no_progress(stalled, sused < 0, self.path, "VCF")
                    continue
                stalled = 0
                text = sites[:sused].tobytes().split(b"\n")
                pos_l = pos[:n].tolist()
                batch = _Batch(self, buf, pool, None, None, None, None, None, None, None, gt_off[:n].tolist(),
                               ploidy[:n].tolist())
                batch.ie, batch.ss = ie[:n].tolist(), ss[:n].tolist()
                for i in range(n):
                    line = text[i]
                    if region is not None:
                        chrom, _, rest = line.partition(b"\t")
                        if chrom != target:
                            return
                        beg0 = pos_l[i] - 1
                        if beg0 >= rend:
                            return
                        if beg0 < rbeg and _tbx_end(rest, beg0) <= rbeg:
                            continue
                    try:
                        v = writer.variant_from_string(line.decode())
                    except Exception as exc:  # noqa: BLE001
                        raise FastPathUnsupported(f"htslib cannot parse the site columns ({exc})") from None
                    if v.POS != pos_l[i]:
                        raise FastPathUnsupported("POS parsed differently")
                    rec = _TextRecord(batch, i, v)
                    for name in formats:
                        rec._fmt[name] = rec._format(name)
                    yield rec
                if status == K.BAD:
                    head = bytes(buf[p2: min(p2 + 200, stop)]).split(b"\t")[:2]
                    where = ":".join(x.decode("utf-8", "replace") for x in head)
                    raise FastPathUnsupported(f"{K.REASONS.get(reason, 'unsupported record')} at {where}")
                p = p2
                if status == K.MORE:
                    break
            if p < stop:
                if final:
                    raise FastPathUnsupported("incomplete last record")
                state["carry"] = buf[p:stop].copy()

    def _fmt_index(self, key_bytes: bytes, name: str) -> int:
        keys = self._fmt_cache.get(key_bytes)
        if keys is None:
            keys = key_bytes.split(b":")
            if len(set(keys)) != len(keys):
                raise FastPathUnsupported("duplicate FORMAT keys")
            self._fmt_cache[key_bytes] = keys
        try:
            return keys.index(name.encode())
        except ValueError:
            return -1


def _strtoll0(s: bytes) -> int:
    """C strtoll(s, &end, 0): leading space, sign, 0x hex, 0 octal; 0 if no digits."""
    i, n = 0, len(s)
    while i < n and s[i] in b" \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and s[i] in b"+-":
        neg = s[i] == 45
        i += 1
    base = 10
    if s[i: i + 2].lower() == b"0x" and i + 2 < n and chr(s[i + 2]).lower() in "0123456789abcdef":
        base, i = 16, i + 2
    elif s[i: i + 1] == b"0":
        base = 8
    digits = "0123456789abcdef"[:base]
    j = i
    while j < n and chr(s[j]).lower() in digits:
        j += 1
    if j == i:
        return 0
    v = int(s[i:j], base)
    return -v if neg else v


def _tbx_end(rest: bytes, beg0: int) -> int:
    """End (0-based, exclusive) tabix gives a VCF line: POS-1 + len(REF), or INFO/END (htslib 1.19 tbx_parse1).

    `rest` is the line after CHROM and its tab (POS ID REF ALT QUAL FILTER INFO).
    """
    cols = rest.split(b"\t")
    end = beg0 + 1
    if len(cols) > 2 and cols[2]:
        end = beg0 + len(cols[2])
    if len(cols) > 6:
        info = cols[6]
        s = info.find(b"END=")
        if s == 0:
            s = 4
        elif s > 0:
            s = info.find(b";END=")
            s = s + 5 if s >= 0 else -1
        if s >= 0 and info[s: s + 1] != b".":
            v = _strtoll0(info[s:])
            if v > beg0:
                end = v
    return end


class _Batch:
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


class _RecordBase:
    """What text and BCF records share: the genotype view and FORMAT access (decoded values cached)."""

    __slots__ = ()

    @property
    def genotype(self):
        return self._b.genotype(self._i)

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


class _TextRecord(_RecordBase):
    __slots__ = ("_b", "_i", "_v", "_fmt", "POS")

    def __init__(self, batch, i, v):
        self._b = batch
        self._i = i
        self._v = v
        self._fmt = {}
        self.POS = v.POS

    CHROM = property(lambda self: self._v.CHROM)
    ID = property(lambda self: self._v.ID)
    REF = property(lambda self: self._v.REF)
    ALT = property(lambda self: self._v.ALT)
    QUAL = property(lambda self: self._v.QUAL)
    FILTERS = property(lambda self: self._v.FILTERS)
    FILTER = property(lambda self: self._v.FILTER)
    INFO = property(lambda self: self._v.INFO)

    def _format(self, name):
        ready = self._integer_format(name)
        if ready is None:
            return None
        b, r = ready
        ie, ss = b.ie[self._i], b.ss[self._i]
        keys = b.buf[ie + 1: ss - 1].tobytes()
        j = r._fmt_index(keys, name)
        if j < 0:
            return None
        if j == 0:
            raise FastPathUnsupported("GT read as an Integer field")
        ok, values = K.vcf_format_int(b.buf, ss, r.n, j)
        if not ok:
            raise FastPathUnsupported(f"FORMAT/{name} has a value the fast parser does not accept")
        return values

    def __repr__(self):
        return f"Variant({self.CHROM}:{self.POS} {self.REF}/{','.join(self.ALT)})"


# ---------------------------------------------------------------------------------------------------------------
# BCF
# ---------------------------------------------------------------------------------------------------------------
class BcfReader(_Reader):
    _is_bcf = True

    def __init__(self, path, index=None, *, formats=(), info=(), prefetch=None):
        super().__init__(path, index, formats, info, prefetch)
        b = BgzfBatches(self.path, 0, 0, batch_bytes=1 << 20, prefetch=False)
        try:
            parts, have = [], 0
            text = None
            for buf, start, stop in b:
                parts.append(bytes(buf[start:stop]))
                have += stop - start
                data = b"".join(parts)
                if len(data) >= 9:
                    if data[:5] != b"BCF\x02\x02":
                        raise FastPathUnsupported("not BCF 2.2")
                    l_text = struct.unpack_from("<I", data, 5)[0]
                    if len(data) >= 9 + l_text:
                        text = data[9: 9 + l_text]
                        self._data_start = 9 + l_text
                        break
                if have > 256 << 20:
                    break
        finally:
            b.close()
        if text is None:
            raise FastPathUnsupported("incomplete BCF header")
        header = text.split(b"\0", 1)[0].decode("utf-8", "replace")
        self.header_text = header
        self._parse_dictionaries(header)
        lines = header.rstrip("\n").split("\n")
        if not lines or not lines[-1].startswith("#CHROM"):
            raise FastPathUnsupported("no #CHROM line")
        cols = lines[-1].split("\t")
        self.samples = cols[9:]
        self.n = len(self.samples)
        for name in self.formats:
            if self._ftypes.get(name) != "Integer":
                raise FastPathUnsupported(f"FORMAT/{name} is not declared as Integer")
        names = list(dict.fromkeys([*self.formats, *_ADJ_FIELDS,
                                    *[k for k, t in self._ftypes.items() if t == "Integer"][:32]]))
        self._want_names = [x for x in names if x in self._sid]
        self._want = np.array([self._sid[x] for x in self._want_names], dtype=np.int64)
        self._want_pos = {x: i for i, x in enumerate(self._want_names)}
        self._gt_key = self._sid.get("GT", -1)

    def _parse_dictionaries(self, header: str) -> None:
        """htslib's two dictionaries: contigs, and FILTER/INFO/FORMAT ids (PASS = 0), with IDX= honoured."""
        strings: dict[str, int] = {"PASS": 0}
        n_str = 1
        contigs: dict[str, int] = {}
        n_ctg = 0
        self._ftypes, self._itypes = {}, {}
        for key, meta in _header_lines(header):
            name = meta.get("ID")
            if name is None:
                continue
            idx = meta.get("IDX")
            if idx is not None:
                if not idx.isdigit():
                    raise FastPathUnsupported("bad IDX in the header")
                idx = int(idx)
            if key == "contig":
                if name in contigs:
                    continue
                i = n_ctg if idx is None else idx
                contigs[name] = i
                n_ctg = max(n_ctg, i + 1)
            elif key in ("FILTER", "INFO", "FORMAT"):
                if key == "FORMAT":
                    self._ftypes.setdefault(name, meta.get("Type"))
                elif key == "INFO":
                    self._itypes.setdefault(name, (meta.get("Type"), meta.get("Number")))
                if name in strings:
                    if idx is not None and idx != strings[name]:
                        raise FastPathUnsupported("conflicting IDX in the header")
                    continue
                i = n_str if idx is None else idx
                strings[name] = i
                n_str = max(n_str, i + 1)
        self._sid = strings
        self._strings = [None] * n_str
        for name, i in strings.items():
            if self._strings[i] is not None:
                raise FastPathUnsupported("conflicting IDX in the header")
            self._strings[i] = name
        self._contigs = [None] * n_ctg
        for name, i in contigs.items():
            if self._contigs[i] is not None:
                raise FastPathUnsupported("conflicting contig IDX in the header")
            self._contigs[i] = name
        self._str_ok = np.array([x is not None for x in self._strings], dtype=np.uint8)
        self._ctg_ok = np.array([x is not None for x in self._contigs], dtype=np.uint8)
        self._ctg_id = contigs

    def _tid(self, contig):
        idx = self._find_index()
        if idx.names is not None:
            return idx.names.index(contig) if contig in idx.names else None
        return self._ctg_id.get(contig)

    def _records(self, batches, skip, region):
        n_s = self.n
        tid, rbeg, rend = (self._tid(region[0]), region[1], region[2]) if region else (None, 0, 0)
        contigs = self._contigs
        want = self._want
        n_want = len(want)
        formats = [(name, self._want_pos[name]) for name in self.formats if name in self._want_pos]
        info_fields = self.info_fields
        gt_cap = 0
        sites_cap = 1 << 18
        sites_need = 0  # what the kernel asked for when one record did not fit (a record larger than a buffer)
        for buf, start, stop, final in self._chunks(batches, skip, state := {"carry": None}):
            p = start
            stalled = 0
            while p < stop:
                nmax = min(_MAX_REC, (stop - p) // 32 + 2)
                arrs = [np.empty(nmax, np.int64) for _ in range(10)]
                rec_off, rid, pos0, rlen, qual, n_allele, n_info, info_off, flt_off, flt_n = arrs
                gt_off = np.empty(nmax, np.int64)
                ploidy = np.empty(nmax, np.int64)
                site_end = np.empty(nmax, np.int64)
                fmt_meta = np.empty((nmax, max(n_want, 1), 3), np.int64)
                flt_ids = np.empty(4 * nmax + 64, np.int64)
                pool = self._pools.take(max(gt_cap, 2 * (stop - p) + 4 * n_s + 4 * nmax + 16), np.int16)
                pool64 = pool[: pool.size // 4 * 4].view(np.uint64)
                b16e, b16o = _u16_views(buf)
                sites = np.empty(max(min(sites_cap, stop - p + 64), sites_need), np.uint8)
                n, p2, status, reason, used, sused, fused = K.bcf_records(
                    buf, p, stop, n_s, self._gt_key, self._ctg_ok, self._str_ok, want, nmax, rec_off, rid, pos0,
                    rlen, qual, n_allele, n_info, info_off, flt_off, flt_n, flt_ids, fmt_meta, gt_off, ploidy,
                    pool, pool64, sites, site_end, b16e, b16o, K.T_BCF8)
                if status == K.FULL and n == 0:
                    # one record needs more room than a buffer: grow that buffer to what it needs, then retry
                    if reason < 0:
                        gt_cap = max(2 * pool.size, -reason)
                    if sused < 0:
                        sites_need = max(sites_need, -sused - 1)
                    stalled = _no_progress(stalled, reason < 0 or sused < 0, self.path, "BCF")
                    continue
                stalled = 0
                text = sites[:sused].tobytes().split(b"\n")
                rid_l, pos_l, rlen_l = rid[:n].tolist(), pos0[:n].tolist(), rlen[:n].tolist()
                q32 = qual[:n].astype(np.uint32)
                qual_l = q32.view(np.float32).tolist()
                qmiss = (q32 == 0x7F800001).tolist()
                batch = _Batch(self, buf, pool, flt_ids, flt_off[:n].tolist(), flt_n[:n].tolist(), fmt_meta,
                               n_allele[:n].tolist(), n_info[:n].tolist(), info_off[:n].tolist(),
                               gt_off[:n].tolist(), ploidy[:n].tolist())
                for i in range(n):
                    if region is not None:
                        if rid_l[i] != tid or pos_l[i] >= rend:
                            return
                        if pos_l[i] + rlen_l[i] <= rbeg:
                            continue
                    rec = _BcfRecord(batch, i, text[i], contigs[rid_l[i]], pos_l[i] + 1,
                                     None if qmiss[i] else qual_l[i])
                    for name, w in formats:
                        rec._fmt[name] = rec._format(name)
                    if info_fields:
                        info = rec.INFO
                        for name in info_fields:
                            info.get(name)
                    yield rec
                if status == K.BAD:
                    where = f"the BCF record after {contigs[rid_l[-1]]}:{pos_l[-1] + 1}" if n else "a BCF record"
                    raise FastPathUnsupported(f"{K.REASONS.get(reason, 'unsupported record')} in {where}")
                p = p2
                if status == K.MORE:
                    break
            if p < stop:
                if final:
                    raise FastPathUnsupported("incomplete last BCF record")
                state["carry"] = buf[p:stop].copy()


_SIZES = {0: 0, 1: 1, 2: 2, 3: 4, 5: 4, 7: 1}
_INT_MISSING = {1: -128, 2: -32768, 3: -(2**31)}
_INT_VEC_END = {1: -127, 2: -32767, 3: -(2**31) + 1}
_DT = {1: "<i1", 2: "<i2", 3: "<i4", 5: "<u4"}


class _BcfInfo:
    """``INFO.get`` for a BCF record, as cyvcf2's ``INFO._getval`` decodes the typed values."""

    __slots__ = ("_rec",)

    def __init__(self, rec):
        self._rec = rec

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key):
        rec = self._rec
        b = rec._b
        reader = b.reader
        kid = reader._sid.get(key)
        if kid is None:
            raise KeyError(key)
        if rec._info is None:  # key id -> (type, n, offset) of the first occurrence, like bcf_get_info
            table = {}
            buf = b.buf
            q = b.info_off[rec._i]
            for _ in range(b.n_info[rec._i]):
                k, q = _py_typed_int(buf, q)
                t, n, q = _py_typed_desc(buf, q)
                table.setdefault(k, (t, n, q))
                q += n * _SIZES[t]
            rec._info = table
        entry = rec._info.get(kid)
        if entry is None:
            raise KeyError(key)
        t, n, q = entry
        return _info_value(reader, kid, t, n, bytes(b.buf[q: q + n * _SIZES[t]]))


def _py_typed_int(buf, q):
    d = int(buf[q])
    t = d & 15
    size = _SIZES[t]
    return int(np.frombuffer(bytes(buf[q + 1: q + 1 + size]), dtype=_DT[t])[0]), q + 1 + size


def _py_typed_desc(buf, q):
    d = int(buf[q])
    t, n = d & 15, d >> 4
    q += 1
    if n == 15:
        n, q = _py_typed_int(buf, q)
    return t, n, q


def _info_value(reader, kid, t, n, raw: bytes):
    if n == 1 and t in (1, 2, 3):
        v = int(np.frombuffer(raw, dtype=_DT[t])[0])
        return None if v == _INT_MISSING[t] else v
    if n == 1 and t == 5:
        bits = struct.unpack("<I", raw)[0]
        return None if bits == 0x7F800001 else struct.unpack("<f", raw)[0]
    if t == 7:
        if len(raw) > 0 and raw[0] == 7:
            return None
        return _from_bytes(raw)
    if n == 0:
        return reader._itypes.get(reader._strings[kid], (None,))[0] == "Flag"
    if t in (1, 2, 3):
        values = []
        for v in np.frombuffer(raw, dtype=_DT[t]).tolist():
            if v == _INT_VEC_END[t]:
                break
            values.append(None if v == _INT_MISSING[t] else v)
    elif t == 5:
        values = []
        for bits, v in zip(np.frombuffer(raw, dtype="<u4").tolist(), np.frombuffer(raw, dtype="<f4").tolist()):
            if bits == 0x7F800002:
                break
            values.append(None if bits == 0x7F800001 else v)
    else:
        raise FastPathUnsupported("unsupported INFO type")
    return tuple(values) if values else None


class _BcfRecord(_RecordBase):
    __slots__ = ("_b", "_i", "_site", "CHROM", "POS", "QUAL", "_fmt", "_fields", "_info")

    def __init__(self, batch, i, site, chrom, pos, qual):
        self._b = batch
        self._i = i
        self._site = site
        self.CHROM = chrom
        self.POS = pos
        self.QUAL = qual
        self._fmt = {}
        self._fields = None
        self._info = None

    def _split(self):
        if self._fields is None:
            self._fields = self._site.split(b"\t")
        return self._fields

    @property
    def ID(self):
        v = self._split()[0]
        return None if v == b"." else _from_bytes(v)

    @property
    def REF(self):
        return _from_bytes(self._split()[1])

    @property
    def ALT(self):
        if self._b.n_allele[self._i] < 2:
            return []
        return [_from_bytes(a) for a in self._split()[2].split(b",")]

    @property
    def FILTERS(self):
        b, i = self._b, self._i
        strings = b.reader._strings
        o = b.flt_off[i]
        return [strings[k] for k in b.flt_ids[o: o + b.flt_n[i]].tolist()]

    @property
    def FILTER(self):
        f = self.FILTERS
        if not f or f == ["PASS"]:
            return None
        return ";".join(f)

    @property
    def INFO(self):
        return _BcfInfo(self)

    def _format(self, name):
        ready = self._integer_format(name)
        if ready is None:
            return None
        b, r = ready
        w = r._want_pos.get(name)
        if w is None:
            raise FastPathUnsupported(f"FORMAT/{name} was not decoded")
        t, m, q = b.meta[self._i, w].tolist()
        if t < 0:
            return None
        if m < 1:
            raise FastPathUnsupported(f"FORMAT/{name} with no values")
        ok, values = K.bcf_format_int(b.buf, q, t, m, r.n)
        if not ok:
            raise FastPathUnsupported(f"FORMAT/{name} is not stored as integers")
        return values

    def __repr__(self):
        return f"Variant({self.CHROM}:{self.POS} {self.REF}/{','.join(self.ALT)})"


# ---------------------------------------------------------------------------------------------------------------
# fallback to htslib
# ---------------------------------------------------------------------------------------------------------------
class FallbackReader:
    """A fast reader that continues with htslib (cyvcf2) where it raises :class:`FastPathUnsupported`.

    The records handed out before are exactly htslib's, so the htslib reader is opened on the same file and
    query, advanced past that many records (checking that the last one is the same), and read on from there.
    ``fallback_reason`` tells why it switched (None while it has not).
    """

    def __init__(self, fast, open_htslib, strict: bool = False):
        self._fast = fast
        self._open_htslib = open_htslib
        self._htslib = None
        self.strict = strict
        self.fallback_reason = None
        self.samples = fast.samples

    def __iter__(self):
        return self._iterate(None)

    def __call__(self, region=None):
        return self._iterate(region or None)

    def _iterate(self, region):
        n = 0
        last = None
        try:
            it = self._fast(region) if region else iter(self._fast)
            for rec in it:
                last = (rec.CHROM, rec.POS)
                yield rec
                n += 1
            return
        except FastPathUnsupported as exc:
            if self.strict:
                raise
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in the fast path must not stop the ingest
            if self.strict:
                raise
            reason = f"{type(exc).__name__}: {exc}"
        self.fallback_reason = reason
        print(f"gdbtools: the fast reader hands over to htslib after {n} records of {self._fast.path}"
              f"{' (' + region + ')' if region else ''}: {reason}", file=sys.stderr)
        if self._htslib is None:
            self._htslib = self._open_htslib()
        it = self._htslib(region) if region else iter(self._htslib)
        rec = None
        for _ in range(n):
            rec = next(it)
        if n and (rec.CHROM, rec.POS) != last:
            raise RuntimeError(f"the htslib reader does not line up with the fast reader at {last}")
        yield from it

    def close(self):
        self._fast.close()
        if self._htslib is not None:
            self._htslib.close()
            self._htslib = None
