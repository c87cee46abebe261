"""Calibration on real genotypes (issue 11, "done means"): 1kg phase 1 chr22, 1,092 samples, the refFlat gene
bodies of chr22, rare variants (AF <= 1%).

- Null: with permuted phenotypes the p-values of each test, pooled over the permutations and the genes with
  a cumulative MAC >= ``MIN_MAC`` (quantitative) or ``MIN_MAC_BINARY`` (binary, about 1 case in 20), are
  uniform: a KS test against U(0, 1) does not reject at ``KS_ALPHA``, and the shares of p <= 0.01 and
  p <= 0.05 lie within the two-sided 99.9 % binomial intervals. Genes with fewer minor alleles have p-values
  too discrete for a KS test (a gene with one carrier cannot reach p = 0.01); they are left out. The product's
  defaults, as ``gdbtools burden`` runs them: SKAT and ACAT-V collapse the variants with an effective MAC
  <= 10 (``collapse_mac``; for 54 cases of 1,092, MAC <= 53, every rare variant here). With the raw MAC <= 10
  instead (SAIGE-GENE+, the ACAT package), binary SKAT is conservative in the bulk and ACAT-V anti-conservative
  (KS p 8e-4 and 2e-7; without collapsing 2e-12 and ~0, docs/STATISTICS.md, Calibration): a strict xfail.
- Power: a trait with effects planted in three genes (every rare allele raises it) ranks those three genes
  first by ACAT-O, through the command line.

The genotypes of every gene are built once (:func:`gdbtools.burden.genotypes.gene_matrices`) and every
permutation's null model is tested on them with the gene loop of ``gdbtools burden``
(:func:`gdbtools.burden.run.gene_tests`), so the pooled p-values come from the product's own code path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from burden_helpers import permuted, write_tsv
from scipy import stats

from gdbtools.backend import get_backend
from gdbtools.burden.genotypes import gene_matrices
from gdbtools.burden.masks import mask_bins, read_masks
from gdbtools.burden.nullmodel import fit_null
from gdbtools.burden.phenotypes import load_phenotypes
from gdbtools.burden.run import gene_tests
from gdbtools.burden.sets import gene_sets

N_PERMUTATIONS = 4
MIN_MAC = 10
MIN_MAC_BINARY = 20
KS_ALPHA = 1e-3
TESTS = ("burden", "skat", "acatv")  # SKAT-O: seconds per gene today, too slow for thousands of null genes


@pytest.fixture(scope="module")
def genes22(chr22_store, chr22_pheno_tsv, chr22_genes):
    """(vset, GeneMatrix, bins) of every chr22 gene with rare variants, built once, host backend."""
    be = get_backend("numpy")
    phen = load_phenotypes(chr22_pheno_tsv, chr22_store.samples, "q", [])
    sets = gene_sets(chr22_store, chr22_store.variants(), genes=chr22_genes)
    spec = read_masks(None)
    out = []
    for vset, gm in gene_matrices(chr22_store, sets, phen.sample_index, be, progress=False):
        bins = mask_bins(vset, spec, gm.af, gm.mac, [0.01], False)
        cols = np.concatenate([np.asarray(b.columns, dtype=np.int64) for b in bins]) if bins else np.array([], int)
        if cols.size and int(np.asarray(gm.mac)[cols].sum()) >= MIN_MAC:
            out.append((vset, gm, bins))
    assert len(out) >= 60, f"only {len(out)} genes with a rare-allele count >= {MIN_MAC}"
    return be, phen.sample_index, out


def _pvalues(chr22_store, pheno: pd.DataFrame, genes22, trait_columns, binary: bool, covariates,
             **options) -> pd.DataFrame:
    be, sample_index, genes = genes22
    tests = options.pop("tests", TESTS)
    ids = chr22_store.samples["sample_id"].astype(str).to_numpy()[sample_index]
    table = pheno.set_index("sample_id").loc[ids]
    X = np.column_stack([np.ones(len(table))] + [table[c].to_numpy(np.float64) for c in covariates])
    rows = []
    for column in trait_columns:
        null = fit_null(table[column].to_numpy(np.float64), X, binary=binary, covariate_names=list(covariates))
        for vset, gm, bins in genes:
            for r in gene_tests(null, vset, gm, bins, tests=tests, score="wsum", backend=be, **options):
                rows.append({"trait": column, **r})
    return pd.DataFrame(rows)


def _check(p: pd.DataFrame, label: str) -> None:
    """Per test: the shares of p <= 0.01 and p <= 0.05 within their two-sided 99.9 % binomial intervals, and a
    KS test against U(0, 1) that does not reject at ``KS_ALPHA``."""
    for test, part in p.groupby("test"):
        values = part["p"].dropna().to_numpy()
        n = values.size
        assert n >= 200, f"{label} {test}: only {n} p-values"
        for alpha in (0.01, 0.05):
            hits = int((values <= alpha).sum())
            lo, hi = stats.binom.ppf([0.0005, 0.9995], n, alpha)
            assert lo <= hits <= hi, f"{label} {test}: {hits} of {n} p <= {alpha}, outside [{lo}, {hi}]"
        ks_p = stats.kstest(values, "uniform").pvalue
        assert ks_p > KS_ALPHA, f"{label} {test}: KS p = {ks_p:.2e} over {n} p-values"


def _binary_null(chr22_store, chr22_pheno, genes22, **options) -> pd.DataFrame:
    """Null p-values of the binary trait (about 1:20: 54 cases), genes with a rare-allele count >= MIN_MAC_BINARY."""
    assert 15 <= (1 - chr22_pheno["b"].mean()) / chr22_pheno["b"].mean() <= 25  # about 1:20
    pheno = permuted(chr22_pheno, "b", N_PERMUTATIONS)
    p = _pvalues(chr22_store, pheno, genes22, [f"b_perm{i}" for i in range(N_PERMUTATIONS)], True,
                 ["sex", "PC1", "PC2"], **options)
    return p[p["mac"] >= MIN_MAC_BINARY]


def test_calibration__quantitative_null_is_uniform(chr22_store, chr22_pheno, genes22):
    pheno = permuted(chr22_pheno, "q", N_PERMUTATIONS)
    p = _pvalues(chr22_store, pheno, genes22, [f"q_perm{i}" for i in range(N_PERMUTATIONS)], False,
                 ["sex", "age", "PC1", "PC2"])
    _check(p, "quantitative")


def test_calibration__unbalanced_binary_null_is_uniform(chr22_store, chr22_pheno, genes22):
    """Burden (SPA score test), SKAT (SPA-adjusted kernel) and ACAT-V, with the default collapsing of the
    variants with an effective MAC <= 10: uniform (KS) with the right type I error at 0.01 and 0.05."""
    _check(_binary_null(chr22_store, chr22_pheno, genes22), "binary 1:20")


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="collapsing at the raw MAC <= 10 (SAIGE-GENE+, the "
                   "ACAT package) leaves the variants with MAC 11-21 (0.5-1 expected case carriers among 54 cases) "
                   "apart: SKAT is conservative in the bulk (median 0.53, KS p 8e-4) and ACAT-V's per-variant p-values "
                   "anti-conservative (median 0.46, KS p 2e-7); the tails hold (docs/STATISTICS.md, Calibration)")
def test_calibration__unbalanced_binary_null_without_effective_mac_collapsing(chr22_store, chr22_pheno, genes22):
    # collapse_mac = 10 * 4 phi (1 - phi) on the effective scale is the raw MAC <= 10
    phi = chr22_pheno["b"].mean()
    # (10.5: MACs are integers, the half keeps the rounding of the product off the boundary)
    p = _binary_null(chr22_store, chr22_pheno, genes22, collapse_mac=10.5 * 4 * phi * (1 - phi),
                     tests=("skat", "acatv"))
    _check(p, "binary 1:20, raw MAC <= 10 collapsed")


def test_power__planted_genes_rank_first(chr22_store, chr22_pheno, chr22_genes, genes22, tmp_path):
    """Every rare allele (AF <= 1%) in three genes adds 0.6 SD to the trait: those genes have the three smallest
    ACAT-O p-values of chr22, through `gdbtools burden`."""
    from click.testing import CliRunner

    from gdbtools.cli import main

    be, sample_index, genes = genes22
    def rare_mac(gene) -> int:
        return int(np.asarray(gene[1].mac)[np.concatenate([b.columns for b in gene[2]])].sum())

    by_mac = sorted(genes, key=lambda g: -rare_mac(g))
    chosen = [by_mac[i] for i in (2, 8, 20)]  # genes with many, fewer and few rare alleles
    effect = np.zeros(chr22_store.n_samples)
    for _vset, gm, bins in chosen:
        cols = np.concatenate([np.asarray(b.columns) for b in bins])
        effect[sample_index] += be.to_host(gm.G)[:, cols].sum(axis=1) * 0.6
    pheno = chr22_pheno.copy()
    pheno["planted"] = pheno["q"] + effect
    out = tmp_path / "planted.parquet"
    args = ["burden", chr22_store.path, "--phenotypes", write_tsv(pheno, tmp_path / "p.tsv"), "--trait", "planted",
            "--covariates", "sex,age,PC1,PC2", "--genes", chr22_genes, "--tests", "burden,skat,acatv,acato",
            "--out", out]
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    ranked = table[table["test"] == "acato"].sort_values("p")["gene"].tolist()
    assert set(ranked[:3]) == {g[0].name for g in chosen}, (ranked[:6], [g[0].name for g in chosen])
