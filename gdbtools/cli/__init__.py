"""The ``gdbtools`` command line: one sub-module per verb group, all registered on :data:`main`.

Every command takes ``--help`` (with an example) and writes its table with ``--out`` (through
:mod:`gdbtools.outputs`: an existing result is refused unless ``--overwrite``). The options of the commands
that are also pipeline steps come from :mod:`gdbtools.optionsets`. Modules import their heavy libraries
inside the commands, so ``gdbtools --help`` starts without pandas, NumPy, numba or Dask. User errors
(:class:`~gdbtools.errors.GdbError`) are printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import sys
import warnings

import click

from ..errors import GdbError, SelectionWarning
from . import allocator

_python_show_warning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """gdbtools' own warnings as one line (``warning: ...``), others as Python prints them."""
    if issubclass(category, SelectionWarning):
        click.secho(f"warning: {message}", fg="yellow", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


class _Group(click.Group):
    def invoke(self, ctx):
        allocator.configure()  # a command's process keeps the memory it frees for its next blocks (.allocator)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except GdbError as exc:
                click.secho(f"error: {exc}", fg="red", err=True)
                sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="gdbtools")
def main():
    """gdbtools: cohort store, allele frequencies, QC and gene tests for large sequencing cohorts.

    \b
    Typical session:
      gdbtools ingest cohort.vcf.gz --metadata samples.tsv --out store/
      gdbtools verify store/ cohort.vcf.gz
      gdbtools info store/
    """


# each module registers its commands on `main` (they import nothing heavy at module level)
from . import (  # noqa: E402, F401
    burden_cmds,
    cluster_cmds,
    demo_cmds,
    pipeline_cmds,
    report_cmds,
    stats_cmds,
    store_cmds,
)
