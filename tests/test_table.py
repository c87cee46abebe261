"""gdbtools.table: result tables without pandas, written as the same files as their DataFrames.

Oracles: pandas itself (``pa.Table.from_pandas`` for the Parquet schema and its ``pandas`` metadata,
``DataFrame.to_csv`` for TSV text, ``pd.factorize``) and pyarrow's compute kernels (``take``, ``cast``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gdbtools.table import (
    INT32,
    STRING,
    Table,
    _large_text,
    _take_text,
    arrow_numpy,
    factorize,
    int32_with_nulls,
    numpy_array,
    objects,
    text_array,
)


def _pandas_schema(frame: pd.DataFrame) -> pa.Schema:
    plain = frame.copy(deep=False)
    plain.attrs = {}
    return pa.Table.from_pandas(plain, preserve_index=True).schema


def _meta(schema: pa.Schema) -> dict:
    return json.loads(schema.metadata[b"pandas"])


def test_table__arrow_schema_and_pandas_metadata_are_pandas_own():
    """Every column kind the tables use: the Arrow schema and its ``pandas`` metadata equal what pyarrow writes
    for the DataFrame the table converts to (so a file written from either is the same)."""
    rng = np.random.default_rng(1)
    n = 7
    table = Table({"contig": text_array(["chr1"] * 3 + ["chrX"] * 4), "pos": rng.integers(1, 10**6, n),
                   "label": text_array(["a", None, "é", "", "b\tc", None, "x"]),
                   "count": int32_with_nulls(np.arange(n), np.arange(n) % 3 > 0),
                   "AC": np.arange(n, dtype=np.int32), "AF": rng.random(n), "flag": np.arange(n) % 2 == 0},
                  index=np.arange(10, 10 + n), index_name="variant_index", kinds={"label": STRING, "count": INT32},
                  attrs={"x": 1})
    frame = table.to_pandas()
    assert frame.attrs == {"x": 1}
    assert [str(t) for t in frame.dtypes] == ["str", "int64", "string", "Int32", "int32", "float64", "bool"]
    assert frame.index.name == "variant_index" and frame.index.tolist() == list(range(10, 17))
    assert frame["label"].isna().tolist() == [False, True, False, False, False, True, False]
    assert frame["count"].isna().tolist() == [True, False, False, True, False, False, True]
    ours, theirs = table.to_arrow().schema, _pandas_schema(frame)
    assert ours.remove_metadata() == theirs.remove_metadata()
    assert _meta(ours) == _meta(theirs)
    unnamed = Table({"x": np.arange(3)})  # no index name: pandas' __index_level_0__
    assert _meta(unnamed.to_arrow().schema) == _meta(_pandas_schema(unnamed.to_pandas()))


def test_table__text_helpers_match_arrow_compute():
    """take, string -> large_string and dictionary decoding in NumPy against pyarrow.compute, on sliced arrays
    (offsets) with nulls."""
    words = ["alpha", None, "", "δelta", "e", None, "ffff", "g"] * 5
    base = pa.array(words, pa.string()).slice(3, 30)
    rows = np.array([0, 5, 5, 29, 2, 1, 17], dtype=np.int64)
    assert _take_text(base, rows).equals(pc.take(base, pa.array(rows)).cast(pa.large_string()))
    assert _large_text(base).equals(base.cast(pa.large_string()))
    chunked = pa.chunked_array([base.slice(0, 10), base.slice(10)])
    assert _large_text(chunked).equals(base.cast(pa.large_string()))
    encoded = pc.dictionary_encode(base)
    assert _large_text(encoded).equals(base.cast(pa.large_string()))
    codes, names = factorize(encoded)
    want_codes, want_names = pd.factorize(pd.Series(base.to_pylist(), dtype=object))
    assert [names[c] if c >= 0 else None for c in codes] == [want_names[c] if c >= 0 else None for c in want_codes]
    parts = pa.chunked_array([pc.dictionary_encode(pa.array(["chr2", None, "chr1"])),  # a dictionary per chunk
                              pc.dictionary_encode(pa.array(["chrX", "chr1"])),
                              pc.dictionary_encode(pa.array(["chr2", "chrY"])).slice(0)])
    codes, names = factorize(parts)
    assert [names[c] if c >= 0 else None for c in codes] == ["chr2", None, "chr1", "chrX", "chr1", "chr2", "chrY"]
    assert len(names) == 4 and _large_text(parts).to_pylist() == ["chr2", None, "chr1", "chrX", "chr1", "chr2",
                                                                  "chrY"]
    for plain in (words, np.array(words, dtype=object), pd.Series(words, dtype="string"), [3, None, 1.5, 3]):
        codes, names = factorize(plain)  # values outside Arrow: hashed in first-appearance order, as pandas
        want_codes, want_names = pd.factorize(pd.Series(text_array(objects(plain)).to_pylist(), dtype=object))
        np.testing.assert_array_equal(codes, want_codes)
        assert names == list(want_names)
    assert text_array(np.array(["a", None, "b"], dtype=object)).to_pylist() == ["a", None, "b"]
    assert text_array([7, None, 1.5, True]).to_pylist() == ["7", None, "1.5", "True"]  # as pandas' astype(str)
    flags = pa.array([True, False, True, True, False, False, True, False, True]).slice(1, 7)
    np.testing.assert_array_equal(arrow_numpy(flags), np.array(flags.to_pylist()))
    ints = pa.chunked_array([pa.array(np.arange(5)), pa.array(np.arange(5, 9)).slice(1)])
    np.testing.assert_array_equal(arrow_numpy(ints), [0, 1, 2, 3, 4, 6, 7, 8])
    np.testing.assert_array_equal(arrow_numpy(numpy_array(np.array([True, False, True]))), [True, False, True])
    with pytest.raises(ValueError, match="nulls"):
        arrow_numpy(pa.array([1, None]))


def test_table__take_keeps_every_column_kind():
    table = Table({"t": text_array(["a", "b", None, "d"]), "d": pc.dictionary_encode(pa.array(["x", "y", "x", "z"])),
                   "v": np.arange(4.0), "n": int32_with_nulls(np.arange(4), np.array([1, 0, 1, 1], bool))},
                  index=np.array([5, 6, 7, 8]), index_name="variant_index", kinds={"n": INT32})
    sub = table.take(np.array([True, False, True, True]))
    assert sub.index.tolist() == [5, 7, 8]
    assert sub.numpy("t").tolist() == ["a", None, "d"]
    assert factorize(sub["d"])[1] == ["x", "y", "z"] and sub.to_pandas()["d"].tolist() == ["x", "x", "z"]
    assert sub.to_pandas()["n"].tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="rows"):
        Table({"a": np.arange(3), "b": np.arange(4)})
    with pytest.raises(TypeError, match="text_array"):  # text must be given as Arrow text, not objects
        Table({"a": np.array(["x", None], dtype=object)}).to_arrow()
    with pytest.raises(ValueError, match="unknown kind"):
        Table({"a": text_array(["x"])}, kinds={"a": "category"})


_NO_PANDAS = """
import sys
from gdbtools.cli import main
main(["qc", sys.argv[1], "--out", sys.argv[2], "--freq", "--by", "population"], standalone_mode=False)
main(["freq", sys.argv[1], "--out", sys.argv[2] + ".freq.tsv", "--by", "population", "--region", "chrX"],
     standalone_mode=False)
print(sorted(m for m in ("pandas", "pyarrow.dataset") if m in sys.modules))
"""


def test_qc_command__writes_pandas_files_without_importing_pandas(small_store, tmp_path):
    """``gdbtools qc --freq`` (sex check, outliers, batch check) and ``gdbtools freq`` (a region) never import
    pandas, and every file they write is the file pandas writes for the same DataFrame: Parquet schema and
    metadata from ``pa.Table.from_pandas``, the TSVs the text of ``to_csv`` of the DataFrame API's tables."""
    out = tmp_path / "qc"
    proc = subprocess.run([sys.executable, "-c", _NO_PANDAS, str(small_store.path), str(out)], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
    written = sorted(p.name for p in out.iterdir())
    assert {"freq.parquet", "variant_qc.parquet", "sample_qc.parquet", "sex_check.tsv",
            "sample_outliers.tsv"} <= set(written), written
    for path in sorted(out.glob("*.parquet")):
        schema = pq.read_schema(path)
        frame = pd.read_parquet(path)
        assert schema.remove_metadata() == _pandas_schema(frame).remove_metadata(), path.name
        assert _meta(schema) == _meta(_pandas_schema(frame)), path.name
        assert json.loads(schema.metadata[b"PANDAS_ATTRS"])["provenance"]["command"] == "qc"
    import gdbtools

    cohort = gdbtools.open(small_store.path)
    outliers = cohort.sample_outliers(by="population", sample_qc=pd.read_parquet(out / "sample_qc.parquet"))
    assert (out / "sample_outliers.tsv").read_text() == outliers.to_csv(sep="\t", na_rep="NA")
    sex = cohort.sex_check()
    assert (out / "sex_check.tsv").read_text() == sex.to_csv(sep="\t", na_rep="NA")
    freq = cohort.select(region="chrX").freq(by=["population"])
    assert (tmp_path / "qc.freq.tsv").read_text() == freq.to_csv(sep="\t", na_rep="NA")
