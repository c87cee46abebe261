"""Options defined once: a dataclass per command, from which the CLI, the pipeline schema and the docs come.

A command's options are the fields of a frozen dataclass (:mod:`gdbtools.optionsets`); each field carries
its meaning in ``metadata`` made by :func:`option`::

    @dataclass(frozen=True)
    class FreqOptions:
        by: tuple[str, ...] = option((), "sample column to stratify by (repeatable)", cli="--by/-b")
        adj: bool = option(True, "counts after the genotype filters", cli="--adj/--raw")

From one such class come

- the click options of the command (:func:`click_options`; a value list for ``tuple[...]`` fields, a flag
  for ``bool`` ones, a ``click.Choice`` for ``choices``);
- the parameters of the pipeline step of the same kind (:func:`from_mapping`: types, choices, minimum
  checked, every problem reported with the key and a fix);
- the reference in ``docs/OPTIONS.md`` (:func:`markdown`).

This module imports only the standard library (and click when click options are made): the CLI's cold start
builds its options from it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["Spec", "option", "yaml_value", "specs", "click_options", "from_mapping", "from_kwargs", "as_params",
           "fingerprint_params", "markdown"]

_KEY = "gdbtools"


@dataclass(frozen=True)
class Spec:
    """One option: ``name`` (the field, the pipeline key), its type, default, meaning and CLI spelling.

    ``kind`` is ``str``, ``int``, ``float``, ``bool``, ``strs`` or ``floats`` (a tuple of strings or of numbers:
    a repeatable CLI option, a list in YAML); ``nullable`` when the annotation allows ``None``; ``required``:
    the command and a pipeline step of its kind must give it (its default is ``None``).
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    nullable: bool = False
    cli: str | None = None
    fingerprint: bool = True
    required: bool = False

    @property
    def flags(self) -> list[str]:
        """The click declarations: ``["--by", "-b"]`` or ``["--adj/--raw"]``."""
        return (self.cli or "--" + self.name.replace("_", "-")).split("|")

    def type_text(self) -> str:
        text = {"strs": "list of str", "floats": "list of float"}.get(self.kind, self.kind)
        if self.choices:
            text = " | ".join(map(str, self.choices))
        return text + (" or null" if self.nullable else "")

    def check(self, value: Any) -> tuple[Any, str | None]:
        """``(value, None)`` when ``value`` fits (a lone string becomes a list of one), else ``(None, why)``."""
        if value is None:
            return (None, None) if self.nullable else (None, "must not be null")
        ok = {"bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}
        if self.kind == "strs":
            if isinstance(value, str):
                value = [value]
            if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
                return None, f"must be a string or a list of strings, not {type(value).__name__} {value!r}"
            return tuple(value), None
        if self.kind == "floats":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = [value]
            if not (isinstance(value, (list, tuple)) and all(ok["float"](v) for v in value)):
                return None, f"must be a number or a list of numbers, not {type(value).__name__} {value!r}"
            if self.minimum is not None and any(v < self.minimum for v in value):
                return None, f"must be at least {self.minimum} (got {list(value)!r})"
            return tuple(float(v) for v in value), None
        if not ok[self.kind](value):
            words = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}
            return None, f"must be {words[self.kind]}, not {type(value).__name__} {value!r}"
        if self.kind == "float":
            value = float(value)
        if self.choices is not None and value not in self.choices:
            return None, f"must be one of {', '.join(map(str, self.choices))} (got {value!r})"
        if self.minimum is not None and value < self.minimum:
            return None, f"must be at least {self.minimum} (got {value!r})"
        return value, None


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           cli: str | None = None, fingerprint: bool = True, required: bool = False) -> Any:
    """A dataclass field with its option metadata.

    ``cli``: the click declaration(s), ``|``-separated (default ``--field-name``; ``"--adj/--raw"`` for an
    on/off pair). ``fingerprint=False`` marks a setting that does not change the results (workers,
    overwrite): a pipeline step does not rerun when only it changes. ``required=True`` (with default ``None``):
    the command line and a pipeline step must give it.
    """
    meta = {_KEY: dict(help=help, choices=choices, minimum=minimum, cli=cli, fingerprint=fingerprint,
                       required=required)}
    return dataclasses.field(default=default, metadata=meta)


def _kind(annotation) -> tuple[str, bool]:
    nullable = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        (annotation,) = args
    if typing.get_origin(annotation) is tuple:
        return ("floats" if typing.get_args(annotation)[0] is float else "strs"), nullable
    return annotation.__name__, nullable


def specs(cls) -> list[Spec]:
    """The options of an options dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata[_KEY]
        kind, nullable = _kind(hints[f.name])
        out.append(Spec(name=f.name, kind=kind, default=f.default, nullable=nullable, **meta))
    return out


def click_options(cls):
    """A decorator adding the click options of ``cls`` to a command (the parameter names are the fields)."""
    import click

    def decorate(func):
        for s in reversed(specs(cls)):
            kw: dict[str, Any] = {"help": s.help}
            if s.kind == "bool":
                kw.update(default=s.default, show_default="/" in s.flags[0])
                if "/" not in s.flags[0]:
                    kw["is_flag"] = True
            elif s.kind in ("strs", "floats"):
                kw.update(multiple=True, default=s.default)
                if s.kind == "floats":
                    kw["type"] = click.FloatRange(min=s.minimum) if s.minimum is not None else float
            else:
                if not s.required:  # click >= 8.3 takes an explicit default=None as a value given
                    kw["default"] = s.default
                if s.choices:
                    kw["type"] = click.Choice([str(c) for c in s.choices])
                elif s.kind == "int":
                    kw["type"] = click.IntRange(min=s.minimum) if s.minimum is not None else int
                elif s.kind == "float":
                    kw["type"] = click.FloatRange(min=s.minimum) if s.minimum is not None else float
                kw["show_default"] = s.default is not None
                kw["required"] = s.required
            func = click.option(*s.flags, s.name, **kw)(func)
        return func

    return decorate


def from_kwargs(cls, kwargs: dict):
    """An instance of ``cls`` from a click command's keyword arguments (the other keys are left alone)."""
    names = {s.name: s for s in specs(cls)}
    values = {}
    for k, v in kwargs.items():
        if k in names:
            values[k] = tuple(v) if names[k].kind in ("strs", "floats") else v
    return cls(**values)


def from_mapping(cls, mapping: dict) -> tuple[Any, dict[str, str]]:
    """Validate a pipeline step's parameters: ``(instance or None, {key: problem})`` (unknown keys are the
    caller's to report)."""
    problems, values = {}, {}
    for s in specs(cls):
        if s.required and mapping.get(s.name) is None:
            problems[s.name] = "is required"
        elif s.name in mapping:
            value, problem = s.check(mapping[s.name])
            if problem:
                problems[s.name] = problem
            else:
                values[s.name] = value
    return (None if problems else cls(**values)), problems


def as_params(options) -> dict:
    """The options as plain JSON-ready values (tuples as lists): for run records and provenance."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(options).items()}


def fingerprint_params(options) -> dict:
    """The options that change results (``fingerprint=True``), as plain values."""
    keep = {s.name for s in specs(type(options)) if s.fingerprint}
    return {k: v for k, v in as_params(options).items() if k in keep}


def yaml_value(value) -> str:
    """An option default as YAML writes it (null, true, [a, b], ...): the docs and `gdbtools run --list-steps`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def markdown(sets: dict[str, type], extra_cli: dict[str, list[str]] | None = None) -> str:
    """The options reference (``docs/OPTIONS.md``): one table per command, CLI spelling and pipeline key."""
    lines = ["# Options of the gdbtools commands and pipeline steps", "",
             "Generated from `gdbtools/optionsets.py` by `gdbtools.optionsets.options_markdown()`; do not edit by "
             "hand (a test compares this file with the generated text).", "",
             "Each option is the same in both places: `gdbtools CMD --option` on the command line and the key "
             "`option:` of a pipeline step of kind `CMD` (see examples/pipeline.yaml). *Rerun* says whether a "
             "change reruns a finished pipeline step.", ""]
    for command, cls in sets.items():
        lines += [f"## {command}", "", (cls.__doc__ or "").strip().splitlines()[0], ""]
        if extra_cli and extra_cli.get(command):
            lines += ["Command line only (inputs and outputs, which a pipeline declares itself): "
                      + ", ".join(f"`{x}`" for x in extra_cli[command]), ""]
        rows = specs(cls)
        if not rows:
            lines += ["No further options.", ""]
            continue
        lines += ["| pipeline key | command line | type | default | rerun | meaning |",
                  "|---|---|---|---|---|---|"]
        for s in rows:
            cli = " ".join(f"`{f}`" for f in s.flags)
            default = "required" if s.required else f"`{yaml_value(s.default)}`"
            lines.append(f"| `{s.name}` | {cli} | {s.type_text().replace('|', '/')} | {default} | "
                         f"{'yes' if s.fingerprint else 'no'} | {s.help.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)
