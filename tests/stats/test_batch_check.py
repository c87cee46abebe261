"""Batch check: the batch effect planted by gdbtools.simulate on pipeline 2 is found; Fisher, BH vs scipy/statsmodels.

Tolerances: Fisher p relative 1e-9 against scipy.stats.fisher_exact; BH q relative 1e-12 against
statsmodels' multipletests(method="fdr_bh").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import gdbtools
from gdbtools.stats import benjamini_hochberg, fisher_exact_two_sided
from gdbtools.stats.variables import check_table

SEED, N = 5, 2000


@pytest.fixture(scope="module")
def batch_store(tmp_path_factory):
    from gdbtools.ingest import ingest
    from gdbtools.simulate import simulate_cohort

    out = tmp_path_factory.mktemp("batch")
    c = simulate_cohort(out, n_samples=N, length=600_000, x_length=0, fields=("GT",), seed=SEED)
    return ingest(c.vcf, out / "store", metadata=c.metadata, workers=1, progress=False), c


def _planted(store, n_records: int) -> np.ndarray:
    """Rows of the store that simulate_cohort gave the pipeline-2 batch effect (its RNG replayed: one draw per
    chr1 record, then one per sample when planted; the flip adds allele 1, i.e. the row of ALT 1)."""
    rng = np.random.default_rng(SEED + 0 + 99)
    planted = []
    for k in range(n_records):
        if rng.random() < 0.005:
            planted.append(k)
            rng.random(N)
    v = store.variants(["contig", "allele_index"])
    first = v.index[(v["allele_index"] == 1).to_numpy()]
    assert len(first) == n_records
    return first[planted].to_numpy()


def test_batch_check__finds_the_planted_pipeline_effect(batch_store):
    store, cohort_files = batch_store
    planted = _planted(store, cohort_files.n_records)
    assert 10 <= planted.size <= 60
    out = gdbtools.open(store.path).batch_check(by="pipeline", fdr=0.05)
    check_table(out, "batch_check")
    flagged = out.index[out["flagged"]].to_numpy()
    true_pos = np.isin(flagged, planted)
    assert flagged.size >= 5 and true_pos.mean() >= 0.9, (flagged.size, true_pos.mean())
    assert (out.loc[flagged[true_pos], "batch"] == "gatk-4.2".replace("-", "_")).all()
    # the planted rare variants (pipeline 1 AF < 1 %) are all found
    rare = planted[(out.loc[planted, "AF_dragen-3.10".replace("-", "_")] < 0.01).to_numpy()]
    assert rare.size >= 3 and np.isin(rare, flagged).mean() >= 0.9
    assert out.attrs["batches"] == {"dragen_3.10": "dragen-3.10", "gatk_4.2": "gatk-4.2"}


def test_batch_check__more_than_two_batches_bonferroni_within_variant(batch_store):
    store, _ = batch_store
    out = gdbtools.open(store.path).select(region="chr1:1000001-1100000").batch_check(by="region")
    labels = sorted(store.samples["region"].unique())
    ac = out[[f"AC_{b}" for b in labels]].to_numpy()
    an = out[[f"AN_{b}" for b in labels]].to_numpy()
    row = int(np.nanargmin(out["p_value"].to_numpy()))
    ps = []
    for j in range(len(labels)):
        a, n = ac[row, j], an[row, j]
        rest_a, rest_n = ac[row].sum() - a, an[row].sum() - n
        ps.append(sps.fisher_exact([[a, n - a], [rest_a, rest_n - rest_a]])[1])
    assert out["batch"].iloc[row] == labels[int(np.argmin(ps))]
    np.testing.assert_allclose(out["p_value"].iloc[row], min(1.0, min(ps) * len(labels)), rtol=1e-9)


def test_fisher_exact_two_sided__matches_scipy():
    rng = np.random.default_rng(3)
    tables = [rng.integers(0, 30, size=4) for _ in range(400)]
    tables += [rng.integers(0, 3000, size=4) for _ in range(100)]
    tables += [np.array(t) for t in ([0, 0, 0, 0], [0, 5, 0, 7], [3, 0, 0, 9], [1, 1000, 40, 960], [10, 10, 10, 10],
                                     [0, 4000, 35, 1365], [2, 386, 11, 202])]
    t = np.array(tables)
    got = fisher_exact_two_sided(t[:, 0], t[:, 1], t[:, 2], t[:, 3])
    want = np.array([sps.fisher_exact([[a, b], [c, d]])[1] for a, b, c, d in t])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)


def test_benjamini_hochberg__matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(size=500), rng.uniform(0, 1e-4, size=30), [np.nan] * 5])
    got = benjamini_hochberg(p)
    ok = ~np.isnan(p)
    want = multipletests(p[ok], method="fdr_bh")[1]
    np.testing.assert_allclose(got[ok], want, rtol=1e-12)
    assert np.isnan(got[~ok]).all()
    pd.testing.assert_series_equal(pd.Series(benjamini_hochberg(np.array([]))), pd.Series([], dtype=float))
