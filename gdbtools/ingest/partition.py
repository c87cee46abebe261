"""One ingest partition: read a region of one VCF/BCF, split multi-allelics, encode blocks, write them.

This is the function each Dask task (or SLURM array job) runs. It is idempotent and resumable: finished
blocks are kept, and a rerun continues after the last one (the cursor records the position and how many
records at that position were consumed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import GdbError, InputError
from ..genome import get_build, region_text
from ..store.writer import PartitionWriter
from .adj import adj_inputs
from .annotations import AnnotationParser
from .encode import (
    HALF_CALL_POLICIES,
    encode_record,
    fail_record,
    haploid_on_diploid,
    missing_genotypes,
    record_genotypes,
)
from .htslib import capture_htslib_messages
from .ploidy import ExpectedPloidy
from .readers.select import SelectedReader, open_reader
from .rows import BlockBuilder, allele_type, info_for_allele

__all__ = ["PartitionTask", "run_partition"]

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
    xx: list[bool] | None = None    # per store sample: reported XX (None: no sexes given)
    contig_lengths: dict | None = None  # declared ##contig lengths (records past them are read and counted)


def run_partition(task: PartitionTask, progress: Callable[[int], None] | None = None) -> dict:
    """Ingest one partition; returns its statistics. Raises :class:`InputError` naming the record on bad input.

    Steps (:class:`_PartitionRun`): open the writer (a finished partition is skipped) and restore the resume
    cursor; open the reader (:func:`~.readers.select.open_reader`); for each record, skip what finished
    blocks consumed, check contig and order, encode genotypes (and the adj plane), add one row per ALT;
    write a block whenever one is full or the contig changes; record the reader in the partition's entry.
    """
    if task.merge_sources is not None:
        from .merge import run_merge_partition

        return run_merge_partition(task, progress)
    writer = PartitionWriter(task.store, task.index, task.n_samples, encoding=task.params.get("encoding"))
    if writer.finished:
        return {"skipped": 1}
    return _PartitionRun(task, writer, progress).run()


class _PartitionRun:
    """The state of one partition's ingest: the block being built, counts, the resume cursor, the order check."""

    def __init__(self, task: PartitionTask, writer: PartitionWriter, progress: Callable[[int], None] | None):
        self.task, self.writer, self.progress = task, writer, progress
        params = task.params
        self.half_mode = HALF_CALL_POLICIES[params["half_call"]]
        self.adj = params.get("adj")
        self.use = {f: bool(self.adj) and task.format_fields.get(f, False) for f in ("GQ", "DP", "AD")}
        self.with_fail = any(self.use.values())
        self.build = get_build(params.get("build"))
        self.perm = np.asarray(task.sample_perm, dtype=np.int64) if task.sample_perm is not None else None
        self.declared = set(task.declared_contigs)
        self.ann = (AnnotationParser(task.annotation["key"], task.annotation["description"])
                    if task.annotation else None)
        self.columns = task.schema.names
        self.builder = BlockBuilder(task.n_samples, params["block_size"], self.with_fail, self.columns)
        self.stats: dict = {"n_records": 0, "n_rows": 0, "n_multiallelic": 0, "n_ref_only": 0, "n_half_calls": 0,
                            "n_failed_calls": 0, "n_records_without_gt": 0, "n_past_contig_length": 0,
                            "n_half_calls_diploid": 0,
                            "n_unknown_sex_calls": 0, "htslib_messages": [], "examples": []}
        self.ploidy = ExpectedPloidy(task.n_samples, task.xx, task.xy, self.build)
        self.lengths = task.contig_lengths or {}
        cursor = writer.resume_cursor or {"records": 0, "last_pos": 0, "at_pos": 0, "contig": None}
        self.records, self.last_pos, self.at_pos = cursor["records"], cursor["last_pos"], cursor["at_pos"]
        self.stats.update(cursor.get("stats", {}))  # counts of the blocks finished before an interruption
        # what finished blocks consumed
        self.resume_records, self.resume_pos, self.resume_at = self.records, self.last_pos, self.at_pos
        self.seen_contigs: list[str] = []
        self.prev_contig: str | None = None
        self.prev_pos = 0
        if task.contig is None and cursor.get("contig") is not None:
            self.prev_contig, self.prev_pos = cursor["contig"], self.last_pos

    # -- the steps ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        task = self.task
        formats = [f for f in self.use if self.use[f]]  # declared fields only: undeclared ones are absent
        vcf = open_reader(task.path, task.index_path, formats=formats,
                          info=[*task.info_fields, *([self.ann.key] if self.ann is not None else [])])
        try:
            with capture_htslib_messages() as messages:
                try:
                    for ordinal, var in self._records(vcf):
                        self._add_record(vcf, var, ordinal)
                    self.flush()
                except GdbError:
                    raise
                except Exception as exc:
                    raise InputError(f"unexpected error while reading ({type(exc).__name__}: {exc})",
                                     file=task.path, where=f"after {self.prev_contig}:{self.prev_pos}",
                                     fix="please report this with the file's header; the store is left "
                                         "unfinished") from exc
                finally:
                    vcf.close()
        except InputError as exc:  # quote htslib's own words (the messages list is filled on exit)
            htslib = [m for m in messages if "[E::" in m or "[W::" in m]
            if htslib and "htslib:" not in exc.message:
                exc.message += f" (htslib: {htslib[-1].strip()})"
            raise
        self.stats["htslib_messages"] = messages[:20]
        self.writer.finish(task.schema, self.stats, {"reader": vcf.name, "fallback_reason": vcf.fallback_reason})
        return self.stats

    def _records(self, vcf: SelectedReader) -> Iterator[tuple[int, object]]:
        """``(ordinal, record)`` of the partition's records not yet consumed by finished blocks."""
        task = self.task
        iterator = self._query(vcf)
        skipped = 0  # records already consumed by finished blocks (sequential mode)
        ordinal = 0
        while True:
            try:
                var = next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # htslib raises bare exceptions on a record it cannot parse
                if vcf.name != "htslib":
                    raise  # not htslib's: a fast reader's error is a bug, reported as such by run()
                after = f"after {self.prev_contig}:{self.prev_pos}" if self.prev_contig else None
                raise InputError(
                    f"htslib cannot parse the record {after}" if after else "htslib cannot parse the first record",
                    file=task.path, where=self.where(None, None, ordinal + 1),
                    fix="repair or regenerate the file (`bcftools view` shows the same error); "
                        "the store is left unfinished and a rerun resumes") from exc
            ordinal += 1
            pos = var.POS
            if task.contig is not None:
                if pos < task.start or (task.end is not None and pos > task.end):
                    continue  # a record that starts outside the region but overlaps it
                if self.resume_records and (pos < self.resume_pos
                                            or (pos == self.resume_pos and skipped < self.resume_at)):
                    if pos == self.resume_pos:
                        skipped += 1
                    continue
            elif skipped < self.resume_records:
                skipped += 1
                self.prev_contig, self.prev_pos = var.CHROM, pos
                continue
            yield ordinal, var

    def _query(self, vcf: SelectedReader) -> Iterator:
        task = self.task
        if task.contig is None:
            return iter(vcf)
        start = max(task.start, self.resume_pos) if self.resume_records else task.start
        end = task.end if task.end is not None else 2**31 - 1
        try:
            return vcf(region_text(task.contig, start, end))
        except Exception as exc:
            raise InputError(f"cannot query region {task.contig}:{start}-{end}: {exc}", file=task.path,
                             fix="check that the index belongs to this file (re-index with --index)") from exc

    def _add_record(self, vcf: SelectedReader, var, ordinal: int) -> None:
        chrom, pos = var.CHROM, var.POS
        self._check_order(chrom, pos, ordinal)
        alts = var.ALT
        n_alt = len(alts)
        stats = self.stats
        stats["n_records"] += 1
        if pos == self.last_pos:
            self.at_pos += 1
        else:
            self.last_pos, self.at_pos = pos, 1
        self.records += 1
        length = self.lengths.get(chrom)
        if length and pos > length:
            stats["n_past_contig_length"] += 1
            self._example("past_contig_length", chrom, pos, f"past the declared length {length}")
        if n_alt == 0:
            stats["n_ref_only"] += 1
            self._example("ref_only", chrom, pos, "ALT . (not a variant)")
            return
        if n_alt > 1:
            stats["n_multiallelic"] += 1
        builder = self.builder
        builder.reserve(n_alt)
        builder.contig = chrom
        if self.task.n_samples:
            self._encode_genotypes(vcf, var, n_alt, ordinal)
        builder.rows += n_alt
        self._append_rows(var, chrom, pos, alts)
        stats["n_rows"] += n_alt
        if builder.full:
            self.flush()

    def _check_order(self, chrom: str, pos: int, ordinal: int) -> None:
        """Contig declared, records sorted; a new contig starts a new block."""
        path = self.task.path
        if self.declared and chrom not in self.declared:
            raise InputError(f"contig {chrom!r} is not declared in the header", file=path,
                             where=self.where(chrom, pos, ordinal),
                             fix="add the ##contig line (`bcftools reheader` or `bcftools annotate "
                                 "--header-lines`), or remove the records of that contig")
        if chrom != self.prev_contig:
            if chrom in self.seen_contigs:
                raise InputError(f"records are not sorted: contig {chrom} appears again after {self.prev_contig}",
                                 file=path, where=self.where(chrom, pos, ordinal),
                                 fix="sort the file: `bcftools sort -Oz -o sorted.vcf.gz`")
            self.seen_contigs.append(chrom)
            if self.builder.rows:
                self.flush()
            self.prev_contig, self.prev_pos = chrom, 0
        elif pos < self.prev_pos:
            raise InputError(f"records are not sorted: {chrom}:{pos} comes after {chrom}:{self.prev_pos}",
                             file=path, where=self.where(chrom, pos, ordinal),
                             fix="sort the file: `bcftools sort -Oz -o sorted.vcf.gz`")
        self.prev_pos = pos

    def _encode_genotypes(self, vcf: SelectedReader, var, n_alt: int, ordinal: int) -> None:
        """The record's genotype planes (and adj plane) into rows ``builder.rows ..`` + n_alt of the block."""
        builder, task = self.builder, self.task
        row0 = builder.rows
        gt = record_genotypes(var, task.n_samples)
        if gt is None:  # no GT: every call missing, as bcftools counts it (fill-tags AN=0)
            self.stats["n_records_without_gt"] += 1
            self._example("without_gt", var.CHROM, var.POS, "no GT: calls read as missing")
            gt = missing_genotypes(task.n_samples)
        elif self.perm is not None:
            gt = gt[self.perm]
        n_half, bad, kind = encode_record(gt, n_alt, row0, builder.lo, builder.hi, self.half_mode)
        if bad >= 0:
            self._raise_bad_call(vcf, var, gt, n_alt, bad, kind, ordinal)
        self.stats["n_half_calls"] += n_half
        self._check_ploidy(vcf, var, gt, ordinal)
        if self.with_fail:
            use, adj = self.use, self.adj
            assert adj is not None  # with_fail implies adj
            gq, dp, ad, hap = adj_inputs(var, task.n_samples, n_alt, use, self.perm, task.xy, self.build)
            self.stats["n_failed_calls"] += fail_record(
                gt, n_alt, row0, builder.fail, self.half_mode, gq, dp, ad, hap, use["GQ"], use["DP"], use["AD"],
                adj["min_gq"], adj["min_dp"], adj["min_dp_haploid"], adj["min_ab"])

    def _check_ploidy(self, vcf: SelectedReader, var, gt, ordinal: int) -> None:
        """Refuse a haploid call where the store counts the sample as diploid (it would be counted twice);
        count the calls of unknown-sex samples where the statistics exclude them by default."""
        diploid, unknown, zone = self.ploidy.at(var.CHROM, var.POS)
        if diploid is not None:
            bad, n_half = haploid_on_diploid(gt, diploid)
            if bad >= 0:
                sample = _sample_name(vcf, self.perm, bad)
                call = "/".join("." if a == -1 else str(a) for a in gt[bad, :-1] if a != -2)
                raise InputError(f"sample {sample!r} has GT {call}: a haploid call on {zone}, where the store counts "
                                 "the call as diploid (it would count one allele twice)", file=self.task.path,
                                 where=self.where(var.CHROM, var.POS, ordinal),
                                 fix="the store takes each call's ploidy from the sample's sex and the region; where "
                                     "the calls really are haploid give the sexes (--metadata), else recode them: "
                                     "`bcftools +fixploidy -- -f 2` (writes 1 as 1/1) or set them missing")
            if n_half and self.half_mode == 0:  # read as haploid where the statistics count a diploid call
                self.stats["n_half_calls_diploid"] += n_half
                self._example("half_calls_diploid", var.CHROM, var.POS, "half call read as haploid")
        if unknown is not None:
            called = gt[:, 0] >= 0
            if gt.shape[1] > 2:
                called |= gt[:, 1] >= 0
            self.stats["n_unknown_sex_calls"] += int(np.count_nonzero(called & unknown))

    def _example(self, what: str, chrom: str, pos: int, note: str) -> None:
        """Keep the first record of each kind of note-worthy record (for the warnings at the end of ingest)."""
        examples = self.stats["examples"]
        if not any(e["what"] == what for e in examples):
            examples.append({"what": what, "record": f"{chrom}:{pos}", "note": note, "file": self.task.path})

    def _raise_bad_call(self, vcf: SelectedReader, var, gt, n_alt: int, bad: int, kind: int, ordinal: int):
        sample = _sample_name(vcf, self.perm, bad)
        call = "/".join("." if a == -1 else str(a) for a in gt[bad, :-1] if a != -2)
        reason = {1: f"allele index above the {n_alt} ALT allele(s) of the record",
                  2: "a half-missing call (half_call='error')",
                  3: "ploidy above 2"}[kind]
        fix = {1: "the GT does not match ALT; fix the file (e.g. re-run the caller or `bcftools norm`)",
               2: "choose how to read half calls: --half-call haploid|missing|reference",
               3: "gdbtools stores haploid and diploid calls only; drop or recode polyploid "
                  "calls (e.g. `bcftools +setGT`)"}[kind]
        raise InputError(f"sample {sample!r} has GT {call}: {reason}", file=self.task.path,
                         where=self.where(var.CHROM, var.POS, ordinal), fix=fix)

    def _append_rows(self, var, chrom: str, pos: int, alts: list[str]) -> None:
        """One variant-table row per ALT allele (the split of a multi-allelic record)."""
        info, ann, d = self.task.info_fields, self.ann, self.builder.data
        ref, vid, qual, filters = var.REF, var.ID, var.QUAL, var.FILTERS
        filt = ";".join(filters) if filters else None
        n_alt = len(alts)
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
                    d[f"info_{name}"].append(info_for_allele(info_values[name], meta.get("Number"), a))

    def flush(self) -> None:
        """Write the block being built (with the cursor that a resume continues from)."""
        builder, task, writer = self.builder, self.task, self.writer
        if builder.rows == 0:
            return
        rows = builder.rows
        planes, table = builder.block(task.index, writer.next_block, task.schema)
        pos = builder.data["pos"]
        counts = {k: v for k, v in self.stats.items() if not isinstance(v, list)}
        writer.write_block(planes, table, {"records": self.records, "last_pos": self.last_pos,
                                           "at_pos": self.at_pos, "contig": builder.contig, "stats": counts},
                           pos[0], pos[-1], builder.contig)
        if self.progress is not None:
            self.progress(rows)
        builder.reset()

    def where(self, chrom: str | None, pos: int | None, ordinal: int) -> str:
        """Where a record is, for error messages: a line (sequential text VCF) or record number, and region."""
        task = self.task
        if task.contig is None:  # a sequential read of the whole file: line numbers are exact for text VCF
            line = f"line {task.header_lines + ordinal}" if not task.path.endswith(".bcf") else f"record {ordinal}"
            return f"{line} ({chrom}:{pos})" if chrom is not None else line
        region = f"record {ordinal} of region {task.contig}:{task.start}-{task.end or ''}"
        return f"{chrom}:{pos} ({region})" if chrom is not None else region


def _sample_name(vcf, perm, index: int) -> str:
    column = int(perm[index]) if perm is not None else index
    return vcf.samples[column]

