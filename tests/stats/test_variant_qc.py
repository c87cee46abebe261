"""Variant QC against plink2 (--hardy, --hardy midp, --missing, --geno-counts), exact enumeration and bcftools.

Tolerances: counts exactly equal; HWE p and mid-p relative 6e-6 (plink2 prints 6 significant digits; the
computation itself is bit-identical to plink2's algorithm); p-values against exact rational enumeration
relative 1e-9; bcftools HWE/ExcHet (32-bit floats printed with 6 digits) relative 1e-5 where p > 1e-30.
The chrX test with males (``HWE_X``, ``p_value_hwe_x``) against plink2's ``.hardy.x``: every printed digit
(within half a unit of the 6th significant digit, i.e. relative 5e-6 at worst, 1e-6 or better for most
values), and relative 1e-8 against log-space enumeration of every table, 1e-9 against rational enumeration.
"""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
import stats_oracles as so
from backend_oracles import hwe_enumerate

import gdbtools
from gdbtools.stats import ploidy as pl
from gdbtools.stats.variables import check_table

HWE_DATA = "hwe_counts_hardyweinberg_pkg"


def test_variant_qc__hwe_matches_plink2_hardy(kg, kg_results, kg_plink):
    """Autosomes and PARs: genotype counts and P / MIDP of plink2 --hardy (midp)."""
    v = kg_results.variant_qc
    dip = kg.selection.zones() != pl.X_NONPAR
    vv = v[dip]
    hardy, midp = kg_plink["hardy"], kg_plink["hardy_midp"]
    assert len(vv) == len(hardy) == len(midp) > 25_000
    np.testing.assert_array_equal(vv["n_het"], hardy["HET_A1_CT"])
    np.testing.assert_array_equal(vv["n_hom_ref"], hardy["HOM_A1_CT"])
    np.testing.assert_array_equal(vv["n_hom_var"], hardy["TWO_AX_CT"])
    np.testing.assert_allclose(vv["HWE"], hardy["P"], rtol=6e-6, atol=1e-300)
    np.testing.assert_allclose(vv["p_value_hwe"], midp["MIDP"], rtol=6e-6, atol=1e-300)
    assert (vv["HWE"] < 1e-6).sum() > 100  # pooled populations: many tiny p-values (Wahlund effect)


def test_variant_qc__chrx_hwe_uses_the_xx_calls(kg, kg_results, kg_plink):
    """chrX outside the PARs: the test runs on the XX genotypes (plink2's FEMALE_* counts of .hardy.x)."""
    v = kg_results.variant_qc
    vx = v[kg.selection.zones() == pl.X_NONPAR]
    hx = kg_plink["hardy_x"]
    assert len(vx) == len(hx) > 1000
    np.testing.assert_array_equal(vx["n_het"], hx["FEMALE_HET_A1_CT"])
    np.testing.assert_array_equal(vx["n_hom_ref"].to_numpy() - hx["MALE_A1_CT"].to_numpy(), hx["FEMALE_HOM_A1_CT"])
    want = np.array([hwe_enumerate(int(h), int(a), int(b)) for h, a, b in
                     zip(hx["FEMALE_HET_A1_CT"], hx["FEMALE_HOM_A1_CT"], hx["FEMALE_TWO_AX_CT"])])
    np.testing.assert_allclose(vx["HWE"], want[:, 0], rtol=1e-9)
    np.testing.assert_allclose(vx["p_value_hwe"], want[:, 1], rtol=1e-9)
    np.testing.assert_allclose(vx["ExcHet"], want[:, 2], rtol=1e-9)
    np.testing.assert_allclose(vx["p_value_excess_het"], want[:, 3], rtol=1e-9)


def test_variant_qc__chrx_hwe_with_males_matches_plink2_hardy_x(kg, kg_results, kg_plink):
    """chrX outside the PARs, XX genotypes and XY alleles together (males written `0/.`): the counts, P and
    MIDP of plink2's .hardy.x (Graffelman-Weir); NaN on every other contig."""
    v = kg_results.variant_qc
    x = kg.selection.zones() == pl.X_NONPAR
    vx = v[x]
    hx, mx = kg_plink["hardy_x"], kg_plink["hardy_x_midp"]
    assert len(vx) == len(hx) == len(mx) > 1000
    np.testing.assert_array_equal(vx["n_hom_var"].to_numpy() - hx["MALE_AX_CT"].to_numpy(), hx["FEMALE_TWO_AX_CT"])
    np.testing.assert_array_equal(vx["AC"], hx["MALE_AX_CT"] + 2 * hx["FEMALE_TWO_AX_CT"] + hx["FEMALE_HET_A1_CT"])
    so.assert_printed_digits(vx["HWE_X"], hx["P"], err_msg="P")
    so.assert_printed_digits(vx["p_value_hwe_x"], mx["MIDP"], err_msg="MIDP")
    assert (vx["HWE_X"] < 1e-6).sum() > 20 and (vx["p_value_hwe_x"] < vx["HWE_X"]).all()
    assert v.loc[~x, ["HWE_X", "p_value_hwe_x"]].isna().all().all()
    # beyond plink2's printed digits: the smallest p-values and a random sample against every table
    counts = hx[["FEMALE_HET_A1_CT", "FEMALE_HOM_A1_CT", "FEMALE_TWO_AX_CT", "MALE_A1_CT", "MALE_AX_CT"]].to_numpy()
    rng = np.random.default_rng(0)
    rows = np.unique(np.concatenate([np.argsort(hx["P"].to_numpy())[:10], rng.choice(len(hx), 15, replace=False)]))
    want = [so.hwe_x_log_enumerate(*map(int, counts[i])) for i in rows]
    np.testing.assert_allclose(vx["HWE_X"].to_numpy()[rows], want, rtol=1e-8)


def test_variant_qc__chrx_hwe_with_males_matches_plink2_on_hapmap(hm, hm_plink):
    """HapMap (males written diploid-homozygous on X, read as haploid by sex): plink2's .hardy.x."""
    v = hm.variant_qc()
    vx = v[hm.selection.zones() == pl.X_NONPAR]
    hx, mx = hm_plink["hardy_x"], hm_plink["hardy_x_midp"]
    assert len(vx) == len(hx) > 300
    np.testing.assert_array_equal(vx["n_het"], hx["FEMALE_HET_A1_CT"])
    so.assert_printed_digits(vx["HWE_X"], hx["P"], err_msg="P")
    so.assert_printed_digits(vx["p_value_hwe_x"], mx["MIDP"], err_msg="MIDP")


def test_variant_qc__chrx_hwe_with_males_differs_from_the_xx_test(kg, kg_results):
    """Where the sexes' allele frequencies differ the two tests disagree: 1000 Genomes X:44736216 has AF 9.3 %
    in XX and 1.3 % in XY samples; the XX genotypes are in HWE (p = 0.21), the X test rejects (p ~ 7e-12).
    XX samples alone: the X test is the XX test; XY samples alone: no test (NaN)."""
    v = kg_results.variant_qc
    x = kg.selection.zones() == pl.X_NONPAR
    row = v[x & (v["pos"] == 44736216).to_numpy()].iloc[0]
    assert row["HWE"] > 0.2 and row["HWE_X"] < 1e-10 and row["p_value_hwe_x"] < 1e-10
    vx = v[x & v["HWE_X"].notna().to_numpy()]
    assert (vx["HWE_X"] != vx["HWE"]).mean() > 0.5  # males carry information on most variants
    sub = kg.select(region="X:3000000-150000000")
    xx = sub.select(samples="sex == 'XX'").variant_qc()
    np.testing.assert_array_equal(xx["HWE_X"], xx["HWE"])
    np.testing.assert_array_equal(xx["p_value_hwe_x"], xx["p_value_hwe"])
    xy = sub.select(samples="sex == 'XY'").variant_qc()
    assert xy["HWE_X"].isna().all() and xy["p_value_hwe_x"].isna().all()


def test_variant_qc__missingness_matches_plink2_missing(hm, hm_plink):
    """HapMap (0.4 % missing calls, chrX with sex): MISSING_CT / OBS_CT / F_MISS of plink2 --missing."""
    v = hm.variant_qc()
    vmiss = hm_plink["vmiss"]
    assert len(v) == len(vmiss) and vmiss["MISSING_CT"].sum() > 5000
    np.testing.assert_array_equal(v["n_not_called"], vmiss["MISSING_CT"])
    np.testing.assert_array_equal(v["n_called"] + v["n_not_called"], vmiss["OBS_CT"])
    np.testing.assert_allclose(1 - v["call_rate"], vmiss["F_MISS"], rtol=1e-5, atol=1e-7)


def test_variant_qc__counts_and_af_match_plink2_geno_counts(hm, hm_plink):
    v = hm.variant_qc()
    g, a = hm_plink["gcount"], hm_plink["acount"]
    np.testing.assert_array_equal(v["n_het"], g["HET_REF_ALT_CTS"])
    np.testing.assert_array_equal(v["n_hom_var"], g["TWO_ALT_GENO_CTS"] + g["HAP_ALT_CTS"])
    np.testing.assert_array_equal(v["n_hom_ref"], g["HOM_REF_CT"] + g["HAP_REF_CT"])
    np.testing.assert_array_equal(v["AC"], a["ALT_CTS"])
    np.testing.assert_array_equal(v["AN"], a["OBS_CT"])
    np.testing.assert_allclose(v["AF"], a["ALT_CTS"] / a["OBS_CT"], rtol=1e-15)


def _vcf_from_calls(path, records, contig="1"):
    """A VCF with one record per list of GT strings (all lists of the same length)."""
    n = len(records[0])
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID={contig},length=249250621>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n))]
    for k, calls in enumerate(records):
        lines.append(f"{contig}\t{1000 + k}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_variant_qc__hwe_on_published_ceu_genotypes(data_dir, stats_tmp):
    """HardyWeinberg's CEUchr22 (99 CEU x 10,000 chr22 SNPs, real genotypes): counts = the published table,
    p and mid-p = exact enumeration."""
    with gzip.open(data_dir / HWE_DATA / "CEUchr22_99x10000_refallele_dosage.tsv.gz", "rt") as fh:
        dosage = pd.read_csv(fh, sep="\t", index_col=0)
    published = pd.read_csv(data_dir / HWE_DATA / "CEUchr22_genotype_counts.tsv", sep="\t").set_index("snp")
    poly = (published[["n0", "n1", "n2"]] > 0).sum(axis=1) > 1
    snps = list(published.index[poly][:400]) + list(published.index[~poly][:20])
    gt = {2: "0/0", 1: "0/1", 0: "1/1"}  # dosage = copies of the reference allele
    records = [[gt[int(x)] for x in dosage[snp]] for snp in snps]
    from gdbtools.ingest import ingest

    vcf = _vcf_from_calls(stats_tmp / "ceu22.vcf", records, contig="22")
    store = ingest(vcf, stats_tmp / "ceu22_store", workers=1, progress=False, build="GRCh37")
    v = gdbtools.open(store.path).variant_qc()
    pub = published.loc[snps]
    np.testing.assert_array_equal(v["n_hom_ref"], pub["n2"])
    np.testing.assert_array_equal(v["n_het"], pub["n1"])
    np.testing.assert_array_equal(v["n_hom_var"], pub["n0"])
    want = np.array([hwe_enumerate(int(h), int(a), int(b)) for h, a, b in zip(pub["n1"], pub["n2"], pub["n0"])])
    for j, col in enumerate(("HWE", "p_value_hwe", "ExcHet", "p_value_excess_het")):
        np.testing.assert_allclose(v[col], want[:, j], rtol=1e-9, err_msg=col)
    # Hail's het_freq_hwe (Levene-Haldane mean / n) and gnomAD's InbreedingCoeff from the published counts
    n = pub[["n0", "n1", "n2"]].sum(axis=1).to_numpy(float)
    n_ref, n_alt = 2 * pub["n2"] + pub["n1"], 2 * pub["n0"] + pub["n1"]
    np.testing.assert_allclose(v["het_freq_hwe"], n_ref * n_alt / ((2 * n - 1) * n), rtol=1e-12)
    p, q = n_ref / (2 * n), n_alt / (2 * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 1 - pub["n1"] / (2 * p * q * n)
    np.testing.assert_allclose(v["InbreedingCoeff"], f.where(p * q > 0), rtol=1e-12)
    assert v["InbreedingCoeff"].isna().sum() == 20


def test_variant_qc__published_jpt_counts_by_sex(data_dir, stats_tmp):
    """HardyWeinberg's JPT table (10 SNPs, 56 males / 48 females): per-sex counts and HWE p per sex."""
    table = pd.read_csv(data_dir / HWE_DATA / "JPTsnps_by_sex_counts.tsv", sep="\t")
    sex = ["XY"] * 56 + ["XX"] * 48
    records = []
    for _, r in table.iterrows():
        calls = (["0/0"] * r.male_AA + ["0/1"] * r.male_AB + ["1/1"] * r.male_BB
                 + ["0/0"] * r.female_AA + ["0/1"] * r.female_AB + ["1/1"] * r.female_BB)
        records.append(calls)
    from gdbtools.ingest import ingest

    vcf = _vcf_from_calls(stats_tmp / "jpt.vcf", records)
    meta = stats_tmp / "jpt.tsv"
    pd.DataFrame({"sample_id": [f"s{i}" for i in range(104)], "sex": sex}).to_csv(meta, sep="\t", index=False)
    store = ingest(vcf, stats_tmp / "jpt_store", metadata=meta, workers=1, progress=False, build="GRCh37")
    cohort = gdbtools.open(store.path)
    f = cohort.freq(by=["sex"], adj=False)
    np.testing.assert_array_equal(f["AC_XY"], table["male_AB"] + 2 * table["male_BB"])
    np.testing.assert_array_equal(f["AN_XX"], 2 * 48)
    for s, prefix in (("XY", "male"), ("XX", "female")):
        v = cohort.select(samples=f"sex == '{s}'").variant_qc()
        trip = table[[f"{prefix}_AB", f"{prefix}_AA", f"{prefix}_BB"]].to_numpy()
        want = np.array([hwe_enumerate(*map(int, t)) for t in trip])
        np.testing.assert_allclose(v["HWE"], want[:, 0], rtol=1e-9)
        np.testing.assert_allclose(v["p_value_hwe"], want[:, 1], rtol=1e-9)


def test_variant_qc__jpt_counts_on_chrx_match_plink2_hardy_x(data_dir, stats_tmp, plink2_bin):
    """HardyWeinberg's JPT counts by sex (autosomal SNPs, no published X p-values) written as chrX non-PAR
    calls: female genotypes as given, male AA/BB as haploid 0/1 and male AB as a het call, which a haploid
    sample cannot have (missing, for gdbtools and plink2); plus two synthetic records whose sexes differ in
    allele frequency.  P and MIDP of plink2 --hardy on the same VCF, and exact enumeration."""
    table = pd.read_csv(data_dir / HWE_DATA / "JPTsnps_by_sex_counts.tsv", sep="\t")
    table = pd.concat([table, pd.DataFrame({  # XX in HWE proportions at AF 0.5; XY mostly allele A / B
        "snp": ["sexdiff_a", "sexdiff_b"], "male_AA": [50, 6], "male_AB": [0, 0], "male_BB": [6, 50],
        "female_AA": [12, 12], "female_AB": [24, 24], "female_BB": [12, 12]})], ignore_index=True)
    n_m, n_f = 56, 48
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=X,length=155270560>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
             + "\t".join(f"s{i}" for i in range(n_m + n_f))]
    for k, r in table.iterrows():
        calls = (["0"] * r.male_AA + ["0/1"] * r.male_AB + ["1"] * r.male_BB
                 + ["0/0"] * r.female_AA + ["0/1"] * r.female_AB + ["1/1"] * r.female_BB)
        assert len(calls) == n_m + n_f
        lines.append(f"X\t{5_000_000 + 1000 * k}\t{r.snp}\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls))
    vcf = stats_tmp / "jpt_x.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    ids = [f"s{i}" for i in range(n_m + n_f)]
    sex = ["XY"] * n_m + ["XX"] * n_f
    meta = stats_tmp / "jpt_x.tsv"
    pd.DataFrame({"sample_id": ids, "sex": sex}).to_csv(meta, sep="\t", index=False)
    from gdbtools.ingest import ingest

    store = ingest(vcf, stats_tmp / "jpt_x_store", metadata=meta, workers=1, progress=False, build="GRCh37")
    v = gdbtools.open(store.path).variant_qc()
    np.testing.assert_array_equal(v["n_not_called"], table["male_AB"])  # the male hets
    pfile = so.plink2_import(vcf, stats_tmp / "jpt_x", so.write_sex_file(stats_tmp / "jpt_x.sex", ids, sex), "b37")
    rep = so.plink2_reports(pfile, stats_tmp / "jpt_x_rep", het=False)
    hx, mx = rep["hardy_x"], rep["hardy_x_midp"]
    np.testing.assert_array_equal(hx["MALE_A1_CT"], table["male_AA"])
    np.testing.assert_array_equal(hx["MALE_AX_CT"], table["male_BB"])
    so.assert_printed_digits(v["HWE_X"], hx["P"], err_msg="P")
    so.assert_printed_digits(v["p_value_hwe_x"], mx["MIDP"], err_msg="MIDP")
    want = np.array([so.hwe_x_enumerate(int(r.female_AB), int(r.female_AA), int(r.female_BB), int(r.male_AA),
                                        int(r.male_BB)) for r in table.itertuples()])
    np.testing.assert_allclose(v["HWE_X"], want[:, 0], rtol=1e-9)
    np.testing.assert_allclose(v["p_value_hwe_x"], want[:, 1], rtol=1e-9)
    # the synthetic records: the XX genotypes are in perfect HWE proportions, the sexes differ
    syn = v.iloc[-2:]
    assert (syn["HWE"] == 1).all() and (syn["HWE_X"] < 1e-5).all()


def test_variant_qc__hwe_and_exchet_match_bcftools_fill_tags(kg, kg_split, bcftools_bin):
    sub = kg.select(region="1")
    v = sub.variant_qc()
    text = so.sh("bcftools", "+fill-tags", kg_split, "-r", "1", "--", "-t", "HWE,ExcHet")
    text = so.sh("bcftools", "query", "-f", "%POS\t%HWE\t%ExcHet\n", "-", stdin=text.encode())
    b = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=["pos", "HWE", "ExcHet"])
    assert len(b) == len(v)
    for col in ("HWE", "ExcHet"):
        ok = b[col].to_numpy() > 1e-30
        np.testing.assert_allclose(v[col].to_numpy()[ok], b[col].to_numpy()[ok], rtol=1e-5, err_msg=col)


def test_variant_qc__no_diploid_calls_gives_nan_hwe(kg):
    """XY samples only, chrX outside the PARs: all calls haploid, so the HWE fields are NaN (not p = 1)."""
    v = kg.select(samples="sex == 'XY'", region="X:3000000-150000000").variant_qc()
    assert len(v) > 900
    for col in ("HWE", "p_value_hwe", "ExcHet", "p_value_excess_het", "het_freq_hwe", "InbreedingCoeff"):
        assert v[col].isna().all(), col
    assert (v["n_het"] == 0).all() and (v["AN"] == v["n_called"]).all()


def test_variant_qc__columns_declared(kg_results):
    check_table(kg_results.variant_qc, "variant_qc")
    assert list(kg_results.variant_qc.columns[:4]) == ["contig", "pos", "ref", "alt"]


@pytest.mark.parametrize("adj", [False, True])
def test_variant_qc__adj_counts_filtered_calls(small_store, adj):
    """n_filtered = calls removed by the genotype filters (adj view); raw QC has none."""
    cohort = gdbtools.open(small_store.path)
    raw = cohort.variant_qc(adj=False)
    v = cohort.variant_qc(adj=adj)
    if not adj:
        assert (v["n_filtered"] == 0).all()
    else:
        np.testing.assert_array_equal(v["n_filtered"], raw["n_called"] - v["n_called"])
        codes_raw = np.concatenate([b.codes() for b in small_store.blocks()])
        codes_adj = np.concatenate([b.codes(adj=True) for b in small_store.blocks()])
        assert v["n_filtered"].sum() > 0
        # autosomes: every filtered call is a call in raw that is missing in adj
        auto = (raw["contig"] == "chr1").to_numpy()
        np.testing.assert_array_equal(v["n_filtered"][auto],
                                      ((codes_raw != 3) & (codes_adj == 3)).sum(axis=1)[auto])
