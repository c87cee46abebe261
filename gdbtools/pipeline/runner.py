"""Running a validated pipeline: skip what is up to date, run the rest in order, record everything.

A step is *up to date*, and skipped, when its last successful run (``<workdir>/state/<step>.json``) had the
same fingerprint (kind and its version, the parameters that affect results, the checksums of its inputs,
its output paths) and its outputs are still there, unchanged. Otherwise it runs; a step that a killed run
left unfinished runs again (the ingest then resumes inside the store).

One run at a time per work directory (``<workdir>/state/lock``, a ``flock``): a second one stops at once
with :class:`~gdbtools.pipeline.errors.PipelineBusy`. SIGTERM (``scancel``, a SLURM time limit, preemption)
and SIGINT end the run cleanly: the current step is marked interrupted in the run record.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..options import fingerprint_params
from .errors import PipelineBusy, RunInterrupted, StepFailed
from .record import (
    RECORD_FORMAT,
    RECORD_VERSION,
    Checksums,
    fingerprint,
    host_info,
    slurm_info,
    software_versions,
    utc_now,
    write_json,
)
from .spec import Pipeline, StepSpec, load

__all__ = ["run", "RunResult", "StepContext"]


class _Interrupt(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@dataclass
class StepContext:
    """What a step function gets: its options (the kind's options dataclass), its inputs' paths, where to
    write, and a logger. A step writes its outputs whole or not at all (:func:`gdbtools.outputs.replacing`)."""

    name: str
    kind: str
    options: Any
    inputs: dict[str, Any]
    outputs: dict[str, str]
    pipeline: Pipeline
    previous: dict | None = None
    interrupted_here: bool = False   # a previous run stopped during this step (it was started, not finished)
    quiet: bool = False
    progress: bool = False

    def log(self, text: str) -> None:
        if not self.quiet:
            print(f"gdbtools run: {self.name}: {text}", file=sys.stderr, flush=True)

    @property
    def output(self) -> str:
        """The path of the step's only output."""
        (path,) = self.outputs.values()
        return path

@dataclass
class RunResult:
    """The outcome of :func:`run`: the run record (a dict) and where it was written."""

    record: dict
    record_path: Path | None
    steps: list[dict] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.record["outcome"]

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"

    @property
    def outputs(self) -> dict[str, Any]:
        return self.record.get("outputs", {})

    def step(self, name: str) -> dict:
        return next(s for s in self.steps if s["name"] == name)


def run(pipeline, *, force=(), dry_run: bool = False, quiet: bool = False, progress: bool | None = None,
        base_dir=None, environ: dict | None = None) -> RunResult:
    """Run a pipeline: a YAML file's path, its content as a dict, or a loaded :class:`Pipeline`.

    Parameters
    ----------
    force
        Names of steps to run even when up to date (``True`` or ``"all"``: every step).
    dry_run
        Only say which steps would run and why; nothing is written.
    quiet
        No progress messages (the run record is written all the same).
    progress
        Progress bars inside steps (default: when stderr is a terminal and not ``quiet``).
    base_dir, environ
        As for :func:`~gdbtools.pipeline.spec.load`.

    Returns a :class:`RunResult`. Raises :class:`~gdbtools.pipeline.errors.PipelineInvalid` before running
    anything when the pipeline does not validate, :class:`~gdbtools.pipeline.errors.StepFailed` (naming the
    step, with the run record's path) when a step fails, :class:`~gdbtools.pipeline.errors.RunInterrupted`
    on SIGTERM/SIGINT and :class:`~gdbtools.pipeline.errors.PipelineBusy` when another run holds the lock.
    """
    p = load(pipeline, base_dir=base_dir, environ=environ)
    if force is True or force == "all" or (not isinstance(force, str) and "all" in (force or ())):
        forced = {s.name for s in p.steps}
    else:
        forced = {force} if isinstance(force, str) else set(force or ())
        unknown = forced - {s.name for s in p.steps}
        if unknown:
            from .errors import PipelineError

            raise PipelineError(f"no step named {', '.join(sorted(unknown))} in this pipeline",
                                file=p.path, fix=f"the steps are: {', '.join(s.name for s in p.steps)}")
    if progress is None:
        progress = not quiet and sys.stderr.isatty()
    runner = _Runner(p, forced, quiet=quiet, progress=progress, dry_run=dry_run)
    if dry_run:
        return runner.execute()
    (p.workdir / "state").mkdir(parents=True, exist_ok=True)
    with _locked(p.workdir / "state" / "lock", p):
        return runner.execute()


@contextlib.contextmanager
def _locked(path: Path, p: Pipeline):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = f" (held by {os.pread(fd, 200, 0).decode().strip()})"
            raise PipelineBusy(f"another run of this pipeline is in progress{holder}", file=p.path,
                               fix=f"wait for it to finish (its lock is {path}), then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {host_info()['hostname']}, job {os.environ.get('SLURM_JOB_ID', '-')}"
                  .encode(), 0)
        yield
    finally:
        os.close(fd)


class _Runner:
    def __init__(self, p: Pipeline, forced: set[str], *, quiet: bool, progress: bool, dry_run: bool):
        self.p, self.forced, self.quiet, self.progress, self.dry_run = p, forced, quiet, progress, dry_run
        self.state_dir = p.workdir / "state"
        self.checks = Checksums(self.state_dir / "checksums.json", p.checksum)
        self.run_id = uuid.uuid4().hex[:8]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")  # microseconds: runs sort by name in order
        self.record_path = None if dry_run else p.workdir / "runs" / f"{stamp}-{self.run_id}.json"
        self.client_stack = contextlib.ExitStack()
        self.cluster_info: dict | None = None
        self.current: str | None = None

    def log(self, text: str) -> None:
        if not self.quiet:
            print(f"gdbtools run: {text}", file=sys.stderr, flush=True)

    # -- the record -------------------------------------------------------------------------------------------
    def _new_record(self) -> dict:
        p = self.p
        return {
            "format": RECORD_FORMAT, "format_version": RECORD_VERSION, "run_id": self.run_id,
            "pipeline": {"name": p.name, "path": p.path, "sha256": p.sha256, "workdir": str(p.workdir),
                         "environment_variables": p.env, "definition": p.data},
            "started": utc_now(), "finished": None, "seconds": None, "outcome": "running",
            "failed_step": None, "error": None,
            "host": host_info(), "slurm": slurm_info(), "software": software_versions(), "cluster": None,
            "inputs": [], "steps": [], "outputs": {},
        }

    def _save(self, record: dict) -> None:
        if self.record_path is not None:
            write_json(self.record_path, record)

    # -- the state of a step ----------------------------------------------------------------------------------
    def _state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def _started_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.started.json"

    def _read(self, path: Path) -> dict | None:
        import json

        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _why(self, spec: StepSpec, parts: dict, previous: dict | None) -> list[str]:
        """Why the step must run (empty: it is up to date)."""
        if spec.name in self.forced:
            return ["forced"]
        if previous is None:
            if self._started_file(spec.name).exists():
                return ["a previous run stopped during this step"]
            return ["no earlier run"]
        old = previous.get("parts", {})
        reasons = []
        if old.get("kind") != parts["kind"] or old.get("version") != parts["version"]:
            reasons.append("the step kind changed")
        changed = sorted(k for k in set(old.get("params", {})) | set(parts["params"])
                         if old.get("params", {}).get(k) != parts["params"].get(k))
        if changed:
            reasons.append(f"parameters changed: {', '.join(changed)}")
        changed = sorted(k for k in set(old.get("inputs", {})) | set(parts["inputs"])
                         if old.get("inputs", {}).get(k) != parts["inputs"].get(k))
        if changed:
            reasons.append(f"inputs changed: {', '.join(changed)}")
        if old.get("outputs") != parts["outputs"]:
            reasons.append("output paths changed")
        if not reasons:
            for art, path in spec.outputs.items():
                now = self.checks.of(path)
                if now is None:
                    reasons.append(f"output missing: {path}")
                elif now != previous.get("output_checksums", {}).get(art):
                    reasons.append(f"output changed since it was written: {path}")
        return reasons

    # -- cluster ----------------------------------------------------------------------------------------------
    def _ensure_cluster(self) -> None:
        if self.p.cluster is None or self.cluster_info is not None:
            return
        from .. import cluster as gc

        kind, settings = self.p.cluster["kind"], self.p.cluster["settings"]
        self.log(f"starting the Dask cluster ({kind})")
        client = self.client_stack.enter_context(gc.cluster(kind, quiet=self.quiet, **settings))
        self.cluster_info = {"kind": kind, "settings": settings, "scheduler": client.scheduler.address,
                             "dashboard": client.dashboard_link}

    # -- the run ----------------------------------------------------------------------------------------------
    def execute(self) -> RunResult:
        p = self.p
        record = self._new_record()
        start = time.monotonic()
        artifacts: dict[str, Any] = dict(p.inputs)
        sums: dict[str, Any] = {}
        entries = [{"name": s.name, "kind": s.kind, "outcome": "not run", "params": s.params, "outputs": s.outputs}
                   for s in p.steps]
        record["steps"] = entries
        self._save(record)
        restore = self._install_signals()
        entry = None
        try:
            for art, value in artifacts.items():
                sums[art] = self.checks.artifact(value)
                if art == "vcf":
                    record["inputs"] += [{"name": "vcf", "path": path, "size": os.path.getsize(path), "checksum": c}
                                         for path, c in sums[art]]
                else:
                    record["inputs"].append({"name": art, "path": value, "checksum": sums[art]})
            if not self.dry_run:
                self.checks.save()
                self.log(f"pipeline {p.name!r}: {len(p.steps)} steps; run {self.run_id}; record {self.record_path}")
            for spec, entry in zip(p.steps, entries):
                self.current = spec.name
                self._step(spec, entry, artifacts, sums, record)
                self._save(record)
            entry = None
            record["outcome"] = "dry run" if self.dry_run else "succeeded"
            record["outputs"] = {art: artifacts[art] for s in p.steps for art in s.outputs}
        except _Interrupt as exc:
            record["outcome"] = "interrupted"
            record["failed_step"] = self.current
            record["error"] = {"type": "signal", "signal": exc.signum, "message": f"signal {exc.signum}"}
            if entry is not None and entry["outcome"] == "running":
                entry["outcome"] = "interrupted"
            raise RunInterrupted(exc.signum, self.current, str(self.record_path) if self.record_path else None) \
                from None
        except KeyboardInterrupt:
            record["outcome"], record["failed_step"] = "interrupted", self.current
            record["error"] = {"type": "signal", "signal": int(signal.SIGINT), "message": "SIGINT"}
            if entry is not None and entry["outcome"] == "running":
                entry["outcome"] = "interrupted"
            raise RunInterrupted(int(signal.SIGINT), self.current,
                                 str(self.record_path) if self.record_path else None) from None
        except Exception as exc:
            from ..errors import GdbError

            record["outcome"], record["failed_step"] = "failed", self.current
            record["error"] = {"type": type(exc).__name__, "message": getattr(exc, "message", str(exc)),
                               "fix": getattr(exc, "fix", None), "file": getattr(exc, "file", None),
                               "where": getattr(exc, "where", None)}
            if not isinstance(exc, GdbError):
                record["error"]["traceback"] = traceback.format_exc()
            if entry is not None:
                entry["outcome"] = "failed"
                entry["error"] = record["error"]
            failed = next((s for s in p.steps if s.name == self.current), None)
            raise StepFailed(self.current or "?", failed.kind if failed else "?", exc,
                             str(self.record_path) if self.record_path else None) from exc
        finally:
            with contextlib.suppress(Exception):
                self.client_stack.close()
            restore()
            record["cluster"] = self.cluster_info
            record["finished"] = utc_now()
            record["seconds"] = round(time.monotonic() - start, 3)
            record["software"] = software_versions()  # now with htslib, if a step read VCFs
            if not self.dry_run:
                with contextlib.suppress(Exception):
                    self.checks.save()
            self._save(record)
            self._finish_message(record)
        return RunResult(record, self.record_path, entries)

    def _step(self, spec: StepSpec, entry: dict, artifacts: dict, sums: dict, record: dict) -> None:
        sk = spec.step_kind
        inputs = {art: artifacts[art] for art in sk.inputs}
        inputs.update({art: artifacts[art] for art in sk.optional_inputs if art in artifacts})
        fingerprinted = {art: sums.get(art) for art in inputs}
        for key in sk.file_options:  # files named by options (phenotypes, genes, masks): their content counts too
            if getattr(spec.options, key) is not None:
                fingerprinted[f"{key} (option)"] = self.checks.of(getattr(spec.options, key))
        parts = {"kind": spec.kind, "version": sk.version, "params": fingerprint_params(spec.options),
                 "inputs": fingerprinted, "outputs": spec.outputs}
        fp = fingerprint(parts)
        entry.update({"fingerprint": fp, "inputs": parts["inputs"]})
        previous = self._read(self._state_file(spec.name))
        reasons = self._why(spec, parts, previous)
        if not reasons:
            assert previous is not None  # up to date means a previous run
            entry.update({"outcome": "skipped", "reason": "up to date (inputs, parameters and outputs unchanged)",
                          "output_checksums": previous.get("output_checksums"), "last_run": previous.get("run_id"),
                          "last_finished": previous.get("finished")})
            self.log(f"step {spec.name}: up to date, skipped (last run {previous.get('finished')})")
            for art, path in spec.outputs.items():
                artifacts[art], sums[art] = path, previous["output_checksums"][art]
            return
        entry["reason"] = "; ".join(reasons)
        if self.dry_run:
            entry["outcome"] = "would run"
            self.log(f"step {spec.name}: would run ({entry['reason']})")
            for art, path in spec.outputs.items():
                artifacts[art], sums[art] = path, f"pending:{spec.name}"
            return
        self.log(f"step {spec.name}: running ({entry['reason']})")
        self._ensure_cluster()
        started = self._started_file(spec.name)
        interrupted_here = started.exists()
        write_json(started, {"run_id": self.run_id, "fingerprint": fp, "outputs": spec.outputs, "started": utc_now()})
        ctx = StepContext(name=spec.name, kind=spec.kind, options=spec.options, inputs=inputs,
                          outputs=dict(spec.outputs), pipeline=self.p, previous=previous,
                          interrupted_here=interrupted_here, quiet=self.quiet, progress=self.progress)
        entry.update({"outcome": "running", "started": utc_now()})
        self._save(record)
        t0 = time.monotonic()
        result = spec.step_kind.func(ctx) or {}
        seconds = round(time.monotonic() - t0, 3)
        out_sums = {}
        for art, path in spec.outputs.items():
            out_sums[art] = self.checks.of(path)
            if out_sums[art] is None:
                raise RuntimeError(f"step {spec.name!r} finished without writing its output {path}")
        write_json(self._state_file(spec.name), {
            "name": spec.name, "fingerprint": fp, "parts": parts, "output_checksums": out_sums,
            "run_id": self.run_id, "finished": utc_now(), "seconds": seconds, "results": result})
        started.unlink(missing_ok=True)
        entry.update({"outcome": "done", "finished": utc_now(), "seconds": seconds, "results": result,
                      "output_checksums": out_sums})
        self.log(f"step {spec.name}: done in {seconds:.1f} s")
        for art, path in spec.outputs.items():
            artifacts[art], sums[art] = path, out_sums[art]

    def _finish_message(self, record: dict) -> None:
        counts: dict[str, int] = {}
        for s in record["steps"]:
            counts[s["outcome"]] = counts.get(s["outcome"], 0) + 1
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        if self.dry_run:
            self.log(f"dry run: {summary}")
        else:
            self.log(f"{record['outcome']} in {record['seconds']:.1f} s ({summary}); run record: {self.record_path}")

    # -- signals ----------------------------------------------------------------------------------------------
    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)
        fired = []

        def on_term(signum, frame):
            if fired:  # once: let the first one unwind and write the record
                return
            fired.append(signum)
            raise _Interrupt(signum)

        signal.signal(signal.SIGTERM, on_term)

        def restore():
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

        return restore
