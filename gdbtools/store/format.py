"""The on-disk format of a cohort store: layout, block container, checksums and atomic writes.

A store is a directory::

    manifest.json              written last, atomically; its presence means "complete"
    samples.parquet            one row per sample: sample_id, sample_index, sex, metadata columns
    variants/pNNNNN.parquet    one file per ingest partition, one row group per genotype block
    blocks/pNNNNN/bNNNNNN.gdb  genotype blocks (this module's container)
    _work/                     ingest state while an ingest runs (plan, finished blocks); removed at the end

A block file is::

    8 bytes   magic b"GDBBLK\\x01\\n"
    4 bytes   little-endian uint32: length H of the JSON header
    H bytes   JSON header: encoding, n_variants, n_samples, n_words, planes, frames
    ...       zstd frames, back to back

``encoding`` is ``"dense2"`` (every variant as bit-planes, see :mod:`gdbtools.store.bitplanes`). A reader
refuses encodings it does not know with a clear message, so that a later hybrid dense/sparse encoding can be
added without breaking stores written before it. Each zstd frame holds ``frames[k][0]`` consecutive variants
laid out plane-major, ``(n_planes, n_variants_in_frame, n_words)`` little-endian ``uint32``: the same bytes
decode on a CPU (``zstandard``) or, frame by frame, on a GPU (nvCOMP's batched zstd).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard

from ..errors import DiskFullError, StoreError, disk_full_errnos

__all__ = ["FORMAT_VERSION", "ENCODING_DENSE", "KNOWN_ENCODINGS", "FRAME_VARIANTS", "encode_block",
           "decode_block", "BlockHeader", "read_block_header", "sha256_file", "atomic_write_bytes",
           "atomic_write_json", "write_guard"]

FORMAT_VERSION = 1
ENCODING_DENSE = "dense2"
KNOWN_ENCODINGS = frozenset({ENCODING_DENSE})
FRAME_VARIANTS = 64
MAGIC = b"GDBBLK\x01\n"
_LEN = struct.Struct("<I")
ZSTD_LEVEL = 3


@dataclass(frozen=True)
class BlockHeader:
    """The JSON header of a block file and where its zstd frames lie."""

    encoding: str
    n_variants: int
    n_samples: int
    n_words: int
    planes: tuple[str, ...]
    frames: tuple[tuple[int, int], ...]  # (variants in frame, compressed bytes)
    payload_offset: int

    def frame_spans(self):
        """Yield ``(first_variant, n_variants, byte_offset, byte_size)`` for each frame."""
        offset, first = self.payload_offset, 0
        for nvar, size in self.frames:
            yield first, nvar, offset, size
            offset += size
            first += nvar


def encode_block(planes: dict[str, np.ndarray], n_samples: int, *, frame_variants: int = FRAME_VARIANTS,
                 level: int = ZSTD_LEVEL) -> bytes:
    """Serialise bit-planes (each ``(V, W) uint32``, same shape) into a block file's bytes."""
    names = tuple(planes)
    arrays = [np.ascontiguousarray(planes[name], dtype="<u4") for name in names]
    n_variants, words = arrays[0].shape
    compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
    frames, payload = [], []
    stacked = np.stack(arrays) if arrays else np.zeros((0, n_variants, words), "<u4")
    for start in range(0, n_variants, frame_variants):
        chunk = np.ascontiguousarray(stacked[:, start:start + frame_variants])
        data = compressor.compress(chunk.tobytes())
        frames.append((chunk.shape[1], len(data)))
        payload.append(data)
    header = json.dumps({"format": FORMAT_VERSION, "encoding": ENCODING_DENSE, "n_variants": int(n_variants),
                         "n_samples": int(n_samples), "n_words": int(words), "planes": list(names),
                         "frames": frames}, separators=(",", ":")).encode()
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *payload])


def read_block_header(data: bytes | memoryview, path: str | os.PathLike = "<block>") -> BlockHeader:
    """Parse the header of a block file's bytes; raise :class:`StoreError` if it is not a block."""
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise StoreError("not a gdbtools genotype block (bad magic)", file=path,
                         fix="the store is damaged; re-run the ingest into a new directory")
    (hlen,) = _LEN.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    meta = json.loads(bytes(data[start:start + hlen]))
    if meta["encoding"] not in KNOWN_ENCODINGS:
        raise StoreError(f"block encoding {meta['encoding']!r} is not known to this gdbtools version", file=path,
                         fix="upgrade gdbtools to the version that wrote this store (see manifest.json)")
    return BlockHeader(meta["encoding"], meta["n_variants"], meta["n_samples"], meta["n_words"],
                       tuple(meta["planes"]), tuple(tuple(f) for f in meta["frames"]), start + hlen)


def decode_block(data: bytes, path: str | os.PathLike = "<block>", alloc=None
                 ) -> tuple[BlockHeader, dict[str, np.ndarray]]:
    """Decode a block file's bytes into its planes, each ``(V, W) uint32``.

    `alloc(shape) -> uint32 array` may supply the ``(planes, V, W)`` output buffer (a reused pool); the
    returned planes are views of it.
    """
    header = read_block_header(data, path)
    n_planes, v, w = len(header.planes), header.n_variants, header.n_words
    out = alloc((n_planes, v, w)) if alloc is not None else np.empty((n_planes, v, w), dtype=np.uint32)
    decompressor = zstandard.ZstdDecompressor()
    view = memoryview(data)
    for first, nvar, offset, size in header.frame_spans():
        raw = decompressor.decompress(view[offset:offset + size])
        if len(raw) != n_planes * nvar * w * 4:
            raise StoreError("genotype block frame has the wrong size", file=path,
                             fix="the store is damaged; run `gdbtools verify` and re-ingest")
        out[:, first:first + nvar] = np.frombuffer(raw, dtype="<u4").reshape(n_planes, nvar, w)
    return header, {name: out[i] for i, name in enumerate(header.planes)}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def write_guard(path: str | os.PathLike):
    """Turn a full disk / quota error while writing `path` into a :class:`DiskFullError` that says what to do."""
    try:
        yield
    except OSError as exc:
        if exc.errno in disk_full_errnos:
            raise DiskFullError(f"no space left while writing ({os.strerror(exc.errno)})", file=path,
                                fix="free space or raise the quota, then run the same command again: "
                                    "finished blocks are kept and the ingest resumes") from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename, so `path` is whole or absent."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with write_guard(path):
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Atomically write `obj` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())
