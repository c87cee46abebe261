"""The notebooks in notebooks/ run headless, top to bottom, on a small simulated store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook__runs(path, small_store, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("GDBTOOLS_STORE", str(small_store.path))
    monkeypatch.setenv("GDBTOOLS_NOTEBOOK_WORK", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNG outputs
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(o.get("data", {}).get("image/png") for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", [])) or path.stem == "03_cluster", "the notebook should draw its plots"


def test_notebooks__exist():
    assert len(NOTEBOOKS) >= 3
    assert all(os.path.getsize(p) > 0 for p in NOTEBOOKS)
