"""Progress of a statistics pass: plain lines, few and bounded, when stderr is not a terminal; a bar when it is;
named Dask tasks (``gdbtools-freq-qc-blocks``, not ``run_task``)."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import gdbtools
from gdbtools import progress
from gdbtools.progress import Progress
from gdbtools.stats.engine import schedule

LINE = re.compile(r"^gdbtools freq: (\d+)% \([\d,]+ of [\d,]+ variants\), \d+ s$|^gdbtools freq: done \([\d,]+ "
                  r"variants\), \d+ s$")


def test_plain_lines__at_most_one_per_tenth_however_many_updates():
    out = io.StringIO()
    with Progress("freq", 100_000, stream=out, interval=0, interactive=False) as bar:
        for _ in range(100_000):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 11 and all(LINE.match(line) for line in lines), lines
    assert lines[-1].startswith("gdbtools freq: done (100,000 variants)")


def test_plain_lines__none_for_a_pass_shorter_than_the_interval():
    out = io.StringIO()
    with Progress("freq", 1000, stream=out, interval=3600, interactive=False) as bar:
        for _ in range(1000):
            bar.update(1)
    assert out.getvalue() == ""


def test_bar__in_a_terminal():
    out = io.StringIO()
    with Progress("freq", 1000, stream=out, interactive=True) as bar:
        bar.update(1000)
    assert "gdbtools freq" in out.getvalue() and "variants" in out.getvalue()


def test_compute__non_tty_stderr_gets_bounded_lines(small_store, capsys, monkeypatch):
    """Every block crosses a tenth here (interval 0): still at most 11 lines per pass, and none with False."""
    monkeypatch.setattr(progress, "QUIET_INTERVAL", 0.0)
    cohort = gdbtools.open(small_store.path)
    cohort.compute(freq=True, client=False, backend="numpy")
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if line.startswith("gdbtools freq:")]
    assert 2 <= len(lines) <= 11 and lines == err, err
    cohort.compute(freq=True, client=False, backend="numpy", progress=False)
    assert capsys.readouterr().err == ""


def test_dask__tasks_are_named_after_the_pass(small_store, monkeypatch):
    from distributed import Client, LocalCluster

    monkeypatch.setattr(schedule, "TASK_VARIANTS", 1000)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        cohort = gdbtools.open(small_store.path)
        cohort.compute(freq=True, variant_qc=True, backend="numpy", progress=False)
        cohort.sex_check(backend="numpy", progress=False)
        prefixes = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))
    assert {"gdbtools-freq-qc-blocks", "gdbtools-freq-qc-samples-sum", "gdbtools-sex-check-blocks"} <= prefixes
    assert not any("run_task" in p for p in prefixes), prefixes



def test_ingest_and_verify_into_a_log_write_no_bar(small_cohort, tmp_path):
    """`gdbtools ingest` and `verify` with stderr into a file (a batch log): no bar redraws, a few lines."""
    store = tmp_path / "store"
    for args in (["ingest", small_cohort.vcf, "--metadata", small_cohort.metadata, "--out", store, "-j", "1"],
                 ["verify", store]):
        log = tmp_path / f"{args[0]}.log"
        with open(log, "w") as err:
            proc = subprocess.run([sys.executable, "-m", "gdbtools", *map(str, args)], stderr=err,
                                  stdout=subprocess.PIPE, text=True)
        text = log.read_text()
        assert proc.returncode == 0, text
        assert "\r" not in text and "variants/s" not in text, text
        assert len(text.splitlines()) <= 12, text
