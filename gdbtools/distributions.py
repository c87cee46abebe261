"""Installed distributions' versions, read without importing :mod:`importlib.metadata`.

That module costs 17-30 ms of a command's start (it imports ``email``, ``zipfile``, ``csv``...), and a
command asks for versions on its way: gdbtools' own for the provenance, pandas' for the pandas metadata of
every Parquet table it writes (:meth:`gdbtools.table.Table.to_arrow`), all the key libraries' for a store's
manifest (:mod:`gdbtools.store.software`). :func:`installed_version` reads the ``Version:`` line of the first
``<name>-<version>.dist-info/METADATA`` (or ``.egg-info/PKG-INFO``) on :data:`sys.path`, the distribution
:func:`importlib.metadata.version` finds, and falls back to that function for anything else.
"""

from __future__ import annotations

import functools
import os
import re
import sys

__all__ = ["installed_version"]


def _normal(name: str) -> str:
    """The distribution name as installers spell it in folder names (PEP 503 normalised, ``_`` for ``-``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.cache
def _listing(entry: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(entry or ".")))
    except OSError:  # not a folder (a zip file) or gone
        return ()


def _metadata_file(name: str) -> str | None:
    want = _normal(name)
    for entry in sys.path:
        for folder in _listing(entry):
            stem, dot, suffix = folder.rpartition(".")
            if suffix not in ("dist-info", "egg-info") or _normal(stem.split("-", 1)[0]) != want:
                continue
            path = os.path.join(entry or ".", folder, "METADATA" if suffix == "dist-info" else "PKG-INFO")
            if os.path.isfile(path):
                return path
    return None


def installed_version(name: str) -> str | None:
    """The installed version of distribution `name` (``"pandas"``, ``"dask-jobqueue"``), or ``None`` when it is
    not installed."""
    path = _metadata_file(name)
    if path is not None:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():  # the headers end at the first blank line
                    break
    from importlib import metadata  # another layout (a zipped egg, a custom finder)

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
