"""Sex check against plink 1.9 --check-sex (Debian's plink2 2.00a3.5 has none).

Tolerances: F relative 5e-4 and absolute 5e-5 (plink 1.9 prints about 4 significant digits); inferred sex
(SNPSEX) and STATUS exactly equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import stats_oracles as so

import gdbtools
from gdbtools.errors import GdbError
from gdbtools.stats.variables import check_table

SNPSEX = {1: "XY", 2: "XX", 0: None}


def _compare(ours: pd.DataFrame, plink: pd.DataFrame):
    plink = plink.loc[ours["sample_id"]]
    np.testing.assert_allclose(ours["f_stat"], plink["F"], rtol=5e-4, atol=5e-5)
    inferred = plink["SNPSEX"].map(SNPSEX)
    np.testing.assert_array_equal(ours["inferred_sex"].fillna("NA").to_numpy(), inferred.fillna("NA").to_numpy())
    np.testing.assert_array_equal(ours["status"].to_numpy(), plink["STATUS"].to_numpy())


def test_sex_check__matches_plink19_check_sex_on_hapmap(hm, data_dir, stats_tmp, plink19_bin):
    """HapMap II (NCBI36): 147 XY with no chrX hets, 132 XX; F, SNPSEX and STATUS as plink 1.9."""
    ours = hm.sex_check()
    samples = hm.store.samples
    plink = so.plink19_check_sex(data_dir / so.HM, stats_tmp / "hm19", samples["sample_id"], samples["sex"], "b36")
    _compare(ours, plink)
    xy = ours["reported_sex"] == "XY"
    assert (ours.loc[xy, "inferred_sex"] == "XY").all() and (ours.loc[xy, "f_stat"] == 1).all()
    assert (ours.loc[~xy, "f_stat"] < 0.5).all()
    check_table(ours, "sex_check")


def test_sex_check__swapped_labels_are_problems_as_plink19(data_dir, stats_tmp, plink19_bin):
    """1000 Genomes chrX (male calls `0/.`) with 6 reported sexes swapped: those 6 become PROBLEM (true
    females may be ambiguous: 12 pooled populations raise F), and every sample gets plink 1.9's F, SNPSEX
    and STATUS."""
    from gdbtools.ingest import ingest

    src = data_dir / "1kg_phase3_subset_1126/per_chrom/1KG_phase3_subset_chrX.vcf.gz"
    meta = pd.read_csv(data_dir / "1kg_phase3_subset_1126/samples_annot.tsv", sep="\t")
    swapped = list(meta.index[meta["sex"] == "M"][:3]) + list(meta.index[meta["sex"] == "F"][:3])
    meta.loc[swapped, "sex"] = meta.loc[swapped, "sex"].map({"M": "F", "F": "M"})
    meta_path = stats_tmp / "kg_swapped.tsv"
    meta.to_csv(meta_path, sep="\t", index=False)
    store = ingest(src, stats_tmp / "kgx_swapped", metadata=meta_path, workers=1, progress=False)
    ours = gdbtools.open(store.path).sex_check()
    ids = set(meta.loc[swapped, "sample.id"])
    hit = ours[ours["sample_id"].isin(ids)]
    assert (hit["status"] == "PROBLEM").all()
    assert (hit["inferred_sex"].fillna("?") != hit["reported_sex"]).all()
    true_males = hit["sample_id"].isin(set(meta.loc[swapped[:3], "sample.id"]))
    assert (hit.loc[true_males, "inferred_sex"] == "XY").all()  # 0/. calls: homozygous everywhere, F = 1
    samples = store.samples
    split = so.norm_split(src, stats_tmp / "kgx_split.vcf.gz")  # plink 1.9 reads multi-allelic records its own way
    plink = so.plink19_check_sex(split, stats_tmp / "kgx19", samples["sample_id"], samples["sex"], "b37",
                                 extra=("--vcf-half-call", "h"))
    _compare(ours, plink)


def test_sex_check__counts_chrY_calls_and_needs_chrX(stats_tmp):
    """chrY non-PAR calls per sample are reported (XX samples have none); no chrX: a clear error."""
    import test_freq

    rng = np.random.default_rng(7)
    vcf, meta, sex = test_freq._sexchrom_vcf(stats_tmp / "sexcheck_y.vcf", rng)
    from gdbtools.ingest import ingest

    store = ingest(vcf, stats_tmp / "sexcheck_y_store", metadata=meta, workers=1, progress=False)
    cohort = gdbtools.open(store.path)
    out = cohort.sex_check()
    assert (out["y_n_variants"] == 12).all()
    xx = (out["reported_sex"] == "XX").fillna(False).to_numpy(dtype=bool)
    xy = (out["reported_sex"] == "XY").fillna(False).to_numpy(dtype=bool)
    assert (out.loc[xx, "y_n_called"] == 0).all() and (out.loc[xy, "y_n_called"] > 5).all()
    assert (out.loc[~(xx | xy), "status"] == "PROBLEM").all()  # unknown reported sex
    with pytest.raises(GdbError, match="chrX variants outside the PARs"):
        cohort.select(region="chrY").sex_check()
