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

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GdbError, StoreError
from ..genome import parse_region
from ..progress import Progress
from ..runtime import current_client
from ..store.format import DEFAULT_ENCODING, sha256_file
from ..store.reader import Store
from ..store.writer import WORK, StoreWriter
from . import planning as P
from .htslib import real_stderr
from .metadata import SampleTable, build_samples
from .partition import PartitionTask, run_partition
from .readers.header import VcfHeader, read_header

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
    samples: SampleTable
    tasks: list[PartitionTask] = field(default_factory=list)

    @property
    def plan_dict(self) -> dict:
        return {"params": self.params, "partitions": self.partitions}


def plan_ingest(inputs, out, *, metadata=None, metadata_id=None, sex_column=None, strict_metadata=False,
                build=None, merge=False, absent="missing", half_call="haploid", adj=True, block_size=None,
                partition_records=10_000, partition_by="region", info_fields=(), annotations="auto",
                regions=None, index=False, encoding=DEFAULT_ENCODING) -> IngestPlan:
    """Check the inputs and fix the plan (the *init* step without writing anything but indexes).

    Steps (in :mod:`.planning`): check the options, read the headers, the samples (same set in every file,
    or disjoint sets in merge mode) joined with the metadata, the genome build, the genotype-filter, INFO and
    annotation settings, the indexes, the partitions (windows of about `partition_records` records), the
    parameters that identify the plan, and one :class:`PartitionTask` per partition.
    """
    paths = P.check_options(inputs, half_call=half_call, absent=absent, encoding=encoding, partition_by=partition_by)
    headers = [read_header(p) for p in paths]
    sample_ids = P.sample_ids(headers, merge)
    samples = build_samples(sample_ids, metadata, id_column=metadata_id, sex_column=sex_column,
                            strict=strict_metadata)
    build = P.genome_build(headers, build)
    adj_params = P.adj_settings(adj, ADJ_DEFAULTS)
    info_meta = P.info_settings(headers, info_fields)
    annotation = P.annotation_field(headers, annotations, ANNOTATION_KEYS)
    block_size = int(block_size or default_block_size(len(sample_ids)))
    if block_size < 1:
        raise GdbError("block size must be positive")
    region_list = [parse_region(r) for r in (regions or [])]
    indexes, index_counts = P.indexes(headers, Path(out) / WORK / "index", build_index=index,
                                      needed=bool(region_list or merge))
    partitions = P.partitions(headers, indexes, index_counts, merge=merge, partition_by=partition_by,
                              partition_records=partition_records, regions=region_list)
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
        "n_samples": len(sample_ids),
    }
    plan = IngestPlan(str(out), params, partitions, headers, samples)
    plan.tasks = P.partition_tasks(str(out), headers, indexes, partitions, sample_ids, samples.table, params,
                                   merge=merge, info_meta=info_meta, annotation=annotation)
    return plan


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
    contig_lengths: dict[str, int | None] = {}
    for h in plan.headers:
        for c, length in h.contigs.items():
            contig_lengths.setdefault(c, length)
    extra = {"build": plan.params["build"], "sources": sources, "metadata": plan.samples.report(),
             "contigs_declared": len(contig_lengths)}
    manifest = writer.finalize(extra, contig_lengths)
    report_records(manifest)
    fallbacks = [p for p in manifest["partitions"] if p.get("fallback_reason")]
    if fallbacks:
        P.warn(f"{len(fallbacks)} of {len(manifest['partitions'])} partitions were read with htslib instead of the "
               f"fast reader (first: {fallbacks[0]['fallback_reason']}); manifest.json lists each partition's "
               "reader and fallback_reason")
    return Store(plan.out)


_NOTEWORTHY = (
    ("n_ref_only", "ref_only", "record(s) with ALT . skipped (not variants; counted as n_ref_only)"),
    ("n_records_without_gt", "without_gt", "record(s) without GT ingested with every call missing (as bcftools "
     "counts them: AN=0; n_records_without_gt)"),
    ("n_past_contig_length", "past_contig_length", "record(s) lie past their contig's declared ##contig length "
     "(read and kept; n_past_contig_length)"),
    ("n_half_calls_diploid", "half_calls_diploid", "half call(s) (0/., 1/.) read as haploid where the statistics "
     "count a diploid call: each counts as 0/0 or 1/1 (bcftools +fill-tags counts one allele); use --half-call "
     "missing or reference to read them otherwise (n_half_calls_diploid)"),
)


def report_records(manifest: dict) -> list[str]:
    """Warn about records that were skipped or read in a noteworthy way (counts from the manifest's ``stats``,
    each with its first record); returns the warning lines. Nothing is dropped without a count here."""
    stats = manifest.get("stats", {})
    examples: dict[str, dict] = {}
    for e in stats.get("examples", []):
        examples.setdefault(e.get("what"), e)
    lines = []
    for key, what, text in _NOTEWORTHY:
        n = stats.get(key, 0)
        if n:
            e = examples.get(what)
            first = f" (first: {e['record']} in {e['file']})" if e else ""
            lines.append(f"{n:,} {text}{first}")
    if manifest.get("n_samples") == 0:
        lines.append("the input has no samples: a sites-only store (variants without genotypes; AN=0)")
    n_unknown = stats.get("n_unknown_sex_calls", 0)
    if n_unknown:
        lines.append(f"{n_unknown:,} calls on chrX outside the PARs or on chrY belong to samples of unknown sex: "
                     "statistics exclude them by default (unknown_sex='exclude'); give the sexes with --metadata "
                     "(and --sex-column), or count them as XX with --unknown-sex diploid (n_unknown_sex_calls)")
    for line in lines:
        P.warn(line)
    return lines


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _execute(tasks: list[PartitionTask], workers: int | None, progress: bool, total: int | None) -> list[dict]:
    """Run partition tasks on the current Dask client if there is one (a cluster: local, SLURM...); else
    with Dask's local multiprocessing scheduler on forked worker processes (no cluster to start: a fork
    inherits the loaded readers and compiled kernels); else inline (one worker or one partition)."""
    bar = Progress("ingest", total, enabled=progress, stream=real_stderr())
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
        P.warn(f"{len(plan.samples.missing_metadata)} genotype samples have no metadata row and "
              f"{len(plan.samples.unused_metadata)} metadata rows match no genotype sample "
              "(listed in manifest.json under 'metadata')")
    if step == "init":
        return plan
    if step != "all":
        raise GdbError(f"unknown step {step!r}", fix="use all, init, partition or finalize")
    done = set(writer.partitions_done())
    todo = [t for t in plan.tasks if f"p{t.index:05d}" not in done]
    estimates = [p.get("est_records") for p in plan.partitions]
    total = sum(e for e in estimates if e is not None) if all(e is not None for e in estimates) else None
    _execute(todo, workers, progress, total)
    return finalize_ingest(plan)


