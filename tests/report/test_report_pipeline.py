"""The scheduled QC job writes the report: a pipeline's `report` step after its `qc` step (as examples/pipeline.yaml
and slurm/qc_job.sbatch run it), skipped when nothing changed, rerun when the QC reruns."""

from __future__ import annotations

import pytest
from pipeline_helpers import write_pipeline

from gdbtools.pipeline import load, run
from gdbtools.pipeline.errors import PipelineInvalid
from gdbtools.report import SECTIONS


def _outcomes(result) -> dict:
    return {s["name"]: s["outcome"] for s in result.steps}


def test_pipeline_report_step__after_qc(hm_store, tmp_path):
    spec = {"inputs": {"store": str(hm_store.path)}, "outputs": {"dir": str(tmp_path / "out")},
            "steps": [{"kind": "qc", "batch_by": "pop.group", "backend": "numpy"},
                      {"kind": "report", "group_by": "pop.group", "title": "HapMap nightly"}]}
    path = write_pipeline(tmp_path / "p.yaml", spec)
    assert _outcomes(run(path, quiet=True)) == {"qc": "done", "report": "done"}
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<title>HapMap nightly</title>" in html
    assert all(f'id="{s}"' in html for s in SECTIONS)
    assert str((tmp_path / "out" / "qc").resolve()) in html  # the report names the QC directory it read
    assert _outcomes(run(path, quiet=True)) == {"qc": "skipped", "report": "skipped"}
    spec["steps"][0]["n_mads"] = 3.0  # new QC results: the report follows
    assert _outcomes(run(write_pipeline(path, spec), quiet=True)) == {"qc": "done", "report": "done"}
    assert "median +- 3.0 MADs" in (tmp_path / "out" / "report.html").read_text()


def test_pipeline_report_step__needs_a_qc_step(hm_store, tmp_path):
    with pytest.raises(PipelineInvalid, match="reads 'qc', which neither the inputs nor an earlier step provide"):
        load({"inputs": {"store": str(hm_store.path)}, "outputs": {"dir": "out"}, "steps": ["report"]},
             base_dir=tmp_path)
