"""Refuse to start a local cluster from the top level of a script that lacks ``if __name__ == "__main__":``.

Local worker processes are started with multiprocessing's ``spawn``, which imports the parent's ``__main__``
script again in each child. A script that starts a cluster at its top level, without the guard, would start
another cluster in every worker: the parent waits for workers that never come (a hang), and killing it leaves
the children behind. Two checks, both raising :class:`ClusterError` with the fix:

- in the parent, before anything starts: the call comes from module-level code of a ``__main__`` that is a
  file (so the workers will import it), at a line outside every ``if __name__ == "__main__":`` block;
- in a worker, as a backstop: it is still importing ``__main__`` for multiprocessing (the test of
  multiprocessing's own ``_check_not_importing_main``), so it stops at once instead of starting a cluster.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from types import FrameType

from .errors import ClusterError

__all__ = ["MAIN_GUARD_FIX", "importing_main_in_child", "unguarded_main_line", "check_main_guard"]

MAIN_GUARD_FIX = ('put the code that starts the cluster under `if __name__ == "__main__":` (worker processes '
                  "import your script again, as multiprocessing does), or start it from a notebook, a "
                  "function called under that guard, or with processes=False")


def importing_main_in_child() -> bool:
    """True while this process is a multiprocessing child that imports the parent's ``__main__`` module."""
    # set by multiprocessing.spawn._main around the child's import of __main__ (parent_process() is set later)
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def _is_main_test(node: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either order)."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = [node.left, node.comparators[0]]
    return (any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))


def _guarded_lines(source: str) -> list[tuple[int, int]]:
    ranges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.body:
            ranges.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return ranges


def _main_module_frame(frame: FrameType | None, main_globals: dict) -> FrameType | None:
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def unguarded_main_line() -> tuple[str, int] | None:
    """``(script, line)`` when the current call comes from the top level of the ``__main__`` script outside
    ``if __name__ == "__main__":`` (worker processes would run it again), else ``None``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return None  # python -c, a notebook, an interactive session: workers import no script
    frame = _main_module_frame(sys._getframe(1), vars(main))
    if frame is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            ranges = _guarded_lines(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    if any(first <= line <= last for first, last in ranges):
        return None
    return str(path), int(line)


def check_main_guard() -> None:
    """Raise :class:`ClusterError` naming the fix when a local cluster with worker processes would be started
    by a script's unguarded top level (in the parent) or by a worker's import of that script (in a child)."""
    if importing_main_in_child():
        script = sys.argv[0] if sys.argv and sys.argv[0] else "the main script"
        raise ClusterError("a Dask worker process, importing your script again, reached the code that starts "
                           "the cluster", file=script, fix=MAIN_GUARD_FIX)
    found = unguarded_main_line()
    if found is not None:
        script, line = found
        raise ClusterError("a local Dask cluster with worker processes is started at the top level of the script "
                           "without a main guard: each worker would import the script again and start another "
                           "cluster (a hang)", file=script, where=f"line {line}", fix=MAIN_GUARD_FIX)
