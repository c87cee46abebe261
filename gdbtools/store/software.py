"""The versions of the software that wrote a result (a store's manifest, a pipeline run record).

The distribution versions are looked up once per process (:func:`gdbtools.distributions.installed_version`
reads the installed metadata); htslib's is read on every call, as it depends on what
this process has imported by then (cyvcf2 once a step read VCFs). Nothing is imported to learn a version:
this module is loaded with the store, by commands that only read.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import sys

__all__ = ["KEY_LIBRARIES", "software_versions"]

#: distributions whose versions every manifest and run record lists (left out when not installed, but for the
#: first four, which are listed as None)
KEY_LIBRARIES = ("gdbtools", "numpy", "pandas", "pyarrow", "zstandard", "cyvcf2", "pysam", "numba", "scipy",
                 "dask", "distributed", "dask-jobqueue", "dask-cuda", "cupy-cuda12x", "cupy-cuda13x", "rmm-cu12",
                 "rmm-cu13", "pyyaml", "click")
_ALWAYS = ("gdbtools", "numpy", "pandas", "pyarrow")


@functools.cache
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    """``(distribution, version or None)`` for :data:`KEY_LIBRARIES`, read once per process."""
    from ..distributions import installed_version

    return tuple((dist, installed_version(dist)) for dist in KEY_LIBRARIES)


def _htslib_version() -> str | None:
    cyvcf2 = sys.modules.get("cyvcf2")  # imported by the ingest: its htslib read the VCFs
    if cyvcf2 is not None and hasattr(cyvcf2, "htslib_version"):
        return str(cyvcf2.htslib_version())
    # cyvcf2 does not say; pysam's htslib (the indexes) is the closest witness, read from pysam/version.py
    # without importing pysam (its package import loads the whole library)
    spec = importlib.util.find_spec("pysam")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        try:
            with open(os.path.join(folder, "version.py"), encoding="utf-8") as fh:
                found = re.search(r"""__htslib_version__\s*=\s*["']([^"']+)["']""", fh.read())
        except OSError:
            continue
        if found:
            return f"{found.group(1)} (pysam)"
    return None


def software_versions() -> dict:
    """Python, the key libraries (distribution versions, without importing them) and htslib: a new dict each
    call, e.g. ``{"python": "3.12.3", "python_executable": ..., "gdbtools": "0.9", "numpy": "2.1.3", ...,
    "htslib": "1.21"}``."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "python_executable": sys.executable}
    versions.update(_library_versions())
    versions["htslib"] = _htslib_version()
    return {k: v for k, v in versions.items() if v is not None or k in _ALWAYS}
