"""``gdbtools demo``: the end-to-end demonstration on a simulated cohort."""

from __future__ import annotations

import click

from . import main


@main.command("demo")
@click.option("--out", "-o", default="demo-output", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the simulated input, the store and the results.")
@click.option("--samples", "n_samples", default=2000, show_default=True, help="Diploid samples to simulate.")
@click.option("--length", default=3_000_000, show_default=True, help="Simulated bp of chr1.")
@click.option("--x-length", default=800_000, show_default=True, help="Simulated bp of chrX (straddling PAR1).")
@click.option("--seed", default=2026, show_default=True)
@click.option("--workers", "-j", type=int, help="Parallel workers for the ingest (default: CPU count).")
def demo_cmd(out, n_samples, length, x_length, seed, workers):
    """Simulate a cohort with msprime, ingest, verify, compute frequencies and QC, write everything to --out.

    \b
    Example:
      gdbtools demo --out demo-output
    """
    from ..demo import run_demo

    run_demo(out, n_samples=n_samples, length=length, x_length=x_length, seed=seed, workers=workers)
