"""The description of a cohort (:class:`gdbtools.Cohort`): what Hail's ``describe`` / sgkit's dataset repr show.

Read from the manifest and the sample table only (both already loaded by any statistic), plus one ``stat`` per
variant file; the selected variants are counted per contig only when the selection has regions (the positions
it then reads are the ones the next statistic needs anyway).  No genotype block is read.
"""

from __future__ import annotations

import os
from collections import Counter

from .render import Description, Section

__all__ = ["describe_cohort"]

MAX_VALUES = 8  #: values listed per metadata column (the most frequent first); the rest are counted


def describe_cohort(selection, *, backend: str = "auto", steps: tuple[str, ...] = ()) -> Description:
    """The description of the samples and variants of `selection` (a :class:`gdbtools.stats.Selection`).

    `steps` are the selection calls that led to it (``"samples: population == 'nfe'"``), shown as written.
    """
    store = selection.store
    man = store.manifest
    n_sel = int(selection.samples.sum())
    lines = [f"store {store.path}",
             f"{n_sel:,} of {store.n_samples:,} samples; {_variants_line(selection)}",
             f"genome build {store.build_name or 'unknown'}; written {man.get('created', '?')} by gdbtools "
             f"{man.get('software', {}).get('gdbtools', '?')}"]
    sections = [_selection_section(selection, steps, backend), _contig_section(selection),
                _metadata_section(store.samples[selection.samples]), _storage_section(store)]
    return Description("gdbtools Cohort", lines, sections)


def _variants_line(selection) -> str:
    store = selection.store
    if selection.regions is None:
        return f"{store.n_variants:,} variants (all)"
    return f"{len(selection.variants):,} of {store.n_variants:,} variants (regions selected)"


def _selection_section(selection, steps, backend: str) -> Section:
    regions = "all" if selection.regions is None else (", ".join(map(str, selection.regions)) or "none")
    rows = [("samples", f"{int(selection.samples.sum()):,} of {selection.store.n_samples:,}"), ("regions", regions)]
    rows += [("step", step) for step in steps]
    rows.append(("backend", backend if backend != "auto" else
                 "auto (CuPy with a GPU, else host C++ kernels, else NumPy; chosen at each call)"))
    return Section("Selection", rows)


def _contig_section(selection) -> Section:
    store = selection.store
    contigs = store.manifest.get("contigs", [])
    selected = None
    if selection.regions is not None:
        selected = Counter(selection.variants["contig"].astype(str))
    header = ("contig", "length", "variants") + (("selected",) if selected is not None else ())
    rows = []
    for c in contigs:
        row = (c["name"], c.get("length"), c.get("n_variants"))
        rows.append(row + ((selected.get(c["name"], 0),) if selected is not None else ()))
    return Section(f"Contigs ({len(contigs)})", rows, header=header)


def _metadata_section(samples) -> Section:
    """Each sample column (but the id and index) with its values and counts over the selected samples."""
    rows = []
    for name in samples.columns:
        if name in ("sample_id", "sample_index"):
            continue
        col = samples[name]
        missing = int(col.isna().sum())
        values = col.dropna()
        numeric = values.dtype.kind in "iuf" and values.nunique() > MAX_VALUES
        if numeric:
            text = f"min {values.min():.4g}, median {values.median():.4g}, max {values.max():.4g}"
        else:
            counts = values.astype(str).value_counts()
            shown = [f"{value} ({n:,})" for value, n in counts.iloc[:MAX_VALUES].items()]
            if len(counts) > MAX_VALUES:
                shown.append(f"... {len(counts) - MAX_VALUES:,} more values")
            text = ", ".join(shown) or "-"
        rows.append((name, values.nunique(), missing, text))
    return Section(f"Sample metadata ({len(rows)} columns)", rows, header=("column", "values", "missing", "counts"),
                   note="counts over the selected samples")


def _storage_section(store) -> Section:
    man = store.manifest
    blocks = store.blocks_meta
    encodings = Counter(b["encoding"] for b in blocks)
    planes = sorted({p for b in blocks for p in b.get("planes", ())})
    block_bytes = sum(int(b.get("bytes", 0)) for b in blocks)
    table_bytes = sum(_size(store.path / p["variants"]) for p in man.get("partitions", []) if p.get("variants"))
    other = _size(store.path / "samples.parquet") + _size(store.path / "manifest.json")
    adj = man.get("params", {}).get("adj") or {}
    rows = [("encoding", ", ".join(f"{enc} ({n:,} blocks)" for enc, n in sorted(encodings.items()))),
            ("block size", f"up to {max((b['n_variants'] for b in blocks), default=0):,} variants"),
            ("planes", ", ".join(planes) + ("  (genotype filters stored: adj available)" if "fail" in planes
                                             else "  (no genotype filters: adj equals raw)")),
            ("genotype filters", ", ".join(f"{k} {v}" for k, v in adj.items()) or "none"),
            ("on disk", f"{_human(block_bytes + table_bytes + other)} (genotype blocks {_human(block_bytes)}, "
                        f"variant tables {_human(table_bytes)})"),
            ("sources", f"{len(man.get('sources', []))} file(s)")]
    return Section("Storage", rows, open=False)


def _size(path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover - the loop always returns
