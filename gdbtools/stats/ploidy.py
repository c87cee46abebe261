"""Ploidy zones: how each variant is counted for each sample, from the contig, the position and the sex.

Every variant falls in one *zone*:

==========  ======================================  =========  =========  =================================
zone        where                                   XX         XY         unknown sex
==========  ======================================  =========  =========  =================================
AUTO        autosomes                               diploid    diploid    diploid
X_PAR       chrX inside a PAR                       diploid    diploid    diploid
X_NONPAR    chrX outside the PARs                   diploid    haploid    excluded (or diploid, see below)
Y_PAR       chrY inside a PAR                       excluded   diploid    excluded
Y_NONPAR    chrY outside the PARs                   excluded   haploid    excluded
MT          chrM / MT                               haploid    haploid    haploid
OTHER       any other contig (unplaced, decoys...)  diploid    diploid    diploid
==========  ======================================  =========  =========  =================================

This is gnomAD's ``adjusted_sex_ploidy_expr``: XY samples are haploid outside the PARs, XX samples are
removed from chrY, and a *heterozygous* call where a sample is haploid is set to missing (plink2 does the
same with "heterozygous haploid" calls). A haploid call is stored with codes 0/2/3 (hom-ref / alt /
missing), so a haploid alt counts one allele, a haploid ref one reference allele.

Samples of unknown sex (``sex`` null in the store) are *excluded* where the ploidy depends on sex (chrX
outside the PARs, chrY): their calls there count neither as called nor as missing. That is what a release
needs (gnomAD drops samples of ambiguous sex from the release altogether); ``unknown_sex="diploid"``
counts them as XX instead (plink's convention: "unknown-sex samples are treated as female").
A build is needed for the PARs; a store without a build treats every chrX/chrY position as outside the PARs.
"""

from __future__ import annotations

import numpy as np

from ..genome import contig_kind
from ..table import objects

__all__ = ["ZONES", "AUTO", "X_PAR", "X_NONPAR", "Y_PAR", "Y_NONPAR", "MT", "OTHER", "SEX_PARTS",
           "DIPLOID", "HAPLOID", "EXCLUDED", "UNKNOWN_SEX_POLICIES", "variant_zones", "ploidy_table",
           "sex_part"]

AUTO, X_PAR, X_NONPAR, Y_PAR, Y_NONPAR, MT, OTHER = range(7)
ZONES = ("AUTO", "X_PAR", "X_NONPAR", "Y_PAR", "Y_NONPAR", "MT", "OTHER")
SEX_PARTS = ("XX", "XY", "unknown")  # the three sample parts of a group on sex chromosomes
EXCLUDED, DIPLOID, HAPLOID = 0, 1, 2
UNKNOWN_SEX_POLICIES = ("exclude", "diploid")

_KIND_ZONE = {"X": (X_PAR, X_NONPAR), "Y": (Y_PAR, Y_NONPAR)}


def _is_autosome(kind: str) -> bool:
    return kind.isdigit() and 1 <= int(kind) <= 22


def variant_zones(contig: np.ndarray, pos: np.ndarray, build) -> np.ndarray:
    """The zone of each variant.

    Parameters
    ----------
    contig : (V,) str
        Array, list, Arrow array or pandas Series/array (factorized, not converted to Python strings).
    pos : (V,) int, 1-based
    build : gdbtools.genome.Build or None
        For the PARs; ``None``: no PARs.

    Returns
    -------
    (V,) uint8
        Zone codes (:data:`AUTO` ... :data:`OTHER`).
    """
    from ..table import factorize

    pos = np.asarray(pos)
    inverse, names = factorize(contig)
    out = np.full(len(inverse), OTHER, dtype=np.uint8)
    for i, name in enumerate(names):
        rows = inverse == i
        kind = contig_kind(str(name))
        if _is_autosome(kind):
            out[rows] = AUTO
        elif kind in _KIND_ZONE:
            par, nonpar = _KIND_ZONE[kind]
            inside = build.in_par(kind, pos[rows]) if build is not None else np.zeros(int(rows.sum()), bool)
            out[rows] = np.where(inside, par, nonpar)
        elif kind == "MT":
            out[rows] = MT
    return out


def ploidy_table(unknown_sex: str = "exclude") -> np.ndarray:
    """How each zone counts each sex part: ``(7 zones, 3 parts) uint8`` of EXCLUDED / DIPLOID / HAPLOID.

    Parts are :data:`SEX_PARTS` (XX, XY, unknown).
    """
    if unknown_sex not in UNKNOWN_SEX_POLICIES:
        raise ValueError(f"unknown_sex must be one of {UNKNOWN_SEX_POLICIES}, got {unknown_sex!r}")
    d, h, e = DIPLOID, HAPLOID, EXCLUDED
    u_x = d if unknown_sex == "diploid" else e
    table = np.array([
        [d, d, d],      # AUTO
        [d, d, d],      # X_PAR
        [d, h, u_x],    # X_NONPAR
        [e, d, e],      # Y_PAR
        [e, h, e],      # Y_NONPAR
        [h, h, h],      # MT
        [d, d, d],      # OTHER
    ], dtype=np.uint8)
    return table


def sex_part(sex) -> np.ndarray:
    """Sex part of each sample: 0 XX, 1 XY, 2 unknown.  `sex`: ``(N,)`` of 'XX' / 'XY' / null."""
    values = objects(sex)
    out = np.full(values.shape[0], 2, dtype=np.int8)
    out[values == "XX"] = 0
    out[values == "XY"] = 1
    return out
