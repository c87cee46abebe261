"""Sample QC against plink2 --sample-counts / --missing / --het and a per-genotype re-implementation of Hail's rules.

Hail's conventions (``hl.sample_qc``): allele counts (n_snp, n_transition, n_insertion...) count alternate
*alleles*: a het 1, a hom-var 2, a haploid alt 1.  plink2's --sample-counts counts genotypes, so the allele
counts are checked per allele class (variants extracted by a REF/ALT classification written in this file)
as HET + 2 HOM_ALT + HAP_ALT.

Tolerances: counts exactly equal; plink2 --het E(HOM) relative 2e-6 and F relative 1e-5 (+1e-7 absolute),
printed with 6 significant digits; call rate relative 1e-5 (printed F_MISS).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import stats_oracles as so

import gdbtools
from gdbtools.stats import sample_outliers
from gdbtools.stats.outliers import _nanmedian, _row_codes
from gdbtools.stats.variables import check_table

TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}


def _snp_pair(ref: str, alt: str):
    """The differing bases of an equal-length pair that differs at exactly one position (Hail's SNP), else None."""
    if len(ref) != len(alt) or not alt.isalpha():
        return None
    diff = [(r, a) for r, a in zip(ref, alt) if r != a]
    return diff[0] if len(diff) == 1 else None


def _classes(split_vcf) -> dict[str, list[str]]:
    """Variant ids (chr:pos:ref:alt) by allele class, from REF/ALT strings (Hail's definitions:
    SNP = same length, one differing base; insertion = alt is ref with bases inserted after the first)."""
    text = so.sh("bcftools", "query", "-f", "%CHROM:%POS:%REF:%ALT\t%REF\t%ALT\n", split_vcf)
    df = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=["id", "ref", "alt"], dtype=str,
                     keep_default_na=False)
    pairs = [_snp_pair(r, a) for r, a in zip(df.ref, df.alt)]
    snp = np.array([p is not None for p in pairs])
    ti = np.array([p in TRANSITIONS for p in pairs])
    ins = np.array([len(r) < len(a) and r[0] == a[0] and a.endswith(r[1:]) for r, a in zip(df.ref, df.alt)])
    dele = np.array([len(a) < len(r) and r[0] == a[0] and r.endswith(a[1:]) for r, a in zip(df.ref, df.alt)])
    return {"n_transition": list(df.id[ti]), "n_transversion": list(df.id[snp & ~ti]),
            "n_insertion": list(df.id[ins]), "n_deletion": list(df.id[dele])}


def test_sample_qc__matches_plink2_sample_counts(kg, kg_results, kg_split, kg_pfile, stats_tmp):
    s = kg_results.sample_qc
    sc = so.plink2_sample_counts(kg_pfile, stats_tmp / "kg_sc").loc[s["sample_id"]]
    np.testing.assert_array_equal(s["n_hom_ref"], sc["HOM_REF_CT"] + sc["HAP_REF_CT"])
    np.testing.assert_array_equal(s["n_het"], sc["HET_CT"])
    np.testing.assert_array_equal(s["n_hom_var"], sc["HOM_ALT_CT"] + sc["HAP_ALT_CT"])
    np.testing.assert_array_equal(s["n_not_called"], sc["MISSING_CT"])
    assert sc["HAP_ALT_CT"].sum() > 10_000
    # singletons, on the autosomes.  plink2 counts a sample's genotype as a singleton when it is the only
    # carrier, so a lone hom-alt (AC = 2) counts there but not in Hail (alleles with AC = 1); and on chrX it
    # counts an ALT seen in one female and one male as the female's singleton.  Lone hom-alt carriers are
    # added back from the store's calls (checked against bcftools by the ingest tests).
    auto_ids = [str(c) for c in range(1, 23)]
    s_auto = kg.select(region=auto_ids).sample_qc()
    sc_auto = so.plink2_sample_counts(kg_pfile, stats_tmp / "kg_sc_auto",
                                      extra=("--chr", "1-22")).loc[s["sample_id"]]
    codes = np.concatenate([b.codes() for c in auto_ids for b in kg.store.blocks(region=c)])
    carriers = (codes == 1) | (codes == 2)
    lone_hom = (carriers.sum(axis=1) == 1)[:, None] & (codes == 2)
    np.testing.assert_array_equal(s_auto["n_singleton"] + lone_hom.sum(axis=0), sc_auto["SINGLETON_CT"])
    assert s_auto["n_singleton"].sum() > 1000 and lone_hom.sum() > 0
    for column, ids in _classes(kg_split).items():
        part = so.plink2_sample_counts(kg_pfile, stats_tmp / f"kg_sc_{column}", extract=ids).loc[s["sample_id"]]
        np.testing.assert_array_equal(s[column], part["HET_CT"] + 2 * part["HOM_ALT_CT"] + part["HAP_ALT_CT"],
                                      err_msg=column)
        assert s[column].min() > 0
    np.testing.assert_array_equal(s["n_snp"], s["n_transition"] + s["n_transversion"])
    np.testing.assert_allclose(s["r_ti_tv"], s["n_transition"] / s["n_transversion"])
    np.testing.assert_allclose(s["r_het_hom_var"], s["n_het"] / s["n_hom_var"])
    np.testing.assert_allclose(s["r_insertion_deletion"], s["n_insertion"] / s["n_deletion"])


def test_sample_qc__missingness_matches_plink2_missing(hm, hm_plink):
    s = hm.sample_qc()
    smiss = hm_plink["smiss"].set_index("#IID").loc[s["sample_id"]]
    np.testing.assert_array_equal(s["n_not_called"], smiss["MISSING_CT"])
    np.testing.assert_array_equal(s["n_called"] + s["n_not_called"], smiss["OBS_CT"])
    np.testing.assert_allclose(1 - s["call_rate"], smiss["F_MISS"], rtol=1e-5, atol=1e-8)
    assert smiss["MISSING_CT"].sum() > 5000


@pytest.mark.parametrize("name", ["kg", "hm"])
def test_sample_qc__inbreeding_f_matches_plink2_het(name, request):
    cohort = request.getfixturevalue(name)
    plink = request.getfixturevalue(f"{name}_plink")
    s = cohort.sample_qc()
    het = plink["het"].set_index("#IID").loc[s["sample_id"]]
    np.testing.assert_array_equal(s["f_n_called"], het["OBS_CT"])
    np.testing.assert_array_equal(s["f_observed_homs"], het["O(HOM)"])
    np.testing.assert_allclose(s["f_expected_homs"], het["E(HOM)"], rtol=2e-6)
    np.testing.assert_allclose(s["f_stat"], het["F"], rtol=1e-5, atol=1e-7)
    assert s["f_stat"].std() > 0.01


def _hail_reference(store, selected, adj: bool, unknown_sex="exclude"):
    """Hail's sample_qc rules per genotype, on decoded codes with gnomAD's ploidy adjustment (plain NumPy)."""
    from gdbtools.genome import get_build

    variants = store.variants(["contig", "pos", "allele_type", "is_transition"])
    codes = np.concatenate([b.codes(adj=adj) for b in store.blocks()])[:, selected].astype(np.int64)
    sex = store.samples["sex"].to_numpy(dtype=object)[selected]
    build = get_build(store.build_name)
    is_x = variants["contig"].str.replace("chr", "").eq("X").to_numpy()
    par = build.in_par("X", variants["pos"].to_numpy())
    out = {k: np.zeros(codes.shape[1], np.int64) for k in ("called", "not", "het", "homvar", "homref", "snp", "ti",
                                                            "tv", "ins", "del", "single")}
    atype = variants["allele_type"].to_numpy(dtype=object)
    ti = variants["is_transition"].to_numpy(dtype=bool)
    for v in range(codes.shape[0]):
        c = codes[v].copy()
        haploid = np.zeros(c.size, bool)
        excluded = np.zeros(c.size, bool)
        if is_x[v] and not par[v]:
            haploid = sex == "XY"
            excluded = ~np.isin(sex, ["XX", "XY"]) if unknown_sex == "exclude" else np.zeros(c.size, bool)
        c[haploid & (c == 1)] = 3  # a het where haploid is missing
        c[excluded] = -1
        alleles = np.where(c == 1, 1, 0) + np.where(c == 2, np.where(haploid, 1, 2), 0)
        out["called"] += (c >= 0) & (c <= 2)
        out["not"] += c == 3
        out["het"] += c == 1
        out["homvar"] += c == 2
        out["homref"] += c == 0
        if alleles.sum() == 1:
            out["single"] += alleles
        if atype[v] == "SNP":
            out["snp"] += alleles
            out["ti" if ti[v] else "tv"] += alleles
        out["ins"] += alleles * (atype[v] == "Insertion")
        out["del"] += alleles * (atype[v] == "Deletion")
    return out


@pytest.mark.parametrize("adj", [False, True])
def test_sample_qc__hail_rules_per_genotype(small_store, adj):
    """Every count of the simulated cohort (chr1 + chrX across PAR1, GQ/DP/AD filters) against a per-genotype
    implementation of Hail's sample_qc with the ploidy of gnomAD (XY haploid outside the PARs)."""
    cohort = gdbtools.open(small_store.path).select(samples="population != 'eas'")
    selected = cohort.selection.samples
    s = cohort.sample_qc(adj=adj)
    ref = _hail_reference(small_store, selected, adj)
    pairs = {"n_called": "called", "n_not_called": "not", "n_het": "het", "n_hom_var": "homvar",
             "n_hom_ref": "homref", "n_snp": "snp", "n_transition": "ti", "n_transversion": "tv",
             "n_insertion": "ins", "n_deletion": "del", "n_singleton": "single"}
    for ours, theirs in pairs.items():
        np.testing.assert_array_equal(s[ours], ref[theirs], err_msg=ours)
    if adj:
        raw = cohort.sample_qc(adj=False)
        np.testing.assert_array_equal(s["n_filtered"], raw["n_called"] - s["n_called"])
        assert s["n_filtered"].sum() > 0
    else:
        assert (s["n_filtered"] == 0).all()


def test_sample_qc__columns_declared(kg_results):
    check_table(kg_results.sample_qc, "sample_qc")
    assert kg_results.sample_qc.index.name == "sample_index"


def _planted_bad_samples(n: int, seed: int) -> np.ndarray:
    """The ~1 % samples that gdbtools.simulate gives 8 % extra missing calls (its RNG draws replayed)."""
    rng = np.random.default_rng(seed)
    rng.random(n)  # sex
    pipeline = np.where(rng.random(n) < 0.65, 0, 1)
    rng.choice(5, size=n, p=[0.3, 0.2, 0.2, 0.15, 0.15])  # region
    rng.gamma(2.0, 0.01 / 2.0, n) * np.where(pipeline == 1, 1.6, 0.7)
    return rng.random(n) < 0.01


def test_sample_outliers__mad_rule_and_the_planted_bad_samples(small_store):
    cohort = gdbtools.open(small_store.path)
    sqc = cohort.sample_qc()
    out = cohort.sample_outliers(by="pipeline", metrics=("call_rate", "n_het", "r_ti_tv"), sample_qc=sqc)
    check_table(out, "sample_outliers")
    bad = _planted_bad_samples(300, 11)
    assert 1 <= bad.sum() <= 10
    assert out["fail_call_rate"].to_numpy()[bad].all()
    assert out["fail_call_rate"].mean() < 0.1
    # the rule itself, group by group, with pandas
    groups = cohort.store.samples["pipeline"]
    for m in ("call_rate", "n_het", "r_ti_tv"):
        for _g, idx in sqc.groupby(groups.reindex(sqc.index).to_numpy()).groups.items():
            x = sqc.loc[idx, m].astype(float)
            med = x.median()
            mad = 1.4826 * (x - med).abs().median()
            want = (x < med - 4 * mad) | (x > med + 4 * mad)
            np.testing.assert_array_equal(out.loc[idx, f"fail_{m}"], want)
            np.testing.assert_allclose(out.loc[idx, f"{m}_mad"], mad)
    assert set(out.loc[out["outlier"], "qc_metrics_filters"].str.split(",").explode()) <= {"call_rate", "n_het",
                                                                                           "r_ti_tv"}
    assert (out["qc_metrics_filters"] == "").sum() == (~out["outlier"]).sum()


def test_sample_outliers__nan_never_fails_and_one_group():
    sqc = pd.DataFrame({"sample_id": list("abcdef"), "x": [1.0, 1.1, 0.9, 1.0, np.nan, 9.0]},
                       index=pd.Index(range(6), name="sample_index"))
    out = sample_outliers(sqc, None, metrics=["x"], n_mads=4)
    assert out["fail_x"].tolist() == [False, False, False, False, False, True]
    assert out["group"].isna().all()


def test_sample_outliers__medians_are_pandas_groupby_medians():
    """The NumPy group medians and MADs against pandas' groupby-transform, with NaN values and null groups."""
    rng = np.random.default_rng(11)
    n = 3001
    sqc = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "n_het": rng.normal(100, 10, n).round(),
                        "r_ti_tv": rng.gamma(4, 0.5, n)}, index=pd.Index(np.arange(n), name="sample_index"))
    sqc.loc[sqc.index[::13], "r_ti_tv"] = np.nan
    groups = pd.Series(rng.choice(["afr", "nfe", "eas", None], n), index=sqc.index, dtype="string")
    out = sample_outliers(sqc, groups, metrics=("n_het", "r_ti_tv"), n_mads=3.0)
    key = groups.fillna("NA")
    for m in ("n_het", "r_ti_tv"):
        med = sqc[m].groupby(key).transform("median")
        mad = 1.4826 * (sqc[m] - med).abs().groupby(key).transform("median")
        np.testing.assert_array_equal(out[f"{m}_median"].to_numpy(), med.to_numpy())
        np.testing.assert_array_equal(out[f"{m}_mad"].to_numpy(), mad.to_numpy())
        fail = ((sqc[m] < med - 3 * mad) | (sqc[m] > med + 3 * mad)) & sqc[m].notna()
        np.testing.assert_array_equal(out[f"fail_{m}"].to_numpy(), fail.to_numpy())
    assert out["outlier"].any() and not out["outlier"].all()
    # each sample's label names its failing metrics, in the metrics' order
    want = [",".join(m for m in ("n_het", "r_ti_tv") if row[f"fail_{m}"]) for _, row in out.iterrows()]
    assert out["qc_metrics_filters"].tolist() == want
    assert len(set(want)) >= 3  # several sets of failures (none, one metric, the other)


@pytest.mark.parametrize("k", [1, 10, 40])
def test_row_codes__same_partition_as_numpy_unique_rows(k):
    """The outlier table's failure sets: one code per distinct row, as ``np.unique(axis=0)`` (k > 31: two words)."""
    m = np.random.default_rng(k).random((5000, k)) < 0.2
    m[:, 0] = False  # some columns never fail
    ours = _row_codes(m)
    theirs = np.unique(m, axis=0, return_inverse=True)[1].reshape(-1)
    assert len(set(zip(ours.tolist(), theirs.tolist()))) == len(set(ours.tolist())) == len(set(theirs.tolist()))


def test_nanmedian__equals_numpys_without_loading_numpy_ma():
    """The outlier medians: NumPy's nanmedian bit for bit (odd, even, ties, NaN, infinities, all NaN), and no
    numpy.ma (np.median imports it on its first call: 0.025 s of every gdbtools qc)."""
    import subprocess
    import sys
    import warnings

    rng = np.random.default_rng(11)
    cases = [rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5) for n in (1, 2, 3, 10, 11, 1000, 1001)]
    cases += [np.array([np.nan, 1.0, 2.0]), np.array([np.nan, np.nan]), np.array([1.0, np.inf, 2.0, -np.inf]),
              np.array([3.0, 3.0, 1.0, 1.0]), rng.integers(0, 5, 501).astype(float), np.array([0.1, 0.2])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for values in cases:
            want = np.nanmedian(values)
            assert np.array_equal(_nanmedian(values), want, equal_nan=True), values
    code = ("import sys, numpy as np\nfrom gdbtools.stats.outliers import _nanmedian\n"
            "_nanmedian(np.array([1.0, np.nan, 3.0]))\nprint('numpy.ma' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
