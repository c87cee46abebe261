"""Frequencies + variant QC + sample QC in one gdbtools pass, side by side with plink2 and bcftools.

    python bench/bench_stats.py                           # both cohorts, CPU, appends to bench/RESULTS.md
    python bench/bench_stats.py --cohorts small --repeat 5 --no-append
    python bench/bench_stats.py --gpu                     # also the CuPy backend and kernel throughput

Cohorts are simulated with :func:`gdbtools.simulate.simulate_cohort` (``fields=("GT",)``) and cached under
``bench/out/`` (git-ignored) with everything derived from them: a BCF, the gdbtools store, a plink2 pgen.

- **small**: 5,000 samples x ~98k variants (0.5 G genotypes);
- **large**: 20,000 samples x ~250k variants (about ten times more genotypes).

On each cohort, best of ``--repeat`` runs (the machine is shared: take timings when ``uptime`` is low):

- ``plink2 --pfile P --freq --hardy --missing --het`` (whole process; "compute" subtracts the time of a
  run that only loads the fileset, ``--write-snplist``);
- ``bcftools +fill-tags`` on the BCF (AC, AN, AF, AC_Het, AC_Hom, AC_Hemi, NS, HWE, ExcHet, F_MISSING);
- gdbtools ``compute(freq=True, variant_qc=True, sample_qc=True)``: whole process (``python -c``, import
  and open included) and in-process (the call only, warm), with the peak resident memory of the process.

With ``--gpu`` (and a CUDA device): the same call on the ``cupy`` backend, and the kernels of the pass on
device-resident blocks as a fraction of the measured device-to-device copy bandwidth.

A script, not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
COHORTS = {
    "small": dict(n_samples=5_000, length=7_500_000, x_length=600_000, seed=101),
    "large": dict(n_samples=20_000, length=16_000_000, x_length=1_000_000, seed=202),
}
FILL_TAGS = "AC,AN,AF,AC_Het,AC_Hom,AC_Hemi,NS,HWE,ExcHet,F_MISSING"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw) -> float:
    """Run a command; return its wall time (raises on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


# ------------------------------------------------------------------------------------------------ data
def prepare(name: str, threads: int) -> dict:
    """Simulate (once) and derive the BCF, the store and the pgen; returns their paths."""
    from gdbtools.ingest import ingest
    from gdbtools.simulate import simulate_cohort

    params = COHORTS[name]
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    vcf = d / "cohort.vcf.gz"
    meta = d / "cohort.samples.tsv"
    if not (vcf.exists() and (d / "cohort.vcf.gz.tbi").exists() and meta.exists()):
        log(f"{name}: simulating {params}")
        simulate_cohort(d, fields=("GT",), name="cohort", **params)
    bcf = d / "cohort.bcf"
    if not (d / "cohort.bcf.csi").exists():
        log(f"{name}: writing the BCF")
        run(["bcftools", "view", "--threads", str(threads), "-Ob", "-o", str(bcf), str(vcf)])
        run(["bcftools", "index", "-f", str(bcf)])
    store = d / "store"
    if not (store / "manifest.json").exists():
        log(f"{name}: ingesting")
        if store.exists():
            shutil.rmtree(store)
        ingest(bcf, store, metadata=meta, workers=threads, progress=False)
    pfile = d / "plink"
    if not Path(f"{pfile}.pgen").exists():
        log(f"{name}: plink2 import")
        sex = d / "plink.sex"
        import pandas as pd

        m = pd.read_csv(meta, sep="\t")
        pd.DataFrame({"#IID": m["sample_id"], "SEX": m["sex"].map({"XY": 1, "XX": 2})}).to_csv(sex, sep="\t",
                                                                                            index=False)
        run(["plink2", "--bcf", str(bcf), "--update-sex", str(sex), "--split-par", "hg38", "--max-alleles", "2",
             "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "truncate",
             "--make-pgen", "--out", str(pfile), "--threads", str(threads), "--silent"])
    return {"dir": d, "vcf": vcf, "bcf": bcf, "store": store, "pfile": pfile, "meta": meta}


# ------------------------------------------------------------------------------------------------ timings
def best(fn, repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def time_plink2(paths: dict, threads: int, repeat: int) -> tuple[float, float]:
    tmp = paths["dir"] / "tmp_plink"
    full = ["plink2", "--pfile", str(paths["pfile"]), "--freq", "--hardy", "--missing", "--het",
            "--threads", str(threads), "--out", str(tmp), "--silent"]
    load = ["plink2", "--pfile", str(paths["pfile"]), "--write-snplist", "--threads", str(threads),
            "--out", str(tmp), "--silent"]
    total = best(lambda: run(full), repeat)
    base = best(lambda: run(load), repeat)
    return total, max(total - base, 0.0)


def time_bcftools(paths: dict, threads: int, repeat: int) -> float:
    cmd = ["bcftools", "+fill-tags", str(paths["bcf"]), "-Ou", "-o", os.devnull, "--", "-t", FILL_TAGS]
    return best(lambda: run(cmd), repeat)


_RUNNER = """
import resource, sys, time
t0 = time.perf_counter()
import gdbtools
c = gdbtools.open(sys.argv[1])
r = c.compute(freq=True, variant_qc=True, sample_qc=True, backend=sys.argv[2], client=False)
t1 = time.perf_counter()
print(len(r.freq), len(r.sample_qc), t1 - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def time_gdbtools_process(paths: dict, backend: str, repeat: int) -> tuple[float, float]:
    """Whole process (import, open, compute, exit); returns (seconds, peak RSS MiB)."""
    results = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _RUNNER, str(paths["store"]), backend], capture_output=True,
                              text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        rss_kib = int(proc.stdout.split()[-1])
        results.append((elapsed, rss_kib / 1024))
    return min(results)


def time_gdbtools_inprocess(paths: dict, backend: str, repeat: int) -> tuple[float, dict]:
    import gdbtools

    cohort = gdbtools.open(paths["store"])
    cohort.compute(freq=True, variant_qc=True, sample_qc=True, backend=backend, client=False)  # warm-up
    best_t, info = float("inf"), {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = cohort.compute(freq=True, variant_qc=True, sample_qc=True, backend=backend, client=False)
        elapsed = time.perf_counter() - t0
        if elapsed < best_t:
            best_t, info = elapsed, res.info
    return best_t, info


def gpu_kernel_fraction(paths: dict, n_blocks: int = 8, repeat: int = 5) -> dict:
    """Kernels of the pass on device-resident blocks: bytes read per second / device-to-device copy bandwidth."""
    import cupy as cp
    import numpy as np

    from gdbtools.backend import get_backend
    from gdbtools.store import Store
    from gdbtools.store.bitplanes import n_words, sample_mask

    be = get_backend("cupy")
    store = Store(paths["store"])
    blocks = [store.read_block(i).to(cp) for i in range(min(n_blocks, len(store.blocks_meta)))]
    n = store.n_samples
    masks = cp.asarray(sample_mask(np.ones((1, n), bool), n_words(n)))
    out = cp.zeros((n, 6, 3), dtype=cp.int64)
    classes = [cp.asarray((np.arange(b.n_variants) % 6).astype(np.uint8)) for b in blocks]

    def kernels():
        for b, vc in zip(blocks, classes):
            be.variant_group_counts(b.lo, b.hi, masks, b.fail)
            be.sample_class_counts(b.lo, b.hi, vc, 6, out, n_samples=n)

    sync = cp.cuda.Device().synchronize
    kernels()
    sync()
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        kernels()
        sync()
        t = min(t, time.perf_counter() - t0)
    nbytes = sum(b.lo.nbytes + b.hi.nbytes + (0 if b.fail is None else b.fail.nbytes) for b in blocks)
    # two kernels read the planes: bytes / time against the copy bandwidth (read + write of a large buffer)
    a = cp.empty(1 << 28, dtype=cp.uint8)
    c = cp.empty_like(a)
    c[...] = a
    sync()
    tc = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        c[...] = a
        sync()
        tc = min(tc, time.perf_counter() - t0)
    d2d = 2 * a.nbytes / tc
    rate = 2 * nbytes / t
    return {"bytes_per_s": rate, "d2d_bytes_per_s": d2d, "fraction": rate / d2d,
            "genotypes_per_s": sum(b.n_variants for b in blocks) * n / t}


# ------------------------------------------------------------------------------------------------ report
def compile_bytecode(*trees: str | Path) -> None:
    """Byte-compile the ``gdbtools/`` of each tree before timing processes: an installed package has its
    ``.pyc`` files, but with ``PYTHONDONTWRITEBYTECODE`` set (as on some build machines) every process would
    compile gdbtools' sources again (~0.1 s), a cost no user sees."""
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(tree) / "gdbtools")], check=True,
                       capture_output=True)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    plink = subprocess.run(["plink2", "--version"], capture_output=True, text=True).stdout.strip()
    bcft = subprocess.run(["bcftools", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    gpu = ""
    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount():
            gpu = ", GPU " + cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception:
        pass
    return (f"{cpu}, {len(os.sched_getaffinity(0))} CPUs, {mem:.0f} GiB{gpu}; load {os.getloadavg()[0]:.2f}; "
            f"Python {platform.python_version()}; {plink}; {bcft}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohorts", nargs="+", default=["small", "large"], choices=sorted(COHORTS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--backend", default="auto", help="gdbtools CPU backend (auto -> host)")
    ap.add_argument("--gpu", action="store_true", help="also the cupy backend and the kernel bandwidth fraction")
    ap.add_argument("--no-bcftools", action="store_true", help="skip bcftools +fill-tags (slow on 'large')")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--no-append", action="store_true", help=f"do not append the table to {RESULTS}")
    args = ap.parse_args(argv)

    rows, notes = [], []
    for name in args.cohorts:
        paths = prepare(name, args.threads)
        if args.prepare_only:
            continue
        from gdbtools.store import Store

        store = Store(paths["store"])
        n, v = store.n_samples, store.n_variants
        log(f"{name}: {n} samples x {v} variants")
        p_total, p_compute = time_plink2(paths, args.threads, args.repeat)
        b_total = None if args.no_bcftools else time_bcftools(paths, args.threads, 1 if n * v > 1e9 else
                                                              min(args.repeat, 2))
        g_proc, g_rss = time_gdbtools_process(paths, args.backend, args.repeat)
        g_in, info = time_gdbtools_inprocess(paths, args.backend, args.repeat)
        block_mb = max(b["n_variants"] for b in store.blocks_meta) * 3 * 4 * -(-n // 128) * 4 / 2**20
        row = {"cohort": name, "samples": n, "variants": v, "genotypes": n * v, "plink2": p_total,
               "plink2_compute": p_compute, "bcftools": b_total, "gdb_process": g_proc, "gdb_inprocess": g_in,
               "backend": info.get("backend"), "rss_mib": g_rss, "block_mib": block_mb}
        if args.gpu:
            from gdbtools.backend.cupy_backend import gpu_available

            if gpu_available():
                g_gpu, _ = time_gdbtools_inprocess(paths, "cupy", args.repeat)
                frac = gpu_kernel_fraction(paths)
                row.update({"gpu_inprocess": g_gpu, **{f"gpu_{k}": val for k, val in frac.items()}})
            else:
                notes.append("--gpu: no CUDA device here; GPU mode not run")
        rows.append(row)
        log(f"{name}: {row}")
    if args.prepare_only:
        return 0
    table = render(rows, notes)
    print(table)
    if not args.no_append:
        header = "# Benchmarks\n\nWritten by the scripts in bench/; each section is appended by its script.\n"
        text = RESULTS.read_text() if RESULTS.exists() else header
        RESULTS.write_text(text.rstrip("\n") + "\n\n" + table)
    return 0


def render(rows: list[dict], notes: list[str]) -> str:
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## Statistics: freq + variant QC + sample QC (bench/bench_stats.py, {now})", "",
             f"Machine: {machine()}.", "",
             "gdbtools: one fused pass, `compute(freq=True, variant_qc=True, sample_qc=True)`; plink2: "
             "`--freq --hardy --missing --het` on a pgen of the same data; bcftools: `+fill-tags -t " + FILL_TAGS
             + "` on the BCF. Best of the repeats, seconds. *in-process*: the call only (warm); *process*: "
             "`python -c` with import and open. plink2 *compute*: total minus a load-only run.", "",
             "| cohort | samples x variants | plink2 total | plink2 compute | bcftools +fill-tags | gdbtools process "
             "| gdbtools in-process | in-process / plink2 total | process / plink2 total | G genotypes/s (in-process) "
             "| peak RSS MiB (block MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bc = "-" if r["bcftools"] is None else f"{r['bcftools']:.2f}"
        lines.append(
            f"| {r['cohort']} | {r['samples']:,} x {r['variants']:,} | {r['plink2']:.3f} | {r['plink2_compute']:.3f} "
            f"| {bc} | {r['gdb_process']:.3f} | {r['gdb_inprocess']:.3f} ({r['backend']}) "
            f"| {r['gdb_inprocess'] / r['plink2']:.2f} | {r['gdb_process'] / r['plink2']:.2f} "
            f"| {r['genotypes'] / r['gdb_inprocess'] / 1e9:.2f} | {r['rss_mib']:.0f} ({r['block_mib']:.0f}) |")
    gpu = [r for r in rows if "gpu_inprocess" in r]
    if gpu:
        lines += ["", "| cohort | cupy in-process s | kernels GB/s read | d2d copy GB/s | fraction of copy bandwidth |",
                  "|---|---|---|---|---|"]
        for r in gpu:
            lines.append(f"| {r['cohort']} | {r['gpu_inprocess']:.3f} | {r['gpu_bytes_per_s'] / 1e9:.1f} "
                         f"| {r['gpu_d2d_bytes_per_s'] / 1e9:.1f} | {r['gpu_fraction']:.2f} |")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
