"""VCF/BCF headers: what gdbtools needs from them, read and checked before any record.

Everything that can be checked before reading genotypes is checked here, with errors that name the file,
the line and the fix: missing or truncated files, the compression (BGZF, plain gzip, text, BCF), the
``#CHROM`` line, duplicate sample ids. The header is parsed here (not only by htslib) so that errors can
name the offending sample or line; :func:`meta_lines` is the one parser of ``##key=<...>`` lines.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InputError
from ...genome import detect_build

__all__ = ["VcfHeader", "read_header", "check_bgzf_eof", "sniff", "meta_lines", "BGZF_EOF"]

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass
class VcfHeader:
    """What gdbtools needs from a VCF/BCF header."""

    path: str
    kind: str                                   # "bcf", "bgzf" (VCF.gz), "gzip" (not BGZF) or "text"
    samples: list[str]
    contigs: dict[str, int | None]              # declared ##contig lines, in order
    formats: dict[str, dict]                    # ID -> {"Number", "Type"}
    infos: dict[str, dict]                      # ID -> {"Number", "Type", "Description"}
    reference: str | None = None
    text: str = field(default="", repr=False)

    @property
    def build(self) -> str | None:
        return detect_build(self.contigs, self.reference)


def sniff(path: Path) -> str:
    """The kind of file: ``"bcf"``, ``"bgzf"`` (VCF.gz), ``"gzip"`` (not BGZF), ``"bcf-raw"`` or ``"text"``."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        if head[:3] == b"BCF":
            return "bcf-raw"
        return "text"
    is_bgzf = len(head) >= 18 and head[3] & 4 and head[12:14] == b"BC"
    if not is_bgzf:
        return "gzip"
    with gzip.open(path, "rb") as handle:
        magic = handle.read(3)
    return "bcf" if magic == b"BCF" else "bgzf"


def check_bgzf_eof(path: str | os.PathLike) -> None:
    """Raise :class:`InputError` if a BGZF file lacks its end-of-file marker (a truncated copy)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - len(BGZF_EOF)))
        tail = handle.read()
    if tail != BGZF_EOF:
        raise InputError("the file is truncated: its BGZF end-of-file marker is missing", file=path,
                         fix="copy or download the file again (compare its size/checksum with the source); "
                             "`bgzip -t` confirms the damage")


_META = re.compile(r"^##(?P<key>\w+)=<(?P<body>.*)>\s*$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,]*)')


def _parse_meta(body: str) -> dict:
    return {k: v.strip('"') for k, v in _FIELD.findall(body)}


def meta_lines(text: str) -> Iterator[tuple[str, dict]]:
    """``(key, {field: value})`` of each ``##key=<...>`` line of a header text (quotes removed)."""
    for line in text.split("\n"):
        match = _META.match(line)
        if match:
            yield match["key"], _parse_meta(match["body"])


def read_header(path: str | os.PathLike) -> VcfHeader:
    """Read and check a VCF/BCF header: existence, compression, truncation, duplicate sample ids.

    The header is parsed here (not only by htslib) so that errors can name the offending sample or line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path, fix="check the path (and that the delivery has arrived)")
    if path.is_dir():
        raise InputError("is a directory, not a VCF/BCF file", file=path)
    kind = sniff(path)
    if kind == "bcf-raw":
        raise InputError("uncompressed BCF is not supported", file=path, fix="write it with `bcftools view -Ob`")
    if kind in ("bgzf", "bcf"):
        check_bgzf_eof(path)
    text = _read_header_text(path, kind)
    lines = text.rstrip("\n").split("\n")
    if not lines or not lines[0].startswith("##fileformat=VCF"):
        raise InputError("does not start with ##fileformat=VCF...", file=path, where="line 1",
                         fix="check that this is a VCF/BCF file")
    contigs: dict[str, int | None] = {}
    formats: dict[str, dict] = {}
    infos: dict[str, dict] = {}
    reference = None
    chrom_line = None
    for number, line in enumerate(lines, start=1):
        if line.startswith("#CHROM"):
            chrom_line = (number, line)
            break
        if line.startswith("##reference="):
            reference = line.split("=", 1)[1]
        match = _META.match(line)
        if not match:
            continue
        meta = _parse_meta(match["body"])
        if match["key"] == "contig" and "ID" in meta:
            length = meta.get("length")
            contigs[meta["ID"]] = int(length) if length and length.isdigit() else None
        elif match["key"] == "FORMAT" and "ID" in meta:
            formats[meta["ID"]] = meta
        elif match["key"] == "INFO" and "ID" in meta:
            infos[meta["ID"]] = meta
    if chrom_line is None:
        raise InputError("the header has no #CHROM line", file=path, fix="check that the file is a complete VCF")
    number, line = chrom_line
    columns = line.split("\t")
    fixed = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    if columns[:8] != fixed:
        raise InputError(f"the #CHROM line does not have the 8 fixed tab-separated columns (got {columns[:8]})",
                         file=path, where=f"line {number}", fix="the header line must be tab-separated")
    samples = columns[9:]
    seen: dict[str, int] = {}
    for i, sample in enumerate(samples):
        if sample in seen:
            raise InputError(f"duplicate sample id {sample!r} (sample columns {seen[sample] + 1} and {i + 1})",
                             file=path, where=f"line {number} (#CHROM)",
                             fix="give every sample a unique id, e.g. `bcftools reheader --samples new_ids.txt`")
        seen[sample] = i
    return VcfHeader(str(path), kind, samples, contigs, formats, infos, reference, text)


def _read_header_text(path: Path, kind: str) -> str:
    try:
        if kind == "bcf":
            with gzip.open(path, "rb") as handle:
                magic = handle.read(5)
                if magic[:3] != b"BCF":
                    raise InputError("not a BCF file", file=path)
                length = int.from_bytes(handle.read(4), "little")
                return handle.read(length).rstrip(b"\0").decode("utf-8", "replace")
        opener = gzip.open if kind in ("bgzf", "gzip") else open
        out = []
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                out.append(line)
                if line.startswith("#CHROM") or not line.startswith("#"):
                    break
        return "".join(out)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read the header ({exc})", file=path,
                         fix="the file is damaged or not a VCF/BCF; check it with `bcftools view -h`") from exc
