"""Fixtures of the report tests: HapMap II (279 samples, 4 populations, chrX; NCBI36) ingested, its QC
directories (with and without chrX and batches) and their reports (session-wide, read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stats_oracles import HM, HM_META


@pytest.fixture(scope="session")
def report_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def hm_store(data_dir, report_tmp):
    from gdbtools.ingest import ingest

    return ingest(data_dir / HM, report_tmp / "hm_store", metadata=data_dir / HM_META, workers=1, progress=False)


def _qc(store, out: Path, **options):
    from gdbtools import open as open_cohort
    from gdbtools.optionsets import QcOptions
    from gdbtools.outputs import write_qc

    opts = QcOptions(backend="numpy", **options)
    cohort = open_cohort(store.path, backend="numpy")
    if opts.regions:
        cohort = cohort.select(region=list(opts.regions))
    write_qc(cohort, opts, out)
    return out


@pytest.fixture(scope="session")
def hm_qc(hm_store, report_tmp) -> Path:
    """Every QC output: the populations as batches (a real, strong "batch" effect) and as outlier groups."""
    return _qc(hm_store, report_tmp / "qc_full", batch_by="pop.group", outliers_by="pop.group")


@pytest.fixture(scope="session")
def hm_qc_autosomes(hm_store, report_tmp) -> Path:
    """Chromosomes 1-22 only and no batch column: no sex check, no batch check."""
    return _qc(hm_store, report_tmp / "qc_auto", regions=tuple(str(c) for c in range(1, 23)))


@pytest.fixture(scope="session")
def hm_report(hm_store, hm_qc, report_tmp) -> Path:
    from gdbtools.optionsets import ReportOptions
    from gdbtools.report import write_report

    out = report_tmp / "report.html"
    write_report(hm_store, hm_qc, out, ReportOptions(hwe_by="pop.group", backend="numpy"))
    return out
