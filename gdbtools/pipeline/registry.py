"""The step registry: a step kind is a small function with declared parameters, inputs and outputs.

::

    from gdbtools.pipeline import Param, step

    @step("export", inputs=("freq",), outputs={"{name}": "{dir}/{name}"},
          params={"min_ac": Param("int", 0, "suppress counts below this")})
    def export_step(ctx):
        \"\"\"Sites-only VCF and TSV of a frequency table.\"\"\"
        table = ctx.inputs["freq"]           # the path of the step output named "freq"
        with ctx.output_dir("{name}") as out:   # written to a temporary directory, renamed when done
            ...
        return {"n_rows": ...}               # recorded in the run record

- ``inputs`` name the *artifacts* a step reads: ``vcf`` (the input files), ``metadata`` (the sample TSV),
  ``store`` (the cohort store: ``inputs.store``, or what an ingest step wrote), or the name of an earlier
  step (its output). ``optional_inputs`` may be absent.
- ``outputs`` map artifact names to default paths; ``{name}`` is the step's name, ``{dir}`` the pipeline's
  ``outputs.dir`` and ``{store}`` its ``outputs.store``. A step's ``out:`` key overrides the path of its
  (single) output.
- ``params`` declare each parameter once (type, default, one line of meaning); the pipeline file is validated
  against them before anything runs.
- ``requires`` names modules that must be importable (checked up front, with a clear error).
- ``version``: bump it when a step's results change for the same inputs and parameters; finished steps of
  the older version then rerun.

The runner decides whether a step runs: it is skipped when its inputs (checksums), its parameters, its kind's
version and its output paths are those of its last successful run and its outputs are unchanged.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Param", "StepKind", "STEPS", "step", "known_kinds"]

#: built-in artifacts a step may read (besides the outputs of earlier steps)
PIPELINE_ARTIFACTS = {"vcf": "inputs.vcf", "metadata": "inputs.metadata", "store": "the cohort store"}


@dataclass(frozen=True)
class Param:
    """A declared step parameter.

    ``type`` is one of ``str``, ``int``, ``float``, ``bool``, ``strs`` (a list of strings; a single string is
    taken as a list of one), ``mapping`` or ``any``; several may be joined with ``|`` (``"bool|mapping"``).
    ``nullable`` allows ``null``; ``choices`` restricts the values; ``check(value)`` returns an error text or
    None; ``fingerprint=False`` marks a setting that does not change the results (changing it reruns nothing).
    """

    type: str
    default: Any = None
    doc: str = ""
    choices: tuple | None = None
    nullable: bool = False
    minimum: float | None = None
    check: Callable[[Any], str | None] | None = None
    #: False for settings that do not change the results (workers, overwrite): left out of the fingerprint
    fingerprint: bool = True

    def coerce(self, value: Any) -> tuple[Any, str | None]:
        """``(value, None)`` when ``value`` is valid (a lone string becomes a list for ``strs``), else
        ``(None, what is wrong)``."""
        if value is None:
            return (None, None) if self.nullable or self.default is None else (None, "must not be null")
        for kind in self.type.split("|"):
            ok, coerced = _match(kind, value)
            if ok:
                if self.choices is not None and coerced not in self.choices:
                    return None, f"must be one of {', '.join(map(str, self.choices))} (got {value!r})"
                if self.minimum is not None and isinstance(coerced, (int, float)) and coerced < self.minimum:
                    return None, f"must be at least {self.minimum} (got {value!r})"
                if self.check is not None:
                    problem = self.check(coerced)
                    if problem:
                        return None, problem
                return coerced, None
        return None, f"must be {_describe(self.type)}, not {type(value).__name__} {value!r}"


def _match(kind: str, value: Any) -> tuple[bool, Any]:
    if kind == "any":
        return True, value
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(
            value, (int, float)) else value
    if kind == "str":
        return isinstance(value, str), value
    if kind == "strs":
        if isinstance(value, str):
            return True, [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return True, list(value)
        return False, value
    if kind == "mapping":
        return isinstance(value, dict), value
    raise ValueError(f"unknown parameter type {kind!r}")


def _describe(types: str) -> str:
    words = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
             "strs": "a string or a list of strings", "mapping": "a mapping (key: value lines)", "any": "anything"}
    return " or ".join(words[t] for t in types.split("|"))


@dataclass(frozen=True)
class StepKind:
    """A registered step kind (see the module docstring)."""

    name: str
    func: Callable[[Any], dict | None]
    doc: str
    params: dict[str, Param] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    version: int = 1

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def help(self) -> str:
        """A few lines for ``gdbtools run --list-steps``."""
        lines = [f"{self.name}: {self.summary}"]
        reads = list(self.inputs) + [f"{i} (optional)" for i in self.optional_inputs]
        lines.append(f"    reads: {', '.join(reads) or '-'}; writes: "
                     f"{', '.join(self.outputs.values()) or '-'}"
                     + (f"; needs: {', '.join(self.requires)}" if self.requires else ""))
        for key, p in self.params.items():
            default = "null" if p.default is None else repr(p.default).replace("True", "true").replace("False", "false")
            lines.append(f"    {key} ({p.type}, default {default}): {p.doc}")
        return "\n".join(lines)


#: every registered step kind, by name
STEPS: dict[str, StepKind] = {}


def step(name: str, *, inputs=(), optional_inputs=(), outputs=None, params=None, requires=(), version=1):
    """Register the decorated function as step kind ``name`` (see the module docstring). The function takes a
    :class:`~gdbtools.pipeline.runner.StepContext` and returns a dict of results for the run record (or None)."""

    def register(func):
        if name in STEPS and STEPS[name].func is not func:
            raise ValueError(f"step kind {name!r} is registered already (by {STEPS[name].func.__module__})")
        STEPS[name] = StepKind(name=name, func=func, doc=inspect.getdoc(func) or "", params=dict(params or {}),
                               inputs=tuple(inputs), optional_inputs=tuple(optional_inputs),
                               outputs=dict(outputs or {}), requires=tuple(requires), version=int(version))
        return func

    return register


def known_kinds() -> list[str]:
    from . import steps  # noqa: F401 - registers the built-in steps

    return sorted(STEPS)
