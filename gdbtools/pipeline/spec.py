"""Reading and validating a pipeline file (YAML) into a :class:`Pipeline`, before anything runs.

Every problem is reported at once, each with its line and key (``line 14, steps[2].by``) and a fix. Paths
are relative to the pipeline file's directory; ``${NAME}`` and ``${NAME:-default}`` are replaced by
environment variables (an unset one without a default is an error), ``~`` by the home directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import as_params, from_mapping, specs
from .errors import PipelineInvalid, Problem
from .steps import PIPELINE_ARTIFACTS, STEPS, StepKind, known_kinds
from .yamldoc import Doc, parse_yaml

__all__ = ["Pipeline", "StepSpec", "load", "TOP_KEYS"]

TOP_KEYS = {
    "version": "format version of the pipeline file (1)",
    "name": "a name for the runs (default: the file name)",
    "description": "free text",
    "workdir": "where run records and step state go (default: outputs.dir)",
    "checksum": "how inputs are fingerprinted: sha256 (default; cached per file version) or stat (size and "
                "modification time only, for very large deliveries)",
    "inputs": "vcf (files or globs), metadata (TSV), store (an existing store, instead of an ingest step)",
    "outputs": "store (written by the ingest step) and dir (the steps' results, run records)",
    "steps": "the steps, in order",
    "cluster": "the Dask cluster the steps run on: kind (local, local-cuda, slurm, an address) and settings",
}
INPUT_KEYS = ("vcf", "metadata", "store")
OUTPUT_KEYS = ("store", "dir")
STEP_KEYS = ("kind", "name", "out")
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class StepSpec:
    """One validated step: its name, kind, options (an instance of the kind's options dataclass; ``params``:
    the same as plain values) and output paths."""

    index: int
    name: str
    kind: str
    options: Any
    outputs: dict[str, str]
    line: int | None = None

    @property
    def params(self) -> dict:
        return as_params(self.options)

    @property
    def step_kind(self) -> StepKind:
        return STEPS[self.kind]


@dataclass
class Pipeline:
    """A validated pipeline: resolved absolute paths, expanded globs, steps with their parameters."""

    name: str
    path: str | None
    sha256: str | None
    base_dir: Path
    workdir: Path
    out_dir: Path
    checksum: str
    vcf: list[str]
    metadata: str | None
    store: str | None
    store_is_input: bool
    steps: list[StepSpec]
    cluster: dict | None
    env: dict[str, str] = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """The pipeline's own input artifacts (``vcf``, ``metadata``, ``store``) that are given."""
        found: dict[str, Any] = {}
        if self.vcf:
            found["vcf"] = list(self.vcf)
        if self.metadata:
            found["metadata"] = self.metadata
        if self.store_is_input:
            found["store"] = self.store
        return found


# -- validation ------------------------------------------------------------------------------------------------
class _Checker:
    def __init__(self, doc: Doc, base_dir: Path, environ):
        self.doc, self.base, self.environ = doc, base_dir, environ
        self.problems: list[Problem] = []
        self.env_used: dict[str, str] = {}

    def problem(self, path: tuple, message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(self.doc.where(path), message, fix))

    def unknown_keys(self, mapping: dict, allowed, path: tuple, what: str) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problem(path + (key,), f"unknown key {key!r} in {what}",
                             f"{hint}the keys of {what} are: {', '.join(allowed)}")

    def mapping(self, value, path: tuple, what: str) -> dict | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"{what} must be a mapping (key: value lines), not {type(value).__name__}",
                         f"indent the keys of {what} under `{path[-1] if path else what}:`")
            return None
        return value

    def string(self, value, path: tuple, what: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"{what} must be a non-empty string, not {value!r}")
            return None
        return value

    def expand(self, text: str, path: tuple) -> str | None:
        missing = []

        def sub(match):
            name, default = match.group(1), match.group(2)
            value = self.environ.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    missing.append(name)
                    return ""
                value = default
            self.env_used[name] = value
            return value

        expanded = _ENV.sub(sub, text)
        if missing:
            self.problem(path, f"environment variable {missing[0]} is not set (used in {text!r})",
                         f"export {missing[0]}=... before running, or write ${{{missing[0]}:-default}}")
            return None
        return expanded

    def path(self, value, path: tuple, what: str) -> Path | None:
        text = self.string(value, path, what)
        if text is None:
            return None
        text = self.expand(text, path)
        if text is None:
            return None
        p = Path(os.path.expanduser(text))
        return Path(os.path.normpath(p if p.is_absolute() else self.base / p))


def _natural(path: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def load(source, *, base_dir: str | os.PathLike | None = None, check_inputs: bool = True,
         environ: dict | None = None) -> Pipeline:
    """Read and validate a pipeline.

    Parameters
    ----------
    source
        A path to a YAML file, the file's content as a dict, or a :class:`Pipeline` (returned as is).
    base_dir
        Relative paths are relative to this (default: the file's directory; for a dict, the working directory).
    check_inputs
        Check that input files and globs exist (``False`` for a syntax-only check, e.g. of an example).
    environ
        The environment for ``${NAME}`` (default ``os.environ``).

    Raises :class:`~gdbtools.pipeline.errors.PipelineInvalid` listing every problem with its line and fix.
    """
    if isinstance(source, Pipeline):
        return source
    env: Mapping[str, str] = os.environ if environ is None else environ
    file = None
    if isinstance(source, dict):
        doc, text = Doc(source), None
        base = Path(base_dir or os.getcwd()).resolve()
        default_name = "pipeline"
    else:
        file = str(Path(source).resolve())
        try:
            text = Path(file).read_text()
        except FileNotFoundError:
            raise PipelineInvalid([Problem("", "no such pipeline file", "check the path")], file) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PipelineInvalid([Problem("", f"cannot read the pipeline file: {exc}")], file) from None
        doc = parse_yaml(text, file)
        base = Path(base_dir).resolve() if base_dir else Path(file).parent
        default_name = Path(file).stem
    c = _Checker(doc, base, env)
    top = doc.data
    if not isinstance(top, dict):
        raise PipelineInvalid([Problem("line 1" if file else "", "a pipeline is a mapping with inputs:, outputs: "
                                       "and steps:", "start from examples/pipeline.yaml")], file)
    c.unknown_keys(top, list(TOP_KEYS), (), "a pipeline")

    version = top.get("version", 1)
    if version != 1:
        c.problem(("version",), f"unknown pipeline format version {version!r}", "write `version: 1`")
    name = c.string(top.get("name"), ("name",), "name") or default_name
    if not _NAME.match(name):
        c.problem(("name",), f"name {name!r} may hold only letters, digits, '_', '.' and '-'")
    checksum = top.get("checksum", "sha256")
    if checksum not in ("sha256", "stat"):
        c.problem(("checksum",), f"checksum must be sha256 or stat, not {checksum!r}")

    # inputs
    inputs = c.mapping(top.get("inputs"), ("inputs",), "inputs") or {}
    c.unknown_keys(inputs, INPUT_KEYS, ("inputs",), "inputs")
    vcf = _vcf_inputs(c, inputs.get("vcf"), check_inputs)
    metadata = c.path(inputs.get("metadata"), ("inputs", "metadata"), "inputs.metadata")
    if metadata is not None and check_inputs and not metadata.is_file():
        c.problem(("inputs", "metadata"), f"no such metadata file: {metadata}", "check the path")
    store_in = c.path(inputs.get("store"), ("inputs", "store"), "inputs.store")
    if store_in is not None and check_inputs and not (store_in / "manifest.json").is_file():
        c.problem(("inputs", "store"), f"{store_in} is not a complete cohort store (no manifest.json)",
                  "give a store written by `gdbtools ingest`, or ingest it in this pipeline (an ingest step "
                  "writing outputs.store)")

    # outputs
    outputs = c.mapping(top.get("outputs"), ("outputs",), "outputs") or {}
    c.unknown_keys(outputs, OUTPUT_KEYS, ("outputs",), "outputs")
    store_out = c.path(outputs.get("store"), ("outputs", "store"), "outputs.store")
    out_dir = c.path(outputs.get("dir"), ("outputs", "dir"), "outputs.dir")
    if out_dir is None and "dir" not in outputs:
        c.problem(("outputs",) if "outputs" in top else (), "outputs.dir is missing: the directory for the "
                  "steps' results and the run records", "add `outputs:` with `dir: results/<name>`")
    if store_out is not None and check_inputs and store_out.exists():
        if not store_out.is_dir():
            c.problem(("outputs", "store"), f"{store_out} exists and is not a directory")
        elif any(store_out.iterdir()) and not ((store_out / "manifest.json").exists()
                                               or (store_out / "_work").exists()):
            c.problem(("outputs", "store"), f"{store_out} exists and is not a gdbtools store",
                      "choose another directory (gdbtools never writes into other data)")
    workdir = c.path(top.get("workdir"), ("workdir",), "workdir") if "workdir" in top else out_dir

    # steps
    raw_steps = top.get("steps")
    steps: list[StepSpec] = []
    if raw_steps is None:
        c.problem(("steps",) if "steps" in top else (), "no steps", "add `steps:` with a list, e.g. `- kind: ingest`")
    elif not isinstance(raw_steps, list) or not raw_steps:
        c.problem(("steps",), "steps must be a non-empty list (lines starting with `- `)")
    else:
        steps = _steps(c, raw_steps, store_in, store_out, out_dir, vcf, metadata, check_inputs)

    cluster = _cluster(c, top.get("cluster"))
    if c.problems:
        raise PipelineInvalid(c.problems, file)
    assert out_dir is not None and workdir is not None  # a missing outputs.dir is a problem above
    return Pipeline(name=name, path=file, sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
                    base_dir=base, workdir=workdir, out_dir=out_dir, checksum=checksum,
                    vcf=vcf or [], metadata=str(metadata) if metadata else None,
                    store=str(store_in or store_out) if (store_in or store_out) else None,
                    store_is_input=store_in is not None, steps=steps, cluster=cluster, env=c.env_used,
                    data=top)


def _vcf_inputs(c: _Checker, value, check_inputs: bool) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        c.problem(("inputs", "vcf"), "inputs.vcf must be a path or glob, or a list of them")
        return None
    found: list[str] = []
    for i, item in enumerate(items):
        path = ("inputs", "vcf") if isinstance(value, str) else ("inputs", "vcf", i)
        p = c.path(item, path, "a VCF/BCF path")
        if p is None:
            continue
        text = str(p)
        if glob.has_magic(text):
            matches = sorted((m for m in glob.glob(text) if os.path.isfile(m)), key=_natural)
            if not matches and check_inputs:
                c.problem(path, f"{item!r} matches no file", "check the pattern (and that the delivery has "
                          "arrived); patterns use *, ? and [..] like the shell")
        else:
            matches = [text]
            if check_inputs and not p.is_file():
                fix = (f"name the files: {text.rstrip('/')}/*.vcf.gz" if p.is_dir() else "check the path")
                c.problem(path, f"no such VCF/BCF file: {text}", fix)
                continue
        for m in matches:
            if not m.endswith(VCF_SUFFIXES):
                if glob.has_magic(text):
                    continue  # a pattern such as delivery/* also matches the indexes: keep the VCF/BCF files
                c.problem(path, f"{m} is not a VCF/BCF file (expected {', '.join(VCF_SUFFIXES)})")
            elif m not in found:
                found.append(m)
    return found


def _steps(c: _Checker, raw_steps: list, store_in, store_out, out_dir, vcf, metadata,
           check_inputs: bool = True) -> list[StepSpec]:
    kinds = known_kinds()
    available = {"vcf": vcf is not None, "metadata": metadata is not None, "store": store_in is not None}
    writers: dict[str, str] = {}  # artifact -> the step that writes it
    out_paths: dict[str, str] = {}
    names: dict[str, int] = {}
    found: list[StepSpec] = []
    for i, item in enumerate(raw_steps):
        path = ("steps", i)
        if isinstance(item, str):
            item = {"kind": item}
        elif isinstance(item, dict) and "kind" not in item and len(item) == 1:
            (only, body), = item.items()  # the short form `- freq: {by: [population]}`
            if only in STEPS and (body is None or isinstance(body, dict)):
                item = {"kind": only, **(body or {})}
                for k in body or {}:
                    line = c.doc.lines.get(path + (only, k), c.doc.lines.get(path))
                    if line is not None:
                        c.doc.lines[path + (k,)] = line
        if not isinstance(item, dict):
            c.problem(path, f"a step is a kind (`- verify`) or a mapping with `kind:`, not {item!r}")
            continue
        kind = item.get("kind")
        if kind not in STEPS:
            close = difflib.get_close_matches(str(kind), kinds, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            c.problem(path + (("kind",) if "kind" in item else ()),
                      f"unknown step kind {kind!r}" if kind is not None else "this step has no `kind:`",
                      f"{hint}the known step kinds are: {', '.join(kinds)}")
            continue
        sk = STEPS[kind]
        name = item.get("name", kind)
        if not isinstance(name, str) or not _NAME.match(name):
            c.problem(path + ("name",), f"step name {name!r} may hold only letters, digits, '_', '.' and '-'")
            continue
        if name in names:
            c.problem(path + (("name",) if "name" in item else ()),
                      f"two steps are named {name!r} (the other is steps[{names[name]}])",
                      f"give this one its own name, e.g. `name: {name}_2`")
            continue
        names[name] = i
        option_specs = {o.name: o for o in specs(sk.options)}
        c.unknown_keys(item, list(STEP_KEYS) + list(option_specs), path, f"a {kind} step")
        options, problems = from_mapping(sk.options, {k: v for k, v in item.items() if k in option_specs})
        for key, problem in problems.items():
            c.problem(path + (key,), f"{kind}.{key} {problem}", f"{key}: {option_specs[key].help}")
        if options is not None:
            options = _file_options(c, sk, options, path, check_inputs)
        # inputs must be there before the step
        for art in sk.inputs:
            if available.get(art):
                continue
            if art == "store":
                fix = ("add an ingest step before it (writing outputs.store), or give an existing store as "
                       "inputs.store")
            elif art in PIPELINE_ARTIFACTS:
                fix = f"give {PIPELINE_ARTIFACTS[art]}"
            else:
                fix = f"add a step named {art!r} before this one"
            c.problem(path, f"step {name!r} reads {PIPELINE_ARTIFACTS.get(art, repr(art))}, which neither the "
                      "inputs nor an earlier step provide", fix)
        # outputs
        outputs = {}
        for art_t, path_t in sk.outputs.items():
            art = art_t.format(name=name)
            if "out" in item:
                if len(sk.outputs) != 1:
                    c.problem(path + ("out",), f"a {kind} step writes several outputs; `out:` cannot place them")
                    break
                target = c.path(item["out"], path + ("out",), "out")
            elif "{dir}" in path_t and out_dir is None:
                target = None  # reported once, as outputs.dir missing
            elif "{store}" in path_t:
                if store_out is None:
                    c.problem(path, f"step {name!r} writes the cohort store, but outputs.store is not given",
                              "add `store: <directory>` under outputs:")
                    target = None
                else:
                    target = store_out
            else:
                target = Path(path_t.format(name=name, dir=out_dir))
            if target is None:
                continue
            if art in writers and art != name:
                c.problem(path, f"step {name!r} writes {art!r}, which step {writers[art]!r} writes already")
            if str(target) in out_paths:
                c.problem(path + (("out",) if "out" in item else ()), f"step {name!r} writes {target}, like step "
                          f"{out_paths[str(target)]!r}", "give one of them another `out:`")
            writers[art], out_paths[str(target)] = name, name
            outputs[art] = str(target)
            available[art] = True
            if art == "store" and store_in is not None:
                c.problem(path, "inputs.store is given and this step writes the store too",
                          "remove inputs.store (this step writes outputs.store), or remove this step")
        found.append(StepSpec(index=i, name=name, kind=kind, options=options, outputs=outputs,
                              line=c.doc.lines.get(path)))
    return found


def _file_options(c: _Checker, sk: StepKind, options, path: tuple, check_inputs: bool):
    """The options naming input files (``StepKind.file_options``), relative to the pipeline file, made absolute
    (and checked to exist)."""
    resolved = {}
    for key in sk.file_options:
        value = getattr(options, key)
        if value is None:
            continue
        target = c.path(value, path + (key,), key)
        if target is None:
            continue
        if check_inputs and not target.is_file():
            c.problem(path + (key,), f"no such file: {target}", "check the path (relative to the pipeline file)")
        resolved[key] = str(target)
    return dataclasses.replace(options, **resolved) if resolved else options


def _cluster(c: _Checker, value) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"kind": value}
    mapping = c.mapping(value, ("cluster",), "cluster")
    if mapping is None:
        return None
    from ..cluster import (
        KINDS,
        _is_address,
        settings,
    )

    kind = mapping.get("kind", "local")
    if not isinstance(kind, str) or (kind not in KINDS and not _is_address(kind)):
        c.problem(("cluster", "kind"), f"unknown cluster kind {kind!r}",
                  f"use one of {', '.join(KINDS)}, a scheduler address (tcp://host:8786) or a scheduler file (.json)")
        return None
    overrides = {k: v for k, v in mapping.items() if k != "kind"}
    try:
        settings(kind if kind in KINDS else "address", overrides)
    except TypeError as exc:
        bad = str(exc).split(":", 1)[0].split(", ")
        key = next((k for k in overrides if k.replace("_", "-") in bad), next(iter(overrides)))
        valid = str(exc).split("valid: ", 1)[-1]
        c.problem(("cluster", key), f"{key!r} is not a setting of cluster kind {kind!r}",
                  f"the settings of {kind} are: {valid} (see `gdbtools cluster config`)")
        return None
    return {"kind": kind, "settings": overrides}
