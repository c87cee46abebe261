"""``gdbtools report``: the QC results of a store as one self-contained HTML page (:mod:`gdbtools.report`)."""

from __future__ import annotations

import click

from ..options import click_options, from_kwargs
from ..optionsets import ReportOptions
from . import main


@main.command("report")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--qc", "qc_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The QC directory that `gdbtools qc STORE --out DIR` wrote.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output .html file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report at --out.")
@click_options(ReportOptions)
def report_cmd(store, qc_dir, out, overwrite, **kwargs):
    """One HTML page of the QC results: plots inline, no network requests (open it anywhere, mail it).

    \b
    Examples:
      gdbtools qc store/ --out qc/ && gdbtools report store/ --qc qc/ --out qc/report.html
      gdbtools report store/ --qc qc/ --out report.html --group-by population --hwe-by population
    \b
    Sections: summary (and the QC outputs not written, with the reason), call rate / heterozygosity / Ti/Tv
    by group (and by batch), sex check, allele-frequency spectrum, HWE QQ per contig class (pooled, said so,
    or per group with --hwe-by), batch effects, outlier samples, provenance (the QC run's, the report's and
    the sha256 of every file read). A QC directory of another store is refused.
    """
    from ..report import write_report

    res = write_report(store, qc_dir, out, from_kwargs(ReportOptions, kwargs), overwrite=overwrite)
    missing = "; ".join(f"{k}: {v}" for k, v in res["missing"].items())
    click.echo(f"{out}: {res['images']} plots, {res['bytes'] / 1e6:.1f} MB" + (f" (not in it: {missing})" if missing
                                                                             else ""))
