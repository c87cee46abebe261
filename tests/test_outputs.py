"""gdbtools.outputs.replacing and write_table on plain files: whole or nothing, refused without overwrite."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from gdbtools.outputs import OutputExists, read_provenance, replacing, write_table


def _table() -> pd.DataFrame:
    df = pd.DataFrame({"AC": [1, 2]}, index=pd.Index([10, 11], name="variant_index"))
    df.attrs["freq_meta"] = [{"group": "adj"}]
    return df


def test_replacing__refuses_then_replaces_the_table_and_its_sidecar_only(tmp_path):
    out = tmp_path / "f.tsv"
    neighbour = tmp_path / "f.tsv.gz"
    neighbour.write_text("someone else's file\n")
    with replacing(out, overwrite=False) as tmp:
        write_table(_table(), tmp / out.name, {"run": 1})
    assert read_provenance(out) == {"run": 1}
    with pytest.raises(OutputExists, match="--overwrite"):
        with replacing(out, overwrite=False) as tmp:
            raise AssertionError("not reached")
    with replacing(out, overwrite=True) as tmp:
        write_table(_table(), tmp / out.name, {"run": 2})
    assert read_provenance(out) == {"run": 2} and neighbour.read_text() == "someone else's file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tsv", "f.tsv.gz", "f.tsv.meta.json"]


def test_replacing__a_failure_inside_leaves_the_old_result_whole(tmp_path):
    out = tmp_path / "qc"
    with replacing(out, overwrite=False, directory=True) as tmp:
        (tmp / "a.txt").write_text("first\n")
    with pytest.raises(RuntimeError):
        with replacing(out, overwrite=True, directory=True) as tmp:
            (tmp / "b.txt").write_text("half\n")
            raise RuntimeError("crash midway")
    assert [p.name for p in tmp_path.iterdir()] == ["qc"] and (out / "a.txt").read_text() == "first\n"
    assert not (out / "b.txt").exists()


def test_write_table__parquet_keeps_attrs_and_provenance(tmp_path):
    path = write_table(_table(), tmp_path / "t.parquet", {"store": {"path": "/s"}})
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, _table())
    assert back.attrs == {"freq_meta": [{"group": "adj"}], "provenance": {"store": {"path": "/s"}}}
    tsv = write_table(_table(), tmp_path / "t.tsv", {"store": {"path": "/s"}})
    assert json.loads((tmp_path / "t.tsv.meta.json").read_text()) == back.attrs
    assert pd.read_csv(tsv, sep="\t", index_col=0)["AC"].tolist() == [1, 2]


def _every_dtype() -> pd.DataFrame:
    """A frame with every kind of column the result tables hold, and the awkward values of each."""
    rng = np.random.default_rng(3)
    n = 400
    floats = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 20, n)
    floats[::7] = np.nan
    floats[1:4] = [np.inf, -np.inf, -0.0]
    floats[5:9] = [1e16, 1e-5, 0.0001, 123456789.0]
    text = np.array([f"s{i}" for i in range(n)], dtype=object)
    text[10:15] = ["a\tb", 'q"uote', "line\nbreak", "", "cr\rx"]
    return pd.DataFrame({
        "f64": floats, "f32": floats.astype(np.float32),
        "repeated": np.resize([0.0, -0.0, 1.5, np.nan, 9312.0], n), "i32": rng.integers(-5, 5, n).astype(np.int32),
        "i64": rng.integers(0, 2**40, n), "u8": rng.integers(0, 255, n).astype(np.uint8),
        "flag": rng.random(n) < 0.5, "text": text,
        "string": pd.array([None if i % 5 == 0 else f"g{i % 3}" for i in range(n)], dtype="string"),
        "Int32": pd.array([None if i % 4 == 0 else i for i in range(n)], dtype="Int32"),
        "mixed": np.array([None if i % 6 == 0 else (i if i % 2 else i / 3) for i in range(n)], dtype=object),
    }, index=pd.Index(np.arange(n) * 3, name="sample_index"))


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_write_table__tsv_text_is_pandas_to_csv(tmp_path, suffix):
    """The column-wise TSV writer gives pandas' to_csv text, byte for byte, on every dtype of the tables."""
    df = _every_dtype()
    ours = write_table(df, tmp_path / f"ours{suffix}")
    theirs = tmp_path / f"theirs{suffix}"
    df.to_csv(theirs, sep="\t", index=True, na_rep="NA", compression="gzip" if suffix.endswith("gz") else None)
    read = gzip.open if suffix.endswith("gz") else open
    with read(ours, "rb") as a, read(theirs, "rb") as b:
        assert a.read() == b.read()
    unnamed = df.reset_index(drop=True)
    write_table(unnamed, tmp_path / "unnamed.tsv")
    assert (tmp_path / "unnamed.tsv").read_bytes().decode() == unnamed.to_csv(sep="\t", na_rep="NA")


def test_write_table__unknown_suffix_is_refused(tmp_path):
    from gdbtools.errors import GdbError

    with pytest.raises(GdbError, match="use a .parquet or .tsv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv", {})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, expect", [
    (["--batch-by", "nosuch"], "--batch-by nosuch: no such sample column"),
    (["--outliers-by", "nosuch"], "--outliers-by nosuch: no such sample column"),
])
def test_qc__unknown_column_exits_2_naming_the_columns(small_store, tmp_path, args, expect):
    from click.testing import CliRunner

    from gdbtools.cli import main

    r = CliRunner().invoke(main, ["qc", str(small_store.path), "--out", str(tmp_path / "qc"), *args])
    assert r.exit_code == 2 and expect in r.output and "population" in r.output, r.output
    assert not (tmp_path / "qc").exists()


def test_tsv_text__a_table_without_rows_is_its_header():
    from gdbtools.tsv import tsv_text

    assert tsv_text([("sample_index", np.zeros(0, np.int64)), ("x", np.zeros(0))]) == "sample_index\tx\n"
    assert tsv_text([("a", np.array([1, 2]))]) == "a\n1\n2\n"


def test_compute__hands_each_table_to_on_table_as_it_is_made(small_store):
    """The tables reach ``on_table`` one by one, the slowest to write first, each the very table returned."""
    import gdbtools

    seen = []
    res = gdbtools.open(small_store.path).compute(
        freq=["population"], variant_qc=True, sample_qc=True, batch_by="pipeline", progress=False,
        on_table=lambda name, table, info: seen.append((name, table, info["backend"])))
    assert [name for name, _, _ in seen] == ["variant_qc", "freq", "batch_check", "sample_qc"]
    assert all(table is res.tables[name] and backend == res.info["backend"] for name, table, backend in seen)
    assert list(res.tables) == ["freq", "variant_qc", "sample_qc", "batch_check"]


def test_qc__a_write_failing_in_its_thread_leaves_the_earlier_result_whole(small_store, tmp_path, monkeypatch):
    """write_qc writes the Parquet tables in threads while it computes the next: a write that fails there
    still fails the command, and the earlier result stays as it was (nothing half-written beside it)."""
    import gdbtools
    from gdbtools import outputs
    from gdbtools.optionsets import QcOptions

    cohort, out = gdbtools.open(small_store.path), tmp_path / "qc"
    first = outputs.write_qc(cohort, QcOptions(sex_check=False), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = outputs.write_table

    def failing(table, path, prov=None):
        if path.name == "freq.parquet":
            raise OSError("disk full")
        return real(table, path, prov)

    monkeypatch.setattr(outputs, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_qc(cohort, QcOptions(sex_check=False, freq=True), out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and sorted(first["written"]) == sorted(before)
    assert [p.name for p in tmp_path.iterdir()] == ["qc"]
