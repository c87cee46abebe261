"""``gdbtools ingest``, ``gdbtools verify``, ``gdbtools info``: building and checking cohort stores."""

from __future__ import annotations

import json
import sys

import click

from . import main


@main.command("ingest", context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Store directory to write.")
@click.option("--metadata", "-m", type=click.Path(dir_okay=False), help="Sample metadata TSV (joined by sample id).")
@click.option("--metadata-id", help="Id column of the metadata TSV (default: sample_id, sample, s, IID, ... or the first).")
@click.option("--sex-column", help="Sex column of the metadata TSV (default: sex, gender, ...).")
@click.option("--strict-metadata", is_flag=True, help="Fail if any sample lacks metadata or any metadata row is unused.")
@click.option("--build", help="Genome build (GRCh37, GRCh38, NCBI36); detected from the header if omitted.")
@click.option("--merge", is_flag=True, help="Inputs hold disjoint samples (per-sample VCFs): merge by variant.")
@click.option("--absent", type=click.Choice(["missing", "hom-ref"]), default="missing",
              help="With --merge: a call absent from a file is missing or hom-ref.")
@click.option("--half-call", type=click.Choice(["haploid", "missing", "reference", "error"]), default="haploid",
              help="How to read half-missing calls such as 0/. (plink2's --vcf-half-call).")
@click.option("--no-adj", is_flag=True, help="Do not compute the genotype-filter (adj) plane.")
@click.option("--adj-gq", type=int, default=20, help="adj: minimum GQ.")
@click.option("--adj-dp", type=int, default=10, help="adj: minimum DP.")
@click.option("--adj-dp-haploid", type=int, default=5, help="adj: minimum DP of haploid calls.")
@click.option("--adj-ab", type=float, default=0.2, help="adj: minimum allele balance AD[alt]/DP of het calls.")
@click.option("--block-size", type=int, help="Variants per genotype block (default: by sample count, 1024-4096).")
@click.option("--encoding", type=click.Choice(["hybrid2", "dense2"]), default="hybrid2",
              help="Genotype encoding: hybrid2 stores rare variants sparse (default), dense2 as bit-planes only.")
@click.option("--partition-records", type=int, default=10_000, help="Records per parallel partition.")
@click.option("--partition-by", type=click.Choice(["region", "contig", "file"]), default="region",
              help="Partitioning of the work (contig: one partition per contig, for job arrays).")
@click.option("--info", "info_fields", multiple=True, help="INFO field to keep as a variant column (repeatable).")
@click.option("--annotations", default="auto", help="Annotation INFO field parsed into gene/consequence "
              "(auto: CSQ, ANN or BCSQ; 'none' to skip).")
@click.option("--region", "regions", multiple=True, help="Only this region (repeatable; needs an index).")
@click.option("--index", is_flag=True, help="Build missing indexes (inside the store's work directory).")
@click.option("--workers", "-j", type=int, help="Parallel workers (default: CPU count; 1 = no cluster).")
@click.option("--overwrite", is_flag=True, help="Replace an existing store at --out.")
@click.option("--init", "step_init", is_flag=True, help="Only plan (for job arrays): print the partition count.")
@click.option("--partition", type=int, help="Only run this partition of the plan (for job arrays).")
@click.option("--finalize", "step_finalize", is_flag=True, help="Only write the manifest; fails while partitions are missing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def ingest_cmd(inputs, out, metadata, metadata_id, sex_column, strict_metadata, build, merge, absent, half_call,
               no_adj, adj_gq, adj_dp, adj_dp_haploid, adj_ab, block_size, encoding, partition_records, partition_by,
               info_fields, annotations, regions, index, workers, overwrite, step_init, partition, step_finalize,
               quiet):
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
    adj = False if no_adj else {"min_gq": adj_gq, "min_dp": adj_dp, "min_dp_haploid": adj_dp_haploid,
                                "min_ab": adj_ab}
    result = ingest(list(inputs), out, metadata=metadata, metadata_id=metadata_id, sex_column=sex_column,
                    strict_metadata=strict_metadata, build=build, merge=merge, absent=absent, half_call=half_call,
                    adj=adj, block_size=block_size, partition_records=partition_records, partition_by=partition_by,
                    info_fields=info_fields, annotations=None if annotations == "none" else annotations,
                    regions=list(regions) or None, index=index, workers=workers, overwrite=overwrite,
                    progress=not quiet, step=step, partition=partition, encoding=encoding)
    if step == "init":
        click.echo(len(result.partitions))
    elif step == "partition":
        click.echo(f"partition {partition}: " + json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
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
