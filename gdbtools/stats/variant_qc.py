"""The variant QC table: Hail's ``variant_qc`` fields per variant, bcftools' HWE/ExcHet, gnomAD's
InbreedingCoeff and the chrX HWE test, from the per-variant counts of a pass."""

from __future__ import annotations

import numpy as np

from ..table import Table
from . import engine as en
from ._qc_common import key_columns, ratio
from .variables import check_table

__all__ = ["variant_qc_table"]


def variant_qc_table(variants: Table, counts: np.ndarray, hwe: np.ndarray, *,
                     raw_counts: np.ndarray | None = None, x_nonpar: np.ndarray | None = None) -> Table:
    """Hail's ``variant_qc`` fields (plus bcftools' HWE/ExcHet, gnomAD's InbreedingCoeff and the chrX test).

    Parameters
    ----------
    variants : Table
        Selected variants (:attr:`Selection.variant_table`, index ``variant_index``).
    counts : (V, 6) int32
        Genotype counts of the whole selection in the QC view (:data:`gdbtools.stats.engine.COUNT_FIELDS`).
    hwe : (V, 4) float64
        p, p_midp, p_het_excess, p_het_excess_midp of the diploid counts.
    raw_counts : (V, 6) int32, optional
        Raw counts when `counts` are adj (gives ``n_filtered``).
    x_nonpar : (V,) bool, optional
        Rows on chrX outside the PARs: they get ``HWE_X`` / ``p_value_hwe_x``, the Graffelman-Weir test of
        the diploid genotypes and the haploid alleles together (:func:`gdbtools.stats.hwe_x.hwe_x_exact`);
        NaN on the other rows (all rows when not given).
    """
    tot = en.genotype_totals(counts)
    c = counts.astype(np.int64)
    het, ref, hom = c[:, en.HET], c[:, en.REF], c[:, en.HOM]
    n_dip = het + ref + hom
    n_called, n_missing = tot["NS"], tot["n_missing"]
    cols = key_columns(variants)
    cols["call_rate"] = ratio(n_called, n_called + n_missing)
    cols["n_called"] = n_called.astype(np.int32)
    cols["n_not_called"] = n_missing.astype(np.int32)
    if raw_counts is not None:
        cols["n_filtered"] = (en.genotype_totals(raw_counts)["NS"] - n_called).astype(np.int32)
    else:
        cols["n_filtered"] = np.zeros(len(variants), np.int32)
    cols["n_hom_ref"] = tot["n_hom_ref"].astype(np.int32)
    cols["n_het"] = tot["n_het"].astype(np.int32)
    cols["n_hom_var"] = tot["n_hom_var"].astype(np.int32)
    cols["n_non_ref"] = (tot["n_het"] + tot["n_hom_var"]).astype(np.int32)
    cols["AC"] = tot["AC"].astype(np.int32)
    cols["AN"] = tot["AN"].astype(np.int32)
    cols["AF"] = ratio(tot["AC"], tot["AN"])
    n_ref_alleles = 2 * ref + het
    n_alt_alleles = 2 * hom + het
    cols["het_freq_hwe"] = ratio(n_ref_alleles * n_alt_alleles, (2 * n_dip - 1) * n_dip)
    none = n_dip == 0
    p, midp, exc, exc_midp = (np.where(none, np.nan, hwe[:, j]) for j in range(4))
    cols["p_value_hwe"] = midp
    cols["p_value_excess_het"] = exc_midp
    cols["HWE"] = p
    cols["ExcHet"] = exc
    pq2n = 2.0 * ratio(n_ref_alleles, 2 * n_dip) * ratio(n_alt_alleles, 2 * n_dip) * n_dip
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["InbreedingCoeff"] = np.where(pq2n > 0, 1.0 - het / np.where(pq2n > 0, pq2n, 1), np.nan)
    x_p, x_midp = _hwe_x_columns(c, p, midp, x_nonpar)
    cols["p_value_hwe_x"] = x_midp
    cols["HWE_X"] = x_p
    return check_table(Table(cols, variants.index, "variant_index"), "variant_qc")


def _hwe_x_columns(c: np.ndarray, p: np.ndarray, midp: np.ndarray, x_nonpar: np.ndarray | None):
    """``HWE_X`` and ``p_value_hwe_x``: the X test on the rows of `x_nonpar` that have diploid calls.

    Rows without haploid calls take the diploid test's values (the X test is that test then, as in plink2);
    rows without diploid calls are NaN, as the diploid columns.
    """
    from .hwe_x import hwe_x_exact

    v = c.shape[0]
    out_p = np.full(v, np.nan)
    out_mid = np.full(v, np.nan)
    if x_nonpar is None:
        return out_p, out_mid
    x_nonpar = np.asarray(x_nonpar, dtype=bool)
    if x_nonpar.shape != (v,):
        raise ValueError(f"x_nonpar must have shape ({v},), got {x_nonpar.shape}")
    n_dip = c[:, en.REF] + c[:, en.HET] + c[:, en.HOM]
    n_hap = c[:, en.HAP_REF] + c[:, en.HAP_ALT]
    rows = np.flatnonzero(x_nonpar & (n_dip > 0))
    only_dip = rows[n_hap[rows] == 0]
    out_p[only_dip], out_mid[only_dip] = p[only_dip], midp[only_dip]
    both = rows[n_hap[rows] > 0]
    if both.size:
        cc = c[both]
        out_p[both], out_mid[both] = hwe_x_exact(cc[:, en.HET], cc[:, en.REF], cc[:, en.HOM], cc[:, en.HAP_REF],
                                                 cc[:, en.HAP_ALT])
    return out_p, out_mid
