"""The phenotype table of a burden test: a TSV read, checked and aligned to the store's samples.

The file has a sample id column (``sample_id``, else the first of :data:`gdbtools.genome.SAMPLE_ID_COLUMNS`
present: ``sample``, ``s``, ``IID``, ...; as the metadata join of the ingest) and one column per trait or
covariate (principal components are covariate columns like any other).  Nothing is dropped silently:

- ids in the file but not the store, and analysed store samples (the selection) absent from the file, are
  counted and the first few listed in :attr:`Phenotypes.report`;
- a missing value (``NA``, ``NaN``, empty, ``.``) of the trait or a covariate drops the sample, counted per
  column;
- any other value that is not a number is an error naming the file, the line, the column and the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import GdbError
from ..genome import SAMPLE_ID_COLUMNS

__all__ = ["Phenotypes", "load_phenotypes", "MISSING_VALUES"]

MISSING_VALUES = ("", "NA", "NaN", "nan", "N/A", "na", ".")
_FIRST = 10  # ids listed in the report per kind


@dataclass
class Phenotypes:
    """A trait and its covariates for the analysed samples, in store sample order.

    Attributes
    ----------
    y : (n,) float64
    X : (n, k) float64
        Intercept first, then the covariates in the order asked.
    covariate_names : list of str
    sample_index : (n,) int64
        Store ``sample_index`` of each row.
    report : dict
        ``n_file``, ``n_selected``, ``in_file_not_store`` / ``in_store_not_file`` (``{"n", "first"}``),
        ``excluded_by_selection``, ``missing_trait`` (``{"n", "first"}``), ``missing_covariate`` (column ->
        count), ``non_numeric`` (0: a non-number is an error), ``n_used``, ``path``, ``id_column``.
    """

    y: np.ndarray
    X: np.ndarray
    covariate_names: list[str]
    sample_index: np.ndarray
    report: dict = field(default_factory=dict)


def _read(path, id_column: str | None) -> tuple[pd.DataFrame, str]:
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[])
    except FileNotFoundError as exc:
        raise GdbError("no such phenotype file", file=path, fix="check the --phenotypes path") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise GdbError(f"the phenotype table does not parse: {exc}", file=path,
                       fix="write it as tab-separated text with a header line") from exc
    except pd.errors.EmptyDataError as exc:
        raise GdbError("the phenotype file is empty", file=path, fix="write a header line then one row per sample") \
            from exc
    frame.columns = [c.strip() for c in frame.columns]
    if id_column is None:
        id_column = next((c for c in SAMPLE_ID_COLUMNS if c in frame.columns), None)
        if id_column is None:
            raise GdbError(f"no sample id column (looked for {', '.join(SAMPLE_ID_COLUMNS)}; columns: "
                           f"{', '.join(frame.columns)})", file=path, fix="name the id column sample_id")
    elif id_column not in frame.columns:
        raise GdbError(f"no column {id_column!r} (columns: {', '.join(frame.columns)})", file=path,
                       fix="name the sample id column")
    ids = frame[id_column].str.strip()
    dup = ids[ids.duplicated()]
    if len(dup):
        raise GdbError(f"sample id {dup.iloc[0]!r} appears more than once", file=path,
                       where=f"line {dup.index[0] + 2}", fix="keep one row per sample")
    frame[id_column] = ids
    return frame, id_column


def _numbers(frame: pd.DataFrame, column: str, path) -> np.ndarray:
    """A column as float64, NaN where missing; a value that is neither is an error naming line and value."""
    text = frame[column].str.strip()
    missing = text.isin(MISSING_VALUES).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~missing & ~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise GdbError(f"value {frame[column].iloc[i]!r} is not a number ({bad.size} such values in the column)",
                       file=path, where=f"line {i + 2}, column {column!r}",
                       fix="write numbers; leave missing values empty or write NA (or " +
                           ", ".join(repr(v) for v in MISSING_VALUES[1:]) + ")")
    return values


def load_phenotypes(path: str | os.PathLike, store_samples: pd.DataFrame, trait: str, covariates=(),
                    samples_mask: np.ndarray | None = None, *, id_column: str | None = None) -> Phenotypes:
    """Read the phenotype TSV and align it to the store's (selected) samples.

    Parameters
    ----------
    path : path
    store_samples : DataFrame
        ``store.samples`` (``sample_id``, ``sample_index``).
    trait : str
    covariates : sequence of str
    samples_mask : (N,) bool, optional
        The cohort's selection (default all store samples).
    id_column : str, optional
        The id column (default: detected).

    Raises
    ------
    GdbError
        A missing file or column, duplicate ids, a non-numeric value, or no sample left.
    """
    covariates = list(covariates)
    frame, id_col = _read(path, id_column)
    for col in [trait, *covariates]:
        if col not in frame.columns:
            raise GdbError(f"no column {col!r} (columns: {', '.join(frame.columns)})", file=path,
                           fix="name a trait (--trait) and covariates (--covariates) that are columns of the file")
    if trait in covariates:
        raise GdbError(f"{trait!r} is both the trait and a covariate", file=path, fix="drop it from the covariates")
    values = {col: _numbers(frame, col, path) for col in dict.fromkeys([trait, *covariates])}
    store_ids = store_samples["sample_id"].astype(str).to_numpy()
    n_store = store_ids.shape[0]
    selected = np.ones(n_store, bool) if samples_mask is None else np.asarray(samples_mask, dtype=bool)
    if selected.shape != (n_store,):
        raise ValueError(f"samples_mask must have shape ({n_store},), got {selected.shape}")
    row_of = pd.Series(np.arange(len(frame)), index=frame[id_col].to_numpy())
    file_ids = frame[id_col].to_numpy()
    in_store = pd.Index(store_ids)
    not_store = [s for s in file_ids if s not in in_store]
    sel_ids = store_ids[selected]
    not_file = [s for s in sel_ids if s not in row_of.index]
    excluded = int(sum(1 for s in store_ids[~selected] if s in row_of.index))
    keep_idx = np.flatnonzero(selected)
    keep_idx = keep_idx[np.isin(store_ids[keep_idx], file_ids)]
    rows = row_of.loc[store_ids[keep_idx]].to_numpy()
    y = values[trait][rows]
    covs = np.column_stack([values[c][rows] for c in covariates]) if covariates else np.zeros((rows.size, 0))
    miss_trait = np.isnan(y)
    miss_cov = np.isnan(covs)
    ok = ~miss_trait & ~miss_cov.any(axis=1)
    report: dict = {
        "path": os.fspath(path), "id_column": id_col, "n_file": len(frame), "n_selected": int(selected.sum()),
        "in_file_not_store": {"n": len(not_store), "first": not_store[:_FIRST]},
        "in_store_not_file": {"n": len(not_file), "first": not_file[:_FIRST]},
        "excluded_by_selection": excluded,
        "missing_trait": {"n": int(miss_trait.sum()), "first": store_ids[keep_idx[miss_trait]][:_FIRST].tolist()},
        "missing_covariate": {c: int(miss_cov[:, j].sum()) for j, c in enumerate(covariates)},
        "non_numeric": 0,
        "n_used": int(ok.sum()),
    }
    if not ok.any():
        raise GdbError(f"no sample has the trait {trait!r} and every covariate among the {int(selected.sum())} "
                       f"selected store samples ({len(not_file)} not in the file, "
                       f"{int(miss_trait.sum())} missing the trait)", file=path,
                       fix="check that the file's sample ids are the store's (gdbtools samples STORE)")
    X = np.column_stack([np.ones(int(ok.sum())), covs[ok]])
    sample_index = store_samples["sample_index"].to_numpy(np.int64)[keep_idx[ok]]
    return Phenotypes(y[ok].astype(np.float64), X.astype(np.float64), covariates, sample_index, report)
