"""Masks of the gene-based tests, in regenie's vocabulary: annotation classes, masks, frequency bins.

A mask file (YAML) names annotation *classes* (class -> consequence terms) and *masks* (mask -> classes),
as regenie's ``--anno-file`` classes and ``--mask-def``::

    classes:                 # optional; these three are the defaults
      pLoF: [transcript_ablation, splice_acceptor_variant, splice_donor_variant, stop_gained,
             frameshift_variant, stop_lost, start_lost]
      missense: [missense_variant, inframe_insertion, inframe_deletion, protein_altering_variant]
      synonymous: [synonymous_variant]
    masks:
      M1: [pLoF]
      M3: [pLoF, missense]

Terms are VEP's Sequence Ontology terms (the ``consequence`` column of the store); a term written without its
``_variant`` suffix (snpEff/bcftools/gnomAD spellings: ``missense``, ``frameshift``, ``splice_donor``) matches
too, and an annotation that *is* a class name (regenie's annotation file) is that class.  Without a mask file
there is one mask, ``all``, of every variant of the set.

Frequency bins are cumulative: a variant is in bin ``t`` when its folded frequency ``min(AF, 1 - AF)`` is at
most ``t`` (a variant without an AF is in no AF bin); the optional ``singleton`` bin holds the variants with
MAC == 1 among the analysed samples (``max_af`` NaN).  The AF compared comes from :func:`binning_af`: the
analysed samples (default), a stratum of the store (``"population=nfe"``, through :func:`gdbtools.stats.freq`),
or an INFO column kept at ingest (``"info_AF"``).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import GdbError
from ..genome import contig_kind

__all__ = ["DEFAULT_CLASSES", "MaskSpec", "MaskBin", "read_masks", "variant_classes", "mask_bins", "bin_label",
           "read_annotations", "binning_af"]

DEFAULT_CLASSES: dict[str, tuple[str, ...]] = {
    "pLoF": ("transcript_ablation", "splice_acceptor_variant", "splice_donor_variant", "stop_gained",
             "frameshift_variant", "stop_lost", "start_lost"),
    "missense": ("missense_variant", "inframe_insertion", "inframe_deletion", "protein_altering_variant"),
    "synonymous": ("synonymous_variant",),
}
ALL = "all"


@dataclass
class MaskSpec:
    """Classes (class -> terms) and masks (mask -> classes; ``None``: every variant); ``source`` the file."""

    classes: dict[str, tuple[str, ...]]
    masks: dict[str, tuple[str, ...] | None]
    source: str | None = None


@dataclass
class MaskBin:
    """One column of the analysis: a mask x frequency bin of one gene.

    Attributes
    ----------
    mask, bin : str
        ``bin`` is the threshold as text (``"0.01"``), ``"singleton"`` or ``"all"`` (no threshold).
    max_af : float
        NaN for the singleton bin, 1.0 for ``"all"``.
    columns : (m_j,) int64
        Indices into the gene's variants (G's columns), ascending.
    """

    mask: str
    bin: str
    max_af: float
    columns: np.ndarray = field(repr=False)

    @property
    def n_variants(self) -> int:
        return int(self.columns.shape[0])


def _str_list(value, path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise GdbError(f"{key} must be a list of names", file=path, where=key, fix=f"write {key}: [name, ...]")
    if not value:
        raise GdbError(f"{key} is empty", file=path, where=key, fix="list at least one name, or remove it")
    return tuple(value)


def read_masks(path: str | os.PathLike | None = None) -> MaskSpec:
    """The mask file, checked: unknown keys, empty or unknown classes, bad YAML are errors naming file and key."""
    if path is None:
        return MaskSpec(dict(DEFAULT_CLASSES), {ALL: None})
    import yaml

    try:
        doc = yaml.safe_load(open(path).read())
    except FileNotFoundError as exc:
        raise GdbError("no such mask file", file=path, fix="check the --masks path") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise GdbError(f"the mask file is not valid YAML ({getattr(exc, 'problem', None) or exc})", file=path,
                       where=None if mark is None else f"line {mark.line + 1}",
                       fix="write `classes:` and `masks:` mappings (see gdbtools.burden.masks)") from exc
    if not isinstance(doc, dict):
        raise GdbError("the mask file must be a mapping with `masks:` (and optionally `classes:`)", file=path,
                       fix="write masks: {M1: [pLoF]}")
    unknown = set(doc) - {"classes", "masks"}
    if unknown:
        raise GdbError(f"unknown key {sorted(unknown)[0]!r}", file=path, where=sorted(unknown)[0],
                       fix="the keys are `classes` and `masks`")
    classes = dict(DEFAULT_CLASSES)
    raw_classes = doc.get("classes") or {}
    if not isinstance(raw_classes, dict):
        raise GdbError("`classes` must map class names to lists of consequence terms", file=path, where="classes")
    for name, terms in raw_classes.items():
        classes[str(name)] = _str_list(terms, path, f"classes.{name}")
    raw_masks = doc.get("masks")
    if not isinstance(raw_masks, dict) or not raw_masks:
        raise GdbError("`masks` must map mask names to lists of classes", file=path, where="masks",
                       fix="write masks: {M1: [pLoF], M3: [pLoF, missense]}")
    masks: dict[str, tuple[str, ...] | None] = {}
    for name, members in raw_masks.items():
        members = _str_list(members, path, f"masks.{name}")
        for c in members:
            if c not in classes:
                raise GdbError(f"mask {name!r} uses the unknown class {c!r} (classes: {', '.join(classes)})",
                               file=path, where=f"masks.{name}", fix="define it under `classes:` or fix the name")
        masks[str(name)] = members
    return MaskSpec(classes, masks, os.fspath(path))


def variant_classes(annotation, spec: MaskSpec) -> dict[str, np.ndarray]:
    """Class -> ``(m,) bool``: which of the variants' annotations (terms or class names) fall in each class."""
    ann = np.asarray(["" if pd.isna(a) else str(a) for a in (annotation if annotation is not None else [])],
                     dtype=object)
    out = {}
    for name, terms in spec.classes.items():
        accepted = set(terms) | {t.removesuffix("_variant") for t in terms} | {name}
        out[name] = np.array([a in accepted for a in ann], dtype=bool)
    return out


def bin_label(max_af: float) -> str:
    return f"{max_af:g}"


def mask_bins(vset, spec: MaskSpec, af, mac, max_afs=(), singletons: bool = False) -> list[MaskBin]:
    """The mask x bin columns of one gene, masks in file order, then bins as given, then ``singleton``.

    Parameters
    ----------
    vset : VariantSet
    spec : MaskSpec
    af : (m,) float64
        The AF used for binning (NaN: unknown), compared folded: ``min(af, 1 - af)``.
    mac : (m,) int
        Minor allele counts among the analysed samples (the singleton bin).
    max_afs : sequence of float
        Bin thresholds (``--max-af``); none: one bin ``"all"``.
    singletons : bool

    Raises
    ------
    GdbError
        A mask of classes when the set has no annotation.
    """
    m = vset.n_variants
    af = np.asarray(af, dtype=np.float64)
    folded = np.minimum(af, 1.0 - af)
    mac = np.asarray(mac)
    classes = None
    out = []
    for mask, members in spec.masks.items():
        if members is None:
            qual = np.ones(m, dtype=bool)
        else:
            if vset.annotation is None:
                raise GdbError(f"mask {mask!r} needs variant annotations, but gene {vset.name!r} has none",
                               file=spec.source, where=f"masks.{mask}",
                               fix="ingest with VEP/snpEff/BCSQ annotations or give an annotation table")
            classes = classes or variant_classes(vset.annotation, spec)
            qual = np.zeros(m, dtype=bool)
            for c in members:
                qual |= classes[c]
        if not len(max_afs):
            out.append(MaskBin(mask, ALL, 1.0, np.flatnonzero(qual)))
        for t in max_afs:
            out.append(MaskBin(mask, bin_label(float(t)), float(t), np.flatnonzero(qual & (folded <= float(t)))))
        if singletons:
            out.append(MaskBin(mask, "singleton", float("nan"), np.flatnonzero(qual & (mac == 1))))
    return out


def _open(path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path)


_CHROM = ("chr", "chrom", "CHROM", "#CHROM", "contig", "Chr")
_POS = ("pos", "POS", "position", "Start")
_GENE = ("gene", "GENE", "gene_name", "SYMBOL", "Gene")
_ANN = ("annotation", "class", "consequence", "Consequence", "category")


def read_annotations(path: str | os.PathLike, variants: pd.DataFrame) -> pd.DataFrame:
    """An annotation table matched to the store's variants.

    Two layouts: regenie's ``--anno-file`` (no header; ``variant gene annotation``, the variant as
    ``contig:pos[:ref:alt]``) or a TSV with a header naming chrom, pos, gene and annotation columns (e.g.
    ``chr pos consequence gene maf``; ``ref``/``alt`` columns are used when present).  Variants match by
    contig (any spelling) and position, and by ref and alt when the table has them.

    Returns
    -------
    DataFrame
        ``variant_index`` (int64), ``gene``, ``annotation``, one row per (table line, matching variant);
        ``.attrs["report"]``: lines read and lines that matched no variant.
    """
    try:
        fh = _open(path)
    except FileNotFoundError as exc:
        raise GdbError("no such annotation file", file=path, fix="check the path") from exc
    with fh:
        line = fh.readline().rstrip("\n")
    header = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
    if any(h in _CHROM for h in header) and any(h in _POS for h in header):
        table = pd.read_csv(path, sep="\t", dtype=str)

        def pick(names, what):
            col = next((c for c in names if c in table.columns), None)
            if col is None:
                raise GdbError(f"no {what} column (columns: {', '.join(table.columns)})", file=path,
                               fix=f"name it one of {', '.join(names)}")
            return table[col]

        chrom, pos, gene, ann = pick(_CHROM, "chrom"), pick(_POS, "position"), pick(_GENE, "gene"), pick(_ANN,
                                                                                                       "annotation")
        ref = table["ref"] if "ref" in table.columns else None
        alt = table["alt"] if "alt" in table.columns else None
    else:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, comment="#")
        if table.shape[1] < 3:
            raise GdbError(f"an annotation line has {table.shape[1]} fields; regenie's layout is "
                           "`variant gene annotation`", file=path, fix="write contig:pos[:ref:alt] gene class")
        parts = table[0].str.split(":", expand=True)
        chrom, pos, gene, ann = parts[0], parts[1], table[1], table[2]
        ref = parts[2] if parts.shape[1] >= 4 else None
        alt = parts[3] if parts.shape[1] >= 4 else None
    if not pos.str.fullmatch(r"\d+").all():
        bad = int(np.flatnonzero(~pos.str.fullmatch(r"\d+").to_numpy())[0])
        raise GdbError(f"position {pos.iloc[bad]!r} is not an integer", file=path, where=f"data line {bad + 1}")
    key = pd.DataFrame({"k": chrom.map(lambda c: contig_kind(str(c))).to_numpy(),
                        "pos": pos.astype(np.int64).to_numpy(), "gene": gene.to_numpy(),
                        "annotation": ann.to_numpy(), "line": np.arange(len(table))})
    vk = pd.DataFrame({"k": variants["contig"].map(lambda c: contig_kind(str(c))).to_numpy(),
                       "pos": variants["pos"].to_numpy(np.int64), "variant_index": variants.index.to_numpy(np.int64)})
    on = ["k", "pos"]
    if ref is not None and alt is not None and "ref" in variants and "alt" in variants:
        key["ref"], key["alt"] = ref.to_numpy(), alt.to_numpy()
        vk["ref"], vk["alt"] = variants["ref"].to_numpy(), variants["alt"].to_numpy()
        on += ["ref", "alt"]
    merged = key.merge(vk, on=on, how="inner")
    out = merged[["variant_index", "gene", "annotation"]].sort_values("variant_index", kind="stable")
    out = out.drop_duplicates(["variant_index", "gene"])  # a line repeated: its first annotation
    out = out.reset_index(drop=True)
    out.attrs["report"] = {"path": os.fspath(path), "n_lines": len(table),
                           "n_lines_matched": int(merged["line"].nunique()),
                           "n_variants_annotated": int(out["variant_index"].nunique())}
    return out


def binning_af(store, af_from: str | None, *, samples: np.ndarray | None = None, adj: bool = False,
               backend: str = "auto") -> np.ndarray | None:
    """The AF that bins compare, per global variant ``(n_variants,) float64`` (NaN: unknown), or ``None`` for
    the default: the analysed samples' AF (:attr:`gdbtools.burden.genotypes.GeneMatrix.af`).

    `af_from`: ``None`` / ``"analysed"``; ``"info_<NAME>"`` (a numeric INFO column kept at ingest); or
    ``"<column>=<value>"``, the AF of that stratum of the selected `samples` (``(N,) bool``).
    """
    if af_from in (None, "analysed", "analyzed"):
        return None
    n = store.n_variants
    if af_from.startswith("info_"):
        import pyarrow.parquet as pq

        parts = store.manifest["partitions"]
        have = [c for c in (pq.read_schema(store.path / parts[0]["variants"]).names if parts else [])
                if c.startswith("info_")]
        if af_from not in have:
            raise GdbError(f"the store has no column {af_from!r} (INFO columns kept at ingest: "
                           f"{', '.join(have) or 'none'})", fix="ingest with --info AF, or bin by the cohort's AF")
        col = store.variants([af_from])[af_from]
        values = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
        out = np.full(n, np.nan)
        out[col.index.to_numpy(np.int64)] = values
        return out
    if "=" not in af_from:
        raise GdbError(f"af_from {af_from!r} is neither 'analysed', 'info_<NAME>' nor '<column>=<value>'",
                       fix="e.g. af_from='population=nfe' or af_from='info_AF'")
    from ..stats import api
    from ..stats.selection import Selection, sanitize_label

    column, value = (s.strip() for s in af_from.split("=", 1))
    table = api.freq(Selection(store, samples), by=[column], adj=adj, backend=backend, progress=False, client=False)
    name = f"AF_{sanitize_label(value)}"
    if name not in table.columns:
        values = sorted({c[3:] for c in table.columns if c.startswith("AF_") and c not in ("AF_raw",)})
        raise GdbError(f"no stratum {column}={value} among the selected samples (values: {', '.join(values)})",
                       fix="name a value of the column, e.g. population=nfe")
    out = np.full(n, np.nan)
    out[table.index.to_numpy(np.int64)] = table[name].to_numpy(np.float64)
    return out
