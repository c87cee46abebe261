"""The release files: a valid, indexed sites-only VCF whose counts are bcftools +fill-tags' on the source VCF;
Parquet and TSV equal to the in-memory table; provenance in every output; the command line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import release_helpers as rh
from helpers import run_cli
from release_helpers import HM, KG22, export_opts

COUNTS = ["AC", "AN", "AC_Het", "AC_Hom", "AC_Hemi", "NS"]


@pytest.fixture(scope="session")
def kg22_fill_tags(kg22, data_dir, release_tmp, bcftools_bin):
    groups = rh.groups_file(kg22.store.samples, ["Population", "Gender"], release_tmp / "kg22_groups.txt")
    return rh.fill_tags(data_dir / KG22, groups)


@pytest.fixture(scope="session")
def hm_fill_tags(hm, data_dir, release_tmp, bcftools_bin):
    """fill-tags after +fixploidy (HapMap writes males diploid on X; the store counts them hemizygous)."""
    fixed = rh.fixploidy(data_dir / HM, hm.store.samples, release_tmp / "hm_fixed.vcf.gz",
                         ((1, 2_709_520), (154_584_238, 154_913_754)))  # NCBI36 PARs
    groups = rh.groups_file(hm.store.samples, ["pop.group", "sex"], release_tmp / "hm_groups.txt")
    return rh.fill_tags(fixed, groups)


@pytest.mark.parametrize("name", ["public_vcf", "controlled", "registered"])
def test_release_vcf__passes_bcftools_view_and_region_queries(kg22_releases, name, bcftools_bin):
    path = kg22_releases[name]
    proc = __import__("subprocess").run([bcftools_bin, "view", "-Ov", "-o", "/dev/null", str(path)],
                                        capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # no warning about undeclared tags either
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())["release"]
    assert int(rh.sh(bcftools_bin, "view", "-H", path).count("\n")) == meta["n_variants"] == 19_773
    assert path.with_name(path.name + ".tbi").exists()
    region = rh.sh(bcftools_bin, "view", "-H", "-r", "22:20000000-20100000", path).splitlines()
    pos = [int(line.split("\t")[1]) for line in region]
    assert pos and min(pos) >= 20_000_000 and max(pos) <= 20_100_000
    assert rh.sh(bcftools_bin, "view", "-h", path).count("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n") == 1


def test_controlled_vcf__every_count_is_fill_tags_overall_and_per_group(kg22_releases, kg22_fill_tags, kg22):
    """No rule but the sample-level one in the controlled tier: every count equals bcftools', in every group."""
    path = kg22_releases["controlled"]
    tags = [t for t in rh.info_tags(path) if t.split("_")[0] in ("AC", "AN", "NS")]
    ours, theirs = rh.aligned(rh.query(path, tags), kg22_fill_tags)
    assert len(ours) == len(kg22_fill_tags) == 19_773
    s = kg22.store.samples
    groups = [""] + [f"_{g}" for g in sorted(s["Population"].unique())] + ["_male", "_female"] + \
        [f"_{p}_{g}" for p, g in set(zip(s["Population"], s["Gender"]))]
    checked = 0
    for g in groups:
        for c in COUNTS:
            np.testing.assert_array_equal(ours[c + g].to_numpy(np.int64), theirs[c + g].to_numpy(np.int64), c + g)
            checked += 1
    assert checked == len(groups) * len(COUNTS)
    assert ours["AC"].between(1, 4).sum() > 5000  # the rare counts the public tier bands are here, exact


def test_public_vcf__published_counts_are_fill_tags_and_bands_hold_1_to_4(kg22_releases, kg22_fill_tags):
    path = kg22_releases["public_vcf"]
    tags = rh.info_tags(path)
    ours, theirs = rh.aligned(rh.query(path, tags), kg22_fill_tags)
    np.testing.assert_array_equal(ours["AN"], theirs["AN"])  # AN always published
    shown = ours["AC"].notna()
    np.testing.assert_array_equal(ours.loc[shown, "AC"], theirs.loc[shown, "AC"])
    band = ours["AC_band"].notna()
    assert (band == ~shown).all() and (ours.loc[band, "AC_band"] == "1-4").all()
    assert theirs.loc[band, "AC"].between(1, 4).all() and band.sum() > 5000
    assert (theirs.loc[shown, "AC"].eq(0) | theirs.loc[shown, "AC"].ge(5)).all()
    nhomalt = theirs["AC_Hom"] // 2 + theirs["AC_Hemi"]
    nb = ours["nhomalt_band"].notna()
    assert nb.sum() > 100 and nhomalt[nb].between(1, 4).all()
    for c in ("AC_Het", "AC_Hom", "AC_Hemi"):
        present = ours[c].notna()
        np.testing.assert_array_equal(ours.loc[present, c], theirs.loc[present, c])
    present = ours["nhomalt"].notna()
    np.testing.assert_array_equal(ours.loc[present, "nhomalt"], nhomalt[present])
    for tag in (t for t in tags if t.split("_")[0] in ("AC", "AN", "NS") and t not in COUNTS and "band" not in t):
        present = ours[tag].notna()
        np.testing.assert_array_equal(ours.loc[present, tag], theirs.loc[present, tag], tag)


@pytest.mark.parametrize("tier", ["controlled", "public"])
def test_release_vcf__chrX_hemizygotes_are_fill_tags_after_fixploidy(hm_releases, hm_fill_tags, hm, tier):
    path = hm_releases[tier]
    tags = [t for t in rh.info_tags(path) if t.split("_")[0] in ("AC", "AN", "NS") and "band" not in t]
    ours, theirs = rh.aligned(rh.query(path, tags), hm_fill_tags)
    x = (ours["contig"] == "X").to_numpy(dtype=bool)
    assert x.sum() == 365 and theirs.loc[x, "AC_Hemi"].sum() > 10_000
    for tag in tags:
        present = ours[tag].notna()
        if tier == "controlled":
            assert present.all(), tag
        np.testing.assert_array_equal(ours.loc[present, tag], theirs.loc[present, tag], tag)
    if tier == "public":
        hemi_band = rh.query(path, ["AC_Hemi_band"])["AC_Hemi_band"].notna()
        assert theirs.loc[hemi_band.to_numpy(), "AC_Hemi"].between(1, 4).all()


def test_controlled_vcf__hwe_exchet_f_missing_are_fill_tags(kg22_releases, data_dir, bcftools_bin):
    theirs = rh.fill_tags(data_dir / KG22, None, "HWE,ExcHet,F_MISSING")
    ours, theirs = rh.aligned(rh.query(kg22_releases["controlled"], ["HWE", "ExcHet", "F_MISSING"]), theirs)
    for tag in ("HWE", "ExcHet", "F_MISSING"):  # the VCF prints 6 significant digits, bcftools 6 as well
        np.testing.assert_allclose(ours[tag].to_numpy(float), theirs[tag].to_numpy(float), rtol=2e-5, atol=1e-12,
                                   err_msg=tag)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_dtype=True, check_exact=True)


def test_parquet_and_tsv__columns_equal_the_in_memory_table(kg22, kg22_releases):
    from gdbtools.release import build_release

    release, _ = build_release(kg22, export_opts(tier="public", by=("Population", "Gender"),
                                                 release_version="2026-12"), progress=False)
    table = release.table
    parquet = pd.read_parquet(kg22_releases["public_parquet"])
    _same(parquet, table)
    assert parquet.attrs["release"] == json.loads(json.dumps(release.meta))
    tsv = pd.read_csv(kg22_releases["public_tsv"], sep="\t", index_col=0, keep_default_na=False, na_values=["NA"],
                      dtype={"contig": str})
    tsv = tsv.astype(table.dtypes.to_dict())
    tsv.index = tsv.index.astype(table.index.dtype)
    tsv.index.name = table.index.name
    _same(tsv, table)
    from gdbtools.release.vcf import read_vcf

    vcf = read_vcf(kg22_releases["public_vcf"]).set_index(table.index)
    for c in table.columns:
        if c in ("AF", "F_MISSING", "HWE", "ExcHet") or c.startswith("AF_") and c != "AF_upper":
            # 6 significant digits in the text; htslib reads VCF floats as float32 (p-values below ~1e-38 lose
            # digits or become 0, as in any VCF)
            ours, mem = vcf[c].to_numpy(float, na_value=np.nan), table[c].to_numpy(float, na_value=np.nan)
            assert (np.isnan(ours) == np.isnan(mem)).all(), c
            normal = mem > 1e-37
            np.testing.assert_allclose(ours[normal], mem[normal], rtol=1e-5, err_msg=c)
            assert (ours[~normal & ~np.isnan(mem)] < 1e-37).all(), c
        elif c == "filter" or table[c].dtype == bool:
            assert (vcf[c].astype(str) == table[c].astype(str)).all(), c
        else:
            pd.testing.assert_series_equal(vcf[c].astype("string" if table[c].dtype == "string" else "Int64"),
                                           table[c].astype("string" if table[c].dtype == "string" else "Int64"),
                                           check_names=False)


def test_every_release__records_its_provenance_and_policy(kg22, kg22_releases, bcftools_bin):
    from gdbtools.outputs import read_provenance

    sha = hashlib.sha256((kg22.store.path / "manifest.json").read_bytes()).hexdigest()
    import gdbtools

    for name, path in kg22_releases.items():
        side = json.loads(path.with_name(path.name + ".meta.json").read_text())
        prov, rel = side["provenance"], side["release"]
        assert prov["store"]["manifest_sha256"] == sha and prov["gdbtools_version"] == gdbtools.__version__
        assert prov["params"]["by"] == ["Population", "Gender"] and prov["params"]["tier"] == rel["tier"]
        assert rel["date"] and [r["rule"] for r in rel["policy"]][0] == "no_sample_level_data"
        if rel["tier"] == "public":
            assert rel["version"] == "2026-12" and {r["rule"] for r in rel["policy"]} >= {
                "row_rule", "partition_rule", "group_size_rule", "deny_list", "release_difference_rule"}
        if name.endswith("parquet"):
            assert read_provenance(path)["store"]["manifest_sha256"] == sha
        if path.name.endswith(".vcf.gz"):
            header = rh.sh(bcftools_bin, "view", "-h", path)
            assert f"##store_manifest_sha256={sha}" in header
            assert f"##release_tier={rel['tier']}" in header and f"##release_version={rel['version']}" in header
            assert f"##gdbtools_version={gdbtools.__version__}" in header
            assert header.count("##privacy_rule=") == len(rel["policy"])
            for f in rel["filters"]:
                assert f"##FILTER=<ID={f}," in header


def test_export_cli__writes_refuses_an_existing_release_and_names_the_fix(kg22, tmp_path):
    out = tmp_path / "r.vcf.gz"
    args = ["export", kg22.store.path, "--tier", "public", "--by", "Gender", "--release-version", "1",
            "--backend", "host", "--out", out]
    proc = run_cli(*args)
    assert "public release 1" in proc.stdout and out.exists()
    again = run_cli(*args, check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    bad = run_cli("export", kg22.store.path, "--tier", "public", "--by", "Population", "--release-version", "2",
                  "--deny", "population", "--out", tmp_path / "d.vcf.gz", check=False)
    assert bad.returncode == 2 and "deny list" in bad.stderr and "fix:" in bad.stderr
    name = run_cli("export", kg22.store.path, "--tier", "controlled", "--format", "parquet", "--out",
                   tmp_path / "x.vcf.gz", check=False)
    assert name.returncode == 2 and ".parquet" in name.stderr
