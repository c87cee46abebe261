"""Merge mode: files with disjoint samples (per-sample or per-batch VCFs) merged by variant into one store.

Per region, every file is read in position order and the records are merged like ``bcftools merge`` after
``norm -m-``: a variant is the key (contig, pos, ref, alt) of a split row; at one position, keys are ordered
by first appearance (file order, then record order). A sample whose file lacks a key gets the recorded
``absent`` policy: ``missing`` (code 3) or ``hom-ref`` (code 0, as for a joint call without the variant).
ID, QUAL, FILTER, INFO and annotations come from the first file that has the key.

Blocks end only between positions, so the resume cursor is simply the last finished position.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..errors import InputError
from ..genome import get_build, region_text
from ..store.bitplanes import pack_bits
from ..store.writer import PartitionWriter
from .adj import adj_inputs
from .annotations import AnnotationParser
from .encode import missing_genotypes, record_genotypes, reference_codes, reference_fail
from .htslib import capture_htslib_messages, open_vcf
from .rows import BlockBuilder, allele_type, info_for_allele

__all__ = ["run_merge_partition"]


def _records(source: dict, contig: str, start: int, end: int | None, file_no: int):
    """Yield ``(pos, file_no, seq, record)`` of one file's records that start inside the region."""
    vcf = open_vcf(source["path"], source["index"])
    try:
        stop = end if end is not None else 2**31 - 1
        prev = 0
        for seq, rec in enumerate(vcf(region_text(contig, start, stop))):
            pos = rec.POS
            if pos < start or pos > stop:
                continue
            if pos < prev:
                raise InputError(f"records are not sorted: {contig}:{pos} after {contig}:{prev}", file=source["path"],
                                 where=f"{contig}:{pos}", fix="sort the file: `bcftools sort`")
            prev = pos
            yield pos, file_no, seq, rec
    finally:
        vcf.close()


def run_merge_partition(task, progress=None) -> dict:
    """Merge one region of all inputs into blocks of the store (see the module docstring)."""
    writer = PartitionWriter(task.store, task.index, task.n_samples, encoding=task.params.get("encoding"))
    if writer.finished:
        return {"skipped": 1}
    params = task.params
    sources = task.merge_sources
    adj = params.get("adj")
    with_fail = bool(adj) and any(any(s["formats"].values()) for s in sources)
    absent_code = 3 if params["absent"] == "missing" else 0
    build = get_build(params.get("build"))
    xy = np.asarray(task.xy, dtype=bool) if task.xy is not None else np.zeros(task.n_samples, dtype=bool)
    ann = AnnotationParser(task.annotation["key"], task.annotation["description"]) if task.annotation else None
    columns = task.schema.names
    builder = BlockBuilder(task.n_samples, params["block_size"], with_fail, columns)
    stats = {"n_records": 0, "n_rows": 0, "n_multiallelic": 0, "n_ref_only": 0, "n_half_calls": 0,
             "n_failed_calls": 0, "n_absent_calls": 0, "n_records_without_gt": 0}
    cursor = writer.resume_cursor or {"last_pos": 0}
    stats.update(cursor.get("stats", {}))
    start = max(task.start, cursor["last_pos"] + 1)
    contig = task.contig

    def flush(last_pos):
        rows = builder.rows
        if rows == 0:
            return
        planes, table = builder.block(task.index, writer.next_block, task.schema)
        pos = builder.data["pos"]
        writer.write_block(planes, table, {"last_pos": last_pos, "stats": dict(stats)}, pos[0], pos[-1], contig)
        if progress is not None:
            progress(rows)
        builder.reset()

    streams = [_records(s, contig, start, task.end, i) for i, s in enumerate(sources)]
    with capture_htslib_messages():
        merged = heapq.merge(*streams, key=lambda item: (item[0], item[1], item[2]))
        pending: list = []
        for item in merged:
            if pending and item[0] != pending[0][0]:
                _emit_position(pending, task, sources, builder, stats, absent_code, with_fail, adj, build, xy, ann)
                if builder.full:
                    flush(pending[0][0])
                pending = []
            pending.append(item)
        if pending:
            _emit_position(pending, task, sources, builder, stats, absent_code, with_fail, adj, build, xy, ann)
            flush(pending[0][0])
    writer.finish(task.schema, stats, {"reader": "htslib", "fallback_reason": None})  # merge mode reads with htslib
    return stats


def _emit_position(items, task, sources, builder, stats, absent_code, with_fail, adj, build, xy, ann):
    """All records of all files at one position -> one row per distinct (ref, alt) key."""
    n = task.n_samples
    keys: dict[tuple[str, str], dict] = {}
    pos = items[0][0]
    for _, file_no, _, rec in items:
        src = sources[file_no]
        alts = rec.ALT
        stats["n_records"] += 1
        if not alts:
            stats["n_ref_only"] += 1
            continue
        if len(alts) > 1:
            stats["n_multiallelic"] += 1
        cols = slice(src["offset"], src["offset"] + src["n"])
        codes = fail = None
        if src["n"]:
            gt = record_genotypes(rec, src["n"])
            if gt is None:  # no GT: every call missing, as bcftools counts it
                stats["n_records_without_gt"] += 1
                gt = missing_genotypes(src["n"])
            try:
                codes = reference_codes(gt, len(alts), task.params["half_call"])
            except ValueError as exc:
                raise InputError(f"invalid genotype: {exc}", file=src["path"], where=f"{rec.CHROM}:{pos}",
                                 fix="fix the GT values of this record") from exc
            if with_fail and any(src["formats"].values()):
                use = {f: bool(adj) and src["formats"].get(f, False) for f in ("GQ", "DP", "AD")}
                xy_file = None if task.xy is None else xy[cols]
                gq, dp, ad, hap = adj_inputs(rec, src["n"], len(alts), use, None, xy_file, build)
                fail = reference_fail(codes, gt, gq, dp, ad, hap, use["GQ"], use["DP"], use["AD"],
                                      half_call=task.params["half_call"], **adj)
        for a, alt in enumerate(alts, start=1):
            key = (rec.REF, alt)
            entry = keys.get(key)
            if entry is None:
                entry = keys[key] = {"codes": np.full(n, absent_code, dtype=np.int8),
                                     "fail": np.zeros(n, dtype=bool), "rec": rec, "allele": a, "alts": alts,
                                     "present": np.zeros(n, dtype=bool)}
            if codes is not None:
                entry["codes"][cols] = codes[a - 1]
                entry["present"][cols] = True
                if fail is not None:
                    entry["fail"][cols] = fail[a - 1]
    for (ref, alt), entry in keys.items():
        builder.reserve(1)
        r = builder.rows
        c = entry["codes"]
        builder.lo[r] = pack_bits((c & 1).astype(bool), builder.words)
        builder.hi[r] = pack_bits((c & 2).astype(bool), builder.words)
        if builder.fail is not None:
            builder.fail[r] = pack_bits(entry["fail"], builder.words)
            stats["n_failed_calls"] += int(entry["fail"].sum())
        stats["n_absent_calls"] += int(n - entry["present"].sum())
        builder.rows += 1
        builder.contig = task.contig
        rec, a = entry["rec"], entry["allele"]
        atype, ti = allele_type(ref, alt)
        d = builder.data
        filters = rec.FILTERS
        row = {"contig": rec.CHROM, "pos": pos, "id": rec.ID, "ref": ref, "alt": alt, "qual": rec.QUAL,
               "filter": ";".join(filters) if filters else None, "allele_index": a,
               "n_alleles": len(entry["alts"]) + 1, "allele_type": atype, "is_transition": ti}
        if ann is not None:
            row["gene"], row["consequence"], row["impact"] = ann.parse(rec.INFO.get(ann.key), ref, entry["alts"])[a - 1]
        for name, meta in task.info_fields.items():
            row[f"info_{name}"] = info_for_allele(rec.INFO.get(name), meta.get("Number"), a)
        for col, value in row.items():
            d[col].append(value)
        stats["n_rows"] += 1
