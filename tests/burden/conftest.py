"""Fixtures of the burden tests (session-wide, read-only).

- data tests: real VCFs ingested as dense2 and hybrid2 stores, small blocks so that genes span several of them;
- command, calibration and parity tests: the 1000 Genomes phase 1 chr22 store (1,092 samples x 19,773
  variants) as ingested by default, its phenotypes (simulated here, seeded) and the chr22 refFlat gene bodies.
"""

from __future__ import annotations

from pathlib import Path

import burden_helpers as bh
import pytest
from burden_oracles import HAIL, KG22, KG22_META


@pytest.fixture(scope="session")
def burden_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("burden")


def _ingest(src, out, encoding, meta=None, block_size=1024):
    from gdbtools.ingest import ingest

    return ingest(src, out, metadata=meta, workers=1, progress=False, block_size=block_size, encoding=encoding)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def kg22_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / KG22, burden_tmp / f"kg22_{request.param}", request.param, data_dir / KG22_META)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def hail_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / HAIL, burden_tmp / f"hail_{request.param}", request.param, block_size=64)

@pytest.fixture(scope="session")
def chr22_store(data_dir, burden_tmp):
    """1kg phase 1 chr22 as `gdbtools ingest` writes it by default (sex and Population from its sample table):
    the store of the command, calibration and parity tests."""
    from gdbtools.ingest import ingest

    src = data_dir / bh.KG_DIR
    return ingest(src / bh.KG_VCF, burden_tmp / "kg22", metadata=src / bh.KG_META, workers=1, progress=False)


@pytest.fixture(scope="session")
def chr22_pheno(chr22_store):
    """The phenotype table: sample_id, sex, age, PC1-3, null traits q (quantitative) and b (binary, ~1:20)."""
    return bh.base_phenotypes(chr22_store)


@pytest.fixture(scope="session")
def chr22_pheno_tsv(chr22_pheno, burden_tmp) -> Path:
    return bh.write_tsv(chr22_pheno, burden_tmp / "pheno.tsv")


@pytest.fixture(scope="session")
def chr22_genes(data_dir, burden_tmp) -> Path:
    """refFlat gene bodies on chr22 (one line per gene, a header line)."""
    return bh.chr22_bed(data_dir, burden_tmp / "genes22.bed")
