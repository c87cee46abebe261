"""``gdbtools cluster``: show the SLURM job script, start a Dask cluster, print the cluster settings."""

from __future__ import annotations

import signal
import sys
import time

import click

from . import main


def _value(text: str):
    """A ``-o KEY=VALUE`` value, read as YAML (numbers, true/false, null, lists) or kept as text."""
    import yaml  # here, not at the top: every gdbtools command imports this module

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _overrides(kind, gpus, jobs, cores, memory, walltime, queue, account, interface, insecure, options) -> dict:
    given = {"gpus": gpus, "jobs": jobs, "cores": cores, "memory": memory, "walltime": walltime,
             "queue": queue, "account": account, "interface": interface, "security": False if insecure else None}
    out = {key: value for key, value in given.items() if value is not None}
    slurm_only = sorted(set(out) - {"interface", "security"}) if kind != "slurm" else []
    if slurm_only:
        raise click.UsageError(f"--{', --'.join(slurm_only)} only apply to --kind slurm")
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="-o/--option")
        out[key.strip()] = _value(value)
    return out


def _cluster_options(kind_default: str | None, kind_help: str):
    def decorate(func):
        return _add_options(func, kind_default, kind_help)
    return decorate


def _add_options(func, kind_default, kind_help):
    options = [
        click.option("--kind", default=kind_default, show_default=kind_default is not None, help=kind_help),
        click.option("--gpus", type=click.IntRange(min=0), help="GPUs per SLURM job (one worker per GPU)."),
        click.option("--jobs", type=click.IntRange(min=0), help="SLURM jobs to start."),
        click.option("--cores", type=click.IntRange(min=1), help="CPU cores per SLURM job."),
        click.option("--memory", help="Host memory per SLURM job, e.g. 64GiB."),
        click.option("--walltime", help="Time limit per SLURM job, e.g. 04:00:00."),
        click.option("--queue", "-p", help="SLURM partition."),
        click.option("--account", "-A", help="SLURM account."),
        click.option("--interface", help="Network interface of scheduler and workers, e.g. ib0 (slurm default: "
                                         "the address that routes to slurmctld)."),
        click.option("--insecure", is_flag=True,
                     help="No TLS: anyone who can reach the scheduler's port can run code as you and read what "
                          "you can read. Default: TLS with temporary credentials (setting `security`)."),
        click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
                     help="Any other setting of `gdbtools cluster config`, e.g. -o log_directory=logs "
                          "(repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.group("cluster")
def cluster_group():
    """Dask clusters: on this machine (local, local-cuda) or as SLURM jobs (slurm).

    \b
    Examples:
      gdbtools cluster script --gpus 4 --walltime 02:00:00
      gdbtools cluster start --kind slurm --gpus 4 --jobs 2 --scheduler-file ~/gdb-scheduler.json
      gdbtools cluster config
    """


@cluster_group.command("script")
@_cluster_options("slurm", "Cluster kind; only slurm submits job scripts.")
def script_cmd(kind, gpus, jobs, cores, memory, walltime, queue, account, interface, insecure, options):
    """Print the batch script that each SLURM job of the cluster submits.

    The scheduler address reads tls://<scheduler-address>:<port> until a cluster starts, and the worker's
    temporary TLS credentials <ca-file>, <worker-cert>, <worker-key> in the security directory (written,
    mode 0600, when the cluster starts; removed when it stops). With --insecure: tcp:// and no credentials.

    \b
    Example:
      gdbtools cluster script --gpus 4 --cores 16 --memory 128GiB -p gpu -o job_extra_directives='[--exclusive]'
    """
    from ..cluster import job_script

    if kind != "slurm":
        raise click.UsageError("only --kind slurm submits a job script")
    overrides = _overrides(kind, gpus, None, cores, memory, walltime, queue, account, interface, insecure,
                           options)
    try:
        click.echo(job_script("slurm", **overrides), nl=False)
    except TypeError as exc:
        raise click.UsageError(str(exc)) from None
    if jobs is not None:
        click.echo(f"# {jobs} job(s) of this script would be submitted", err=True)


@cluster_group.command("start")
@_cluster_options(None, "local, local-cuda or slurm  [default: the gdbtools.cluster.kind setting, local]")
@click.option("--scheduler-file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the scheduler's address to this JSON file; clients connect with "
                   "gdbtools.cluster.connect(FILE).")
@click.option("--wait-for-workers", type=click.IntRange(min=0), help="Wait until this many workers joined.")
def start_cmd(kind, gpus, jobs, cores, memory, walltime, queue, account, interface, insecure, options,
              scheduler_file, wait_for_workers):
    """Start a Dask cluster, print its scheduler address and dashboard link, and keep it until Ctrl-C.

    The cluster uses TLS with temporary credentials (unless --insecure): connect to it from a notebook or
    another process of yours with gdbtools.cluster.connect(FILE), where FILE is the --scheduler-file, which
    then holds the credentials and is readable by you only (mode 0600). The dashboard listens on 127.0.0.1:
    reach it with `ssh -L PORT:127.0.0.1:PORT HOST` or JupyterLab's proxy (docs/SUPERCOMPUTER.md).
    Ctrl-C, SIGTERM or the end of the enclosing job stops the workers and cancels their SLURM jobs.

    \b
    Examples:
      gdbtools cluster start --kind local
      gdbtools cluster start --kind slurm --gpus 4 --jobs 2 -p gpu --interface ib0 --scheduler-file sched.json
    """
    import dask.config

    from ..cluster import close, connect, write_scheduler_file

    kind = kind or str(dask.config.get("gdbtools.cluster.kind", "local"))
    overrides = _overrides(kind, gpus, jobs, cores, memory, walltime, queue,
                           account, interface, insecure, options)
    if wait_for_workers is not None:
        overrides["wait_for_workers"] = wait_for_workers

    def stop(signum, frame):  # SIGTERM (scancel, kill) stops like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    client = None
    try:
        try:
            client = connect(kind, **overrides)
        except TypeError as exc:
            raise click.UsageError(str(exc)) from None
        address = client.scheduler.address
        if scheduler_file:
            write_scheduler_file(client, scheduler_file)
            click.echo(f"gdbtools: scheduler file: {scheduler_file}"
                       + (" (holds the cluster's credentials: keep it private)" if address.startswith("tls://")
                          else ""))
            how = f"gdbtools.cluster.connect({scheduler_file!r})"
        elif address.startswith("tls://"):
            how = ("nothing else: only this process holds the credentials (start with --scheduler-file FILE "
                   "to connect from your other processes)")
        else:
            how = f"gdbtools.cluster.connect({address!r})"
        click.echo(f"gdbtools: connect with {how}; Ctrl-C stops the cluster")
        sys.stdout.flush()
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("gdbtools: stopping the cluster", err=True)
    finally:
        if client is not None:
            # a second Ctrl-C or SIGTERM (SLURM sends several) must not cut the shutdown short
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                close(client)
            finally:
                signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous)


@cluster_group.command("config")
def config_cmd():
    """Print the cluster settings in effect (package defaults merged with your Dask config files).

    Change them in ~/.config/dask/gdbtools.yaml (same nesting, only the keys you change), per command
    with -o KEY=VALUE, or per call with gdbtools.cluster.connect(kind, key=value). `security: true` (TLS
    with temporary credentials) is the default; `security: false` is what --insecure sets.

    \b
    Example:
      gdbtools cluster config > ~/.config/dask/gdbtools.yaml   # then edit, keep what you change
    """
    import dask.config
    import yaml

    from ..cluster import config  # noqa: F401 - registers the package defaults

    click.echo(yaml.safe_dump({"gdbtools": {"cluster": dask.config.get("gdbtools.cluster")}},
                              sort_keys=False, default_flow_style=False), nl=False)
