"""User errors in IPython and Jupyter: the message and the fix, without gdbtools' internal traceback frames.

A :class:`~gdbtools.errors.GdbError` is a mistake in the user's input (a path, a query, a region), so the
frames inside gdbtools that raised it help no one; IPython's custom exception handler shows instead::

    StoreError: /data/gdb/cohorts/2026-1: no such store directory
      fix: check the path, or create the store with `gdbtools ingest`
      at In[3] line 2: cohort = gdb.open("/data/gdb/cohorts/2026-1")
      (%tb shows the full traceback)

Registered as the IPython extension ``gdbtools`` (``%load_ext gdbtools``, ``%unload_ext gdbtools``), which
``import gdbtools`` loads by itself when it runs inside IPython (unless ``GDBTOOLS_IPYTHON_ERRORS=0``).
Outside IPython nothing changes: Python prints its usual traceback.  Any other exception keeps IPython's
traceback, and a custom handler that another library set first is left in place.  The cell still ends in
an error (Jupyter's ``error`` output, ``nbclient`` raises), and ``%tb`` / ``%debug`` see the real traceback.
"""

from __future__ import annotations

import os
import sys

from ..errors import GdbError

__all__ = ["load", "unload", "format_error", "auto_load"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RED, _BOLD, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def _user_frame(tb):
    """The last frame before the traceback enters gdbtools' own sources (the user's call), or ``None``."""
    last = None
    while tb is not None:
        path = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if path.startswith(_PACKAGE_DIR + os.sep):
            break
        last = tb
        tb = tb.tb_next
    return last


def _where(shell, tb) -> str | None:
    frame_tb = _user_frame(tb)
    if frame_tb is None:
        return None
    code = frame_tb.tb_frame.f_code
    line = frame_tb.tb_lineno
    import linecache

    text = linecache.getline(code.co_filename, line).strip()
    name = code.co_filename
    compiler = getattr(shell, "compile", None)
    cell = getattr(compiler, "format_code_name", None)
    if cell is not None:  # IPython names cells In[N]; ipykernel's temporary file names mean nothing to users
        try:
            named = cell(name)
        except Exception:  # only a nicer name; the path is fine too
            named = None
        if named:
            name = named[1] if isinstance(named, tuple) else str(named)
    return f"at {name} line {line}" + (f": {text}" if text else "")


def format_error(error: GdbError, tb=None, shell=None, *, color: bool = True) -> list[str]:
    """The lines shown for `error`: class and message, the fix, the user's call that raised it, a hint."""
    red, bold, reset = (_RED, _BOLD, _RESET) if color else ("", "", "")
    head = ": ".join(part for part in (error.file, error.where) if part)
    message = f"{head}: {error.message}" if head else error.message
    lines = [f"{red}{bold}{type(error).__name__}{reset}: {message}"]
    if error.fix:
        lines.append(f"  {bold}fix{reset}: {error.fix}")
    where = _where(shell, tb) if tb is not None else None
    if where:
        lines.append(f"  {where}")
    lines.append("  (%tb shows the full traceback)")
    return ["\n".join(lines)]


def _handler(shell, etype, value, tb, tb_offset=None):
    stb = format_error(value, tb, shell)
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # for %tb and %debug
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    shell._showtraceback(etype, value, stb)  # ipykernel sends it as the cell's error output
    return None


def load(shell) -> bool:
    """Show gdbtools' user errors briefly in IPython `shell`; ``False`` if another custom handler is set."""
    if shell.custom_exceptions not in ((), (GdbError,)):
        return False
    shell.set_custom_exc((GdbError,), _handler)
    return True


def unload(shell) -> None:
    """Back to IPython's full tracebacks (only if the handler in place is gdbtools')."""
    if shell.custom_exceptions == (GdbError,):
        shell.set_custom_exc((), None)


def auto_load() -> None:
    """Load the extension when ``import gdbtools`` runs inside IPython; costs nothing anywhere else."""
    ipython = sys.modules.get("IPython")
    if ipython is None or os.environ.get("GDBTOOLS_IPYTHON_ERRORS", "1") == "0":
        return
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "extension_manager", None) is None:
        return
    try:  # through the extension manager, so that %unload_ext gdbtools and %reload_ext work as usual
        shell.extension_manager.load_extension("gdbtools")
    except Exception as exc:  # a display nicety must never break the import
        print(f"gdbtools: could not set up the short error display ({exc})", file=sys.stderr)
