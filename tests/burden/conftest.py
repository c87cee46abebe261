"""Fixtures of the burden tests.

- data tests: real VCFs ingested as dense2 and hybrid2 stores (session-wide, read-only), small blocks so that
  genes span several of them;
- statistics tests: real 1000 Genomes chr22 genotypes grouped by gene, simulated covariates, every backend
  present (the pattern of tests/backend/conftest.py);
- command, calibration and parity tests: the 1000 Genomes phase 1 chr22 store (1,092 samples x 19,773
  variants) as `gdbtools ingest` writes it by default, its phenotypes (simulated here, seeded) and the chr22
  refFlat gene bodies (``chr22_*``).
"""

from __future__ import annotations

from pathlib import Path

import burden_helpers as bh
import numpy as np
import pytest
from burden_oracles import HAIL, KG22, KG22_META
from helpers import backend_or_skip, need


@pytest.fixture(scope="session")
def burden_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("burden")


def _ingest(src, out, encoding, meta=None, block_size=1024):
    """The store of `src` at `out`, ingested once per session: a parametrized session fixture is set up again
    when its tests come back to a parameter after the other one (pytest-xdist hands out whole files), and then
    opens the store it made the first time (tests never write into it)."""
    from gdbtools.ingest import ingest
    from gdbtools.store import Store

    if (out / "manifest.json").is_file():
        return Store(out)
    return ingest(src, out, metadata=meta, workers=1, progress=False, block_size=block_size, encoding=encoding)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def kg22_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / KG22, burden_tmp / f"kg22_{request.param}", request.param, data_dir / KG22_META)


@pytest.fixture(scope="session", params=["dense2", "hybrid2"])
def hail_store(request, data_dir, burden_tmp):
    return _ingest(data_dir / HAIL, burden_tmp / f"hail_{request.param}", request.param, block_size=64)

KG1 = "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"
GENES = "gene_annotation_hg19/genes_refFlat_hg19.bed"


@pytest.fixture(params=["numpy", "host", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    """Each backend in turn: numpy, host (a failure under CI=true), cupy (skipped without a GPU)."""
    return backend_or_skip(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20261204)


@pytest.fixture(scope="session")
def kg_genes(data_dir):
    """Real genotypes: 1000 Genomes phase 1 chr22 (1,092 samples, no missing calls), the variants with
    MAF < 5 % inside refFlat gene bodies, grouped by gene; the first 60 genes with >= 3 such variants.

    Returns a list of ``(gene, G)`` with G (1092, m) float64 alt-allele dosages.
    """
    cyvcf2 = pytest.importorskip("cyvcf2")
    need((data_dir / KG1).is_file(), f"{KG1} not found")
    genes = []
    for line in (data_dir / GENES).read_text().splitlines():
        f = line.split("\t")
        if f[0] in ("22", "chr22"):
            genes.append((int(f[1]), int(f[2]), f[3]))
    genes.sort()
    starts = np.array([g[0] for g in genes])
    ends = np.array([g[1] for g in genes])
    cols: dict[str, list[np.ndarray]] = {}
    for rec in cyvcf2.VCF(str(data_dir / KG1)):
        gt = rec.gt_types  # 0 hom-ref, 1 het, 3 hom-alt (no missing calls in this set)
        dos = np.where(gt == 3, 2, gt).astype(np.float64)
        af = dos.mean() / 2
        if not 0 < min(af, 1 - af) < 0.05:
            continue
        pos0 = rec.POS - 1
        for i in np.flatnonzero((starts <= pos0) & (ends > pos0)):
            cols.setdefault(genes[i][2], []).append(dos)
        if sum(len(v) >= 3 for v in cols.values()) >= 60:
            break
    out = [(name, np.column_stack(v)) for name, v in cols.items() if len(v) >= 3][:60]
    assert len(out) >= 50
    return out


@pytest.fixture(scope="session")
def chr22_store(kg22_store_default):
    """1kg phase 1 chr22 as `gdbtools ingest` writes it by default (sex and Population from its sample table):
    the store of the command, calibration and parity tests (the session's shared store: read-only)."""
    return kg22_store_default


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
