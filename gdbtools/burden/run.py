"""The gene loop of ``gdbtools burden``: the result table and its metadata.

The null model is fitted once per trait (:func:`~gdbtools.burden.nullmodel.fit_null`); then each gene's
dosage matrix is read once (:func:`~gdbtools.burden.genotypes.gene_matrices`) and every mask x frequency bin
of it is tested (burden, SKAT, SKAT-O, ACAT-V), and ACAT-O combines the gene's p-values across masks, bins and
tests. One row per gene x mask x bin x test (columns: :data:`gdbtools.stats.variables.BURDEN`), plus one
ACAT-O row per gene (``mask = bin = "*"``). Variants monomorphic among the analysed samples (MAC 0) carry no
information and qualify for no mask x bin (as regenie drops them). A mask x bin without qualifying variants
is a row with ``n_variants = 0`` and ``p`` NaN: listed, and counted in the metadata, never silently absent.

The metadata (``DataFrame.attrs``, written with the table) holds the null model's summary (n, k,
cases/controls, covariates), the phenotype report (samples dropped and why), the gene sets (tested, without
qualifying variants), the options, the backend and the count of each ``p_method``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..backend import get_backend
from ..backend.blas import single_thread_blas
from ..errors import EmptySelectionError, GdbError
from ..optionsets import BURDEN_TESTS
from ..stats.selection import Selection
from ..stats.variables import BURDEN, check_table
from .acat import acat, acat_v
from .genotypes import gene_matrices
from .masks import binning_af, mask_bins, read_annotations, read_masks
from .nullmodel import NullModel, fit_null
from .phenotypes import load_phenotypes
from .scores import COLLAPSE_MAC, SCORE_KINDS, beta_weights, collapse_ultra_rare, effective_mac, scores
from .scoretests import burden_test
from .sets import gene_sets
from .skat import skat, skato

__all__ = ["burden", "gene_tests", "split_list", "EXAMPLES"]

EXAMPLES = 10  #: genes named in the metadata as examples of a count


def split_list(values: str | Iterable[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b,c"]`` -> ``["a", "b", "c"]`` (the comma-separated CLI spelling of a list)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [part.strip() for v in values for part in str(v).split(",") if part.strip()]


def _check_tests(tests) -> list[str]:
    chosen = split_list(tests)
    unknown = [t for t in chosen if t not in BURDEN_TESTS]
    if unknown or not chosen:
        raise GdbError(f"unknown test(s): {', '.join(unknown) or '(none given)'}",
                       fix=f"choose among {', '.join(BURDEN_TESTS)} (comma-separated)")
    return [t for t in BURDEN_TESTS if t in chosen]


def _row(vset, mb, test: str, score: str, **values) -> dict:
    row = {"gene": vset.name, "contig": vset.contig, "start": int(vset.start), "end": int(vset.end),
           "mask": mb.mask if mb is not None else "*", "bin": mb.bin if mb is not None else "*",
           "max_af": float(mb.max_af) if mb is not None else np.nan, "test": test, "score": score,
           "n_variants": 0, "n_carriers": 0, "mac": 0, "beta": np.nan, "se": np.nan, "stat": np.nan, "p": np.nan,
           "p_method": "", "rho": np.nan}
    row.update(values)
    return row


def _carriers(G, columns, backend) -> int:
    """Samples with a dosage >= 1 at one of ``columns`` of ``G`` (a mean-imputed missing call is 2p < 1 for a
    variant with p < 0.5, so it does not count)."""
    xp = backend.xp
    sub = G[:, backend.to_device(np.asarray(columns, dtype=np.int64))]
    return int(backend.to_host(xp.count_nonzero((sub >= 1).any(axis=1))))


def gene_tests(null: NullModel, vset, gm, bins: Sequence, *, tests: Sequence[str] = BURDEN_TESTS,
               score: str = "wsum", collapse_mac: float = COLLAPSE_MAC, backend=None) -> list[dict]:
    """The result rows of one gene: every test of every mask x bin, then its ACAT-O row.

    Parameters
    ----------
    null : NullModel
        Fitted once per trait; its rows are the samples of ``gm.G``.
    vset : VariantSet
        The gene (name, contig, start, end).
    gm : GeneMatrix
        ``G`` (n, m) float64 on the backend's device, mean-imputed; ``maf``, ``mac`` (m,) on the host.
    bins : sequence of MaskBin
        The gene's mask x bin columns (:func:`~gdbtools.burden.masks.mask_bins`).
    tests : sequence of str
        Among ``burden, skat, skato, acatv, acato``.
    score : {"wsum", "sum", "max"}
        The per-sample score of the burden test.
    collapse_mac : float
        SKAT, SKAT-O and ACAT-V: the variants with an effective MAC (:func:`~gdbtools.burden.scores.effective_mac`;
        the MAC for a quantitative trait) <= this are ultra-rare: one pseudo-variant in SKAT and SKAT-O
        (:func:`~gdbtools.burden.scores.collapse_ultra_rare`), ACAT-V's burden term. 0: no collapsing.

    Returns
    -------
    list of dict
        One per mask x bin x test (in that order), then ACAT-O; the columns of ``BURDEN``. For a binary trait
        SKAT and SKAT-O use the SPA-adjusted kernel (``spa_adjust=True``; the plain asymptotic p is inflated for
        unbalanced case-control ratios).
    """
    backend = backend if backend is not None else get_backend("auto")
    spa = null.kind == "logistic"  # SKAT/SKAT-O's kernel with SAIGE-GENE's SPA variance ratios: calibrated at 1:20
    weights = beta_weights(np.asarray(gm.maf, dtype=np.float64))
    mac = np.asarray(gm.mac, dtype=np.int64)
    mac_eff = effective_mac(mac, null.n_cases, null.n) if null.kind == "logistic" else mac.astype(np.float64)
    rows: list[dict[str, Any]] = []
    burden_at: list[tuple[int, int]] = []  # (row index, score column) of the burden rows to fill
    score_cols: list = []
    union: set[int] = set()
    for mb in bins:
        cols = np.asarray(mb.columns, dtype=np.int64)
        if (mac[cols] == 0).any():  # monomorphic among the analysed samples: no information (regenie drops them)
            cols = cols[mac[cols] > 0]
            mb = dataclasses.replace(mb, columns=cols)  # (an all-alt variant would add a constant 2 to `max`)
        per_test = [t for t in tests if t != "acato"]
        if cols.size == 0:
            rows += [_row(vset, mb, t, score if t == "burden" else "beta(1,25)") for t in per_test]
            continue
        union.update(cols.tolist())
        common = {"n_variants": int(cols.size), "n_carriers": _carriers(gm.G, cols, backend),
                  "mac": int(mac[cols].sum())}
        G = gm.G[:, backend.to_device(cols)]
        w = weights[cols]
        if "skat" in per_test or "skato" in per_test:
            Gc, wc = collapse_ultra_rare(G, w, mac_eff[cols] <= collapse_mac, backend)
        for t in per_test:
            if t == "burden":
                burden_at.append((len(rows), len(score_cols)))
                score_cols.append(scores(gm, mb, score, backend, weights=weights))
                rows.append(_row(vset, mb, t, score, **common))
            elif t == "skat":
                q, p, method = skat(null, Gc, wc, backend, spa_adjust=spa)
                rows.append(_row(vset, mb, t, "beta(1,25)", stat=float(q), p=float(p), p_method=str(method),
                                 **common))
            elif t == "skato":
                stat, p, method, rho = skato(null, Gc, wc, backend, spa_adjust=spa)
                rows.append(_row(vset, mb, t, "beta(1,25)", stat=float(stat), p=float(p), p_method=str(method),
                                 rho=float(rho), **common))
            elif t == "acatv":
                stat, p = acat_v(null, G, w, mac_eff[cols], backend, collapse_mac=collapse_mac)
                rows.append(_row(vset, mb, t, "beta(1,25)", stat=float(stat), p=float(p), p_method="cauchy",
                                 **common))
    if score_cols:
        res = burden_test(null, backend.xp.stack(score_cols, axis=1), backend)
        for i, k in burden_at:
            rows[i].update(beta=float(res["beta"][k]), se=float(res["se"][k]), stat=float(res["stat"][k]),
                           p=float(res["p"][k]), p_method=str(res["p_method"][k]))
    for row in rows:
        if not np.isfinite(row["p"]):
            row["p"], row["p_method"] = np.nan, ""
    if "acato" in tests:
        ps = [r["p"] for r in rows if np.isfinite(r["p"])]
        cols = np.asarray(sorted(union), dtype=np.int64)
        acato: dict[str, Any] = {"n_variants": int(cols.size), "mac": int(mac[cols].sum()) if cols.size else 0,
                                 "n_carriers": _carriers(gm.G, cols, backend) if cols.size else 0}
        if ps:
            p = float(acat(np.asarray(ps, dtype=np.float64)))
            acato.update(p=p, stat=float(np.tan((0.5 - p) * np.pi)), p_method="cauchy")
        rows.append(_row(vset, None, "acato", "acat", **acato))
    return rows


def _variant_table(selection: Selection) -> pd.DataFrame:
    """Every column of the selected variants (gene, consequence, info_* included), index variant_index."""
    table = selection.store.variants()
    return table.loc[selection.variant_index] if selection.regions is not None else table


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object if v.dtype == "str" else v.dtype)
                         for name, v in BURDEN.items()})


def burden(selection: Selection, phenotypes, trait: str, *, binary: bool = False, covariates=(), genes=None,
           masks=None, annotations=None, max_af: Sequence[float] = (0.01,), singletons: bool = False,
           tests=BURDEN_TESTS, score: str = "wsum", collapse_mac: float = COLLAPSE_MAC, af_from: str | None = None,
           adj: bool = False,
           backend: str = "auto", allow_empty: bool = False, progress: bool = True,
           options: dict | None = None) -> pd.DataFrame:
    """Gene-based tests of one trait on the selected samples and variants.

    Parameters
    ----------
    selection : Selection
        Samples (the analysed samples are those also in the phenotype file with every value present) and
        variants (regions).
    phenotypes : path
        TSV with a ``sample_id`` column and one column per trait or covariate.
    trait : str
    binary : bool
        0/1 trait: logistic null model, score test with the saddle-point approximation.
    covariates : str or sequence of str
        Column names (comma-separated text allowed); the intercept is always in the model.
    genes, masks, annotations : path, optional
        Gene BED/GTF; mask YAML; annotation TSV (see :mod:`gdbtools.burden.sets`, :mod:`~gdbtools.burden.masks`).
    max_af : sequence of float
        Bins: variants with AF <= each value. ``singletons`` adds a bin of MAC 1 variants.
    tests : str or sequence of str
        Among ``burden, skat, skato, acatv, acato``.
    score : {"wsum", "sum", "max"}
    collapse_mac : float
        SKAT, SKAT-O, ACAT-V: the effective MAC at or below which variants are collapsed (see :func:`gene_tests`).
    af_from : str, optional
        AF of the bins: ``None`` (the analysed samples'), ``"COLUMN=VALUE"`` (a stratum's), or an INFO column.
    adj : bool
        Calls failing the genotype filters count as missing (mean-imputed).
    backend : {"auto", "numpy", "host", "cupy"}
    allow_empty : bool
        Return an empty table (instead of an error) when no gene overlaps the selected variants.
    options : dict, optional
        The caller's options, recorded as they are in ``attrs["options"]`` (default: the arguments above).

    Returns
    -------
    DataFrame
        Columns of :data:`gdbtools.stats.variables.BURDEN`; ``attrs``: ``null_model``, ``phenotypes``,
        ``genes``, ``p_methods``, ``options``, ``backend``, ``seconds``.
    """
    t0 = time.perf_counter()
    tests = _check_tests(tests)
    if score not in SCORE_KINDS:
        raise GdbError(f"unknown score {score!r}", fix=f"choose among {', '.join(SCORE_KINDS)}")
    max_afs = [float(a) for a in (max_af or ())]
    if not max_afs and not singletons:
        raise GdbError("no frequency bin: give --max-af (e.g. 0.01) and/or --singletons",
                       fix="add --max-af 0.01")
    be = get_backend(backend)
    store = selection.store
    phen = load_phenotypes(phenotypes, store.samples, trait, split_list(covariates), samples_mask=selection.samples)
    null = fit_null(phen.y, phen.X, binary=binary, covariate_names=list(phen.covariate_names))
    variants = _variant_table(selection)
    anno = None if annotations is None else read_annotations(annotations, variants)
    sets = gene_sets(store, variants, genes=genes, annotations=anno)
    spec = read_masks(masks)
    af_bins = binning_af(store, af_from, samples=selection.samples, adj=adj, backend=backend)
    if not sets and not allow_empty:
        where = f"the genes of {genes}" if genes else "the variant table's gene column"
        raise EmptySelectionError(f"no gene set: {where} covers none of the {len(variants):,} selected variants",
                                  file=genes or store.path,
                                  fix="check the contig names and build of the gene file against the store, or "
                                      "give --genes GENES.bed (--allow-empty writes an empty table)")
    rows: list[dict] = []
    with single_thread_blas():  # many small products per gene: one BLAS thread (gdbtools.backend.blas)
        for vset, gm in gene_matrices(store, sets, phen.sample_index, be, adj=adj, progress=progress):
            af = np.asarray(gm.af if af_bins is None else af_bins[vset.variant_index], dtype=np.float64)
            bins = mask_bins(vset, spec, af, np.asarray(gm.mac), max_afs, singletons)
            rows += gene_tests(null, vset, gm, bins, tests=tests, score=score, collapse_mac=collapse_mac, backend=be)
    table = pd.DataFrame(rows, columns=list(BURDEN)) if rows else _empty_table()
    table = table.astype({name: v.dtype for name, v in BURDEN.items() if v.dtype != "str"})
    check_table(table, "burden")
    if options is None:
        options = {"phenotypes": str(phenotypes), "trait": trait, "binary": bool(binary),
                   "covariates": list(phen.covariate_names), "genes": None if genes is None else str(genes),
                   "masks": None if masks is None else str(masks),
                   "annotations": None if annotations is None else str(annotations), "max_af": max_afs,
                   "singletons": bool(singletons), "tests": list(tests), "score": score,
                   "collapse_mac": collapse_mac, "af_from": af_from,
                   "adj": bool(adj), "backend": backend}
    af_note: dict[str, Any] = {"af_from": af_from or "the analysed samples' AF", "collapse_mac": collapse_mac,
                               "effective_mac_per_mac": float(effective_mac([1], null.n_cases, null.n)[0])
                               if null.kind == "logistic" else 1.0}
    if anno is not None:
        af_note["annotations"] = anno.attrs.get("report", {})
    table.attrs = _metadata(table, null, phen, sets, tests, score, max_afs, singletons, af_note, be, options, t0)
    return table


def _metadata(table: pd.DataFrame, null: NullModel, phen, sets, tests, score, max_afs, singletons, af_note, be,
              options, t0) -> dict:
    per_bin = table[table["test"] != "acato"].drop_duplicates(["gene", "contig", "start", "mask", "bin"])
    empty = per_bin[per_bin["n_variants"] == 0]
    genes_tested = table.loc[table["p"].notna(), "gene"].unique()
    no_variant_genes = sorted(set(per_bin["gene"]) - set(per_bin.loc[per_bin["n_variants"] > 0, "gene"]))
    methods = Counter(m for m in table["p_method"] if m)
    return {
        "null_model": null.summary(),
        "phenotypes": phen.report,
        "genes": {**dict(getattr(sets, "report", {})), "n_sets": len(sets), "n_with_a_p_value": int(len(genes_tested)),
                  "n_mask_bins_without_qualifying_variants": int(len(empty)),
                  "n_genes_without_qualifying_variants": len(no_variant_genes),
                  "genes_without_qualifying_variants": no_variant_genes[:EXAMPLES]},
        "tests": list(tests), "score": score, "skat_spa_adjust": null.kind == "logistic", "max_af": max_afs,
        "singletons": bool(singletons), **af_note,
        "p_methods": dict(sorted(methods.items())), "n_rows": int(len(table)),
        "backend": be.name, "options": options or {}, "seconds": round(time.perf_counter() - t0, 3),
    }
