"""One ingest partition: read a region of one VCF/BCF, split multi-allelics, encode blocks, write them.

This is the function each Dask task (or SLURM array job) runs. It is idempotent and resumable: finished
blocks are kept, and a rerun continues after the last one (the cursor records the position and how many
records at that position were consumed).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import GdbError, InputError
from ..genome import get_build
from ..store.bitplanes import n_words
from ..store.writer import PartitionWriter
from .annotations import AnnotationParser
from .encode import HALF_CALL_POLICIES, encode_record, fail_record
from .adj import adj_inputs
from .htslib import capture_htslib_messages
from .readers.select import open_reader

__all__ = ["PartitionTask", "run_partition", "variant_schema", "allele_type"]

_KIND_HALF = {v: k for k, v in HALF_CALL_POLICIES.items()}


@dataclass
class PartitionTask:
    """Everything a worker needs to ingest one partition (picklable, small)."""

    store: str
    index: int
    path: str
    index_path: str | None
    contig: str | None          # None: the whole file, sequentially
    start: int
    end: int | None
    n_samples: int
    sample_perm: list[int] | None   # genotype column i of the store = column sample_perm[i] of the file
    xy: list[bool] | None           # per store sample: reported XY
    params: dict
    header_lines: int
    declared_contigs: list[str]
    format_fields: dict             # {"GQ": bool, "DP": bool, "AD": bool}
    info_fields: dict               # name -> {"Number", "Type"}
    annotation: dict | None         # {"key", "description"}
    schema: pa.Schema
    merge_sources: list[dict] | None = None  # merge mode: [{"path", "index", "offset", "n", "formats"}]


@functools.lru_cache(maxsize=65536)
def allele_type(ref: str, alt: str) -> tuple[str, bool]:
    """Hail's allele classes (SNP, MNP, Insertion, Deletion, Complex, Star, Symbolic) and is-transition."""
    if alt == "*":
        return "Star", False
    if alt.startswith("<") or "[" in alt or "]" in alt or alt == ".":
        return "Symbolic", False
    if len(ref) == len(alt):
        diff = [(r, a) for r, a in zip(ref.upper(), alt.upper()) if r != a]
        if len(diff) == 1:
            r, a = diff[0]
            return "SNP", {r, a} in ({"A", "G"}, {"C", "T"})
        return "MNP", False
    if len(ref) < len(alt) and alt.startswith(ref[0]) and alt.endswith(ref[1:]):
        return "Insertion", False
    if len(alt) < len(ref) and ref.startswith(alt[0]) and ref.endswith(alt[1:]):
        return "Deletion", False
    return "Complex", False


_ARROW_TYPES = {"Integer": pa.int64(), "Float": pa.float64(), "Flag": pa.bool_(), "String": pa.string(),
                "Character": pa.string()}


def variant_schema(info_fields: dict, annotation: bool) -> pa.Schema:
    """Columns of the variant table (see :meth:`gdbtools.store.Store.variants`)."""
    fields = [("contig", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
              ("alt", pa.string()), ("qual", pa.float32()), ("filter", pa.string()),
              ("allele_index", pa.int16()), ("n_alleles", pa.int16()), ("allele_type", pa.string()),
              ("is_transition", pa.bool_()), ("partition", pa.int32()), ("block", pa.int32()),
              ("row", pa.int32())]
    if annotation:
        fields += [("gene", pa.string()), ("consequence", pa.string()), ("impact", pa.string())]
    for name, meta in info_fields.items():
        scalar = meta.get("Number") in ("1", "A", "R", "0")
        fields.append((f"info_{name}", _ARROW_TYPES.get(meta.get("Type"), pa.string()) if scalar else pa.string()))
    return pa.schema(fields)


class _BlockBuilder:
    """Accumulates planes and variant rows for one block; grows for records with many ALT alleles."""

    def __init__(self, n_samples: int, block_size: int, with_fail: bool, columns: list[str]):
        self.n = n_samples
        self.words = n_words(n_samples)
        self.block_size = block_size
        self.with_fail = with_fail
        self.columns = columns
        self._alloc(block_size + 64)
        self.reset()

    def _alloc(self, capacity: int) -> None:
        self.capacity = capacity
        self.lo = np.zeros((capacity, self.words), dtype=np.uint32)
        self.hi = np.zeros((capacity, self.words), dtype=np.uint32)
        self.fail = np.zeros((capacity, self.words), dtype=np.uint32) if self.with_fail else None

    def reserve(self, extra: int) -> None:
        if self.rows + extra > self.capacity:
            old = (self.lo, self.hi, self.fail)
            self._alloc(self.rows + extra + 64)
            self.lo[: self.rows] = old[0][: self.rows]
            self.hi[: self.rows] = old[1][: self.rows]
            if self.fail is not None:
                self.fail[: self.rows] = old[2][: self.rows]

    def reset(self) -> None:
        self.rows = 0
        self.contig = None
        self.data = {c: [] for c in self.columns}

    @property
    def full(self) -> bool:
        return self.rows >= self.block_size


def _info_value(value, number: str, allele: int):
    if value is None:
        return None
    if number == "A" and isinstance(value, tuple):
        return value[allele - 1] if allele - 1 < len(value) else None
    if number == "R" and isinstance(value, tuple):
        return value[allele] if allele < len(value) else None
    if isinstance(value, tuple):
        return ",".join("." if v is None else str(v) for v in value)
    if number not in ("1", "A", "R", "0") and not isinstance(value, str):
        return str(value)
    return value


def run_partition(task: PartitionTask, progress=None) -> dict:
    """Ingest one partition; returns its statistics. Raises :class:`InputError` naming the record on bad input."""
    if task.merge_sources is not None:
        from .merge import run_merge_partition

        return run_merge_partition(task, progress)
    writer = PartitionWriter(task.store, task.index, task.n_samples, encoding=task.params.get("encoding"))
    if writer.finished:
        return {"skipped": 1}
    params = task.params
    half_mode = HALF_CALL_POLICIES[params["half_call"]]
    adj = params.get("adj")
    use_gq = bool(adj) and task.format_fields.get("GQ", False)
    use_dp = bool(adj) and task.format_fields.get("DP", False)
    use_ad = bool(adj) and task.format_fields.get("AD", False)
    with_fail = use_gq or use_dp or use_ad
    use = {"GQ": use_gq, "DP": use_dp, "AD": use_ad}
    build = get_build(params.get("build"))
    perm = np.asarray(task.sample_perm, dtype=np.int64) if task.sample_perm is not None else None
    declared = set(task.declared_contigs)
    ann = AnnotationParser(task.annotation["key"], task.annotation["description"]) if task.annotation else None
    info = task.info_fields
    columns = task.schema.names
    builder = _BlockBuilder(task.n_samples, params["block_size"], with_fail, columns)
    n = task.n_samples
    stats = {"n_records": 0, "n_rows": 0, "n_multiallelic": 0, "n_ref_only": 0, "n_half_calls": 0,
             "n_failed_calls": 0, "htslib_messages": []}

    cursor = writer.resume_cursor or {"records": 0, "last_pos": 0, "at_pos": 0, "contig": None}
    records, last_pos, at_pos = cursor["records"], cursor["last_pos"], cursor["at_pos"]
    stats.update(cursor.get("stats", {}))  # counts of the blocks finished before an interruption
    resume_records, resume_pos, resume_at = records, last_pos, at_pos  # what finished blocks consumed
    skip_contig = cursor.get("contig")
    seen_contigs: list[str] = []
    prev_contig, prev_pos = None, 0
    if task.contig is None and skip_contig is not None:
        prev_contig, prev_pos = skip_contig, last_pos

    def where(chrom, pos, ordinal):
        if task.contig is None:  # a sequential read of the whole file: line numbers are exact for text VCF
            line = f"line {task.header_lines + ordinal}" if not task.path.endswith(".bcf") else f"record {ordinal}"
            return f"{line} ({chrom}:{pos})" if chrom is not None else line
        region = f"record {ordinal} of region {task.contig}:{task.start}-{task.end or ''}"
        return f"{chrom}:{pos} ({region})" if chrom is not None else region

    def flush():
        if builder.rows == 0:
            return
        rows = builder.rows
        block_no = writer.next_block
        data = builder.data
        data["partition"] = [task.index] * rows
        data["block"] = [block_no] * rows
        data["row"] = list(range(rows))
        table = pa.table({c: pa.array(data[c], type=task.schema.field(c).type) for c in columns},
                         schema=task.schema)
        planes = {"lo": builder.lo[:rows], "hi": builder.hi[:rows]}
        if builder.fail is not None:
            planes["fail"] = builder.fail[:rows]
        counts = {k: v for k, v in stats.items() if not isinstance(v, list)}
        writer.write_block(planes, table, {"records": records, "last_pos": last_pos, "at_pos": at_pos,
                                           "contig": builder.contig, "stats": counts},
                           data["pos"][0], data["pos"][-1], builder.contig)
        if progress is not None:
            progress(rows)
        builder.reset()

    vcf = open_reader(task.path, task.index_path, formats=[f for f in use if use[f] or (f == "DP" and use["AD"])],
                      info=[*info, *([ann.key] if ann is not None else [])])
    try:
        with capture_htslib_messages() as messages:
            try:
                if task.contig is None:
                    iterator = iter(vcf)
                else:
                    start = max(task.start, resume_pos) if resume_records else task.start
                    end = task.end if task.end is not None else 2**31 - 1
                    try:
                        iterator = vcf(f"{task.contig}:{start}-{end}")
                    except Exception as exc:  # noqa: BLE001
                        raise InputError(f"cannot query region {task.contig}:{start}-{end}: {exc}", file=task.path,
                                         fix="check that the index belongs to this file (re-index with --index)") from exc
                skipped = 0  # records already consumed by finished blocks (sequential mode)
                ordinal = 0
                while True:
                    try:
                        var = next(iterator)
                    except StopIteration:
                        break
                    except Exception as exc:  # noqa: BLE001 - htslib parse error
                        raise InputError(
                            "htslib cannot parse the record after "
                            f"{prev_contig}:{prev_pos}" if prev_contig else "htslib cannot parse the first record",
                            file=task.path, where=where(None, None, ordinal + 1),
                            fix="repair or regenerate the file (`bcftools view` shows the same error); "
                                "the store is left unfinished and a rerun resumes") from exc
                    ordinal += 1
                    chrom, pos = var.CHROM, var.POS
                    if task.contig is not None:
                        if pos < task.start or (task.end is not None and pos > task.end):
                            continue  # a record that starts outside the region but overlaps it
                        if resume_records and (pos < resume_pos or (pos == resume_pos and skipped < resume_at)):
                            if pos == resume_pos:
                                skipped += 1
                            continue
                    elif skipped < resume_records:
                        skipped += 1
                        prev_contig, prev_pos = chrom, pos
                        continue
                    # order and contig checks
                    if declared and chrom not in declared:
                        raise InputError(f"contig {chrom!r} is not declared in the header", file=task.path,
                                         where=where(chrom, pos, ordinal),
                                         fix="add the ##contig line (`bcftools reheader` or `bcftools annotate "
                                             "--header-lines`), or remove the records of that contig")
                    if chrom != prev_contig:
                        if chrom in seen_contigs:
                            raise InputError(f"records are not sorted: contig {chrom} appears again after {prev_contig}",
                                             file=task.path, where=where(chrom, pos, ordinal),
                                             fix="sort the file: `bcftools sort -Oz -o sorted.vcf.gz`")
                        seen_contigs.append(chrom)
                        if builder.rows:
                            flush()
                        prev_contig, prev_pos = chrom, 0
                    elif pos < prev_pos:
                        raise InputError(f"records are not sorted: {chrom}:{pos} comes after {chrom}:{prev_pos}",
                                         file=task.path, where=where(chrom, pos, ordinal),
                                         fix="sort the file: `bcftools sort -Oz -o sorted.vcf.gz`")
                    prev_pos = pos
                    alts = var.ALT
                    n_alt = len(alts)
                    stats["n_records"] += 1
                    if pos == last_pos:
                        at_pos += 1
                    else:
                        last_pos, at_pos = pos, 1
                    records += 1
                    if n_alt == 0:
                        stats["n_ref_only"] += 1
                        continue
                    if n_alt > 1:
                        stats["n_multiallelic"] += 1
                    builder.reserve(n_alt)
                    builder.contig = chrom
                    row0 = builder.rows
                    if n:
                        gt = var.genotype.array()
                        if perm is not None:
                            gt = gt[perm]
                        if gt.shape[1] < 2:
                            raise InputError("the record has no GT values", file=task.path, where=where(chrom, pos, ordinal))
                        n_half, bad, kind = encode_record(gt, n_alt, row0, builder.lo, builder.hi, half_mode)
                        if bad >= 0:
                            sample = _sample_name(vcf, perm, bad)
                            call = "/".join("." if a == -1 else str(a) for a in gt[bad, :-1] if a != -2)
                            reason = {1: f"allele index above the {n_alt} ALT allele(s) of the record",
                                      2: "a half-missing call (half_call='error')",
                                      3: "ploidy above 2"}[kind]
                            fix = {1: "the GT does not match ALT; fix the file (e.g. re-run the caller or `bcftools norm`)",
                                   2: "choose how to read half calls: --half-call haploid|missing|reference",
                                   3: "gdbtools stores haploid and diploid calls only; drop or recode polyploid "
                                      "calls (e.g. `bcftools +setGT`)"}[kind]
                            raise InputError(f"sample {sample!r} has GT {call}: {reason}", file=task.path,
                                             where=where(chrom, pos, ordinal), fix=fix)
                        stats["n_half_calls"] += n_half
                        if with_fail:
                            gq, dp, ad, hap = adj_inputs(var, n, n_alt, use, perm, task.xy, build)
                            stats["n_failed_calls"] += fail_record(
                                gt, n_alt, row0, builder.fail, half_mode, gq, dp, ad, hap, use_gq, use_dp, use_ad,
                                adj["min_gq"], adj["min_dp"], adj["min_dp_haploid"], adj["min_ab"])
                    builder.rows += n_alt
                    ref = var.REF
                    vid = var.ID
                    qual = var.QUAL
                    filters = var.FILTERS
                    filt = ";".join(filters) if filters else None
                    d = builder.data
                    anns = ann.parse(var.INFO.get(ann.key), ref, alts) if ann is not None else None
                    info_values = {name: var.INFO.get(name) for name in info} if info else None
                    for a, alt in enumerate(alts, start=1):
                        atype, ti = allele_type(ref, alt)
                        d["contig"].append(chrom)
                        d["pos"].append(pos)
                        d["id"].append(vid)
                        d["ref"].append(ref)
                        d["alt"].append(alt)
                        d["qual"].append(qual)
                        d["filter"].append(filt)
                        d["allele_index"].append(a)
                        d["n_alleles"].append(n_alt + 1)
                        d["allele_type"].append(atype)
                        d["is_transition"].append(ti)
                        if anns is not None:
                            g, c, imp = anns[a - 1]
                            d["gene"].append(g)
                            d["consequence"].append(c)
                            d["impact"].append(imp)
                        if info_values is not None:
                            for name, meta in info.items():
                                d[f"info_{name}"].append(_info_value(info_values[name], meta.get("Number"), a))
                    stats["n_rows"] += n_alt
                    if builder.full:
                        flush()
                flush()
            except GdbError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise InputError(f"unexpected error while reading ({type(exc).__name__}: {exc})", file=task.path,
                                 where=f"after {prev_contig}:{prev_pos}",
                                 fix="please report this with the file's header; the store is left unfinished") from exc
            finally:
                vcf.close()
    except InputError as exc:
        htslib = [m for m in messages if "[E::" in m or "[W::" in m]
        if htslib and "htslib:" not in exc.message:
            exc.message += f" (htslib: {htslib[-1].strip()})"
        raise
    # quote htslib's own words in errors raised above (the messages list is filled on exit)
    stats["htslib_messages"] = messages[:20]
    reader = {"reader": vcf.name, "fallback_reason": vcf.fallback_reason}
    writer.finish(task.schema, stats, reader)
    return stats


def _sample_name(vcf, perm, index: int) -> str:
    column = int(perm[index]) if perm is not None else index
    return vcf.samples[column]


def estimate_partitions(count: int, records_per_partition: int) -> int:
    return max(1, math.ceil(count / max(1, records_per_partition)))
