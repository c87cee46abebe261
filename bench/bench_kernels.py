"""Time the genotype kernels on every backend present, on synthetic bit-planes.

    python bench/bench_kernels.py                      # 5,000 and 50,000 samples x 100,000 variants
    python bench/bench_kernels.py --samples 5000 --variants 20000 --repeat 5

Planes are uniformly random 2-bit codes (25% each of hom-ref, het, hom-alt, missing): the worst case for
the per-sample counters, which skip all-hom-ref words.  Speeds are genotypes (samples x variants) per second
of one kernel call; on a GPU also as a fraction of the measured device-to-device copy bandwidth over the
bytes the kernel must read.  A script, not a test: speed is never asserted.
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


def _timeit(fn, repeat: int, sync=lambda: None) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _d2d_bandwidth(cp) -> float:
    """Measured device-to-device copy bandwidth (bytes read + written per second)."""
    a = cp.empty(1 << 28, dtype=cp.uint8)
    b = cp.empty_like(a)
    t = _timeit(lambda: b.__setitem__(Ellipsis, a), 5, cp.cuda.Device().synchronize)
    return 2 * a.nbytes / t


def bench(backend, lo, hi, fail, keep, n_samples: int, repeat: int, groups=(1, 8), classes: int = 4):
    xp = backend.xp
    sync = (lambda: xp.cuda.Device().synchronize()) if backend.on_device else (lambda: None)
    dev = (lambda a: xp.asarray(a)) if backend.on_device else (lambda a: a)
    lo_d, hi_d, fail_d = dev(lo), dev(hi), dev(fail)
    n_variants, w = lo.shape
    rng = np.random.default_rng(1)
    rows = []
    for g in groups:
        masks = np.tile(keep, (g, 1)) & rng.integers(0, 2**32, size=(g, w), dtype=np.uint32) if g > 1 \
            else keep[None, :].copy()
        m = dev(masks)
        for f, tag in ((None, ""), (fail_d, "+fail")):
            t = _timeit(lambda: backend.variant_group_counts(lo_d, hi_d, m, f), repeat, sync)
            rows.append((f"variant_group_counts G={g}{tag}", t, (3 if f is None else 4) * lo.nbytes + masks.nbytes))
    var_class = dev(rng.integers(0, classes, size=n_variants).astype(np.uint8))
    out = xp.zeros((n_samples, classes, 3), dtype=np.int64)
    for f, tag in ((None, ""), (fail_d, "+fail")):
        t = _timeit(lambda: backend.sample_class_counts(lo_d, hi_d, var_class, classes, out, f,
                                                         n_samples=n_samples), repeat, sync)
        rows.append((f"sample_class_counts C={classes}{tag}", t, (2 if f is None else 3) * lo.nbytes))
    counts = backend.variant_group_counts(lo_d, hi_d, dev(keep[None, :].copy()))[:, 0, :]
    het, hom = counts[:, 0], counts[:, 1]
    ref = n_samples - counts.sum(axis=1)
    t = _timeit(lambda: backend.hwe_exact_unique(het, ref, hom), repeat, sync)
    rows.append(("hwe_exact_unique (per variant)", t, 0))
    return rows


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
            bw = _d2d_bandwidth(be.xp)
            print(f"# device-to-device copy: {bw / 1e9:.0f} GB/s")
    print(f"{'samples':>8} {'variants':>9} {'backend':>7}  {'kernel':<36} {'ms':>9} {'Ggeno/s':>8} {'of d2d':>7}")
    for n_samples in args.samples:
        planes = synthetic_planes(n_samples, args.variants)
        for be in backends:
            v = min(args.variants, args.numpy_variants) if be.name == "numpy" else args.variants
            lo, hi, fail, keep = planes[0][:v], planes[1][:v], planes[2][:v], planes[3]
            for kernel, t, nbytes in bench(be, lo, hi, fail, keep, n_samples, args.repeat):
                frac = f"{nbytes / t / bw:7.1%}" if (be.on_device and bw and nbytes) else ""
                print(f"{n_samples:>8} {v:>9} {be.name:>7}  {kernel:<36} {t * 1e3:9.2f} "
                      f"{n_samples * v / t / 1e9:8.2f} {frac:>7}", flush=True)
        del planes
    return 0


if __name__ == "__main__":
    sys.exit(main())
