"""Errors of declared pipelines: an invalid file, a step that failed, a run interrupted or locked out.

Each is a :class:`~gdbtools.errors.GdbError` (printed without a traceback by the CLI) and carries the exit
status that ``gdbtools run`` ends with (:attr:`PipelineError.exit_code`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GdbError

__all__ = ["PipelineError", "Problem", "PipelineInvalid", "StepFailed", "RunInterrupted", "PipelineBusy"]


class PipelineError(GdbError):
    """Base class of the pipeline's errors."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a pipeline file: where (``line 12, steps[2].by``), what, and how to fix it."""

    where: str
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return text + (f"\n    fix: {self.fix}" if self.fix else "")


class PipelineInvalid(PipelineError):
    """The pipeline file does not validate; :attr:`problems` lists every problem found (all at once)."""

    def __init__(self, problems: list[Problem], file: str | None = None):
        self.problems = list(problems)
        if len(self.problems) == 1:
            p = self.problems[0]
            super().__init__(p.message, file=file, where=p.where or None, fix=p.fix)
        else:
            body = "\n".join("  " + str(p).replace("\n", "\n  ") for p in self.problems)
            super().__init__(f"{len(self.problems)} problems in the pipeline:\n{body}", file=file)

    def __reduce__(self):
        return (type(self), (self.problems, self.file))


class StepFailed(PipelineError):
    """A step raised: :attr:`step` names it, :attr:`cause` is the original error, :attr:`record` the run
    record's path. Exit status 2 when the cause is a user error (bad input), 1 when it is a crash."""

    def __init__(self, step: str, kind: str, cause: BaseException, record: str | None):
        self.step, self.kind, self.cause, self.record = step, kind, cause, record
        self.exit_code = 2 if isinstance(cause, GdbError) else 1
        if isinstance(cause, GdbError):
            head = ": ".join(part for part in (cause.file, cause.where) if part)
            detail, fix = (f"{head}: {cause.message}" if head else cause.message), cause.fix
        else:
            detail, fix = f"{type(cause).__name__}: {cause}", "see the traceback"
        fix = (f"{fix}; then " if fix else "") + "run the same pipeline again (finished steps are skipped)"
        where = f"step '{step}'" + (f" ({kind})" if kind != step else "")
        super().__init__(f"{where} failed: {detail}" + (f"\n  run record: {record}" if record else ""), fix=fix)

    def __reduce__(self):
        return (type(self), (self.step, self.kind, self.cause, self.record))


class RunInterrupted(PipelineError):
    """The run got SIGTERM (scancel, a time limit, preemption) or SIGINT; exit status 128 + the signal."""

    def __init__(self, signum: int, step: str | None = None, record: str | None = None):
        import signal

        self.signum, self.step, self.record = signum, step, record
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name if signum in {s.value for s in signal.Signals} else str(signum)
        at = f" during step '{step}'" if step else ""
        super().__init__(f"interrupted by {name}{at}",
                         fix="run the same pipeline again: finished steps are skipped and the ingest resumes "
                             "from its last complete block" + (f"; the run record is {record}" if record else ""))

    def __reduce__(self):
        return (type(self), (self.signum, self.step, self.record))


class PipelineBusy(PipelineError):
    """Another run holds the pipeline's lock (exit status 75, EX_TEMPFAIL: try again later)."""

    exit_code = 75
