"""The htslib adapter (cyvcf2, pysam): the only module of ingest that imports them.

:func:`open_vcf` opens a file with cyvcf2 (the reader of merge mode, of ``verify`` and of the fallback
decided in :mod:`.readers.select`); :class:`SiteParser` parses the 8 site columns of a VCF text line with
htslib for the fast text reader; :func:`index_stats` and :func:`make_index` run ``bcftools index``;
:func:`capture_htslib_messages` catches what htslib writes on the C stderr so that it can be quoted in our
own errors.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

import cyvcf2

from ..errors import InputError
from .readers.errors import SiteParseError
from .readers.header import sniff

__all__ = ["open_vcf", "SiteParser", "index_stats", "make_index", "capture_htslib_messages", "real_stderr"]


def _target(path: str, index: str | None) -> str:
    """`path`, with htslib's ``##idx##`` syntax where the index is not beside the file."""
    return path if index is None or Path(index).parent == Path(path).parent else f"{path}##idx##{index}"


def index_stats(path: str, index: str | None) -> dict[str, int] | None:
    """Records per contig from an index (``bcftools index -s``), or ``None`` if it holds no counts."""
    import pysam.bcftools

    target = _target(path, index)
    try:
        out = pysam.bcftools.index("-s", target)
    except Exception:  # pysam raises SamtoolsError; an index without stats is not an error
        return None
    stats = {}
    for line in str(out).splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].isdigit():
            stats[parts[0]] = int(parts[2])
    return stats or None


def make_index(path: str, out_dir: str | os.PathLike) -> str:
    """Create an index for `path` in `out_dir` (inputs are often read-only); returns the index path."""
    import pysam.bcftools

    kind = sniff(Path(path))
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
    except Exception as exc:  # pysam raises SamtoolsError
        raise InputError(f"indexing failed: {str(exc).strip()[-400:]}", file=path,
                         fix="the file must be sorted by position within each contig (`bcftools sort`)") from exc
    os.replace(tmp, target)
    return str(target)


def open_vcf(path: str, index: str | None = None, threads: int = 0) -> cyvcf2.VCF:
    """Open with cyvcf2, with the index at a custom location if given (htslib's ``##idx##`` syntax)."""
    target = _target(path, index)
    try:
        with capture_htslib_messages() as messages:
            vcf = cyvcf2.VCF(target, lazy=True, threads=threads or None)
    except Exception as exc:  # cyvcf2 raises bare Exception/OSError
        raise InputError(f"htslib cannot open the file: {'; '.join(messages) or exc}", file=path,
                         fix="check the file with `bcftools view -h`") from exc
    return vcf


class SiteParser:
    """htslib's reading of the site columns (CHROM .. INFO) of VCF text lines, for the fast text reader.

    `sites_header` is the file's header with an 8-column ``#CHROM`` line; :meth:`parse` takes one 8-column
    line and returns a cyvcf2 ``Variant`` (``CHROM``, ``POS``, ``ID``, ``REF``, ``ALT``, ``QUAL``, ``FILTERS``,
    ``FILTER``, ``INFO``). Both raise :class:`~.readers.errors.SiteParseError` where htslib refuses.
    """

    def __init__(self, sites_header: str):
        try:
            self._writer = cyvcf2.Writer.from_string(os.devnull, sites_header)
        except Exception as exc:  # cyvcf2 raises bare Exception
            raise SiteParseError(f"htslib does not take the header ({exc})") from None

    def parse(self, line: str):
        try:
            return self._writer.variant_from_string(line)
        except Exception as exc:  # cyvcf2 raises bare Exception
            raise SiteParseError(f"htslib cannot parse the site columns ({exc})") from None

    def close(self) -> None:
        w, self._writer = self._writer, None
        if w is not None:
            w.close()


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
