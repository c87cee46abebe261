"""``gdbtools freq`` and ``gdbtools qc``: frequency and QC tables of a cohort store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pandas as pd

from . import main

_BACKENDS = click.Choice(["auto", "numpy", "host", "cupy"])


def _cohort(store, samples, regions, backend):
    from .. import open as open_cohort

    cohort = open_cohort(store, backend=backend)
    if samples or regions:
        cohort = cohort.select(samples=samples or None, region=list(regions) or None)
    return cohort


def write_table(df: pd.DataFrame, out: str | Path) -> Path:
    """Write a result table as Parquet (``.parquet``/``.pq``) or TSV (``.tsv``, ``.tsv.gz``, ``.txt``).

    Parquet keeps ``df.attrs`` (e.g. ``freq_meta``); for TSV the attrs go to ``<out>.meta.json``.
    Returns the path written.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = out.name.lower()
    tmp = out.with_name(f".{out.name}.tmp")
    if name.endswith((".parquet", ".pq")):
        df.to_parquet(tmp, index=True)
    elif name.endswith((".tsv", ".tsv.gz", ".txt", ".tsv.bgz")):
        df.to_csv(tmp, sep="\t", index=True, na_rep="NA", compression="gzip" if name.endswith("gz") else None)
        if df.attrs:
            Path(f"{out}.meta.json").write_text(json.dumps(df.attrs, indent=1, default=str) + "\n")
    else:
        raise click.BadParameter(f"{out}: use a .parquet or .tsv (.tsv.gz) file name", param_hint="--out")
    tmp.replace(out)
    return out


def _common(func):
    opts = [
        click.option("--samples", "-s", help="Pandas query selecting samples, e.g. \"population == 'nfe'\"."),
        click.option("--region", "-r", "regions", multiple=True, help="Only variants in this region (repeatable)."),
        click.option("--backend", type=_BACKENDS, default="auto", show_default=True,
                     help="Compute backend: auto = GPU if present, else host kernels, else NumPy."),
        click.option("--unknown-sex", type=click.Choice(["exclude", "diploid"]), default="exclude", show_default=True,
                     help="Samples of unknown sex on chrX/chrY outside the PARs: excluded, or counted as XX."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@main.command("freq")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--by", "-b", multiple=True, help="Sample column to stratify by (repeatable; two or more also give "
              "their combination).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output .parquet or .tsv(.gz).")
@click.option("--adj/--raw", default=True, show_default=True,
              help="Counts after the genotype filters (adj, with AC_raw... overall) or of the raw calls.")
@click.option("--grpmax-by", help="Population column for faf per group and grpmax (default: a --by column "
              "named population/pop/gen_anc...).")
@_common
def freq_cmd(store, by, out, adj, grpmax_by, samples, regions, backend, unknown_sex):
    """Allele frequencies (AC, AN, AF, nhomalt, AC_Het/Hom/Hemi, NS, faf95/99, grpmax) per sample group.

    \b
    Examples:
      gdbtools freq store/ --by population --by sex --out freq.parquet
      gdbtools freq store/ --samples "pipeline == 'gatk-4.2'" --region chr1:1-2000000 --raw --out f.tsv
    \b
    Column names: gnomAD / bcftools +fill-tags (AC, AC_nfe, AC_nfe_XX, ...); the groups and their sample
    counts are in the Parquet metadata (pandas attrs "freq_meta") or <out>.meta.json for TSV.
    """
    cohort = _cohort(store, samples, regions, backend)
    t0 = time.perf_counter()
    table = cohort.freq(by=list(by), adj=adj, unknown_sex=unknown_sex, grpmax_by=grpmax_by)
    path = write_table(table, out)
    groups = len(table.attrs.get("freq_meta", []))
    click.echo(f"{len(table)} variants x {groups} groups ({cohort.n_samples} samples) -> {path} "
               f"in {time.perf_counter() - t0:.1f} s")


@main.command("qc")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--adj/--raw", default=False, show_default=True, help="QC of the adj view or of the raw calls.")
@click.option("--outliers-by", default="auto", show_default=True,
              help="Sample column grouping the MAD outlier test (auto: population if present; 'none': one group).")
@click.option("--n-mads", type=float, default=4.0, show_default=True, help="Outlier threshold in MADs.")
@click.option("--batch-by", default="auto", show_default=True,
              help="Sample column of sequencing batches for the batch check (auto: pipeline if present; 'none').")
@click.option("--fdr", type=float, default=0.05, show_default=True, help="False discovery rate of the batch check.")
@click.option("--no-sex-check", is_flag=True, help="Skip the sex check.")
@click.option("--sex-check-y", type=click.Choice(["none", "ycount", "y-only"]), default="none", show_default=True,
              help="Also use chrY call counts in the sex check (plink 1.9 --check-sex ycount / y-only); needs "
              "chrY variants outside the PARs.")
@click.option("--female-max-y-calls", type=click.IntRange(min=0), default=0, show_default=True,
              help="ycount / y-only: an XX call allows at most this many chrY calls.")
@click.option("--male-min-y-calls", type=click.IntRange(min=0), default=None,
              help="ycount / y-only: an XY call needs at least this many chrY calls (default: 0 for ycount, 1 for "
              "y-only, as plink).")
@_common
def qc_cmd(store, out, adj, outliers_by, n_mads, batch_by, fdr, no_sex_check, sex_check_y, female_max_y_calls,
           male_min_y_calls, samples, regions, backend, unknown_sex):
    """Variant QC, sample QC, sex check, sample outliers and batch check, in one pass (plus a small chrX pass).

    \b
    Examples:
      gdbtools qc store/ --out qc/
      gdbtools qc store/ --out qc/ --sex-check-y ycount
    \b
    Writes into --out:
      variant_qc.parquet     Hail variant_qc fields, HWE/ExcHet, InbreedingCoeff, chrX HWE with males
      sample_qc.parquet      Hail sample_qc fields, inbreeding F (plink2 --het)
      sex_check.tsv          chrX F (and chrY calls) against the reported sex (plink --check-sex)
      sample_outliers.tsv    samples beyond --n-mads MADs of their group (gnomAD)
      batch_check.parquet    variants whose AF differs between batches (Fisher, BH FDR)
      summary.json           counts of flagged samples and variants
    """
    from ..errors import GdbError
    from ..stats.qc import sample_outliers

    cohort = _cohort(store, samples, regions, backend)
    y_method = None if sex_check_y == "none" else sex_check_y
    if y_method is not None and not no_sex_check:  # refuse before the pass, not after it
        from ..stats import ploidy as pl

        if not (cohort.selection.zones() == pl.Y_NONPAR).any():
            raise GdbError(f"--sex-check-y {y_method} counts chrY calls outside the PARs, and the selection has "
                           "no such variant", file=store,
                           fix="leave out --sex-check-y (chrX F only), or select chrY too")
    columns = set(cohort.store.samples.columns)
    if batch_by == "auto":
        batch_by = "pipeline" if "pipeline" in columns else None
    elif batch_by == "none":
        batch_by = None
    if outliers_by == "auto":
        outliers_by = next((c for c in ("population", "pop", "gen_anc", "Population") if c in columns), None)
    elif outliers_by == "none":
        outliers_by = None
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = cohort.compute(variant_qc=True, sample_qc=True, qc_adj=adj, batch_by=batch_by, batch_adj=adj, fdr=fdr,
                         unknown_sex=unknown_sex)
    write_table(res.variant_qc, outdir / "variant_qc.parquet")
    write_table(res.sample_qc, outdir / "sample_qc.parquet")
    groups = None if outliers_by is None else cohort.store.samples[outliers_by].reindex(res.sample_qc.index)
    outliers = sample_outliers(res.sample_qc, groups, n_mads=n_mads)
    write_table(outliers, outdir / "sample_outliers.tsv")
    summary = {"n_samples": int(len(res.sample_qc)), "n_variants": int(len(res.variant_qc)),
               "n_outlier_samples": int(outliers["outlier"].sum()), "outliers_by": outliers_by,
               "backend": res.info["backend"], "adj": bool(adj)}
    if res.batch_check is not None:
        write_table(res.batch_check, outdir / "batch_check.parquet")
        summary.update({"batch_by": batch_by, "n_batch_flagged_variants": int(res.batch_check["flagged"].sum())})
    if not no_sex_check:
        try:
            sex = cohort.sex_check(y_method=y_method, female_max_y_calls=female_max_y_calls,
                                   male_min_y_calls=male_min_y_calls)
        except GdbError as exc:
            click.echo(f"sex check skipped: {exc.message}", err=True)
        else:
            write_table(sex, outdir / "sex_check.tsv")
            summary["n_sex_problems"] = int((sex["status"] == "PROBLEM").sum())
            summary["sex_check_y"] = sex_check_y
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
