"""Batched decoding of genotype blocks from their compressed frames: the layout every backend shares.

A batch is several blocks' :class:`~gdbtools.store.format.BlockFrames`.  :func:`batch_layout` packs their
compressed frames into one byte buffer and gives each frame a place in one output buffer; a decoder (zstd
on the host, nvCOMP's batched zstd on a GPU) fills the output; :func:`block_planes` then rearranges each
block's plane-major frames ``(planes, n, W)`` into its planes ``(planes, D, W)`` with two copies (all full
frames at once, then the last, partial one) and :func:`~gdbtools.store.format.sparse_from_raw` reads its
sparse rows, both with the decoder's array module, so nothing returns to the host.

Output layout, per block: the dense frames back to back (frame ``k`` at ``k * frame_bytes``), then the
sparse frame; every region starts at a multiple of ``align`` bytes.  The planes of block ``b`` live in a
``(planes, F * n0, W)`` buffer (``F`` frames of ``n0`` variants, the last one possibly shorter); plane ``p``
is its ``[p, :D]``: C-contiguous ``(D, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..store.format import BlockFrames, SparseRows, sparse_from_raw

__all__ = ["BatchLayout", "DecodedBlock", "DecodedBatch", "batch_layout", "block_planes", "decoded_blocks",
           "host_decode", "decode_batch_host", "to_backend"]

ALIGN = 16  # bytes; nvCOMP's decompression alignment is at most this (checked by the device decoder)


class DecodedBlock(NamedTuple):
    """One decoded block on a backend's device.

    Attributes
    ----------
    planes : dict
        Plane name (``lo``, ``hi``, ``fail``) -> ``(D, W) uint32`` dense rows, C-contiguous.
    sparse : SparseRows or None
        The sparse rows (``hybrid2``), arrays on the device with :attr:`SparseRows.row` set; ``None`` for
        ``dense2``.
    """

    planes: dict
    sparse: SparseRows | None


class DecodedBatch:
    """The blocks of one batch decode (:attr:`blocks`, a list of :class:`DecodedBlock` in the batch's order).

    Their arrays may live in buffers the decoder reuses for a later batch: call :meth:`release` once the
    work queued on them is issued (on a GPU the reuse waits for that work on the device, not on the host).
    """

    def __init__(self, blocks: list[DecodedBlock], on_release=None):
        self.blocks = blocks
        self._on_release = on_release

    def release(self) -> None:
        if self._on_release is not None:
            self._on_release()
            self._on_release = None


def _up(n: int, align: int) -> int:
    return -(-n // align) * align


@dataclass
class BatchLayout:
    """Where each frame of a batch lies in the packed input and the decoded output.

    Attributes
    ----------
    blocks : list of BlockFrames
    src : (B,) uint8 or None
        Every frame's compressed bytes, each starting at a multiple of ``align`` (host memory; set by
        :meth:`pack`).
    table : (K, 5) int64
        Per frame (dense frames of block 0, its sparse frame, then block 1 ...): offset in `src`, compressed
        bytes, offset in the output, decompressed bytes, block (index in `blocks`).  Empty frames (a sparse
        part without rows) are left out.
    out_bytes : int
        Size of the output buffer.
    dense_at, sparse_at : list of int
        Per block, the output offset of its first dense frame and of its sparse frame (-1 without one).
    planes_at : list of int
        Per block, the offset of its ``(planes, F * n0, W)`` plane buffer in a planes buffer of
        `planes_bytes` bytes.
    src_bytes : int
        Size of the packed input.
    """

    blocks: list
    src: np.ndarray | None
    table: np.ndarray
    out_bytes: int
    dense_at: list
    sparse_at: list
    planes_at: list
    planes_bytes: int
    src_bytes: int
    _pieces: list

    def pack(self, buf: np.ndarray | None = None) -> BatchLayout:
        """Copy every compressed frame to its place in :attr:`src`: `buf` (a host ``uint8`` buffer of at least
        :attr:`src_bytes`, e.g. pinned memory reused across batches) or a new NumPy array; returns self."""
        if buf is None:
            buf = np.empty(self.src_bytes, dtype=np.uint8)
        elif buf.dtype != np.uint8 or buf.shape[0] < self.src_bytes:
            raise ValueError(f"the packing buffer holds {buf.shape[0]} bytes, the batch needs {self.src_bytes} "
                             "(uint8)")
        for at, data, off, size in self._pieces:
            buf[at:at + size] = data[off:off + size]
        self.src = buf[:self.src_bytes]
        return self


def batch_layout(blocks: list[BlockFrames], align: int = ALIGN) -> BatchLayout:
    """Place the compressed frames of `blocks` and their outputs (:class:`BatchLayout`; :meth:`BatchLayout.pack`
    then copies the frames into the packed input)."""
    rows, out, src_len, planes_len = [], 0, 0, 0
    dense_at, sparse_at, planes_at = [], [], []
    pieces = []
    for b, bf in enumerate(blocks):
        out = _up(out, align)
        dense_at.append(out)
        for off, size, raw, _first, _n in bf.frames.tolist():
            src_len = _up(src_len, align)
            rows.append((src_len, size, out, raw, b))
            pieces.append((src_len, bf.data, off, size))
            src_len += size
            out += raw
        planes_at.append(planes_len)
        n_frames = bf.frames.shape[0]
        n0 = int(bf.frames[0, 4]) if n_frames else 0
        planes_len = _up(planes_len + len(bf.header.planes) * n_frames * n0 * bf.header.n_words * 4, align)
        raw_sparse = bf.raw_sparse_bytes
        if bf.sparse is not None and bf.sparse.shape[0] and raw_sparse:
            out = _up(out, align)
            src_len = _up(src_len, align)
            sparse_at.append(out)
            rows.append((src_len, bf.sparse.shape[0], out, raw_sparse, b))
            pieces.append((src_len, bf.sparse, 0, bf.sparse.shape[0]))
            src_len += bf.sparse.shape[0]
            out += raw_sparse
        else:
            sparse_at.append(-1)
    table = np.array(rows, dtype=np.int64).reshape(-1, 5)
    return BatchLayout(list(blocks), None, table, _up(out, align), dense_at, sparse_at, planes_at,
                       max(planes_len, align), src_len, pieces)


def block_planes(out, planes_buf, layout: BatchLayout, i: int):
    """Block `i`'s planes ``(planes, F * n0, W) uint32`` (a view of `planes_buf`) filled from the decoded
    frames in `out` (both ``uint8`` arrays of one array module, on its device): one copy for the full frames,
    one for the last."""
    bf = layout.blocks[i]
    n_planes, w = len(bf.header.planes), bf.header.n_words
    n_frames = bf.frames.shape[0]
    n0 = int(bf.frames[0, 4]) if n_frames else 0
    size = n_planes * n_frames * n0 * w
    dst = planes_buf[layout.planes_at[i]:layout.planes_at[i] + 4 * size].view(np.uint32).reshape(
        n_planes, n_frames * n0, w)
    if size == 0:
        return dst
    n_last = int(bf.frames[-1, 4])
    full = n_frames if n_last == n0 else n_frames - 1
    frame_words = n_planes * n0 * w
    at = layout.dense_at[i]
    words = out[at:at + 4 * (full * frame_words + n_planes * n_last * w)].view(np.uint32)
    dst4 = dst.reshape(n_planes, n_frames, n0, w)
    if full:
        dst4[:, :full] = words[:full * frame_words].reshape(full, n_planes, n0, w).transpose(1, 0, 2, 3)
    if full < n_frames:
        dst4[:, full, :n_last] = words[full * frame_words:].reshape(n_planes, n_last, w)
    return dst


def decoded_blocks(xp, out, layout: BatchLayout, planes: list) -> list[DecodedBlock]:
    """Every block of the batch as a :class:`DecodedBlock` (arrays of `xp`): its rows of `planes` (the
    :func:`block_planes` of each block) and its sparse rows read from the decoded output `out`."""
    result = []
    for i, bf in enumerate(layout.blocks):
        header = bf.header
        d = header.n_dense
        sparse = None
        if bf.sparse is not None:
            at = layout.sparse_at[i]
            raw = out[at:at + bf.raw_sparse_bytes] if at >= 0 else out[:0]
            sparse = sparse_from_raw(xp, raw, header, bf.path, entry_rows=True)
        result.append(DecodedBlock({name: planes[i][k, :d] for k, name in enumerate(header.planes)}, sparse))
    return result


def host_decode(layout: BatchLayout, out: np.ndarray | None = None) -> np.ndarray:
    """The output of a batch decoded on the host with ``zstandard``: the frames of ``layout.table``
    decompressed into ``(out_bytes,) uint8`` (the reference of a device decoder)."""
    import zstandard

    from ..errors import StoreError

    def _damaged(path, what):
        return StoreError(f"genotype block {what}", file=path,
                          fix="the store is damaged; run `gdbtools verify` and re-ingest")

    if layout.src is None:
        layout.pack()
    assert layout.src is not None
    if out is None:
        out = np.empty(layout.out_bytes, dtype=np.uint8)
    decompressor = zstandard.ZstdDecompressor()
    src = memoryview(layout.src.data)
    for s_off, s_size, o_off, o_size, b in layout.table.tolist():
        try:
            raw = decompressor.decompress(src[s_off:s_off + s_size], max_output_size=o_size)
        except zstandard.ZstdError as exc:
            raise _damaged(layout.blocks[b].path, f"does not decompress ({exc})") from exc
        if len(raw) != o_size:
            raise _damaged(layout.blocks[b].path, "frame has the wrong size")
        out[o_off:o_off + o_size] = np.frombuffer(raw, dtype=np.uint8)
    return out


def decode_batch_host(layout: BatchLayout) -> DecodedBatch:
    """A batch decoded on the host: :class:`DecodedBlock` of NumPy arrays."""
    out = host_decode(layout)
    planes_buf = np.empty(layout.planes_bytes, dtype=np.uint8)
    planes = [block_planes(out, planes_buf, layout, i) for i in range(len(layout.blocks))]
    return DecodedBatch(decoded_blocks(np, out, layout, planes))


def to_backend(batch: DecodedBatch, to_device) -> DecodedBatch:
    """A batch decoded on the host moved with `to_device` (a backend's): the fallback of a device decoder."""
    return DecodedBatch([DecodedBlock({k: to_device(v) for k, v in b.planes.items()},
                                      None if b.sparse is None else b.sparse.to(to_device)) for b in batch.blocks])
