"""``gdbtools ingest``, ``gdbtools verify``, ``gdbtools info``: building and checking cohort stores."""

from __future__ import annotations

import json
import sys

import click

from ..options import click_options, from_kwargs
from ..optionsets import IngestOptions
from . import main


@main.command("ingest", context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Store directory to write.")
@click.option("--metadata", "-m", type=click.Path(dir_okay=False), help="Sample metadata TSV (joined by sample id).")
@click_options(IngestOptions)
@click.option("--init", "step_init", is_flag=True, help="Only plan (for job arrays): print the partition count.")
@click.option("--partition", type=int, help="Only run this partition of the plan (for job arrays).")
@click.option("--finalize", "step_finalize", is_flag=True,
              help="Only write the manifest; fails while partitions are missing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest_cmd(inputs, out, metadata, step_init, partition, step_finalize, quiet, **kwargs):
    """Ingest VCF/BCF files into a cohort store.

    \b
    Examples:
      gdbtools ingest chr*.vcf.gz --metadata samples.tsv --out /data/gdb/cohorts/2026-11
      gdbtools ingest delivery/*.vcf.gz --merge --absent missing --index --out store/
    \b
    Job arrays (see slurm/ingest_array.sbatch):
      gdbtools ingest chr*.bcf --out store/ --partition-by contig --init     # prints N
      gdbtools ingest chr*.bcf --out store/ --partition-by contig --partition $SLURM_ARRAY_TASK_ID
      gdbtools ingest chr*.bcf --out store/ --partition-by contig --finalize
    """
    from ..ingest import ingest

    steps = [s for s, on in (("init", step_init), ("partition", partition is not None),
                             ("finalize", step_finalize)) if on]
    if len(steps) > 1:
        raise click.UsageError("--init, --partition and --finalize are exclusive")
    step = steps[0] if steps else "all"
    opts = from_kwargs(IngestOptions, kwargs)
    result = ingest(list(inputs), out, metadata=metadata, workers=opts.workers, overwrite=opts.overwrite,
                    progress=not quiet, step=step, partition=partition, **opts.ingest_kwargs())
    if step == "init":
        click.echo(len(result.partitions))
    elif step == "partition":
        scalars = {k: v for k, v in result.items() if not isinstance(v, list)}
        click.echo(f"partition {partition}: " + json.dumps(scalars))
    else:
        m = result.manifest
        click.echo(f"wrote {result.path}: {m['n_samples']} samples x {m['n_variants']} variants in "
                   f"{len(m['blocks'])} blocks ({m['stats'].get('n_multiallelic', 0)} multi-allelic records split)")


@main.command("verify")
@click.argument("store", type=click.Path(file_okay=False, exists=True))
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def verify_cmd(store, inputs, quiet):
    """Re-read STORE and compare it with its source VCF/BCF files record by record.

    \b
    Example:
      gdbtools verify /data/gdb/cohorts/2026-11 chr22.vcf.gz
    Exits 0 when every variant and call agrees, 1 on any mismatch.
    """
    from ..ingest import verify

    report = verify(store, list(inputs) or None, progress=not quiet)
    click.echo(str(report))
    sys.exit(0 if report.ok else 1)


@main.command("info")
@click.argument("store", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
def info_cmd(store, as_json):
    """Summarise a store: samples, variants, contigs, sources, ingest parameters.

    \b
    Example:
      gdbtools info /data/gdb/cohorts/2026-11
    """
    from ..store import open_store

    st = open_store(store)
    m = st.manifest
    summary = {"path": str(st.path), "n_samples": st.n_samples, "n_variants": st.n_variants,
               "n_blocks": len(m["blocks"]), "build": m.get("build"), "contigs": m.get("contigs"),
               "sources": [s["path"] for s in m.get("sources", [])], "created": m.get("created"),
               "software": m.get("software"), "stats": m.get("stats"), "metadata": {
                   k: v for k, v in (m.get("metadata") or {}).items() if not isinstance(v, list)}}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(repr(st))
    for key in ("build", "created", "sources", "stats", "metadata"):
        click.echo(f"  {key}: {summary[key]}")
    click.echo("  contigs: " + ", ".join(f"{c['name']} ({c['n_variants']})" for c in summary["contigs"] or []))
    click.echo("  sample columns: " + ", ".join(st.samples.columns))
