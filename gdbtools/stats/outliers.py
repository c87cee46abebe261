"""Sample outliers: gnomAD's stratified QC metrics filter (median +- n MADs per group) on a sample QC table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["sample_outliers", "OUTLIER_METRICS", "MAD_SCALE"]

# gnomAD v3's stratified QC metrics (compute_stratified_metrics_filter)
OUTLIER_METRICS = ("n_snp", "r_ti_tv", "r_insertion_deletion", "n_insertion", "n_deletion", "r_het_hom_var",
                   "n_het", "n_hom_var", "n_transition", "n_transversion")
MAD_SCALE = 1.4826  # consistency constant: the MAD of a normal distribution times this is its sd


def _group_median(x: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Each value's group median, NaN skipped (pandas' ``groupby(key).transform("median")``: the middle value, or
    the mean of the two middle ones)."""
    out = np.full(len(x), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a group of NaN only: its median is NaN
        for rows in members:
            out[rows] = np.nanmedian(x[rows])
    return out


def sample_outliers(sample_qc: pd.DataFrame, groups: pd.Series | None = None, *, metrics=OUTLIER_METRICS,
                    n_mads: float = 4.0) -> pd.DataFrame:
    """Flag samples more than `n_mads` median absolute deviations from their group's median (gnomAD).

    gnomAD's ``compute_stratified_metrics_filter``: per metric and group (population, pipeline, ...), the
    median and ``MAD = 1.4826 * median(|x - median|)``; a sample fails the metric when it lies outside
    ``median +- n_mads * MAD``.  NaN values never fail.

    Parameters
    ----------
    sample_qc : DataFrame
        A sample QC table (index ``sample_index``, column ``sample_id``).
    groups : Series, optional
        Group of each sample (aligned on the index); ``None``: one group.  Null values form their own group.
    metrics : sequence of str
        Columns of `sample_qc` (default gnomAD v3's list, :data:`OUTLIER_METRICS`).
    n_mads : float

    Returns
    -------
    DataFrame
        ``sample_id``, ``group``, per metric ``<m>``, ``<m>_median``, ``<m>_mad``, ``fail_<m>``, then
        ``qc_metrics_filters`` (comma-separated failing metrics) and ``outlier``.
    """
    missing = [m for m in metrics if m not in sample_qc.columns]
    if missing:
        raise KeyError(f"metrics not in the sample QC table: {missing}")
    if groups is None:
        key = pd.Series("all", index=sample_qc.index, dtype="string")
        group_out = pd.array([None] * len(sample_qc), dtype="string")
    else:
        key = groups.reindex(sample_qc.index).astype("string")
        group_out = key.array
        key = key.fillna("NA")
    out = {"sample_id": sample_qc["sample_id"].astype("string").array, "group": group_out}
    _, code = np.unique(key.to_numpy(dtype=object), return_inverse=True)
    members = np.split(np.argsort(code, kind="stable"), np.cumsum(np.bincount(code))[:-1]) if len(code) else []
    fails = []
    for m in metrics:
        x = sample_qc[m].to_numpy(dtype=np.float64, na_value=np.nan)
        med = _group_median(x, members)
        mad = MAD_SCALE * _group_median(np.abs(x - med), members)
        fail = ((x < med - n_mads * mad) | (x > med + n_mads * mad)) & ~np.isnan(x)
        out[m] = x
        out[f"{m}_median"] = med
        out[f"{m}_mad"] = mad
        out[f"fail_{m}"] = fail
        fails.append(fail)
    fail_matrix = np.stack(fails, axis=1) if fails else np.zeros((len(sample_qc), 0), bool)
    names = np.array(list(metrics), dtype=object)
    out["qc_metrics_filters"] = pd.array([",".join(names[row]) for row in fail_matrix], dtype="string")
    out["outlier"] = fail_matrix.any(axis=1)
    return pd.DataFrame(out, index=sample_qc.index)
