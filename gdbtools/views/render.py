"""One description, two renderings: plain text (``print``, terminals, logs) and HTML (Jupyter's ``_repr_html_``).

A :class:`Description` is a title, a few summary lines and sections; a section holds either key/value rows or
a small table.  The HTML uses ``<details>`` blocks (open by default for the first sections, as xarray's
reprs do) and escapes every value; it needs no JavaScript, no stylesheet from the network and no pandas.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Section", "Description"]

_CSS = (".gdb-view{font-family:var(--jp-content-font-family,sans-serif);font-size:13px;line-height:1.35}"
        ".gdb-view h4{margin:0 0 .3em 0}.gdb-view summary{cursor:pointer;font-weight:600;margin:.35em 0}"
        ".gdb-view table{border-collapse:collapse;margin:0 0 .4em 1.2em}"
        ".gdb-view th,.gdb-view td{text-align:left;padding:1px 10px 1px 0;vertical-align:top;border:none}"
        ".gdb-view th{font-weight:600}.gdb-view .gdb-note{color:var(--jp-ui-font-color2,#666)}"
        ".gdb-view ul{margin:0 0 .3em 0}")


@dataclass
class Section:
    """A titled part of a description: ``rows`` (key, value) pairs, or a table (``header`` + ``rows``).

    ``note`` is a line of text under the title; ``open`` whether the HTML block starts expanded.
    """

    title: str
    rows: list[tuple] = field(default_factory=list)  # str, int, float, None or list values (a list: joined)
    header: tuple[str, ...] | None = None
    note: str | None = None
    open: bool = True


@dataclass
class Description:
    """What :func:`gdbtools.describe` returns: ``str()`` is the text, ``_repr_html_()`` the notebook view."""

    title: str
    lines: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    # -- text ------------------------------------------------------------------------------------------------
    def __str__(self) -> str:
        out = [self.title, *(f"  {line}" for line in self.lines)]
        for sec in self.sections:
            out.append(f"{sec.title}:")
            if sec.note:
                out.append(f"  {sec.note}")
            out.extend(_text_rows(sec))
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text display: the text, not a repr
        printer.text(str(self))

    # -- HTML ------------------------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<div class='gdb-view'><style>{_CSS}</style><h4>{esc(self.title)}</h4>"]
        if self.lines:
            parts.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in self.lines) + "</ul>")
        for sec in self.sections:
            parts.append(f"<details{' open' if sec.open else ''}><summary>{esc(sec.title)}</summary>")
            if sec.note:
                parts.append(f"<div class='gdb-note'>{esc(sec.note)}</div>")
            parts.append(_html_table(sec))
            parts.append("</details>")
        parts.append("</div>")
        return "".join(parts)


TEXT_LIST_LIMIT = 8  #: items of a list value shown in the text (the HTML shows all)


def _cell(value, limit: int | None = None) -> str:
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
        if limit is not None and len(items) > limit:
            return f"{', '.join(items[:limit])} ... ({len(items)} in all)"
        return ", ".join(items)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _text_rows(sec: Section) -> list[str]:
    if not sec.rows:
        return []
    rows = [tuple(_cell(v, TEXT_LIST_LIMIT) for v in row) for row in sec.rows]
    if sec.header is None:
        width = max(len(r[0]) for r in rows)
        return [f"  {r[0]:<{width}}  {'  '.join(r[1:])}" for r in rows]
    table = [tuple(sec.header), *rows]
    widths = [max(len(r[i]) for r in table if i < len(r)) for i in range(len(sec.header))]
    lines = []
    for row in table:
        cells = [f"{c:<{widths[i]}}" for i, c in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _html_table(sec: Section) -> str:
    if not sec.rows:
        return ""
    esc = html.escape
    head = ""
    if sec.header is not None:
        head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in sec.header) + "</tr>"
    body = []
    for row in sec.rows:
        cells = [f"<th>{esc(_cell(row[0]))}</th>" if sec.header is None else f"<td>{esc(_cell(row[0]))}</td>"]
        cells += [f"<td>{esc(_cell(v))}</td>" for v in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"
