"""What a command-line user waits for: whole processes side by side with plink2, cold and warm calls, ``--help``
and ``verify`` against ingest.

    python bench/bench_cold.py                          # both cohorts, appends to bench/RESULTS.md
    python bench/bench_cold.py --cohorts small --repeat 3 --no-append
    python bench/bench_cold.py --verify                 # also verify vs ingest genotypes/s (minutes)

The cohorts and their BCF, store and pgen are those of ``bench/bench_stats.py`` (``prepare``; cached under
``bench/out/``). Rows, best of ``--repeat``:

- plink2 ``--freq --hardy --missing --het`` on the pgen (whole process);
- ``gdbtools qc STORE --out DIR --freq --no-sex-check --batch-by none --overwrite`` (whole process: the same
  statistics in one fused pass, written as Parquet with provenance), and once the default ``gdbtools qc --freq``
  (adds the sex check's chrX pass, the outlier table and the batch check's Fisher tests);
- in one fresh process: the first ``compute(freq, variant_qc, sample_qc)`` and the next (warm) one;
- ``gdbtools --help``;
- with ``--verify``: ``gdbtools ingest`` of the BCF and ``gdbtools verify`` of the store, genotypes per second.

A script, not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stats import RESULTS, best, compile_bytecode, log, machine, prepare, run

GDBTOOLS = [sys.executable, "-m", "gdbtools"]

_FIRST_WARM = """
import sys, time
t0 = time.perf_counter()
import gdbtools
c = gdbtools.open(sys.argv[1])
t1 = time.perf_counter()
c.compute(freq=True, variant_qc=True, sample_qc=True, client=False, progress=False)
t2 = time.perf_counter()
c.compute(freq=True, variant_qc=True, sample_qc=True, client=False, progress=False)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_and_warm(store: Path, repeat: int) -> tuple[float, float, float]:
    """(import + open, first call, warm call) in fresh processes; the best of each."""
    runs = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, "-c", _FIRST_WARM, str(store)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        runs.append(tuple(float(x) for x in proc.stdout.split()[-3:]))
    return min(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohorts", nargs="+", default=["small", "large"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--verify", action="store_true", help="also ingest and verify (minutes on 'large')")
    ap.add_argument("--no-append", action="store_true", help=f"do not append the table to {RESULTS}")
    args = ap.parse_args(argv)

    compile_bytecode(Path(__file__).resolve().parent.parent)
    help_s = best(lambda: run([*GDBTOOLS, "--help"]), max(args.repeat, 5))
    rows = []
    with tempfile.TemporaryDirectory(prefix="gdb-cold-") as tmp:
        for name in args.cohorts:
            paths = prepare(name, args.threads)
            from gdbtools.store import Store

            store = Store(paths["store"])
            n, v = store.n_samples, store.n_variants
            log(f"{name}: {n} samples x {v} variants")
            plink = ["plink2", "--pfile", str(paths["pfile"]), "--freq", "--hardy", "--missing", "--het",
                     "--threads", str(args.threads), "--out", f"{tmp}/plink", "--silent"]
            qc = [*GDBTOOLS, "qc", str(paths["store"]), "--out", f"{tmp}/qc", "--freq", "--overwrite"]
            row = {"cohort": name, "samples": n, "variants": v,
                   "plink2": best(lambda: run(plink), args.repeat),  # noqa: B023 - called at once
                   "qc_freq": best(lambda: run([*qc, "--no-sex-check", "--batch-by", "none"]),  # noqa: B023
                                   args.repeat),
                   "qc_full": best(lambda: run(qc), 1)}  # noqa: B023 - called at once
            row["open"], row["first"], row["warm"] = first_and_warm(paths["store"], args.repeat)
            if args.verify:
                out = Path(tmp) / "store"
                t0 = time.perf_counter()
                run([*GDBTOOLS, "ingest", str(paths["bcf"]), "--metadata", str(paths["meta"]), "--out", str(out),
                     "--quiet", "-j", str(args.threads)])
                row["ingest"] = time.perf_counter() - t0
                row["verify"] = run([*GDBTOOLS, "verify", str(out), str(paths["bcf"]), "--quiet"])
                shutil.rmtree(out)
            rows.append(row)
            log(f"{name}: {row}")
    table = render(rows, help_s)
    print(table)
    if not args.no_append:
        RESULTS.write_text(RESULTS.read_text().rstrip("\n") + "\n\n" + table)
    return 0


def render(rows: list[dict], help_s: float) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## Whole processes: what a command-line user waits for (bench/bench_cold.py, {now})", "",
             f"Machine: {machine()}.", "",
             "Best of the repeats, seconds, whole processes. plink2: `--freq --hardy --missing --het` on the pgen; "
             "gdbtools: `gdbtools qc STORE --out DIR --freq --no-sex-check --batch-by none` (frequencies, variant and "
             "sample QC in one pass, written as Parquet with provenance); *default qc* is `gdbtools qc --freq` as "
             "is (adds the sex check's chrX pass and the batch check's Fisher tests, which plink2's command does "
             "not do; one run). *first / warm*: `compute(freq, variant_qc, sample_qc)` twice in one fresh "
             "process (after import and open).", "",
             "| cohort | samples x variants | plink2 | gdbtools qc --freq | ratio | default qc --freq | ratio "
             "| import+open | first call | warm call | first / warm |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['cohort']} | {r['samples']:,} x {r['variants']:,} | {r['plink2']:.3f} | {r['qc_freq']:.3f} "
            f"| {r['qc_freq'] / r['plink2']:.1f}x | {r['qc_full']:.3f} | {r['qc_full'] / r['plink2']:.1f}x "
            f"| {r['open']:.3f} | {r['first']:.3f} | {r['warm']:.3f} | {r['first'] / r['warm']:.2f} |")
    lines += ["", f"`gdbtools --help`: {help_s:.3f} s (whole process)."]
    ver = [r for r in rows if "verify" in r]
    if ver:
        lines += ["", "| cohort | ingest s | ingest M genotypes/s | verify s | verify M genotypes/s "
                  "| verify / ingest |",
                  "|---|---|---|---|---|---|"]
        for r in ver:
            g = r["samples"] * r["variants"] / 1e6
            lines.append(f"| {r['cohort']} | {r['ingest']:.2f} | {g / r['ingest']:.0f} | {r['verify']:.2f} "
                         f"| {g / r['verify']:.0f} | {r['ingest'] / r['verify']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
