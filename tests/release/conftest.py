"""Fixtures of the release tests: two real call sets (the session's shared stores of tests/conftest.py, read-only)
and their releases.

- ``kg22``: 1000 Genomes phase 1 chr22, 1,092 samples (14 populations, one of 14 samples) x 19,773 variants;
- ``hm``: HapMap II, 279 samples (4 populations, 59 trios) x 9,088 SNPs incl. 365 on chrX outside the PARs
  (males written diploid-homozygous: the store counts them hemizygous).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import export_opts


@pytest.fixture(scope="session")
def release_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("release")


@pytest.fixture(scope="session")
def kg22(kg22_store_default):
    """The session's shared kg22 store (tests/conftest.py; read-only) as a cohort."""
    import gdbtools

    return gdbtools.open(kg22_store_default.path)


@pytest.fixture(scope="session")
def hm(hm_store_default):
    """The session's shared hm store (tests/conftest.py; read-only) as a cohort."""
    import gdbtools

    return gdbtools.open(hm_store_default.path)


@pytest.fixture(scope="session")
def kg22_releases(kg22, release_tmp) -> dict[str, Path]:
    """Public releases of kg22 by Population and Gender (VCF, Parquet, TSV) and a controlled and a registered VCF."""
    from gdbtools.release import export

    out = {}
    by = ("Population", "Gender")
    for name, tier, fname in (("public_vcf", "public", "public.vcf.gz"),
                              ("public_parquet", "public", "public.parquet"),
                              ("public_tsv", "public", "public.tsv.gz"),
                              ("controlled", "controlled", "controlled.vcf.gz"),
                              ("registered", "registered", "registered.vcf.gz")):
        path = release_tmp / "kg22_releases" / fname
        export(kg22, export_opts(tier=tier, by=by, release_version="2026-12" if tier == "public" else None), path,
               progress=False)
        out[name] = path
    return out


@pytest.fixture(scope="session")
def hm_releases(hm, release_tmp) -> dict[str, Path]:
    """A public and a controlled VCF of hm by population and sex."""
    from gdbtools.release import export

    out = {}
    for tier in ("public", "controlled"):
        path = release_tmp / "hm_releases" / f"{tier}.vcf.gz"
        export(hm, export_opts(tier=tier, by=("pop.group", "sex"), release_version="1"), path, progress=False)
        out[tier] = path
    return out
