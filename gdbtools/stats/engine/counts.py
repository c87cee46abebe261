"""Count derivation: backend kernel counts -> per-variant genotype counts by ploidy, and their totals.

The pass (:mod:`gdbtools.stats.engine.task`) calls :func:`derive_counts` once per block and view; the tables
(:mod:`gdbtools.stats.freq`, :mod:`gdbtools.stats.variant_qc`, ...) read the ``(V, G, 6)`` counts through
:func:`genotype_totals`.  Also the allele-type and variant-state codes of the sample QC classes.
"""

from __future__ import annotations

import numpy as np

from .. import ploidy as pl

__all__ = ["REF", "HET", "HOM", "HAP_REF", "HAP_ALT", "MISSING", "COUNT_FIELDS", "TI", "TV", "INS", "DEL", "STAR",
           "OTHER_TYPE", "ATYPE_NAMES", "STATE_POLY", "STATE_SINGLETON", "STATE_MONO", "F_ZONES",
           "allele_classes", "derive_counts", "genotype_totals", "variant_states"]

# per-variant genotype counts, last axis of the (V, G, 6) arrays
REF, HET, HOM, HAP_REF, HAP_ALT, MISSING = range(6)
COUNT_FIELDS = ("n_hom_ref", "n_het", "n_hom_alt", "n_hap_ref", "n_hap_alt", "n_missing")

# allele types of the sample QC classes
TI, TV, INS, DEL, STAR, OTHER_TYPE = range(6)
ATYPE_NAMES = ("transition", "transversion", "insertion", "deletion", "star", "other")
STATE_POLY, STATE_SINGLETON, STATE_MONO = range(3)

# zones of the inbreeding F of sample QC: the diploid-for-everyone ones, as plink2 --het (autosomes and PARs)
F_ZONES = (pl.AUTO, pl.X_PAR)


def allele_classes(allele_type, is_transition) -> np.ndarray:
    """Hail's allele classes as the six types of sample QC: ``(V,) uint8`` (TI, TV, INS, DEL, STAR, OTHER)."""
    from ...table import factorize

    codes, names = factorize(allele_type)  # hashing, not one string comparison per row and type
    ti = np.asarray(is_transition, dtype=bool)
    named = {"Insertion": INS, "Deletion": DEL, "Star": STAR}
    lut = np.array([named.get(str(name), OTHER_TYPE) for name in names] + [OTHER_TYPE], dtype=np.uint8)
    out = lut[codes]  # code -1 (a null type) takes the last entry: OTHER_TYPE
    if "SNP" in list(names):
        snp = codes == list(names).index("SNP")
        out[snp & ti] = TI
        out[snp & ~ti] = TV
    return out


def derive_counts(xp, counts, sizes, zone, ploidy, split: bool, offset: int):
    """Genotype counts by ploidy from kernel counts.

    Parameters
    ----------
    counts : (V, M, 3 or 6) int32
        ``variant_group_counts`` output; M = G, or 3 G with groups split by sex part (``g*3 + k``).
    sizes : (G, 1) or (G, 3) int64
        Samples per mask.
    zone : (V,) uint8
    ploidy : (7, 3) uint8
        :func:`gdbtools.stats.ploidy.ploidy_table`.
    split : bool
    offset : int
        0 for the raw counts, 3 for the adj counts.

    Returns
    -------
    (V, G, 6) int32
        :data:`COUNT_FIELDS`.
    """
    v = counts.shape[0]
    het = counts[..., offset].astype(np.int64)
    hom = counts[..., offset + 1].astype(np.int64)
    mis = counts[..., offset + 2].astype(np.int64)
    n_parts = 3 if split else 1
    het, hom, mis = (a.reshape(v, -1, n_parts) for a in (het, hom, mis))
    size = xp.asarray(sizes)[None, :, :]
    mode = xp.asarray(ploidy)[zone.astype(np.int64)][:, None, :n_parts]  # (V, 1, parts)
    dip = mode == pl.DIPLOID
    hap = mode == pl.HAPLOID
    ref = size - het - hom - mis
    zero = xp.zeros((), dtype=np.int64)
    out = xp.stack([
        xp.where(dip, ref, zero).sum(axis=2),
        xp.where(dip, het, zero).sum(axis=2),
        xp.where(dip, hom, zero).sum(axis=2),
        xp.where(hap, ref, zero).sum(axis=2),
        xp.where(hap, hom, zero).sum(axis=2),
        (xp.where(dip, mis, zero) + xp.where(hap, mis + het, zero)).sum(axis=2),
    ], axis=-1)
    return out.astype(np.int32)


def genotype_totals(c: np.ndarray) -> dict[str, np.ndarray]:
    """AC, AN, NS, nhomalt ... from ``(..., 6)`` genotype counts (int64 arrays of the leading shape)."""
    c = c.astype(np.int64)
    ref, het, hom, hr, ha, mis = (c[..., i] for i in range(6))
    return {"AC": het + 2 * hom + ha, "AN": 2 * (ref + het + hom) + hr + ha, "NS": ref + het + hom + hr + ha,
            "nhomalt": hom + ha, "AC_Het": het, "AC_Hom": 2 * hom, "AC_Hemi": ha, "n_missing": mis,
            "n_hom_ref": ref + hr, "n_het": het, "n_hom_var": hom + ha}


def variant_states(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """``(V,) int64``: :data:`STATE_MONO` (AC 0 or AN), :data:`STATE_SINGLETON` (AC 1), else :data:`STATE_POLY`."""
    return np.where((ac == 0) | (ac == an), STATE_MONO, np.where(ac == 1, STATE_SINGLETON, STATE_POLY))
