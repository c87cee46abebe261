"""The README's Python example runs on a store like the demo's and returns non-empty tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

README = Path(__file__).resolve().parents[1] / "README.md"


def _first_python_block() -> str:
    text = README.read_text()
    section = text[text.index("### Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs_on_the_demo_layout(small_store):
    code = _first_python_block()
    assert '"demo-output/store"' in code
    scope: dict = {}
    exec(compile(code.replace('"demo-output/store"', repr(str(small_store.path))), str(README), "exec"), scope)
    freq, vqc, sqc = scope["freq"], scope["vqc"], scope["sqc"]
    assert isinstance(freq, pd.DataFrame) and len(freq) > 0 and (freq["AN"] > 0).any()
    assert len(vqc) == len(freq) > 0
    assert len(sqc) == scope["sub"].n_samples > 0 and sqc["call_rate"].notna().all()
