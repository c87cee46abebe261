"""Shared fixtures: the real data in ../shared/data, simulated cohorts, and the external oracles.

Real call sets that several directories need with the same ingest options are ingested once per session here
(``kg22_store_default``, ``hm_store_default``); they are read-only: the teardown fails if a test changed a file.

Under ``CI=true`` a missing oracle (bcftools, plink2, ...) or data folder is a failure, never a skip: CI
installs everything (scripts/test), so a skip there would hide a broken set-up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import HM, HM_META, KG22, KG22_META, need, tree_fingerprint

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


def _shared_store(src: Path, meta: Path, out: Path):
    """Ingest `src` with its sample table as ``gdbtools ingest`` does by default; yield the store; on teardown
    check that no test wrote into it (a test that needs to write copies the store or ingests its own)."""
    from gdbtools.ingest import ingest

    need(src.is_file(), f"{src} not found")
    store = ingest(src, out, metadata=meta, workers=1, progress=False)
    before = tree_fingerprint(store.path)
    yield store
    assert tree_fingerprint(store.path) == before, f"a test wrote into the shared read-only store {store.path}"


@pytest.fixture(scope="session")
def kg22_store_default(data_dir, tmp_path_factory):
    """1000 Genomes phase 1 chr22 (1,092 samples, 14 populations x 19,773 variants) as ``gdbtools ingest``
    writes it by default (hybrid2, default block size), with sex and Population from its sample table: the
    store of the burden command/calibration/parity tests and of the release tests (session-wide, read-only)."""
    yield from _shared_store(data_dir / KG22, data_dir / KG22_META, tmp_path_factory.mktemp("shared") / "kg22")


@pytest.fixture(scope="session")
def hm_store_default(data_dir, tmp_path_factory):
    """HapMap II (279 samples, 4 populations, 59 trios x 9,088 SNPs incl. chrX) as ``gdbtools ingest`` writes it
    by default, with its sample table: the store of the stats and release tests (session-wide, read-only)."""
    yield from _shared_store(data_dir / HM, data_dir / HM_META, tmp_path_factory.mktemp("shared") / "hm")
