"""The one exception of the fast readers: an input (or part of one) they cannot read exactly as htslib.

:class:`FastPathUnsupported` is the *known* "unsupported" condition: the selector
(:mod:`gdbtools.ingest.readers.select`) then reads the file, or the rest of it, with htslib and records the
reason. Any other exception from a fast reader is a bug and propagates.
"""

from __future__ import annotations

__all__ = ["FastPathUnsupported", "SiteParseError"]


class FastPathUnsupported(Exception):
    """The fast reader cannot read this input exactly as htslib would; read it with htslib instead."""


class SiteParseError(ValueError):
    """The site parser given to the text reader (htslib's, see :mod:`gdbtools.ingest.htslib`) rejects a line
    or the header; the text reader turns it into :class:`FastPathUnsupported`."""
