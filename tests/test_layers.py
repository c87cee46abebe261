"""The layering of docs/ARCHITECTURE.md, checked on the source: each layer imports only the layers below it.

Imports are read with :mod:`ast` (module-level and function-level, absolute and relative), so a lazy import
inside a function counts like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gdbtools"

# layer -> the gdbtools subpackages/modules it must never import
FORBIDDEN = {
    "store": {"stats", "ingest", "cli", "pipeline", "cluster", "backend", "cohort", "outputs", "plot", "report",
              "burden", "release"},
    "backend": {"stats", "ingest", "cli", "pipeline", "cluster", "cohort", "outputs", "plot", "report", "burden",
                "release"},
    "stats": {"cli", "cluster", "pipeline", "ingest", "outputs", "plot", "report", "burden", "release"},
    "ingest": {"stats", "cli", "pipeline", "cohort", "outputs", "plot", "report", "burden", "release"},
    "cluster": {"stats", "ingest", "cli", "pipeline", "store", "cohort", "outputs", "release"},
    "pipeline": {"cli"},
    "outputs": {"cli", "pipeline", "report", "release"},
    # the pictures: tables in, matplotlib figures out; they know contigs (genome), not the store or the statistics
    "plot": {"cli", "pipeline", "stats", "ingest", "store", "backend", "cluster", "cohort", "outputs", "report",
             "release"},
    "report": {"cli", "pipeline", "release"},
    "views": {"cli", "pipeline", "cluster", "ingest", "outputs", "cohort", "backend", "release"},
    "burden": {"cli", "pipeline", "cluster", "outputs", "ingest", "cohort", "report", "plot", "views", "release"},
    "release": {"cli", "pipeline", "cluster", "ingest", "backend"},
    "optionsets": {"cli", "pipeline", "stats", "ingest", "store", "backend", "outputs", "cohort", "release"},
    "options": {"*"},  # the option machinery imports nothing of gdbtools
    "tsv": {"*"},  # the TSV text writer neither
    "table": {"*"},  # nor the result table (NumPy and Arrow only; pandas' version from `distributions`)
    "distributions": {"*"},  # the installed versions, read from their metadata files
}
# what a layer that imports nothing of gdbtools ("*") may import all the same
ALLOWED = {"table": {"distributions"}}


def _gdbtools_imports(path: Path) -> set[str]:
    """The first component below ``gdbtools`` of every gdbtools module that `path` imports."""
    return _imports_in(path.read_text(), path.relative_to(PKG.parent).parts[:-1])


def _imports_in(src: str, package: tuple[str, ...]) -> set[str]:
    """Like :func:`_gdbtools_imports` for source text of a module in `package` (e.g. ``('gdbtools', 'stats')``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(src)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
        for name in names:
            bits = name.split(".")
            if bits[0] == "gdbtools" and len(bits) > 1:
                found.add(bits[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_below(layer):
    root = PKG / layer
    files = sorted(root.rglob("*.py")) if root.is_dir() else [PKG / f"{layer}.py"]
    assert files, f"no sources for {layer}"
    def forbidden(f: Path) -> set[str]:
        found = _gdbtools_imports(f)
        return found - ALLOWED.get(layer, set()) if "*" in FORBIDDEN[layer] else found & FORBIDDEN[layer]

    bad = {str(f.relative_to(PKG.parent)): sorted(forbidden(f)) for f in files if forbidden(f)}
    assert not bad, f"{layer} imports layers above it: {bad}"


def test_the_check_sees_relative_and_lazy_imports():
    """The reader itself: a relative import two levels up and one inside a function are both found."""
    src = "from ..cli import x\nfrom . import freq\n\ndef f():\n    from gdbtools.cluster import y\n"
    assert _imports_in(src, ("gdbtools", "stats")) == {"cli", "cluster", "stats"}
