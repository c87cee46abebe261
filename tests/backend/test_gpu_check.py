"""scripts/gpu-check on a machine without a GPU (CI): every step that needs no device runs, then the check
exits with status 3 and says why; and the synthetic store it builds matches an ingested store's layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdbtools.backend.cupy_backend import gpu_available
from gdbtools.simulate_store import VARIANT_SCHEMA, write_synthetic_store
from gdbtools.store.bitplanes import unpack_codes

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: the check would run on it")
def test_gpu_check__without_a_device_runs_the_host_steps_and_exits_3(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, GDBTOOLS_WHEELS=str(tmp_path / "no-wheels"), PYTHON=sys.executable)
    env.pop("OUT", None)
    proc = subprocess.run([str(REPO / "scripts" / "gpu-check"), "--out", str(out), "--samples", "300",
                           "--variants", "3000", "--store-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("no CUDA device: ")
    results = json.loads((out / "results.json").read_text())
    assert results["errors"] == []
    assert "none" in results["device"] and results["environment"]["packages"]["numpy"] == np.__version__
    assert [p["run"] for p in results["passes"]] == ["host"]
    assert results["store"]["variants"] == 3000 and results["io"]["blocks"] == results["store"]["blocks"]
    decode = results["decode"]  # the batched decode section, on the host backend's twin
    assert decode["ok"] and decode["backend"] == "host" and not decode["on_device"]
    assert {k: v["encoding"] for k, v in decode["parity"].items()} == {"hybrid2": "hybrid2", "dense2": "dense2"}
    assert decode["throughput"]["blocks"] == results["store"]["blocks"]
    summary = (out / "summary.md").read_text()
    assert "no CUDA device" in summary and "| host |" in summary and "Block decoding by the backend" in summary
    assert not any(p.name.startswith("gdb-gpu-check-") for p in tmp_path.iterdir())  # the store is removed


def test_simulate_store__schema_is_the_ingest_schema():
    pytest.importorskip("cyvcf2")  # the ingest imports htslib
    from gdbtools.ingest.rows import variant_schema

    assert VARIANT_SCHEMA == variant_schema({}, False)


def test_simulate_store__same_store_whatever_the_workers_and_realistic_calls(tmp_path):
    one = write_synthetic_store(tmp_path / "one", 200, 3000, block_size=512, blocks_per_partition=2, workers=1)
    two = write_synthetic_store(tmp_path / "two", 200, 3000, block_size=512, blocks_per_partition=2, workers=2)
    assert [b["sha256"] for b in one.blocks_meta] == [b["sha256"] for b in two.blocks_meta]
    assert one.variants().equals(two.variants())
    codes = np.concatenate([unpack_codes(b.lo, b.hi, 200, b.fail) for b in one.blocks()])  # adj view
    raw = np.concatenate([unpack_codes(b.lo, b.hi, 200) for b in one.blocks()])
    assert codes.shape == (3000, 200)
    assert 0.005 < (raw == 3).mean() < 0.03  # about 1 % missing
    assert 0.001 < ((codes == 3) & (raw != 3)).mean() < 0.01  # about 0.5 % failing calls
    v = one.variants()
    x_nonpar = (v["contig"] == "chrX").to_numpy() & (v["pos"] > 2_781_479).to_numpy()
    xy = (one.samples["sex"] == "XY").to_numpy()
    assert x_nonpar.any() and not (raw[np.ix_(x_nonpar, xy)] == 1).any()  # haploid: no het calls
    alt = (raw == 1) + 2 * (raw == 2)
    af = alt[~x_nonpar].sum(axis=1) / (2 * (raw[~x_nonpar] != 3).sum(axis=1))
    assert 0.15 < (af < 1 / 200).mean() and (af > 0.05).mean() < 0.4  # mostly rare variants
    ti = v["allele_type"].eq("SNP") & v["is_transition"]
    tv = v["allele_type"].eq("SNP") & ~v["is_transition"]
    assert 1.6 < ti.sum() / tv.sum() < 2.5


def test_gpu_wheels__nvcomp_wheels_are_installed_when_nvcomp_is_missing(tmp_path):
    """``bench/gpu_wheels.py missing`` (what scripts/gpu-check installs) picks the folder's nvCOMP wheels (both
    CUDA majors) when ``nvidia.nvcomp`` does not import here; never a compiled wheel of another CPython."""
    import importlib.util

    names = ["nvidia_nvcomp_cu12-6.0.0.12-py3-none-manylinux_2_28_x86_64.whl",
             "nvidia_libnvcomp_cu13-6.0.0.12-py3-none-manylinux_2_28_x86_64.whl",
             "zstandard-0.23.0-cp39-cp39-manylinux_2_17_x86_64.whl"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_wheels.py"), "missing", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=True)
    missing, files = (proc.stdout.splitlines() + ["", ""])[:2]
    try:
        has_nvcomp = importlib.util.find_spec("nvidia.nvcomp") is not None
    except ImportError:
        has_nvcomp = False
    assert ("nvidia.nvcomp" in missing.split()) == (not has_nvcomp)
    picked = sorted(Path(f).name for f in files.split())
    assert picked == ([] if has_nvcomp else sorted(names[:2]))
