"""``gdbtools freq`` and ``gdbtools qc``: outputs equal the API's tables; --help shows an example; errors exit 2.

One test runs the real ``python -m gdbtools`` process; the others invoke the click group in-process (fast).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import run_cli

import gdbtools
from gdbtools.cli import main
from gdbtools.stats import variables


class _Result:
    def __init__(self, r):
        self.returncode, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr


def cli(*args, check=True):
    """``gdbtools ARGS`` in this process (click's runner); raises on a non-zero exit unless check=False."""
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if check and r.exit_code != 0:
        raise AssertionError(f"gdbtools {' '.join(map(str, args))} exited {r.exit_code}:\n{r.output}")
    return _Result(r)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["freq", "qc"])
def test_cli__help_shows_an_example(command):
    out = cli(command, "--help").stdout
    assert f"gdbtools {command} store/" in out and "--backend" in out and "--samples" in out


def test_freq_cli__parquet_and_tsv_equal_the_api(small_store, tmp_path):
    run_cli("freq", small_store.path, "--by", "population", "--by", "sex", "--out", tmp_path / "f.parquet",
            "--backend", "numpy")
    api = gdbtools.open(small_store.path).freq(by=["population", "sex"], backend="numpy", client=False)
    got = pd.read_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(got, api)
    assert got.attrs["freq_meta"] == api.attrs["freq_meta"]
    cli("freq", small_store.path, "--raw", "--samples", "pipeline == 'gatk-4.2'", "--region",
            "chrX:2700000-2800000", "--out", tmp_path / "f.tsv.gz")
    tsv = pd.read_csv(tmp_path / "f.tsv.gz", sep="\t", index_col=0)
    sub = gdbtools.open(small_store.path).select(samples="pipeline == 'gatk-4.2'", region="chrX:2700000-2800000")
    want = sub.freq(adj=False, client=False)
    assert (tsv["AC"].to_numpy() == want["AC"].to_numpy()).all() and len(tsv) == len(want)
    meta = json.loads(Path(f"{tmp_path / 'f.tsv.gz'}.meta.json").read_text())
    assert meta["freq_meta"][0]["n_samples"] == sub.n_samples and meta["adj"] is False


def test_qc_cli__writes_every_table(small_store, tmp_path):
    out = tmp_path / "qc"
    proc = cli("qc", small_store.path, "--out", out)
    assert "n_outlier_samples=" in proc.stdout
    for name in ("variant_qc.parquet", "sample_qc.parquet", "sex_check.tsv", "sample_outliers.tsv",
                 "batch_check.parquet", "summary.json"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["batch_by"] == "pipeline" and summary["outliers_by"] == "population"
    sqc = pd.read_parquet(out / "sample_qc.parquet")
    api = gdbtools.open(small_store.path).sample_qc(client=False)
    pd.testing.assert_frame_equal(sqc, api)
    variables.check_table(pd.read_parquet(out / "variant_qc.parquet"), "variant_qc")


def test_cli__user_errors_exit_2(small_store, tmp_path):
    proc = cli("freq", small_store.path, "--by", "nope", "--out", tmp_path / "f.parquet", check=False)
    assert proc.returncode == 2 and "no sample column 'nope'" in proc.stderr and "fix:" in proc.stderr
    proc = cli("freq", small_store.path, "--out", tmp_path / "f.csv", check=False)
    assert proc.returncode == 2 and ".parquet or .tsv" in proc.stderr


def test_variables__every_column_is_documented_in_statistics_md():
    text = (REPO / "docs" / "STATISTICS.md").read_text()
    missing = [v.name for table in variables.TABLES.values() for v in table.values()
               if not re.search(rf"`{re.escape(v.name)}`", text)]
    assert not missing, f"columns not documented in docs/STATISTICS.md: {missing}"


def test_check_table__refuses_undeclared_columns_and_wrong_dtypes(small_store):
    f = gdbtools.open(small_store.path).select(region="chrX").freq(client=False)
    variables.check_table(f, "freq")
    with pytest.raises(ValueError, match="not declared"):
        variables.check_table(f.assign(AC_only_here_x=1.5).rename(columns={"AC_only_here_x": "bogus"}), "freq")
    with pytest.raises(ValueError, match="declared int32"):
        variables.check_table(f.astype({"AN": "float64"}), "freq")


# --- outputs: refused without --overwrite, replaced whole with it, provenance everywhere ------------------------

def test_qc_cli__refuses_an_existing_result_and_replaces_it_whole_with_overwrite(small_store, tmp_path):
    out = tmp_path / "qc"
    cli("qc", small_store.path, "--out", out, "--backend", "numpy")
    (out / "stale_other_layout.tsv").write_text("from another version\n")
    first = {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}
    again = run_cli("qc", small_store.path, "--out", out, "--backend", "numpy", check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr and str(out) in again.stderr
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()} == first  # untouched
    cli("qc", small_store.path, "--out", out, "--backend", "numpy", "--overwrite")
    now = {p.name: p.stat().st_ino for p in out.iterdir()}
    assert "stale_other_layout.tsv" not in now and "summary.json" in now
    assert not {(n, i) for n, i in now.items()} & {(n, v[0]) for n, v in first.items()}  # every file is new
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directories left


def test_freq_cli__refuses_an_existing_file_without_overwrite(small_store, tmp_path):
    out = tmp_path / "f.tsv"
    cli("freq", small_store.path, "--out", out, "--backend", "numpy")
    proc = cli("freq", small_store.path, "--out", out, "--backend", "numpy", check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    cli("freq", small_store.path, "--out", out, "--backend", "numpy", "--overwrite", "--raw")
    assert json.loads(Path(f"{out}.meta.json").read_text())["provenance"]["params"]["adj"] is False


def test_outputs__provenance_in_parquet_tsv_sidecars_and_summary(small_store, tmp_path):
    from gdbtools.outputs import read_provenance
    from gdbtools.store.format import sha256_file

    out = tmp_path / "qc"
    query = "pipeline == 'gatk-4.2'"
    before = datetime.now(UTC).replace(microsecond=0)
    cli("qc", small_store.path, "--out", out, "--backend", "numpy", "--samples", query, "--region", "chr1",
        "--region", "chrX", "--n-mads", "3.5")
    manifest_sha = sha256_file(Path(small_store.path) / "manifest.json")
    n_selected = gdbtools.open(small_store.path).select(samples=query).n_samples
    for name in ("variant_qc.parquet", "sample_qc.parquet", "sample_outliers.tsv", "summary.json"):
        prov = read_provenance(out / name)
        assert prov["store"] == {"path": str(Path(small_store.path).resolve()), "manifest_sha256": manifest_sha}
        assert prov["selection"]["samples"] == query and prov["selection"]["regions"] == ["chr1", "chrX"]
        assert prov["selection"]["n_samples"] == n_selected
        assert prov["params"]["n_mads"] == 3.5 and prov["params"]["unknown_sex"] == "exclude"
        assert prov["backend"] == "numpy" and prov["gdbtools_version"] == gdbtools.__version__
        assert prov["command"] == "qc" and datetime.fromisoformat(prov["time"]) >= before
    assert json.loads(Path(f"{out / 'sample_outliers.tsv'}.meta.json").read_text())["provenance"] == \
        read_provenance(out / "sample_outliers.tsv")
    assert pd.read_parquet(out / "variant_qc.parquet").attrs["provenance"]["store"]["manifest_sha256"] == manifest_sha


def test_qc_cli__says_which_outputs_it_skipped_and_why(small_store, tmp_path):
    out = tmp_path / "qc"
    proc = run_cli("qc", small_store.path, "--out", out, "--backend", "numpy", "--region", "chr1", "--batch-by",
                   "none")
    assert "sex_check.tsv not written" in proc.stderr and "batch_check.parquet not written" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["skipped"]) == {"sex_check.tsv", "batch_check.parquet"}
    assert "chrX" in summary["skipped"]["sex_check.tsv"]
    assert "--batch-by none" in summary["skipped"]["batch_check.parquet"]
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["written"])


def test_qc_cli__freq_from_the_same_pass_equals_gdbtools_freq(small_store, tmp_path):
    cli("qc", small_store.path, "--out", tmp_path / "qc", "--backend", "numpy", "--freq", "--by", "population")
    cli("freq", small_store.path, "--out", tmp_path / "f.parquet", "--backend", "numpy", "--by", "population")
    fused, alone = pd.read_parquet(tmp_path / "qc" / "freq.parquet"), pd.read_parquet(tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(fused, alone)
    assert fused.attrs["freq_meta"] == alone.attrs["freq_meta"]
