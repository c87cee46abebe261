"""YAML with line numbers: the data of a pipeline file plus the line of every key, for messages such as
``line 14, steps[2].by: ...``. Every problem found while reading is collected (:class:`PipelineInvalid`)."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import PipelineInvalid, Problem

__all__ = ["Doc", "parse_yaml", "format_path"]


class Doc:
    """Plain data from YAML, plus the line of every key path (``("steps", 2, "by") -> 14``)."""

    def __init__(self, data: Any, lines: dict[tuple, int] | None = None):
        self.data = data
        self.lines = lines or {}

    def where(self, path: tuple) -> str:
        text = format_path(path)
        line = None
        for cut in range(len(path), -1, -1):  # the nearest enclosing key that has a line
            line = self.lines.get(path[:cut])
            if line is not None:
                break
        if line is None:
            return text
        return f"line {line}, {text}" if text else f"line {line}"


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_yaml(text: str, file: str | None) -> Doc:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PipelineInvalid([Problem("", "the pipeline file is empty",
                                           "start from examples/pipeline.yaml")], file)
        lines: dict[tuple, int] = {}
        problems: list[Problem] = []
        data = _construct(loader, node, (), lines, problems)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineInvalid([Problem(where, f"not valid YAML: {problem}",
                                       "check the indentation and the colons around that line; quote a value "
                                       "that holds ': ', ' #' or, inside [...] or {...}, a ${VAR}, a comma or a "
                                       "bracket")],
                              file) from None
    finally:
        loader.dispose()
    if problems:
        raise PipelineInvalid(problems, file)
    return Doc(data, lines)


def _construct(loader, node, path, lines, problems):
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(Problem(f"line {key_node.start_mark.line + 1}", f"a key must be a word, not {key!r}"))
                continue
            key = str(key)
            if key in out:
                problems.append(Problem(f"line {key_node.start_mark.line + 1}, {format_path(path + (key,))}",
                                        f"key {key!r} appears twice here (first on line {lines[path + (key,)]})",
                                        "keep one of them"))
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(loader, value_node, path + (key,), lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, path + (i,), lines, problems) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
