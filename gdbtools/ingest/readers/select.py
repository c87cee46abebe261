"""The one place where the reader of an input is chosen: the fast reader, or htslib (cyvcf2), and why.

``GDBTOOLS_READER`` chooses the mode: ``auto`` (default: the fast reader, and htslib from the first record it
cannot read exactly like htslib), ``fast`` (the fast reader only; :class:`FastPathUnsupported` propagates)
or ``htslib``. Only :class:`FastPathUnsupported` -- the known "unsupported" condition -- leads to htslib;
any other exception of a fast reader is a bug and propagates. :class:`SelectedReader` tells afterwards
which reader read the input (:attr:`SelectedReader.name`: ``"fast-bcf"``, ``"fast-vcf"`` or ``"htslib"``)
and why it fell back (:attr:`SelectedReader.fallback_reason`); ingest records both per partition in the
store's manifest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ...genome import parse_region
from ..htslib import SiteParser, open_vcf
from .bcf import BcfReader
from .errors import FastPathUnsupported
from .fast import open_fast_reader
from .vcf import VcfTextReader

__all__ = ["reader_mode", "open_reader", "open_fast", "SelectedReader", "htslib_region", "MODES"]

MODES = ("auto", "fast", "htslib")


def reader_mode() -> str:
    """``GDBTOOLS_READER``: ``auto`` (fast, htslib where it cannot), ``fast`` (mandatory) or ``htslib``."""
    return _checked_mode(os.environ.get("GDBTOOLS_READER", "auto").strip().lower() or "auto", "GDBTOOLS_READER=")


def _checked_mode(mode: str, source: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{source}{mode!r}: use auto, fast or htslib")
    return mode


def open_fast(path: str, index: str | None = None, *, formats=(), info=(),
              prefetch: bool | None = None) -> BcfReader | VcfTextReader:
    """The fast reader alone (no fallback), with htslib's parser of VCF site columns."""
    return open_fast_reader(path, index, site_parser=SiteParser, formats=formats, info=info, prefetch=prefetch)


def htslib_region(region: str) -> str:
    """`region` as :func:`gdbtools.genome.parse_region` reads it, written so that htslib reads it the same.

    ``chr1:5000`` is the one position 5000 (htslib alone would read 5000 to the end of chr1).
    """
    reg = parse_region(region)
    contig = f"{{{reg.contig}}}" if ":" in reg.contig else reg.contig  # htslib's braces
    if reg.end is None:
        return contig if reg.start <= 1 else f"{contig}:{reg.start}-"
    return f"{contig}:{reg.start}-{reg.end}"


def _fast_name(reader: Any) -> str:
    return "fast-bcf" if isinstance(reader, BcfReader) else "fast-vcf"


class SelectedReader:
    """The record reader of ingest (duck-typed like ``cyvcf2.VCF``: ``samples``, iteration, ``(region)``,
    ``close()``), reading with the fast reader where it can and with htslib where it cannot.

    On :class:`FastPathUnsupported` in the middle of a read, the records handed out before are exactly
    htslib's, so the htslib reader is opened on the same file and query, advanced past that many records
    (checking that the last one is the same) and read on from there.
    """

    def __init__(self, path: str, index: str | None = None, *, formats=(), info=(), mode: str | None = None):
        self.path = str(path)
        self.index = index
        self.mode = _checked_mode(mode, "reader mode ") if mode else reader_mode()
        self.fallback_reason: str | None = None
        self._fast: Any = None
        self._htslib: Any = None
        self._handed_over = False
        if self.mode != "htslib":
            try:
                self._fast = open_fast(self.path, index, formats=formats, info=info)
            except FastPathUnsupported as exc:
                if self.mode == "fast":
                    raise
                self.fallback_reason = f"the fast reader does not open the file: {exc}"
        if self._fast is None:
            self._htslib = open_vcf(self.path, index)
        self.samples = (self._fast if self._fast is not None else self._htslib).samples

    @property
    def name(self) -> str:
        """``"fast-bcf"`` or ``"fast-vcf"`` while the fast reader has read everything so far, else ``"htslib"``."""
        if self._fast is not None and not self._handed_over:
            return _fast_name(self._fast)
        return "htslib"

    def __iter__(self) -> Iterator:
        return self._iterate(None)

    def __call__(self, region: str | None = None) -> Iterator:
        return self._iterate(htslib_region(region) if region else None)

    def _htslib_records(self, region: str | None) -> Iterator:
        if self._htslib is None:
            self._htslib = open_vcf(self.path, self.index)
        return self._htslib(region) if region else iter(self._htslib)

    def _iterate(self, region: str | None) -> Iterator:
        if self._fast is None or self._handed_over:
            yield from self._htslib_records(region)
            return
        n = 0
        last = None
        try:
            for rec in (self._fast(region) if region else iter(self._fast)):
                last = (rec.CHROM, rec.POS)
                yield rec
                n += 1
            return
        except FastPathUnsupported as exc:
            if self.mode == "fast":
                raise
            reason = str(exc)
        where = f" ({region})" if region else ""
        self.fallback_reason = f"{_fast_name(self._fast)} handed over to htslib after {n} records{where}: {reason}"
        self._handed_over = True
        it = self._htslib_records(region)
        rec = None
        for _ in range(n):
            rec = next(it)
        if n and (rec.CHROM, rec.POS) != last:
            raise RuntimeError(f"the htslib reader does not line up with the fast reader at {last} in {self.path}")
        yield from it

    def close(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._htslib is not None:
            self._htslib.close()
            self._htslib = None


def open_reader(path: str, index: str | None = None, *, formats=(), info=(), mode: str | None = None) -> SelectedReader:
    """The record reader for ingest (see :class:`SelectedReader`); `mode` defaults to ``GDBTOOLS_READER``.

    `formats` and `info` name the FORMAT/INFO fields the caller will read, so that the fast reader checks
    them before it hands out a record.
    """
    return SelectedReader(path, index, formats=formats, info=info, mode=mode)
