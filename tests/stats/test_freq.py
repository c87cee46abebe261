"""Allele frequencies against bcftools +fill-tags, plink2 --freq/--geno-counts and the gnomAD release.

Tolerances: counts (AC, AN, AC_Het, AC_Hom, AC_Hemi, NS, genotype counts) exactly equal; AF relative 5e-6
(bcftools prints AF with 6 significant digits); faf95 within [-1e-7, +1.2e-6] of gnomAD (Hail steps on a 1e-6 grid
below the exact root that gdbtools returns; the release prints 6 significant digits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import stats_oracles as so
from scipy import stats as sps

import gdbtools
from gdbtools.errors import GdbError
from gdbtools.stats import build_groups, filtering_allele_frequency, freq_meta
from gdbtools.stats.freq import GRPMAX_EXCLUDE, _grpmax
from gdbtools.stats.selection import Group
from gdbtools.stats.variables import check_table

TAGS = ("AC", "AN", "AC_Het", "AC_Hom", "AC_Hemi", "NS")


def _assert_same_rows(ours: pd.DataFrame, theirs: pd.DataFrame):
    assert len(ours) == len(theirs)
    np.testing.assert_array_equal(ours["pos"].to_numpy(), theirs["pos"].to_numpy())
    np.testing.assert_array_equal(ours["alt"].astype(str).to_numpy(), theirs["alt"].astype(str).to_numpy())


def _assert_tags(ours: pd.DataFrame, theirs: pd.DataFrame, suffix: str = ""):
    sfx = f"_{suffix}" if suffix else ""
    for tag in TAGS:
        np.testing.assert_array_equal(ours[tag + sfx].to_numpy(), theirs[tag + sfx].to_numpy(), err_msg=tag + sfx)
    np.testing.assert_allclose(ours["AF" + sfx].to_numpy(), theirs["AF" + sfx].to_numpy(dtype=float), rtol=5e-6,
                               err_msg="AF" + sfx)


def test_freq__matches_fill_tags_per_population(kg_results, kg, kg_split, stats_tmp, bcftools_bin):
    """Whole 1126 set incl. chrX (males haploid outside the PARs): every +fill-tags tag, overall and per group."""
    samples = kg.store.samples
    groups = stats_tmp / "kg_pops.txt"
    samples[["sample_id", "Population"]].to_csv(groups, sep="\t", header=False, index=False)
    theirs = so.fill_tags(kg_split, groups)
    ours = kg_results.freq
    _assert_same_rows(ours, theirs)
    _assert_tags(ours, theirs)
    for pop in sorted(samples["Population"].unique()):
        _assert_tags(ours, theirs, pop)
    x = ours["contig"] == "X"
    assert ours.loc[x, "AC_Hemi"].sum() > 10_000  # the hemizygous path is exercised
    nonpar = x & (ours["pos"] > 2_699_520) & (ours["pos"] < 154_931_044)
    assert nonpar.sum() == 1089 - 32
    assert (ours.loc[nonpar, "AN"] == 2 * 575 + 551).all()  # no missing calls: 575 XX diploid, 551 XY haploid
    assert (ours.loc[~nonpar, "AN"] == 2 * 1126).all()


@pytest.mark.parametrize("query, region", [
    ("Population == 'CEU' and sex == 'XX'", "22"),
    ("Population == 'YRI' and sex == 'XY'", "X"),
    ("Population in ['JPT', 'CHB'] and sex == 'XY'", "X:60000-3000000"),  # across the PAR1 boundary
])
def test_freq__sample_subset_matches_bcftools_view_S(kg, data_dir, stats_tmp, bcftools_bin, query, region):
    sub = kg.select(samples=query, region=region)
    ids = sub.samples["sample_id"]
    assert 40 < len(ids) < 120
    ids_file = stats_tmp / f"ids_{abs(hash(query))}.txt"
    ids_file.write_text("".join(f"{s}\n" for s in ids))
    split = so.norm_split(data_dir / so.KG, stats_tmp / f"sub_{abs(hash(query))}.vcf.gz", ids_file, region)
    theirs = so.fill_tags(split)
    ours = sub.freq(adj=False)
    _assert_same_rows(ours, theirs)
    _assert_tags(ours, theirs)
    assert ours.attrs["freq_meta"][0]["n_samples"] == len(ids)


def test_freq__matches_plink2_freq_and_geno_counts(kg_results, kg_plink):
    """AC/AN vs plink2 --freq counts; hom-ref/het/hom-alt/haploid/missing vs --geno-counts (sex from the store)."""
    f, v = kg_results.freq, kg_results.variant_qc
    acount, gcount = kg_plink["acount"], kg_plink["gcount"]
    assert len(f) == len(acount) == len(gcount)
    np.testing.assert_array_equal(f["AC"], acount["ALT_CTS"])
    np.testing.assert_array_equal(f["AN"], acount["OBS_CT"])
    np.testing.assert_array_equal(f["AC_Het"], gcount["HET_REF_ALT_CTS"])
    np.testing.assert_array_equal(f["AC_Hom"] // 2, gcount["TWO_ALT_GENO_CTS"])
    np.testing.assert_array_equal(f["AC_Hemi"], gcount["HAP_ALT_CTS"])
    np.testing.assert_array_equal(v["n_hom_ref"], gcount["HOM_REF_CT"] + gcount["HAP_REF_CT"])
    np.testing.assert_array_equal(v["n_not_called"], gcount["MISSING_CT"])
    assert gcount["HAP_REF_CT"].sum() > 100_000


def test_freq__males_written_diploid_on_x_are_haploid_as_plink2(hm, hm_plink):
    """HapMap writes male chrX calls as 0/0, 1/1: sex-aware counting makes them haploid, as plink2 does."""
    f = hm.freq(adj=False)
    acount, gcount = hm_plink["acount"], hm_plink["gcount"]
    np.testing.assert_array_equal(f["AC"], acount["ALT_CTS"])
    np.testing.assert_array_equal(f["AN"], acount["OBS_CT"])
    np.testing.assert_array_equal(f["AC_Hemi"], gcount["HAP_ALT_CTS"])
    np.testing.assert_array_equal(f["NS"] - f["AC_Het"] - f["AC_Hom"] // 2 - f["AC_Hemi"],
                                  gcount["HOM_REF_CT"] + gcount["HAP_REF_CT"])
    x = (f["contig"] == "X").to_numpy()
    assert x.sum() == 365 and f.loc[x, "AC_Hemi"].sum() > 1000


# --------------------------------------------------------------------------------------- sex chromosomes
def _sexchrom_vcf(path, rng):
    """A GRCh38 VCF with chrX PAR/non-PAR and chrY PAR/non-PAR records; XY, XX and unknown-sex samples.

    Males: haploid calls outside the PARs, plus some diploid-coded homozygotes and a few hets (invalid for a
    haploid sample: gdbtools and plink2 count them as missing); females: '.' on chrY.
    """
    sex = ["XY"] * 20 + ["XX"] * 15 + [None] * 5
    n = len(sex)
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chrX,length=156040895>", "##contig=<ID=chrY,length=57227415>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"S{i}" for i in range(n))]
    records = [("chrX", 100_000 + 1000 * k) for k in range(10)] + [("chrX", 5_000_000 + 1000 * k) for k in range(25)] \
        + [("chrY", 200_000 + 1000 * k) for k in range(8)] + [("chrY", 3_000_000 + 1000 * k) for k in range(12)]
    dip = ["0/0", "0/1", "1/1", "./."]
    for contig, pos in records:
        par = pos < 2_781_479
        calls = []
        for s in sex:
            if contig == "chrX" and (par or s == "XX"):
                calls.append(rng.choice(dip, p=[0.5, 0.3, 0.15, 0.05]))
            elif contig == "chrX":  # XY or unknown outside the PAR
                calls.append(rng.choice(["0", "1", ".", "1/1", "0/0", "0/1"], p=[0.5, 0.3, 0.05, 0.05, 0.05, 0.05]))
            elif s == "XY":
                calls.append(rng.choice(dip, p=[0.5, 0.3, 0.15, 0.05]) if par else
                             rng.choice(["0", "1", "."], p=[0.6, 0.35, 0.05]))
            else:
                calls.append("./." if par else ".")
        lines.append(f"{contig}\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls))
    path.write_text("\n".join(lines) + "\n")
    meta = path.with_suffix(".samples.tsv")
    pd.DataFrame({"sample_id": [f"S{i}" for i in range(n)], "sex": [s or "" for s in sex]}).to_csv(
        meta, sep="\t", index=False)
    return path, meta, sex


@pytest.fixture(scope="module")
def sexchrom(stats_tmp, bcftools_bin):
    from gdbtools.ingest import ingest

    rng = np.random.default_rng(7)
    vcf, meta, sex = _sexchrom_vcf(stats_tmp / "sexchrom.vcf", rng)
    gz = stats_tmp / "sexchrom.vcf.gz"
    so.sh("bcftools", "view", "-Oz", "-o", gz, vcf)
    so.sh("bcftools", "index", "-t", gz)
    store = ingest(gz, stats_tmp / "sexchrom_store", metadata=meta, workers=1, progress=False)
    assert store.build_name == "GRCh38"
    return gz, store, sex


def test_freq__sex_chromosomes_match_plink2_geno_counts(sexchrom, stats_tmp, plink2_bin):
    """chrX non-PAR and chrY non-PAR of known-sex samples vs plink2 (males haploid, male hets missing)."""
    gz, store, sex = sexchrom
    cohort = gdbtools.open(store.path)
    known = cohort.select(samples="sex == 'XX' or sex == 'XY'")
    ids = stats_tmp / "sexchrom_known.txt"
    ids.write_text("".join(f"S{i}\n" for i, s in enumerate(sex) if s))
    sexfile = so.write_sex_file(stats_tmp / "sexchrom.sex", [f"S{i}" for i in range(len(sex))], sex)
    pfile = so.plink2_import(gz, stats_tmp / "sexchrom", sexfile, "hg38", extra=("--keep", ids))
    rep = so.plink2_reports(pfile, stats_tmp / "sexchrom_rep", het=False)
    f = known.freq(adj=False)
    v = known.variant_qc()
    g = rep["gcount"].assign(pos=lambda d: d["ID"].str.split(":").str[1].astype(int))
    nonpar = ((f["contig"] == "chrX") & (f["pos"] > 2_781_479)) | ((f["contig"] == "chrY") & (f["pos"] > 2_781_479))
    fx, vx = f[nonpar], v[nonpar]
    gx = g.set_index(["#CHROM", "pos"]).loc[list(zip(fx["contig"].str.replace("chr", ""), fx["pos"]))]
    np.testing.assert_array_equal(fx["AC_Hemi"], gx["HAP_ALT_CTS"])
    np.testing.assert_array_equal(vx["n_hom_ref"], gx["HOM_REF_CT"] + gx["HAP_REF_CT"])
    np.testing.assert_array_equal(fx["AC_Het"], gx["HET_REF_ALT_CTS"])
    np.testing.assert_array_equal(vx["n_not_called"], gx["MISSING_CT"])
    # chrY: only the 20 XY samples count; chrX non-PAR: XY haploid, XX diploid
    ynon = fx["contig"] == "chrY"
    assert (vx.loc[ynon, "n_called"] + vx.loc[ynon, "n_not_called"] == 20).all()
    assert (vx.loc[~ynon, "n_called"] + vx.loc[~ynon, "n_not_called"] == 35).all()


def test_freq__chrY_PAR_counts_xy_samples_diploid_like_fill_tags_on_males(sexchrom, stats_tmp, bcftools_bin):
    gz, store, sex = sexchrom
    males = stats_tmp / "sexchrom_males.txt"
    males.write_text("".join(f"S{i}\n" for i, s in enumerate(sex) if s == "XY"))
    theirs = so.fill_tags(so.norm_split(gz, stats_tmp / "sexchrom_males.vcf.gz", males, "chrY"))
    ours = gdbtools.open(store.path).select(region="chrY").freq(adj=False)
    _assert_same_rows(ours, theirs)
    _assert_tags(ours, theirs)  # XX samples contribute nothing on chrY, PAR or not
    par = ours["pos"] < 2_781_479
    assert ours.loc[par, "AC_Hom"].sum() > 0 and ours.loc[~par, "AC_Hemi"].sum() > 0


def test_freq__unknown_sex_excluded_or_counted_as_xx(sexchrom, stats_tmp):
    """Default: unknown-sex samples are left out where ploidy depends on sex; "diploid": counted as XX."""
    gz, store, sex = sexchrom
    cohort = gdbtools.open(store.path)
    excl = cohort.freq(adj=False)
    known = cohort.select(samples="sex == 'XX' or sex == 'XY'").freq(adj=False)
    xnon = (excl["contig"] == "chrX") & (excl["pos"] > 2_781_479)
    ynon = excl["contig"] == "chrY"
    pd.testing.assert_frame_equal(excl.loc[xnon | ynon, list(TAGS)], known.loc[xnon | ynon, list(TAGS)])
    assert (excl.loc[~(xnon | ynon), "NS"] > known.loc[~(xnon | ynon), "NS"]).any()  # PAR: everyone counts
    dip = cohort.freq(adj=False, unknown_sex="diploid")
    # the same as a store where those samples are XX
    from gdbtools.ingest import ingest

    meta = stats_tmp / "sexchrom_as_xx.tsv"
    pd.DataFrame({"sample_id": [f"S{i}" for i in range(len(sex))], "sex": [s or "XX" for s in sex]}).to_csv(
        meta, sep="\t", index=False)
    # ingest refuses a haploid call of an XX sample (it would count one allele twice): write the unknown-sex
    # samples' haploid calls as the diploid calls with the same codes (1 -> 1/1, 0 -> 0/0, . -> ./.)
    unknown = [9 + i for i, s in enumerate(sex) if s is None]
    lines = []
    for line in so.sh("bcftools", "view", "-Ov", gz).splitlines():
        if not line.startswith("#"):
            cols = line.split("\t")
            for c in unknown:
                cols[c] = {"0": "0/0", "1": "1/1", ".": "./."}.get(cols[c], cols[c])
            line = "\t".join(cols)
        lines.append(line)
    as_xx_vcf = stats_tmp / "sexchrom_as_xx.vcf"
    as_xx_vcf.write_text("\n".join(lines) + "\n")
    as_xx = ingest(as_xx_vcf, stats_tmp / "sexchrom_as_xx", metadata=meta, workers=1, progress=False)
    pd.testing.assert_frame_equal(dip[list(TAGS)], gdbtools.open(as_xx.path).freq(adj=False)[list(TAGS)])
    assert (dip.loc[xnon, "AN"] > excl.loc[xnon, "AN"]).all()
    pd.testing.assert_frame_equal(dip.loc[ynon, list(TAGS)], excl.loc[ynon, list(TAGS)])


# --------------------------------------------------------------------------------------- adj
def test_freq__adj_matches_setgt_and_raw_matches_fill_tags(data_dir, stats_tmp, bcftools_bin):
    """adj counts = bcftools +setGT (GQ<20, DP<10, het AB<0.2 -> missing) then +fill-tags; *_raw = +fill-tags."""
    from gdbtools.ingest import ingest

    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    store = ingest(src, stats_tmp / "gatk100", workers=1, progress=False)
    ours = gdbtools.open(store.path).freq(adj=True)
    split = so.norm_split(src, stats_tmp / "gatk100_split.vcf.gz")
    expr = 'FMT/GQ<20 | FMT/DP<10 | FMT/GQ="." | FMT/DP="." | (GT="het" & FMT/AD[:1]/FMT/DP<0.2)'
    filtered = stats_tmp / "gatk100_adj.vcf.gz"
    so.sh("bcftools", "+setGT", split, "-Oz", "-o", filtered, "--", "-t", "q", "-n", ".", "-i", expr)
    adj, raw = so.fill_tags(filtered), so.fill_tags(split)
    _assert_same_rows(ours, adj)
    _assert_tags(ours, adj)
    for tag in ("AC", "AN"):
        np.testing.assert_array_equal(ours[f"{tag}_raw"], raw[tag])
    np.testing.assert_array_equal(ours["nhomalt_raw"], raw["AC_Hom"] // 2 + raw["AC_Hemi"])
    assert (ours["AN"] < ours["AN_raw"]).mean() > 0.5
    assert ours.attrs["adj"] and ours.attrs["adj_filters_present"]


# --------------------------------------------------------------------------------------- faf, grpmax
def _gnomad_info(path, fields):
    import io
    text = so.sh("bcftools", "query", "-f", "\t".join(f"%{f}" for f in fields) + "\n", path)
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=fields, na_values=["."],
                       keep_default_na=False)


@pytest.mark.parametrize("release, pops, overall", [
    ("hail_gnomad.exomes.r2.1.1.sites.chr1.sample100.vcf.gz", ["afr", "amr", "eas", "nfe", "sas"], None),
    ("hail_gnomad.genomes.r3.0.sites.chr1.sample30.vcf.gz", ["afr", "amr", "eas", "nfe", "sas"], "adj"),
])
def test_filtering_allele_frequency__matches_gnomad_release(data_dir, bcftools_bin, release, pops, overall):
    """faf95 from the release's own AC/AN: gdbtools' exact root is >= Hail's grid value, within 1.2e-6."""
    path = data_dir / "gnomad_sites_excerpts" / release
    pairs = [(f"AC_{p}", f"AN_{p}", f"faf95_{p}") for p in pops]
    if overall:
        pairs.append(("AC", "AN", f"faf95_{overall}"))
    info = _gnomad_info(path, [x for pair in pairs for x in pair])
    n_checked = 0
    for ac, an, faf in pairs:
        got = filtering_allele_frequency(info[ac].to_numpy(), info[an].to_numpy(), 0.95)
        want = info[faf].to_numpy(dtype=float)
        ok = ~np.isnan(want)
        diff = got[ok] - want[ok]
        assert (diff >= -1e-7).all() and (diff <= 1.2e-6).all(), (faf, diff.min(), diff.max())
        assert (got[ok][info[ac].to_numpy()[ok] <= 1] == 0).all()
        n_checked += int((want[ok] > 0).sum())
    assert n_checked >= 10


def test_filtering_allele_frequency__is_the_poisson_root():
    ac = np.array([0, 1, 2, 3, 7, 50, 1000, 5, 5])
    an = np.array([100, 100, 100, 2208, 462, 10_000, 100_000, 0, 20])
    for ci in (0.95, 0.99):
        faf = filtering_allele_frequency(ac, an, ci)
        ok = (ac > 1) & (an > 0)
        assert (faf[~ok] == 0).all()
        np.testing.assert_allclose(sps.poisson.cdf(ac[ok] - 1, an[ok] * faf[ok]), ci, rtol=1e-10)
        assert (faf[ok] < ac[ok] / an[ok]).all()
    assert (filtering_allele_frequency(ac, an, 0.99) <= filtering_allele_frequency(ac, an, 0.95)).all()


def test_grpmax__matches_gnomad_popmax(data_dir, bcftools_bin):
    """gnomAD v2.1.1 popmax: highest AF over the groups with AC > 0, asj/fin/oth left out."""
    path = data_dir / "gnomad_sites_excerpts/hail_gnomad.exomes.r2.1.1.sites.chr1.sample100.vcf.gz"
    pops = ["afr", "amr", "asj", "eas", "fin", "nfe", "oth", "sas"]
    fields = [f"{t}_{p}" for p in pops for t in ("AC", "AN", "nhomalt")] + ["popmax", "AC_popmax", "AN_popmax",
                                                                           "AF_popmax"]
    info = _gnomad_info(path, fields)
    cols = {}
    for p in pops:
        ac, an = info[f"AC_{p}"].to_numpy(), info[f"AN_{p}"].to_numpy()
        cols.update({f"AC_{p}": ac, f"AN_{p}": an, f"nhomalt_{p}": info[f"nhomalt_{p}"].to_numpy(),
                     f"AF_{p}": np.where(an > 0, ac / np.maximum(an, 1), np.nan),
                     f"faf95_{p}": filtering_allele_frequency(ac, an, 0.95),
                     f"faf99_{p}": filtering_allele_frequency(ac, an, 0.99)})
    eligible = [Group(p, {"pop": p}, np.zeros(1, bool)) for p in pops if p not in GRPMAX_EXCLUDE]
    out = {name: np.asarray(v.to_pylist(), dtype=object) if hasattr(v, "to_pylist") else v
           for name, v in _grpmax(cols, eligible, len(info)).items()}  # Arrow columns (text, Int32) as objects
    want = info["popmax"].astype("string")
    got = pd.Series(out["grpmax"], dtype="string")
    both = want.notna().to_numpy()
    assert both.sum() >= 30
    np.testing.assert_array_equal(got[both].to_numpy(), want[both].to_numpy())
    assert got[~both].isna().all()
    np.testing.assert_array_equal(np.asarray(out["AC_grpmax"][both], dtype=int), info["AC_popmax"][both])
    np.testing.assert_array_equal(np.asarray(out["AN_grpmax"][both], dtype=int), info["AN_popmax"][both])
    np.testing.assert_allclose(out["AF_grpmax"][both], info["AF_popmax"][both], rtol=1e-5)


def test_freq__grpmax_excludes_groups_and_ignores_sex_strata(kg):
    """grpmax over the population groups only (not population x sex); excluded groups never win."""
    f = kg.select(region="22").freq(by=["Population", "sex"], adj=False, grpmax_exclude={"YRI", "LWK"})
    pops = sorted(kg.store.samples["Population"].unique())
    eligible = [p for p in pops if p not in ("YRI", "LWK")]
    af = f[[f"AF_{p}" for p in eligible]].to_numpy()
    ac = f[[f"AC_{p}" for p in eligible]].to_numpy()
    score = np.where(ac > 0, af, -1)
    has = (ac > 0).any(axis=1)
    np.testing.assert_array_equal(f["grpmax"][has].to_numpy(), np.array(eligible)[score.argmax(axis=1)][has])
    assert f["grpmax"][~has].isna().all()
    np.testing.assert_allclose(f["AF_grpmax"][has], score.max(axis=1)[has])
    faf = f[[f"faf95_{p}" for p in eligible]].to_numpy()
    np.testing.assert_allclose(f["fafmax_faf95_max"], faf.max(axis=1))
    assert not {c for c in f.columns if c.startswith("faf95_")} & {f"faf95_{p}_XX" for p in pops}
    assert f.attrs["grpmax_column"] == "Population"


# --------------------------------------------------------------------------------------- table shape
def test_freq__columns_declared_and_freq_meta_counts(kg_results, kg):
    f = kg_results.freq
    check_table(f, "freq")
    meta = freq_meta(f)
    counts = kg.store.samples["Population"].value_counts()
    for _, row in meta.iloc[1:].iterrows():
        assert row["n_samples"] == counts[row["Population"]]
    assert meta.iloc[0]["n_samples"] == 1126 and meta.iloc[0]["label"] == ""
    assert f.index.name == "variant_index" and f.index.is_monotonic_increasing


def test_build_groups__strata_labels_and_clashes(kg):
    samples = kg.store.samples
    sel = np.ones(len(samples), bool)
    groups = build_groups(samples, sel, ["sex", "Population"])
    labels = [g.label for g in groups]
    assert labels[:3] == ["", "XX", "XY"] and "CEU" in labels and "XX_CEU" in labels and "XY_YRI" in labels
    assert len(groups) == 1 + 2 + 12 + 24
    ceu_xx = next(g for g in groups if g.label == "XX_CEU")
    assert ceu_xx.n_samples == ((samples["sex"] == "XX") & (samples["Population"] == "CEU")).sum()
    clash = samples.assign(a=np.where(np.arange(len(samples)) % 2, "x-1", "x_1"))
    with pytest.raises(GdbError, match="share the column label"):
        build_groups(clash, sel, ["a"])
    with pytest.raises(GdbError, match="no sample column"):
        build_groups(samples, sel, ["nope"])


def test_freq__region_and_sample_selection_equal_the_rows_of_the_whole(kg, kg_results):
    sub = kg.select(region=["2:1-120000000", "X:2600000-2800000"]).freq(by=["Population"], adj=False)
    whole = kg_results.freq.loc[sub.index]
    pd.testing.assert_frame_equal(sub, whole, check_like=False)
    assert len(sub) > 500 and set(sub["contig"]) == {"2", "X"}


def test_freq__table_and_freq_meta_survive_parquet(kg, tmp_path):
    """The table and its freq_meta survive Parquet (what the CLI writes)."""
    f = kg.select(region="21").freq(by=["sex"], adj=False)
    f.to_parquet(tmp_path / "f.parquet")
    back = pd.read_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(back, f)
    assert back.attrs["freq_meta"] == f.attrs["freq_meta"]


# --------------------------------------------------------------------------------------- freq_meta markers
@pytest.fixture(scope="module")
def group_column_store(small_cohort, tmp_path_factory):
    """The small cohort ingested with a sample column named ``group`` (gnomAD's adj/raw marker key)."""
    from gdbtools.ingest import ingest

    out = tmp_path_factory.mktemp("group_col")
    meta = pd.read_csv(small_cohort.metadata, sep="\t", dtype=str)
    meta["group"] = np.where(np.arange(len(meta)) % 3 == 0, "g1", "g2")
    meta["label"] = "L"
    path = out / "meta.tsv"
    meta.to_csv(path, sep="\t", index=False)
    return ingest(small_cohort.vcf, out / "store", metadata=path, workers=1, progress=False, block_size=512)


def test_freq_meta__sample_column_named_group_keeps_the_adj_marker(group_column_store, tmp_path):
    cohort = gdbtools.open(group_column_store.path)
    samples = cohort.store.samples
    f = cohort.freq(by=["group", "label"], adj=True, client=False)
    entries = f.attrs["freq_meta"]
    assert [e["group"] for e in entries] == ["adj"] * (len(entries) - 1) + ["raw"]  # the marker is intact
    by_label = {e["label"]: e for e in entries}
    assert by_label["g1"]["column:group"] == "g1" and by_label["g2"]["column:group"] == "g2"
    assert by_label["g1"]["n_samples"] == int((samples["group"] == "g1").sum()) == int(f.attrs["freq_meta"][1]
                                                                                         ["n_samples"])
    assert by_label["L"]["column:label"] == "L" and by_label["L"]["label"] == "L"
    assert by_label["g1_L"]["column:group"] == "g1" and by_label["g1_L"]["column:label"] == "L"
    table = freq_meta(f)
    assert {"label", "group", "n_samples", "column:group", "column:label"} <= set(table.columns)
    assert set(table["group"]) == {"adj", "raw"}
    assert (f["AN_g1"] + f["AN_g2"] == f["AN"]).all()
    f.to_parquet(tmp_path / "f.parquet")
    assert pd.read_parquet(tmp_path / "f.parquet").attrs["freq_meta"] == entries
