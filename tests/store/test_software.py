"""The software versions a manifest or run record lists, read without importing the libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_versions_are_the_installed_ones_and_nothing_is_imported_to_read_them():
    pytest.importorskip("pysam")
    code = ("import json, sys\nfrom gdbtools.store.software import software_versions\nv = software_versions()\n"
            "print(json.dumps([v, sorted(m for m in ('pysam', 'cyvcf2', 'numba', 'dask', 'scipy') "
            "if m in sys.modules)]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    versions, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert imported == []
    from importlib import metadata

    import pysam.version  # the oracle: pysam's own module, imported here

    assert versions["htslib"] == f"{pysam.version.__htslib_version__} (pysam)"
    for dist in ("numpy", "pyarrow", "pysam", "click"):
        assert versions[dist] == metadata.version(dist)
