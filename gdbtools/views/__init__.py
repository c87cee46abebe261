"""What a notebook user sees: rich descriptions of cohorts and result tables, and short user errors.

- :func:`describe` (``gdb.describe``): a :class:`~gdbtools.views.render.Description` of a cohort or of a
  result table; ``str()`` of it is the text, Jupyter shows its HTML.  A :class:`gdbtools.Cohort` shows the
  same HTML by itself (``_repr_html_``) and prints the text with ``cohort.describe()``.
- :mod:`gdbtools.views.ipython`: the IPython extension that shows a :class:`~gdbtools.errors.GdbError` as its
  message and fix, without gdbtools' internal frames.

Importing this package imports pandas-free modules only; the table view imports the variable registry when
first asked.
"""

from __future__ import annotations

from .render import Description, Section

__all__ = ["describe", "Description", "Section"]


def describe(obj, kind: str | None = None) -> Description:
    """A description of `obj`: a :class:`gdbtools.Cohort` or a result table (pandas DataFrame).

    Parameters
    ----------
    obj : Cohort or DataFrame
        A cohort (build, contigs and their variant counts, metadata columns with their values, the selection,
        encoding, backend, size on disk), or a table returned by the statistics (its sample groups with their
        sizes, its columns grouped by variable with their meanings, its settings and provenance).
    kind : str, optional
        For a table: its name in :data:`gdbtools.stats.variables.TABLES` when it cannot be inferred.

    Returns
    -------
    Description
        Shown as HTML in Jupyter; ``print()`` gives the text.
    """
    if hasattr(obj, "selection") and hasattr(obj, "store"):
        from .cohort_view import describe_cohort

        return describe_cohort(obj.selection, backend=getattr(obj, "backend", "auto"),
                               steps=tuple(getattr(obj, "steps", ())))
    if hasattr(obj, "attrs") and hasattr(obj, "columns"):
        from .table_view import describe_table

        return describe_table(obj, kind)
    from ..errors import GdbError

    raise GdbError(f"cannot describe a {type(obj).__name__}",
                   fix="pass a cohort (gdb.open(path)) or a table returned by its statistics")
