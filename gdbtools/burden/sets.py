"""Variant sets of the gene-based tests: one :class:`VariantSet` per gene.

Three sources, one result:

- the variant table's ``gene`` column (VEP ``CSQ``, snpEff ``ANN`` or bcftools ``BCSQ`` parsed at ingest:
  :mod:`gdbtools.ingest.annotations`), with ``consequence`` as each variant's annotation;
- a gene BED (chrom, 0-based start, end, name in the 4th column; ``#``, ``track``, ``browser`` lines and a
  header line whose start/end are not integers are skipped; several lines of one name on one contig, e.g.
  coding exons, make one gene) or GTF (``gene`` features, named by ``gene_name``, else ``gene_id``; 1-based
  inclusive), by overlap: a variant belongs to a gene when its REF span ``pos .. pos + len(ref) - 1`` meets
  an interval (``bcftools view -R``'s default "record" overlap);
- an annotation table (:func:`gdbtools.burden.masks.read_annotations`): gene and annotation per variant, as
  regenie's ``--anno-file``.

A variant in overlapping genes is in each.  Contig names match whatever the spelling (``22``, ``chr22``,
``X``/``23``: :func:`gdbtools.genome.contig_kind`).  Genes are sorted by (the store's contig order, start),
and a gene's ``start``/``end`` are 1-based inclusive.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GdbError
from ..genome import contig_kind

__all__ = ["VariantSet", "GeneSets", "gene_sets", "read_gene_intervals"]


@dataclass
class VariantSet:
    """One gene: its variants (global indices, sorted) and their annotations.

    Attributes
    ----------
    name : str
    contig : str
        The store's spelling.
    start, end : int
        1-based, inclusive: the gene's interval (BED/GTF) or its variants' span (variant table).
    variant_index : (m,) int64
        Global variant indices (store row order), ascending.
    annotation : (m,) object (str or None), or None
        The consequence term or annotation class of each variant; ``None`` when there is no annotation.
    """

    name: str
    contig: str
    start: int
    end: int
    variant_index: np.ndarray
    annotation: np.ndarray | None = None

    @property
    def n_variants(self) -> int:
        return int(self.variant_index.shape[0])


class GeneSets(list):
    """A list of :class:`VariantSet` with a ``report`` dict: where the genes came from and what was left out
    (``source``, ``n_genes_in_file``, ``n_genes_without_variants``, ``contigs_not_in_store``, ...)."""

    def __init__(self, sets, report: dict):
        super().__init__(sets)
        self.report = report


def _open_text(path):
    p = os.fspath(path)
    with open(p, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(p, "rt") if gz else open(p)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


_GTF_ATTR = re.compile(r'(\w+)\s+"([^"]*)"')


def read_gene_intervals(path) -> pd.DataFrame:
    """The intervals of a gene BED or GTF (by extension: ``.gtf``/``.gff``, optionally ``.gz``, else BED).

    Returns
    -------
    DataFrame
        ``contig`` (as written), ``start0`` (0-based), ``end`` (inclusive 1-based = exclusive 0-based),
        ``name``, one row per interval, in file order.

    Raises
    ------
    GdbError
        A missing file; a line with fewer than 4 fields (BED: a name is needed) or non-integer coordinates
        after the header; a GTF ``gene`` line without ``gene_name`` or ``gene_id``; no interval at all.
    """
    name = os.path.basename(os.fspath(path)).lower().removesuffix(".gz")
    gtf = name.endswith((".gtf", ".gff", ".gff2"))
    contig, start0, end, gene = [], [], [], []
    try:
        fh = _open_text(path)
    except FileNotFoundError as exc:
        raise GdbError("no such gene file", file=path, fix="check the --genes path") from exc
    seen_data = False
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            f = line.rstrip("\n\r").split("\t") if "\t" in line else line.split()
            if gtf:
                if len(f) < 9:
                    raise GdbError(f"a GTF line has {len(f)} fields, not 9", file=path, where=f"line {lineno}",
                                   fix="write the GTF tab-separated with 9 columns")
                if f[2] != "gene":
                    continue
                attrs = dict(_GTF_ATTR.findall(f[8]))
                label = attrs.get("gene_name") or attrs.get("gene_id")
                if not label:
                    raise GdbError("a gene line has neither gene_name nor gene_id", file=path,
                                   where=f"line {lineno}", fix="add gene_name \"...\" to its attributes")
                lo, hi = f[3], f[4]
                if not (_is_int(lo) and _is_int(hi)):
                    raise GdbError(f"start/end {lo!r}/{hi!r} are not integers", file=path, where=f"line {lineno}")
                contig.append(f[0])
                start0.append(int(lo) - 1)
                end.append(int(hi))
                gene.append(label)
                continue
            if len(f) < 4:
                raise GdbError(f"a BED line has {len(f)} fields; the gene name is the 4th", file=path,
                               where=f"line {lineno}", fix="write chrom, start, end, name (tab-separated)")
            if not (_is_int(f[1]) and _is_int(f[2])):
                if not seen_data:  # a header line ("Chr Start End Name")
                    continue
                raise GdbError(f"start/end {f[1]!r}/{f[2]!r} are not integers", file=path, where=f"line {lineno}",
                               fix="BED coordinates are 0-based integers")
            seen_data = True
            contig.append(f[0])
            start0.append(int(f[1]))
            end.append(int(f[2]))
            gene.append(f[3])
    if not gene:
        raise GdbError("the gene file has no " + ("gene features" if gtf else "intervals"), file=path,
                       fix="give a BED (chrom, start, end, name) or a GTF with `gene` lines")
    return pd.DataFrame({"contig": contig, "start0": np.asarray(start0, np.int64), "end": np.asarray(end, np.int64),
                         "name": gene})


def _contig_map(store_contigs: list[str]) -> dict[str, str]:
    """Any spelling (via :func:`contig_kind`) -> the store's contig name."""
    return {contig_kind(c): c for c in store_contigs}


def _overlap_sets(intervals: pd.DataFrame, variants: pd.DataFrame, contigs: list[str], source: str) -> GeneSets:
    cmap = _contig_map(contigs)
    iv = intervals.assign(store_contig=intervals["contig"].map(lambda c: cmap.get(contig_kind(str(c)))))
    missing = sorted(set(iv.loc[iv["store_contig"].isna(), "contig"].astype(str)))
    iv = iv[iv["store_contig"].notna()]
    pieces = []  # (gene key, variant index) pairs
    vpos = variants["pos"].to_numpy(np.int64)
    vend = vpos + (variants["ref"].str.len().to_numpy(np.int64) - 1 if "ref" in variants else 0)
    vcontig = variants["contig"].to_numpy(object)
    vindex = variants.index.to_numpy(np.int64)
    genes = iv.groupby(["store_contig", "name"], sort=False).agg(start0=("start0", "min"), end=("end", "max"))
    key_of = {k: i for i, k in enumerate(genes.index)}
    for c, part in iv.groupby("store_contig", sort=False):
        on = np.flatnonzero(vcontig == c)
        if on.size == 0:
            continue
        order = np.argsort(vpos[on], kind="stable")
        on = on[order]
        pos, end = vpos[on], vend[on]
        max_len = int((end - pos).max()) + 1
        # candidates: pos in [start0 + 2 - max_len, end]; then keep those whose REF span reaches start0 + 1
        lo = np.searchsorted(pos, part["start0"].to_numpy() + 2 - max_len, side="left")
        hi = np.searchsorted(pos, part["end"].to_numpy(), side="right")
        count = hi - lo
        k = np.repeat(np.arange(len(part)), count)
        j = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count) + np.repeat(lo, count)
        start0 = part["start0"].to_numpy()[k]
        keep = end[j] >= start0 + 1
        keys = np.array([key_of[(c, n)] for n in part["name"]], dtype=np.int64)
        pieces.append(pd.DataFrame({"gene": keys[k[keep]], "variant": vindex[on[j[keep]]]}))
    pairs = (pd.concat(pieces).drop_duplicates() if pieces else pd.DataFrame({"gene": [], "variant": []}))
    by_gene = {g: np.sort(v.to_numpy(np.int64)) for g, v in pairs.groupby("gene")["variant"]} if len(pairs) else {}
    sets = []
    for i, ((c, name), row) in enumerate(genes.iterrows()):
        vi = by_gene.get(i)
        if vi is not None and vi.size:
            sets.append(VariantSet(str(name), str(c), int(row["start0"]) + 1, int(row["end"]), vi))
    report = {"source": source, "n_genes_in_file": int(intervals.groupby(["contig", "name"]).ngroups),
              "n_genes_on_store_contigs": len(genes), "n_genes_with_variants": len(sets),
              "n_genes_without_variants": len(genes) - len(sets), "contigs_not_in_store": missing[:20]}
    return GeneSets(sets, report)


def _column_sets(variants: pd.DataFrame, gene: pd.Series, annotation: pd.Series | None, source: str) -> GeneSets:
    frame = pd.DataFrame({"gene": gene, "contig": variants["contig"].reindex(gene.index),
                          "pos": variants["pos"].reindex(gene.index)})
    if annotation is not None:
        frame["annotation"] = annotation
    frame = frame[frame["gene"].notna() & (frame["gene"].astype(str) != "")]
    sets = []
    for (c, name), part in frame.groupby(["contig", "gene"], sort=False):
        part = part.sort_index()
        ann = None if annotation is None else part["annotation"].to_numpy(object)
        sets.append(VariantSet(str(name), str(c), int(part["pos"].min()), int(part["pos"].max()),
                               part.index.to_numpy(np.int64), ann))
    report = {"source": source, "n_genes_with_variants": len(sets),
              "n_variants_without_gene": int(len(gene) - gene.notna().sum())}
    return GeneSets(sets, report)


def gene_sets(store, variants: pd.DataFrame, *, genes=None, annotations: pd.DataFrame | None = None) -> GeneSets:
    """The variant sets (genes) of `variants`.

    Parameters
    ----------
    store : Store
        For the contig order and names.
    variants : DataFrame
        Rows of the variant table (indexed by global ``variant_index``) to group: at least ``contig`` and
        ``pos`` (and ``ref`` for the overlap of indels); ``gene`` (and ``consequence``) without `genes`.
    genes : path, optional
        A gene BED or GTF (:func:`read_gene_intervals`); default the ``gene`` column (or `annotations`).
    annotations : DataFrame, optional
        :func:`gdbtools.burden.masks.read_annotations`'s table (``variant_index``, ``gene``, ``annotation``):
        without `genes`, its genes make the sets; with `genes`, each variant's annotation is the table's for
        that gene, else its first for the variant.

    Returns
    -------
    GeneSets
        The genes with at least one variant, sorted by (store contig order, start, name); ``.report`` says what
        was read and left out.
    """
    if genes is not None:
        out = _overlap_sets(read_gene_intervals(genes), variants, store.contigs, os.fspath(genes))
        _annotate(out, variants, annotations)
    elif annotations is not None:
        ann = annotations[annotations["variant_index"].isin(variants.index)]
        out = _column_sets(variants, pd.Series(ann["gene"].to_numpy(), index=ann["variant_index"].to_numpy()),
                           pd.Series(ann["annotation"].to_numpy(), index=ann["variant_index"].to_numpy()),
                           "annotations")
    else:
        if "gene" not in variants.columns:
            raise GdbError("the variant table has no `gene` column (no VEP CSQ / snpEff ANN / BCSQ field was parsed "
                           "at ingest)", fix="give a gene BED or GTF (--genes), or an annotation table")
        out = _column_sets(variants, variants["gene"], variants["consequence"] if "consequence" in variants else None,
                           "variant table")
    order = {c: i for i, c in enumerate(store.contigs)}
    out.sort(key=lambda s: (order.get(s.contig, len(order)), s.start, s.name))
    return out


def _annotate(sets: GeneSets, variants: pd.DataFrame, annotations: pd.DataFrame | None) -> None:
    """Each set's per-variant annotation: the annotation table's (same gene, else the variant's first entry),
    else the variant table's ``consequence``."""
    if annotations is None:
        if "consequence" not in variants.columns:
            return
        cons = variants["consequence"]
        for s in sets:
            s.annotation = cons.reindex(s.variant_index).to_numpy(object)
        return
    by_pair = dict(zip(zip(annotations["variant_index"], annotations["gene"]), annotations["annotation"]))
    first = annotations.drop_duplicates("variant_index").set_index("variant_index")["annotation"]
    for s in sets:
        s.annotation = np.array([by_pair.get((v, s.name), first.get(v)) for v in s.variant_index.tolist()],
                                dtype=object)
