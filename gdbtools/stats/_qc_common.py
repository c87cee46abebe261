"""Helpers shared by the QC tables: ratios with NaN for 0/0, the variant key columns, the class arrays of a
sample-QC layout, and the method-of-moments F."""

from __future__ import annotations

import numpy as np

__all__ = ["ratio", "key_columns", "class_arrays", "inbreeding_f"]


def ratio(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


def key_columns(variants) -> dict:
    """contig, pos, ref, alt of a variant :class:`~gdbtools.table.Table` (shared, not copied)."""
    return {name: variants[name] for name in ("contig", "pos", "ref", "alt")}


def class_arrays(layout: np.ndarray, n_classes: int):
    """Zone, allele type and state of each class id of a layout."""
    zone = np.zeros(n_classes, np.int64)
    atype = np.zeros(n_classes, np.int64)
    state = np.zeros(n_classes, np.int64)
    for (z, t, s), cid in np.ndenumerate(layout):
        if cid >= 0:
            zone[cid], atype[cid], state[cid] = z, t, s
    return zone, atype, state


def inbreeding_f(observed, called, expected):
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = called - expected
        return np.where(denom != 0, (observed - expected) / np.where(denom != 0, denom, 1), np.nan)
