"""``gdbtools run``: a declared pipeline (inputs, steps, outputs in one YAML file) with a run record."""

from __future__ import annotations

import sys

import click

from . import main


@main.command("run")
@click.argument("pipeline", required=False, type=click.Path(dir_okay=False))
@click.option("--dry-run", "-n", is_flag=True, help="Validate, then say which steps would run and why; write nothing.")
@click.option("--force", "-f", multiple=True, metavar="STEP",
              help="Run this step even if it is up to date (repeatable; 'all' for every step).")
@click.option("--check", is_flag=True, help="Only validate the file (no checksums, nothing run).")
@click.option("--list-steps", is_flag=True, help="List the step kinds and their parameters, then exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
def run_cmd(pipeline, dry_run, force, check, list_steps, quiet):
    """Run the pipeline declared in PIPELINE (YAML): inputs, steps, outputs.

    \b
    Examples:
      gdbtools run pipeline.yaml                  # runs what is not up to date, writes a run record
      gdbtools run pipeline.yaml --dry-run        # what would run, and why
      gdbtools run pipeline.yaml --force freq     # rerun one step
      sbatch slurm/qc_job.sbatch pipeline.yaml    # the same as a SLURM job
    \b
    A step is skipped when its inputs (checksums), parameters and outputs are those of its last
    successful run; a rerun after a failure or a kill continues where it stopped (an ingest resumes
    from its last complete block). Every run writes <workdir>/runs/<time>-<id>.json (default workdir:
    outputs.dir): inputs and checksums, parameters, software versions, host, SLURM job, per-step
    timings and outcome. A step's keys are the options of the command of its kind (docs/OPTIONS.md;
    `--list-steps`); examples/pipeline.yaml shows every key.
    \b
    Exit status: 0 done; 1 a step crashed; 2 the pipeline is invalid or a step rejected its input
    (the message names the step); 75 another run of this pipeline holds its lock; 143 terminated
    (SIGTERM: scancel, time limit) -- run again to resume.
    """
    from ..pipeline import STEPS, PipelineError, known_kinds, load, run

    if list_steps:
        for kind in known_kinds():
            click.echo(STEPS[kind].help(kind))
        return
    if pipeline is None:
        raise click.UsageError("give a PIPELINE file (or --list-steps)")
    try:
        if check:
            p = load(pipeline)
            click.echo(f"{pipeline}: valid; steps: " + ", ".join(f"{s.name} ({s.kind})" for s in p.steps))
            return
        result = run(pipeline, force=force, dry_run=dry_run, quiet=quiet)
    except PipelineError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        cause = getattr(exc, "cause", None)
        if cause is not None and exc.exit_code == 1:  # a crash, not a user error: the traceback helps
            import traceback

            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        sys.exit(exc.exit_code)
    if not dry_run:
        click.echo(f"{result.outcome}: run record {result.record_path}")
