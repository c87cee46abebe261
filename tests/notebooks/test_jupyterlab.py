"""A real JupyterLab server on localhost (token auth) executes a notebook through its REST and kernel websocket
API, as a browser would (tests/jupyterlab_helpers.py); the lab has the Dask panel and the server proxy."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from jupyterlab_helpers import execute_notebook, lab_server

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_jupyterlab__executes_a_notebook_through_the_server(small_store, tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "01_frequencies.ipynb", root)
    with lab_server(root, env={"GDBTOOLS_STORE": str(small_store.path), "MPLBACKEND": None}) as server:
        assert server.api("GET", "/api/status", token=False)[0] == 403  # no token, no entry
        assert server.api("GET", "/api/kernelspecs")[0] == 200
        saved = execute_notebook(server, "01_frequencies.ipynb")
        # the Dask panel (dask-labextension) and the proxy to node-local dashboards (jupyter-server-proxy)
        assert server.api("GET", "/dask/clusters")[0] == 200
        assert server.api("GET", "/proxy/1/")[0] in (500, 502)  # proxied: nothing listens on port 1
        assert server.api("GET", "/api/sessions")[1] == []  # the kernel's session is closed
    nb = nbformat.from_dict(saved)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert all(c.execution_count for c in code), "every code cell ran"
    assert not [o for o in outputs if o.output_type == "error"], [o.get("evalue") for o in outputs]
    # the notebook computed on the store: the cohort view names its contigs, the plot is a PNG
    html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("gdbtools Cohort" in h and "chrX" in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    # the copy on disk, saved through the server, is the executed one
    on_disk = nbformat.read(root / "01_frequencies.ipynb", as_version=4)
    assert [len(c.outputs) for c in on_disk.cells if c.cell_type == "code"] == [len(c.outputs) for c in code]
