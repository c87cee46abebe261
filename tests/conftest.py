"""Shared fixtures: the real data in ../shared/data, simulated cohorts, and the external oracles.

Under ``CI=true`` a missing oracle (bcftools, plink2, ...) or data folder is a failure, never a skip: CI
installs everything (scripts/test), so a skip there would hide a broken set-up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import need

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    need(DATA.is_dir(), f"shared test data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def bcftools_bin() -> str:
    path = shutil.which("bcftools")
    need(path is not None, "bcftools is not installed (scripts/test installs it)")
    return path


@pytest.fixture(scope="session")
def plink2_bin() -> str:
    path = shutil.which("plink2")
    need(path is not None, "plink2 is not installed (scripts/test installs it)")
    return path


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """A 300-sample msprime cohort with GT:AD:DP:GQ, three populations, chr1 + chrX (session-wide, read-only)."""
    from gdbtools.simulate import simulate_cohort

    out = tmp_path_factory.mktemp("small_cohort")
    return simulate_cohort(out, n_samples=300, length=400_000, x_length=250_000, seed=11, bcf=True)


@pytest.fixture(scope="session")
def small_store(small_cohort, tmp_path_factory):
    """The small cohort ingested with its metadata (session-wide; tests must not modify it)."""
    from gdbtools.ingest import ingest

    out = tmp_path_factory.mktemp("stores") / "small"
    return ingest(small_cohort.vcf, out, metadata=small_cohort.metadata, workers=1, progress=False,
                  block_size=512)
