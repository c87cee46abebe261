"""The device check: what a GPU node does with gdbtools, in one command (run by ``scripts/gpu-check``).

    python bench/gpu_check.py [--out DIR] [--samples 60000] [--variants 300000] [--kernel-variants 50000]

Steps, each recorded under the output folder (``$OUT`` when set, else ``gpu-check-out/``):

1. the machine: device, driver, CUDA runtime and NVRTC, Python and package versions (``environment``);
2. the CuPy parity suite: ``pytest tests/backend`` with ``GDBTOOLS_REQUIRE_GPU=1`` (a CuPy backend that
   cannot start, or any difference from the brute-force decode, fails it) (``parity``);
3. kernel-only throughput: each kernel launched alone (:meth:`Backend.kernel_launcher`), timed with CUDA
   events, bytes counted from what it reads, against the measured device-to-device copy (``kernels``);
4. a synthetic store of ``--samples`` x ``--variants`` built here (:mod:`gdbtools.simulate_store`, no
   msprime), and the full pass (frequencies by population and sex with adj, variant QC, sample QC) on the
   host backend, on the CuPy backend and on a ``local-cuda`` Dask cluster, the tables compared exactly with
   the host's; the pass's own timers (``PassResult.timers``) plus read, decode and host-to-device transfer
   of every block measured apart (``pass``, ``io``).  On CuPy the pass runs twice: blocks decoded on the GPU
   (nvCOMP, the default) and decoded on the host (``GDBTOOLS_DECODE=host``), tables compared;
5. block decoding by the backend (``bench/gpu_decode.py``): the GPU decode against the host decode byte for
   byte on the ``hybrid2`` pass store and a ``dense2`` store, and its throughput (``decode``).

Without a CUDA device, steps 1, 4 and 5 run on the host backend only; then the check exits with status 3 and a
line ``no CUDA device: <why>``.  A failed step exits 1; otherwise 0.  ``summary.md`` is the markdown to paste
into bench/RESULTS.md; ``results.json`` holds every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # this checkout's gdbtools, and bench_kernels beside us
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)  # workers

import gpu_decode  # noqa: E402

from gdbtools.backend import get_backend  # noqa: E402

EXIT_NO_DEVICE = 3
PACKAGES = ("numpy", "pandas", "pyarrow", "numba", "scipy", "zstandard", "pytest", "dask", "distributed",
            "dask-cuda", "rmm-cu12", "rmm-cu13", "cupy", "cupy-cuda12x", "cupy-cuda13x", "nvidia-cuda-nvrtc",
            "nvidia-cuda-nvrtc-cu12")


def log(text: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {text}", flush=True)


def _run(cmd: list[str], timeout: float = 60) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (proc.stdout or proc.stderr).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unavailable ({exc.__class__.__name__})"


# ------------------------------------------------------------------------------------------ 1. machine
def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    info = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "packages": versions, "git": _run(["git", "-C", str(REPO), "describe", "--always", "--dirty"])}
    if shutil.which("nvidia-smi"):
        info["nvidia_smi"] = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                                   "clocks.max.mem,pcie.link.gen.max,pcie.link.width.max", "--format=csv"])
    if shutil.which("nvcc"):
        info["nvcc"] = _run(["nvcc", "--version"]).splitlines()[-1]
    return info


def probe_device() -> tuple[dict | None, str]:
    """The device's properties, or None and why there is none."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA library under it
        return None, f"CuPy does not import ({exc.__class__.__name__}: {exc})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return None, f"the CUDA runtime finds no device ({exc})"
    if n == 0:
        return None, "the CUDA runtime reports 0 devices"
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props.get("name", b"?")
    dev = {"count": n, "name": name.decode() if isinstance(name, bytes) else str(name),
           "compute_capability": f"{props.get('major')}.{props.get('minor')}",
           "multiprocessors": props.get("multiProcessorCount"),
           "memory_gib": round(props.get("totalGlobalMem", 0) / 2**30, 1),
           "l2_mib": round(props.get("l2CacheSize", 0) / 2**20, 1), "driver_cuda": rt.driverGetVersion(),
           "runtime_cuda": rt.runtimeGetVersion(), "cupy": cupy.__version__}
    try:
        from cupy.cuda import nvrtc
        dev["nvrtc"] = ".".join(map(str, nvrtc.getVersion()))
    except Exception as exc:
        dev["nvrtc"] = f"unavailable ({exc})"
    return dev, ""


# ------------------------------------------------------------------------------------- 2. parity suite
def parity(out: Path, timeout: float) -> dict:
    junit = out / "parity-junit.xml"
    env = dict(os.environ, GDBTOOLS_REQUIRE_GPU="1", PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    cmd = [sys.executable, "-m", "pytest", "tests/backend", "-q", "-p", "no:cacheprovider", "-rfEs",
           f"--junitxml={junit}"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        rc, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rc, text = -1, f"timed out after {timeout:.0f} s\n{partial}"
    (out / "parity.log").write_text(text)
    res: dict[str, Any] = {"returncode": rc, "seconds": round(time.perf_counter() - t0, 1),
                           "tail": text.strip().splitlines()[-3:]}
    if junit.is_file():
        cases = ET.parse(junit).getroot().iter("testcase")
        counts = {"passed": 0, "failed": 0, "skipped": 0, "cupy_passed": 0, "cupy_not_passed": 0}
        for case in cases:
            outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None
                       else "skipped" if case.find("skipped") is not None else "passed")
            counts[outcome] += 1
            if "cupy" in case.get("name", ""):
                counts["cupy_passed" if outcome == "passed" else "cupy_not_passed"] += 1
        res.update(counts)
    res["ok"] = rc == 0 and res.get("cupy_passed", 0) > 0 and res.get("cupy_not_passed", 1) == 0
    return res


# ----------------------------------------------------------------------------------------- 3. kernels
def kernels(n_samples: int, n_variants: int, repeat: int) -> dict:
    import cupy as cp
    from bench_kernels import d2d_bandwidth, kernel_cases, synthetic_planes, time_launch

    be = get_backend("cupy")
    bw = d2d_bandwidth(cp)
    lo, hi, fail, keep = synthetic_planes(n_samples, n_variants)
    lo_d, hi_d, fail_d = (cp.asarray(a) for a in (lo, hi, fail))
    rows = []
    for name, launch, nbytes in kernel_cases(be, lo_d, hi_d, fail_d, keep, n_samples):
        t = time_launch(be, launch, repeat)
        rows.append({"kernel": name, "ms": round(t * 1e3, 3), "Ggeno_per_s": round(n_samples * n_variants / t / 1e9, 1),
                     "GB_per_s": round(nbytes / t / 1e9, 1) if nbytes else None,
                     "of_d2d": round(nbytes / t / bw, 3) if nbytes else None})
        log(f"  {name:<36} {t * 1e3:8.2f} ms" + (f"  {nbytes / t / 1e9:7.0f} GB/s ({nbytes / t / bw:.0%} of copy)"
                                                  if nbytes else ""))
    return {"samples": n_samples, "variants": n_variants, "d2d_GB_per_s": round(bw / 1e9, 1), "rows": rows}


# -------------------------------------------------------------------------------- 4. store and passes
def full_pass(store, backend: str, client=False):
    from gdbtools.stats import api
    from gdbtools.stats.selection import Selection

    t0 = time.perf_counter()
    res = api.compute(Selection(store), freq=["population", "sex"], adj=True, variant_qc=True, sample_qc=True,
                      backend=backend, client=client)
    return res, time.perf_counter() - t0


def compare(ref, other) -> list[str]:
    """Differences between two Results' tables (exact: same values, dtypes and order)."""
    import pandas as pd

    problems = []
    for name in ("freq", "variant_qc", "sample_qc"):
        try:
            pd.testing.assert_frame_equal(getattr(ref, name), getattr(other, name), check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0:4]}")
    return problems


def pass_row(label: str, res, seconds: float, n_genotypes: int) -> dict:
    info = res.info
    return {"run": label, "seconds": round(seconds, 2), "seconds_pass": round(info["seconds_pass"], 2),
            "Ggeno_per_s": round(n_genotypes / info["seconds_pass"] / 1e9, 2), "timers": info["pass_timers"]}


def dask_pass(store, ref, n_genotypes: int) -> dict:
    import cupy

    import gdbtools.cluster as gc

    cupy.get_default_memory_pool().free_all_blocks()  # this process's cached blocks: room for the workers' pool
    t0 = time.perf_counter()
    try:
        client = gc.connect("local-cuda", quiet=True, dashboard_address=None, rmm_pool_size="24GB")
    except Exception as exc:
        return {"ok": False, "error": f"local-cuda cluster did not start: {exc}"}
    try:
        started = time.perf_counter() - t0
        full_pass(store, "cupy", client)  # warm-up: NVRTC on the worker
        res, seconds = full_pass(store, "cupy", client)
        problems = compare(ref, res)
        return {"ok": not problems, "start_s": round(started, 1), "differences": problems,
                **pass_row("cupy on local-cuda Dask", res, seconds, n_genotypes)}
    finally:
        gc.close(client)


# ------------------------------------------------------------------------------------------- summary
def _pct(v) -> str:
    return "" if v is None else f"{v:.0%}"


def targets(r: dict) -> list[str]:
    """The issue's targets, each with the measured value (only those the run measured)."""
    out = []
    k = r.get("kernels")
    if k:
        dense = [x for x in k["rows"] if x["of_d2d"] is not None and x["kernel"].startswith(("variant", "sample"))]
        worst = min(dense, key=lambda x: x["of_d2d"]) if dense else None
        if worst:
            out.append(f"fused count kernels >= 70% of the copy bandwidth on dense blocks: lowest "
                       f"{worst['of_d2d']:.0%} ({worst['kernel']}) -> {'met' if worst['of_d2d'] >= 0.7 else 'NOT met'}")
    passes = {x["run"]: x for x in r.get("passes", [])}
    if "host" in passes and "cupy" in passes:
        speed = passes["host"]["seconds_pass"] / passes["cupy"]["seconds_pass"]
        out.append(f"end-to-end pass >= 10x the host backend on this node's CPUs: {speed:.1f}x -> "
                   f"{'met' if speed >= 10 else 'NOT met'}")
        t = passes["cupy"]["timers"]
        on_device = sum(t.get(n, 0.0) for n in ("variant_counts", "hwe", "sample_counts", "f_sums", "sparse_samples"))
        io = r.get("io") or {}
        if k and io.get("decoded_MB"):
            floor = io["decoded_MB"] / 1e3 / k["d2d_GB_per_s"]
            dec = r.get("decode") or {}
            where = "decode on the GPU" if dec.get("on_device") else "decode on the host"
            if dec.get("throughput"):
                on_device += dec["throughput"]["seconds"] if dec.get("on_device") else 0.0
            out.append(f"on-device part within 20x of the bandwidth floor ({floor * 1e3:.1f} ms): compute timers "
                       f"(+ the decode alone) {on_device:.3f} s = {on_device / floor:.0f}x (host wall clock; {where})")
        read = io.get("compressed_MB", 0) / 1e3 / max(passes["cupy"]["seconds_pass"], 1e-9)
        out.append(f"the whole pass limited by reading: {read:.2f} GB/s of compressed blocks over the pass; "
                   f"read_wait {t.get('read_wait')} s of {passes['cupy']['seconds_pass']} s")
    return out


def summary(r: dict) -> str:
    env, dev = r.get("environment", {}), r.get("device") or {}
    lines = [f"## GPU check {r['started']}: {dev.get('name', 'no CUDA device')}", ""]
    if "name" in dev:
        lines.append(f"- device: {dev['name']} (cc {dev['compute_capability']}, {dev['multiprocessors']} SMs, "
                     f"{dev['memory_gib']} GiB, L2 {dev['l2_mib']} MiB); CUDA driver {dev['driver_cuda']}, runtime "
                     f"{dev['runtime_cuda']}, NVRTC {dev['nvrtc']}, CuPy {dev['cupy']}")
    else:
        lines.append(f"- no CUDA device: {dev.get('none', '?')}")
    pk = env.get("packages", {})
    others = ", ".join(f"{k} {v}" for k, v in pk.items() if not k.startswith("cupy"))
    lines.append(f"- host: {env.get('cpus')} CPUs, Python {env.get('python')}, {others}; gdbtools {env.get('git')}")
    if env.get("nvidia_smi"):
        lines.append(f"- nvidia-smi: `{' | '.join(env['nvidia_smi'].splitlines()[1:])}`")
    if "wheels_installed" in r:
        lines.append(f"- installed from .gpu-wheels: {r['wheels_installed'] or 'nothing (all present)'}")
    p = r.get("parity")
    if p:
        lines.append(f"- parity suite (tests/backend, GDBTOOLS_REQUIRE_GPU=1): {'ok' if p['ok'] else 'FAILED'}, "
                     f"{p.get('passed')} passed ({p.get('cupy_passed')} on CuPy), {p.get('failed')} failed, "
                     f"{p.get('skipped')} skipped, {p['seconds']} s")
    k = r.get("kernels")
    if k:
        lines += ["", f"Kernels alone ({k['samples']:,} samples x {k['variants']:,} variants, random codes; CUDA "
                      f"events; device-to-device copy {k['d2d_GB_per_s']} GB/s read+written):", "",
                  "| kernel | ms | Ggeno/s | GB/s read | of copy |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {x['kernel']} | {x['ms']} | {x['Ggeno_per_s']} | {x['GB_per_s'] or ''} | {_pct(x['of_d2d'])} |"
                  for x in k["rows"]]
    s = r.get("store")
    if s:
        lines += ["", f"Full pass (frequencies by population and sex with adj, variant QC, sample QC) on a synthetic "
                      f"store of {s['samples']:,} samples x {s['variants']:,} variants ({s['blocks']} blocks, "
                      f"{s['MB']} MB, built in {s['seconds']} s):", "",
                  "| run | pass s | Ggeno/s | vs host | read_wait | variant_counts | hwe | sample_counts | f_sums "
                  "| sparse_samples | other | tables equal host |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        host_s = next((x["seconds_pass"] for x in r.get("passes", []) if x["run"].startswith("host")), None)
        for x in r.get("passes", []):
            t = x["timers"]
            speed = f"{host_s / x['seconds_pass']:.1f}x" if host_s else ""
            lines.append(f"| {x['run']} | {x['seconds_pass']} | {x['Ggeno_per_s']} | {speed} | "
                         + " | ".join(str(t.get(n, "")) for n in ("read_wait", "variant_counts", "hwe",
                                                                  "sample_counts", "f_sums", "sparse_samples",
                                                                  "other"))
                         + f" | {x.get('equal', '(reference)')} |")
    io = r.get("io")
    if io:
        lines += ["", f"Blocks alone (one thread): read {io['read_GB_per_s']} GB/s of {io['compressed_MB']} MB "
                      f"compressed (page cache: the store was just written), decode {io['decode_GB_per_s_out']} GB/s "
                      f"into {io['decoded_MB']} MB" + (f", host-to-device {io['h2d_GB_per_s']} GB/s (pageable)"
                                                       if "h2d_GB_per_s" in io else "") + "."]
        if k and "h2d_GB_per_s" in io:
            floor = io["decoded_MB"] / 1e3 / k["d2d_GB_per_s"]
            lines.append(f"Bandwidth floor of the decoded blocks at the copy bandwidth: {floor * 1e3:.2f} ms.")
    if r.get("decode"):
        lines += gpu_decode.summary_lines(r["decode"])
    d = r.get("dask")
    if d and not d.get("ok"):
        lines += ["", f"local-cuda Dask pass FAILED: {d.get('error') or d.get('differences')}"]
    goals = targets(r)
    if goals:
        lines += ["", "Targets (issue 10):", *[f"- {g}" for g in goals]]
    b = r.get("burden")
    if b:
        lines += ["", f"Gene-based tests (burden + SKAT + SKAT-O + ACAT-O), {b['samples']:,} samples, {b['genes']} "
                  f"genes: host {b['host_seconds']} s, cupy {b['cupy_seconds']} s ({b['speedup']}x; "
                  f"{b['cupy_genes_x_samples_per_s']:,} genes x samples / s); tables "
                  f"{'equal' if b['ok'] else 'DIFFER'} (max rel. diff p {b['max_rel_diff_p']:.1e})"]
    if r.get("errors"):
        lines += ["", "Errors:", *[f"- {e}" for e in r["errors"]]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default $OUT, else gpu-check-out/)")
    ap.add_argument("--samples", type=int, default=60_000)
    ap.add_argument("--variants", type=int, default=300_000)
    ap.add_argument("--kernel-variants", type=int, default=50_000, help="variants of the kernel-only planes")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--parity-timeout", type=float, default=300)
    ap.add_argument("--store-dir", type=Path, default=None, help="where to build the store (default: a temp dir)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-burden", action="store_true", help="skip the gene-based tests section")
    args = ap.parse_args(argv)
    out = args.out or Path(os.environ.get("OUT") or REPO / "gpu-check-out")
    out.mkdir(parents=True, exist_ok=True)
    r: dict = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "errors": []}
    if os.environ.get("GDBTOOLS_WHEELS_INSTALLED") is not None:
        r["wheels_installed"] = os.environ["GDBTOOLS_WHEELS_INSTALLED"]

    def save():
        (out / "results.json").write_text(json.dumps(r, indent=1, default=str))
        (out / "summary.md").write_text(summary(r))

    def step(name, fn, *a):
        log(f"{name} ...")
        try:
            return fn(*a)
        except Exception as exc:  # record and go on: the other steps still say something
            r["errors"].append(f"{name}: {exc.__class__.__name__}: {exc}")
            log(f"{name} FAILED: {exc.__class__.__name__}: {exc}")
            return None
        finally:
            save()

    r["environment"] = step("environment", environment)
    dev, why = probe_device()
    r["device"] = dev or {"none": why}
    log(f"device: {dev['name'] if dev else 'none (' + why + ')'}")
    failed = False
    if dev:
        r["parity"] = step("parity suite", parity, out, args.parity_timeout)
        failed |= not (r["parity"] or {}).get("ok", False)
        r["kernels"] = step("kernel throughput", kernels, args.samples, args.kernel_variants, args.repeat)
    import tempfile

    from gdbtools.simulate_store import write_synthetic_store

    tmp = Path(tempfile.mkdtemp(prefix="gdb-gpu-check-", dir=args.store_dir))
    try:
        t0 = time.perf_counter()
        store = step("synthetic store", write_synthetic_store, tmp / "store", args.samples, args.variants)
        if store is not None:
            mb = sum(f.stat().st_size for f in (tmp / "store").rglob("*") if f.is_file()) / 1e6
            r["store"] = {"samples": args.samples, "variants": args.variants, "blocks": len(store.blocks_meta),
                          "MB": round(mb, 1), "seconds": round(time.perf_counter() - t0, 1)}
            warm = write_synthetic_store(tmp / "warm", 500, 3000, workers=1)
            n_geno = args.samples * args.variants
            r["passes"] = []
            # (label, backend, $GDBTOOLS_DECODE): on CuPy the blocks are decoded on the GPU, and once on the host
            runs = [("host", "host", "auto")] + ([("cupy", "cupy", "auto"), ("cupy, host decode", "cupy", "host")]
                                                 if dev else [])
            ref = None
            for label, name, decode in runs:
                os.environ["GDBTOOLS_DECODE"] = decode
                step(f"warm-up pass ({label})", full_pass, warm, name)
                got = step(f"full pass ({label})", full_pass, store, name)
                os.environ.pop("GDBTOOLS_DECODE", None)
                if got is None:
                    failed = True
                    continue
                res, seconds = got
                row = pass_row(label, res, seconds, n_geno)
                if ref is None:
                    ref = res
                else:
                    problems = compare(ref, res)
                    row["equal"] = "yes" if not problems else "NO"
                    row["differences"] = problems
                    failed |= bool(problems)
                r["passes"].append(row)
                log(f"  {name}: {row['seconds_pass']} s, {row['Ggeno_per_s']} Ggeno/s, timers {row['timers']}")
                save()
            r["io"] = step("read / decode / transfer", gpu_decode.io_split, store, bool(dev))
            dense = step("dense2 store", lambda: write_synthetic_store(tmp / "dense2", args.samples,
                                                                       min(args.variants, 10_000), encoding="dense2"))
            if dense is not None:
                d2d = (r.get("kernels") or {}).get("d2d_GB_per_s")
                r["decode"] = step("block decoding by the backend", gpu_decode.run, "cupy" if dev else "host",
                                   {"hybrid2": store, "dense2": dense}, store, d2d)
                failed |= not (r["decode"] or {}).get("ok", False)
            if dev and not args.no_burden:
                from bench_burden import gpu_burden

                r["burden"] = step("burden tests (host vs cupy)", gpu_burden, tmp / "burden")
                failed |= not (r["burden"] or {}).get("ok", False)
            if dev and ref is not None and not args.no_dask:
                r["dask"] = step("local-cuda Dask pass", dask_pass, store, ref, n_geno)
                failed |= not (r["dask"] or {}).get("ok", False)
                if r["dask"] and "run" in r["dask"]:
                    r["passes"].append({**r["dask"], "equal": "yes" if r["dask"]["ok"] else "NO"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed |= bool(r["errors"])
    save()
    print(summary(r))
    log(f"wrote {out / 'summary.md'} and {out / 'results.json'}")
    if not dev:
        print(f"no CUDA device: {why}", flush=True)
        return EXIT_NO_DEVICE
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
