"""Helpers shared by test modules (import as ``from helpers import ...``; conftest modules are not importable)."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args, check=True, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run the ``gdbtools`` CLI of this interpreter's environment."""
    cmd = [sys.executable, "-m", "gdbtools", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
