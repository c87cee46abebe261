"""Blocks decoded on the GPU: nvCOMP's batched zstd on compressed frames staged through pinned memory.

Used by the ``"cupy"`` backend (:meth:`CupyBackend.decode_blocks`); needs a GPU and the ``nvidia-nvcomp-cu12``
/ ``-cu13`` wheel (module ``nvidia.nvcomp``; its 6.0 Python API, read from the wheel: ``Codec(algorithm="Zstd",
bitstream_kind=BitstreamKind.RAW, device_id, cuda_stream)``, ``as_arrays(buffer, offsets, sizes, cuda_stream)``,
``Codec.decode(srcs, out=...)``, ``BatchArray.buffer_sizes``).
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
from gdbtools.errors import BackendError, StoreError

__all__ = ["NvcompDecoder", "nvcomp_missing"]

N_SLOTS = 2


def nvcomp_missing() -> str | None:
    """Why nvCOMP's Python API cannot be used here (``None`` when it can)."""
    try:
        from nvidia import nvcomp
    except Exception as exc:  # ImportError, or a missing libnvcomp under it
        return f"nvidia.nvcomp does not import ({exc.__class__.__name__}: {exc}); pip install nvidia-nvcomp-cu12 " \
               "(or -cu13)"
    for name in ("Codec", "as_arrays", "BitstreamKind", "BatchArray"):
        if not hasattr(nvcomp, name):
            return f"nvidia.nvcomp {getattr(nvcomp, '__version__', '?')} has no {name} (nvCOMP 6 or later needed)"
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
        self.n_decoded = 0  # batches decoded without error

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
            if layout.src_bytes:
                src[:layout.src_bytes].set(layout.src, stream=self.stream)
            slot.uploaded.record(self.stream)
            table = layout.table.tolist()
            if table:
                # one buffer each, carved by the layout's offsets (nvcomp.as_arrays(buffer, offsets, sizes, stream))
                srcs = self.nvcomp.as_arrays(src, [r[0] for r in table], [r[1] for r in table], self.stream.ptr)
                outs = self.nvcomp.as_arrays(out, [r[2] for r in table], [r[3] for r in table], self.stream.ptr)
                result = self.codec.decode(srcs, out=outs)
                self._check_sizes(result, layout)
            planes = [fr.block_planes(out, slot.planes, layout, i) for i in range(len(layout.blocks))]
            ready = self.stream.record()
        compute = cp.cuda.get_current_stream()
        compute.wait_event(ready)
        # views of the slot's buffers; the sparse rows' ptr and row are made on the caller's stream
        blocks_out = fr.decoded_blocks(cp, out, layout, planes)
        self.n_decoded += 1
        return fr.DecodedBatch(blocks_out, lambda: slot.released.record(cp.cuda.get_current_stream()))

    @staticmethod
    def _check_sizes(result, layout: fr.BatchLayout) -> None:
        """The decoded size of every frame is the layout's (reading them waits for nvCOMP's work on the host,
        as its set-up does anyway); a damaged frame names its block file."""
        sizes = list(result.buffer_sizes)
        want = layout.table[:, 3].tolist()
        if sizes != want:
            k = next((i for i, (a, b) in enumerate(zip(sizes, want)) if a != b), min(len(sizes), len(want)))
            path = layout.blocks[int(layout.table[min(k, len(want) - 1), 4])].path
            raise StoreError(f"genotype block frame decodes to {sizes[k] if k < len(sizes) else 'nothing'} bytes "
                             f"on the GPU, not {want[min(k, len(want) - 1)]}", file=path,
                             fix="the store is damaged; run `gdbtools verify` and re-ingest")
