"""The fast reader of BCF 2.2: records decoded here from the binary layout, as htslib + cyvcf2 read them.

Site columns, FILTER ids, INFO values (:class:`_BcfInfo`, as cyvcf2's ``INFO._getval``), genotypes and
Integer FORMAT fields are decoded from the record bytes (kernels in :mod:`.kernels`). The header's two
dictionaries (contigs; FILTER/INFO/FORMAT ids, PASS = 0) follow htslib, ``IDX=`` included.
Not covered (:class:`~.errors.FastPathUnsupported`): BCF 2.1, FORMAT fields other than Integer read through
``format()``, records whose layout or types htslib would reject.
"""

from __future__ import annotations

import struct

import numpy as np

from . import bcf_kernels as BK
from . import kernels as K
from .base import ADJ_FIELDS, MAX_REC, Batch, Reader, RecordBase, from_bytes, no_progress, u16_views
from .bgzf import BgzfBatches
from .errors import FastPathUnsupported
from .header import meta_lines

__all__ = ["BcfReader"]


class BcfReader(Reader):
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
        names = list(dict.fromkeys([*self.formats, *ADJ_FIELDS,
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
        self._ftypes: dict[str, str | None] = {}
        self._itypes: dict[str, tuple[str | None, str | None]] = {}
        for key, meta in meta_lines(header):
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
        self._strings: list[str | None] = [None] * n_str
        for name, i in strings.items():
            if self._strings[i] is not None:
                raise FastPathUnsupported("conflicting IDX in the header")
            self._strings[i] = name
        self._contigs: list[str | None] = [None] * n_ctg
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
                nmax = min(MAX_REC, (stop - p) // 32 + 2)
                arrs = [np.empty(nmax, np.int64) for _ in range(10)]
                rec_off, rid, pos0, rlen, qual, n_allele, n_info, info_off, flt_off, flt_n = arrs
                gt_off = np.empty(nmax, np.int64)
                ploidy = np.empty(nmax, np.int64)
                site_end = np.empty(nmax, np.int64)
                fmt_meta = np.empty((nmax, max(n_want, 1), 3), np.int64)
                flt_ids = np.empty(4 * nmax + 64, np.int64)
                pool = self._pools.take(max(gt_cap, 2 * (stop - p) + 4 * n_s + 4 * nmax + 16), np.int16)
                pool64 = pool[: pool.size // 4 * 4].view(np.uint64)
                b16e, b16o = u16_views(buf)
                sites = np.empty(max(min(sites_cap, stop - p + 64), sites_need), np.uint8)
                n, p2, status, reason, used, sused, fused = BK.bcf_records(
                    buf, p, stop, n_s, self._gt_key, self._ctg_ok, self._str_ok, want, nmax, rec_off, rid, pos0,
                    rlen, qual, n_allele, n_info, info_off, flt_off, flt_n, flt_ids, fmt_meta, gt_off, ploidy,
                    pool, pool64, sites, site_end, b16e, b16o, BK.T_BCF8)
                if status == K.FULL and n == 0:
                    # one record needs more room than a buffer: grow that buffer to what it needs, then retry
                    if reason < 0:
                        gt_cap = max(2 * pool.size, -reason)
                    if sused < 0:
                        sites_need = max(sites_need, -sused - 1)
                    stalled = no_progress(stalled, reason < 0 or sused < 0, self.path, "BCF")
                    continue
                stalled = 0
                text = sites[:sused].tobytes().split(b"\n")
                rid_l, pos_l, rlen_l = rid[:n].tolist(), pos0[:n].tolist(), rlen[:n].tolist()
                q32 = qual[:n].astype(np.uint32)
                qual_l = q32.view(np.float32).tolist()
                qmiss = (q32 == 0x7F800001).tolist()
                batch = Batch(self, buf, pool, flt_ids, flt_off[:n].tolist(), flt_n[:n].tolist(), fmt_meta,
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
                    for name, _ in formats:
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
        return _decode_info_value(reader, kid, t, n, bytes(b.buf[q: q + n * _SIZES[t]]))


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


def _decode_info_value(reader, kid, t, n, raw: bytes):
    """The INFO value of key id `kid` from its typed BCF bytes, as cyvcf2 returns it (scalar, tuple or str)."""
    if n == 1 and t in (1, 2, 3):
        v = int(np.frombuffer(raw, dtype=_DT[t])[0])
        return None if v == _INT_MISSING[t] else v
    if n == 1 and t == 5:
        bits = struct.unpack("<I", raw)[0]
        return None if bits == 0x7F800001 else struct.unpack("<f", raw)[0]
    if t == 7:
        if len(raw) > 0 and raw[0] == 7:
            return None
        return from_bytes(raw)
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


class _BcfRecord(RecordBase):
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
        return None if v == b"." else from_bytes(v)

    @property
    def REF(self):
        return from_bytes(self._split()[1])

    @property
    def ALT(self):
        if self._b.n_allele[self._i] < 2:
            return []
        return [from_bytes(a) for a in self._split()[2].split(b",")]

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
        ok, values = BK.bcf_format_int(b.buf, q, t, m, r.n)
        if not ok:
            raise FastPathUnsupported(f"FORMAT/{name} is not stored as integers")
        return values

    def __repr__(self):
        return f"Variant({self.CHROM}:{self.POS} {self.REF}/{','.join(self.ALT)})"


