"""The frequency release: what a release contains (:mod:`.export`), the privacy guard (:mod:`.privacy`) and the
sites-only VCF writer (:mod:`.vcf`); Parquet and TSV through :mod:`gdbtools.outputs`.

>>> from gdbtools.optionsets import ExportOptions                                 # doctest: +SKIP
>>> opts = ExportOptions(tier="public", by=("population",), release_version="2026-12")  # doctest: +SKIP
>>> gdbtools.release.export(gdbtools.open("store/"), opts, "release.vcf.gz")      # doctest: +SKIP

The policy is written in ``docs/RELEASE.md`` and in each release's metadata.
"""

from __future__ import annotations

from .export import FILTERS, Release, ReleaseRefused, build_release, export, read_release

__all__ = ["FILTERS", "Release", "ReleaseRefused", "build_release", "export", "read_release"]
