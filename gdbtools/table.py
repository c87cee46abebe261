"""Result tables without pandas: named columns (NumPy or Arrow arrays), a named index and ``attrs``.

The statistics build their tables as :class:`Table` and :mod:`gdbtools.outputs` writes them as Parquet through
Arrow, so a command (``gdbtools qc``, ``gdbtools freq``) never imports pandas (0.3-0.4 s of a 1 s command);
the notebook API hands out pandas DataFrames (:meth:`Table.to_pandas`), the same frames as reading the Parquet
file back with ``pd.read_parquet``.

A column is a NumPy array (numbers, bools) or an Arrow array (text, integers with nulls), with the pandas dtype
it reads back as: numeric and bool columns their NumPy dtype; text :data:`TEXT` (pandas' default ``str``, null
NaN) or :data:`STRING` (``"string"``, null ``pd.NA``); integers with nulls :data:`INT32` (``"Int32"``).
The Parquet schema carries the ``pandas`` metadata that ``pa.Table.from_pandas(df, preserve_index=True)``
writes for that frame (pandas >= 3; ``tests/test_table.py`` checks it against pandas' own), so files written
from a Table and from the frame are the same.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Table", "TEXT", "STRING", "INT32", "text_array", "text_of_codes", "int32_with_nulls", "numpy_array",
           "arrow_numpy", "factorize", "objects", "column_objects"]

TEXT = "str"        #: pandas' default text dtype (pandas >= 3): null is NaN
STRING = "string"   #: pandas' StringDtype: null is pd.NA
INT32 = "Int32"     #: pandas' nullable int32
_ARROW_KINDS = (TEXT, STRING, INT32)


def text_array(values) -> pa.Array:
    """Values (a sequence or object array; ``None`` where null, anything else as its ``str``) as an Arrow
    ``large_string`` array, built from its buffers (``pa.array`` imports pandas, 0.3 s)."""
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _large_text(values)
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    n = len(items)
    valid = np.fromiter((v is not None for v in items), dtype=bool, count=n)
    encoded = [b"" if v is None else (v if type(v) is str else str(v)).encode() for v in items]
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n:
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), n, [_validity(valid), pa.py_buffer(offsets),
                                                        pa.py_buffer(b"".join(encoded))])


def text_of_codes(labels, codes: np.ndarray) -> pa.Array:
    """``labels[codes]`` as a ``large_string`` array, null where a code is negative: a column of a few distinct
    texts (group labels) made in NumPy, not string by string."""
    codes = np.asarray(codes, dtype=np.int64)
    valid = codes >= 0
    out = _take_text(text_array(list(labels) or [""]), np.where(valid, codes, 0))
    if valid.all():
        return out
    import pyarrow as pa

    return pa.Array.from_buffers(pa.large_string(), len(out), [_validity(valid), *out.buffers()[1:]])


def int32_with_nulls(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """``(V,)`` integers as an Arrow int32 array, null where not `valid` (pandas' ``Int32`` with ``pd.NA``)."""
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.int32)
    return pa.Array.from_buffers(pa.int32(), data.shape[0], [_validity(np.asarray(valid, dtype=bool)),
                                                             pa.py_buffer(data)])


def numpy_array(values: np.ndarray) -> pa.Array:
    """A NumPy array of numbers or bools as an Arrow array (zero-copy for numbers), from its buffers."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    n = values.shape[0]
    if values.dtype == bool:
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [None, pa.py_buffer(values)])


def arrow_numpy(column) -> np.ndarray:
    """An Arrow array or chunked array of numbers or bools without nulls as one NumPy array, read from its
    buffers (``to_numpy`` imports pandas, 0.3 s)."""
    chunks = column.chunks if hasattr(column, "chunks") else [column]
    name = str(column.type)
    dtype = np.dtype({"bool": "bool", "double": "float64", "float": "float32", "halffloat": "float16"}.get(name, name))
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError(f"a {chunk.type} column with {chunk.null_count} nulls has no NumPy array")
        data = chunk.buffers()[1]
        if dtype.kind == "b":
            bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
            parts.append(bits[chunk.offset: chunk.offset + len(chunk)].astype(bool))
        else:
            parts.append(np.frombuffer(data, dtype=dtype)[chunk.offset: chunk.offset + len(chunk)])
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _bits(buffer, offset: int, n: int) -> np.ndarray:
    """Bits ``offset .. offset + n`` of an Arrow bitmap buffer as ``(n,) bool``."""
    return np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), bitorder="little")[offset: offset + n].astype(bool)


def _text_parts(array) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(valid ``(n,) bool`` or None, offsets ``(n+1,) int64``, data ``uint8``) of a string / large_string array."""
    import pyarrow as pa

    n, off = len(array), array.offset
    validity, offsets, data = array.buffers()[:3]
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=width)[off: off + n + 1].astype(np.int64) if n else np.zeros(1, np.int64)
    valid = _bits(validity, off, n) if (validity is not None and array.null_count) else None
    return valid, offsets, (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8))


def _take_text(array, rows: np.ndarray):
    """Rows `rows` (``(k,) int64``) of a string / large_string array as a ``large_string`` array, in NumPy
    (``Array.take`` imports pyarrow.compute, 0.05-0.1 s)."""
    import pyarrow as pa

    valid, offsets, data = _text_parts(array)
    starts, lens = offsets[rows], offsets[rows + 1] - offsets[rows]
    new = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=new[1:])
    pick = np.repeat(starts - new[:-1], lens) + np.arange(new[-1], dtype=np.int64)
    keep = None if valid is None else valid[rows]
    return pa.Array.from_buffers(pa.large_string(), rows.shape[0], [None if keep is None else _validity(keep),
                                                                    pa.py_buffer(new), pa.py_buffer(data[pick])])


def _large_text(values):
    """An Arrow text column (string, large_string or dictionary of strings; chunked or not) as one
    ``large_string`` array, without pyarrow.compute."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):  # chunk by chunk: each dictionary is small (a partition's)
        if values.num_chunks == 0:
            return text_array([])
        if values.num_chunks == 1:
            return _large_text(values.chunk(0))
        return pa.concat_arrays([_large_text(chunk) for chunk in values.chunks])
    if pa.types.is_dictionary(values.type):
        codes, valid = _codes(values)
        out = _take_text(values.dictionary, np.where(codes < 0, 0, codes))
        if valid is not None:
            out = pa.Array.from_buffers(pa.large_string(), len(out), [_validity(valid), *out.buffers()[1:]])
        return out
    if pa.types.is_large_string(values.type):
        return values
    if len(values) == 0 or values.buffers()[1] is None:
        return _take_text(values, np.arange(len(values), dtype=np.int64))
    validity, offsets, data = values.buffers()[:3]  # string: the same bytes, 64-bit offsets
    wide = np.frombuffer(offsets, dtype=np.int32)[: values.offset + len(values) + 1].astype(np.int64)
    return pa.Array.from_buffers(pa.large_string(), len(values), [validity, pa.py_buffer(wide), data],
                                 offset=values.offset)


def _codes(values) -> tuple[np.ndarray, np.ndarray | None]:
    """A dictionary array's codes ``(n,) int64`` (-1 where null) and validity (None without nulls)."""
    ind = values.indices
    width = np.dtype(str(ind.type))
    codes = np.frombuffer(ind.buffers()[1], dtype=width)[ind.offset: ind.offset + len(ind)].astype(np.int64)
    if not ind.null_count:
        return codes, None
    valid = _bits(ind.buffers()[0], ind.offset, len(ind))
    return np.where(valid, codes, -1), valid


def _take_arrow(values, rows: np.ndarray):
    """Rows of an Arrow column: dictionary columns by their codes, text in NumPy, others by ``take``."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_dictionary(values.type) and not values.null_count:
        return pa.DictionaryArray.from_arrays(numpy_array(arrow_numpy(values.indices)[rows]), values.dictionary)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return _take_text(values, rows)
    return values.take(numpy_array(rows))


def _validity(valid: np.ndarray):
    import pyarrow as pa

    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


class Table:
    """Columns of equal length, an index and ``attrs``: what a statistic returns before pandas.

    Parameters
    ----------
    columns : dict of str -> array
        ``(n,)`` NumPy arrays, or Arrow arrays whose pandas dtype `kinds` names.
    index : (n,) int64, optional
        Row labels (``variant_index``, ``sample_index``); default ``arange(n)``.
    index_name : str, optional
    attrs : dict, optional
        Table metadata (pandas' ``DataFrame.attrs``; written into the Parquet schema by
        :func:`gdbtools.outputs.write_table`).
    kinds : dict of str -> str, optional
        The pandas dtype of each Arrow column: :data:`TEXT` (default for text), :data:`STRING` or :data:`INT32`.
    """

    __slots__ = ("_columns", "index", "index_name", "attrs", "kinds")

    def __init__(self, columns: dict[str, Any], index: np.ndarray | None = None, index_name: str | None = None,
                 attrs: dict | None = None, kinds: dict[str, str] | None = None):
        self._columns = dict(columns)
        n = len(next(iter(self._columns.values()))) if self._columns else (0 if index is None else len(index))
        for name, values in self._columns.items():
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} rows, the table {n}")
        self.index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if self.index.shape != (n,):
            raise ValueError(f"index has shape {self.index.shape}, the table {n} rows")
        self.index_name = index_name
        self.attrs: dict = dict(attrs or {})
        self.kinds = {name: kind for name, kind in (kinds or {}).items() if name in self._columns}
        for name, values in self._columns.items():
            if not isinstance(values, np.ndarray):
                self.kinds.setdefault(name, TEXT)
            if self.kinds.get(name, "") not in ("", *_ARROW_KINDS):
                raise ValueError(f"column {name!r}: unknown kind {self.kinds[name]!r}")

    # -- reading ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, name: str):
        """The column as stored: a NumPy array or an Arrow array."""
        return self._columns[name]

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def numpy(self, name: str) -> np.ndarray:
        """Column `name` as a NumPy array (text as an object array with ``None`` for null)."""
        values = self._columns[name]
        if isinstance(values, np.ndarray):
            return values
        if self.kinds.get(name) == INT32 and values.null_count == 0:
            return arrow_numpy(values)
        return np.asarray(values.to_pylist(), dtype=object)

    def take(self, rows: np.ndarray) -> Table:
        """The rows `rows` (``(n,) bool`` mask or integer positions), attrs shared."""
        rows = np.asarray(rows)
        pos = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        cols = {name: v[pos] if isinstance(v, np.ndarray) else _take_arrow(v, pos) for name, v in
                self._columns.items()}
        return Table(cols, self.index[pos], self.index_name, self.attrs, self.kinds)

    def __repr__(self) -> str:
        return f"<Table {len(self)} rows x {len(self._columns)} columns: {', '.join(list(self._columns)[:8])}...>"

    # -- conversion ---------------------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        """An Arrow table: the columns, then the index (as ``pa.Table.from_pandas(df, preserve_index=True)``),
        with the ``pandas`` schema metadata of that frame (``attrs`` not included)."""
        import pyarrow as pa

        names, arrays, meta = [], [], []
        index_field = self.index_name if self.index_name is not None else "__index_level_0__"
        for name, values in [*self._columns.items(), (index_field, self.index)]:
            kind = self.kinds.get(name, "") if name in self._columns else ""
            if isinstance(values, np.ndarray):
                if values.dtype.kind == "O":
                    raise TypeError(f"column {name!r} is an object array; give text as text_array(...)")
                array = numpy_array(values)
                ptype = npt = values.dtype.name
            else:
                array = _large_text(values) if kind in (TEXT, STRING) else values
                if isinstance(array, pa.ChunkedArray):
                    array = array.combine_chunks()
                ptype = "object" if kind in (TEXT, STRING) else "int32"
                npt = kind
            names.append(str(name))
            arrays.append(array)
            meta.append({"name": None if name == "__index_level_0__" else name, "field_name": str(name),
                         "pandas_type": ptype, "numpy_type": npt, "metadata": None})
        pandas_meta = {"index_columns": [index_field],
                       "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                                           "numpy_type": "str", "metadata": {"encoding": "UTF-8"}}],
                       "columns": meta, "attributes": {},
                       "creator": {"library": "pyarrow", "version": pa.__version__},
                       "pandas_version": _pandas_version()}
        table = pa.Table.from_arrays(arrays, names=names)
        return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})

    def to_pandas(self) -> pd.DataFrame:
        """The pandas DataFrame of this table (what ``pd.read_parquet`` gives for the written file), with
        ``attrs``."""
        frame = self.to_arrow().to_pandas()
        frame.attrs = dict(self.attrs)
        return frame


_PANDAS_VERSION: list[str | None] = []


def _pandas_version() -> str | None:
    """The installed pandas' version, read from its metadata (importing pandas takes 0.3 s, importlib.metadata
    another 0.017 s: :mod:`gdbtools.distributions`)."""
    if not _PANDAS_VERSION:
        from .distributions import installed_version

        _PANDAS_VERSION.append(installed_version("pandas"))
    return _PANDAS_VERSION[0]


def factorize(values) -> tuple[np.ndarray, list]:
    """Codes and distinct values of `values` (pandas' ``factorize`` without pandas): ``(n,) int64`` codes into
    the list of distinct values (in the order of the chunks' Arrow dictionaries), ``-1`` where null.

    `values`: an Arrow array (a dictionary array's codes are mapped, not its rows), or a sequence, NumPy or
    pandas column of values, each taken as its ``str`` (as :func:`text_array`; ``None`` is null) and hashed in
    a dict in order of first appearance (pandas' order; no ``pyarrow.compute``).
    """
    import pyarrow as pa

    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        seen: dict = {}
        codes = np.fromiter((-1 if v is None else seen.setdefault(v if type(v) is str else str(v), len(seen))
                             for v in objects(values).tolist()), np.int64, count=len(values))
        return codes, list(seen)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    index: dict = {}
    parts = []
    for chunk in chunks:  # chunk by chunk, each chunk's dictionary mapped onto the values seen so far
        if not pa.types.is_dictionary(chunk.type):
            import pyarrow.compute as pc

            chunk = pc.dictionary_encode(chunk)
        codes, _ = _codes(chunk)
        lut = np.array([index.setdefault(v, len(index)) for v in chunk.dictionary.to_pylist()] + [-1], np.int64)
        parts.append(lut[codes])  # code -1 (null) takes the last entry
    codes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return codes, list(index)


def objects(column) -> np.ndarray:
    """An Arrow, NumPy or pandas column (or a sequence) as an ``(n,) object`` array of Python values, ``None``
    where null (pandas is never imported here: a pandas column means it is loaded)."""
    if hasattr(column, "to_pylist"):  # Arrow
        return np.asarray(column.to_pylist(), dtype=object)
    if isinstance(column, np.ndarray):
        return column.astype(object)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(column, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        series = pd.Series(column)
        return np.asarray(series.astype(object).where(series.notna(), None), dtype=object)
    return np.asarray(column, dtype=object)


def column_objects(frame, name: str) -> np.ndarray:
    """Column `name` of an Arrow table, a :class:`Table` or a pandas DataFrame as :func:`objects`."""
    return objects(frame.column(name) if hasattr(frame, "column_names") else frame[name])

