"""The sex check table: plink's ``--check-sex`` (chrX F, optionally chrY call counts) per sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..table import STRING, Table, column_objects, text_array
from . import engine as en
from . import ploidy as pl
from ._qc_common import class_arrays, inbreeding_f
from ._wsum import FIXED_BITS
from .variables import check_table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["sex_check_table", "infer_sex", "Y_METHODS"]

Y_METHODS = (None, "ycount", "y-only")


def infer_sex(f_stat, y_n_called, *, female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
              female_max_y_calls: int = 0, male_min_y_calls: int | None = None) -> np.ndarray:
    """Sex inferred from chrX F and chrY call counts, by plink 1.9's ``--check-sex`` rules.

    Parameters
    ----------
    f_stat : (N,) float64
        chrX inbreeding F (NaN: no chrX call).
    y_n_called : (N,) int
        chrY non-PAR calls per sample (plink YCOUNT).
    y_method : {None, "ycount", "y-only"}
        ``None``: XX if F < `female_max_f`, XY if F > `male_min_f`.  ``"ycount"``: the same, but an XX call
        needs at most `female_max_y_calls` chrY calls and an XY call at least `male_min_y_calls`, else the
        sample is left ambiguous.  ``"y-only"``: XY with at least `male_min_y_calls` chrY calls, else XX
        with at most `female_max_y_calls`, else ambiguous; F is not used.
    male_min_y_calls : int, optional
        plink's default: 0 for ycount, 1 for y-only.

    Returns
    -------
    (N,) object
        ``"XX"``, ``"XY"`` or ``None``.
    """
    if y_method not in Y_METHODS:
        raise ValueError(f"y_method must be one of {Y_METHODS}, got {y_method!r}")
    f = np.asarray(f_stat, dtype=np.float64)
    y = np.asarray(y_n_called, dtype=np.int64)
    if male_min_y_calls is None:
        male_min_y_calls = 1 if y_method == "y-only" else 0
    y_male = y >= male_min_y_calls
    y_female = y <= female_max_y_calls
    if y_method == "y-only":
        male, female = y_male, ~y_male & y_female
    else:
        with np.errstate(invalid="ignore"):
            f_male, f_female = f > male_min_f, f < female_max_f
        if y_method == "ycount":
            male, female = f_male & y_male, f_female & y_female
        else:
            male, female = f_male, f_female
    called = np.full(np.shape(male), None, dtype=object)
    called[female] = "XX"
    called[male] = "XY"
    return called


def sex_check_table(samples: pa.Table, selected: np.ndarray, res: en.PassResult, layout: np.ndarray, *,
                    female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
                    female_max_y_calls: int = 0, male_min_y_calls: int | None = None) -> Table:
    """plink's ``--check-sex`` from a pass over chrX/chrY outside the PARs (every call read as diploid).

    F is the method-of-moments inbreeding coefficient over the polymorphic chrX non-PAR variants, with
    allele frequencies counting XY samples as haploid (plink 1.9).  The inferred sex follows
    :func:`infer_sex` (chrX F, optionally with the chrY call counts: plink's ``ycount`` and ``y-only``
    modes); status OK when it equals the reported sex.  `samples`: all samples of the store
    (``store.sample_arrow``, or a DataFrame); `selected`: ``(N,) bool``.
    """
    if res.class_counts is None or res.class_sizes is None or res.wmiss is None:
        raise ValueError("the pass computed no per-sample counts (its plan had no sample_view)")
    zone, _, state = class_arrays(layout, res.class_sizes.shape[0])
    idx = np.flatnonzero(selected)
    cc = res.class_counts[idx].astype(np.int64)
    het, mis = cc[..., 0], cc[..., 2]
    size = res.class_sizes[None, :].astype(np.int64)
    x_cls = (zone == pl.X_NONPAR) & (state != en.STATE_MONO)
    y_cls = zone == pl.Y_NONPAR
    x_called = (size - mis)[:, x_cls].sum(axis=1)
    x_obs = (size - mis - het)[:, x_cls].sum(axis=1)
    x_exp = np.where(x_called > 0, (res.wtotal - res.wmiss[idx]).astype(np.float64) / 2.0**FIXED_BITS, 0.0)
    f = inbreeding_f(x_obs, x_called, x_exp)
    y_called = (size - mis)[:, y_cls].sum(axis=1)
    inferred = infer_sex(f, y_called, female_max_f=female_max_f, male_min_f=male_min_f, y_method=y_method,
                         female_max_y_calls=female_max_y_calls, male_min_y_calls=male_min_y_calls)
    reported = column_objects(samples, "sex")[idx]
    known = np.array([r is not None and i is not None for r, i in zip(reported, inferred)], dtype=bool)
    status = np.where((reported == inferred) & known, "OK", "PROBLEM").astype(object)
    cols = {
        "sample_id": text_array(column_objects(samples, "sample_id")[idx]),
        "reported_sex": text_array(reported),
        "inferred_sex": text_array(inferred),
        "status": text_array(status),
        "f_stat": f,
        "x_n_called": x_called.astype(np.int64),
        "x_observed_homs": x_obs.astype(np.int64),
        "x_expected_homs": x_exp,
        "y_n_called": y_called.astype(np.int64),
        "y_n_variants": np.full(idx.size, int(res.class_sizes[y_cls].sum()), np.int64),
    }
    return check_table(Table(cols, idx, "sample_index", kinds=dict.fromkeys(("sample_id", "reported_sex",
                                                                            "inferred_sex", "status"), STRING)),
                       "sex_check")
