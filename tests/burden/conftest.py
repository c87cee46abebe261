"""Fixtures of the burden tests: the real 1000 Genomes phase 1 chr22 store (1,092 samples x 19,773 variants,
ingested once per session), its phenotypes (simulated here, seeded) and the chr22 refFlat gene bodies."""

from __future__ import annotations

from pathlib import Path

import burden_helpers as bh
import pytest


@pytest.fixture(scope="session")
def burden_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("burden")


@pytest.fixture(scope="session")
def kg22_store(data_dir, burden_tmp):
    """1kg phase 1 chr22 (sex and Population from its sample table), read-only for the tests."""
    from gdbtools.ingest import ingest

    src = data_dir / bh.KG_DIR
    return ingest(src / bh.KG_VCF, burden_tmp / "kg22", metadata=src / bh.KG_META, workers=1, progress=False)


@pytest.fixture(scope="session")
def kg22_pheno(kg22_store):
    """The phenotype table: sample_id, sex, age, PC1-3, null traits q (quantitative) and b (binary, ~1:20)."""
    return bh.base_phenotypes(kg22_store)


@pytest.fixture(scope="session")
def kg22_pheno_tsv(kg22_pheno, burden_tmp) -> Path:
    return bh.write_tsv(kg22_pheno, burden_tmp / "pheno.tsv")


@pytest.fixture(scope="session")
def kg22_genes(data_dir, burden_tmp) -> Path:
    """refFlat gene bodies on chr22 (one line per gene, a header line)."""
    return bh.chr22_bed(data_dir, burden_tmp / "genes22.bed")
