"""The report opened in headless Chromium (Debian's ``chromium``): the screenshot shows the plots, and the page
makes no network request.

How: Chromium loads the page from a file:// URL with a fresh profile, writes a screenshot and a NetLog
(``--log-net-log``, JSON: every URL request the network stack starts, with the page that started it). Names
are resolved nowhere (``--host-resolver-rules``), so nothing can leave the machine whatever the page asks.

- Requests of the page are the NetLog's ``URL_REQUEST_START_JOB`` events whose initiator is the page (an
  opaque ``null`` origin or ``file://``) or whose isolation key is the file:// page; the browser's own
  background requests (update checks, time, accounts) have the initiator "not an origin" and are left out.
- The screenshot counts coloured pixels (saturation > 0.25): the plots are coloured, text and tables are
  grey, a broken image is grey; only the blue links and brown notes add a little colour.

Both detectors are shown to work on controls: the same report with one image pointing at a URL (a request is
found) and with every image removed (no coloured pixels).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import need

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--net-log-capture-mode=Default"]
WINDOW = (1280, 2600)  # the top of the report: summary, sample QC by group and the sex check
EXTERNAL = "http://gdbtools-report-test.invalid/plot.png"
#: coloured fraction of the report's screenshot: ~0.023 with its plots, ~0.002 without (blue links, notes)
PLOTS_SHOWN, NO_PLOTS = 0.01, 0.005


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    need(path is not None, "chromium is not installed (Debian package chromium; scripts/test installs it)")
    return path


def open_page(chromium: str, page: Path, work: Path) -> tuple[np.ndarray, list[str]]:
    """Load `page` in headless Chromium: (screenshot as (H, W, 3) float RGB in [0, 1], URLs the page requested)."""
    from PIL import Image

    work.mkdir(parents=True, exist_ok=True)
    shot, netlog = work / "screenshot.png", work / "netlog.json"
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.is_file(), f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64) / 255
    return pixels, page_requests(netlog)


def page_requests(netlog: Path) -> list[str]:
    """URLs whose request the page started (see the module docstring), from a Chromium NetLog file."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start or "url" not in params:
            continue
        initiator = params.get("initiator", "")
        by_page = initiator in ("null", "file://") or "file://" in params.get("network_isolation_key", "")
        if by_page:
            urls.append(params["url"])
    return urls


def coloured_fraction(pixels: np.ndarray) -> float:
    """Fraction of pixels with HSV saturation above 0.25 (plot colours; text, tables, white are below)."""
    top, bottom = pixels.max(axis=2), pixels.min(axis=2)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-9), 0)
    return float((saturation > 0.25).mean())


def test_report_in_chromium__shows_plots_and_requests_nothing(chromium, hm_report, tmp_path):
    pixels, requests = open_page(chromium, hm_report, tmp_path / "report")
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert requests == [], f"the report made network requests: {requests}"
    assert pixels.std() > 0.1  # not one flat colour
    assert (pixels.min(axis=2) < 0.5).mean() > 0.01  # dark pixels: text and axes drawn
    assert coloured_fraction(pixels) > PLOTS_SHOWN, "no coloured plot in the screenshot"


def test_report_in_chromium__controls_show_the_checks_can_fail(chromium, hm_report, tmp_path):
    """The same page with one image from a URL is caught; with the images removed the screenshot has no colour."""
    text = hm_report.read_text(encoding="utf-8")
    fetching = tmp_path / "fetching.html"
    fetching.write_text(re.sub(r'src="data:image/png;base64,[^"]*"', f'src="{EXTERNAL}"', text, count=1))
    pixels, requests = open_page(chromium, fetching, tmp_path / "fetching")
    assert EXTERNAL in requests
    assert coloured_fraction(pixels) > PLOTS_SHOWN  # the other images still show
    blank = tmp_path / "no_images.html"
    blank.write_text(re.sub(r"<img [^>]*>", "", text))
    pixels, requests = open_page(chromium, blank, tmp_path / "no_images")
    assert requests == []
    assert coloured_fraction(pixels) < NO_PLOTS
