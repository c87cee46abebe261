"""Time the genotype kernels on every backend present, on synthetic bit-planes.

    python bench/bench_kernels.py                      # 5,000 and 50,000 samples x 100,000 variants
    python bench/bench_kernels.py --samples 5000 --variants 20000 --repeat 5

Planes are uniformly random 2-bit codes (25% each of hom-ref, het, hom-alt, missing): the worst case for
the per-sample counters, which skip all-hom-ref words.  Speeds are genotypes (samples x variants) per second
of one kernel launch alone (:meth:`Backend.kernel_launcher`: checks, copies and set-up are outside the
timing; on a GPU, CUDA events around the launches); on a GPU also the bytes the kernel reads (2 planes, 3
with the failing calls, plus masks, class order or weights) per second, as a fraction of the measured
device-to-device copy bandwidth (bytes read + written).  A script, not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from gdbtools.backend import BACKEND_NAMES, get_backend
from gdbtools.errors import BackendError
from gdbtools.store.bitplanes import n_words


def synthetic_planes(n_samples: int, n_variants: int, seed: int = 0):
    """Random ``lo, hi, fail`` planes ``(V, W) uint32`` with zero padding bits, and a sample mask row."""
    rng = np.random.default_rng(seed)
    w = n_words(n_samples)
    pad = np.zeros(w * 32, dtype=bool)
    pad[:n_samples] = True
    keep = np.packbits(pad, bitorder="little").view(np.uint32)
    lo = rng.integers(0, 2**32, size=(n_variants, w), dtype=np.uint32) & keep
    hi = rng.integers(0, 2**32, size=(n_variants, w), dtype=np.uint32) & keep
    # ~10% failing calls
    fail = (rng.integers(0, 2**32, size=(n_variants, w), dtype=np.uint32)
            & rng.integers(0, 2**32, size=(n_variants, w), dtype=np.uint32)
            & rng.integers(0, 2**32, size=(n_variants, w), dtype=np.uint32)) & keep
    return lo, hi, fail, keep


def time_launch(backend, launch, repeat: int, per_event: int = 3) -> float:
    """Seconds of one kernel launch, the best of `repeat` timings.

    On a GPU, CUDA events bracket `per_event` back-to-back launches (so the Python launch cost overlaps the
    previous launch, except the first) and nothing else; on the host, wall clock around one launch.
    `launch` comes from :meth:`gdbtools.backend.Backend.kernel_launcher`: no checks, copies or set-up inside.
    """
    launch()  # warm-up (and, for CuPy, the module load)
    best = float("inf")
    if backend.on_device:
        cp = backend.xp
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        for _ in range(repeat):
            start.record()
            for _ in range(per_event):
                launch()
            stop.record()
            stop.synchronize()
            best = min(best, cp.cuda.get_elapsed_time(start, stop) / 1e3 / per_event)
        return best
    for _ in range(repeat):
        t0 = time.perf_counter()
        launch()
        best = min(best, time.perf_counter() - t0)
    return best


def d2d_bandwidth(cp, nbytes: int = 1 << 30, repeat: int = 5) -> float:
    """Measured device-to-device copy bandwidth, bytes read + written per second (CUDA events)."""
    a = cp.ones(nbytes, dtype=cp.uint8)
    b = cp.empty_like(a)
    b[...] = a
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    best = float("inf")
    for _ in range(repeat):
        start.record()
        b[...] = a
        stop.record()
        stop.synchronize()
        best = min(best, cp.cuda.get_elapsed_time(start, stop) / 1e3)
    del a, b
    return 2 * nbytes / best


def kernel_cases(backend, lo, hi, fail, keep, n_samples: int, groups=(1, 8), classes: int = 4):
    """``(name, launch, bytes read)`` per kernel configuration, on planes already on the backend's device.

    The bytes are what the kernel reads from memory once: the planes it loads (2, or 3 with the failing
    calls), the masks, class order or weights it reads per row; outputs and re-reads from cache are not
    counted.  The HWE test reads 12 bytes per triple and is compute-bound (bytes reported as 0).
    """
    xp = backend.xp
    dev = (lambda a: xp.asarray(a)) if backend.on_device else (lambda a: a)
    n_variants, w = lo.shape
    plane = n_variants * w * 4
    rng = np.random.default_rng(1)
    cases = []
    for g in groups:
        masks = np.tile(keep, (g, 1)) & rng.integers(0, 2**32, size=(g, w), dtype=np.uint32) if g > 1 \
            else keep[None, :].copy()
        m = dev(masks)
        for f, tag in ((None, ""), (fail, "+fail")):
            launch = backend.kernel_launcher("variant_group_counts", lo, hi, m, f)
            cases.append((f"variant_group_counts G={g}{tag}", launch, (2 if f is None else 3) * plane + masks.nbytes))
    var_class = dev(rng.integers(0, classes, size=n_variants).astype(np.uint8))
    for f, tag in ((None, ""), (fail, "+fail")):
        out = xp.zeros((n_samples, classes, 3), dtype=np.int64)
        launch = backend.kernel_launcher("sample_class_counts", lo, hi, var_class, classes, out, f,
                                         n_samples=n_samples)
        cases.append((f"sample_class_counts C={classes}{tag}", launch, (2 if f is None else 3) * plane
                      + 4 * n_variants))  # + the class order (int32 per row)
    wfix = dev(rng.integers(1, 2**32, size=n_variants, dtype=np.int64))
    for f, tag in ((None, ""), (fail, "+fail")):
        out = xp.zeros(n_samples, dtype=np.int64)
        launch = backend.kernel_launcher("missing_weight_sums", lo, hi, wfix, out, f)
        cases.append((f"missing_weight_sums{tag}", launch, (2 if f is None else 3) * plane + 8 * n_variants))
    counts = backend.variant_group_counts(lo, hi, dev(keep[None, :].copy()))[:, 0, :]
    het, hom = counts[:, 0], counts[:, 1]
    ref = n_samples - counts.sum(axis=1)
    cases.append(("hwe_exact (per variant)", backend.kernel_launcher("hwe_exact", het, ref, hom), 0))
    return cases


def bench(backend, lo, hi, fail, keep, n_samples: int, repeat: int, groups=(1, 8), classes: int = 4):
    """``(name, seconds per launch, bytes read)`` per kernel configuration (host arrays in)."""
    xp = backend.xp
    dev = (lambda a: xp.asarray(a)) if backend.on_device else (lambda a: a)
    lo_d, hi_d, fail_d = dev(lo), dev(hi), dev(fail)
    return [(name, time_launch(backend, launch, repeat), nbytes)
            for name, launch, nbytes in kernel_cases(backend, lo_d, hi_d, fail_d, keep, n_samples, groups, classes)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--numpy-variants", type=int, default=20_000,
                    help="variants for the (slow) numpy backend; its speed is per genotype anyway")
    ap.add_argument("--backends", nargs="+", default=list(BACKEND_NAMES))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    backends = []
    for name in args.backends:
        try:
            backends.append(get_backend(name))
        except BackendError as exc:
            print(f"# {name}: not available ({exc.message})")
    print(f"# {os.cpu_count()} CPUs; backends: {', '.join(map(repr, backends))}")
    bw = None
    for be in backends:
        if be.on_device:
            bw = d2d_bandwidth(be.xp)
            print(f"# device-to-device copy: {bw / 1e9:.0f} GB/s")
    print(f"{'samples':>8} {'variants':>9} {'backend':>7}  {'kernel':<36} {'ms':>9} {'Ggeno/s':>8} {'GB/s':>7} "
          f"{'of d2d':>7}")
    for n_samples in args.samples:
        planes = synthetic_planes(n_samples, args.variants)
        for be in backends:
            v = min(args.variants, args.numpy_variants) if be.name == "numpy" else args.variants
            lo, hi, fail, keep = planes[0][:v], planes[1][:v], planes[2][:v], planes[3]
            for kernel, t, nbytes in bench(be, lo, hi, fail, keep, n_samples, args.repeat):
                frac = f"{nbytes / t / bw:7.1%}" if (be.on_device and bw and nbytes) else ""
                gbs = f"{nbytes / t / 1e9:7.1f}" if nbytes else ""
                print(f"{n_samples:>8} {v:>9} {be.name:>7}  {kernel:<36} {t * 1e3:9.2f} "
                      f"{n_samples * v / t / 1e9:8.2f} {gbs:>7} {frac:>7}", flush=True)
        del planes
    return 0


if __name__ == "__main__":
    sys.exit(main())
