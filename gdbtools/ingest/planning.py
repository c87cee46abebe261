"""The steps of planning an ingest (:func:`gdbtools.ingest.plan_ingest`): options, samples, build, settings,
indexes, partitions and the per-partition tasks.

Each step checks what it decides and raises :class:`~gdbtools.errors.InputError` /
:class:`~gdbtools.errors.GdbError` naming the file and the fix. Partitions are windows of base pairs over
the data of each contig holding about `partition_records` records each (by the index's record counts).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from ..errors import GdbError, InputError
from ..genome import Region, get_build, region_text
from ..store.format import KNOWN_ENCODINGS
from .annotations import AnnotationParser
from .encode import HALF_CALL_POLICIES
from .htslib import index_stats, make_index, open_vcf, real_stderr
from .partition import PartitionTask
from .readers.header import VcfHeader
from .readers.index import find_index
from .rows import variant_schema

__all__ = ["check_options", "sample_ids", "genome_build", "adj_settings", "info_settings", "annotation_field",
           "indexes", "partitions", "partition_tasks", "warn"]

ADJ_FORMATS = ("GQ", "DP", "AD")


def check_options(inputs, *, half_call: str, absent: str, encoding: str, partition_by: str) -> list[str]:
    """The input paths (resolved, each once) after checking the policy options."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    paths = [str(Path(p).resolve()) for p in inputs]
    if not paths:
        raise GdbError("no input files", fix="give one or more VCF/BCF files")
    if len(set(paths)) != len(paths):
        raise GdbError("the same input file is given twice", fix="list each file once")
    if half_call not in HALF_CALL_POLICIES:
        raise GdbError(f"unknown half_call policy {half_call!r}", fix=f"use one of {', '.join(HALF_CALL_POLICIES)}")
    if absent not in ("missing", "hom-ref"):
        raise GdbError(f"unknown absent-call policy {absent!r}", fix="use 'missing' or 'hom-ref'")
    if encoding not in KNOWN_ENCODINGS:
        raise GdbError(f"unknown block encoding {encoding!r}", fix=f"use one of {', '.join(sorted(KNOWN_ENCODINGS))}")
    if partition_by not in ("region", "contig", "file"):
        raise GdbError(f"unknown partition_by {partition_by!r}", fix="use region, contig or file")
    return paths


def sample_ids(headers: list[VcfHeader], merge: bool) -> list[str]:
    """The store's sample ids: concat mode needs the same set in every file; merge mode disjoint sets."""
    if merge:
        ids: list[str] = []
        owner: dict[str, str] = {}
        for h in headers:
            for s in h.samples:
                if s in owner:
                    raise InputError(f"sample {s!r} is in two files ({owner[s]} and {h.path}); merge needs "
                                     "disjoint samples", file=h.path,
                                     fix="remove the duplicate, or ingest these files without --merge")
                owner[s] = h.path
                ids.append(s)
        return ids
    first = set(headers[0].samples)
    for h in headers[1:]:
        if set(h.samples) != first:
            only_here = sorted(set(h.samples) - first)[:5]
            only_first = sorted(first - set(h.samples))[:5]
            raise InputError(
                f"the samples differ from those of {headers[0].path} ({len(h.samples)} vs {len(first)} samples; "
                f"only here: {only_here}; only there: {only_first})", file=h.path,
                fix="for per-sample or per-batch VCFs use --merge; for per-chromosome files give files "
                    "with the same samples (`bcftools view -S samples.txt`)")
    return headers[0].samples


def genome_build(headers: list[VcfHeader], build: str | None) -> str | None:
    """The genome build: explicit, else detected from the headers and the same in all."""
    if build is not None:
        named = get_build(build)
        return named.name if named is not None else None
    detected = {h.build for h in headers if h.build}
    if len(detected) > 1:
        raise InputError(f"the inputs look like different genome builds: {sorted(detected)}", file=headers[0].path,
                         fix="check the inputs, or name the build with --build")
    return detected.pop() if detected else None


def adj_settings(adj, defaults: dict) -> dict | None:
    """The genotype-filter thresholds: None (no filter), the defaults, or the defaults updated by a dict."""
    if not adj:
        return None
    settings = dict(defaults)
    if isinstance(adj, dict):
        unknown = set(adj) - set(defaults)
        if unknown:
            raise GdbError(f"unknown genotype filter settings {sorted(unknown)}", fix=f"use {', '.join(defaults)}")
        settings.update(adj)
    return settings


def info_settings(headers: list[VcfHeader], info_fields) -> dict[str, dict]:
    """``{name: {"Number", "Type"}}`` of the INFO fields to keep (each declared in some header)."""
    out = {}
    for name in info_fields:
        meta = next((h.infos[name] for h in headers if name in h.infos), None)
        if meta is None:
            raise InputError(f"INFO field {name!r} is not declared in any input header", file=headers[0].path,
                             fix="check the name (`bcftools view -h`), or drop it from --info")
        out[name] = {"Number": meta.get("Number"), "Type": meta.get("Type")}
    return out


def annotation_field(headers: list[VcfHeader], annotations, keys: tuple[str, ...]) -> dict | None:
    """``{"key", "description"}`` of the annotation INFO field: the first of `keys` that parses under
    ``"auto"``, the named one, or None."""
    if annotations == "auto":
        for key in keys:
            meta = next((h.infos[key] for h in headers if key in h.infos), None)
            if meta is not None:
                try:
                    AnnotationParser(key, meta.get("Description", ""))
                except ValueError:
                    continue
                return {"key": key, "description": meta.get("Description", "")}
        return None
    if not annotations:
        return None
    meta = next((h.infos[annotations] for h in headers if annotations in h.infos), None)
    if meta is None:
        raise InputError(f"annotation field {annotations!r} is not in the header", file=headers[0].path,
                         fix="use CSQ (VEP), ANN (snpEff) or BCSQ (bcftools csq), or --annotations none")
    return {"key": annotations, "description": meta.get("Description", "")}


def indexes(headers: list[VcfHeader], index_dir: Path, *, build_index: bool,
            needed: bool) -> tuple[list[str | None], list[dict[str, int] | None]]:
    """Per input: its index (found beside it or in `index_dir`, or built there with `build_index`) and the
    index's records per contig. `needed`: regions or merge mode need an index."""
    paths: list[str | None] = []
    counts: list[dict[str, int] | None] = []
    for h in headers:
        index_path = find_index(h.path, (index_dir,))
        if index_path is None and build_index:
            index_path = make_index(h.path, index_dir)
        if index_path is None and needed:
            raise InputError("no index (.tbi/.csi) for this file; regions and --merge need one", file=h.path,
                             fix="pass --index to build one inside the store's work directory, or run "
                                 "`bcftools index` next to the file")
        paths.append(index_path)
        counts.append(index_stats(h.path, index_path) if index_path else None)
    return paths, counts


def partitions(headers: list[VcfHeader], index_paths: list[str | None], index_counts: list[dict[str, int] | None],
               *, merge: bool, partition_by: str, partition_records: int, regions: list[Region]) -> list[dict]:
    """The partitions: ``{"file", "index", "contig", "start", "end", "est_records"}`` (contig None: the whole
    file, sequentially; merge mode: file None, every file's records of the region)."""
    if merge:
        lengths: dict[str, int | None] = {}
        counts: dict[str, int] = {}
        for h, stats in zip(headers, index_counts):
            for c in dict.fromkeys([*h.contigs, *(stats or {})]):
                lengths.setdefault(c, h.contigs.get(c))
                if stats is not None:
                    counts[c] = max(counts.get(c, 0), stats.get(c, 0))
        contigs = [c for c in lengths if counts.get(c, 1) > 0]
        return _windows({"file": None, "index": None}, contigs, lengths, counts or None, partition_by,
                        partition_records, regions, [(h.path, i) for h, i in zip(headers, index_paths)])
    out: list[dict] = []
    for file_no, h in enumerate(headers):
        index_path, stats = index_paths[file_no], index_counts[file_no]
        base = {"file": file_no, "index": index_path}
        if index_path is None or partition_by == "file":
            if index_path is None and h.kind != "text":
                warn(f"{h.path}: no index; reading it as one sequential partition (pass --index to read it "
                      "in parallel by region)")
            out.append({**base, "contig": None, "start": 1, "end": None, "est_records": None})
            continue
        contigs = list(h.contigs) or list(stats or {})
        if stats:
            contigs = [c for c in dict.fromkeys([*contigs, *stats]) if stats.get(c, 0) > 0]
        out += _windows(base, contigs, h.contigs, stats, partition_by, partition_records, regions,
                        [(h.path, index_path)])
    return out


def partition_tasks(out: str, headers: list[VcfHeader], index_paths: list[str | None], parts: list[dict],
                    sample_ids: list[str], samples: pd.DataFrame, params: dict, *, merge: bool, info_meta: dict,
                    annotation: dict | None) -> list[PartitionTask]:
    """One :class:`PartitionTask` per partition: the file, its region, how its sample columns map to the
    store's (`sample_perm`), reported sexes, FORMAT fields for the genotype filter, the variant schema."""
    schema = variant_schema(info_meta, annotation is not None)
    xy = xx = None
    if samples["sex"].notna().any():
        xy = (samples["sex"] == "XY").fillna(False).astype(bool).tolist()
        xx = (samples["sex"] == "XX").fillna(False).astype(bool).tolist()
    merge_sources = None
    if merge:
        merge_sources, offset = [], 0
        for header, index_path in zip(headers, index_paths):
            merge_sources.append({"path": header.path, "index": index_path, "offset": offset,
                                  "n": len(header.samples), "formats": {f: f in header.formats for f in ADJ_FORMATS}})
            offset += len(header.samples)
    tasks = []
    for i, part in enumerate(parts):
        h: VcfHeader | None = headers[part["file"]] if part.get("file") is not None else None
        perm = None
        if h is not None and not merge and h.samples != sample_ids:
            pos = {s: j for j, s in enumerate(h.samples)}
            perm = [pos[s] for s in sample_ids]
        tasks.append(PartitionTask(
            store=out, index=i, path=h.path if h else "", index_path=part.get("index"),
            contig=part["contig"], start=part["start"], end=part["end"], n_samples=len(sample_ids),
            sample_perm=perm, xy=xy, params=params,
            header_lines=h.text.count("\n") if h is not None and h.kind != "bcf" else 0,
            declared_contigs=list(h.contigs) if h else [],
            format_fields={f: any(f in hh.formats for hh in ([h] if h else headers)) for f in ADJ_FORMATS},
            info_fields=info_meta, annotation=annotation, schema=schema, merge_sources=merge_sources, xx=xx,
            contig_lengths=dict(h.contigs) if h is not None else _lengths(headers)))
    return tasks


def _lengths(headers: list[VcfHeader]) -> dict:
    out: dict = {}
    for h in headers:
        for c, length in h.contigs.items():
            out.setdefault(c, length)
    return out


def _intersect(contig, start, end, regions):
    if not regions:
        return [(start, end)]
    out = []
    for r in regions:
        if r.contig != contig:
            continue
        s = max(start, r.start)
        e = end if r.end is None else (r.end if end is None else min(end, r.end))
        if e is None or s <= e:
            out.append((s, e))
    return out


def _data_extent(sources, contig: str, length: int) -> tuple[int, int]:
    """First and last record position of `contig` over indexed `sources` [(path, index)], by index queries.

    The last position is found by bisection on "is there a record starting at or after p" (each query
    decompresses one BGZF block), so windows cover the data, not the whole declared contig. Records past the
    declared `length` count: the search runs to htslib's largest position.
    """
    length = _MAX_POS
    firsts, lasts = [], []
    for path, index in sources:
        vcf = open_vcf(path, index)
        try:
            def first_from(p, vcf=vcf):
                for rec in vcf(region_text(contig, p, length)):
                    if rec.POS >= p:
                        return rec.POS
                return None

            first = first_from(1)
            if first is None:
                continue
            lo, hi = first, length
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if first_from(mid) is not None:
                    lo = mid
                else:
                    hi = mid - 1
            firsts.append(first)
            lasts.append(lo)
        finally:
            vcf.close()
    return (min(firsts), max(lasts)) if firsts else (1, length)


_MAX_POS = 2**31 - 1


def _windows(base, contigs, lengths, counts, partition_by, partition_records, regions, sources=()):
    """Partitions of `contigs`: bp windows over the data holding about `partition_records` records each.

    The last window of a contig is open-ended (``end`` None): records past the declared ``##contig`` length
    are read (and counted by the partition as ``n_past_contig_length``), never dropped.
    """
    out = []
    for contig in contigs:
        length = lengths.get(contig)
        count = counts.get(contig) if counts else None
        windows: list[tuple[int, int | None]] = [(1, None)]
        first, last = 1, length
        if partition_by == "region" and count and length:
            n_win = max(1, math.ceil(count / partition_records))
            if n_win > 1:
                first, last = _data_extent(sources, contig, length) if sources else (1, length)
                step = math.ceil((last - first + 1) / n_win)
                bounds = [first + i * step for i in range(n_win)] + [max(length, last) + 1]
                bounds[0] = 1
                windows = [(bounds[i], bounds[i + 1] - 1) for i in range(n_win) if bounds[i] <= bounds[i + 1] - 1]
                windows[-1] = (windows[-1][0], None)
        for start, end in windows:
            for s, e in _intersect(contig, start, end, regions):
                est = None
                if count is not None and length:
                    span = min(e or max(length, last), last) - max(s, first) + 1
                    est = max(0, int(count * span / (last - first + 1)))
                out.append({**base, "contig": contig, "start": s, "end": e, "est_records": est})
    return out


def warn(text: str) -> None:
    """A warning line on the terminal (the real stderr, also while htslib's messages are captured)."""
    print(f"warning: {text}", file=real_stderr())
