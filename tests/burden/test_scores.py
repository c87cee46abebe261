"""Burden scores against direct NumPy/SciPy on the cyvcf2 oracle's G: max, sum and wsum with Beta(1, 25)
weights (scipy.stats.beta.pdf of the oracle's MAF), on the host and NumPy backends.

max exactly; sum and wsum exactly against the same sums taken in column order (the order the scores promise on
every backend) and to 1e-12 relative against a matrix-vector product."""

from __future__ import annotations

import numpy as np
import pytest
from burden_oracles import HAIL, REFFLAT_BED, impute, vcf_dosages
from scipy.stats import beta

from gdbtools.backend import get_backend
from gdbtools.burden.genotypes import gene_matrices
from gdbtools.burden.masks import MaskBin
from gdbtools.burden.scores import beta_weights, collapse_ultra_rare, effective_mac, scores
from gdbtools.burden.sets import gene_sets


def test_beta_weights__equal_scipy_beta_pdf():
    maf = np.array([0.0, 1e-6, 1e-3, 0.01, 0.2, 0.5])
    np.testing.assert_allclose(beta_weights(maf), beta.pdf(maf, 1, 25), rtol=1e-13)
    np.testing.assert_allclose(beta_weights(maf, 0.5, 0.5), beta.pdf(maf, 0.5, 0.5), rtol=1e-13)
    assert beta_weights(np.array([np.nan]))[0] == 0.0


@pytest.mark.parametrize("backend_name", ["host", "numpy"])
def test_scores__equal_direct_products_on_the_oracle(hail_store, data_dir, backend_name):
    backend = get_backend(backend_name)
    raw = vcf_dosages(data_dir / HAIL)
    sets = gene_sets(hail_store, hail_store.variants(["contig", "pos", "ref"]), genes=data_dir / REFFLAT_BED)
    samples = np.arange(hail_store.n_samples)[::-1]
    n_genes = 0
    for vset, gm in gene_matrices(hail_store, sets, samples, backend, progress=False):
        G, af, _ = impute(raw[vset.variant_index][:, samples].T)
        maf = np.minimum(af, 1 - af)
        w = np.where(np.isnan(maf), 0.0, beta.pdf(maf, 1, 25))
        w_ours = beta_weights(maf)  # equal to scipy's to 1e-13 (test above): the exact sums use these
        for cols in (np.arange(vset.n_variants), np.arange(vset.n_variants)[::2], np.zeros(0, np.int64)):
            mb = MaskBin("all", "all", 1.0, cols)
            got = {k: backend.to_host(scores(gm, mb, k, backend)) for k in ("max", "sum", "wsum")}
            if cols.size == 0:
                assert all((v == 0).all() and v.shape == (samples.size,) for v in got.values())
                continue
            np.testing.assert_array_equal(got["max"], G[:, cols].max(axis=1))
            in_order = np.zeros(samples.size)
            weighted = np.zeros(samples.size)
            for j in cols:
                in_order += G[:, j]
                weighted += G[:, j] * w_ours[j]
            np.testing.assert_array_equal(got["sum"], in_order)
            np.testing.assert_array_equal(got["wsum"], weighted)
            np.testing.assert_allclose(got["wsum"], G[:, cols] @ w[cols], rtol=1e-12, atol=1e-12)
        n_genes += 1
    assert n_genes > 3
    with pytest.raises(ValueError, match="unknown score"):
        scores(gm, mb, "mean", backend)


@pytest.mark.parametrize("backend_name", ["host", "numpy"])
def test_collapse_ultra_rare__max_pseudo_variant_weighted_by_its_maf(kg_genes, backend_name):
    """The other columns in order, then max over the ultra-rare ones with dbeta(MAF; 1, 25) of the pseudo-variant
    (scipy), built here column by column; with fewer than two ultra-rare columns nothing changes."""
    backend = get_backend(backend_name)
    G = np.column_stack([G for _, G in kg_genes[:5]])
    n = G.shape[0]
    ac = G.sum(axis=0)
    mac = np.minimum(ac, 2 * n - ac)
    w = beta_weights(np.minimum(ac, 2 * n - ac) / (2 * n))
    rare = mac <= 10
    assert rare.sum() >= 2 and (~rare).any()
    Gc, wc = collapse_ultra_rare(backend.to_device(G), w, rare, backend)
    Gc = backend.to_host(Gc)
    pseudo = np.zeros(n)
    for j in np.flatnonzero(rare):
        pseudo = np.maximum(pseudo, G[:, j])
    np.testing.assert_array_equal(Gc, np.column_stack([G[:, ~rare], pseudo]))
    maf = min(pseudo.mean() / 2, 1 - pseudo.mean() / 2)
    np.testing.assert_allclose(wc, np.append(w[~rare], beta.pdf(maf, 1, 25)), rtol=1e-13)
    one = np.zeros(G.shape[1], bool)
    one[np.flatnonzero(rare)[0]] = True
    G1, w1 = collapse_ultra_rare(backend.to_device(G), w, one, backend)
    np.testing.assert_array_equal(backend.to_host(G1), G)
    np.testing.assert_array_equal(w1, w)


def test_effective_mac__mac_at_one_to_one_and_scaled_by_the_case_fraction():
    mac = np.array([1, 10, 53])
    np.testing.assert_array_equal(effective_mac(mac), mac)
    np.testing.assert_array_equal(effective_mac(mac, 500, 1000), mac)  # 4 * 0.5 * 0.5 = 1
    np.testing.assert_allclose(effective_mac(mac, 54, 1092), mac * 4 * (54 / 1092) * (1038 / 1092), rtol=1e-15)
    assert effective_mac([53], 54, 1092)[0] <= 10 < effective_mac([54], 54, 1092)[0]
