"""Whole processes interleaved: plink2, then ``gdbtools qc --freq`` of this tree and of another tree, in turn.

    python bench/bench_ab.py --old /tmp/old-tree --cohorts small large --rounds 7

``--old`` is a folder with an older ``gdbtools/`` and ``kernels/`` (for example ``git archive REV gdbtools
kernels | tar -x -C DIR``); it runs with that folder first on ``PYTHONPATH``.  On a shared machine the rounds
see the same load, so the best wall time and the best CPU time (user + sys of the process and its children)
of each command compare fairly; the medians show how often a command is slow.  The cohorts are those of
``bench/bench_stats.py`` (``prepare``).  A script, not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stats import compile_bytecode, machine, prepare


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> tuple[float, float]:
    """(wall, user + sys CPU) seconds of one process and its children, run in `cwd` (not in this tree: its
    ``gdbtools/`` would come before ``PYTHONPATH``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="folder with the older gdbtools/ and kernels/")
    ap.add_argument("--cohorts", nargs="+", default=["small", "large"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args(argv)
    old_env = {**os.environ, "PYTHONPATH": str(Path(args.old).resolve())}
    probe = subprocess.run([sys.executable, "-c", "import gdbtools; print(gdbtools.__file__)"], env=old_env,
                           cwd=tempfile.gettempdir(), capture_output=True, text=True).stdout.strip()
    if not probe.startswith(str(Path(args.old).resolve())):
        raise SystemExit(f"--old {args.old}: the processes would import {probe}")
    compile_bytecode(Path(__file__).resolve().parent.parent, args.old)
    print(f"Machine: {machine()}; load {os.getloadavg()[0]:.1f} at the start")
    print("| cohort | rounds | plink2 wall / CPU | new wall / CPU | old wall / CPU | new / plink2 (wall) "
          "| median wall plink2 / new / old | load |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gdb-ab-") as tmp:
        for name in args.cohorts:
            paths = prepare(name, args.threads)
            plink = ["plink2", "--pfile", str(paths["pfile"]), "--freq", "--hardy", "--missing", "--het",
                     "--threads", str(args.threads), "--out", f"{tmp}/plink", "--silent"]
            qc = [sys.executable, "-m", "gdbtools", "qc", str(paths["store"]), "--out", f"{tmp}/qc", "--freq",
                  "--overwrite", "--no-sex-check", "--batch-by", "none"]
            runs: dict[str, list[tuple[float, float]]] = {"plink2": [], "new": [], "old": []}
            loads = []
            for _ in range(args.rounds):
                runs["plink2"].append(timed(plink, tmp))
                runs["new"].append(timed(qc, tmp))
                runs["old"].append(timed(qc, tmp, env=old_env))
                loads.append(os.getloadavg()[0])
            best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in runs.items()}
            cells = " | ".join(f"{best[k][0]:.3f} / {best[k][1]:.3f}" for k in ("plink2", "new", "old"))
            median = " / ".join(f"{statistics.median(w for w, _ in runs[k]):.3f}" for k in ("plink2", "new", "old"))
            print(f"| {name} | {args.rounds} | {cells} | {best['new'][0] / best['plink2'][0]:.1f}x | {median} "
                  f"| {min(loads):.1f}-{max(loads):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
