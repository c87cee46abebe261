"""Open the fast reader that fits a BGZF file: :class:`~.bcf.BcfReader` or :class:`~.vcf.VcfTextReader`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .bcf import BcfReader
from .bgzf import BgzfBatches
from .errors import FastPathUnsupported
from .vcf import VcfTextReader

__all__ = ["open_fast_reader"]


def open_fast_reader(path: str, index: str | None = None, *, site_parser: Callable[[str], Any], formats=(), info=(),
                     prefetch: bool | None = None) -> BcfReader | VcfTextReader:
    """A fast reader for a BGZF VCF or BCF file (raises :class:`FastPathUnsupported` for anything else).

    `site_parser`: for VCF text, what parses the 8 site columns as htslib does (see
    :class:`~.vcf.VcfTextReader`). `formats`: FORMAT fields the caller will read with ``format()`` (checked and
    decoded before each record is handed out, so a problem there still falls back cleanly); `info`: INFO
    fields it will ``get``. `prefetch`: inflate on a background thread (None: for whole-file reads only,
    where a core is likely free).
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
    return VcfTextReader(path, index, site_parser=site_parser, formats=formats, info=info, prefetch=prefetch)
