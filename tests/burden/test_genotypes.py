"""G from the store's blocks equals the genotypes read independently with cyvcf2 from the source VCF.

Stores of 1000 Genomes phase 1 chr22 (1,092 samples, no missing calls) and hail_gatk_100 chr20 (100 samples,
880 missing calls, GQ/DP/AD for adj), each as dense2 and hybrid2 with small blocks so that genes span blocks;
genes from the refFlat BED by overlap.  G (mean-imputed), af, mac, n_missing and n_carriers must equal the
oracle exactly (the same float64 arithmetic on the same integers).
"""

from __future__ import annotations

import numpy as np
import pytest
from burden_oracles import HAIL, KG22, REFFLAT_BED, impute, vcf_dosages

from gdbtools.backend import get_backend
from gdbtools.burden.genotypes import gene_matrices
from gdbtools.burden.sets import gene_sets


def _check(store, vcf_path, genes_path, backend_name, adj, rng):
    backend = get_backend(backend_name)
    raw = vcf_dosages(vcf_path, adj=adj)  # (records, samples): one record per store row (biallelic input)
    assert raw.shape == (store.n_variants, store.n_samples)
    sets = gene_sets(store, store.variants(["contig", "pos", "ref"]), genes=genes_path)
    assert len(sets) > 10
    samples = rng.permutation(store.n_samples)[: int(store.n_samples * 0.8)]
    counters: dict = {}
    seen = 0
    for vset, gm in gene_matrices(store, sets, samples, backend, adj=adj, progress=False, counters=counters):
        want_raw = raw[vset.variant_index][:, samples].T
        want, af, mac = impute(want_raw)
        got = backend.to_host(gm.G)
        assert got.dtype == np.float64 and got.shape == (samples.size, vset.n_variants)
        np.testing.assert_array_equal(got, want, err_msg=vset.name)
        np.testing.assert_array_equal(gm.af, af)
        np.testing.assert_array_equal(gm.maf, np.minimum(af, 1 - af))
        np.testing.assert_array_equal(gm.mac, mac)
        np.testing.assert_array_equal(gm.n_missing, np.isnan(want_raw).sum(axis=0))
        np.testing.assert_array_equal(gm.n_carriers_per_variant, (want_raw > 0).sum(axis=0))
        seen += 1
    assert seen == sum(s.n_variants > 0 for s in sets)
    touched = np.unique(store.block_of_variant(np.concatenate([s.variant_index for s in sets])))
    assert counters["block_reads"] == touched.size  # each block read once for all genes
    return seen


@pytest.mark.parametrize("backend_name", ["host", "numpy"])
def test_gene_matrices__1kg_chr22_equal_cyvcf2(kg22_store, data_dir, backend_name, rng):
    _check(kg22_store, data_dir / KG22, data_dir / REFFLAT_BED, backend_name, False, rng)


@pytest.mark.parametrize("adj", [False, True])
def test_gene_matrices__missing_calls_and_adj_equal_cyvcf2(hail_store, data_dir, adj, rng):
    raw = vcf_dosages(data_dir / HAIL, adj=adj)
    assert np.isnan(raw).sum() >= 880  # the oracle sees the missing calls (and more with adj)
    _check(hail_store, data_dir / HAIL, data_dir / REFFLAT_BED, "host", adj, rng)


@pytest.fixture
def rng():
    return np.random.default_rng(20261204)


def test_gene_matrices__a_one_block_cache_rereads_but_gives_the_same_matrices(hail_store, data_dir):
    """Genes spanning more blocks than the cache holds force re-reads; the matrices stay the same."""
    backend = get_backend("host")
    sets = gene_sets(hail_store, hail_store.variants(["contig", "pos", "ref"]), genes=data_dir / REFFLAT_BED)
    samples = np.arange(hail_store.n_samples)
    big, small = {}, {}
    want = {s.name: backend.to_host(gm.G) for s, gm in gene_matrices(hail_store, sets, samples, backend,
                                                                      progress=False, counters=big)}
    for vset, gm in gene_matrices(hail_store, sets, samples, backend, progress=False, cache_blocks=1,
                                  counters=small):
        np.testing.assert_array_equal(backend.to_host(gm.G), want[vset.name])
    assert small["genes"] == big["genes"] == len(want)
    assert small["block_reads"] >= big["block_reads"]
