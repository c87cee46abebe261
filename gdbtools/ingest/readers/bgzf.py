"""BGZF for the fast readers: block walking, inflation (libdeflate), a prefetch thread.

A BGZF file is a series of gzip members of at most 64 KiB of data each, with the compressed size in an
extra field (``BC``, BSIZE). :class:`BgzfBatches` reads blocks from a compressed offset, inflates them (the
inflaters release the GIL, so a prefetch thread overlaps inflation with parsing), checks each block's CRC32
and size as htslib does, and hands out *batches*: several blocks' data in one writable ``uint8`` array,
preceded by free room so that the caller can prepend the unfinished record of the previous batch without
copying the batch. Any damage raises :class:`FastPathUnsupported` (htslib then reports it in its own words).
"""

from __future__ import annotations

import queue
import struct
import sys
import threading

import deflate
import numpy as np

from .errors import FastPathUnsupported

__all__ = ["PAD", "BgzfBatches", "Recycler", "inflate_block"]


def _inflate(data, size: int) -> bytes:
    """Raw-deflate `data` into `size` bytes with libdeflate (PyPI ``deflate``, a required dependency)."""
    try:
        return bytes(deflate.deflate_decompress(data, size)) if size else b""
    except deflate.DeflateError as exc:
        raise FastPathUnsupported(f"BGZF block does not inflate ({exc})") from None


_crc32 = deflate.crc32
_HEAD = struct.Struct("<4sIBBH")  # magic+method+flags, mtime, xfl, os, xlen
_MAGIC = b"\x1f\x8b\x08\x04"
PAD = 16  # free bytes after each batch's data


def _block_at(raw, i: int) -> int:
    """Total size of the BGZF block starting at raw[i] (needs 18 bytes there); raises on a bad header."""
    magic, _, _, _, xlen = _HEAD.unpack_from(raw, i)
    if magic != _MAGIC:
        raise FastPathUnsupported("not a BGZF block header")
    if xlen == 6 and raw[i + 12] == 66 and raw[i + 13] == 67:  # the usual layout: only the BC subfield
        return struct.unpack_from("<H", raw, i + 16)[0] + 1
    j, stop = i + 12, i + 12 + xlen
    while j + 4 <= stop and j + 4 <= len(raw):
        slen = struct.unpack_from("<H", raw, j + 2)[0]
        if raw[j] == 66 and raw[j + 1] == 67 and slen == 2:
            return struct.unpack_from("<H", raw, j + 4)[0] + 1
        j += 4 + slen
    raise FastPathUnsupported("BGZF block without a BC (BSIZE) subfield")


def inflate_block(raw, i: int, size: int) -> bytes:
    """Data of the block raw[i:i+size], with its CRC32 and length checked."""
    xlen = struct.unpack_from("<H", raw, i + 10)[0]
    start, end = i + 12 + xlen, i + size - 8
    if end < start:
        raise FastPathUnsupported("BGZF block shorter than its header")
    crc, isize = struct.unpack_from("<II", raw, end)
    data = _inflate(raw[start:end], isize)
    if len(data) != isize or _crc32(data) != crc:
        raise FastPathUnsupported("BGZF block fails its CRC32/size check")
    return data


class Recycler:
    """Reuses large numpy buffers once nothing else refers to them (fresh memory costs page faults).

    A buffer handed out stays in the list; it is free again when the list holds the only reference (records
    and views of it are gone), which ``sys.getrefcount`` tells. At most `keep` buffers are tracked: beyond
    that the oldest is forgotten (those still in use live on with their users).
    """

    def __init__(self, keep: int = 6):
        self.keep = keep
        self.free: list[np.ndarray] = []
        probe = [np.empty(1)]
        self._unused = next(sys.getrefcount(a) for a in probe)  # the count of a buffer only the list holds

    def take(self, size: int, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        best = None
        for a in self.free:
            if a.dtype == dtype and a.size >= size and sys.getrefcount(a) == self._unused:
                if best is None or a.size < best.size:
                    best = a
        if best is not None:
            return best
        a = np.empty(int(size * 1.25) + 64, dtype=dtype)
        self.free.append(a)
        if len(self.free) > self.keep:
            unused = [i for i, old in enumerate(self.free) if sys.getrefcount(old) == self._unused]
            del self.free[unused[0] if unused else 0]
        return a


class BgzfBatches:
    """Iterate over batches of inflated BGZF data from compressed offset `coffset` (skipping `uoffset` bytes).

    Each item is ``(buf, start, stop)``: the data is ``buf[start:stop]``, ``buf[stop:stop+PAD]`` is free (for
    sentinels) and ``buf[:start]`` is free room (at least the `room` of the request, when it was known). The
    last item is followed by StopIteration at the end of the file.
    """

    def __init__(self, path: str, coffset: int = 0, uoffset: int = 0, *, batch_bytes: int = 1 << 20,
                 prefetch: bool = True, read_bytes: int = 1 << 20):
        self.path = path
        self.coffset = coffset
        self.uoffset = uoffset
        self.batch_bytes = batch_bytes
        self.read_bytes = read_bytes
        self.room = 1 << 16            # free bytes in front of each batch; grown by the caller (long records)
        self._buffers = Recycler()
        self._stop = threading.Event()
        self._queue: queue.Queue | None = None
        self._thread = None
        self._gen = self._produce()
        if prefetch:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._run, name="gdbtools-bgzf", daemon=True)
            self._thread.start()

    # -- producer --------------------------------------------------------------------------------------------
    def _produce(self):
        with open(self.path, "rb") as handle:
            handle.seek(self.coffset)
            raw = handle.read(self.read_bytes)
            i = 0
            skip = self.uoffset
            eof = False
            pending: list[bytes] = []
            n_pending = 0
            while True:
                # make sure a whole block is in `raw`
                if len(raw) - i < 18 and not eof:
                    more = handle.read(self.read_bytes)
                    eof = not more
                    raw = raw[i:] + more
                    i = 0
                if len(raw) - i == 0:
                    break
                if len(raw) - i < 18:
                    raise FastPathUnsupported("truncated BGZF block header at the end of the file")
                size = _block_at(raw, i)
                if size < 26:
                    raise FastPathUnsupported("BGZF block size too small")
                while len(raw) - i < size and not eof:
                    more = handle.read(max(self.read_bytes, size))
                    eof = not more
                    raw = raw[i:] + more
                    i = 0
                if len(raw) - i < size:
                    raise FastPathUnsupported("truncated BGZF block at the end of the file")
                data = inflate_block(raw, i, size)
                i += size
                if skip:
                    if skip > len(data):
                        raise FastPathUnsupported("index offset beyond its BGZF block")
                    data = data[skip:]
                    skip = 0
                if data:
                    pending.append(data)
                    n_pending += len(data)
                if n_pending >= self.batch_bytes:
                    yield self._join(pending, n_pending)
                    pending, n_pending = [], 0
                if self._stop.is_set():
                    return
            if pending:
                yield self._join(pending, n_pending)

    def _join(self, parts, total):
        room = self.room
        buf = self._buffers.take(room + total + PAD, np.uint8)
        j = room
        for part in parts:
            buf[j: j + len(part)] = np.frombuffer(part, dtype=np.uint8)
            j += len(part)
        return buf, room, room + total

    def _run(self):
        try:
            for item in self._gen:
                while not self._stop.is_set():
                    try:
                        self._queue.put(("ok", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            item = ("end", None)
        except BaseException as exc:
            item = ("error", exc)
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- consumer --------------------------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        if self._queue is None:
            return next(self._gen)
        kind, item = self._queue.get()
        if kind == "ok":
            return item
        self._queue.put((kind, item))  # stay at the end
        if kind == "end":
            raise StopIteration
        raise item

    def close(self):
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():  # unblock a pending put, then let the thread see the stop flag
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.01)
            self._thread = None
        elif self._queue is None:
            self._gen.close()
