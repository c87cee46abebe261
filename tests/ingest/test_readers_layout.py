"""The readers package's boundary: the fast readers know nothing of cyvcf2/pysam or of the rest of ingest;
only :mod:`gdbtools.ingest.readers.select` joins them with the htslib adapter (:mod:`gdbtools.ingest.htslib`)."""

from __future__ import annotations

import ast
from pathlib import Path

import gdbtools.ingest.readers as readers_pkg

READERS = Path(readers_pkg.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved against gdbtools.ingest.readers)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ["gdbtools", "ingest", "readers"][: 3 - (node.level - 1)] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            out.add(name)
            out |= {f"{name}.{alias.name}" for alias in node.names}
    return out


def test_readers__only_select_knows_htslib():
    seen = {}
    for path in sorted(READERS.glob("*.py")):
        names = _imports(path)
        seen[path.stem] = names
        if path.stem == "select":
            assert "gdbtools.ingest.htslib" in names
            continue
        htslib = {n for n in names if n.split(".")[0] in ("cyvcf2", "pysam") or n.startswith("gdbtools.ingest.htslib")}
        assert not htslib, (path, htslib)
        # nothing from the rest of ingest (the package sits below it)
        above = {n for n in names
                 if n.startswith("gdbtools.ingest.") and not n.startswith("gdbtools.ingest.readers")}
        assert not above, (path, above)
    assert {"bgzf", "index", "kernels", "vcf_kernels", "bcf_kernels", "header", "base", "vcf", "bcf", "fast",
            "select", "errors"} <= set(seen)
