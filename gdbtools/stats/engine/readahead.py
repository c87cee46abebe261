"""Block reading for the pass: decode blocks ahead of the compute, on the host or by the backend.

Two readers yield the blocks of a task in order as ``(spec, block, done)`` (call ``done()`` when the block's
work is issued):

- :class:`BlockReader` decodes with ``zstandard`` in background threads while up to
  ``threads * (READ_AHEAD + 1)`` decoded blocks wait; :class:`BufferPool` hands the plane buffers of
  finished blocks to the next decode;
- :class:`BackendBlockReader` reads the compressed frames in background threads and has the backend decode
  :data:`DECODE_BATCH` blocks per call (``Backend.decode_blocks``: one nvCOMP launch on a GPU), one batch
  ahead of the compute, so the next batch uploads and decodes while this one computes.

:func:`use_backend_decode` chooses (``$GDBTOOLS_DECODE``); :func:`thread_split` divides a machine's (or a
Dask worker's) CPUs between decoding and the kernels.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...errors import GdbError
from ...store import Block, Store
from .plan import BlockSpec, Plan

__all__ = ["READ_AHEAD", "DECODE_BATCH", "BufferPool", "decode_block", "BlockReader", "BackendBlockReader",
           "use_backend_decode", "thread_split", "threads_here", "open_store_cached"]

READ_AHEAD = 1  # blocks decoded ahead of the compute, per reader thread
DECODE_BATCH = 4  # blocks per Backend.decode_blocks call (one batched launch on a GPU)
DECODE_MODES = ("auto", "host", "backend")


@functools.lru_cache(maxsize=8)
def _open_store(path: str, mtime: float) -> Store:
    return Store(path)


def open_store_cached(path: str) -> Store:
    """The :class:`Store` at `path`, opened once per process (and again when its manifest changes)."""
    return _open_store(path, os.stat(os.path.join(path, "manifest.json")).st_mtime)


class BufferPool:
    """Recycled plane buffers: decoding into memory that was used before avoids the page faults of fresh
    allocations (measured 17 % of the decode time)."""

    def __init__(self):
        self._free: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def get(self, shape: tuple) -> np.ndarray:
        with self._lock:
            free = self._free.get(shape)
            if free:
                return free.pop()
        return np.empty(shape, dtype=np.uint32)

    def put(self, buf: np.ndarray | None) -> None:
        if buf is not None:
            with self._lock:
                self._free.setdefault(buf.shape, []).append(buf)


def decode_block(store: Store, index: int, pool: BufferPool):
    """``Store.read_block(index)`` decoding into a pooled buffer; returns the block and its buffer."""
    taken = []

    def alloc(shape):
        taken.append(pool.get(shape))
        return taken[0]

    block = store.read_block(index, alloc=alloc)
    return block, taken[0]


class BlockReader:
    """Reads and decodes blocks ahead of the compute in `threads` background threads (bounded look-ahead:
    at most ``threads * (READ_AHEAD + 1)`` decoded blocks wait), yielding ``(spec, block, buffer)`` in order;
    the caller gives each buffer back to :attr:`pool` when done with its block."""

    def __init__(self, store: Store, specs: list, threads: int = 1):
        self.store, self.specs, self.threads = store, specs, max(0, int(threads))
        self.pool = BufferPool()

    def _read(self, spec: BlockSpec):
        block, buf = decode_block(self.store, spec.index, self.pool)
        if spec.start != 0 or spec.stop != block.n_variants:
            block = block.slice(spec.start, spec.stop)
        return spec, block, lambda: self.pool.put(buf)

    def __iter__(self):
        if len(self.specs) <= 1 or self.threads == 0:
            for spec in self.specs:
                yield self._read(spec)
            return
        depth = self.threads * (READ_AHEAD + 1)
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gdb-read") as pool:
            pending: deque = deque()
            it = iter(self.specs)
            for spec in it:
                pending.append(pool.submit(self._read, spec))
                if len(pending) >= depth:
                    break
            while pending:
                fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(self._read, nxt))
                yield fut.result()


def use_backend_decode(backend) -> bool:
    """Whether the pass has the backend decode the blocks (:class:`BackendBlockReader`).

    ``$GDBTOOLS_DECODE``: ``auto`` (the default) when the backend decodes on its device
    (``backend.decodes_on_device``: the ``cupy`` backend with nvCOMP); ``backend`` always (on the host
    backends: the host twin of the batched decode); ``host`` never (zstd in reader threads, then
    ``to_device``).
    """
    mode = os.environ.get("GDBTOOLS_DECODE", "auto") or "auto"
    if mode not in DECODE_MODES:
        raise GdbError(f"GDBTOOLS_DECODE={mode!r} is not a decode mode", fix=f"use one of {', '.join(DECODE_MODES)}")
    return mode == "backend" or (mode == "auto" and bool(backend.decodes_on_device))


class BackendBlockReader:
    """Reads the compressed frames of a task's blocks in `threads` background threads and has `backend` decode
    them `batch` blocks at a time, one batch ahead of the compute; yields ``(spec, block, done)`` in order,
    the block's arrays on the backend's device.  A batch is released to the decoder when its last block is
    done."""

    def __init__(self, store: Store, specs: list, backend, threads: int = 1, batch: int = DECODE_BATCH):
        self.store, self.specs, self.backend = store, specs, backend
        self.threads, self.batch = max(1, int(threads)), max(1, int(batch))

    def _block(self, spec: BlockSpec, decoded) -> Block:
        meta = self.store.blocks_meta[spec.index]
        planes = decoded.planes
        block = Block(spec.index, meta["variant_offset"], planes["lo"], planes["hi"], planes.get("fail"),
                      self.store.n_samples, meta["contig"], sparse=decoded.sparse, n_variants=meta["n_variants"])
        if spec.start != 0 or spec.stop != block.n_variants:
            block = block.slice(spec.start, spec.stop)
        return block

    def __iter__(self):
        chunks = iter([self.specs[i:i + self.batch] for i in range(0, len(self.specs), self.batch)])
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gdb-frames") as pool:
            reads: deque = deque()

            def submit():
                chunk = next(chunks, None)
                if chunk is not None:
                    reads.append((chunk, [pool.submit(self.store.read_block_frames, s.index) for s in chunk]))

            def decode_next():
                if not reads:
                    return None
                chunk, futures = reads.popleft()
                submit()
                return chunk, self.backend.decode_blocks([f.result() for f in futures])

            submit()
            submit()
            nxt = decode_next()
            while nxt is not None:
                chunk, batch = nxt
                nxt = decode_next()  # queued now: it uploads and decodes while this batch computes
                left = [len(chunk)]

                def done(batch=batch, left=left):
                    left[0] -= 1
                    if left[0] == 0:
                        batch.release()

                for spec, decoded in zip(chunk, batch.blocks):
                    yield spec, self._block(spec, decoded), done


def thread_split(cpus: int | None = None) -> tuple[int, int]:
    """``(reader threads, kernel threads)`` for `cpus` CPUs: decoding (zstd) and the kernels take about the
    same time per block on a CPU, and the kernels gain little from a second thread (memory bound), so about
    a third of the CPUs decode and the rest compute; 2 CPUs: one each."""
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
    readers = max(1, cpus // 3)
    return readers, max(1, cpus - readers)


def threads_here(plan: Plan) -> tuple[int, int]:
    """Reader and kernel threads for a task: the plan's, else split this machine's CPUs (a Dask worker's
    share of them: CPUs / worker threads)."""
    cpus = None
    if "distributed" in sys.modules:  # a Dask worker has imported it; importing it here would cost ~0.3 s
        try:
            from distributed import get_worker

            worker = get_worker()
            cpus = max(1, len(os.sched_getaffinity(0)) // max(1, worker.state.nthreads))
        except (ImportError, ValueError, AttributeError):
            pass
    readers, kernel = thread_split(cpus)
    return (plan.readers if plan.readers is not None else readers,
            plan.n_threads if plan.n_threads is not None else kernel)
