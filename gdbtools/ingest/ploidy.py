"""Which calls of a record the store will count as diploid, and which belong to samples of unknown sex.

The store keeps no per-call ploidy: a haploid call is written with codes 0/2/3 and the statistics take the
ploidy from the sample's sex and the region (:mod:`gdbtools.stats.ploidy`: diploid on autosomes, other
contigs and the PARs; on chrX outside the PARs diploid for XX, haploid for XY; on chrY haploid for XY; haploid
on chrM). A haploid call (``1``) where the sample counts as diploid would be counted twice (AN 2 where
bcftools +fill-tags counts 1), so ingest refuses it (:func:`ExpectedPloidy.at` gives the mask to check). A half
call (``1/.``) read as haploid (``half_call="haploid"``, the default) there is kept, counted
(``n_half_calls_diploid``) and reported: real call sets write them on autosomes, and ``--half-call
missing|reference`` reads them otherwise. Samples of unknown sex on chrX outside the PARs and on
chrY are excluded by the statistics by default (``unknown_sex="exclude"``), so ingest counts their calls there
and reports the count (:attr:`ExpectedPloidy.unknown`).
"""

from __future__ import annotations

import numpy as np

from ..genome import contig_kind

__all__ = ["ExpectedPloidy"]


class ExpectedPloidy:
    """Per record position: the samples counted as diploid there, and the unknown-sex samples excluded there.

    Parameters
    ----------
    n : int
        Samples (store order).
    xx, xy : (N,) bool or None
        Reported sex per sample (None: no sexes given; every sample of unknown sex).
    build : gdbtools.genome.Build or None
        For the PARs (None: every chrX/chrY position lies outside them).
    """

    def __init__(self, n: int, xx, xy, build):
        self.build = build
        self.all = np.ones(n, dtype=np.bool_)
        self.xx = np.asarray(xx, dtype=np.bool_) if xx is not None else np.zeros(n, dtype=np.bool_)
        self.xy = np.asarray(xy, dtype=np.bool_) if xy is not None else np.zeros(n, dtype=np.bool_)
        self.unknown = ~(self.xx | self.xy)
        self.any_unknown = bool(self.unknown.any())
        self._kinds: dict[str, str] = {}

    def at(self, chrom: str, pos: int) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """``(diploid, unknown, zone)``: (N,) bool of samples counted as diploid (None: none), (N,) bool of
        unknown-sex samples the statistics exclude by default (None: none), and the zone's name."""
        kind = self._kinds.get(chrom)
        if kind is None:
            kind = self._kinds[chrom] = contig_kind(chrom)
        if kind == "MT":
            return None, None, "chrM"
        if kind in ("X", "Y"):
            par = self.build is not None and bool(self.build.in_par(kind, pos))
            unknown = self.unknown if self.any_unknown and not (kind == "X" and par) else None
            if kind == "X":
                return (self.all, None, "a PAR of chrX") if par else (self.xx, unknown, "chrX outside the PARs")
            return (self.xy if par else None), unknown, ("a PAR of chrY" if par else "chrY outside the PARs")
        return self.all, None, "a diploid contig"
