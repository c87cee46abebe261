"""Result files: every table and summary gdbtools writes, with provenance, never over earlier results by accident.

The CLI (``gdbtools freq|qc|burden``), the pipeline's steps and the demo all write through here, so they write the
same layout:

- :func:`write_table`: a DataFrame as Parquet (``df.attrs`` and the provenance in the schema metadata, read
  back by ``pd.read_parquet(...).attrs``) or TSV (``<out>.meta.json`` beside it with the same);
- :func:`write_freq`: one frequency table; :func:`write_burden`: the gene tests of one trait (the null model,
  the phenotype report and the genes without qualifying variants in its metadata); :func:`write_qc`: the QC
  directory (variant_qc, sample_qc, sex_check, sample_outliers, batch_check, summary.json; with ``freq=True``
  also freq.parquet, all from one pass over the genotypes). An output that cannot be made (no chrX for the
  sex check, no batch column) is listed in ``summary.json["skipped"]`` with the reason;
- :func:`replacing`: an existing result is refused (:class:`OutputExists`) unless ``overwrite``; the new one
  is written into a temporary sibling directory and renamed into place whole, so nothing of an earlier run
  remains beside it.

Provenance (:func:`provenance`): the store (path, manifest sha256), the selection (sample query, regions,
counts), every option, the backend, the gdbtools version, the command and the UTC time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GdbError
from .options import as_params
from .table import Table, column_objects

if TYPE_CHECKING:
    import pandas as pd

    from .cohort import Cohort
    from .optionsets import BurdenOptions, FreqOptions, QcOptions, SelectOptions
    from .store import Store

__all__ = ["OutputExists", "provenance", "replacing", "without_attrs", "write_table", "write_json", "read_provenance",
           "open_selection", "write_freq", "write_burden", "write_qc", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".parquet", ".pq", ".tsv", ".tsv.gz", ".tsv.bgz", ".txt")
PROVENANCE_KEY = "provenance"
SIDECAR = ".meta.json"  #: the JSON beside a TSV table: its attrs and provenance


class OutputExists(GdbError):
    """The output path holds an earlier result and ``overwrite`` was not given."""


def _version() -> str:
    import gdbtools

    return gdbtools.__version__


def provenance(cohort: Cohort | Store, command: str, options, backend: str | None = None) -> dict:
    """Where a result came from: store (path, sha256 of its manifest), selection, options, backend, version, time.

    ``cohort`` is a :class:`~gdbtools.Cohort` (a selection) or a whole :class:`~gdbtools.store.Store`;
    ``options`` an options dataclass (:mod:`gdbtools.optionsets`) or a dict of parameters.
    """
    from . import store as store_module
    from .store.format import sha256_file

    store = cohort if isinstance(cohort, store_module.Store) else cohort.store
    params = options if isinstance(options, dict) else as_params(options)
    return {"command": command, "gdbtools_version": _version(),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": {"path": str(Path(store.path).resolve()),
                      "manifest_sha256": sha256_file(Path(store.path) / "manifest.json")},
            "selection": {"samples": params.get("samples"), "regions": list(params.get("regions") or []),
                          "n_samples": int(cohort.n_samples), "n_variants": int(cohort.n_variants)},
            "params": params, "backend": backend}


@contextlib.contextmanager
def replacing(target: str | os.PathLike, *, overwrite: bool, directory: bool = False,
              option: str = "--overwrite") -> Iterator[Path]:
    """Write a result whole or not at all: yields a new temporary directory beside ``target``.

    ``directory=True``: the temporary directory becomes ``target``. Otherwise write ``<tmp>/<target name>``
    (and its sidecar ``<tmp>/<target name>.meta.json``): they replace ``target`` and its old sidecar. An existing
    ``target`` raises :class:`OutputExists` (naming ``option``) unless ``overwrite``.
    """
    target = Path(target)
    olds = [target] if directory else [target, target.with_name(f"{target.name}{SIDECAR}")]
    if not overwrite and target.exists():
        raise OutputExists("an earlier result is here, and gdbtools does not write over results", file=target,
                           fix=f"give {option} to replace it whole, or write to another path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    _remove(tmp)
    tmp.mkdir()
    try:
        yield tmp
        trash = target.with_name(f".{target.name}.old{os.getpid()}")
        _remove(trash)
        trash.mkdir()
        for old in olds:
            if old.exists() or old.is_symlink():
                os.replace(old, trash / old.name)
        if directory:
            os.replace(tmp, target)
        else:
            for new in tmp.iterdir():
                os.replace(new, target.with_name(new.name))
        _remove(trash)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def write_json(path: str | os.PathLike, obj) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    return path


def without_attrs(frame: pd.DataFrame) -> pd.DataFrame:
    """A view of `frame` (same columns, no data copied) with empty ``attrs``, to read many columns from: pandas
    deep-copies a frame's ``attrs`` into every column it hands out (a release's metadata lists every group)."""
    plain = frame.copy(deep=False)  # copies the attrs once
    plain.attrs = {}
    return plain


def write_table(df: pd.DataFrame | Table, out: str | os.PathLike, prov: dict | None = None) -> Path:
    """Write a result table as Parquet (``.parquet``/``.pq``) or TSV (``.tsv``, ``.tsv.gz``, ``.txt``).

    `df`: a DataFrame, or a :class:`~gdbtools.table.Table` (written through Arrow without pandas, the same
    file as for its DataFrame). Parquet: ``df.attrs`` plus ``{"provenance": prov}`` in the schema metadata
    (pandas' ``PANDAS_ATTRS``, so ``pd.read_parquet(out).attrs`` has them); TSV: the same in
    ``<out>.meta.json``. The index is written. Writes ``out`` directly: use :func:`replacing` around it for a
    whole-or-nothing result.
    """
    out = Path(out)
    name = out.name.lower()
    attrs = dict(df.attrs)
    if not isinstance(df, Table):
        df = without_attrs(df)  # written into the metadata below, once
    if prov is not None:
        attrs[PROVENANCE_KEY] = prov
    if name.endswith((".parquet", ".pq")):
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = df.to_arrow() if isinstance(df, Table) else pa.Table.from_pandas(df, preserve_index=True)
        meta = dict(table.schema.metadata or {})
        meta[b"PANDAS_ATTRS"] = json.dumps(attrs, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), out)
    elif name.endswith((".tsv", ".tsv.gz", ".txt", ".tsv.bgz")):
        if isinstance(df, Table):
            from .tsv import write_tsv

            write_tsv([(df.index_name or "", df.index), *((c, df[c]) for c in df.columns)], out)
        else:
            _write_tsv(df, out)
        write_json(f"{out}{SIDECAR}", attrs)
    else:
        raise GdbError(f"{out}: not a table file name", file=out, fix="use a .parquet or .tsv (.tsv.gz) file name")
    return out


def _write_tsv(df: pd.DataFrame, out: Path) -> None:
    """pandas' ``to_csv(sep="\\t", na_rep="NA")`` text, written column-wise (:mod:`gdbtools.tsv`; 0.055 s
    instead of 0.134 s for the 5,000 x 46 outlier table); pandas itself for what that does not format (a
    MultiIndex, dates)."""
    from .tsv import write_tsv

    try:
        if df.index.nlevels != 1 or df.columns.nlevels != 1 or not df.columns.is_unique:
            raise TypeError("a MultiIndex or repeated column names")
        write_tsv([(df.index.name or "", df.index), *((str(c), df[c]) for c in df.columns)], out)
    except TypeError:
        df.to_csv(out, sep="\t", index=True, na_rep="NA", compression="gzip" if out.name.lower().endswith("gz")
                  else None)


def read_provenance(path: str | os.PathLike) -> dict:
    """The provenance recorded with a table (Parquet metadata or TSV sidecar) or in a summary.json."""
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[b"PANDAS_ATTRS"])[PROVENANCE_KEY]
    if path.suffix == ".json":
        return json.loads(path.read_text())[PROVENANCE_KEY]
    return json.loads(Path(f"{path}{SIDECAR}").read_text())[PROVENANCE_KEY]


def _check_name(out: Path) -> None:
    if not out.name.lower().endswith(TABLE_SUFFIXES):
        raise GdbError(f"{out}: use a .parquet or .tsv (.tsv.gz) file name", file=out,
                       fix="name the output e.g. freq.parquet or freq.tsv.gz")


def open_selection(store, opts: SelectOptions) -> Cohort:
    """The cohort of ``store`` (a path) narrowed to the options' samples and regions, on their backend."""
    from . import open as open_cohort

    cohort = open_cohort(store, backend=opts.backend)
    if opts.samples or opts.regions:
        cohort = cohort.select(samples=opts.samples or None, region=list(opts.regions) or None,
                               allow_empty=opts.allow_empty)
    return cohort


def write_freq(cohort: Cohort, opts: FreqOptions, out: str | os.PathLike, *, overwrite: bool = False) -> dict:
    """The frequency table of ``opts`` into ``out`` (.parquet or .tsv); returns a few numbers for a summary."""
    out = Path(out)
    _check_name(out)
    t0 = time.perf_counter()
    with replacing(out, overwrite=overwrite) as tmp:
        res = cohort.compute(freq=list(opts.by), adj=opts.adj, unknown_sex=opts.unknown_sex,
                             grpmax_by=opts.grpmax_by)
        freq = res.tables["freq"]
        write_table(freq, tmp / out.name, provenance(cohort, "freq", opts, res.info.get("backend")))
    return {"n_variants": len(freq), "n_groups": len(freq.attrs.get("freq_meta", [])),
            "n_samples": int(cohort.n_samples), "backend": res.info.get("backend"), "path": str(out),
            "seconds": round(time.perf_counter() - t0, 3)}


def write_burden(cohort: Cohort, opts: BurdenOptions, out: str | os.PathLike, *, overwrite: bool = False,
                 progress: bool = True) -> dict:
    """The gene tests of ``opts`` into ``out`` (.parquet or .tsv, the metadata beside the provenance); returns a
    few numbers for a summary (genes, rows, samples, the smallest p and its gene)."""
    out = Path(out)
    _check_name(out)
    t0 = time.perf_counter()
    with replacing(out, overwrite=overwrite) as tmp:
        table = cohort.burden(**opts.burden_kwargs(), backend=opts.backend, progress=progress,
                              options=as_params(opts))
        write_table(table, tmp / out.name, provenance(cohort, "burden", opts, table.attrs.get("backend")))
    null = table.attrs["null_model"]
    tested = table[table["p"].notna()]
    best = tested.loc[tested["p"].idxmin()] if len(tested) else None
    return {"n_genes": int(table["gene"].nunique()), "n_rows": int(len(table)), "n_samples": int(null["n"]),
            "n_cases": null.get("n_cases"), "n_controls": null.get("n_controls"),
            "n_genes_without_qualifying_variants": table.attrs["genes"]["n_genes_without_qualifying_variants"],
            "min_p": None if best is None else float(best["p"]), "min_p_gene": None if best is None else best["gene"],
            "backend": table.attrs.get("backend"), "path": str(out), "seconds": round(time.perf_counter() - t0, 3)}


def _auto_columns(cohort: Cohort, opts: QcOptions) -> tuple[str | None, str | None, str]:
    """(batch column, outlier grouping column, why there is no batch column)."""
    from .stats.selection import POPULATION_COLUMNS

    samples = cohort.store.sample_arrow
    columns = set(samples.column_names)
    batch_by = {"auto": "pipeline" if "pipeline" in columns else None, "none": None}.get(opts.batch_by, opts.batch_by)
    if opts.outliers_by == "auto":
        outliers_by = next((c for c in POPULATION_COLUMNS if c in columns), None)
    else:
        outliers_by = None if opts.outliers_by == "none" else opts.outliers_by
    for what, col in (("--batch-by", batch_by), ("--outliers-by", outliers_by)):
        if col is not None and col not in columns:
            raise GdbError(f"{what} {col}: no such sample column", file=cohort.store.path,
                           fix=f"use one of {', '.join(sorted(columns))}, or 'none'")
    why = "--batch-by none" if opts.batch_by == "none" else \
        "no batch column: the samples have no 'pipeline' column; give --batch-by COLUMN"
    values = None if batch_by is None else column_objects(samples, batch_by)[cohort.selection.samples]
    if opts.batch_by == "auto" and values is not None and len({v for v in values if v is not None}) < 2:
        why = f"the selected samples have one value of '{batch_by}' (batches need two or more)"
        batch_by = None
    return batch_by, outliers_by, why


def write_qc(cohort: Cohort, opts: QcOptions, out: str | os.PathLike, *, overwrite: bool = False,
             echo: Callable[[str], Any] | None = None) -> dict:
    """The QC directory ``out`` (see the module docstring); returns the summary (also in summary.json).

    ``echo`` gets one line per skipped output (the CLI prints them). Raises :class:`OutputExists` when
    ``out`` exists and not ``overwrite``; :class:`~gdbtools.errors.GdbError` before the pass when the options
    cannot be met (a ``sex_check_y`` without chrY, an unknown column).
    """
    from .stats import ploidy as pl
    from .stats.qc import sample_outliers

    out = Path(out)
    y_method = None if opts.sex_check_y == "none" else opts.sex_check_y
    if y_method is not None and opts.sex_check and not (cohort.selection.zones() == pl.Y_NONPAR).any():
        raise GdbError(f"--sex-check-y {y_method} counts chrY calls outside the PARs, and the selection has no "
                       "such variant", file=cohort.store.path,
                       fix="leave out --sex-check-y (chrX F only), or select chrY too")
    batch_by, outliers_by, no_batch = _auto_columns(cohort, opts)
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    with replacing(out, overwrite=overwrite, directory=True) as tmp, \
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="gdbtools-write") as pool:
        # each Parquet table is written in a thread (pyarrow leaves the GIL) as soon as it is made, while the
        # next one is computed; the outlier TSV (Python code: text) is made here, in the meantime
        writes: list[Future] = []
        provs: list[dict] = []

        def prov_of(info: dict) -> dict:
            if not provs:
                provs.append(provenance(cohort, "qc", opts, info.get("backend")))
                provs[0]["params"].update({"batch_by_resolved": batch_by, "outliers_by_resolved": outliers_by})
            return provs[0]

        def on_table(name: str, table: Table, info: dict) -> None:
            writes.append(pool.submit(write_table, table, tmp / f"{name}.parquet", prov_of(info)))

        res = cohort.compute(freq=list(opts.by) if opts.freq else False, adj=True,
                             variant_qc=True, sample_qc=True, qc_adj=opts.adj, batch_by=batch_by, batch_adj=opts.adj,
                             fdr=opts.fdr, unknown_sex=opts.unknown_sex, on_table=on_table)
        tables = res.tables
        prov = prov_of(res.info)
        sample_qc = tables["sample_qc"]
        groups = None if outliers_by is None else \
            column_objects(cohort.store.sample_arrow, outliers_by)[sample_qc.index]
        outliers = sample_outliers(sample_qc, groups, n_mads=opts.n_mads)
        write_table(outliers, tmp / "sample_outliers.tsv", prov)
        summary: dict[str, Any] = {
            "n_samples": len(sample_qc), "n_variants": len(tables["variant_qc"]),
            "n_outlier_samples": int(outliers["outlier"].sum()), "outliers_by": outliers_by,
            "backend": res.info.get("backend"), "adj": bool(opts.adj), "batch_by": batch_by}
        if "batch_check" in tables:
            summary["n_batch_flagged_variants"] = int(tables["batch_check"]["flagged"].sum())
        else:
            skipped["batch_check.parquet"] = no_batch
        if not opts.sex_check:
            skipped["sex_check.tsv"] = "--no-sex-check"
        else:
            try:
                sex = cohort.sex_check(y_method=y_method, female_max_y_calls=opts.female_max_y_calls,
                                       male_min_y_calls=opts.male_min_y_calls, as_table=True)
            except GdbError as exc:
                skipped["sex_check.tsv"] = exc.message
            else:
                writes.append(pool.submit(write_table, sex, tmp / "sex_check.tsv", prov))
                summary["n_sex_problems"] = int((sex.numpy("status") == "PROBLEM").sum())
                summary["sex_check_y"] = opts.sex_check_y
        for done in writes:
            done.result()  # a failed write raises here, inside replacing: nothing is put in place
        summary["written"] = sorted(p.name for p in tmp.iterdir()) + ["summary.json"]
        summary["skipped"] = skipped
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        summary[PROVENANCE_KEY] = prov
        write_json(tmp / "summary.json", summary)
    if echo is not None:
        for name, why in skipped.items():
            echo(f"{name} not written: {why}")
    return summary
