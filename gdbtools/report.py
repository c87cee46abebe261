"""The QC report: one self-contained HTML page of a QC directory (``gdbtools report STORE --qc QC --out r.html``).

It reads what :func:`gdbtools.outputs.write_qc` wrote (``summary.json``, ``sample_qc.parquet``,
``variant_qc.parquet``, ``sex_check.tsv``, ``sample_outliers.tsv``, ``batch_check.parquet``) and the store's
sample table (groups, build), and draws the pictures of :mod:`gdbtools.plot`:

1. summary: counts, and every output the QC did not write with its reason;
2. call rate, heterozygosity and Ti/Tv by sample group (and by batch when the QC had batches);
3. sex check (chrX F against chrY calls or reported sex) and its PROBLEM samples;
4. allele-frequency spectrum; 5. HWE QQ per contig class (pooled, said so, or one series per group);
6. batch effects; 7. the outlier samples; 8. provenance (the QC's, the report's, and the sha256 of each file
   read).

The page makes no network request: the CSS is in the page, the pictures are ``data:image/png;base64`` URIs,
there is no script, font or link to load. A missing optional table (no chrX, no batches) is a sentence in
its section, not an error. A QC directory of another store is refused (manifest checksums differ).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GdbError
from .outputs import replacing

if TYPE_CHECKING:
    import pandas as pd

    from .optionsets import ReportOptions
    from .store import Store

__all__ = ["QcResults", "read_qc", "write_report", "render_report", "SECTIONS"]

#: the section ids of the page, in order (each is an ``<h2 id=...>``; the tests look for all of them)
SECTIONS = ("summary", "sample-qc", "sex-check", "af-spectrum", "hwe-qq", "batch-effects", "outliers",
            "provenance")


class QcResults:
    """The files of a QC directory, read once: ``summary`` (dict) and each table, ``None`` when not written.

    ``missing[name]`` says why a table is absent (``summary.json["skipped"]``'s reason, or that the file is
    not there); ``checksums`` holds the sha256 of every file read.
    """

    TABLES = {"sample_qc": "sample_qc.parquet", "variant_qc": "variant_qc.parquet", "sex_check": "sex_check.tsv",
              "sample_outliers": "sample_outliers.tsv", "batch_check": "batch_check.parquet"}

    def __init__(self, qc_dir: str | os.PathLike):
        import pandas as pd

        from .store.format import sha256_file

        self.path = Path(qc_dir)
        summary_path = self.path / "summary.json"
        if not summary_path.is_file():
            raise GdbError("not a QC directory: it has no summary.json", file=self.path,
                           fix="give the directory that `gdbtools qc STORE --out DIR` wrote")
        try:
            self.summary: dict = json.loads(summary_path.read_text())
        except json.JSONDecodeError as exc:
            raise GdbError(f"summary.json does not parse ({exc})", file=summary_path,
                           fix="write the QC directory again with `gdbtools qc --overwrite`") from exc
        self.checksums = {"summary.json": sha256_file(summary_path)}
        self.missing: dict[str, str] = {}
        skipped = self.summary.get("skipped", {})
        self.tables: dict[str, pd.DataFrame | None] = {}
        for name, file in self.TABLES.items():
            path = self.path / file
            if not path.is_file():
                self.tables[name] = None
                self.missing[name] = skipped.get(file) or f"{file} is not in the QC directory"
                continue
            self.checksums[file] = sha256_file(path)
            table = pd.read_parquet(path) if file.endswith(".parquet") else pd.read_csv(path, sep="\t")
            if "sample_index" in table.columns:
                table = table.set_index("sample_index")
            self.tables[name] = table
        if self.tables["sample_qc"] is None or self.tables["variant_qc"] is None:
            raise GdbError("the QC directory has no sample_qc.parquet or variant_qc.parquet", file=self.path,
                           fix="write the QC directory again with `gdbtools qc --overwrite`")

    @property
    def provenance(self) -> dict:
        return self.summary.get("provenance", {})

    @property
    def params(self) -> dict:
        return self.provenance.get("params", {})


def read_qc(store: Store, qc_dir: str | os.PathLike) -> QcResults:
    """The QC directory of `store`; refused when its provenance names another store (manifest sha256)."""
    from .store.format import sha256_file

    qc = QcResults(qc_dir)
    recorded = qc.provenance.get("store", {}).get("manifest_sha256")
    actual = sha256_file(Path(store.path) / "manifest.json")
    if recorded is not None and recorded != actual:
        raise GdbError(f"the QC results were computed on another store (manifest sha256 {recorded[:12]}..., this "
                       f"store's is {actual[:12]}...; QC store path: {qc.provenance['store'].get('path')})",
                       file=qc.path / "summary.json",
                       fix="give the store the QC ran on, or run `gdbtools qc` on this store")
    return qc


# -- choosing the groups --------------------------------------------------------------------------------------
def _column(store: Store, name: str, option: str) -> str | None:
    if name == "none":
        return None
    if name not in store.samples.columns:
        raise GdbError(f"{option} {name}: no such sample column", file=store.path,
                       fix=f"use one of {', '.join(map(str, store.samples.columns))}, or 'none'")
    return name


def _group_column(store: Store, qc: QcResults, opts: ReportOptions) -> str | None:
    from .stats.selection import POPULATION_COLUMNS

    if opts.group_by != "auto":
        return _column(store, opts.group_by, "--group-by")
    columns = set(store.samples.columns)
    resolved = qc.params.get("outliers_by_resolved") or qc.summary.get("outliers_by")
    if resolved in columns:
        return resolved
    return next((c for c in POPULATION_COLUMNS if c in columns), None)


def _by_sample(store: Store, column: str) -> pd.Series:
    return store.samples.set_index("sample_index")[column]


def _hwe_tables(store: Store, qc: QcResults, opts: ReportOptions) -> tuple[Any, str | None]:
    """The variant QC table(s) of the QQ plot: the QC's (pooled) or one per group of ``opts.hwe_by``."""
    column = _column(store, opts.hwe_by, "--hwe-by")
    if column is None:
        return qc.tables["variant_qc"], None
    from . import open as open_cohort

    params = qc.params
    cohort = open_cohort(store.path, backend=opts.backend)
    if params.get("samples") or params.get("regions"):  # the QC's own selection
        cohort = cohort.select(samples=params.get("samples"), region=list(params.get("regions") or []) or None)
    values = store.samples[column]
    tables = {}
    for value in sorted(values.dropna().unique(), key=str):
        mask = (values == value).to_numpy() & cohort.selection.samples
        if mask.any():
            part = cohort.select(samples=mask)
            tables[str(value)] = part.variant_qc(adj=bool(params.get("adj", False)),
                                                 unknown_sex=params.get("unknown_sex", "exclude"), progress=False)
    return tables, column


# -- HTML ---------------------------------------------------------------------------------------------------
_CSS = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
th { background: #f3f3f3; } .note { color: #8a5a00; } img { max-width: 100%; }
pre { background: #f7f7f7; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
nav a { margin-right: 1em; }
"""


def figure_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(fig, alt: str) -> str:
    return f'<p><img alt="{_e(alt)}" src="{figure_uri(fig)}"></p>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(df: pd.DataFrame, max_rows: int) -> str:
    shown = df.head(max_rows)
    more = f"<p>{len(df) - max_rows:,} more rows in the QC file.</p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, border=0, na_rep="NA", float_format=lambda x: f"{x:.4g}") + more


def _details(summary: str, content: str) -> str:
    """A table folded under a line that opens it (HTML ``<details>``: no script)."""
    return f"<details><summary>{_e(summary)}</summary>{content}</details>"


def _section(key: str, title: str, body: list[str]) -> str:
    return f'<h2 id="{key}">{_e(title)}</h2>\n' + "\n".join(body)


def _summary(qc: QcResults) -> list[str]:
    keys = ["n_samples", "n_variants", "n_outlier_samples", "n_sex_problems", "n_batch_flagged_variants",
            "outliers_by", "batch_by", "adj", "backend"]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(qc.summary[k])}</td></tr>" for k in keys if k in qc.summary)
    body = [f"<table>{rows}</table>"]
    for file, why in qc.summary.get("skipped", {}).items():
        body.append(_note(f"{file} was not written: {why}"))
    return body


def _sample_qc(store: Store, qc: QcResults, group: str | None) -> list[str]:
    from . import plot

    sample_qc = qc.tables["sample_qc"]
    assert sample_qc is not None
    outliers = qc.tables["sample_outliers"]
    flags = None if outliers is None else outliers["outlier"].astype(bool)
    groups = None if group is None else _by_sample(store, group)
    body = [_img(plot.sample_metrics(sample_qc, groups, outliers=flags, group_name=group or "all samples"),
                 "sample QC by group")]
    metrics = {"call_rate": sample_qc["call_rate"],
               "heterozygosity": sample_qc["n_het"] / sample_qc["n_called"].where(sample_qc["n_called"] > 0),
               "r_ti_tv": sample_qc["r_ti_tv"]}
    import pandas as pd

    frame = pd.DataFrame(metrics)
    key = (groups.reindex(frame.index).astype(object).fillna("missing").astype(str) if groups is not None
           else pd.Series("all samples", index=frame.index))
    medians = frame.groupby(key).median().add_suffix(" (median)")
    medians.insert(0, "samples", key.value_counts().reindex(medians.index))
    body.append(medians.reset_index(names=group or "group").to_html(index=False, border=0,
                                                                   float_format=lambda x: f"{x:.4g}"))
    batch = qc.summary.get("batch_by")
    if batch and batch != group and batch in store.samples.columns:
        body.append(_img(plot.sample_metrics(sample_qc, _by_sample(store, batch), outliers=flags, group_name=batch),
                         "sample QC by batch"))
    return body


def _sex_check(qc: QcResults, max_rows: int) -> list[str]:
    from . import plot

    table = qc.tables["sex_check"]
    if table is None:
        return [_note(f"No sex check: {qc.missing['sex_check']}")]
    problems = table[table["status"] == "PROBLEM"]
    body = [_img(plot.sex_check(table), "sex check"),
            f"<p>{len(problems):,} of {len(table):,} samples with status PROBLEM (reported sex not the one "
            "inferred from chrX F; ambiguous F counts as a problem, as plink's --check-sex).</p>"]
    if len(problems):
        body.append(_details(f"the {len(problems):,} PROBLEM samples", _table(problems.reset_index(), max_rows)))
    return body


def _spectrum(qc: QcResults) -> list[str]:
    from . import plot

    view = "adj (genotype filters applied)" if qc.params.get("adj") else "raw calls"
    return [_img(plot.af_spectrum(qc.tables["variant_qc"]), "allele frequency spectrum"),
            f"<p>Minor allele counts of the QC's variant table ({_e(view)}); counts 1-5 are bars of their own, "
            "higher counts log-spaced frequency bins.</p>"]


def _hwe(store: Store, qc: QcResults, opts: ReportOptions) -> list[str]:
    from . import plot

    tables, column = _hwe_tables(store, qc, opts)
    words = (f"each group of '{column}' tested apart" if column else
             "all samples pooled in one test (a mix of populations deviates from HWE by itself; "
             "--hwe-by COLUMN tests each group apart)")
    try:
        fig = plot.hwe_qq(tables, build=store.build_name, pooled=None if column else "all samples pooled in one test")
    except GdbError as exc:
        return [_note(f"No HWE QQ plot: {exc.message}")]
    return [_img(fig, "HWE QQ plot"),
            f"<p>Autosomes and chrX PARs: p_value_hwe (mid-p of the diploid calls). chrX outside the PARs: "
            f"p_value_hwe_x (with males, Graffelman-Weir). Samples: {_e(words)}. chrY and chrM have no test.</p>"]


def _batch(qc: QcResults) -> list[str]:
    from . import plot

    table = qc.tables["batch_check"]
    if table is None:
        return [_note(f"No batch check: {qc.missing['batch_check']}")]
    return [_img(plot.batch_effect(table), "batch effects")]


def _outliers(qc: QcResults, max_rows: int) -> list[str]:
    table = qc.tables["sample_outliers"]
    if table is None:
        return [_note(f"No outlier table: {qc.missing['sample_outliers']}")]
    flagged = table[table["outlier"].astype(bool)]
    n_mads = qc.params.get("n_mads")
    head = (f"<p>{len(flagged):,} of {len(table):,} samples outside median +- {_e(n_mads)} MADs of their group "
            f"(gnomAD's metrics; grouped by {_e(qc.summary.get('outliers_by') or 'nothing: one group')}).</p>")
    if not len(flagged):
        return [head]
    columns = [c for c in ("sample_id", "group", "qc_metrics_filters") if c in flagged.columns]
    return [head, _details(f"the {len(flagged):,} outlier samples",
                           _table(flagged.reset_index()[["sample_index", *columns]], max_rows))]


def _provenance(qc: QcResults, opts: ReportOptions, store: Store) -> list[str]:
    from dataclasses import asdict

    import gdbtools

    report = {"command": "report", "gdbtools_version": gdbtools.__version__,
              "time": datetime.now(UTC).isoformat(timespec="seconds"), "store": str(Path(store.path).resolve()),
              "qc_dir": str(qc.path.resolve()), "options": asdict(opts), "files_sha256": qc.checksums}
    return ["<h3>QC run</h3>", f"<pre>{_e(json.dumps(qc.provenance, indent=1, default=str))}</pre>",
            "<h3>This report</h3>", f"<pre>{_e(json.dumps(report, indent=1, default=str))}</pre>"]


def render_report(store: Store, qc: QcResults, opts: ReportOptions) -> str:
    """The HTML text of the report (see the module docstring)."""
    group = _group_column(store, qc, opts)
    title = opts.title or f"QC report: {Path(store.path).resolve().name}"
    no_groups = [] if group or opts.group_by == "none" else [
        _note("No sample groups: the samples have no population column; --group-by COLUMN draws them by its values")]
    parts = [
        ("summary", "Summary", _summary(qc)),
        ("sample-qc", "Call rate, heterozygosity and Ti/Tv " + (f"by {group}" if group else "of all samples"),
         no_groups + _sample_qc(store, qc, group)),
        ("sex-check", "Sex check", _sex_check(qc, opts.max_rows)),
        ("af-spectrum", "Allele-frequency spectrum", _spectrum(qc)),
        ("hwe-qq", "Hardy-Weinberg QQ plot", _hwe(store, qc, opts)),
        ("batch-effects", "Batch effects", _batch(qc)),
        ("outliers", "Outlier samples", _outliers(qc, opts.max_rows)),
        ("provenance", "Provenance", _provenance(qc, opts, store)),
    ]
    nav = " ".join(f'<a href="#{key}">{_e(name)}</a>' for key, name, _ in parts)
    body = "\n".join(_section(key, name, content) for key, name, content in parts)
    when = qc.provenance.get("time", "?")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n<h1>{_e(title)}</h1>\n"
            f"<p>Store {_e(Path(store.path).resolve())} (build {_e(store.build_name)}); QC of {_e(when)}; "
            f"{_e(store.n_samples):s} samples in the store.</p>\n<nav>{nav}</nav>\n{body}\n</body></html>\n")


def write_report(store: Store | str | os.PathLike, qc_dir: str | os.PathLike, out: str | os.PathLike,
                 opts: ReportOptions | None = None, *, overwrite: bool = False) -> dict:
    """Write the report of `qc_dir` (written by ``gdbtools qc`` on `store`) to `out` (one .html file).

    Returns ``{"path", "bytes", "images", "missing"}`` (``missing``: table -> why it is not in the page).
    Raises :class:`~gdbtools.outputs.OutputExists` when `out` exists and not `overwrite`, and
    :class:`~gdbtools.errors.GdbError` for a directory that is not a QC directory of this store.
    """
    from .optionsets import ReportOptions
    from .store import Store

    opts = opts or ReportOptions()
    store = store if isinstance(store, Store) else Store(store)
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GdbError(f"{out}: the report is an HTML page", file=out, fix="name it e.g. report.html")
    qc = read_qc(store, qc_dir)
    text = render_report(store, qc, opts)
    with replacing(out, overwrite=overwrite) as tmp:
        (tmp / out.name).write_text(text, encoding="utf-8")
    return {"path": str(out), "bytes": len(text.encode()), "images": text.count('src="data:image/png;base64,'),
            "missing": dict(qc.missing)}
