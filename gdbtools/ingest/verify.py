"""``verify``: re-read a store and compare it with its source VCF/BCF, partition by partition, in parallel.

The comparison is independent of the ingest path: the file is re-read with cyvcf2 (htslib), genotypes in
bulk, and the expected codes and adj plane are computed by NumPy per chunk of rows
(:mod:`.verify_read`), while the store is decoded through the reader (checksums verified). Variant identity
(contig, pos, ref, alt, allele index), raw codes and the adj plane must agree.

Each store partition is one task: its region of the file (``contig:start-end`` through the index; the whole
file for a partition read sequentially) against its rows, so the comparison follows the store's order
whatever the file's contig order is. Tasks run in forked processes (``workers``). For indexed files, the
parts of each contig that no partition covers are queried too: a record there was dropped by the ingest.
Records htslib cannot read are findings, never tracebacks.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GdbError, StoreError
from ..genome import parse_region, region_text
from ..progress import Progress
from ..store.format import sha256_file
from ..store.reader import Store
from .htslib import real_stderr
from .readers.header import read_header
from .verify_read import MAX_FINDINGS, PartitionCheck, PartResult, check_partition, open_source

__all__ = ["verify", "VerifyReport"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: counts compared and the first mismatches (empty when the store is faithful)."""

    n_records: int = 0
    n_rows: int = 0
    n_calls: int = 0
    mismatches: list[str] = field(default_factory=list)
    n_mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0

    def add(self, text: str) -> None:
        self.n_mismatches += 1
        if len(self.mismatches) < MAX_FINDINGS:
            self.mismatches.append(text)

    def merge(self, part: PartResult) -> None:
        """Add one task's counts and findings."""
        self.n_records += part.n_records
        self.n_rows += part.n_rows
        self.n_calls += part.n_calls
        self.n_mismatches += part.n_mismatches
        self.mismatches.extend(part.findings[: max(0, MAX_FINDINGS - len(self.mismatches))])

    def __str__(self) -> str:
        head = (f"{'OK' if self.ok else 'MISMATCH'}: {self.n_records} records, {self.n_rows} variants, "
                f"{self.n_calls} calls compared; {self.n_mismatches} mismatches")
        return "\n".join([head, *("  " + m for m in self.mismatches)])


def _checks(st: Store, files: list[int], sources: list[str]) -> list[PartitionCheck]:
    """One :class:`PartitionCheck` per store partition of the given source files, in store order."""
    params = st.manifest["params"]
    samples = st.samples
    ids = samples["sample_id"].tolist()
    xy = (samples["sex"] == "XY").fillna(False).to_numpy(bool) if samples["sex"].notna().any() else None
    regions = [parse_region(r) for r in params.get("regions") or []]
    adj = params.get("adj") or None
    checks = []
    for file_no in files:
        path = sources[file_no]
        header = read_header(path)
        perm = None
        if st.n_samples and header.samples != ids:
            column = {s: i for i, s in enumerate(header.samples)}
            missing = [s for s in ids if s not in column]
            if missing:
                raise GdbError(f"sample {missing[0]!r} of the store is not in the file", file=path,
                               fix="give the file the store was ingested from")
            perm = np.array([column[s] for s in ids], dtype=np.int64)
        use = {f: bool(adj) and f in header.formats for f in ("GQ", "DP", "AD")}
        for part in st.manifest["partitions"]:
            if part.get("file") == file_no:
                checks.append(PartitionCheck(
                    store=str(st.path), partition=part, path=path, index=part.get("index"), n_samples=st.n_samples,
                    half_call=params["half_call"], perm=perm, xy=xy, build=params.get("build"), use=use, adj=adj,
                    regions=regions, ids=ids))
    return checks


def _uncovered(st: Store, file_no: int, path: str) -> list[tuple[str, int, int, str | None]]:
    """``(contig, start, end, index)`` ranges of an indexed file that no partition of the store reads.

    Empty when the file was read sequentially. Ranges are limited to the ingest's regions, if any.
    """
    parts = [p for p in st.manifest["partitions"] if p.get("file") == file_no]
    if not parts or any(p["contig"] is None for p in parts):
        return []
    index = parts[0].get("index")
    try:
        vcf = open_source(path, index)
        contigs = list(vcf.seqnames)
        vcf.close()
    except Exception:  # no index to list contigs: the partitions cover what can be read
        return []
    top = 2**31 - 1
    regions = [parse_region(r) for r in st.manifest["params"].get("regions") or []]
    gaps = []
    for contig in contigs:
        if regions:
            wanted = [(r.start, r.end if r.end is not None else top) for r in regions if r.contig == contig]
        else:
            wanted = [(1, top)]
        covered = sorted((p["start"], p["end"] if p["end"] is not None else top)
                         for p in parts if p["contig"] == contig)
        for lo, hi in wanted:
            at = lo
            for s, e in covered:
                if e < at or s > hi:
                    continue
                if s > at:
                    gaps.append((contig, at, s - 1, index))
                at = max(at, e + 1)
            if at <= hi:
                gaps.append((contig, at, hi, index))
    return gaps


def _check_gaps(path: str, gaps: list[tuple[str, int, int, str | None]]) -> PartResult:
    """Records of `path` that start inside `gaps` (which no partition read): each range is one finding."""
    result = PartResult()
    if not gaps:
        return result
    vcf = open_source(path, gaps[0][3])
    try:
        with warnings.catch_warnings():
            # most gaps hold no record at all: cyvcf2 warns "no intervals found" for each, which is the answer here
            warnings.filterwarnings("ignore", message="no intervals found", category=UserWarning)
            for contig, start, end, _ in gaps:
                n, first = 0, None
                try:
                    for rec in vcf(region_text(contig, start, end)):
                        if start <= rec.POS <= end:
                            n += 1
                            first = first or f"{rec.CHROM}:{rec.POS} {rec.REF}>{','.join(rec.ALT) or '.'}"
                except Exception as exc:  # an unreadable record in a gap is still a record not read
                    result.add(f"{path}: htslib cannot read a record in {contig}:{start}-{end} ({exc}), which no "
                               "partition of the store covers")
                    continue
                if n:
                    result.n_records += n
                    result.add(f"{path}: {n} record(s) in {contig}:{start}-{end} are not in the store (no partition "
                               f"covers them; first {first})", n)
    finally:
        vcf.close()
    return result


def _run(jobs: list, workers: int, bar) -> list[PartResult]:
    """Run ``(function, argument)`` jobs, in forked processes when `workers` > 1; results in job order."""
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for fn, arg in jobs:
            out.append(fn(arg))
            bar.update(out[-1].n_rows)
        return out
    results: list[PartResult | None] = [None] * len(jobs)
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(fn, arg): i for i, (fn, arg) in enumerate(jobs)}
        for future in as_completed(futures):
            done = future.result()
            results[futures[future]] = done
            bar.update(done.n_rows)
    return [r for r in results if r is not None]


def _gap_job(arg) -> PartResult:
    return _check_gaps(*arg)


def verify(store: str | Store, inputs=None, *, progress: bool = True, workers: int | None = None) -> VerifyReport:
    """Compare a store with its sources (default: the files recorded in its manifest).

    `workers` processes compare partitions in parallel (default: the CPUs this process may use). Returns a
    :class:`VerifyReport`; raises :class:`GdbError` if the store itself cannot be read.
    """
    st = store if isinstance(store, Store) else Store(store)
    params = st.manifest["params"]
    if params["mode"] != "concat":
        raise GdbError("verify supports stores ingested without --merge", file=st.path,
                       fix="verify each per-sample input separately after a concat ingest")
    report = VerifyReport()
    for part in st.manifest["partitions"]:
        path = st.path / part["variants"]
        if not path.exists():
            raise StoreError("a variant table listed in the manifest is missing", file=path,
                             fix="the store is damaged; re-run the ingest into a new directory")
        if sha256_file(path) != part["variants_sha256"]:
            report.add(f"{part['variants']}: checksum differs from the manifest")
    sources = [s["path"] for s in params["inputs"]]
    if inputs is not None:
        given = [str(Path(p).resolve()) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
        unknown = [p for p in given if p not in sources]
        if unknown:
            raise GdbError(f"{unknown[0]} is not a source of this store (sources: {', '.join(sources)})",
                           file=st.path, fix="give the files the store was ingested from")
        files = [sources.index(p) for p in given]
    else:
        files = list(range(len(sources)))
    jobs: list = [(check_partition, c) for c in _checks(st, files, sources)]
    jobs += [(_gap_job, (sources[f], gaps)) for f in files if (gaps := _uncovered(st, f, sources[f]))]
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    bar = Progress("verify", sum(p["n_variants"] for p in st.manifest["partitions"] if p.get("file") in files),
                   enabled=progress, stream=real_stderr())
    try:
        for part_result in _run(jobs, workers, bar):
            report.merge(part_result)
    finally:
        bar.close()
    return report
