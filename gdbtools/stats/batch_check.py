"""The batch check table: per variant, Fisher's exact test of each batch's allele counts against the other
batches', Benjamini-Hochberg q-values, flagged variants."""

from __future__ import annotations

import numpy as np

from ..backend import default_host_backend
from ..table import STRING, Table, text_of_codes
from . import engine as en
from ._qc_common import key_columns, ratio
from .variables import check_table

__all__ = ["batch_check_table", "fisher_exact_two_sided", "benjamini_hochberg"]


def fisher_exact_two_sided(a, b, c, d, *, backend=None) -> np.ndarray:
    """Two-sided Fisher exact p of 2x2 tables ``[[a, b], [c, d]]`` (scipy's ``fisher_exact``).

    The p-value sums the probabilities of all tables with the same margins that are no more likely than the
    observed one (relative tolerance 1e-7).  The test is a backend method,
    :meth:`gdbtools.backend.Backend.fisher_exact` (C++ in the host library, threads over the distinct tables;
    scipy's hypergeom on ``"numpy"``).

    Parameters
    ----------
    a, b, c, d : (M,) int
    backend : Backend, optional
        Where the test runs (host arrays in and out whatever the backend); default the ``"host"`` backend,
        else ``"numpy"`` when the host kernels cannot be built.

    Returns
    -------
    (M,) float64
    """
    cells = [np.asarray(x, dtype=np.int64).reshape(-1) for x in (a, b, c, d)]
    if backend is None:
        backend = default_host_backend()
    return backend.to_host(backend.fisher_exact(*(backend.to_device(x) for x in cells)))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def batch_check_table(variants: Table, labels: list[str], counts: np.ndarray, *,
                      fdr: float = 0.05) -> Table:
    """Per variant, whether a batch's allele frequency differs from the other batches'.

    Parameters
    ----------
    variants : Table
        The selected variants (:attr:`Selection.variant_table`).
    labels : list of str
        Batch labels (B >= 2).
    counts : (V, B, 6) int32
        Genotype counts per batch.
    fdr : float
        Benjamini-Hochberg false discovery rate for ``flagged``.

    Notes
    -----
    Per batch, Fisher's exact test (two-sided) of its (AC, AN - AC) against the other batches' sums.  With
    two batches both tests are the same table, so ``p_value`` is that p; with more, the smallest p times
    the number of batches (Bonferroni within the variant).  Variants with AC = 0, or fewer than two batches
    with calls, are not tested (NaN).  ``batch`` is the batch with the smallest p (ties: the higher AF).
    """
    tot = en.genotype_totals(counts)
    ac, an = tot["AC"], tot["AN"]  # (V, B)
    n_b = len(labels)
    cols = key_columns(variants)
    for j, lab in enumerate(labels):
        cols[f"AC_{lab}"] = ac[:, j].astype(np.int32)
        cols[f"AN_{lab}"] = an[:, j].astype(np.int32)
        cols[f"AF_{lab}"] = ratio(ac[:, j], an[:, j])
    ac_all, an_all = ac.sum(axis=1), an.sum(axis=1)
    testable = (ac_all > 0) & (ac_all < an_all) & ((an > 0).sum(axis=1) >= 2)
    pv = np.full((len(variants), n_b), np.nan)
    rows = np.flatnonzero(testable)
    n_tests = n_b if n_b > 2 else 1
    a = ac[rows, :n_tests].astype(np.int64)  # (R, T): every batch's table in one call
    b = an[rows, :n_tests] - a
    c = ac_all[rows, None] - a
    d = an_all[rows, None] - an[rows, :n_tests] - c
    pv[rows, :n_tests] = fisher_exact_two_sided(a.ravel(), b.ravel(), c.ravel(), d.ravel()).reshape(-1, n_tests)
    if n_b == 2:
        pv[:, 1] = pv[:, 0]
    af = np.nan_to_num(ratio(ac, an), nan=-1.0)
    pk = np.where(np.isnan(pv), np.inf, pv)
    tied = pk == pk.min(axis=1, keepdims=True)
    best = np.argmax(np.where(tied, af, -np.inf), axis=1)  # smallest p; ties: the higher AF
    pmin = pv[np.arange(len(variants)), best]
    p_value = np.minimum(1.0, pmin * n_tests)  # Bonferroni over the batches tested
    cols["batch"] = text_of_codes(labels, np.where(testable, best, -1))
    cols["p_value"] = np.where(testable, p_value, np.nan)
    cols["q_value"] = benjamini_hochberg(cols["p_value"])
    cols["flagged"] = np.nan_to_num(cols["q_value"], nan=1.0) < fdr
    return check_table(Table(cols, variants.index, "variant_index", kinds={"batch": STRING}), "batch_check")
