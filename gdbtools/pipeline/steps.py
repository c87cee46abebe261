"""The built-in step kinds: ingest, verify, freq, qc (report and export register here when they exist).

Each is a small function over a :class:`~gdbtools.pipeline.runner.StepContext`: it reads ``ctx.inputs``,
writes ``ctx.outputs`` (through ``ctx.output_path()``, so an output is whole or absent) and returns a few
numbers for the run record. Whether it runs at all is the runner's decision (see :mod:`.registry`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import GdbError
from .errors import PipelineError
from .registry import Param, step

__all__ = ["ingest_step", "verify_step", "freq_step", "qc_step", "INGEST_PARAMS"]


def _adj_check(value):
    if isinstance(value, dict):
        from ..ingest import ADJ_DEFAULTS

        unknown = sorted(set(value) - set(ADJ_DEFAULTS))
        if unknown:
            return f"has unknown genotype filter settings {unknown} (known: {', '.join(ADJ_DEFAULTS)})"
    return None


INGEST_PARAMS = {
    "build": Param("str", None, "genome build (GRCh37, GRCh38, NCBI36); detected from the header when null",
                   nullable=True),
    "partition_by": Param("str", "region", "units of parallel work: region (windows), contig or file",
                          choices=("region", "contig", "file")),
    "partition_records": Param("int", 10_000, "records per region window", minimum=1),
    "block_size": Param("int", None, "variants per genotype block (null: by sample count, 1024-4096)",
                        nullable=True, minimum=1),
    "adj": Param("bool|mapping", True, "genotype filters (gnomAD adj): true, false, or thresholds "
                 "{min_gq, min_dp, min_dp_haploid, min_ab}", check=_adj_check),
    "half_call": Param("str", "haploid", "how to read 0/. calls", choices=("haploid", "missing", "reference", "error")),
    "merge": Param("bool", False, "the inputs hold disjoint samples (per-sample VCFs): merge by variant"),
    "absent": Param("str", "missing", "with merge: a call absent from a file is missing or hom-ref",
                    choices=("missing", "hom-ref")),
    "info": Param("strs", [], "INFO fields kept as variant columns"),
    "annotations": Param("str", "auto", "annotation INFO field (auto: CSQ, ANN or BCSQ; none: skip)", nullable=True),
    "regions": Param("strs", [], "only these regions (needs indexes)"),
    "index": Param("bool", False, "build missing indexes (inside the store's work directory)"),
    "metadata_id": Param("str", None, "id column of the metadata TSV", nullable=True),
    "sex_column": Param("str", None, "sex column of the metadata TSV", nullable=True),
    "strict_metadata": Param("bool", False, "fail when a sample lacks metadata or a metadata row is unused"),
    "workers": Param("int", None, "parallel workers without a cluster (null: SLURM_CPUS_PER_TASK, else the CPU "
                     "count; 1: inline)", nullable=True, minimum=1, fingerprint=False),
    "overwrite": Param("bool", False, "replace a complete store that was ingested from other inputs",
                       fingerprint=False),
}


def _ingest_kwargs(ctx) -> dict:
    p = ctx.params
    return dict(metadata=ctx.inputs.get("metadata"), metadata_id=p["metadata_id"], sex_column=p["sex_column"],
                strict_metadata=p["strict_metadata"], build=p["build"], merge=p["merge"], absent=p["absent"],
                half_call=p["half_call"], adj=p["adj"], block_size=p["block_size"],
                partition_records=p["partition_records"], partition_by=p["partition_by"],
                info_fields=tuple(p["info"]),
                annotations=None if p["annotations"] in (None, "none") else p["annotations"],
                regions=list(p["regions"]) or None, index=p["index"])


def _normalised(obj):
    return json.loads(json.dumps(obj))


def _differs(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


@step("ingest", inputs=("vcf",), optional_inputs=("metadata",), outputs={"store": "{store}"},
      params=INGEST_PARAMS)
def ingest_step(ctx):
    """Ingest the VCF/BCF inputs (and metadata) into the cohort store outputs.store.

    An interrupted ingest in the store resumes from its last complete block. A complete store that matches
    the inputs and parameters is kept; one ingested from other inputs is an error unless ``overwrite: true``.
    """
    from ..ingest import ingest, plan_ingest
    from ..store.writer import WORK

    store = Path(ctx.outputs["store"])
    vcf = ctx.inputs["vcf"]
    kwargs = _ingest_kwargs(ctx)
    overwrite = False
    if (store / "manifest.json").exists():
        manifest = json.loads((store / "manifest.json").read_text())
        try:
            planned = _normalised(plan_ingest(vcf, store, **{**kwargs, "index": False}).params)
            differs = _differs(manifest.get("params", {}), planned)
        except GdbError:
            differs = ["inputs (they cannot be compared without building indexes)"]
        if not differs:
            ctx.log(f"{store} is complete and was ingested from these inputs with these parameters: kept")
            return _store_summary(store)
        if not ctx.params["overwrite"]:
            raise PipelineError(f"a complete store ingested from other inputs or with other parameters is here "
                                f"(differs in: {', '.join(differs)})", file=store,
                                fix="write the new store elsewhere (outputs.store), or set `overwrite: true` on "
                                    "the ingest step to replace this one")
        ctx.log(f"replacing {store} (overwrite: true; differs in: {', '.join(differs)})")
        overwrite = True
    elif (store / WORK / "plan.json").exists():
        plan = plan_ingest(vcf, store, **kwargs)
        previous = json.loads((store / WORK / "plan.json").read_text())
        current = _normalised(plan.plan_dict)
        if previous != current:
            differs = _differs(previous.get("params", {}), current["params"]) or ["partitions"]
            if ctx.interrupted_here or ctx.params["overwrite"]:
                why = "this pipeline started it" if ctx.interrupted_here else "overwrite: true"
                ctx.log(f"the unfinished ingest in {store} has other inputs or parameters (differs in: "
                        f"{', '.join(differs)}); starting it again ({why})")
                overwrite = True
            else:
                raise PipelineError(f"an unfinished ingest with other inputs or parameters is in this directory "
                                    f"(differs in: {', '.join(differs)})", file=store,
                                    fix="restore the original inputs to resume it, or set `overwrite: true` on "
                                        "the ingest step to start again")
        else:
            done = len(list((store / WORK).glob("p*.done.json")))
            ctx.log(f"resuming the unfinished ingest in {store} ({done} of {len(plan.partitions)} partitions "
                    "finished; finished blocks are kept)")
    workers = ctx.params["workers"]
    if workers is None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        workers = int(os.environ["SLURM_CPUS_PER_TASK"])
    ingest(vcf, store, workers=workers, overwrite=overwrite, progress=ctx.progress, **kwargs)
    return _store_summary(store)


def _store_summary(store) -> dict:
    m = json.loads((Path(store) / "manifest.json").read_text())
    return {"n_samples": m["n_samples"], "n_variants": m["n_variants"], "n_blocks": len(m["blocks"]),
            "contigs": [c["name"] for c in m.get("contigs", [])]}


@step("verify", inputs=("store",), optional_inputs=("vcf",), outputs={"{name}": "{dir}/{name}.json"})
def verify_step(ctx):
    """Re-read the store and compare it with its source VCF/BCF files record by record (the report as JSON)."""
    from ..ingest import verify

    store = ctx.inputs["store"]
    report = verify(store, ctx.inputs.get("vcf"), progress=ctx.progress)
    result = {"ok": report.ok, "n_records": report.n_records, "n_variants": report.n_rows,
              "n_calls": report.n_calls, "n_mismatches": report.n_mismatches, "mismatches": report.mismatches}
    if not report.ok:
        raise PipelineError(f"the store does not match its source: {report.n_mismatches} mismatches "
                            f"(first: {report.mismatches[0] if report.mismatches else '?'})", file=store,
                            fix="ingest again into a new store; if the mismatch stays, report it with the run record")
    with ctx.output_path() as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    return {k: v for k, v in result.items() if k != "mismatches"}


# -- statistics: the same tables as `gdbtools freq` / `gdbtools qc` ---------------------------------------------
# The steps run those commands in this process (so on the pipeline's Dask client, with errors as exceptions):
# a pipeline's freq.parquet and qc/ are exactly what the commands write. `args` passes further options.
STATS_REQUIRES = ("gdbtools.cohort", "gdbtools.cli.stats_cmds")


def _invoke(command: str, args: list[str]) -> None:
    """Run ``gdbtools COMMAND ARGS...`` in this process; its errors propagate as exceptions."""
    import click

    from ..cli import main

    cmd = main.commands.get(command)
    if cmd is None:
        raise PipelineError(f"this gdbtools has no `{command}` command", fix="update gdbtools, or leave the step out")
    try:
        with cmd.make_context(command, list(args)) as ctx:
            cmd.invoke(ctx)
    except click.UsageError as exc:
        raise PipelineError(f"`gdbtools {command} {' '.join(args)}`: {exc.format_message()}",
                            fix="check the step's args: (see `gdbtools " + command + " --help`)") from None
    except SystemExit as exc:  # a command that ends itself with sys.exit(N)
        if exc.code not in (None, 0):
            raise PipelineError(f"`gdbtools {command} {' '.join(args)}` exited with status {exc.code}",
                                fix="see its message above") from None


@step("freq", inputs=("store",), outputs={"{name}": "{dir}/{name}.parquet"}, requires=STATS_REQUIRES,
      params={"by": Param("strs", [], "sample columns to stratify by, e.g. [population, sex]"),
              "adj": Param("bool", True, "counts after the genotype filters (adj); false: raw calls"),
              "args": Param("strs", [], "more options of `gdbtools freq`, e.g. [--grpmax-by, population]")})
def freq_step(ctx):
    """Allele frequencies (gnomAD's columns: AC, AN, AF, nhomalt, ...) by sample groups: `gdbtools freq`."""
    by = list(ctx.params["by"])
    out = Path(ctx.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [ctx.inputs["store"], "--out", str(out)]  # the command writes its table atomically itself
    for column in by:
        args += ["--by", column]
    if not ctx.params["adj"]:
        args.append("--raw")
    _invoke("freq", args + list(ctx.params["args"]))
    return {"by": by}


@step("qc", inputs=("store",), outputs={"{name}": "{dir}/{name}"}, requires=STATS_REQUIRES,
      params={"adj": Param("bool", False, "QC of the adj view instead of the raw calls"),
              "args": Param("strs", [], "more options of `gdbtools qc`, e.g. [--batch-by, pipeline]")})
def qc_step(ctx):
    """Variant and sample QC, sex check, outliers and batch check into a directory: `gdbtools qc`."""
    with ctx.output_path(directory=True) as tmp:
        args = [ctx.inputs["store"], "--out", str(tmp)] + (["--adj"] if ctx.params["adj"] else [])
        _invoke("qc", args + list(ctx.params["args"]))
        summary = tmp / "summary.json"
        result = json.loads(summary.read_text()) if summary.is_file() else {}
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool)) and k != "seconds"}
