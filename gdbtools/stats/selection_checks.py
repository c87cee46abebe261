"""Selections that match nothing are errors, with a message that shows what exists.

:func:`check_samples` and :func:`check_regions` run when a selection is made
(:meth:`gdbtools.cohort.Cohort.select`); ``allow_empty=True`` there (``--allow-empty`` on the command line)
lets an empty selection through, for pipelines that want an empty table rather than an error.

- a sample query matching no sample: ``0 of 2,000 samples match population == 'NFE'; population has afr,
  eas, nfe`` and, when a quoted value differs from an existing one only in case, ``did you mean population
  == 'nfe'?``;
- a region on a contig that is not in the store: ``chr17 is not in this store (contigs: chr1, chrX); did you
  mean 17?`` (``chr`` prefixes and case are tried, then close spellings); with several regions of which
  some match, a :class:`~gdbtools.errors.SelectionWarning` names the ones that do not;
- regions that hold no variant (or do not overlap a previous selection): an error naming them.
"""

from __future__ import annotations

import difflib
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EmptySelectionError, SelectionWarning
from ..genome import Region
from ..table import Table, factorize

if TYPE_CHECKING:  # a sample query is pandas' (the tables are not: a region check needs no pandas)
    import pandas as pd

__all__ = ["check_samples", "check_regions", "contig_suggestion"]

_MAX_VALUES = 12
_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def _n(x: int) -> str:
    return f"{x:,}"


def _values_text(series: pd.Series) -> str:
    values = sorted({str(v) for v in series.dropna().unique()})
    text = ", ".join(values[:_MAX_VALUES])
    if len(values) > _MAX_VALUES:
        text += f", ... ({len(values)} values)"
    return text or "no values"


def _query_columns(table: pd.DataFrame, query: str) -> list[str]:
    """Sample columns named in a pandas query (bare or in backticks), in table order."""
    out = []
    for col in map(str, table.columns):
        if f"`{col}`" in query or re.search(rf"(?<![\w`.]){re.escape(col)}(?![\w`])", query):
            out.append(col)
    return out


def _case_suggestion(table: pd.DataFrame, columns: list[str], query: str) -> str | None:
    """The query with each quoted value that matches an existing value of a named column only up to case
    replaced by that value (``None`` if there is no such value)."""
    fixed = query
    for match in _LITERAL.finditer(query):
        literal = match.group(1) if match.group(1) is not None else match.group(2)
        quote = match.group(0)[0]
        for col in columns:
            values = {str(v) for v in table[col].dropna().unique()}
            if literal in values:
                break
            lower = {v.lower(): v for v in values}
            if literal.lower() in lower:
                fixed = fixed.replace(f"{quote}{literal}{quote}", f"{quote}{lower[literal.lower()]}{quote}")
                break
    return fixed if fixed != query else None


def check_samples(table: pd.DataFrame, query, hit: np.ndarray, before: np.ndarray) -> None:
    """Raise :class:`~gdbtools.errors.EmptySelectionError` when `hit & before` selects no sample.

    Parameters
    ----------
    table : DataFrame
        All samples of the store.
    query : str, sequence or mask
        What the user asked for (a pandas query is described value by value).
    hit : (N,) bool
        Samples the query matches.
    before : (N,) bool
        Samples selected before this query (the query narrows them).
    """
    if (hit & before).any():
        return
    n_all, n_before, n_hit = len(table), int(before.sum()), int(hit.sum())
    if n_all == 0:
        raise EmptySelectionError("this store has no samples, so a sample selection cannot match any",
                                  fix="select no samples (the frequencies then have AN 0), or use a store with "
                                      "genotypes")
    if not isinstance(query, str):
        what = "the given sample ids" if not np.asarray(query).dtype == bool else "the given mask"
        raise EmptySelectionError(f"0 of {_n(n_before)} selected samples are in {what}",
                                  fix="select at least one sample, or pass allow_empty=True (--allow-empty)")
    if n_hit and n_before < n_all:
        raise EmptySelectionError(
            f"0 of the {_n(n_before)} already selected samples match {query} (it matches {_n(n_hit)} of "
            f"{_n(n_all)} samples of the store)",
            fix="the selections combine with AND: select from the whole cohort, or pass allow_empty=True "
                "(--allow-empty)")
    columns = _query_columns(table, query)
    parts = [f"0 of {_n(n_all)} samples match {query}"]
    parts += [f"{col} has {_values_text(table[col])}" for col in columns]
    suggestion = _case_suggestion(table, columns, query)
    fix = (f"did you mean {suggestion}? (values are compared case-sensitively)" if suggestion else
           "check the values above, or pass allow_empty=True (--allow-empty) to accept an empty selection")
    raise EmptySelectionError("; ".join(parts), fix=fix)


def contig_suggestion(contig: str, contigs: list[str]) -> str | None:
    """The store contig `contig` probably means: ``17`` <-> ``chr17``, case, then a close spelling."""
    bare = contig[3:] if contig.lower().startswith("chr") else contig
    for cand in (bare, f"chr{bare}"):
        if cand in contigs:
            return cand
    lower = {c.lower(): c for c in contigs}
    for cand in (contig.lower(), bare.lower(), f"chr{bare}".lower()):
        if cand in lower:
            return lower[cand]
    digits = re.sub(r"\D", "", contig)  # chr17 is not a misspelt chr1
    close = [c for c in difflib.get_close_matches(contig, contigs, n=3, cutoff=0.75) if re.sub(r"\D", "", c) == digits]
    return close[0] if close else None


def _contigs_text(contigs: list[str]) -> str:
    text = ", ".join(contigs[:_MAX_VALUES * 2])
    return text + (f", ... ({len(contigs)} contigs)" if len(contigs) > _MAX_VALUES * 2 else "")


def check_regions(contigs: list[str], regions: tuple[Region, ...], variants: Table | None) -> None:
    """Raise when `regions` select nothing, warn when some of several select nothing.

    Parameters
    ----------
    contigs : list of str
        The store's contigs.
    regions : tuple of Region
        The selected regions (after intersecting with earlier selections; empty: they did not overlap).
    variants : Table or None
        The store's variants (``contig``, ``pos``: :func:`gdbtools.stats.selection.store_variant_table`), to
        find regions without variants; ``None``: skip that.
    """
    if not regions:
        raise EmptySelectionError("the selected regions do not overlap the regions selected before",
                                  fix="the selections combine with AND: select from the whole cohort, or pass "
                                      "allow_empty=True (--allow-empty)")
    missing = [r for r in regions if r.contig not in contigs]
    if missing:
        texts = []
        for r in missing:
            hint = contig_suggestion(r.contig, contigs)
            texts.append(f"{r.contig} is not in this store (contigs: {_contigs_text(contigs)})"
                         + (f"; did you mean {hint}?" if hint else ""))
        if len(missing) == len(regions):
            raise EmptySelectionError("; ".join(dict.fromkeys(texts)),
                                      fix="name a contig of the store as it is written there, or pass "
                                          "allow_empty=True (--allow-empty)")
        warnings.warn(f"{len(missing)} of {len(regions)} regions select nothing: "
                      f"{', '.join(map(str, missing))} ({'; '.join(dict.fromkeys(texts))})",
                      SelectionWarning, stacklevel=3)
    if variants is None:
        return
    present = [r for r in regions if r.contig in contigs]
    codes, names = factorize(variants["contig"])
    pos = variants["pos"]

    def on_contig(name: str) -> np.ndarray:
        return codes == names.index(name) if name in names else np.zeros(codes.shape, bool)

    empty = [r for r in present if not (on_contig(r.contig) & r.contains(pos)).any()]
    if not empty:
        return
    if len(empty) == len(regions) or len(empty) + len(missing) == len(regions):
        where = []
        for r in empty:
            on = pos[on_contig(r.contig)]
            span = f"{r.contig} has variants at {_n(int(on.min()))}-{_n(int(on.max()))}" if on.size else \
                f"{r.contig} has no variants"
            where.append(f"{r} ({span})")
        gone = [f"{r.contig} is not in this store" for r in missing]
        raise EmptySelectionError("; ".join([f"no variants in {', '.join(where)}", *dict.fromkeys(gone)]),
                                  fix="check the coordinates (and the genome build), or pass allow_empty=True "
                                      "(--allow-empty)")
    warnings.warn(f"{len(empty)} of {len(regions)} regions hold no variants: {', '.join(map(str, empty))}",
                  SelectionWarning, stacklevel=3)
