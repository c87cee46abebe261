"""The description of a result table: its kind, its sample groups, its columns grouped by variable with their
meanings from the registry (:mod:`gdbtools.stats.variables`), and the settings in its ``attrs``.

The statistics return plain pandas DataFrames (so every pandas tool works on them); this view is asked for
explicitly, ``gdb.describe(table)``, and never changes the table's own display.
"""

from __future__ import annotations

from ..stats.variables import TABLES, Variable, check_table, variable_of
from .render import Description, Section

__all__ = ["describe_table", "table_kind"]

#: one line per kind of table, shown under the title
KIND_TEXT = {
    "freq": "allele frequencies, one row per variant (gnomAD / bcftools +fill-tags names)",
    "variant_qc": "variant QC, one row per variant (Hail's variant_qc names)",
    "sample_qc": "sample QC, one row per sample (Hail's sample_qc names, plink's F)",
    "sex_check": "sex check, one row per sample (plink --check-sex)",
    "sample_outliers": "sample outliers, one row per sample (gnomAD's MAD filters)",
    "batch_check": "batch check, one row per variant (Fisher exact test between batches)",
}
_HIDDEN_ATTRS = ("freq_meta", "provenance")


def table_kind(df) -> str | None:
    """The registry table that `df` is (``"freq"``, ``"sample_qc"`` ...), or ``None`` if no declaration fits.

    A table with ``attrs["freq_meta"]`` is a frequency table; otherwise the first declaration that every
    column of `df` fits (names and dtypes), so a column subset such as ``freq[["AC", "AN"]]`` is still known.
    """
    if "freq_meta" in df.attrs:
        return "freq"
    for name in TABLES:
        try:
            check_table(df, name)
        except (ValueError, KeyError):
            continue
        return name
    return None


def describe_table(df, kind: str | None = None) -> Description:
    """The description of result table `df`; `kind` names its registry table when it cannot be inferred."""
    if kind is not None and kind not in TABLES:
        from ..errors import GdbError

        raise GdbError(f"no result table named {kind!r}", fix=f"use one of {', '.join(TABLES)}, or leave kind out")
    kind = kind or table_kind(df)
    title = f"gdbtools {kind} table" if kind else "table (not a gdbtools result table)"
    lines = [KIND_TEXT[kind]] if kind else []
    index = df.index.name or ", ".join(str(n) for n in df.index.names if n) or "a range"
    lines.append(f"{len(df):,} rows x {df.shape[1]:,} columns; index: {index}")
    sections = []
    meta = df.attrs.get("freq_meta")
    labels: list[str] = []
    if meta:
        sections.append(_group_section(meta))
        labels = [m["label"] for m in meta if m.get("label")]
    sections.append(_column_section(df, TABLES.get(kind, {}) if kind else {}, labels))
    settings = [(k, _short(v)) for k, v in df.attrs.items() if k not in _HIDDEN_ATTRS]
    if settings:
        sections.append(Section("Settings (attrs)", settings, open=False))
    if "provenance" in df.attrs:
        prov = df.attrs["provenance"]
        rows = [(k, _short(v)) for k, v in prov.items()] if isinstance(prov, dict) else [("provenance", _short(prov))]
        sections.append(Section("Provenance", rows, open=False))
    return Description(title, lines, sections)


def _group_section(meta: list[dict]) -> Section:
    """freq_meta: one row per group: column suffix, view (adj/raw), the grouping values, samples."""
    rows = []
    for m in meta:
        values = ", ".join(f"{k} = {v}" for k, v in m.items() if k not in ("label", "group", "n_samples"))
        label = m.get("label") or "(none)"
        rows.append((label, m.get("group", ""), values or "whole selection", m.get("n_samples")))
    return Section(f"Sample groups ({len(meta)})", rows, header=("suffix", "view", "samples of", "n_samples"),
                   note="a group's columns carry its suffix: AC_<suffix>; the bare names are the whole selection")


def _column_section(df, table: dict[str, Variable], labels: list[str]) -> Section:
    """Columns grouped by the declared variable they belong to, in the declaration's order."""
    found: dict[str, list[str]] = {}
    unknown = []
    for column in map(str, df.columns):
        var = variable_of(table, column, labels)
        if var is None:
            unknown.append(column)
        else:
            found.setdefault(var.name, []).append(column)
    rows = []
    for name, var in table.items():
        if name in found:
            rows.append((name, var.dtype, found[name], var.meaning))
    if unknown:
        rows.append(("(not declared)", "", unknown, "not in gdbtools.stats.variables"))
    return Section(f"Columns ({df.shape[1]:,}) by variable", rows, header=("variable", "dtype", "columns", "meaning"))


def _short(value, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
