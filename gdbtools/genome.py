"""Genome builds, sex chromosomes, pseudo-autosomal regions and region strings.

Coordinates are 1-based and inclusive throughout, as in VCF. Contig names are kept as the input spells them
(``"X"`` or ``"chrX"``); :func:`contig_kind` recognises either spelling.

PAR coordinates (1-based, inclusive):

=======  =====================  =========================  ====================  =========================
build    chrX PAR1              chrX PAR2                  chrY PAR1             chrY PAR2
=======  =====================  =========================  ====================  =========================
GRCh37   60,001-2,699,520       154,931,044-155,260,560    10,001-2,649,520      59,034,050-59,363,566
GRCh38   10,001-2,781,479       155,701,383-156,030,895    10,001-2,781,479      56,887,903-57,217,415
NCBI36   1-2,709,520            154,584,238-154,913,754    1-2,709,520           57,443,438-57,772,954
=======  =====================  =========================  ====================  =========================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import GdbError

__all__ = ["Build", "BUILDS", "detect_build", "contig_kind", "Region", "parse_region", "region_text", "normalize_sex",
           "SEX_VALUES", "SAMPLE_ID_COLUMNS"]


@dataclass(frozen=True)
class Build:
    """A reference genome build: its name, chrX/chrY lengths and pseudo-autosomal regions."""

    name: str
    chr1_length: int
    chrx_length: int
    par_x: tuple[tuple[int, int], ...]
    par_y: tuple[tuple[int, int], ...]

    def in_par(self, kind: str, pos: np.ndarray | int) -> np.ndarray:
        """Boolean mask: which positions on a chromosome of `kind` ('X' or 'Y') lie in a PAR."""
        pos = np.asarray(pos)
        pars = self.par_x if kind == "X" else self.par_y if kind == "Y" else ()
        out = np.zeros(pos.shape, dtype=bool)
        for start, end in pars:
            out |= (pos >= start) & (pos <= end)
        return out


BUILDS: dict[str, Build] = {
    "GRCh37": Build("GRCh37", 249_250_621, 155_270_560,
                    ((60_001, 2_699_520), (154_931_044, 155_260_560)),
                    ((10_001, 2_649_520), (59_034_050, 59_363_566))),
    "GRCh38": Build("GRCh38", 248_956_422, 156_040_895,
                    ((10_001, 2_781_479), (155_701_383, 156_030_895)),
                    ((10_001, 2_781_479), (56_887_903, 57_217_415))),
    "NCBI36": Build("NCBI36", 247_249_719, 154_913_754,
                    ((1, 2_709_520), (154_584_238, 154_913_754)),
                    ((1, 2_709_520), (57_443_438, 57_772_954))),
}
_ALIASES = {"hg19": "GRCh37", "b37": "GRCh37", "hs37d5": "GRCh37", "grch37": "GRCh37", "37": "GRCh37",
            "hg38": "GRCh38", "grch38": "GRCh38", "38": "GRCh38", "hg18": "NCBI36", "ncbi36": "NCBI36",
            "36": "NCBI36"}


def get_build(name: str | None) -> Build | None:
    """Look up a build by name or common alias (``hg19``, ``b37``, ``hg38``...); ``None`` stays ``None``."""
    if name is None:
        return None
    key = name if name in BUILDS else _ALIASES.get(name.lower())
    if key is None:
        raise GdbError(f"unknown genome build {name!r}",
                       fix=f"use one of {', '.join(BUILDS)} (or an alias such as hg19, hg38)")
    return BUILDS[key]


def detect_build(contig_lengths: dict[str, int | None], reference_line: str | None = None) -> str | None:
    """Guess the build from contig lengths (chr1 or chrX), else from the ``##reference`` header line.

    Returns the build name, or ``None`` when nothing identifies it (the caller then asks for ``--build``).
    """
    for name, length in contig_lengths.items():
        kind = contig_kind(name)
        if length is None:
            continue
        for build in BUILDS.values():
            if (kind == "1" and length == build.chr1_length) or (kind == "X" and length == build.chrx_length):
                return build.name
    ref = (reference_line or "").lower()
    for token, build_name in (("grch38", "GRCh38"), ("hg38", "GRCh38"), ("hg19", "GRCh37"), ("grch37", "GRCh37"),
                         ("hs37d5", "GRCh37"), ("g1k_v37", "GRCh37"), ("b37", "GRCh37"),
                         ("assembly19", "GRCh37"), ("ncbi36", "NCBI36"), ("hg18", "NCBI36")):
        if token in ref:
            return build_name
    return None


_CHR_PREFIX = re.compile(r"^(chr)?", re.IGNORECASE)


def contig_kind(name: str) -> str:
    """Classify a contig name: ``'X'``, ``'Y'``, ``'MT'`` or the bare name for others (``'1'``...)."""
    bare = _CHR_PREFIX.sub("", name, count=1)
    upper = bare.upper()
    if upper in ("X", "23"):
        return "X"
    if upper in ("Y", "24"):
        return "Y"
    if upper in ("M", "MT", "26"):
        return "MT"
    return bare


# Column names a sample id column goes by in a sample table (metadata, phenotypes), first match wins.
SAMPLE_ID_COLUMNS = ("sample_id", "sample", "s", "IID", "sample.id", "ID", "Sample", "sample_name")

SEX_VALUES = ("XX", "XY")
_SEX_MAP = {"xx": "XX", "f": "XX", "female": "XX", "2": "XX", "woman": "XX",
            "xy": "XY", "m": "XY", "male": "XY", "1": "XY", "man": "XY"}
_SEX_MISSING = {"", "0", "na", "nan", "none", "unknown", "u", ".", "-9", "ambiguous", "<na>"}


def normalize_sex(value) -> str | None:
    """Map a reported sex to the karyotype labels ``'XX'``/``'XY'`` (gnomAD's), or ``None`` if unknown.

    Accepts XX/XY, F/M, female/male and the PLINK codes 2/1 (any case). Raises ``ValueError`` on anything
    else, so that a typo in a metadata file is reported rather than read as "unknown".
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text in _SEX_MISSING:
        return None
    try:
        return _SEX_MAP[text]
    except KeyError:
        raise ValueError(
            f"unrecognised sex value {value!r} (expected XX/XY, F/M, female/male, 2/1 or empty)") from None


@dataclass(frozen=True)
class Region:
    """A contig with an optional 1-based inclusive range; ``end=None`` means to the end of the contig."""

    contig: str
    start: int = 1
    end: int | None = None

    def __str__(self) -> str:
        contig = f"{{{self.contig}}}" if ":" in self.contig else self.contig  # htslib's braces
        if self.start == 1 and self.end is None:
            return contig
        return f"{contig}:{self.start}-{self.end if self.end is not None else ''}"

    def contains(self, pos: np.ndarray) -> np.ndarray:
        pos = np.asarray(pos)
        ok = pos >= self.start
        if self.end is not None:
            ok &= pos <= self.end
        return ok


_REGION = re.compile(r"^(?:\{(?P<braced>[^{}]+)\}|(?P<contig>[^:\s]+))(?::(?P<start>[\d,]+)?(?:-(?P<end>[\d,]*))?)?$")


def region_text(contig: str, start: int = 1, end: int | None = None) -> str:
    """``CONTIG:START-END`` (END empty: to the end), as :func:`parse_region` and htslib read it; a contig name
    with a colon is written in braces (``{1:1}:1-100``, htslib's syntax)."""
    name = f"{{{contig}}}" if ":" in contig else contig
    return f"{name}:{start}-{'' if end is None else end}"


def parse_region(text: str | Region) -> Region:
    """Parse ``'17'``, ``'chr17:43044295-43125483'``, ``'X:1,000-'`` or ``'1:5000'`` into a :class:`Region`.

    Positions are 1-based and inclusive. ``'chr1:5000'`` is the one position 5000 (``Region('chr1', 5000,
    5000)``), not htslib's "from 5000 to the end of chr1"; write ``'chr1:5000-'`` for that. A contig whose name
    holds a colon is written in braces, as htslib reads it: ``'{HLA-A*01:01}:1-100'``. The whole gdbtools
    reads regions this way, the ingest readers included (:func:`gdbtools.ingest.readers.select.htslib_region`
    writes a region so that htslib reads it the same). END before START is an error.
    """
    if isinstance(text, Region):
        return text
    match = _REGION.match(text.strip())
    if not match:
        raise GdbError(f"cannot parse region {text!r}",
                       fix="write regions as CONTIG, CONTIG:START-END or CONTIG:START-")
    start = int(match["start"].replace(",", "")) if match["start"] else 1
    end_text = match["end"]
    if end_text is None and match["start"]:
        end = start  # 'chr1:5000' is the single position
    elif end_text:
        end = int(end_text.replace(",", ""))
    else:
        end = None
    if end is not None and end < start:
        raise GdbError(f"region {text!r} ends before it starts", fix="write START-END with START <= END")
    return Region(match["braced"] or match["contig"], start, end)
