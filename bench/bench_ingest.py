"""Ingest throughput: gdbtools ingest vs plink2 --make-pgen and bcftools view -Ob, same files, same run.

A benchmark, not a test: it prints a markdown table (genotypes/s, ratios, peak memory) and, with --record,
appends it to bench/RESULTS.md. Inputs are msprime cohorts (GT only) cached under bench/out/:

    .venv/bin/python bench/bench_ingest.py                  # 5,000 samples x ~100k variants
    .venv/bin/python bench/bench_ingest.py --double         # also the 2x-variants cohort (memory bound check)
    .venv/bin/python bench/bench_ingest.py --record         # append the table to bench/RESULTS.md

Peak memory is the largest resident set of any process of the command (wait4's ru_maxrss over the process
tree), so for gdbtools it is one worker's peak, the quantity that block size bounds. The command is started
by a tiny wrapper (``python -S``), so that the figure is not this Python process's own size (a child starts
as a copy of its parent). "gdbtools ingest (htslib reader)" is the same ingest with ``GDBTOOLS_READER=htslib``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def cohort(n_samples: int, length: int, tag: str) -> tuple[Path, Path, int]:
    """A GT-only cohort as VCF.gz (+tbi) and BCF (+csi); cached."""
    from gdbtools.simulate import simulate_cohort

    d = OUT / tag
    vcf, bcf = d / "cohort.vcf.gz", d / "cohort.bcf"
    if not (vcf.exists() and bcf.exists()):
        print(f"simulating {tag} ...", file=sys.stderr)
        simulate_cohort(d, n_samples=n_samples, length=length, x_length=0, fields=("GT",), seed=3, bcf=True)
    n_records = int(subprocess.run(["bcftools", "index", "-n", str(bcf)], capture_output=True, text=True,
                                   check=True).stdout)
    return vcf, bcf, n_records


# The measured command is started by a tiny wrapper (python -S, ~10 MB), not by this process: a child starts
# as a copy of its parent, and ru_maxrss would otherwise report this Python process's memory for plink2.
_WRAPPER = """
import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ,
                      file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - t, usage.ru_maxrss]))
"""


def run(cmd: list[str], env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command and its process tree (the largest process of it)."""
    os.sync()  # write back what earlier commands left dirty, so that it does not stall this one's fsyncs
    proc = subprocess.run([sys.executable, "-S", "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"{' '.join(cmd)}: the wrapper failed: {proc.stderr[-2000:]}")
    code, elapsed, maxrss_kib = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    return elapsed, maxrss_kib / 1024


def bench(vcf: Path, bcf: Path, n_records: int, n_samples: int, workers: int, repeats: int) -> list[dict]:
    scratch = OUT / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    gdb = [sys.executable, "-m", "gdbtools", "ingest", "-q", "--workers", str(workers), "--no-adj",
           "--overwrite"]
    htslib = {**os.environ, "GDBTOOLS_READER": "htslib"}
    cases = [
        ("plink2 --make-pgen", "VCF.gz", ["plink2", "--vcf", str(vcf), "--make-pgen", "--threads", str(workers),
                                          "--out", str(scratch / "p_vcf")], None),
        ("gdbtools ingest", "VCF.gz", [*gdb, str(vcf), "--out", str(scratch / "g_vcf")], None),
        ("gdbtools ingest (htslib reader)", "VCF.gz", [*gdb, str(vcf), "--out", str(scratch / "h_vcf")], htslib),
        ("bcftools view -Ob", "VCF.gz", ["bcftools", "view", "-Ob", "--threads", str(workers), "-o",
                                         str(scratch / "b.bcf"), str(vcf)], None),
        ("plink2 --make-pgen", "BCF", ["plink2", "--bcf", str(bcf), "--make-pgen", "--threads", str(workers),
                                       "--out", str(scratch / "p_bcf")], None),
        ("gdbtools ingest", "BCF", [*gdb, str(bcf), "--out", str(scratch / "g_bcf")], None),
        ("gdbtools ingest (htslib reader)", "BCF", [*gdb, str(bcf), "--out", str(scratch / "h_bcf")], htslib),
    ]
    rows = []
    for tool, fmt, cmd, env in cases:
        best = min((run(cmd, env) for _ in range(repeats)), key=lambda r: r[0])
        rows.append({"tool": tool, "input": fmt, "seconds": best[0], "peak_mib": best[1],
                     "gps": n_records * n_samples / best[0]})
    for row in rows:
        ref = next(r for r in rows if r["tool"] == "plink2 --make-pgen" and r["input"] == row["input"])
        row["vs_plink2"] = ref["seconds"] / row["seconds"]
    shutil.rmtree(scratch, ignore_errors=True)
    return rows


def table(rows, n_samples, n_records, workers) -> str:
    lines = [f"cohort: {n_samples:,} samples x {n_records:,} variants (GT only, msprime), {workers} workers/threads",
             "", "| tool | input | seconds | M genotypes/s | speed vs plink2 | peak RSS (MiB) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['tool']} | {r['input']} | {r['seconds']:.2f} | {r['gps'] / 1e6:.0f} | "
                     f"{r['vs_plink2']:.2f}x | {r['peak_mib']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--length", type=int, default=17_000_000, help="simulated bp (~100k variants at 5k samples)")
    parser.add_argument("--double", action="store_true", help="also run twice the variants (memory check)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the tables to bench/RESULTS.md")
    args = parser.parse_args()
    for tool in ("plink2", "bcftools"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install {tool})")
    sizes = [(args.length, "ingest_5k")] + ([(2 * args.length, "ingest_5k_x2")] if args.double else [])
    out = [f"## Ingest throughput ({date.today()}, {platform.node()}: {os.cpu_count()} cores, "
           f"{platform.processor() or platform.machine()})", ""]
    for length, tag in sizes:
        vcf, bcf, n = cohort(args.samples, length, f"{tag}_{args.samples}_{length}")
        rows = bench(vcf, bcf, n, args.samples, args.workers, args.repeats)
        text = table(rows, args.samples, n, args.workers)
        print(text + "\n")
        out += [text, ""]
    if args.record:
        with open(HERE / "RESULTS.md", "a") as handle:
            handle.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
