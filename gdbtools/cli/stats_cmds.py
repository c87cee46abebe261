"""``gdbtools freq``, ``gdbtools qc`` and ``gdbtools export``: frequency and QC tables, and releases, of a cohort store.

The options come from :mod:`gdbtools.optionsets`, the files are written by :mod:`gdbtools.outputs` (the
pipeline's steps call the same functions). Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import time

import click

from ..options import click_options, from_kwargs
from ..optionsets import ExportOptions, FreqOptions, QcOptions
from . import main

_OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace an existing result at --out (whole: nothing "
                          "of the earlier one remains).")


@main.command("freq")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output .parquet or .tsv(.gz).")
@_OVERWRITE
@click_options(FreqOptions)
def freq_cmd(store, out, overwrite, **kwargs):
    """Allele frequencies (AC, AN, AF, nhomalt, AC_Het/Hom/Hemi, NS, faf95/99, grpmax) per sample group.

    \b
    Examples:
      gdbtools freq store/ --by population --by sex --out freq.parquet
      gdbtools freq store/ --samples "pipeline == 'gatk-4.2'" --region chr1:1-2000000 --raw --out f.tsv
    \b
    Column names: gnomAD / bcftools +fill-tags (AC, AC_nfe, AC_nfe_XX, ...); the groups and their sample
    counts are in the Parquet metadata (pandas attrs "freq_meta") or <out>.meta.json for TSV, beside the
    provenance (store and its checksum, selection, options, backend, version, time). An existing --out is
    refused unless --overwrite. Frequencies and QC in one pass: `gdbtools qc --freq`.
    """
    from ..outputs import open_selection, write_freq

    opts = from_kwargs(FreqOptions, kwargs)
    t0 = time.perf_counter()
    res = write_freq(open_selection(store, opts), opts, out, overwrite=overwrite)
    click.echo(f"{res['n_variants']} variants x {res['n_groups']} groups ({res['n_samples']} samples) -> {out} "
               f"in {time.perf_counter() - t0:.1f} s")


@main.command("qc")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output directory.")
@_OVERWRITE
@click_options(QcOptions)
def qc_cmd(store, out, overwrite, **kwargs):
    """Variant QC, sample QC, sex check, sample outliers and batch check, in one pass (plus a small chrX pass).

    \b
    Examples:
      gdbtools qc store/ --out qc/
      gdbtools qc store/ --out qc/ --sex-check-y ycount
      gdbtools qc store/ --out qc/ --freq --by population   # frequencies too, same pass
    \b
    Writes into --out (refused when it exists, unless --overwrite; then replaced whole):
      variant_qc.parquet     Hail variant_qc fields, HWE/ExcHet, InbreedingCoeff, chrX HWE with males
      sample_qc.parquet      Hail sample_qc fields, inbreeding F (plink2 --het)
      sex_check.tsv          chrX F (and chrY calls) against the reported sex (plink --check-sex);
                             not written without chrX variants (summary.json "skipped" says why)
      sample_outliers.tsv    samples beyond --n-mads MADs of their group (gnomAD)
      batch_check.parquet    variants whose AF differs between batches (Fisher, BH FDR); not written
                             without a batch column (summary.json "skipped" says why)
      freq.parquet           with --freq: the `gdbtools freq` table (adj counts) from the same pass
      summary.json           counts of flagged samples and variants, skipped outputs, provenance
    Every table records its provenance (store and checksum, selection, options, backend, version, time).
    """
    from ..outputs import open_selection, write_qc

    opts = from_kwargs(QcOptions, kwargs)
    summary = write_qc(open_selection(store, opts), opts, out, overwrite=overwrite,
                       echo=lambda line: click.secho(line, fg="yellow", err=True))
    click.echo(" ".join(f"{k}={v}" for k, v in summary.items()
                        if k not in ("provenance", "written", "skipped")))


@main.command("export")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Release file: .vcf.gz (with .tbi), .parquet or .tsv(.gz); a .meta.json sidecar beside it.")
@_OVERWRITE
@click_options(ExportOptions)
def export_cmd(store, out, overwrite, **kwargs):
    """A frequency release (counts by group, QC FILTERs) through the privacy guard, with its provenance.

    \b
    Examples:
      gdbtools export store/ --tier public --by population --by sex --release-version 2026-12 --out r.vcf.gz
      gdbtools export store/ --tier public --by population --release-version 2027-03 \\
          --previous-release r.vcf.gz --out r2.vcf.gz
      gdbtools export store/ --tier controlled --by population --format parquet --out c.parquet
    \b
    Tiers (docs/RELEASE.md): public bands counts of 1-4 ("1-4"; AF an upper bound), publishes a stratum
    only where it and its complement have no count of 1-4, leaves out groups below --min-group-size and
    refuses --deny columns and a release that differs from --previous-release by 1-4 at any count;
    registered has exact counts with the strata rules; controlled has no rule but this: no sample-level
    data in any tier. The rules and thresholds applied are in each release's metadata.
    """
    from ..outputs import open_selection
    from ..release import export

    opts = from_kwargs(ExportOptions, kwargs)
    res = export(open_selection(store, opts), opts, out, overwrite=overwrite)
    click.echo(f"{res['tier']} release {res['version'] or '(unversioned)'}: {res['n_variants']} variants x "
               f"{res['n_groups']} groups -> {out}; AC banded at {res['AC_band']} variants, strata withheld at "
               f"{res['rows_with_strata_withheld']}")
