"""A table as tab-separated text, column by column: the text of pandas' ``to_csv(sep="\\t", na_rep="NA")``.

pandas writes a TSV row by row through :mod:`csv` (0.5 s for the 20,000 x 46 sample outlier table); here each
column becomes an array of strings with NumPy and the rows are joined once.  Each cell is formatted as pandas
formats it: floats by NumPy's shortest round-trip ``astype(str)`` (for float64 the same text as ``repr``, made
once per distinct value), integers and booleans by ``str``, nulls
(NaN, None, ``pd.NA``) as ``na_rep``, and a text that holds a tab, a quote or a line break quoted as
:mod:`csv` quotes it (``QUOTE_MINIMAL``).  ``tests/test_outputs.py`` checks the text equal to pandas' on every
dtype the tables use.  Imports nothing of gdbtools.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_tsv", "tsv_text"]



def _quoted_chars() -> tuple[str, ...]:
    """The characters that make :mod:`csv` quote a cell, as pandas calls it (which changed across Pythons)."""
    found = []
    for ch in ("\t", '"', "\n", "\r"):
        buf = io.StringIO()
        csv.writer(buf, delimiter="\t", lineterminator="\n").writerow([f"a{ch}b", "c"])
        if buf.getvalue().startswith('"'):
            found.append(ch)
    return tuple(found)


_SPECIAL = _quoted_chars()


def _quote(text: str) -> str:
    if any(ch in text for ch in _SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


def _cells(values, na_rep: str) -> list[str]:
    """One column as cell texts.  ``values``: a NumPy array, an Arrow array, or anything with ``to_numpy``
    (pandas)."""
    if isinstance(values, np.ndarray):
        arr = values
    elif hasattr(values, "to_pylist"):  # Arrow: text or integers with nulls, through object, null as None
        arr = np.asarray(values.to_pylist(), dtype=object)
    elif isinstance(values.dtype, np.dtype):  # a pandas column of a NumPy dtype
        arr = values.to_numpy()
    else:  # a pandas extension array (string, Int32, boolean): through object, its NA as None
        arr = np.asarray(values.to_numpy(dtype=object, na_value=None), dtype=object)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype == np.float64:  # repr is NumPy's shortest round-trip text for float64 (tested), and faster
            uniq, inverse = np.unique(arr, return_inverse=True)  # medians, MADs, counts: each text made once
            text = np.array(list(map(repr, uniq.tolist())) + [na_rep], dtype=object)[inverse.ravel()]
            zero = arr == 0
            if zero.any():  # unique() merges -0.0 into 0.0
                text[zero] = np.where(np.signbit(arr[zero]), "-0.0", "0.0")
        else:
            text = arr.astype(str).astype(object)
        nan = np.isnan(arr)
        if nan.any():
            text[nan] = na_rep
        return text.tolist()
    if kind in "iu":
        return arr.astype(str).tolist()
    if kind == "b":
        return np.where(arr, "True", "False").tolist()
    if kind in "US":
        return [_quote(str(v)) for v in arr.tolist()]
    if kind != "O":
        raise TypeError(f"no TSV cells for dtype {arr.dtype}")
    values = arr.tolist()
    texts = [v for v in values if v is not None]
    if all(type(v) is str for v in texts) and not any(ch in "".join(texts) for ch in _SPECIAL):
        return [na_rep if v is None else v for v in values]  # text only, none to quote: the common case
    out = []
    for v in values:  # object: str, int, float, bool, None
        if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType":  # pd.NA
            out.append(na_rep)
        elif isinstance(v, str):
            out.append(_quote(v))
        elif isinstance(v, float):
            out.append(repr(v))
        else:
            out.append(_quote(str(v)))
    return out


def tsv_text(columns: Sequence[tuple[str, object]], *, na_rep: str = "NA") -> str:
    """The TSV text of ``(name, values)`` columns (the index first, as pandas writes it), header included.

    ``values``: NumPy arrays, Arrow arrays or pandas columns (Series, extension arrays) of equal length.
    """
    header = "\t".join(_quote(str(name)) for name, _ in columns)
    cells = [_cells(values, na_rep) for _, values in columns]
    if not cells or not cells[0]:
        return header + "\n"
    return header + "\n" + "\n".join(map("\t".join, zip(*cells))) + "\n"


def write_tsv(columns: Sequence[tuple[str, object]], out: str | os.PathLike, *, na_rep: str = "NA") -> Path:
    """Write :func:`tsv_text` to ``out`` (gzip-compressed when the name ends in ``gz``)."""
    out = Path(out)
    data = tsv_text(columns, na_rep=na_rep).encode()
    if out.name.lower().endswith("gz"):
        with gzip.open(out, "wb") as fh:
            fh.write(data)
    else:
        out.write_bytes(data)
    return out
