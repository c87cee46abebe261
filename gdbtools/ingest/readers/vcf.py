"""The fast reader of BGZF-compressed VCF text: genotypes parsed here, site columns by a given parser.

The site columns of each record (CHROM .. INFO) are parsed by `site_parser` (htslib's, given by the
selector: :class:`gdbtools.ingest.htslib.SiteParser`, ~1 us a line), so ID/REF/ALT/QUAL/FILTER/INFO follow
htslib exactly; the sample columns (GT, Integer FORMAT fields) are parsed by the kernels of :mod:`.kernels`.
Not covered (:class:`~.errors.FastPathUnsupported`): ploidy above 2, CRLF line ends, FORMAT fields other
than Integer read through ``format()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import kernels as K
from . import vcf_kernels as VK
from .base import MAX_REC, Batch, Reader, RecordBase, no_progress, u16_views
from .bgzf import PAD, BgzfBatches
from .errors import FastPathUnsupported, SiteParseError
from .header import meta_lines

__all__ = ["VcfTextReader"]


class VcfTextReader(Reader):
    _is_bcf = False

    def __init__(self, path, index=None, *, site_parser: Callable[[str], Any], formats=(), info=(), prefetch=None):
        """`site_parser(sites_header)`: an object whose ``parse(line)`` reads the 8 site columns of a line as
        htslib does (raising :class:`~.errors.SiteParseError` where it cannot) and that has ``close()``."""
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
        self._ftypes = {m["ID"]: m.get("Type") for k, m in meta_lines(header) if k == "FORMAT" and "ID" in m}
        for name in self.formats:
            if self._ftypes.get(name) != "Integer":
                raise FastPathUnsupported(f"FORMAT/{name} is not declared as Integer")
        sites_header = "\n".join(lines[:-1]) + "\n" + "\t".join(cols[:8]) + "\n"
        try:
            self._sites = site_parser(sites_header)
        except SiteParseError as exc:
            raise FastPathUnsupported(str(exc)) from None
        self._fmt_cache: dict[bytes, list[bytes]] = {}

    def close(self):
        super().close()
        sites = getattr(self, "_sites", None)
        if sites is not None:
            self._sites = None
            sites.close()

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
        sites_parser = self._sites
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
                nmax = min(MAX_REC, (stop - p) // 16 + 2)
                if n_s:
                    nmax = min(nmax, (stop - p) // (2 * n_s) + 2)
                ls, ie, ss, le, pos = (np.empty(nmax, np.int64) for _ in range(5))
                ploidy = np.empty(nmax, np.int8)
                gt_off = np.empty(nmax, np.int64)
                site_end = np.empty(nmax, np.int64)
                pool = self._pools.take(4 * (n_s * nmax + nmax + 2), np.int16)
                pool64 = pool[: pool.size // 4 * 4].view(np.uint64)
                sites = np.empty(max(min(sites_cap, stop - p + 1), sites_need), np.uint8)
                b16e, b16o = u16_views(buf)
                n, p2, status, reason, used, sused = VK.vcf_lines(buf, p, stop, n_s, nmax, ls, ie, ss, le, pos,
                                                                 ploidy, gt_off, pool, pool64, sites, site_end,
                                                                 b16e, b16o, VK.T_TXT1, VK.T_TXT2, VK.T_TXT2_LAST)
                if status == K.FULL and n == 0:
                    if sused < 0:
                        sites_need = max(sites_need, -sused - 1)
                    stalled = no_progress(stalled, sused < 0, self.path, "VCF")
                    continue
                stalled = 0
                text = sites[:sused].tobytes().split(b"\n")
                pos_l = pos[:n].tolist()
                batch = Batch(self, buf, pool, None, None, None, None, None, None, None, gt_off[:n].tolist(),
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
                        v = sites_parser.parse(line.decode())
                    except SiteParseError as exc:
                        raise FastPathUnsupported(str(exc)) from None
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



class _TextRecord(RecordBase):
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
        ok, values = VK.vcf_format_int(b.buf, ss, r.n, j)
        if not ok:
            raise FastPathUnsupported(f"FORMAT/{name} has a value the fast parser does not accept")
        return values

    def __repr__(self):
        return f"Variant({self.CHROM}:{self.POS} {self.REF}/{','.join(self.ALT)})"


