"""Sample metadata: a TSV joined to the genotype samples by sample id.

Rules (none of them silent):

- the id column is ``--metadata-id`` or the first of ``sample_id, sample, s, IID, sample.id, ID`` present,
  else the first column;
- the sex column is ``--sex-column`` or the first of ``sex, gender, reported_sex, Sex, Gender`` present;
  its values are normalised to ``XX``/``XY`` (see :func:`gdbtools.genome.normalize_sex`), and a value that
  is not a recognised spelling is an error naming the line;
- ids in the VCF but not the TSV keep their genotypes with empty metadata, ids in the TSV but not the VCF are
  ignored; both lists are reported by the ingest and recorded in the manifest, and ``strict=True`` turns
  either into an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import MetadataError
from ..genome import SAMPLE_ID_COLUMNS, normalize_sex

__all__ = ["SampleTable", "read_metadata", "build_samples"]

SEX_CANDIDATES = ("sex", "gender", "reported_sex", "Sex", "Gender", "SEX", "GENDER")
RESERVED = ("sample_index", "sex")


@dataclass
class SampleTable:
    """Samples in genotype column order plus the join report."""

    table: pd.DataFrame
    missing_metadata: list[str] = field(default_factory=list)   # in the VCF, not in the TSV
    unused_metadata: list[str] = field(default_factory=list)    # in the TSV, not in the VCF
    source: str | None = None
    id_column: str | None = None
    sex_column: str | None = None

    def report(self) -> dict:
        return {"path": self.source, "id_column": self.id_column, "sex_column": self.sex_column,
                "n_missing_metadata": len(self.missing_metadata), "missing_metadata": self.missing_metadata[:1000],
                "n_unused_metadata": len(self.unused_metadata), "unused_metadata": self.unused_metadata[:1000]}


def read_metadata(path: str | os.PathLike, id_column: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read a metadata TSV as strings; return it and the name of its id column."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[], comment=None)
    except FileNotFoundError as exc:
        raise MetadataError("no such metadata file", file=path, fix="check the --metadata path") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MetadataError(f"the metadata table does not parse: {exc}", file=path,
                            fix="write it as tab-separated text with a header line and the same number of "
                                "fields on every line") from exc
    except pd.errors.EmptyDataError as exc:
        raise MetadataError("the metadata file is empty", file=path,
                            fix="write a header line then one row per sample") from exc
    frame.columns = [c.strip() for c in frame.columns]
    if len(frame.columns) < 1 or (len(frame.columns) == 1 and len(frame) and "," in frame.columns[0]):
        raise MetadataError("the metadata table has a single column; is it comma-separated?", file=path,
                            fix="save it as tab-separated (TSV)")
    if id_column is None:
        id_column = next((c for c in SAMPLE_ID_COLUMNS if c in frame.columns), frame.columns[0])
    elif id_column not in frame.columns:
        raise MetadataError(f"no column {id_column!r} (columns: {', '.join(frame.columns)})", file=path,
                            fix="pass the name of the sample id column with --metadata-id")
    ids = frame[id_column].str.strip()
    empty = np.flatnonzero(ids.to_numpy() == "")
    if empty.size:
        raise MetadataError("a row has an empty sample id", file=path, where=f"line {empty[0] + 2}",
                            fix="fill in or remove the row")
    dup = ids[ids.duplicated()]
    if len(dup):
        first = dup.index[0]
        raise MetadataError(f"sample id {dup.iloc[0]!r} appears more than once", file=path,
                            where=f"line {first + 2}", fix="keep one row per sample")
    frame[id_column] = ids
    return frame, id_column


def build_samples(sample_ids: list[str], metadata: str | os.PathLike | None = None, *,
                  id_column: str | None = None, sex_column: str | None = None,
                  strict: bool = False) -> SampleTable:
    """The samples table of a store: genotype order, canonical ``sex``, every metadata column kept.

    Columns: ``sample_id`` (str), ``sample_index`` (int32), ``sex`` ("XX", "XY" or null), then the metadata
    columns (numbers where a whole column parses as numbers, else strings; empty cells are null).
    """
    base = pd.DataFrame({"sample_id": pd.array(sample_ids, dtype="string"),
                         "sample_index": np.arange(len(sample_ids), dtype=np.int32)})
    if metadata is None:
        base["sex"] = pd.array([None] * len(base), dtype="string")
        return SampleTable(base)
    frame, id_col = read_metadata(metadata, id_column)
    if sex_column is None:
        sex_column = next((c for c in SEX_CANDIDATES if c in frame.columns and c != id_col), None)
    elif sex_column not in frame.columns:
        raise MetadataError(f"no column {sex_column!r} (columns: {', '.join(frame.columns)})", file=metadata,
                            fix="pass the sex column's name with --sex-column")
    sex = pd.Series([None] * len(frame), dtype="string")
    if sex_column is not None:
        values = []
        for i, value in enumerate(frame[sex_column]):
            try:
                values.append(normalize_sex(value))
            except ValueError as exc:
                raise MetadataError(str(exc), file=metadata, where=f"line {i + 2}, column {sex_column!r}",
                                    fix="use XX/XY, F/M, female/male or 2/1; leave the cell empty if unknown") from exc
        sex = pd.Series(values, dtype="string")
    in_vcf = set(sample_ids)
    in_meta = set(frame[id_col])
    missing = [s for s in sample_ids if s not in in_meta]
    unused = [s for s in frame[id_col] if s not in in_vcf]
    if strict and (missing or unused):
        raise MetadataError(f"{len(missing)} genotype samples lack metadata (first: {missing[:3]}) and "
                            f"{len(unused)} metadata rows match no genotype sample (first: {unused[:3]})",
                            file=metadata, fix="fix the ids, or drop --strict-metadata to ingest with a report")
    meta = frame.rename(columns={id_col: "sample_id"})
    meta = meta.rename(columns={c: f"{c}_reported" for c in RESERVED if c in meta.columns})
    meta["sex"] = sex.to_numpy()
    meta = meta.replace({"": None})
    for col in meta.columns:
        if col in ("sample_id", "sex"):
            continue
        converted = pd.to_numeric(meta[col], errors="coerce")
        if converted.notna().sum() == meta[col].notna().sum() and meta[col].notna().any():
            meta[col] = converted
        else:
            meta[col] = meta[col].astype("string")
    table = base.merge(meta, on="sample_id", how="left", sort=False)
    table["sex"] = table["sex"].astype("string")
    table = table[["sample_id", "sample_index", "sex"] + [c for c in table.columns
                                                          if c not in ("sample_id", "sample_index", "sex")]]
    return SampleTable(table.reset_index(drop=True), missing, unused, str(metadata), id_col, sex_column)
