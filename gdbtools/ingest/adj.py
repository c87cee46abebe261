"""Inputs of the genotype filter ("adj"): GQ, DP and AD of one record, as written, in store order.

Works on any record with cyvcf2's ``format(name)`` (the fast readers' records and cyvcf2's own), so ingest,
merge and ``verify`` read the same values. Values are compared with the thresholds unrounded: a
``Type=Float`` GQ of 19.55 fails GQ >= 20, as bcftools ``+setGT -i 'FMT/GQ<20'`` reads it.
"""

from __future__ import annotations

import numpy as np

from ..genome import contig_kind

__all__ = ["format_values", "adj_inputs"]

_INT32_MISSING = -(2**31)  # htslib's int32 missing value; the vector end is one above


def format_values(variant, name: str) -> np.ndarray | None:
    """FORMAT field `name` of a record as float64 ``(N,)`` or ``(N, k)``, or None if absent or not numeric.

    Values are compared with the adj thresholds as written: a ``Type=Float`` GQ of 19.55 stays 19.55 (fails
    GQ >= 20, as bcftools ``+setGT -i 'FMT/GQ<20'`` reads it); it is never rounded. Missing values are
    ``-inf`` (float fields: NaN; integer fields: htslib's missing and vector-end sentinels), so a missing
    value fails every threshold.
    """
    try:
        values = variant.format(name)
    except KeyError:  # cyvcf2: a tag the header does not declare is absent, as htslib reads it
        return None
    if values is None:
        return None
    if values.dtype.kind == "f":
        out = np.where(np.isnan(values), -np.inf, values).astype(np.float64)
    elif values.dtype.kind in "iu":
        out = values.astype(np.float64)
        out[values <= _INT32_MISSING + 1] = -np.inf
    else:
        return None
    return out[:, 0] if out.shape[1] == 1 else out


def adj_inputs(variant, n: int, n_alt: int, use: dict, perm=None, xy=None, build=None):
    """The genotype-filter inputs of one record: ``(gq, dp, ad, hap)``, values as written, missing = -inf.

    gq, dp : (N,) float64; ad : (N, n_alt + 1) float64; hap : (N,) bool, samples haploid at this locus (XY
    outside the PARs of chrX/chrY, by reported sex). `use` names the FORMAT fields to apply (``{"GQ", "DP",
    "AD"}`` -> bool); without DP the allele balance uses sum(AD). `perm` reorders file columns to store
    order. Float fields keep their fraction (see :func:`format_values`). A field the header does not declare is
    absent (htslib's reading), so `use` only names declared fields.
    """
    def get(name):
        values = format_values(variant, name)
        return values if values is None or perm is None else values[perm]

    gq = get("GQ") if use.get("GQ") else None
    dp = get("DP") if use.get("DP") else None
    ad = get("AD") if use.get("AD") else None
    if ad is not None and ad.ndim == 1:
        ad = ad[:, None]
    if use.get("AD") and dp is None and ad is not None:
        dp = np.where(ad < 0, 0.0, ad).sum(axis=1)
    if gq is None:
        gq = np.full(n, -np.inf)
    if dp is None:
        dp = np.full(n, -np.inf)
    if ad is None or ad.shape[1] <= n_alt:
        ad = np.full((n, n_alt + 1), -np.inf)
    hap = np.zeros(n, dtype=bool)
    kind = contig_kind(variant.CHROM)
    if kind in ("X", "Y") and xy is not None:
        in_par = bool(build.in_par(kind, variant.POS)) if build is not None else False
        if not in_par:
            hap = np.asarray(xy, dtype=bool)
    return gq, dp, ad, hap
