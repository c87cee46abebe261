"""Helpers shared by test modules (import as ``from helpers import ...``; conftest modules are not importable)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip when `condition` is false, except under ``CI=true`` where that is a failure (CI installs every
    prerequisite, so a skip there would hide a broken set-up)."""
    if not condition:
        if CI:
            pytest.fail(f"CI is missing a prerequisite: {reason}")
        pytest.skip(reason)


def backend_or_skip(name: str):
    """The backend `name` for a test parametrized over backends: cupy skips without a GPU (a CuPy backend that
    cannot start on a GPU fails); host skips when it cannot build, except under ``CI=true`` where it fails."""
    from gdbtools.backend import get_backend
    from gdbtools.backend.cupy_backend import gpu_available
    from gdbtools.errors import BackendError

    if name == "cupy" and not gpu_available():
        pytest.skip("no CUDA device")
    try:
        return get_backend(name)
    except BackendError as exc:
        if CI or name == "cupy":
            raise
        pytest.skip(f"{name} backend unavailable: {exc.message}")


def store_code_counts(store):
    """``(V, 4) int64`` counts of the codes 0..3 (hom-ref, het, hom-alt, missing) per variant of `store`, read
    back through the reader."""
    import numpy as np

    out = np.zeros((store.n_variants, 4), dtype=np.int64)
    for block in store.blocks():
        codes = block.codes()
        rows = slice(block.variant_offset, block.variant_offset + block.n_variants)
        for k in range(4):
            out[rows, k] = (codes == k).sum(axis=1)
    return out


def run_cli(*args, check=True, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run the ``gdbtools`` CLI of this interpreter's environment."""
    cmd = [sys.executable, "-m", "gdbtools", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# Real call sets that several test directories ingest with the same options (one session-wide store each, in
# tests/conftest.py): paths under the shared data directory.
KG22 = "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"  # 1,092 samples x 19,773 variants
KG22_META = "1kg_phase1_chr22_1092/1KG_phase1_chr22_samples.tsv"
HM = "hapmap2_snprelate_279/hapmap_geno_snprelate_hg18.vcf.gz"  # 279 samples x 9,088 SNPs
HM_META = "hapmap2_snprelate_279/hapmap_geno_samples.tsv"


def tree_fingerprint(path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every file under `path`, sorted: changes when a file is written."""
    from pathlib import Path

    root = Path(path)
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*") if p.is_file())
