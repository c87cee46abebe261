"""The ``"cupy"`` backend: the CUDA kernels through :class:`cupy.RawModule` (NVRTC, cubin for the device)."""

from __future__ import annotations

import glob
import os
import sys
import threading
import warnings

import numpy as np

from gdbtools.backend import frames, kernels
from gdbtools.backend._base import Backend, HweResult
from gdbtools.errors import BackendError

__all__ = ["CupyBackend", "gpu_available"]

MAX_CHUNK = 4095  # kernels/sample_counts.cu: kCounterBits = 12 on the GPU
DOSAGE_THREADS = 256  # kernels/dosages.cu: kDosageThreads
WSUM_THREADS = 128  # kernels/weight_sums.cu: kWsumThreads (the shared accumulators are laid out for it)
_TARGET_THREADS = 1 << 20  # enough resident work for the largest GPUs (H100: 132 SMs x 2048 threads)


def _no_cuda_device_node() -> bool:
    """True on Linux when no NVIDIA device node exists (``/dev/nvidia0``..., WSL's ``/dev/dxg``): then no
    CUDA device can be used, and importing CuPy (~0.15 s) to learn so is skipped."""
    if not sys.platform.startswith("linux"):
        return False
    return not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"))


def gpu_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device (never raises)."""
    if _no_cuda_device_node():
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDARuntimeError (no driver / NVML), ...
        return False


class CupyBackend(Backend):
    """The kernels on the current CUDA device; inputs and outputs are CuPy arrays on that device.

    The kernel files are compiled with NVRTC when the backend is created (a clear
    :class:`~gdbtools.errors.BackendError` if that is impossible), then cached by CuPy.
    """

    name = "cupy"
    on_device = True

    def __init__(self):
        try:
            import cupy
        except ImportError as exc:
            raise BackendError("CuPy is not installed", fix="pip install 'gdbtools[gpu-cu13]'") from exc
        if not gpu_available():
            raise BackendError("no CUDA device is available (no GPU, driver or NVML here)",
                               fix="run on a GPU node, or use get_backend('host') / get_backend('numpy')")
        self.xp = cupy
        self.device_id = cupy.cuda.Device().id
        self._n_sm = cupy.cuda.Device().attributes["MultiProcessorCount"]
        self._fn = {}
        for file_name in kernels.KERNEL_FILES:
            names = kernels.NAME_EXPRESSIONS[file_name]
            try:
                module = cupy.RawModule(code=kernels.device_source(file_name), options=kernels.DEVICE_OPTIONS,
                                        name_expressions=names)
                for name in names:
                    self._fn[name] = module.get_function(name)
            except Exception as exc:  # CompileException, missing libnvrtc, ...
                raise BackendError(f"compiling {file_name} for the GPU failed: {exc}",
                                   file=kernels.kernel_dir() / file_name,
                                   fix="check that NVRTC is installed (pip install 'cupy-cuda13x[ctk]')") from exc

        self._decoders = threading.local()  # one decoder (its streams and buffer slots) per thread
        self.decode_fallback: str | None = None  # why blocks are decoded on the host (None: on the GPU)

    def __repr__(self) -> str:
        return f"<gdbtools backend 'cupy' (device {self.device_id})>"

    def decode_blocks(self, blocks) -> frames.DecodedBatch:
        """:meth:`Backend.decode_blocks` on the GPU with nvCOMP (:mod:`gdbtools.backend.nvcomp_decode`); where
        nvCOMP is missing, or its first batch fails, decoded on the host and moved (the reason in
        :attr:`decode_fallback`, warned once; under ``GDBTOOLS_REQUIRE_GPU=1`` a failing batch raises)."""
        blocks = list(blocks)
        if not blocks:
            return frames.DecodedBatch([])
        decoder = self._gpu_decoder()
        if decoder is not None:
            try:
                return decoder.decode(blocks)
            except Exception as exc:  # the first batch failing: nvCOMP's API or set-up is not what we expect
                # (a damaged block fails the host decode below too, and that error is raised)
                if decoder.n_decoded or os.environ.get("GDBTOOLS_REQUIRE_GPU", "") not in ("", "0"):
                    raise
                self._decoders.decoder = None
                self._fall_back(f"nvCOMP's first batch failed ({exc.__class__.__name__}: {exc})")
        return frames.to_backend(frames.decode_batch_host(frames.batch_layout(blocks)), self.to_device)

    @property
    def decodes_on_device(self) -> bool:
        return self._gpu_decoder() is not None

    def _fall_back(self, reason: str) -> None:
        self.decode_fallback = reason
        warnings.warn(f"gdbtools: blocks are decoded on the host, not the GPU ({reason})", RuntimeWarning,
                      stacklevel=4)

    def _gpu_decoder(self):
        decoder = getattr(self._decoders, "decoder", None)
        if decoder is None and self.decode_fallback is None:
            from gdbtools.backend.nvcomp_decode import NvcompDecoder

            try:
                decoder = self._decoders.decoder = NvcompDecoder()
            except BackendError as exc:
                self._fall_back(exc.message)
        return decoder

    def _check_same_gpu(self, name: str, a) -> None:
        dev = getattr(a, "device", None)
        if dev is not None and dev.id != self.xp.cuda.Device().id:
            raise BackendError(f"{name} is on GPU {dev.id}, not the current device {self.xp.cuda.Device().id}",
                               fix=f"copy it with cupy.asarray({name}) under `with cupy.cuda.Device(...)`")

    def _variant_group_counts(self, lo, hi, masks, fail, out) -> None:
        n_variants, n_words = lo.shape
        warps = 8
        grid = min(-(-n_variants // warps), self._n_sm * 32)
        fn = self._fn[f"gdb::variant_group_counts<{'true' if fail is not None else 'false'}>"]
        fn((grid,), (warps * 32,), (lo, hi, lo if fail is None else fail, masks, np.int64(n_variants),
                                     np.int32(n_words), np.int32(masks.shape[0]), out))

    def _sample_class_plan(self, var_class, n_classes, shape):
        n_variants, n_words = shape
        lane_blocks = -(-n_words // 128)
        chunk = min(MAX_CHUNK, max(256, -(-n_variants * lane_blocks * 128 // _TARGET_THREADS)))
        return self._class_chunks(var_class, n_classes, chunk, 16 * chunk)

    def _sample_class_launch(self, lo, hi, fail, plan, n_classes, n_samples, out, kind_major) -> None:
        order, chunk_start, chunk_class = plan
        n_words = lo.shape[1]
        block = 128
        lane_blocks = -(-n_words // block)
        n_chunks = chunk_class.shape[0]
        if n_chunks == 0:
            return
        fn = self._fn[f"gdb::sample_class_counts<{'true' if fail is not None else 'false'}>"]
        fn((n_chunks, lane_blocks), (block,), (lo, hi, lo if fail is None else fail, order, chunk_start,
                                               chunk_class, np.int32(n_chunks), np.int32(n_words),
                                               np.int32(n_samples), np.int32(n_classes), out,
                                               np.int32(kind_major)))

    def _hwe_exact(self, n_het, n_hom1, n_hom2, res: HweResult) -> None:
        n = n_het.shape[0]
        block = 128
        self._fn["gdb::hwe_exact"]((-(-n // block),), (block,), (n_het, n_hom1, n_hom2, np.int64(n), *res))

    def hwe_x_exact(self, female_het, female_hom1, female_hom2, male1, male2, *, unique: bool = True):
        """:meth:`Backend.hwe_x_exact` of CuPy arrays, computed ON THE HOST by the host library (no CUDA version:
        the chrX tuples are few and their walks uneven; the NumPy twin without a compiler); the p-values come back
        as CuPy arrays."""
        from gdbtools.backend import get_backend

        counts = [self._array(n, a, None, ndim=1).get() for n, a in (
            ("female_het", female_het), ("female_hom1", female_hom1), ("female_hom2", female_hom2),
            ("male1", male1), ("male2", male2))]
        try:
            host = get_backend("host")
        except BackendError:  # no C++ compiler: the (slow) Python twin
            host = get_backend("numpy")
        p, p_midp = host.hwe_x_exact(*counts, unique=unique)
        return self.xp.asarray(p), self.xp.asarray(p_midp)

    def fisher_exact(self, a, b, c, d, *, unique: bool | None = None):
        """:meth:`Backend.fisher_exact` of CuPy arrays, computed ON THE HOST by the host library (no CUDA version:
        a batch check has ~1e5 tables, a few ms on the CPU; the NumPy twin without a compiler); the p-values
        come back as a CuPy array."""
        from gdbtools.backend import get_backend

        cells = [self._array(n, x, None, ndim=1).get() for n, x in zip("abcd", (a, b, c, d))]
        try:
            host = get_backend("host")
        except BackendError:  # no C++ compiler: the twin (scipy)
            host = get_backend("numpy")
        return self.xp.asarray(host.fisher_exact(*cells, unique=unique))

    def _missing_weight_sums(self, lo, hi, fail, wfix, out) -> None:
        n_variants, n_words = lo.shape
        block = WSUM_THREADS
        lane_blocks = -(-n_words // block)
        # enough blocks to fill the device, and chunks of >= 64 rows so the flush (32 atomics a thread) is rare
        target_blocks = self._n_sm * 16
        rows_per_chunk = max(64, -(-n_variants * lane_blocks // target_blocks))
        n_chunks = -(-n_variants // rows_per_chunk)
        fn = self._fn[f"gdb::missing_weight_sums<{'true' if fail is not None else 'false'}>"]
        fn((n_chunks, lane_blocks), (block,), (lo, hi, lo if fail is None else fail, wfix, np.int64(n_variants),
                                               np.int32(rows_per_chunk), np.int32(n_words),
                                               np.int32(out.shape[0]), out))

    def _dosages(self, lo, hi, fail, rows, samples, fill, out) -> None:
        n = samples.shape[0]
        block = DOSAGE_THREADS
        fn = self._fn[f"gdb::dosages<{'true' if fail is not None else 'false'}>"]
        fn((-(-n // block),), (block,), (lo, hi, lo if fail is None else fail, rows, np.int32(rows.shape[0]),
                                         samples, np.int64(n), np.int32(block), np.int32(lo.shape[1]), fill, out))
