"""``ingest``: VCF/BCF files -> a cohort store, in three resumable steps (init, partitions, finalize).

- **init** reads the headers, checks them against each other and the sample metadata, finds (or with
  ``index=True`` builds) indexes, and fixes the *plan*: the ingest parameters plus the list of partitions
  (regions of input files). The plan is written into the store's ``_work/``.
- **partitions** run anywhere (inline, on a local Dask cluster, on SLURM array tasks); each is resumable.
- **finalize** refuses to finish while a partition is missing, then writes ``manifest.json`` last.

:func:`ingest` runs all three. Two input modes:

- *concat* (default): files hold the same samples (per-chromosome files, or chunks); columns may be in a
  different order (they are matched by id); a file with other samples is an error.
- *merge* (``merge=True``): files hold disjoint samples (per-sample or per-batch VCFs); variants are merged
  by (contig, pos, ref, alt) after splitting, and a call absent from a file is ``absent="missing"`` (default)
  or ``"hom-ref"`` -- recorded in the manifest.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GdbError, InputError, StoreError
from ..genome import get_build, parse_region
from ..runtime import current_client
from ..store.format import DEFAULT_ENCODING, KNOWN_ENCODINGS, sha256_file
from ..store.reader import Store
from ..store.writer import WORK, StoreWriter
from .annotations import AnnotationParser
from .encode import HALF_CALL_POLICIES
from .metadata import build_samples
from .partition import PartitionTask, run_partition, variant_schema
from .htslib import index_stats, make_index, open_vcf, real_stderr
from .readers.header import VcfHeader, read_header
from .readers.index import find_index

__all__ = ["ingest", "IngestPlan", "plan_ingest", "run_ingest_partition", "finalize_ingest", "ADJ_DEFAULTS"]

ADJ_DEFAULTS = {"min_gq": 20, "min_dp": 10, "min_dp_haploid": 5, "min_ab": 0.2}
ANNOTATION_KEYS = ("CSQ", "ANN", "BCSQ", "vep")


def default_block_size(n_samples: int) -> int:
    """Variants per block: 4096 up to 16k samples, then fewer so a decoded block stays near 64 MB or less."""
    if n_samples <= 16_384:
        return 4096
    if n_samples <= 65_536:
        return 2048
    return 1024


@dataclass
class IngestPlan:
    """A fixed plan: what init decided; every partition job recomputes it and checks it is identical."""

    out: str
    params: dict
    partitions: list[dict]
    headers: list[VcfHeader]
    samples: object  # metadata.SampleTable
    tasks: list[PartitionTask] = field(default_factory=list)

    @property
    def plan_dict(self) -> dict:
        return {"params": self.params, "partitions": self.partitions}


def plan_ingest(inputs, out, *, metadata=None, metadata_id=None, sex_column=None, strict_metadata=False,
                build=None, merge=False, absent="missing", half_call="haploid", adj=True, block_size=None,
                partition_records=10_000, partition_by="region", info_fields=(), annotations="auto",
                regions=None, index=False, encoding=DEFAULT_ENCODING) -> IngestPlan:
    """Check the inputs and fix the plan (the *init* step without writing anything but indexes)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [str(Path(p).resolve()) for p in inputs]
    if not inputs:
        raise GdbError("no input files", fix="give one or more VCF/BCF files")
    if len(set(inputs)) != len(inputs):
        raise GdbError("the same input file is given twice", fix="list each file once")
    if half_call not in HALF_CALL_POLICIES:
        raise GdbError(f"unknown half_call policy {half_call!r}", fix=f"use one of {', '.join(HALF_CALL_POLICIES)}")
    if absent not in ("missing", "hom-ref"):
        raise GdbError(f"unknown absent-call policy {absent!r}", fix="use 'missing' or 'hom-ref'")
    if encoding not in KNOWN_ENCODINGS:
        raise GdbError(f"unknown block encoding {encoding!r}", fix=f"use one of {', '.join(sorted(KNOWN_ENCODINGS))}")
    if partition_by not in ("region", "contig", "file"):
        raise GdbError(f"unknown partition_by {partition_by!r}", fix="use region, contig or file")
    headers = [read_header(p) for p in inputs]

    # samples: concat mode needs the same set everywhere; merge mode disjoint sets
    if merge:
        sample_ids, owner = [], {}
        for h in headers:
            for s in h.samples:
                if s in owner:
                    raise InputError(f"sample {s!r} is in two files ({owner[s]} and {h.path}); merge needs "
                                     "disjoint samples", file=h.path,
                                     fix="remove the duplicate, or ingest these files without --merge")
                owner[s] = h.path
                sample_ids.append(s)
    else:
        sample_ids = headers[0].samples
        first = set(sample_ids)
        for h in headers[1:]:
            if set(h.samples) != first:
                only_here = sorted(set(h.samples) - first)[:5]
                only_first = sorted(first - set(h.samples))[:5]
                raise InputError(
                    f"the samples differ from those of {headers[0].path} ({len(h.samples)} vs {len(first)} samples; "
                    f"only here: {only_here}; only there: {only_first})", file=h.path,
                    fix="for per-sample or per-batch VCFs use --merge; for per-chromosome files give files "
                        "with the same samples (`bcftools view -S samples.txt`)")
    samples = build_samples(sample_ids, metadata, id_column=metadata_id, sex_column=sex_column,
                            strict=strict_metadata)

    # genome build: explicit, else detected and consistent
    detected = {h.build for h in headers if h.build}
    if build is not None:
        build = get_build(build).name
    elif len(detected) > 1:
        raise InputError(f"the inputs look like different genome builds: {sorted(detected)}", file=headers[0].path,
                         fix="check the inputs, or name the build with --build")
    else:
        build = detected.pop() if detected else None

    # FORMAT fields usable for genotype filters, INFO fields to keep, annotation field
    adj_params = None
    if adj:
        adj_params = dict(ADJ_DEFAULTS)
        if isinstance(adj, dict):
            unknown = set(adj) - set(ADJ_DEFAULTS)
            if unknown:
                raise GdbError(f"unknown genotype filter settings {sorted(unknown)}",
                               fix=f"use {', '.join(ADJ_DEFAULTS)}")
            adj_params.update(adj)
    info_meta = {}
    for name in info_fields:
        meta = next((h.infos[name] for h in headers if name in h.infos), None)
        if meta is None:
            raise InputError(f"INFO field {name!r} is not declared in any input header", file=headers[0].path,
                             fix="check the name (`bcftools view -h`), or drop it from --info")
        info_meta[name] = {"Number": meta.get("Number"), "Type": meta.get("Type")}
    annotation = None
    if annotations == "auto":
        for key in ANNOTATION_KEYS:
            meta = next((h.infos[key] for h in headers if key in h.infos), None)
            if meta is not None:
                try:
                    AnnotationParser(key, meta.get("Description", ""))
                except ValueError:
                    continue
                annotation = {"key": key, "description": meta.get("Description", "")}
                break
    elif annotations:
        meta = next((h.infos[annotations] for h in headers if annotations in h.infos), None)
        if meta is None:
            raise InputError(f"annotation field {annotations!r} is not in the header", file=headers[0].path,
                             fix="use CSQ (VEP), ANN (snpEff) or BCSQ (bcftools csq), or --annotations none")
        annotation = {"key": annotations, "description": meta.get("Description", "")}

    n_samples = len(sample_ids)
    block_size = int(block_size or default_block_size(n_samples))
    if block_size < 1:
        raise GdbError("block size must be positive")
    region_list = [parse_region(r) for r in (regions or [])]
    index_dir = Path(out) / WORK / "index"

    # indexes and partitions
    partitions = []
    indexes, all_stats = [], []
    for h in headers:
        index_path = find_index(h.path, (index_dir,))
        if index_path is None and index:
            index_path = make_index(h.path, index_dir)
        if index_path is None and (region_list or merge):
            raise InputError("no index (.tbi/.csi) for this file; regions and --merge need one", file=h.path,
                             fix="pass --index to build one inside the store's work directory, or run "
                                 "`bcftools index` next to the file")
        indexes.append(index_path)
        all_stats.append(index_stats(h.path, index_path) if index_path else None)
    if merge:
        lengths, counts = {}, {}
        for h, stats in zip(headers, all_stats):
            for c in dict.fromkeys([*h.contigs, *(stats or {})]):
                lengths.setdefault(c, h.contigs.get(c))
                if stats is not None:
                    counts[c] = max(counts.get(c, 0), stats.get(c, 0))
        contigs = [c for c in lengths if counts.get(c, 1) > 0]
        partitions = _windows({"file": None, "index": None}, contigs, lengths, counts or None, partition_by,
                              partition_records, region_list, [(h.path, i) for h, i in zip(headers, indexes)])
    for file_no, h in enumerate(headers if not merge else []):
        index_path, stats = indexes[file_no], all_stats[file_no]
        base = {"file": file_no, "index": index_path}
        if index_path is None or partition_by == "file":
            if index_path is None and h.kind != "text":
                _warn(f"{h.path}: no index; reading it as one sequential partition (pass --index to read it "
                      "in parallel by region)")
            partitions.append({**base, "contig": None, "start": 1, "end": None, "est_records": None})
            continue
        contigs = list(h.contigs) or list(stats or {})
        if stats:
            contigs = [c for c in dict.fromkeys([*contigs, *stats]) if stats.get(c, 0) > 0]
        partitions += _windows(base, contigs, h.contigs, stats, partition_by, partition_records, region_list,
                               [(h.path, index_path)])

    params = {
        "inputs": [{"path": h.path, "kind": h.kind, "size": os.path.getsize(h.path),
                    "mtime_ns": os.stat(h.path).st_mtime_ns, "n_samples": len(h.samples)} for h in headers],
        "mode": "merge" if merge else "concat",
        "absent": absent if merge else None,
        "half_call": half_call,
        "adj": adj_params,
        "build": build,
        "block_size": block_size,
        "encoding": encoding,
        "partition_records": partition_records,
        "partition_by": partition_by,
        "info_fields": info_meta,
        "annotation": annotation["key"] if annotation else None,
        "regions": [str(r) for r in region_list],
        "metadata": None if metadata is None else {"path": str(Path(metadata).resolve()),
                                                   "sha256": sha256_file(metadata),
                                                   "id_column": samples.id_column, "sex_column": samples.sex_column,
                                                   "strict": strict_metadata},
        "n_samples": n_samples,
    }
    plan = IngestPlan(str(out), params, partitions, headers, samples)
    schema = variant_schema(info_meta, annotation is not None)
    xy = None
    if samples.table["sex"].notna().any():
        xy = (samples.table["sex"] == "XY").fillna(False).astype(bool).tolist()
    merge_sources = None
    if merge:
        merge_sources, offset = [], 0
        for h, index_path in zip(headers, indexes):
            merge_sources.append({"path": h.path, "index": index_path, "offset": offset, "n": len(h.samples),
                                  "formats": {f: f in h.formats for f in ("GQ", "DP", "AD")}})
            offset += len(h.samples)
    for i, part in enumerate(partitions):
        h = headers[part["file"]] if part.get("file") is not None else None
        perm = None
        if h is not None and not merge and h.samples != sample_ids:
            pos = {s: j for j, s in enumerate(h.samples)}
            perm = [pos[s] for s in sample_ids]
        plan.tasks.append(PartitionTask(
            store=str(out), index=i, path=h.path if h else "", index_path=part.get("index"),
            contig=part["contig"], start=part["start"], end=part["end"], n_samples=n_samples,
            sample_perm=perm, xy=xy, params=params,
            header_lines=h.text.count("\n") if h is not None and h.kind != "bcf" else 0,
            declared_contigs=list(h.contigs) if h else [],
            format_fields={f: any(f in hh.formats for hh in ([h] if h else headers)) for f in ("GQ", "DP", "AD")},
            info_fields=info_meta, annotation=annotation, schema=schema, merge_sources=merge_sources))
    return plan


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
    decompresses one BGZF block), so windows cover the data, not the whole declared contig.
    """
    firsts, lasts = [], []
    for path, index in sources:
        vcf = open_vcf(path, index)
        try:
            def first_from(p):
                for rec in vcf(f"{contig}:{p}-{length}"):
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


def _windows(base, contigs, lengths, counts, partition_by, partition_records, regions, sources=()):
    """Partitions of `contigs`: bp windows over the data holding about `partition_records` records each."""
    out = []
    for contig in contigs:
        length = lengths.get(contig)
        count = counts.get(contig) if counts else None
        windows = [(1, length)]
        first, last = 1, length
        if partition_by == "region" and count and length:
            n_win = max(1, math.ceil(count / partition_records))
            if n_win > 1:
                first, last = _data_extent(sources, contig, length) if sources else (1, length)
                step = math.ceil((last - first + 1) / n_win)
                bounds = [first + i * step for i in range(n_win)] + [length + 1]
                bounds[0] = 1
                windows = [(bounds[i], bounds[i + 1] - 1) for i in range(n_win) if bounds[i] <= bounds[i + 1] - 1]
        for start, end in windows:
            for s, e in _intersect(contig, start, end, regions):
                est = None
                if count is not None and length:
                    span = min(e or length, last) - max(s, first) + 1
                    est = max(0, int(count * span / (last - first + 1)))
                out.append({**base, "contig": contig, "start": s, "end": e, "est_records": est})
    return out


def _warn(text: str) -> None:
    print(f"warning: {text}", file=real_stderr())


# -- running -----------------------------------------------------------------------------------------------------
def run_ingest_partition(plan: IngestPlan, index: int) -> dict:
    """Run partition `index` of an initialised plan (idempotent; used by SLURM array tasks)."""
    if not 0 <= index < len(plan.tasks):
        raise GdbError(f"partition {index} does not exist (the plan has {len(plan.tasks)})",
                       fix=f"use an index from 0 to {len(plan.tasks) - 1}")
    StoreWriter(plan.out, plan.plan_dict, plan.samples.table)
    return run_partition(plan.tasks[index])


def finalize_ingest(plan: IngestPlan) -> Store:
    """Write the manifest once every partition has finished (else a :class:`StoreError` naming the first)."""
    writer = StoreWriter(plan.out, plan.plan_dict, plan.samples.table)
    sources = []
    for h in plan.headers:
        sources.append({"path": h.path, "kind": h.kind, "size": os.path.getsize(h.path),
                        "sha256": sha256_file(h.path) if plan.params.get("source_checksums", True) else None,
                        "n_samples": len(h.samples), "header_sha256": _sha(h.text)})
    contig_lengths = {}
    for h in plan.headers:
        for c, length in h.contigs.items():
            contig_lengths.setdefault(c, length)
    extra = {"build": plan.params["build"], "sources": sources, "metadata": plan.samples.report(),
             "contigs_declared": len(contig_lengths)}
    writer.finalize(extra, contig_lengths)
    return Store(plan.out)


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _execute(tasks: list[PartitionTask], workers: int | None, progress: bool, total: int | None) -> list[dict]:
    """Run partition tasks on the current Dask client if there is one (a cluster: local, SLURM...); else
    with Dask's local multiprocessing scheduler on forked worker processes (no cluster to start: a fork
    inherits the loaded readers and compiled kernels); else inline (one worker or one partition)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=" variants", unit_scale=True, desc="ingest", file=real_stderr(),
               disable=not progress, dynamic_ncols=True, mininterval=0.5)
    results: list[dict] = []
    try:
        client = current_client()
        workers = workers if workers is not None else (os.cpu_count() or 1)
        if client is not None:
            from distributed import as_completed

            futures = client.map(run_partition, tasks, pure=False)
            try:
                for future in as_completed(futures):
                    result = future.result()
                    results.append(result)
                    bar.update(result.get("n_rows", 0))
            except BaseException:
                client.cancel(futures)
                raise
        elif workers > 1 and len(tasks) > 1:
            results = _run_forked(tasks, min(workers, len(tasks)), bar)
        else:
            for task in tasks:
                results.append(run_partition(task, progress=bar.update))
    finally:
        bar.close()
    return results


def _run_forked(tasks: list[PartitionTask], workers: int, bar) -> list[dict]:
    """Dask's multiprocessing scheduler on a fork pool; progress from the scheduler's task callbacks."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import dask
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(result, dict):
                bar.update(result.get("n_rows", 0))

    from .encode import warm_up

    warm_up()  # compile (or load from cache) the encoders once, before forking
    graph = [dask.delayed(run_partition, pure=False)(task) for task in tasks]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool, _Progress():
        return list(dask.compute(*graph, scheduler="processes", pool=pool))


def ingest(inputs, out, *, metadata=None, metadata_id=None, sex_column=None, strict_metadata=False, build=None,
           merge=False, absent="missing", half_call="haploid", adj=True, block_size=None, partition_records=10_000,
           partition_by="region", info_fields=(), annotations="auto", regions=None, index=False, workers=None,
           overwrite=False, progress=True, step="all", partition=None, encoding=DEFAULT_ENCODING
           ) -> Store | IngestPlan | dict:
    """Ingest VCF/BCF files into a cohort store at `out`.

    Parameters
    ----------
    inputs
        One path or a list: bgzipped VCF or BCF (indexed for parallel reading; plain VCF/gzip read whole).
    out
        The store directory. An unfinished ingest there with the same parameters is resumed.
    metadata
        Sample metadata TSV joined by sample id (see :mod:`gdbtools.ingest.metadata`).
    build
        Genome build (``GRCh37``, ``GRCh38``, ``NCBI36``); detected from the header when omitted.
    merge, absent
        Merge files with disjoint samples by variant; calls absent from a file are ``"missing"`` or ``"hom-ref"``.
    half_call
        How to read ``0/.``-style calls: ``haploid`` (default), ``missing``, ``reference`` or ``error``.
    adj
        Genotype filters for the "adj" view: ``True`` (gnomAD's GQ>=20, DP>=10 (5 haploid), het AB>=0.2),
        a dict overriding some thresholds, or ``False``. Raw calls are always kept.
    block_size, partition_records, partition_by
        Variants per block (default by sample count), records per partition, and partitioning
        (``region`` windows, one per ``contig``, or one per ``file``).
    info_fields, annotations
        INFO fields to keep as ``info_<name>`` columns; the annotation field parsed into gene/consequence/impact
        (``"auto"``: CSQ, ANN or BCSQ when present; ``None`` for none).
    regions
        Restrict to these regions (needs an index).
    index
        Build missing indexes (inside the store's work directory; inputs stay untouched).
    encoding
        Genotype block encoding: ``"hybrid2"`` (default: rare variants as sparse entries, the others as
        bit-planes) or ``"dense2"`` (bit-planes only); see :mod:`gdbtools.store.format`.
    workers
        Parallel worker processes when no Dask client is active (default: CPU count; 1 = inline). With a
        client (``gdbtools.cluster.connect(...)``, or any ``distributed.Client``) partitions run on its workers.
    step
        ``"all"``, or ``"init"`` / ``"partition"`` (with `partition`) / ``"finalize"`` for job arrays.

    Returns
    -------
    Store for ``all``/``finalize``; the plan for ``init``; the partition's statistics for ``partition``.
    """
    if overwrite and step in ("all", "init") and Path(out).exists():
        if not ((Path(out) / "manifest.json").exists() or (Path(out) / WORK).exists()):
            raise StoreError("refusing to overwrite a directory that is not a gdbtools store", file=out,
                           fix="choose another output directory")
        shutil.rmtree(out)
    if (Path(out) / "manifest.json").exists() and step in ("all", "init"):
        raise StoreError("a complete store already exists here", file=out,
                       fix="choose a new output directory, or pass --overwrite to replace it")
    plan = plan_ingest(inputs, out, metadata=metadata, metadata_id=metadata_id, sex_column=sex_column,
                       strict_metadata=strict_metadata, build=build, merge=merge, absent=absent, half_call=half_call,
                       adj=adj, block_size=block_size, partition_records=partition_records, partition_by=partition_by,
                       info_fields=info_fields, annotations=annotations, regions=regions, index=index,
                       encoding=encoding)
    if step == "partition":
        if partition is None:
            raise GdbError("step 'partition' needs a partition index", fix="pass --partition I")
        return run_ingest_partition(plan, partition)
    if step == "finalize":
        return finalize_ingest(plan)
    writer = StoreWriter(out, plan.plan_dict, plan.samples.table)
    if plan.samples.missing_metadata or plan.samples.unused_metadata:
        _warn(f"{len(plan.samples.missing_metadata)} genotype samples have no metadata row and "
              f"{len(plan.samples.unused_metadata)} metadata rows match no genotype sample "
              "(listed in manifest.json under 'metadata')")
    if step == "init":
        return plan
    if step != "all":
        raise GdbError(f"unknown step {step!r}", fix="use all, init, partition or finalize")
    done = set(writer.partitions_done())
    todo = [t for t in plan.tasks if f"p{t.index:05d}" not in done]
    estimates = [p.get("est_records") for p in plan.partitions]
    total = sum(estimates) if all(e is not None for e in estimates) else None
    _execute(todo, workers, progress, total)
    return finalize_ingest(plan)


