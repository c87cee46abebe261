"""``gdbtools burden`` end to end on the real 1kg chr22 store: the command (in-process and as a process), the
API, the files and their metadata, the pipeline step, and every clear error of issue 11 item 6.

Most tests look at a window of chr22 (``REGION``: a few dozen genes) to stay fast, with the tests other than
SKAT-O (``FAST_TESTS``); SKAT-O (seconds per gene today) runs on one gene (``ONE_GENE``) with the default
test list. The calibration tests (test_burden_calibration.py) use the whole chromosome.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from burden_helpers import write_tsv
from click.testing import CliRunner
from helpers import run_cli

import gdbtools
from gdbtools.cli import main
from gdbtools.outputs import read_provenance
from gdbtools.stats import variables

REGION = "22:17000000-24000000"
COVARIATES = "sex,age,PC1,PC2"
FAST_TESTS = "burden,skat,acatv,acato"
ONE_GENE = "22:17082801-17100000"  # TPTEP1: 18 variants of AF <= 1 %


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def burden_args(store, pheno, genes, out, *extra):
    tests = [] if "--tests" in extra else ["--tests", FAST_TESTS]
    return ["burden", store.path, "--phenotypes", pheno, "--trait", "q", "--covariates", COVARIATES,
            "--genes", genes, "--region", REGION, "--out", out, "--backend", "numpy", *tests, *extra]


def test_burden_cli__table_metadata_and_api_agree(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    out = tmp_path / "q.parquet"
    r = cli(*burden_args(chr22_store, chr22_pheno_tsv, chr22_genes, out, "--max-af", "0.01", "--max-af", "0.05",
                         "--singletons"))
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    variables.check_table(table, "burden")
    assert list(table.columns) == list(variables.BURDEN)
    api = gdbtools.open(chr22_store.path).select(region=REGION).burden(
        chr22_pheno_tsv, "q", covariates=["sex", "age", "PC1", "PC2"], genes=chr22_genes, max_af=[0.01, 0.05],
        singletons=True, tests=FAST_TESTS.split(","), backend="numpy", progress=False)
    pd.testing.assert_frame_equal(table, api)
    # one row per gene x mask x bin x test, then one ACAT-O row per gene
    genes = table["gene"].unique()
    per_gene = table.groupby("gene", sort=False).size()
    assert (per_gene == 3 * 3 + 1).all()  # bins 0.01, 0.05, singleton x 3 tests + acato
    acato = table[table["test"] == "acato"]
    assert len(acato) == len(genes) and (acato["mask"] == "*").all() and (acato["bin"] == "*").all()
    assert set(table.loc[table["bin"] == "singleton", "max_af"].isna()) == {True}
    # cumulative bins: a variant of the 1% bin is in the 5% bin
    wide = table[table["test"] == "burden"].pivot(index="gene", columns="bin", values="n_variants")
    assert (wide["0.01"] <= wide["0.05"]).all() and (wide["singleton"] <= wide["0.01"]).all()
    # p where variants qualify, NaN (and listed) where none does
    tested = table[(table["n_variants"] > 0) & (table["test"] != "acato")]
    assert tested["p"].between(0, 1).mean() > 0.95 and (tested.loc[tested["p"].notna(), "p_method"] != "").all()
    assert table.loc[table["n_variants"] == 0, "p"].isna().all()
    meta = table.attrs
    null = meta["null_model"]
    assert null["n"] == 1092 and null["kind"] == "linear" and list(null["covariates"]) == ["sex", "age", "PC1", "PC2"]
    assert sum(meta["p_methods"].values()) == int(table["p"].notna().sum())
    prov = read_provenance(out)
    assert prov["command"] == "burden" and prov["params"]["trait"] == "q" and prov["params"]["max_af"] == [0.01, 0.05]
    assert prov["selection"]["regions"] == [REGION]


def test_burden_cli__default_tests_on_one_gene(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    out = tmp_path / "one.parquet"
    r = cli("burden", chr22_store.path, "--phenotypes", chr22_pheno_tsv, "--trait", "q", "--genes", chr22_genes,
            "--region", ONE_GENE, "--out", out)
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    assert table["gene"].tolist() == ["TPTEP1"] * 5
    assert table["test"].tolist() == ["burden", "skat", "skato", "acatv", "acato"]
    assert table["p"].between(0, 1).all() and table["n_variants"].iloc[0] > 1
    skato = table.set_index("test").loc["skato"]
    assert skato["rho"] in (0.0, 0.01, 0.04, 0.09, 0.25, 0.5, 1.0) and skato["stat"] >= 0


def test_burden_cli__tsv_sidecar_and_overwrite_rules(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    out = tmp_path / "q.tsv"
    args = burden_args(chr22_store, chr22_pheno_tsv, chr22_genes, out, "--tests", "burden,acato")
    assert cli(*args).exit_code == 0
    table = pd.read_csv(out, sep="\t", index_col=0)
    assert set(table["test"]) == {"burden", "acato"}
    side = json.loads(Path(f"{out}.meta.json").read_text())
    assert side["null_model"]["n"] == 1092 and side["provenance"]["params"]["tests"] == ["burden,acato"]
    again = cli(*args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert cli(*args, "--overwrite").exit_code == 0


def test_burden_process__binary_trait(chr22_store, chr22_pheno, chr22_pheno_tsv, chr22_genes, tmp_path):
    out = tmp_path / "b.parquet"
    proc = run_cli("burden", chr22_store.path, "--phenotypes", chr22_pheno_tsv, "--trait", "b", "--binary",
                   "--covariates", "sex", "--covariates", "PC1,PC2", "--genes", chr22_genes, "--region", REGION,
                   "--tests", "burden,skat,acato", "--out", out)
    n_cases = int(chr22_pheno["b"].sum())
    assert f"{n_cases} cases / {1092 - n_cases} controls" in proc.stdout
    table = pd.read_parquet(out)
    null = table.attrs["null_model"]
    assert null["kind"] == "logistic" and null["n_cases"] == n_cases and null["n_controls"] == 1092 - n_cases
    assert set(table["test"]) == {"burden", "skat", "acato"}
    assert table["p"].notna().any()


def test_burden__genes_without_qualifying_variants_are_listed(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    """1,092 samples: no polymorphic variant has AF <= 1e-4 (the smallest is 1/2184; monomorphic ones never
    qualify), so that bin is empty in every gene, and a gene with common variants only has an empty 1% bin:
    all listed, counted in the metadata."""
    cohort = gdbtools.open(chr22_store.path).select(region=REGION)
    table = cohort.burden(chr22_pheno_tsv, "q", genes=chr22_genes, max_af=[0.01, 0.0001], tests=["burden", "skat"],
                          backend="numpy", progress=False)
    tiny = table[table["bin"] == "0.0001"]
    assert len(tiny) == 2 * table["gene"].nunique() and (tiny["n_variants"] == 0).all() and tiny["p"].isna().all()
    meta = table.attrs["genes"]
    empty = table.drop_duplicates(["gene", "mask", "bin"])
    assert meta["n_mask_bins_without_qualifying_variants"] == int((empty["n_variants"] == 0).sum())
    none_at_all = empty.groupby("gene")["n_variants"].max()
    assert meta["n_genes_without_qualifying_variants"] == int((none_at_all == 0).sum())


# -------------------------------------------------------------------------------------------- item 6: errors
def _pheno(df: pd.DataFrame, tmp_path: Path, name: str = "p.tsv") -> Path:
    return write_tsv(df, tmp_path / name)


def test_burden__sample_mismatch_is_counted_and_recorded(chr22_store, chr22_pheno, chr22_genes, tmp_path):
    df = chr22_pheno.iloc[40:].copy()  # 40 store samples without phenotypes
    extra = df.iloc[:3].copy()
    extra["sample_id"] = ["NOT_IN_STORE_1", "NOT_IN_STORE_2", "NOT_IN_STORE_3"]
    df = pd.concat([df, extra])
    df.loc[df.index[5:12], "q"] = np.nan      # 7 missing trait values
    df.loc[df.index[20:23], "age"] = np.nan   # 3 missing covariate values (other samples)
    out = tmp_path / "r.parquet"
    r = cli(*burden_args(chr22_store, _pheno(df, tmp_path), chr22_genes, out, "--tests", "burden"))
    assert r.exit_code == 0, r.output
    report = pd.read_parquet(out).attrs["phenotypes"]
    text = json.dumps(report)
    assert report["n_used"] == 1092 - 40 - 7 - 3
    assert "NOT_IN_STORE_1" in text and chr22_pheno["sample_id"].iloc[0] in text
    assert report["in_file_not_store"]["n"] == 3 and report["in_store_not_file"]["n"] == 40
    assert report["missing_trait"]["n"] == 7 and report["missing_covariate"] == {"sex": 0, "age": 3, "PC1": 0, "PC2": 0}
    assert pd.read_parquet(out).attrs["null_model"]["n"] == 1092 - 50


def test_burden__samples_query_narrows_the_analysis(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    out = tmp_path / "gbr.parquet"
    r = cli(*burden_args(chr22_store, chr22_pheno_tsv, chr22_genes, out, "--tests", "burden", "--samples",
                         "Population == 'GBR'"))
    assert r.exit_code == 0, r.output
    assert pd.read_parquet(out).attrs["null_model"]["n"] == 89


@pytest.mark.parametrize("case", ["non_numeric", "constant_covariate", "collinear", "binary_one_class",
                                  "binary_not_01", "unknown_trait"])
def test_burden__clear_errors(case, chr22_store, chr22_pheno, chr22_genes, tmp_path):
    df = chr22_pheno.copy()
    trait, covariates, binary, expect = "q", COVARIATES, [], []
    if case == "non_numeric":
        df["q"] = df["q"].astype(object)
        df.loc[17, "q"] = "high"
        expect = ["q", "high"]
    elif case == "constant_covariate":
        df["batch"] = 1.0
        covariates, expect = COVARIATES + ",batch", ["batch", "constant"]
    elif case == "collinear":
        df["age_months"] = df["age"] * 12
        covariates, expect = COVARIATES + ",age_months", ["linear combination", "age_months", "collinear"]
    elif case == "binary_one_class":
        df["b"] = 0
        trait, binary, expect = "b", ["--binary"], ["one class"]
    elif case == "binary_not_01":
        df["b"] = df["b"] + 1
        trait, binary, expect = "b", ["--binary"], ["other than 0 and 1", "values 2"]
    elif case == "unknown_trait":
        trait, expect = "ldl", ["ldl"]
    args = burden_args(chr22_store, _pheno(df, tmp_path), chr22_genes, tmp_path / "x.parquet", *binary)
    args[args.index("--trait") + 1] = trait
    args[args.index("--covariates") + 1] = covariates
    r = cli(*args)
    assert r.exit_code == 2, r.output
    assert "fix:" in r.stderr
    for word in expect:
        assert word.lower() in r.stderr.lower(), (word, r.stderr)
    assert not (tmp_path / "x.parquet").exists()


def test_burden__bad_options_are_refused(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path):
    base = burden_args(chr22_store, chr22_pheno_tsv, chr22_genes, tmp_path / "x.parquet")
    r = cli(*base, "--tests", "burden,skat2")
    assert r.exit_code == 2 and "skat2" in r.stderr
    r = cli(*[a if a != tmp_path / "x.parquet" else tmp_path / "x.csv" for a in base])
    assert r.exit_code == 2 and ".parquet or .tsv" in r.stderr
    r = cli(*base, "--af-from", "info_AF")
    assert r.exit_code == 2 and "info_AF" in r.stderr
    r = CliRunner().invoke(main, ["burden", str(chr22_store.path), "--out", str(tmp_path / "y.parquet")])
    assert r.exit_code == 2 and "--phenotypes" in r.output


def test_burden_pipeline_step__reruns_when_the_phenotypes_change(chr22_store, chr22_pheno, chr22_genes, tmp_path):
    from gdbtools.pipeline import run

    pheno = _pheno(chr22_pheno, tmp_path, "pheno.tsv")
    spec = {"inputs": {"store": str(chr22_store.path)}, "outputs": {"dir": str(tmp_path / "res")},
            "steps": [{"kind": "burden", "name": "q_burden", "phenotypes": "pheno.tsv", "trait": "q",
                       "covariates": ["sex", "age"], "genes": str(chr22_genes), "regions": [REGION],
                       "tests": ["burden", "acato"], "backend": "numpy"}]}
    first = run(spec, base_dir=tmp_path, quiet=True)
    assert first.ok and first.step("q_burden")["outcome"] == "done"
    table = pd.read_parquet(tmp_path / "res" / "q_burden.parquet")
    assert table.attrs["null_model"]["n"] == 1092 and read_provenance(tmp_path / "res" / "q_burden.parquet")
    assert run(spec, base_dir=tmp_path, quiet=True).step("q_burden")["outcome"] == "skipped"
    changed = chr22_pheno.copy()
    changed.loc[:9, "q"] = np.nan
    write_tsv(changed, pheno)
    third = run(spec, base_dir=tmp_path, quiet=True)
    assert third.step("q_burden")["outcome"] == "done" and "phenotypes" in third.step("q_burden")["reason"]
    assert pd.read_parquet(tmp_path / "res" / "q_burden.parquet").attrs["null_model"]["n"] == 1082


@pytest.mark.parametrize("score", ["max", "sum"])
def test_burden__every_score_kind_tests_every_qualifying_bin(score, chr22_store, chr22_pheno_tsv, chr22_genes):
    """`max` and `sum` scores: a p wherever a mask x bin has a polymorphic qualifying variant (monomorphic ones,
    e.g. an alt allele every sample carries, would make `max` constant: they qualify for nothing). The 50 % bin
    is computed too, but where every sample has a common alt allele `max` can be constant (no test, p NaN)."""
    table = gdbtools.open(chr22_store.path).select(region=REGION).burden(
        chr22_pheno_tsv, "q", genes=chr22_genes, max_af=[0.01, 0.5], tests=["burden"], score=score,
        backend="numpy", progress=False)
    assert (table["score"] == score).all()
    tested = table[table["n_variants"] > 0]
    assert (tested["mac"] > 0).all() and tested.loc[tested["bin"] == "0.5", "p"].notna().mean() > 0.9
    rare = tested[tested["bin"] == "0.01"]
    assert len(rare) > 50 and rare["p"].notna().all()
