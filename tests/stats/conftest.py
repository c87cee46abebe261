"""Fixtures of the statistics tests: real stores (session-wide, read-only) and their oracle outputs.

- ``kg``: 1000 Genomes phase 3, 1,126 samples x 25,709 records (26,250 split rows), chr1-22 + X (GRCh37),
  12 populations, male non-PAR chrX written ``0/.`` (read as haploid by the default ingest, like
  bcftools +fill-tags and plink2 ``--vcf-half-call h``);
- ``hm``: HapMap II, 279 samples x 9,088 SNPs incl. 365 on X (NCBI36), males written diploid-homozygous on X;
- their plink2 reports (``--freq counts --geno-counts --hardy [midp] --missing --het``), computed once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import stats_oracles as so
from stats_oracles import HM, KG, KG_META, need


@pytest.fixture(scope="session")
def plink19_bin() -> str:
    path = shutil.which("plink1.9")
    need(path is not None, "plink1.9 is not installed (Debian package plink1.9; scripts/test installs it)")
    return path


@pytest.fixture(scope="session")
def stats_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stats")


def _ingest(src, out, meta):
    from gdbtools.ingest import ingest

    return ingest(src, out, metadata=meta, workers=1, progress=False)


@pytest.fixture(scope="session")
def kg_store(data_dir, stats_tmp):
    return _ingest(data_dir / KG, stats_tmp / "kg_store", data_dir / KG_META)


@pytest.fixture(scope="session")
def kg(kg_store):
    import gdbtools

    return gdbtools.open(kg_store.path)


@pytest.fixture(scope="session")
def kg_results(kg):
    """freq by population (raw: the set has no genotype filters), variant QC and sample QC, in one pass."""
    return kg.compute(freq=["Population"], adj=False, variant_qc=True, sample_qc=True, client=False)


@pytest.fixture(scope="session")
def kg_split(data_dir, bcftools_bin, stats_tmp) -> Path:
    return so.norm_split(data_dir / KG, stats_tmp / "kg_split.vcf.gz")


@pytest.fixture(scope="session")
def kg_pfile(kg_split, kg_store, plink2_bin, stats_tmp) -> Path:
    samples = kg_store.samples
    sex = so.write_sex_file(stats_tmp / "kg.sex", samples["sample_id"], samples["sex"])
    return so.plink2_import(kg_split, stats_tmp / "kg", sex, "b37")


@pytest.fixture(scope="session")
def kg_plink(kg_pfile, stats_tmp) -> dict[str, pd.DataFrame]:
    return so.plink2_reports(kg_pfile, stats_tmp / "kg_reports")


@pytest.fixture(scope="session")
def hm_store(hm_store_default):
    """The session's shared HapMap store (tests/conftest.py; read-only)."""
    return hm_store_default


@pytest.fixture(scope="session")
def hm(hm_store):
    import gdbtools

    return gdbtools.open(hm_store.path)


@pytest.fixture(scope="session")
def hm_pfile(data_dir, hm_store, plink2_bin, bcftools_bin, stats_tmp) -> Path:
    samples = hm_store.samples
    sex = so.write_sex_file(stats_tmp / "hm.sex", samples["sample_id"], samples["sex"])
    return so.plink2_import(data_dir / HM, stats_tmp / "hm", sex, "b36")


@pytest.fixture(scope="session")
def hm_plink(hm_pfile, stats_tmp) -> dict[str, pd.DataFrame]:
    return so.plink2_reports(hm_pfile, stats_tmp / "hm_reports")
