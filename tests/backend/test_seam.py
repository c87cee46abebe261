"""One seam for devices: only gdbtools/backend/ imports or calls CuPy; the store hands out NumPy arrays only.

Read with :mod:`ast` (imports anywhere in a module, and attribute use of ``cupy``/``cupyx`` names), so a lazy
import inside a function counts. Backend names in option lists and cluster settings are strings, not calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

PKG = Path(__file__).resolve().parents[2] / "gdbtools"
DEVICE_MODULES = ("cupy", "cupyx")


def _cupy_uses(src: str) -> list[str]:
    """Where source text `src` imports or names cupy/cupyx."""
    found = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in DEVICE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in DEVICE_MODULES:
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Name) and node.id in DEVICE_MODULES:
            found.append(f"line {node.lineno}: uses {node.id}")
    return found


def test_only_the_backend_imports_or_calls_cupy():
    offenders = {str(p.relative_to(PKG.parent)): uses for p in sorted(PKG.rglob("*.py"))
                 if "backend" not in p.relative_to(PKG).parts[:1] and (uses := _cupy_uses(p.read_text()))}
    assert not offenders, offenders


def test_the_check_sees_lazy_imports_and_calls():
    src = "def f(a):\n    import cupyx\n    return cupy.asarray(a)\n"
    assert _cupy_uses(src) == ["line 2: import cupyx", "line 3: uses cupy"]


def test_store_blocks_are_numpy(small_store):
    for block in small_store.blocks():
        assert isinstance(block.dense_lo, np.ndarray) and isinstance(block.lo, np.ndarray)
        if block.sparse is not None:
            assert isinstance(block.sparse.row, np.ndarray)
        break
