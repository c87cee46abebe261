"""The sample QC table: Hail's ``sample_qc`` fields and plink's inbreeding F per sample, from the per-sample
class counts of a pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..table import STRING, Table, column_objects, text_array
from . import engine as en
from . import ploidy as pl
from ._qc_common import class_arrays, inbreeding_f, ratio
from ._wsum import FIXED_BITS
from .variables import check_table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["sample_qc_table"]


def sample_qc_table(samples: pa.Table, selected: np.ndarray, res: en.PassResult, layout: np.ndarray,
                    sex: np.ndarray, unknown_sex: str, *, adj: bool) -> Table:
    """Hail's ``sample_qc`` fields and plink's inbreeding F from the per-sample partials of a pass.

    Parameters
    ----------
    samples : pyarrow.Table or DataFrame
        ``store.sample_arrow`` (all samples).
    selected : (N,) bool
    res : PassResult
        With ``class_counts (N, C, 3)``, ``class_sizes (C,)``, ``wmiss``, ``wtotal`` (and ``filtered``).
    layout : (7, 6, 3) int16
        Class id per (zone, allele type, state).
    sex : (N,) int8
        Sex part per sample.
    """
    if res.class_counts is None or res.class_sizes is None or res.wmiss is None:
        raise ValueError("the pass computed no per-sample counts (its plan had no sample_view)")
    zone, atype, state = class_arrays(layout, res.class_sizes.shape[0])
    ptable = pl.ploidy_table(unknown_sex)
    idx = np.flatnonzero(selected)
    cc = res.class_counts[idx].astype(np.int64)
    het, hom, mis = cc[..., 0], cc[..., 1], cc[..., 2]
    size = res.class_sizes[None, :].astype(np.int64)
    mode = ptable[zone][:, sex[idx]].T  # (n, C)
    dip = mode == pl.DIPLOID
    hap = mode == pl.HAPLOID
    counted = dip | hap
    called = np.where(dip, size - mis, 0) + np.where(hap, size - mis - het, 0)
    not_called = np.where(dip, mis, 0) + np.where(hap, mis + het, 0)
    n_het = np.where(dip, het, 0)
    n_hom_var = np.where(counted, hom, 0)
    alt = np.where(dip, het + 2 * hom, 0) + np.where(hap, hom, 0)

    def over(mask_c, values):
        return values[:, mask_c].sum(axis=1)

    everything = np.ones(zone.shape[0], bool)
    cols = {"sample_id": text_array(column_objects(samples, "sample_id")[idx])}
    n_called = over(everything, called)
    n_not = over(everything, not_called)
    cols["call_rate"] = ratio(n_called, n_called + n_not)
    cols["n_called"] = n_called
    cols["n_not_called"] = n_not
    if res.filtered is not None and adj:
        cols["n_filtered"] = over(everything, np.where(counted, res.filtered[idx].astype(np.int64), 0))
    else:
        cols["n_filtered"] = np.zeros(idx.size, np.int64)
    cols["n_het"] = over(everything, n_het)
    cols["n_hom_var"] = over(everything, n_hom_var)
    cols["n_hom_ref"] = n_called - cols["n_het"] - cols["n_hom_var"]
    cols = {k: cols[k] for k in ("sample_id", "call_rate", "n_called", "n_not_called", "n_filtered", "n_hom_ref",
                                 "n_het", "n_hom_var")}
    cols["n_non_ref"] = cols["n_het"] + cols["n_hom_var"]
    cols["n_singleton"] = over(state == en.STATE_SINGLETON, alt)
    cols["n_snp"] = over((atype == en.TI) | (atype == en.TV), alt)
    cols["n_insertion"] = over(atype == en.INS, alt)
    cols["n_deletion"] = over(atype == en.DEL, alt)
    cols["n_transition"] = over(atype == en.TI, alt)
    cols["n_transversion"] = over(atype == en.TV, alt)
    cols["n_star"] = over(atype == en.STAR, alt)
    cols["r_ti_tv"] = ratio(cols["n_transition"], cols["n_transversion"])
    cols["r_het_hom_var"] = ratio(cols["n_het"], cols["n_hom_var"])
    cols["r_insertion_deletion"] = ratio(cols["n_insertion"], cols["n_deletion"])
    # inbreeding F over the polymorphic variants of the autosomes and PARs (diploid for everyone)
    f_cls = np.isin(zone, en.F_ZONES) & (state != en.STATE_MONO)
    f_called = over(f_cls, size - mis)
    f_obs = over(f_cls, size - mis - het)
    f_exp = np.where(f_called > 0, (res.wtotal - res.wmiss[idx]).astype(np.float64) / 2.0**FIXED_BITS, 0.0)
    cols["f_stat"] = inbreeding_f(f_obs, f_called, f_exp)
    cols["f_n_called"] = f_called
    cols["f_observed_homs"] = f_obs
    cols["f_expected_homs"] = f_exp
    for k, v in cols.items():
        if k != "sample_id" and np.asarray(v).dtype.kind in "iu":
            cols[k] = np.asarray(v, dtype=np.int64)
    return check_table(Table(cols, idx, "sample_index", kinds={"sample_id": STRING}), "sample_qc")
