"""The step kinds, in one plain table: kind -> (options dataclass, function, what it reads and writes).

A step's parameters are the options of the command of the same name (:mod:`gdbtools.optionsets`), so a
pipeline step and ``gdbtools ingest|verify|freq|qc|report|export|burden`` take the same settings; the results
are written by
:mod:`gdbtools.outputs`, as the commands write them. Each function gets a
:class:`~gdbtools.pipeline.runner.StepContext` (``ctx.options``, ``ctx.inputs``, ``ctx.outputs``) and returns
a few numbers for the run record. Whether a step runs at all is the runner's decision.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GdbError
from ..options import specs, yaml_value
from ..optionsets import (
    BurdenOptions,
    ExportOptions,
    FreqOptions,
    IngestOptions,
    QcOptions,
    ReportOptions,
    VerifyOptions,
)
from .errors import PipelineError

__all__ = ["StepKind", "STEPS", "PIPELINE_ARTIFACTS", "known_kinds"]

#: built-in artifacts a step may read (besides the outputs of earlier steps)
PIPELINE_ARTIFACTS = {"vcf": "inputs.vcf", "metadata": "inputs.metadata", "store": "the cohort store"}


@dataclass(frozen=True)
class StepKind:
    """A step kind: its options dataclass and function, the artifacts it reads, the paths it writes.

    ``outputs`` map artifact names to default paths: ``{name}`` is the step's name, ``{dir}`` the pipeline's
    ``outputs.dir``, ``{store}`` its ``outputs.store``. ``file_options`` name the options that are input files
    (relative to the pipeline file; their checksums join the step's fingerprint). Bump ``version`` when the
    results change for the same inputs and options (finished steps of the older version then rerun).
    """

    options: type
    func: Callable[[Any], dict | None]
    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    version: int = 1
    file_options: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return (self.func.__doc__ or "").strip().splitlines()[0]

    def help(self, kind: str) -> str:
        """A few lines for ``gdbtools run --list-steps``."""
        reads = list(self.inputs) + [f"{i} (optional)" for i in self.optional_inputs]
        lines = [f"{kind}: {self.summary}",
                 f"    reads: {', '.join(reads) or '-'}; writes: {', '.join(self.outputs.values()) or '-'}"]
        for s in specs(self.options):
            lines.append(f"    {s.name} ({s.type_text()}, default {yaml_value(s.default)}): {s.help}")
        return "\n".join(lines)


def _differs(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def ingest_step(ctx) -> dict:
    """Ingest the VCF/BCF inputs (and metadata) into the cohort store outputs.store.

    An interrupted ingest in the store resumes from its last complete block. A complete store that matches
    the inputs and parameters is kept; one ingested from other inputs is an error unless ``overwrite: true``.
    """
    from ..ingest import ingest, plan_ingest
    from ..store.writer import WORK

    opts: IngestOptions = ctx.options
    store = Path(ctx.outputs["store"])
    vcf = ctx.inputs["vcf"]
    kwargs = {"metadata": ctx.inputs.get("metadata"), **opts.ingest_kwargs()}
    overwrite = False
    if (store / "manifest.json").exists():
        manifest = json.loads((store / "manifest.json").read_text())
        try:
            planned = json.loads(json.dumps(plan_ingest(vcf, store, **{**kwargs, "index": False}).params))
            differs = _differs(manifest.get("params", {}), planned)
        except GdbError:
            differs = ["inputs (they cannot be compared without building indexes)"]
        if not differs:
            ctx.log(f"{store} is complete and was ingested from these inputs with these parameters: kept")
            return _store_summary(store)
        if not opts.overwrite:
            raise PipelineError(f"a complete store ingested from other inputs or with other parameters is here "
                                f"(differs in: {', '.join(differs)})", file=store,
                                fix="write the new store elsewhere (outputs.store), or set `overwrite: true` on "
                                    "the ingest step to replace this one")
        ctx.log(f"replacing {store} (overwrite: true; differs in: {', '.join(differs)})")
        overwrite = True
    elif (store / WORK / "plan.json").exists():
        plan = plan_ingest(vcf, store, **kwargs)
        previous = json.loads((store / WORK / "plan.json").read_text())
        current = json.loads(json.dumps(plan.plan_dict))
        if previous != current:
            differs = _differs(previous.get("params", {}), current["params"]) or ["partitions"]
            if ctx.interrupted_here or opts.overwrite:
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
    workers = opts.workers
    if workers is None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        workers = int(os.environ["SLURM_CPUS_PER_TASK"])
    ingest(vcf, store, workers=workers, overwrite=overwrite, progress=ctx.progress, **kwargs)
    return _store_summary(store)


def _store_summary(store) -> dict:
    m = json.loads((Path(store) / "manifest.json").read_text())
    return {"n_samples": m["n_samples"], "n_variants": m["n_variants"], "n_blocks": len(m["blocks"]),
            "contigs": [c["name"] for c in m.get("contigs", [])]}


def verify_step(ctx) -> dict:
    """Re-read the store and compare it with its source VCF/BCF files record by record (the report as JSON)."""
    from ..ingest import verify
    from ..outputs import provenance, replacing, write_json
    from ..store import open_store

    store = ctx.inputs["store"]
    report = verify(store, ctx.inputs.get("vcf"), progress=ctx.progress)
    if not report.ok:
        raise PipelineError(f"the store does not match its source: {report.n_mismatches} mismatches "
                            f"(first: {report.mismatches[0] if report.mismatches else '?'})", file=store,
                            fix="ingest again into a new store; if the mismatch stays, report it with the run record")
    result = {"ok": report.ok, "n_records": report.n_records, "n_variants": report.n_rows,
              "n_calls": report.n_calls, "n_mismatches": report.n_mismatches, "mismatches": report.mismatches,
              "provenance": provenance(open_store(store), "verify", {"inputs": ctx.inputs.get("vcf")})}
    out = Path(ctx.output)
    with replacing(out, overwrite=True) as tmp:
        write_json(tmp / out.name, result)
    return {k: v for k, v in result.items() if k not in ("mismatches", "provenance")}


def freq_step(ctx) -> dict:
    """Allele frequencies (gnomAD's columns: AC, AN, AF, nhomalt, ...) by sample groups, as `gdbtools freq`."""
    from ..outputs import open_selection, write_freq

    res = write_freq(open_selection(ctx.inputs["store"], ctx.options), ctx.options, ctx.output, overwrite=True)
    return {k: v for k, v in res.items() if k not in ("path", "seconds")}


def qc_step(ctx) -> dict:
    """Variant and sample QC, sex check, outliers and batch check into a directory, as `gdbtools qc`."""
    from ..outputs import open_selection, write_qc

    summary = write_qc(open_selection(ctx.inputs["store"], ctx.options), ctx.options, ctx.output, overwrite=True,
                       echo=ctx.log)
    return {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool)) and k != "seconds"}


def report_step(ctx) -> dict:
    """One self-contained HTML page of the results of the step named qc, as `gdbtools report`."""
    from ..report import write_report

    res = write_report(ctx.inputs["store"], ctx.inputs["qc"], ctx.output, ctx.options, overwrite=True)
    for table, why in res["missing"].items():
        ctx.log(f"report: no {table} ({why})")
    return {"images": res["images"], "bytes": res["bytes"]}


def export_step(ctx) -> dict:
    """A frequency release through the privacy guard (VCF, Parquet or TSV by the output's name), as `gdbtools export`.
    """
    from ..outputs import open_selection
    from ..release import export

    res = export(open_selection(ctx.inputs["store"], ctx.options), ctx.options, ctx.output, overwrite=True,
                 progress=ctx.progress)
    return {k: v for k, v in res.items() if k not in ("path", "seconds")}


def burden_step(ctx) -> dict:
    """Gene-based tests of one trait (burden, SKAT, SKAT-O, ACAT), as `gdbtools burden`."""
    from ..outputs import open_selection, write_burden

    res = write_burden(open_selection(ctx.inputs["store"], ctx.options), ctx.options, ctx.output, overwrite=True,
                       progress=ctx.progress)
    return {k: v for k, v in res.items() if k not in ("path", "seconds")}


#: every step kind, by name
STEPS: dict[str, StepKind] = {
    "ingest": StepKind(IngestOptions, ingest_step, inputs=("vcf",), optional_inputs=("metadata",),
                       outputs={"store": "{store}"}),
    "verify": StepKind(VerifyOptions, verify_step, inputs=("store",), optional_inputs=("vcf",),
                       outputs={"{name}": "{dir}/{name}.json"}),
    "freq": StepKind(FreqOptions, freq_step, inputs=("store",), outputs={"{name}": "{dir}/{name}.parquet"},
                     version=2),
    "qc": StepKind(QcOptions, qc_step, inputs=("store",), outputs={"{name}": "{dir}/{name}"}, version=2),
    "report": StepKind(ReportOptions, report_step, inputs=("store", "qc"), outputs={"{name}": "{dir}/{name}.html"}),
    "export": StepKind(ExportOptions, export_step, inputs=("store",), outputs={"{name}": "{dir}/{name}.vcf.gz"}),
    "burden": StepKind(BurdenOptions, burden_step, inputs=("store",), outputs={"{name}": "{dir}/{name}.parquet"},
                       file_options=("phenotypes", "genes", "masks", "annotations")),
}


def known_kinds() -> list[str]:
    return sorted(STEPS)
