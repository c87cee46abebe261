"""VCF/BCF inputs: header checks, indexes, and record iteration through cyvcf2 (htslib).

Everything that can be checked before reading genotypes is checked here, with errors that name the file,
the record and the fix: missing or truncated files, duplicate sample ids, ploidy, contigs absent from the
header, unsorted records. htslib reports parse errors on the C stderr; :func:`capture_htslib_messages`
catches them so that they can be quoted in our own error.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cyvcf2
import numpy as np

from ..errors import InputError
from ..genome import detect_build

__all__ = ["VcfHeader", "read_header", "check_bgzf_eof", "find_index", "index_stats", "make_index",
           "open_vcf", "open_reader", "capture_htslib_messages", "format_values", "adj_inputs"]

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


def _sniff(path: Path) -> str:
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


def read_header(path: str | os.PathLike) -> VcfHeader:
    """Read and check a VCF/BCF header: existence, compression, truncation, duplicate sample ids.

    The header is parsed here (not only by htslib) so that errors can name the offending sample or line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", file=path, fix="check the path (and that the delivery has arrived)")
    if path.is_dir():
        raise InputError("is a directory, not a VCF/BCF file", file=path)
    kind = _sniff(path)
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


# -- indexes ---------------------------------------------------------------------------------------------------
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


def index_stats(path: str, index: str | None) -> dict[str, int] | None:
    """Records per contig from an index (``bcftools index -s``), or ``None`` if it holds no counts."""
    import pysam.bcftools

    target = path if index is None or Path(index).parent == Path(path).parent else f"{path}##idx##{index}"
    try:
        out = pysam.bcftools.index("-s", target)
    except Exception:  # noqa: BLE001 - pysam raises SamtoolsError; an index without stats is not an error
        return None
    stats = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].isdigit():
            stats[parts[0]] = int(parts[2])
    return stats or None


def make_index(path: str, out_dir: str | os.PathLike) -> str:
    """Create an index for `path` in `out_dir` (inputs are often read-only); returns the index path."""
    import pysam.bcftools

    kind = _sniff(Path(path))
    if kind not in ("bgzf", "bcf"):
        raise InputError("only BGZF-compressed VCF and BCF can be indexed", file=path,
                         fix="recompress with `bcftools view -Oz -o out.vcf.gz` (or -Ob for BCF)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".csi" if kind == "bcf" else ".tbi"
    target = out_dir / f"{Path(path).name}{suffix}"
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        pysam.bcftools.index("-f", "-o", str(tmp), *(["-t"] if suffix == ".tbi" else ["-c"]), str(path))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"indexing failed: {str(exc).strip()[-400:]}", file=path,
                         fix="the file must be sorted by position within each contig (`bcftools sort`)") from exc
    os.replace(tmp, target)
    return str(target)


def open_vcf(path: str, index: str | None = None, threads: int = 0) -> cyvcf2.VCF:
    """Open with cyvcf2, with the index at a custom location if given (htslib's ``##idx##`` syntax)."""
    target = path if index is None or Path(index).parent == Path(path).parent else f"{path}##idx##{index}"
    try:
        with capture_htslib_messages() as messages:
            vcf = cyvcf2.VCF(target, lazy=True, threads=threads or None)
    except Exception as exc:  # noqa: BLE001 - cyvcf2 raises bare Exception/OSError
        raise InputError(f"htslib cannot open the file: {'; '.join(messages) or exc}", file=path,
                         fix="check the file with `bcftools view -h`") from exc
    return vcf


def open_reader(path: str, index: str | None = None, *, formats=(), info=()):
    """The record reader for ingest: the fast reader of :mod:`.fastread` where it applies, else cyvcf2.

    ``GDBTOOLS_READER`` chooses: ``auto`` (default: fast, continuing with htslib from the first record the
    fast reader cannot read exactly like htslib), ``fast`` (fast only; :class:`~.fastread.FastPathUnsupported`
    propagates) or ``htslib`` (cyvcf2 only). `formats` and `info` name the FORMAT/INFO fields the caller
    will read, so that the fast reader checks them before it hands out a record.
    """
    from .fastread import FallbackReader, open_fast, reader_mode

    mode = reader_mode()
    if mode == "htslib":
        return open_vcf(path, index)
    try:
        fast = open_fast(path, index, formats=formats, info=info)
    except Exception:  # noqa: BLE001 - FastPathUnsupported, or a file htslib will describe better
        if mode == "fast":
            raise
        return open_vcf(path, index)
    if mode == "fast":
        return fast
    return FallbackReader(fast, lambda: open_vcf(path, index))


# -- capturing htslib's C-level stderr ---------------------------------------------------------------------------
_capture_lock = threading.Lock()
_real_stderr = None


def real_stderr():
    """A file object on the process's original stderr, unaffected by :func:`capture_htslib_messages`."""
    global _real_stderr
    if _real_stderr is None:
        try:
            _real_stderr = os.fdopen(os.dup(2), "w", buffering=1)
        except OSError:  # pragma: no cover
            import sys

            _real_stderr = sys.stderr
    return _real_stderr


_capture_state = threading.local()


@contextlib.contextmanager
def capture_htslib_messages():
    """Collect what htslib writes to file descriptor 2 during the block, as a list of lines.

    The list is filled when the block exits (also on error), so callers can quote htslib's own message in
    the error they raise. Nested captures (in one thread) share the outer redirection and each gets the
    lines written during its own block.
    """
    messages: list[str] = []
    real_stderr()
    outer = getattr(_capture_state, "tmp", None)
    if outer is not None:  # nested: read what was appended to the outer capture file during this block
        start = os.lseek(outer.fileno(), 0, os.SEEK_END)
        try:
            yield messages
        finally:
            end = os.lseek(outer.fileno(), 0, os.SEEK_END)
            text = os.pread(outer.fileno(), end - start, start).decode("utf-8", "replace")
            messages.extend(line for line in text.splitlines() if line.strip())
        return
    with _capture_lock:
        saved = os.dup(2)
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            _capture_state.tmp = tmp
            try:
                yield messages
            finally:
                _capture_state.tmp = None
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                text = tmp.read().decode("utf-8", "replace")
                messages.extend(line for line in text.splitlines() if line.strip())


def format_values(variant, name: str) -> np.ndarray | None:
    """FORMAT field `name` of a record as float64 ``(N,)`` or ``(N, k)``, or None if absent or not numeric.

    Values are compared with the adj thresholds as written: a ``Type=Float`` GQ of 19.55 stays 19.55 (fails
    GQ >= 20, as bcftools ``+setGT -i 'FMT/GQ<20'`` reads it); it is never rounded. Missing values are
    ``-inf`` (float fields: NaN; integer fields: htslib's missing and vector-end sentinels), so a missing
    value fails every threshold.
    """
    values = variant.format(name)
    if values is None:
        return None
    if values.dtype.kind == "f":
        out = np.where(np.isnan(values), -np.inf, values).astype(np.float64)
    elif values.dtype.kind in "iu":
        out = values.astype(np.float64)
        out[values <= INT32_MISSING + 1] = -np.inf
    else:
        return None
    return out[:, 0] if out.shape[1] == 1 else out


INT32_MISSING = -(2**31)


def adj_inputs(variant, n: int, n_alt: int, use: dict, perm=None, xy=None, build=None):
    """The genotype-filter inputs of one record: ``(gq, dp, ad, hap)``, values as written, missing = -inf.

    gq, dp : (N,) float64; ad : (N, n_alt + 1) float64; hap : (N,) bool, samples haploid at this locus (XY
    outside the PARs of chrX/chrY, by reported sex). `use` names the FORMAT fields to apply (``{"GQ", "DP",
    "AD"}`` -> bool); without DP the allele balance uses sum(AD). `perm` reorders file columns to store
    order. Float fields keep their fraction (see :func:`format_values`).
    """
    from ..genome import contig_kind

    def get(name):
        values = format_values(variant, name)
        return values if values is None or perm is None else values[perm]

    gq = get("GQ") if use.get("GQ") else None
    dp = get("DP") if use.get("DP") or use.get("AD") else None
    ad = get("AD") if use.get("AD") else None
    if ad is not None and ad.ndim == 1:
        ad = ad[:, None]
    if use.get("AD") and dp is None and ad is not None:
        dp = np.where(ad < 0, 0.0, ad).sum(axis=1)
    if gq is None:
        gq = np.full(n, -np.inf)
    if dp is None:
        dp = np.full(n, -np.inf)
    if ad is None or ad.shape[1] <= n_alt:
        ad = np.full((n, n_alt + 1), -np.inf)
    hap = np.zeros(n, dtype=bool)
    kind = contig_kind(variant.CHROM)
    if kind in ("X", "Y") and xy is not None:
        in_par = bool(build.in_par(kind, variant.POS)) if build is not None else False
        if not in_par:
            hap = np.asarray(xy, dtype=bool)
    return gq, dp, ad, hap
