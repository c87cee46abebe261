"""The notebooks in notebooks/ run headless, top to bottom, on a small simulated store, and are kept in git
without outputs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# the repr of what a plotting call returns, printed under a plot when a cell ends with it (end with plt.show())
STRAY_REPR = re.compile(r"^(Text\(|\[<matplotlib|<matplotlib\.|Text\(0)")


def execute(path: Path, store: Path, work: Path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("GDBTOOLS_STORE", str(store))
    monkeypatch.setenv("GDBTOOLS_NOTEBOOK_WORK", str(work))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNG outputs
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook__runs(path, small_store, tmp_path, monkeypatch):
    nb = execute(path, small_store.path, tmp_path, monkeypatch)
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert any(o.get("data", {}).get("image/png") for o in outputs(nb)) or path.stem == "03_cluster", \
        "the notebook should draw its plots"
    stray = [o["data"]["text/plain"] for o in outputs(nb) if o.output_type == "execute_result"
             and STRAY_REPR.match(o.get("data", {}).get("text/plain", ""))]
    assert not stray, f"a plot cell prints what its last call returned: {stray}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook__is_stored_without_outputs_and_has_a_title(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), \
        f"{path.name} has outputs or execution counts: clear them before committing (Jupyter: Edit > Clear Outputs)"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title: '# ...'"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.lstrip().startswith("#")]
    assert sum(h.startswith("# ") for h in headings) == 1, "one '# ' title; sections are '## '"


def test_notebooks__every_notebook_in_git_is_tested():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked, "no notebooks in git"
    assert sorted(REPO / t for t in tracked) == sorted(p for p in NOTEBOOKS), \
        "a notebook outside notebooks/ is in git: move it there so that the tests run it"
