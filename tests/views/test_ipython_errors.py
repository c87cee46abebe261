"""A GdbError in a real IPython kernel (jupyter_client, as Jupyter runs it) shows as its message and fix and
the user's line, without gdbtools' frames; %tb still has them; nothing changes outside IPython."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc, code: str) -> list[dict]:
    """Execute `code`; the iopub outputs of this request (msg_type and content)."""
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("error", "stream", "execute_result", "display_data"):
            out.append({"type": msg["msg_type"], **msg["content"]})
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out


def error_text(outputs: list[dict]) -> str:
    (err,) = [o for o in outputs if o["type"] == "error"]
    return ANSI.sub("", "\n".join(err["traceback"]))


def test_gdberror__in_ipython_shows_message_fix_and_the_users_line(kernel, tmp_path):
    missing = tmp_path / "no-store"
    text = error_text(run(kernel, f"import gdbtools as gdb\ncohort = gdb.open({str(missing)!r})"))
    assert text.startswith(f"StoreError: {missing}: no such store directory")
    assert "fix: check the path, or create the store with `gdbtools ingest`" in text
    assert f"line 2: cohort = gdb.open({str(missing)!r})" in text
    assert "reader.py" not in text and "cohort.py" not in text  # no internal frame
    full = error_text(run(kernel, "%tb"))  # the real traceback is kept for %tb / %debug
    assert "store/reader.py" in full and "StoreError" in full


def test_gdberror__unload_ext_restores_full_tracebacks_and_other_errors_are_untouched(kernel, tmp_path):
    run(kernel, "import gdbtools as gdb")
    other = error_text(run(kernel, "import gdbtools.stats.variables as v\nv.check_table(__import__('pandas')"
                                   ".DataFrame({'bogus': [1]}), 'freq')"))
    assert "variables.py" in other and "ValueError" in other  # not a GdbError: IPython's own traceback
    run(kernel, "%unload_ext gdbtools")
    full = error_text(run(kernel, f"gdb.open({str(tmp_path / 'x')!r})"))
    assert "store/reader.py" in full
    run(kernel, "%load_ext gdbtools")
    short = error_text(run(kernel, f"gdb.open({str(tmp_path / 'x')!r})"))
    assert "reader.py" not in short and "fix:" in short


def test_gdberror__outside_ipython_keeps_pythons_traceback(tmp_path):
    code = f"import gdbtools as gdb; gdb.open({str(tmp_path / 'x')!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "store/reader.py" in proc.stderr
    assert "(%tb shows the full traceback)" not in proc.stderr
