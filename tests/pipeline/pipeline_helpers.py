"""Helpers of the pipeline tests (also used by tests/cluster/test_slurm_gdbtools.py).

``HAVE_STATS`` says whether the statistics (``gdbtools.cohort`` and the ``freq``/``qc`` commands) import; the
tests of the freq and qc steps are marked ``needs_stats`` and skip with the import error as their reason
until they do.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

try:
    import gdbtools.cohort
    import gdbtools.outputs  # noqa: F401 - what the freq and qc steps (and commands) call
except ImportError as exc:  # pragma: no cover - depends on what has landed
    HAVE_STATS, STATS_REASON = False, f"needs the statistics: gdbtools.cohort / gdbtools freq|qc do not import ({exc})"
else:
    HAVE_STATS, STATS_REASON = True, ""

needs_stats = pytest.mark.skipif(not HAVE_STATS, reason=STATS_REASON or "statistics present")

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HAIL = DATA / "hail_gatk_100" / "multipleChromosomes.vcf.gz"          # 100 samples, 22 contigs x 16 sites
CHR22 = DATA / "1kg_phase1_chr22_1092" / "1KG_phase1_release_v3_chr22.vcf.gz"   # 1,092 samples, 19,773 sites


def vcf_samples(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    raise AssertionError(f"{path}: no #CHROM line")


def write_metadata(vcf: Path, out: Path) -> Path:
    """A metadata TSV for the VCF's samples: sex, population (3 groups) and sequencing pipeline (2 batches)."""
    rows = [{"sample": s, "sex": "male" if i % 2 else "female", "population": ("nfe", "afr", "eas")[i % 3],
             "pipeline": "gatk-4.2" if i % 4 else "gatk-4.6"} for i, s in enumerate(vcf_samples(vcf))]
    pd.DataFrame(rows).to_csv(out, sep="\t", index=False)
    return out


def make_delivery(directory: Path, vcf: Path = HAIL, copy: bool = False) -> Path:
    """A delivery directory: the VCF and its index (linked, or copied to be modified) and samples.tsv."""
    directory.mkdir(parents=True, exist_ok=True)
    for src in (vcf, Path(f"{vcf}.tbi")):
        dst = directory / src.name
        if copy:
            dst.write_bytes(src.read_bytes())
        else:
            dst.symlink_to(src)
    write_metadata(vcf, directory / "samples.tsv")
    return directory


def write_pipeline(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def store_fingerprint(path) -> dict:
    """What defines a store's content (not its creation time): blocks with checksums, variant tables, samples."""
    from gdbtools.store import open_store

    st = open_store(path)
    m = st.manifest
    return {
        "blocks": [(b["path"], b["sha256"], b["n_variants"], b["first_pos"], b["last_pos"]) for b in m["blocks"]],
        "partitions": [(p["id"], p["variants_sha256"], p["n_variants"]) for p in m["partitions"]],
        "params": m["params"], "samples": m["samples"]["sha256"], "n_variants": m["n_variants"],
    }


def assert_same_store(a, b) -> None:
    """Two stores hold the same blocks (checksums), variant tables and samples."""
    from gdbtools.store import open_store

    assert store_fingerprint(a) == store_fingerprint(b)
    pd.testing.assert_frame_equal(open_store(a).variants(), open_store(b).variants())
    pd.testing.assert_frame_equal(open_store(a).samples, open_store(b).samples)


def records(workdir: Path) -> list[dict]:
    """The run records of a pipeline, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((Path(workdir) / "runs").glob("*.json"))]


def clean_env(**extra) -> dict:
    """os.environ without the variables the templates and pipelines read, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GDB_", "FAKE_GDB_")) and k != "GDBTOOLS"}
    env.update({k: str(v) for k, v in extra.items()})
    return env
