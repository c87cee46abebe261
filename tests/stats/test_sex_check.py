"""Sex check against plink 1.9 --check-sex (Debian's plink2 2.00a3.5 has none), with and without chrY.

Tolerances: F relative 5e-4 and absolute 5e-5 (plink 1.9 prints about 4 significant digits); inferred sex
(SNPSEX), STATUS and YCOUNT exactly equal.
"""

from __future__ import annotations

import json

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
    if "F" in plink:  # y-only reports no F
        np.testing.assert_allclose(ours["f_stat"], plink["F"], rtol=5e-4, atol=5e-5)
    if "YCOUNT" in plink:
        np.testing.assert_array_equal(ours["y_n_called"], plink["YCOUNT"])
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


# ------------------------------------------------------------------------------------------------ chrY
KG_X = "1kg_phase3_subset_1126/per_chrom/1KG_phase3_subset_chrX.vcf.gz"
N_Y = 40  # synthetic chrY non-PAR records


def _chrxy_vcf(data_dir, tmp):
    """1000 Genomes chrX (split, males written `0/.`) plus 40 synthetic chrY records outside the PARs: XY
    samples mostly called haploid, XX samples missing, with deliberate exceptions.

    Returns the bgzipped VCF, the sample ids and sexes (XX/XY), and the exceptions by kind.
    """
    meta = pd.read_csv(data_dir / "1kg_phase3_subset_1126/samples_annot.tsv", sep="\t")
    split = so.norm_split(data_dir / KG_X, tmp / "kgxy_x.vcf.gz")
    text = so.sh("bcftools", "view", split).splitlines()
    header = [line for line in text if line.startswith("#")]
    body = [line for line in text if not line.startswith("#")]
    assert any(line.startswith("##contig=<ID=Y,") for line in header)
    ids = header[-1].split("\t")[9:]
    sex = meta.set_index("sample.id").loc[ids, "sex"].map({"M": "XY", "F": "XX"}).to_numpy()
    males, females = np.flatnonzero(sex == "XY"), np.flatnonzero(sex == "XX")
    rng = np.random.default_rng(2024)
    gt = np.full((N_Y, len(ids)), ".", dtype=object)
    gt[:, males] = rng.choice(["0", "1", "."], size=(N_Y, males.size), p=[0.6, 0.35, 0.05])
    odd = {"female_y_calls": females[:10], "female_diploid_y": females[10:11], "male_no_y": males[:2],
           "male_few_y": males[2:4], "male_het_y": males[4:5]}
    for k, j in enumerate(odd["female_y_calls"]):  # 1 ... 10 haploid chrY calls
        gt[: k + 1, j] = "0"
    gt[7, odd["female_diploid_y"]] = "0/0"
    gt[:, odd["male_no_y"]] = "."
    gt[1:, odd["male_few_y"][0]] = "."  # one call
    gt[2:, odd["male_few_y"][1]] = "."  # two calls
    gt[5, odd["male_het_y"]] = "0/1"    # a het call: counted as a call by plink 1.9 (YCOUNT counts non-missing)
    records = [f"Y\t{3_000_000 + 10_000 * k}\t.\tC\tT\t100\tPASS\t.\tGT\t" + "\t".join(gt[k])
               for k in range(N_Y)]
    vcf = tmp / "kgxy.vcf"
    vcf.write_text("\n".join(header + body + records) + "\n")
    gz = tmp / "kgxy.vcf.gz"
    so.sh("bcftools", "view", "-Oz", "-o", gz, vcf)
    so.sh("bcftools", "index", "-t", "-f", gz)
    return gz, ids, sex, {k: [ids[j] for j in v] for k, v in odd.items()}


# (y_method, female_max_y_calls, male_min_y_calls) and plink 1.9's --check-sex arguments
Y_MODES = [
    ((None, 0, None), ()),
    (("ycount", 0, None), ("ycount",)),
    (("ycount", 1, 3), ("ycount", "0.2", "0.8", "1", "3")),
    (("y-only", 0, None), ("y-only",)),
    (("y-only", 2, 5), ("y-only", "2", "5")),
]


@pytest.fixture(scope="module")
def kgxy(data_dir, stats_tmp, plink19_bin, bcftools_bin):
    """The chrX + chrY set as a store, and plink 1.9's .sexcheck in every mode of :data:`Y_MODES`."""
    from gdbtools.ingest import ingest

    gz, ids, sex, odd = _chrxy_vcf(data_dir, stats_tmp)
    meta = stats_tmp / "kgxy.tsv"
    pd.DataFrame({"sample_id": ids, "sex": sex}).to_csv(meta, sep="\t", index=False)
    store = ingest(gz, stats_tmp / "kgxy_store", metadata=meta, workers=1, progress=False, build="GRCh37")
    plink = so.plink19_check_sex(gz, stats_tmp / "kgxy19", ids, sex, "b37", extra=("--vcf-half-call", "h"),
                                 modes=[mode for _, mode in Y_MODES])
    return gdbtools.open(store.path), dict(zip([kw for kw, _ in Y_MODES], plink)), odd


@pytest.mark.parametrize("kw", [kw for kw, _ in Y_MODES], ids=lambda kw: "-".join(map(str, kw)))
def test_sex_check__y_modes_match_plink19_check_sex(kgxy, kw):
    """F-only, ycount and y-only (plink's default thresholds and others): SNPSEX, STATUS, F and YCOUNT of
    plink 1.9 for all 1,126 samples."""
    cohort, plink, _ = kgxy
    y_method, female_max, male_min = kw
    ours = cohort.sex_check(y_method=y_method, female_max_y_calls=female_max, male_min_y_calls=male_min)
    _compare(ours, plink[kw])
    assert (ours["y_n_variants"] == N_Y).all()
    assert ours.attrs["y_method"] == y_method
    assert ours.attrs["male_min_y_calls"] == (male_min if male_min is not None else int(y_method == "y-only"))
    check_table(ours, "sex_check")


def test_sex_check__chrY_calls_change_the_calls_as_plink19(kgxy):
    """XX samples with chrY calls lose their XX call under ycount; XY samples without chrY calls keep it
    (plink's minimum is 0) but become XX under y-only; a minimum of 3 calls leaves the XY samples with 1-2
    calls ambiguous."""
    cohort, _, odd = kgxy
    f_only = cohort.sex_check().set_index("sample_id")
    ycount = cohort.sex_check(y_method="ycount").set_index("sample_id")
    changed = (f_only["status"] == "OK") & (ycount["status"] == "PROBLEM")
    y_females = odd["female_y_calls"] + odd["female_diploid_y"]
    assert changed.sum() >= 3 and set(changed.index[changed]) <= set(y_females)
    assert (ycount.loc[y_females, "inferred_sex"].isna() | (ycount.loc[y_females, "f_stat"] >= 0.2)).all()
    assert (ycount.loc[odd["male_no_y"], "inferred_sex"] == "XY").all()
    y_only = cohort.sex_check(y_method="y-only").set_index("sample_id")
    assert (y_only.loc[odd["male_no_y"], "inferred_sex"] == "XX").all()
    strict = cohort.sex_check(y_method="ycount", male_min_y_calls=3).set_index("sample_id")
    assert strict.loc[odd["male_few_y"], "inferred_sex"].isna().all()
    # y-only needs no chrX: the same calls from chrY alone, F NaN
    alone = cohort.select(region="Y").sex_check(y_method="y-only").set_index("sample_id")
    pd.testing.assert_series_equal(alone["inferred_sex"], y_only["inferred_sex"])
    assert alone["f_stat"].isna().all()


def test_sex_check__y_methods_need_chrY_variants(kg):
    """No chrY variant outside the PARs: ycount and y-only raise (plink 1.9 only warns for ycount, and then
    calls as without it); a bad mode or threshold raises too."""
    for method in ("ycount", "y-only"):
        with pytest.raises(GdbError, match="chrY calls outside the PARs"):
            kg.sex_check(y_method=method)
    with pytest.raises(GdbError, match="y_method"):
        kg.sex_check(y_method="y")
    with pytest.raises(GdbError, match="non-negative integer"):
        kg.sex_check(y_method="ycount", female_max_y_calls=-1)


def test_infer_sex__plink19_rules():
    """F thresholds are strict (F = 0.2 is not XX), chrY thresholds inclusive; NaN F: no call unless y-only."""
    from gdbtools.stats.qc import infer_sex

    f = np.array([0.1, 0.2, 0.5, 0.8, 0.9, np.nan, 0.1, 0.9])
    y = np.array([0, 0, 0, 0, 0, 3, 1, 0])
    assert list(infer_sex(f, y)) == ["XX", None, None, None, "XY", None, "XX", "XY"]
    assert list(infer_sex(f, y, y_method="ycount")) == ["XX", None, None, None, "XY", None, None, "XY"]
    assert list(infer_sex(f, y, y_method="ycount", female_max_y_calls=1, male_min_y_calls=1)) == \
        ["XX", None, None, None, None, None, "XX", None]
    assert list(infer_sex(f, y, y_method="y-only")) == ["XX"] * 5 + ["XY", "XY", "XX"]
    with pytest.raises(ValueError, match="y_method"):
        infer_sex(f, y, y_method="Y")


def test_qc_cli__sex_check_y(kgxy, small_store, tmp_path):
    """``gdbtools qc --sex-check-y ycount`` writes the API's ycount table; without chrY it exits 2 before
    the pass."""
    from click.testing import CliRunner

    from gdbtools.cli import main

    cohort, _, _ = kgxy
    out = tmp_path / "qc"
    r = CliRunner().invoke(main, ["qc", str(cohort.store.path), "--out", str(out), "--sex-check-y", "ycount",
                                  "--male-min-y-calls", "3", "--batch-by", "none"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out / "sex_check.tsv", sep="\t", index_col=0, keep_default_na=False, na_values=["NA"])
    want = cohort.sex_check(y_method="ycount", male_min_y_calls=3)
    np.testing.assert_array_equal(got["inferred_sex"].fillna("NA"), want["inferred_sex"].fillna("NA"))
    np.testing.assert_array_equal(got["y_n_called"], want["y_n_called"])
    assert json.loads((out / "summary.json").read_text())["sex_check_y"] == "ycount"
    r = CliRunner().invoke(main, ["qc", str(small_store.path), "--out", str(tmp_path / "qc2"), "--sex-check-y",
                                  "y-only"], catch_exceptions=False)
    assert r.exit_code == 2 and "chrY calls outside the PARs" in r.stderr and "fix:" in r.stderr
    assert not (tmp_path / "qc2" / "variant_qc.parquet").exists()
