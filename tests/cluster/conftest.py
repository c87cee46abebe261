"""Fixtures of the cluster tests: the single-node SLURM (tests/slurm_env.py), a fake ``gdbtools`` for the
slurm/ templates, and a clean Dask configuration.

``slurm`` starts munged, slurmctld and slurmd once per session and stops them (queue emptied, state removed)
at the end. When SLURM cannot start, the tests that need it are skipped with the reason; with ``CI=true``
they fail instead, because CI installs the packages (``apt-get install -y --no-install-recommends slurm-wlm
munge``) and must run them.
"""

from __future__ import annotations

import copy
import os
import stat
import sys
from pathlib import Path

import dask.config
import pytest
from slurm_env import APT_LINE, SlurmEnv, SlurmUnavailable, running_in_ci

import gdbtools.cluster  # noqa: F401 - registers the gdbtools.cluster defaults

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


@pytest.fixture(scope="session")
def slurm():
    """A running single-node SLURM (:class:`slurm_env.SlurmEnv`), with ``SLURM_CONF`` set in this process."""
    env, reason = None, None
    try:
        env = SlurmEnv.start()
    except SlurmUnavailable as exc:
        reason = f"single-node SLURM unavailable: {exc}"
    if env is None:  # outside the except block: the report shows the reason, not a chained traceback
        if running_in_ci():
            pytest.fail(f"{reason}\nCI=true: the tests need SLURM here (`{APT_LINE}` before pytest, as root)",
                        pytrace=False)
        pytest.skip(reason)
    env.activate()
    try:
        yield env
    finally:
        env.stop()


@pytest.fixture
def slurm_queue(slurm):
    """The SLURM, with an empty queue before the test; a job the test leaves in the queue fails it."""
    slurm.cancel_all()
    yield slurm
    left = slurm.queue()
    slurm.cancel_all()
    assert not left, f"the test left jobs in the SLURM queue: {left}"


@pytest.fixture(autouse=True)
def _clean_dask_config():
    """Each test sees the package defaults plus what it sets itself (and leaves no config behind)."""
    saved = copy.deepcopy(dask.config.config)
    try:
        yield
    finally:
        dask.config.config.clear()  # in place: dask's functions hold a reference to this dict
        dask.config.config.update(saved)
        for defaults in dask.config.defaults:  # those of libraries first imported during the test
            dask.config.update(dask.config.config, copy.deepcopy(defaults), priority="old")


@pytest.fixture
def fake_gdbtools(tmp_path, monkeypatch):
    """Put a fake ``gdbtools`` (fake_gdbtools.py: the CLI contract of the templates) first on PATH, also for
    jobs submitted from this test; returns the file its invocations are logged to."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    shim = bin_dir / "gdbtools"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).with_name("fake_gdbtools.py")}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    calls = tmp_path / "gdbtools-calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GDB_LOG", str(calls))
    for name in ("GDBTOOLS", "GDB_ENV", "GDB_MODULES", "GDB_STORE", "GDB_OUT", "GDB_DELIVERY", "GDB_STEPS",
                 "FAKE_GDB_FAIL", "FAKE_GDB_VERBS", "FAKE_GDB_PARTITIONS", "FAKE_GDB_SLEEP"):
        monkeypatch.delenv(name, raising=False)
    return calls
