"""gdbtools.distributions: installed versions without importlib.metadata, the same answers as it gives."""

from __future__ import annotations

import json
import subprocess
import sys


def test_installed_version__equals_importlib_metadata_without_importing_it():
    names = ["gdbtools", "numpy", "pandas", "pyarrow", "click", "PyYAML", "pyyaml", "dask-jobqueue", "dask_jobqueue",
             "zstandard", "no-such-distribution-xyz"]
    code = ("import json, sys\nfrom gdbtools.distributions import installed_version\n"
            f"v = {{n: installed_version(n) for n in {names!r}[:-1]}}\n"
            "print(json.dumps([v, 'importlib.metadata' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    versions, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded is False  # every one of these is a dist-info folder on sys.path
    from importlib import metadata

    from gdbtools.distributions import installed_version

    for name in names[:-1]:
        assert versions[name] == metadata.version(name), name
    assert installed_version(names[-1]) is None


def test_a_qc_command_loads_no_importlib_metadata(small_store, tmp_path):
    """The provenance (gdbtools' version) and the Parquet tables' pandas metadata (pandas' version) are read
    from the installed metadata files: importlib.metadata is 0.017 s of a command's start."""
    code = ("import sys\nfrom gdbtools.cli import main\n"
            f"try:\n    main(['qc', {str(small_store.path)!r}, '--out', {str(tmp_path / 'qc')!r}, '--freq'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('importlib.metadata' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "False"
    meta = json.loads((tmp_path / "qc" / "summary.json").read_text())["provenance"]
    from importlib import metadata

    assert meta["gdbtools_version"] == metadata.version("gdbtools")
    import pyarrow.parquet as pq

    pandas_meta = json.loads(pq.read_schema(tmp_path / "qc" / "freq.parquet").metadata[b"pandas"])
    assert pandas_meta["pandas_version"] == metadata.version("pandas")
