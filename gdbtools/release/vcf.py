"""The release as a sites-only VCF: bgzipped (htslib's BGZF, through pysam) and tabix-indexed.

INFO tags are the release table's columns (:mod:`.export`): ``bcftools +fill-tags`` names (AC, AN, AF, AC_Het,
AC_Hom, AC_Hemi, NS, HWE, ExcHet, F_MISSING), gnomAD's ``nhomalt`` and per group ``AC_<label>`` ..., each
with an ``##INFO`` description (the group's columns and sample count); QC outcomes are FILTERs with
``##FILTER`` lines. The provenance and the release's policy are header lines:
``##release_version``, ``##release_tier``, ``##release_date``, ``##gdbtools_version``,
``##store_manifest_sha256``, ``##gdbtools_provenance`` (the JSON of :func:`gdbtools.outputs.provenance`) and
one ``##privacy_rule=<ID=...,Description=...>`` per rule applied.

Encodings of the guard (``docs/RELEASE.md``): a withheld count is left out of INFO (it reads as missing,
``.``, in ``bcftools query``); a banded one also gets ``<tag>_band=1-4``; an AF that is an upper bound carries
the flag ``AF_upper``; ``strata_withheld`` lists the strata withheld at the variant.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..outputs import without_attrs

__all__ = ["write_vcf", "read_vcf", "info_header"]

_TOTAL = {  # tag: (Number, Type, Description) of the whole selection's fields
    "AC": ("A", "Integer", "Alternate allele count in called genotypes; absent where withheld (see AC_band)"),
    "AC_band": ("A", "String", "AC is withheld: it is 1 to min_cell-1, shown as this band"),
    "AN": ("1", "Integer", "Total number of alleles in called genotypes"),
    "AF": ("A", "Float", "Alternate allele frequency AC/AN; with AF_upper an upper bound (min_cell-1)/AN"),
    "AF_upper": ("0", "Flag", "AF is an upper bound (AC is banded)"),
    "AC_Het": ("A", "Integer", "Allele counts in heterozygous genotypes; absent where withheld"),
    "AC_Hom": ("A", "Integer", "Allele counts in homozygous alternate genotypes; absent where withheld"),
    "AC_Hemi": ("A", "Integer", "Allele counts in hemizygous genotypes; absent where withheld (see AC_Hemi_band)"),
    "AC_Hemi_band": ("A", "String", "AC_Hemi is withheld: it is 1 to min_cell-1, shown as this band"),
    "nhomalt": ("A", "Integer", "Number of homozygous alternate (and hemizygous alternate) individuals; absent "
                "where withheld (see nhomalt_band)"),
    "nhomalt_band": ("A", "String", "nhomalt is withheld: it is 1 to min_cell-1, shown as this band"),
    "NS": ("1", "Integer", "Number of samples with data"),
    "F_MISSING": ("1", "Float", "Fraction of missing genotypes"),
    "HWE": ("A", "Float", "HWE test (PMID:15789306); absent where a count of the row is withheld"),
    "ExcHet": ("A", "Float", "Test excess heterozygosity; absent where a count of the row is withheld"),
    "strata_withheld": (".", "String", "Strata withheld at this variant (complementary suppression)"),
}
_GROUP = {  # per-group fields: (Number, Type, what)
    "AC": ("A", "Integer", "Alternate allele count"), "AN": ("1", "Integer", "Total number of alleles"),
    "AF": ("A", "Float", "Alternate allele frequency"),
    "AC_Het": ("A", "Integer", "Allele counts in heterozygous genotypes"),
    "AC_Hom": ("A", "Integer", "Allele counts in homozygous alternate genotypes"),
    "AC_Hemi": ("A", "Integer", "Allele counts in hemizygous genotypes"),
    "nhomalt": ("A", "Integer", "Number of homozygous alternate individuals"),
    "NS": ("1", "Integer", "Number of samples with data"),
}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def info_header(table: pd.DataFrame, groups: list[dict]) -> dict[str, tuple[str, str, str]]:
    """tag -> (Number, Type, Description) for every INFO column of ``table`` (``groups``: the release meta's)."""
    out = {tag: spec for tag, spec in _TOTAL.items() if tag in table.columns}
    for g in groups:
        what = ", ".join(f"{k}={v}" for k, v in g.items() if k not in ("label", "stratum", "n_samples"))
        for field, (number, typ, desc) in _GROUP.items():
            tag = f"{field}_{g['label']}"
            if tag in table.columns:
                out[tag] = (number, typ, f"{desc} in group {what} ({g['n_samples']} samples); absent where the "
                            "stratum is withheld")
    return out


def _header(release, prov: dict, contigs: list[dict], info: dict) -> list[str]:
    meta = release.meta
    lines = ["##fileformat=VCFv4.2"]
    lines += [f'##FILTER=<ID={name},Description="{_quote(desc)}">' for name, desc in meta["filters"].items()]
    lines += [f'##INFO=<ID={tag},Number={n},Type={t},Description="{_quote(d)}">' for tag, (n, t, d) in info.items()]
    for c in contigs:
        length = f",length={c['length']}" if c.get("length") else ""
        lines.append(f"##contig=<ID={c['name']}{length}>")
    lines += [f"##source=gdbtools {prov['gdbtools_version']}", f"##release_version={meta['version']}",
              f"##release_tier={meta['tier']}", f"##release_date={meta['date']}",
              f"##gdbtools_version={prov['gdbtools_version']}",
              f"##store_manifest_sha256={prov['store']['manifest_sha256']}",
              f"##release_thresholds={json.dumps(meta['thresholds'], sort_keys=True)}",
              f"##gdbtools_provenance={json.dumps(prov, default=str, sort_keys=True)}"]
    lines += [f'##privacy_rule=<ID={r["rule"]},Description="{_quote(r["text"])}">' for r in meta["policy"]]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    return lines


def _info_parts(col: pd.Series, tag: str, typ: str) -> np.ndarray:
    """``(V,) object``: ``TAG=value`` where the column has a value, ``""`` where it is null (or a false flag)."""
    if typ == "Flag":
        return np.where(col.to_numpy(dtype=bool), tag, "").astype(object)
    present = col.notna().to_numpy()
    out = np.full(len(col), "", dtype=object)
    if not present.any():
        return out
    values = col[present]
    if typ == "Float":
        text = np.char.mod("%.6g", values.to_numpy(dtype=np.float64))
    elif typ == "Integer":
        text = values.to_numpy(dtype=np.int64).astype(str)
    else:
        text = values.astype(str).to_numpy()
    out[present] = np.char.add(f"{tag}=", text.astype(str)).astype(object)
    return out


def write_vcf(release, prov: dict, path: str | os.PathLike, contigs: list[dict]) -> Path:
    """Write ``release`` (:class:`.export.Release`) as a bgzipped sites-only VCF at ``path`` and its ``.tbi``.

    ``contigs``: the store manifest's (name, length), for ``##contig`` lines and the record order.
    """
    import pysam

    path = Path(path)
    table = without_attrs(release.table)  # many columns are read below
    info = info_header(table, release.meta["groups"])
    order = {c["name"]: i for i, c in enumerate(contigs)}
    rank = table["contig"].astype(str).map(order).fillna(len(order)).to_numpy()
    rows = np.lexsort((table["pos"].to_numpy(), rank))
    t = table.iloc[rows]
    parts = [_info_parts(t[tag], tag, typ) for tag, (_, typ, _) in info.items()]
    # one join per record (appending tag by tag would copy each growing INFO string once per tag)
    joined = [";".join(filter(None, row)) or "." for row in zip(*parts)] if parts else ["."] * len(t)
    columns = (t["contig"].astype(str).tolist(), t["pos"].to_numpy().tolist(), t["ref"].astype(str).tolist(),
               t["alt"].astype(str).tolist(), t["filter"].astype(str).tolist(), joined)
    plain = path.with_name(path.name + ".plain.vcf")
    with open(plain, "w") as fh:
        fh.write("\n".join(_header(release, prov, contigs, info)) + "\n")
        fh.writelines(f"{c}\t{p}\t.\t{r}\t{a}\t.\t{f}\t{i}\n" for c, p, r, a, f, i in zip(*columns))
    try:
        pysam.tabix_compress(str(plain), str(path), force=True)
    finally:
        plain.unlink()
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def read_vcf(path: str | os.PathLike) -> pd.DataFrame:
    """A release VCF back as a table: contig, pos, ref, alt, filter and every INFO tag (Integer as ``Int64``,
    Float as ``Float64``, String as ``string``, Flag as bool; missing where absent)."""
    import pysam

    with pysam.VariantFile(str(path)) as vf:
        types = {tag: (vf.header.info[tag].type, vf.header.info[tag].number) for tag in vf.header.info}
        rows = []
        for rec in vf:
            row = {"contig": rec.chrom, "pos": rec.pos, "ref": rec.ref, "alt": rec.alts[0] if rec.alts else ".",
                   "filter": ";".join(str(f) for f in rec.filter.keys()) or "."}
            for tag, value in rec.info.items():
                if types[tag][0] == "Flag":
                    row[tag] = bool(value)
                elif isinstance(value, tuple):
                    row[tag] = ",".join(map(str, value)) if types[tag][0] == "String" else value[0]
                else:
                    row[tag] = value
            rows.append(row)
    df = pd.DataFrame(rows, columns=["contig", "pos", "ref", "alt", "filter", *types])
    for tag, (typ, _) in types.items():
        if typ == "Integer":
            df[tag] = df[tag].astype("Int64")
        elif typ == "Float":
            df[tag] = df[tag].astype("Float64")
        elif typ == "Flag":
            df[tag] = df[tag].map(lambda v: v is True).astype(bool)
        else:
            df[tag] = df[tag].astype("string")
    return df
