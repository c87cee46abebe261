"""Progress of long work (an ingest, a verify, a statistics pass): a bar in a terminal or JupyterLab, a few
quiet lines in a batch log.

Below every layer (imports nothing of gdbtools), so ingest and the statistics share it. :class:`Progress`
counts units (variants by default).  Where stderr is a terminal, or in a Jupyter kernel, it draws a
``tqdm.auto`` bar (a widget in JupyterLab); elsewhere (a SLURM log, a pipe) it writes one plain line when the
pass crosses a tenth of its variants *and* at least ``interval`` seconds (default 30) passed since the last
line, plus one line at the end when it wrote any, so a log gets at most 11 lines per pass however many
blocks there are.
"""

from __future__ import annotations

import sys
import time
from typing import IO

__all__ = ["Progress", "QUIET_INTERVAL"]

QUIET_INTERVAL = 30.0  # seconds between two plain progress lines at least


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    """Progress over `total` units of the work named `name` (``"ingest"``, ``"verify"``, ``"freq"``, ...).

    Parameters
    ----------
    name : str
    total : int or None
        Units of the work; ``None`` when unknown (a bar without an end; plain lines by time only).
    unit : str
        What is counted (default ``"variants"``).
    enabled : bool
        ``False``: silent.
    stream : file, optional
        Default ``sys.stderr``.
    interval : float, optional
        Plain mode: seconds between two lines at least (default :data:`QUIET_INTERVAL`).
    interactive : bool, optional
        Force the bar (``True``) or plain lines (``False``); default: a bar where `stream` is a terminal or
        in a Jupyter kernel.
    """

    def __init__(self, name: str, total: int | None, *, enabled: bool = True, stream: IO[str] | None = None,
                 interval: float | None = None, interactive: bool | None = None, unit: str = "variants"):
        self.name, self.unit = name, unit
        self.known = total is not None
        self.total = int(total) if total is not None else 0
        self.interval = float(QUIET_INTERVAL if interval is None else interval)
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.enabled = bool(enabled) and (self.total > 0 or not self.known)
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty()) or _in_notebook()
        self._bar = None
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._next_tenth = 1
        self._lines = 0
        if self.enabled and interactive:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total if self.known else None, desc=f"gdbtools {name}", unit=f" {unit}",
                             unit_scale=True, file=self.stream, dynamic_ncols=True, mininterval=0.5, leave=False)

    def update(self, n: int) -> None:
        """`n` more units done."""
        if not self.enabled:
            return
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(int(n))
            return
        if not self.known:
            now = time.monotonic()
            if now - self._last_line >= self.interval:
                self._line(f"{self.done:,} {self.unit}", now)
            return
        tenth = (10 * self.done) // self.total
        if tenth < self._next_tenth:
            return
        self._next_tenth = tenth + 1
        now = time.monotonic()
        if self.done < self.total and now - self._last_line >= self.interval:
            self._line(f"{100 * self.done // self.total}% ({self.done:,} of {self.total:,} {self.unit})", now)

    def _line(self, text: str, now: float) -> None:
        self._last_line = now
        self._lines += 1
        print(f"gdbtools {self.name}: {text}, {now - self._t0:.0f} s", file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar; in plain mode a last line if any was written."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self._lines:
            self._line(f"done ({self.done:,} {self.unit})", time.monotonic())
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
