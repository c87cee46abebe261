"""A statistics call starts no numba: a fresh process pays ~0.6 s to load numba's cached kernels otherwise.

The per-sample sums of sparse rows and the chrX HWE test are C++ in the host library (gdbtools.backend); this
runs the first freq + variant QC + sample QC call of a fresh process on the 1000 Genomes store (hybrid2 blocks
with sparse rows, chrX with haploid males, so both paths run) and looks at ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import numpy as np
import gdbtools
cohort = gdbtools.open(sys.argv[1])
res = cohort.compute(freq=True, variant_qc=True, sample_qc=True, client=False, progress=False)
v = res.variant_qc
print(json.dumps({"numba": sorted(m for m in sys.modules if m.split(".")[0] == "numba"),
                  "hwe_x_rows": int(np.isfinite(v["HWE_X"].to_numpy(dtype=float)).sum())}))
"""


def test_first_statistics_call_imports_no_numba(kg_store):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(kg_store.path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["hwe_x_rows"] > 100  # the chrX test ran
    assert got["numba"] == [], got["numba"]
