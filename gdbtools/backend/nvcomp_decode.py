"""Blocks decoded on the GPU: nvCOMP's batched zstd on compressed frames staged through pinned memory.

Used by the ``"cupy"`` backend (:meth:`CupyBackend.decode_blocks`); needs a GPU and the ``nvidia-nvcomp-cu12``
/ ``-cu13`` wheel (module ``nvidia.nvcomp``, nvCOMP 5+ Python API: ``Codec``, ``as_arrays``, ``BatchArray``).
Everything around the two device calls (the packing of frames, the output layout, the frame -> plane
rearrangement, the sparse rows) is :mod:`gdbtools.backend.frames`, tested on the CPU with the host twin;
``scripts/gpu-check`` compares this decoder with it byte for byte.

Per batch, on a stream of its own: the frames are packed into a pinned host buffer, uploaded, decoded by one
``Codec.decode`` of the whole batch (standard zstd frames: ``BitstreamKind.RAW``) into a staging buffer, and
rearranged into plane buffers by device copies; the caller's stream then waits for that on the device.  Two
slots of buffers alternate (double buffering): batch k+1 uploads and decodes while batch k computes, and a
slot is reused only after the work queued on its previous batch (``DecodedBatch.release``) has run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdbtools.backend import frames as fr
from gdbtools.errors import BackendError

__all__ = ["NvcompDecoder", "nvcomp_missing"]

N_SLOTS = 2


def nvcomp_missing() -> str | None:
    """Why nvCOMP's Python API cannot be used here (``None`` when it can)."""
    try:
        from nvidia import nvcomp
    except Exception as exc:  # ImportError, or a missing libnvcomp under it
        return f"nvidia.nvcomp does not import ({exc.__class__.__name__}: {exc}); pip install nvidia-nvcomp-cu12 " \
               "(or -cu13)"
    for name in ("Codec", "as_arrays", "BitstreamKind"):
        if not hasattr(nvcomp, name):
            return f"nvidia.nvcomp {getattr(nvcomp, '__version__', '?')} has no {name} (nvCOMP 5 or later needed)"
    return None


class _Slot:
    """One set of buffers: pinned host input, device input, decoded output, planes; and their events."""

    def __init__(self, cupy):
        self.cupy = cupy
        self.pinned: np.ndarray | None = None
        self.src: Any = None
        self.out: Any = None
        self.planes: Any = None
        self.uploaded = cupy.cuda.Event(block=False, disable_timing=True)
        self.released = cupy.cuda.Event(block=False, disable_timing=True)

    def ensure(self, src_bytes: int, out_bytes: int, planes_bytes: int) -> None:
        """Grow the buffers to fit (allocated on the decoder's current stream)."""
        import cupyx

        cp = self.cupy
        if self.pinned is None or self.pinned.shape[0] < src_bytes:
            self.pinned = cupyx.empty_pinned((_grow(src_bytes),), dtype=np.uint8)
        if self.src is None or self.src.shape[0] < src_bytes:
            self.src = cp.empty(_grow(src_bytes), dtype=np.uint8)
        if self.out is None or self.out.shape[0] < out_bytes:
            self.out = cp.empty(_grow(out_bytes), dtype=np.uint8)
        if self.planes is None or self.planes.shape[0] < planes_bytes:
            self.planes = cp.empty(_grow(planes_bytes), dtype=np.uint8)


def _grow(n: int) -> int:
    """Capacity for `n` bytes with room for somewhat larger batches (fewer reallocations)."""
    return max(1 << 20, int(n * 1.25))


class NvcompDecoder:
    """Batched zstd decode of block frames on the current CUDA device (see the module docstring)."""

    def __init__(self):
        reason = nvcomp_missing()
        if reason is not None:
            raise BackendError(f"GPU decoding of blocks is unavailable: {reason}",
                               fix="pip install 'gdbtools[gpu-cu12]' (or gpu-cu13); blocks are decoded on the "
                                   "host meanwhile")
        import cupy
        from nvidia import nvcomp

        self.cupy, self.nvcomp = cupy, nvcomp
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.codec = nvcomp.Codec(algorithm="Zstd", bitstream_kind=nvcomp.BitstreamKind.RAW,
                                  device_id=cupy.cuda.Device().id, cuda_stream=self.stream.ptr)
        self.align = max(fr.ALIGN, int(self.codec.get_required_decompression_alignment()))
        self.slots = [_Slot(cupy) for _ in range(N_SLOTS)]
        self.n_batches = 0

    def decode(self, blocks) -> fr.DecodedBatch:
        """:meth:`Backend.decode_blocks` on the GPU."""
        cp = self.cupy
        slot = self.slots[self.n_batches % N_SLOTS]
        self.n_batches += 1
        slot.uploaded.synchronize()  # the host: the pinned buffer's last upload is done
        layout = fr.batch_layout(blocks, self.align)
        with self.stream:
            self.stream.wait_event(slot.released)  # the device: the work on the slot's previous batch has run
            slot.ensure(layout.src_bytes, layout.out_bytes, layout.planes_bytes)
            layout.pack(slot.pinned)
            src, out = slot.src, slot.out
            src[:layout.src_bytes].set(layout.src, stream=self.stream)
            slot.uploaded.record(self.stream)
            table = layout.table.tolist()
            if table:
                srcs = self.nvcomp.as_arrays([src[s:s + n] for s, n, _, _, _ in table], cuda_stream=self.stream.ptr)
                outs = self.nvcomp.as_arrays([out[o:o + n] for _, _, o, n, _ in table], cuda_stream=self.stream.ptr)
                self.codec.decode(srcs, out=outs)
            planes = [fr.block_planes(cp, out, slot.planes, layout, i) for i in range(len(layout.blocks))]
            ready = self.stream.record()
        compute = cp.cuda.get_current_stream()
        compute.wait_event(ready)
        # views of the slot's buffers; the sparse rows' ptr and row are made on the caller's stream
        blocks_out = fr.decoded_blocks(cp, out, layout, planes)
        return fr.DecodedBatch(blocks_out, lambda: slot.released.record(cp.cuda.get_current_stream()))
