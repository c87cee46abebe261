"""Gene-based tests (burden + SKAT + SKAT-O, ACAT-O over them): genes x samples per second.

    python bench/bench_burden.py                         # 1kg chr22 and the cached small/large cohorts, CPU
    python bench/bench_burden.py --cohorts 1kg small --backends numpy host --no-append
    python bench/bench_burden.py --gpu                   # also the cupy backend (needs a CUDA device)

Cohorts:

- **1kg**: ``../shared/data/1kg_phase1_chr22_1092`` (1,092 samples, 19,773 variants; real genotypes),
  ingested once under ``bench/out/1kg``, genes = the refFlat gene bodies of chr22;
- **small** / **large**: the simulated 5,000- and 20,000-sample cohorts of ``bench/bench_stats.py`` (made
  there and cached under ``bench/out/``; ``python bench/bench_stats.py --prepare-only`` builds them), genes =
  windows of ``--window`` bp (the simulation has no gene model), limited to ``--max-genes`` genes;
- **synth5k** / **synth20k**: synthetic stores (:mod:`gdbtools.simulate_store`, seconds to write, no msprime)
  of 5,000 / 20,000 samples x 50,000 variants, genes = 500 bp windows (~70 variants, 7 bp apart).

``--out DIR`` puts the cached inputs elsewhere than ``bench/out/``.

Phenotypes are simulated (seeded): a quantitative trait with two covariates. One call of
``cohort.burden(..., tests=["burden", "skat", "skato", "acato"], max_af=[0.01])`` per backend, timed in
process after a warm-up on a few genes (best of ``--repeat``). The throughput is genes x analysed samples /
seconds. A script, not a test: speed is never asserted. The Hail ``hl.skat`` side by side on the same data is
the hail-oracle helper's script (its row goes into the same section).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
DATA = REPO.parent / "shared" / "data"
KG = DATA / "1kg_phase1_chr22_1092"
TESTS = ["burden", "skat", "skato", "acato"]

sys.path[:0] = [str(HERE)]  # bench_stats beside us (machine(), the cached cohorts)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ inputs
def kg_store():
    from gdbtools.ingest import ingest
    from gdbtools.store import Store

    path = OUT / "1kg" / "store"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path / "manifest.json").exists():
        log("1kg: ingesting chr22")
        ingest(KG / "1KG_phase1_release_v3_chr22.vcf.gz", path, metadata=KG / "1KG_phase1_chr22_samples.tsv",
               workers=1, progress=False, overwrite=True)
    return Store(path)


def kg_genes(out: Path) -> Path:
    bed = pd.read_csv(DATA / "gene_annotation_hg19" / "genes_refFlat_hg19.bed", sep="\t")
    bed[bed["#chrom"].astype(str) == "22"].to_csv(out, sep="\t", index=False)
    return out


def window_genes(store, out: Path, width: int, max_genes: int) -> Path:
    """A BED of consecutive ``width``-bp windows over the autosomes of ``store`` (at most ``max_genes``)."""
    v = store.variants(["contig", "pos"])
    rows = []
    for contig, part in v.groupby("contig", sort=False):
        if str(contig).lstrip("chr") in ("X", "Y", "M", "MT"):
            continue
        first = int(part["pos"].min()) - 1
        edges = np.arange(first - first % width, int(part["pos"].max()) + width, width)
        rows += [(contig, int(a), int(b), f"{contig}_w{i:05d}") for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]
    bed = pd.DataFrame(rows[:max_genes], columns=["#chrom", "start", "end", "name"])
    bed.to_csv(out, sep="\t", index=False)
    return out


def phenotypes(store, out: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    n = store.n_samples
    df = pd.DataFrame({"sample_id": store.samples["sample_id"].astype(str).to_numpy(),
                       "age": rng.uniform(20, 80, n), "c2": rng.normal(size=n)})
    df["y"] = 0.02 * df["age"] + rng.normal(size=n)
    df.to_csv(out, sep="\t", index=False)
    return out


SYNTH = {"synth5k": 5_000, "synth20k": 20_000}


def cohorts(names: list[str], window: int, max_genes: int) -> list[dict]:
    from gdbtools.simulate_store import write_synthetic_store
    from gdbtools.store import Store

    found = []
    for name in names:
        d = OUT / name
        d.mkdir(parents=True, exist_ok=True)
        if name == "1kg":
            store = kg_store()
            genes = kg_genes(d / "genes.bed")
        elif name in SYNTH:
            path = d / "store"
            if not (path / "manifest.json").exists():
                log(f"{name}: writing a synthetic store")
                write_synthetic_store(path, SYNTH[name], 50_000, x_fraction=0.0, overwrite=True)
            store = Store(path)
            genes = window_genes(store, d / "genes.bed", 500, max_genes)
        else:
            path = d / "store"
            if not (path / "manifest.json").exists():
                log(f"{name}: no cached store at {path} (python bench/bench_stats.py --prepare-only --cohorts {name})")
                continue
            store = Store(path)
            genes = window_genes(store, d / "genes.bed", window, max_genes)
        found.append({"name": name, "store": store, "genes": genes, "pheno": phenotypes(store, d / "pheno.tsv")})
    return found


# ------------------------------------------------------------------------------------------------ timing
def time_burden(store, pheno: Path, genes: Path, backend: str, repeat: int, tests=TESTS) -> dict:
    """Best of ``repeat`` calls (after a warm-up on 5 genes); genes tested, samples, seconds, the table."""
    import gdbtools

    cohort = gdbtools.open(store.path)
    kw = dict(covariates=["age", "c2"], genes=genes, max_af=[0.01], tests=list(tests), backend=backend,
              progress=False)
    warm = pd.read_csv(genes, sep="\t").head(5)
    warm_bed = genes.with_name(f"warm_{genes.name}")
    warm.to_csv(warm_bed, sep="\t", index=False)
    cohort.burden(pheno, "y", **{**kw, "genes": warm_bed})
    best, table = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        table = cohort.burden(pheno, "y", **kw)
        best = min(best, time.perf_counter() - t0)
    assert table is not None
    n_genes = int(table.loc[table["n_variants"] > 0, "gene"].nunique())
    n = int(table.attrs["null_model"]["n"])
    return {"backend": backend, "tests": ",".join(tests), "genes": n_genes, "samples": n, "seconds": best,
            "genes_x_samples_per_s": n_genes * n / best, "rows": len(table), "table": table}


def compare(ref: pd.DataFrame, other: pd.DataFrame) -> float:
    """The largest relative difference of p between two tables of the same genes (0 when equal)."""
    a, b = ref["p"].to_numpy(), other["p"].to_numpy()
    both = np.isfinite(a) & np.isfinite(b)
    if (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf")
    return float(np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(a[both]), 1e-300), initial=0.0))


def gpu_burden(work: Path, n_samples: int = 20_000, n_variants: int = 40_000, max_genes: int = 100,
               repeat: int = 1, tests=("burden", "skat", "acato")) -> dict:
    """The burden section of ``scripts/gpu-check`` (run only with a device): a synthetic store of ``n_samples``
    x ``n_variants`` (:mod:`gdbtools.simulate_store`), genes = 1 kb windows, the same call on the host and
    the cupy backends; the tables must agree (counts and p-value methods equal, p within 1e-10 relative).
    SKAT-O is left out by default: its p-value integral costs seconds per gene on the host today."""
    from gdbtools.simulate_store import write_synthetic_store

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = write_synthetic_store(work / "burden-store", n_samples, n_variants, x_fraction=0.0, workers=1)
    built = time.perf_counter() - t0
    genes = window_genes(store, work / "genes.bed", 1_000, max_genes)  # ~140 variants each (7 bp apart)
    pheno = phenotypes(store, work / "pheno.tsv")
    host = time_burden(store, pheno, genes, "host", repeat, tests)
    gpu = time_burden(store, pheno, genes, "cupy", repeat, tests)
    exact = ["gene", "mask", "bin", "test", "n_variants", "n_carriers", "mac", "p_method"]
    same = bool(host["table"][exact].equals(gpu["table"][exact]))
    diff = compare(host["table"], gpu["table"])
    return {"samples": n_samples, "variants": n_variants, "store_seconds": round(built, 1), "genes": host["genes"],
            "tests": ",".join(tests),
            "host_seconds": round(host["seconds"], 3), "cupy_seconds": round(gpu["seconds"], 3),
            "speedup": round(host["seconds"] / gpu["seconds"], 2),
            "host_genes_x_samples_per_s": round(host["genes_x_samples_per_s"]),
            "cupy_genes_x_samples_per_s": round(gpu["genes_x_samples_per_s"]),
            "counts_equal": same, "max_rel_diff_p": diff, "ok": same and diff <= 1e-10}


def render(rows: list[dict], notes: list[str]) -> str:
    from bench_stats import machine

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## Gene-based tests: burden + SKAT + SKAT-O (+ ACAT-O) (bench/bench_burden.py, {now})", "",
             f"Machine: {machine()}.", "",
             "`cohort.burden(pheno, 'y', covariates=[age, c2], max_af=[0.01], tests=[burden, skat, skato, acato])` "
             "in process, best of the repeats after a warm-up; genes = genes with a variant (1kg: refFlat gene "
             "bodies of chr22; simulated cohorts: fixed windows). Throughput = genes x samples / seconds. "
             "*max rel. diff p*: against the first backend of the cohort.", "",
             "| cohort | backend | tests | genes | samples | seconds | genes x samples / s | max rel. diff p |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = "-" if r.get("max_rel_diff") is None else f"{r['max_rel_diff']:.1e}"
        lines.append(f"| {r['cohort']} | {r['backend']} | {r['tests']} | {r['genes']:,} | {r['samples']:,} "
                     f"| {r['seconds']:.2f} | {r['genes_x_samples_per_s']:,.0f} | {diff} |")
    lines.append("| 1kg | Hail `hl.skat` (hail-oracle's script) | skat | | | | | |")
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohorts", nargs="+", default=["1kg", "small", "large"],
                    choices=["1kg", "small", "large", *SYNTH])
    ap.add_argument("--out", type=Path, default=None, help="cache folder (default bench/out/)")
    ap.add_argument("--backends", nargs="+", default=["numpy", "host"])
    ap.add_argument("--gpu", action="store_true", help="also the cupy backend")
    ap.add_argument("--window", type=int, default=20_000, help="bp per simulated gene")
    ap.add_argument("--max-genes", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tests", default=",".join(TESTS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--no-append", action="store_true", help=f"do not append the table to {RESULTS}")
    args = ap.parse_args(argv)
    if args.out is not None:
        global OUT
        OUT = args.out
    backends = list(args.backends) + (["cupy"] if args.gpu else [])
    rows, notes = [], []
    for c in cohorts(args.cohorts, args.window, args.max_genes):
        ref = None
        for backend in backends:
            if backend == "cupy":
                from gdbtools.backend.cupy_backend import gpu_available

                if not gpu_available():
                    notes.append("--gpu: no CUDA device here; cupy not run")
                    continue
            log(f"{c['name']}: {backend}")
            r = time_burden(c["store"], c["pheno"], c["genes"], backend, args.repeat, args.tests.split(","))
            r["cohort"] = c["name"]
            r["max_rel_diff"] = None if ref is None else compare(ref, r["table"])
            ref = r["table"] if ref is None else ref
            log(f"  {r['genes']} genes x {r['samples']} samples in {r['seconds']:.2f} s "
                f"({r['genes_x_samples_per_s']:,.0f} genes x samples / s)")
            rows.append({k: v for k, v in r.items() if k != "table"})
    table = render(rows, notes)
    print(table)
    if not args.no_append:
        RESULTS.write_text(RESULTS.read_text().rstrip("\n") + "\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
