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

``encoding`` is one of

- ``"dense2"``: every variant as bit-planes (see :mod:`gdbtools.store.bitplanes`);
- ``"hybrid2"`` (the default since it exists): rare variants, those with at most ``sparse_max`` calls that are
  not a passing hom-ref (``header["sparse"]["max"]``, ``n_samples // 16`` by default), are stored as a list of
  ``(sample, code)`` entries; the others as bit-planes, as in ``dense2``.  Most variants of a large cohort are
  rare, so this shrinks both the bytes to decompress and the work of the statistics, which touch a sparse row
  in time proportional to its entries (PLINK 2's pgen keeps rare variants as "difflists" for the same reason).

A reader refuses encodings it does not know with a clear message, so stores written before an encoding
existed keep working and a newer store is not misread. Each zstd frame holds ``frames[k][0]`` consecutive
*dense* variants laid out plane-major, ``(n_planes, n_variants_in_frame, n_words)`` little-endian ``uint32``:
the same bytes decode on a CPU (``zstandard``) or, frame by frame, on a GPU (nvCOMP's batched zstd).

A ``hybrid2`` block then has one more zstd frame, the sparse part, described by ``header["sparse"]``
(``rows``: sparse variants, ``nnz``: entries, ``bytes``: compressed size) and holding, back to back::

    rows    (rows,) int32    the sparse variants' row numbers in the block, increasing
    counts  (rows,) int32    entries per sparse variant
    sample  (nnz,)  uint16   sample indices (uint32 when the cohort has more than 65,536 samples:
                             ``header["sparse"]["sample_bytes"]``), increasing within a variant
    code    (nnz,)  uint8    bit 0 = lo, bit 1 = hi (the genotype code), bit 2 = fail

(Absolute sample numbers, not differences: they decode without a prefix sum, which measured faster overall
than the smaller, delta-coded frame.)

Samples without an entry are hom-ref calls that pass the filters.  The dense variants are the block's other
rows, in order.
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
from .bitplanes import CODE_FAIL_BIT

__all__ = ["FORMAT_VERSION", "ENCODING_DENSE", "ENCODING_HYBRID", "DEFAULT_ENCODING", "KNOWN_ENCODINGS",
           "FRAME_VARIANTS", "encode_block", "decode_block", "BlockHeader", "SparseRows", "default_sparse_max",
           "read_block_header", "BlockFrames", "block_frames", "FRAME_COLUMNS", "sparse_from_raw", "sparse_raw_size",
           "sha256_file", "atomic_write_bytes",
           "atomic_write_json", "write_guard"]

FORMAT_VERSION = 1
ENCODING_DENSE = "dense2"
ENCODING_HYBRID = "hybrid2"
DEFAULT_ENCODING = ENCODING_HYBRID
KNOWN_ENCODINGS = frozenset({ENCODING_DENSE, ENCODING_HYBRID})
SPARSE_DIVISOR = 16  # sparse_max = n_samples // 16, chosen with bench/bench_stats.py (see bench/RESULTS.md)
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
    frames: tuple[tuple[int, int], ...]  # (dense variants in frame, compressed bytes)
    payload_offset: int
    sparse: dict | None = None  # hybrid2: {"rows", "nnz", "bytes", "max"}

    @property
    def n_dense(self) -> int:
        return sum(f[0] for f in self.frames)

    @property
    def sparse_offset(self) -> int:
        return self.payload_offset + sum(f[1] for f in self.frames)

    def frame_spans(self):
        """Yield ``(first_variant, n_variants, byte_offset, byte_size)`` for each frame."""
        offset, first = self.payload_offset, 0
        for nvar, size in self.frames:
            yield first, nvar, offset, size
            offset += size
            first += nvar


def default_sparse_max(n_samples: int) -> int:
    """Entries up to which a variant is stored sparse in a ``hybrid2`` block: ``n_samples // 16``."""
    return int(n_samples) // SPARSE_DIVISOR


@dataclass
class SparseRows:
    """The sparse variants of a block, as CSR (NumPy or CuPy arrays).

    Attributes
    ----------
    rows : (S,) int32
        Row numbers of the sparse variants in their block, increasing.
    ptr : (S + 1,) int64
        Entries of sparse variant ``k`` are ``ptr[k]:ptr[k + 1]``.
    sample : (E,) uint16 or int32
        Sample index of each entry (increasing within a variant); uint16 for cohorts of up to 65,536 samples.
    code : (E,) uint8
        Bits 0-1: the genotype code (:mod:`gdbtools.store.bitplanes`); bit 2: the call fails the filters.

    :attr:`row`, the row of every entry, is derived on first use.
    """

    rows: np.ndarray
    ptr: np.ndarray
    sample: np.ndarray
    code: np.ndarray
    _row: np.ndarray | None = None

    @property
    def row(self):
        """Row (in the block) of each entry, ``(E,) int32``: :attr:`rows` repeated by their entry counts."""
        if self._row is None:
            self._row = np.repeat(self.rows, np.diff(self.ptr)).astype(np.int32, copy=False)
        return self._row

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.sample.shape[0])

    def select(self, start: int, stop: int) -> SparseRows:
        """The sparse variants with rows in ``start:stop``, renumbered from ``start``."""
        k0, k1 = (int(i) for i in np.searchsorted(_np(self.rows), [start, stop]))
        e0, e1 = int(self.ptr[k0]), int(self.ptr[k1])
        out = SparseRows(self.rows[k0:k1] - start, self.ptr[k0:k1 + 1] - e0, self.sample[e0:e1], self.code[e0:e1])
        if self._row is not None:  # made on a device: keep it there
            out._row = self._row[e0:e1] - start
        return out

    def to(self, conv) -> SparseRows:
        """The same rows with every array (and :attr:`row`, computed here on the host) passed through `conv`,
        e.g. a backend's ``to_device``."""
        out = SparseRows(conv(self.rows), conv(self.ptr), conv(self.sample), conv(self.code))
        out._row = conv(self.row)
        return out


def _np(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _row_entries(union: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``(row, sample)`` of the set bits of a plane ``(S, W)``, row-major and increasing."""
    bits = np.unpackbits(np.ascontiguousarray(union).view(np.uint8), axis=1, count=n_samples, bitorder="little")
    rows, samples = np.nonzero(bits)
    return rows, samples


def encode_block(planes: dict[str, np.ndarray], n_samples: int, *, frame_variants: int = FRAME_VARIANTS,
                 level: int = ZSTD_LEVEL, encoding: str = DEFAULT_ENCODING, sparse_max: int | None = None) -> bytes:
    """Serialise bit-planes (each ``(V, W) uint32``, same shape) into a block file's bytes.

    With ``encoding="hybrid2"`` the variants with at most `sparse_max` (default :func:`default_sparse_max`)
    set bits over all planes are stored as sparse entries (see the module docstring).
    """
    if encoding not in KNOWN_ENCODINGS:
        raise ValueError(f"unknown block encoding {encoding!r} (known: {', '.join(sorted(KNOWN_ENCODINGS))})")
    names = tuple(planes)
    arrays = [np.ascontiguousarray(planes[name], dtype="<u4") for name in names]
    n_variants, words = arrays[0].shape
    compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
    meta = {"format": FORMAT_VERSION, "encoding": encoding, "n_variants": int(n_variants),
            "n_samples": int(n_samples), "n_words": int(words), "planes": list(names)}
    sparse_payload = b""
    if encoding == ENCODING_HYBRID:
        limit = default_sparse_max(n_samples) if sparse_max is None else int(sparse_max)
        union = np.zeros((n_variants, words), dtype=np.uint32)
        for a in arrays:
            union |= a
        nnz = np.bitwise_count(union).sum(axis=1, dtype=np.int64)
        is_sparse = nnz <= limit
        rows = np.flatnonzero(is_sparse).astype("<i4")
        dense = np.flatnonzero(~is_sparse)
        sub = [a[rows] for a in arrays]
        r, smp = _row_entries(union[rows], n_samples) if rows.size else (np.zeros(0, np.intp),) * 2
        code = np.zeros(r.shape[0], dtype=np.uint8)
        word, bit = smp >> 5, (smp & 31).astype(np.uint32)
        for name, a in zip(names, sub):
            weight = {"lo": 1, "hi": 2, "fail": CODE_FAIL_BIT}[name]
            code |= ((a[r, word] >> bit) & 1).astype(np.uint8) * np.uint8(weight)
        sample_bytes = 2 if n_samples <= 1 << 16 else 4
        smp_out = smp.astype("<u2" if sample_bytes == 2 else "<u4")
        counts = nnz[rows].astype("<i4")
        sparse_payload = compressor.compress(rows.tobytes() + counts.tobytes() + smp_out.tobytes() + code.tobytes())
        meta["sparse"] = {"rows": int(rows.size), "nnz": int(r.shape[0]), "bytes": len(sparse_payload),
                          "max": limit, "sample_bytes": sample_bytes}
        arrays = [a[dense] for a in arrays]
        n_dense = int(dense.size)
    else:
        n_dense = n_variants
    frames, payload = [], []
    stacked = np.stack(arrays) if arrays else np.zeros((0, n_dense, words), "<u4")
    for start in range(0, n_dense, frame_variants):
        chunk = np.ascontiguousarray(stacked[:, start:start + frame_variants])
        data = compressor.compress(chunk.tobytes())
        frames.append((chunk.shape[1], len(data)))
        payload.append(data)
    meta["frames"] = frames
    header = json.dumps(meta, separators=(",", ":")).encode()
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *payload, sparse_payload])


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
                       tuple(meta["planes"]), tuple(tuple(f) for f in meta["frames"]), start + hlen,
                       meta.get("sparse"))


def _damaged(path, what: str) -> StoreError:
    return StoreError(f"genotype block {what}", file=path,
                      fix="the store is damaged; run `gdbtools verify` and re-ingest")


def decode_block(data: bytes, path: str | os.PathLike = "<block>", alloc=None
                 ) -> tuple[BlockHeader, dict[str, np.ndarray], SparseRows | None]:
    """Decode a block file's bytes into its dense planes, each ``(D, W) uint32``, and its sparse rows.

    For ``dense2`` D is the block's variant count and the sparse part is ``None``; for ``hybrid2`` the planes
    hold the dense variants only (the rows not in ``sparse.rows``, in order).  `alloc(shape) -> uint32 array`
    may supply the ``(planes, D, W)`` output buffer (a reused pool); the returned planes are views of it.
    """
    try:
        return _decode_block(data, path, alloc)
    except zstandard.ZstdError as exc:
        raise _damaged(path, f"does not decompress ({exc})") from exc


def _decode_block(data, path, alloc):
    header = read_block_header(data, path)
    n_planes, v, w = len(header.planes), header.n_dense, header.n_words
    out = alloc((n_planes, v, w)) if alloc is not None else np.empty((n_planes, v, w), dtype=np.uint32)
    decompressor = zstandard.ZstdDecompressor()
    view = memoryview(data)
    for first, nvar, offset, size in header.frame_spans():
        raw = decompressor.decompress(view[offset:offset + size])
        if len(raw) != n_planes * nvar * w * 4:
            raise _damaged(path, "frame has the wrong size")
        out[:, first:first + nvar] = np.frombuffer(raw, dtype="<u4").reshape(n_planes, nvar, w)
    sparse = None
    if header.encoding == ENCODING_HYBRID:
        info = header.sparse
        offset = header.sparse_offset
        raw = decompressor.decompress(view[offset:offset + int(info["bytes"])]) if info["bytes"] else b""
        sparse = sparse_from_raw(np, np.frombuffer(raw, np.uint8), header, path)
        if sparse.ptr[-1] != sparse.nnz:
            raise _damaged(path, "sparse part is inconsistent")
        if sparse.nnz and (int(sparse.sample.min()) < 0 or int(sparse.sample.max()) >= header.n_samples):
            raise _damaged(path, "sparse part names a sample beyond the cohort")
    return header, {name: out[i] for i, name in enumerate(header.planes)}, sparse


def sparse_raw_size(header: BlockHeader) -> int:
    """Bytes of a ``hybrid2`` block's decompressed sparse frame (0 for ``dense2``)."""
    info = header.sparse
    if header.encoding != ENCODING_HYBRID or not info:
        return 0
    return 8 * int(info["rows"]) + (int(info.get("sample_bytes", 4)) + 1) * int(info["nnz"])


def sparse_from_raw(xp, raw, header: BlockHeader, path: str | os.PathLike = "<block>", *,
                    entry_rows: bool = False) -> SparseRows:
    """The :class:`SparseRows` of a ``hybrid2`` block from its decompressed sparse frame.

    `raw` is the frame's bytes as a ``(sparse_raw_size(header),) uint8`` array of `xp` (NumPy, or a device
    array module), starting at an address aligned to 4 bytes; ``rows``, ``sample`` and ``code`` are views of
    it, ``ptr`` is computed with `xp` (no host copy); with ``entry_rows`` the entries' :attr:`SparseRows.row`
    too (a device decoder asks for it: ``np.repeat`` of the lazy :attr:`SparseRows.row` is host-only), otherwise
    it is derived on first use (the host kernels read ``rows`` and ``ptr`` only).  Only the sizes are checked
    here (no value is read back from a device).
    """
    info = header.sparse or {}
    s_rows, nnz = int(info.get("rows", 0)), int(info.get("nnz", 0))
    sb = int(info.get("sample_bytes", 4))
    if raw.shape[0] != sparse_raw_size(header) or s_rows + header.n_dense != header.n_variants:
        raise _damaged(path, "sparse part has the wrong size")
    rows = raw[:4 * s_rows].view(np.int32)
    counts = raw[4 * s_rows:8 * s_rows].view(np.int32)
    sample = raw[8 * s_rows:8 * s_rows + sb * nnz].view(np.uint16 if sb == 2 else np.int32)
    code = raw[8 * s_rows + sb * nnz:]
    ptr = xp.zeros(s_rows + 1, dtype=np.int64)
    if s_rows:
        ptr[1:] = xp.cumsum(counts, dtype=np.int64)
    out = SparseRows(rows, ptr, sample, code)
    if entry_rows:  # the sparse variant whose entry range holds each entry (searchsorted works on any device)
        out._row = rows[xp.searchsorted(ptr[1:], xp.arange(nnz, dtype=np.int64), side="right")] if nnz else rows[:0]
    return out


# The columns of :attr:`BlockFrames.frames`.
FRAME_COLUMNS = ("offset", "size", "raw_size", "first", "n")


@dataclass(frozen=True)
class BlockFrames:
    """A block's compressed frames, read but not decoded: what a batched decoder (nvCOMP on a GPU) needs.

    Attributes
    ----------
    header : BlockHeader
    data : (B,) uint8
        The dense frames' compressed bytes, back to back as in the file (a view of the file's bytes).
    frames : (F, 5) int64
        One row per dense frame (:data:`FRAME_COLUMNS`): offset in `data`, compressed bytes, decompressed
        bytes (``planes * n * n_words * 4``), first dense variant, variants ``n``.  Each frame decompresses to
        ``(planes, n, n_words)`` little-endian uint32, plane-major; every frame but the last holds the same
        number of variants.
    sparse : (S,) uint8 or None
        The compressed sparse frame of a ``hybrid2`` block (``None`` for ``dense2``; empty when the block
        has no sparse row); it decompresses to :func:`sparse_raw_size` bytes (:func:`sparse_from_raw`).
    path : str
    """

    header: BlockHeader
    data: np.ndarray
    frames: np.ndarray
    sparse: np.ndarray | None
    path: str

    @property
    def raw_dense_bytes(self) -> int:
        return int(self.frames[:, 2].sum())

    @property
    def raw_sparse_bytes(self) -> int:
        return sparse_raw_size(self.header)


def block_frames(data: bytes, path: str | os.PathLike = "<block>") -> BlockFrames:
    """Split a block file's bytes into its compressed frames (:class:`BlockFrames`) without decoding them."""
    header = read_block_header(data, path)
    buf = np.frombuffer(data, dtype=np.uint8)
    n_planes, w = len(header.planes), header.n_words
    frames = np.array([(offset - header.payload_offset, size, n_planes * nvar * w * 4, first, nvar)
                       for first, nvar, offset, size in header.frame_spans()], dtype=np.int64).reshape(-1, 5)
    if header.sparse_offset > buf.shape[0] or (frames.shape[0] > 1 and (frames[:-1, 4] != frames[0, 4]).any()):
        raise _damaged(path, "frames do not match the header")
    sparse = None
    if header.encoding == ENCODING_HYBRID:
        info = header.sparse or {}
        sparse = buf[header.sparse_offset:header.sparse_offset + int(info.get("bytes", 0))]
        if sparse.shape[0] != int(info.get("bytes", 0)):
            raise _damaged(path, "sparse part is truncated")
    return BlockFrames(header, buf[header.payload_offset:header.sparse_offset], frames, sparse, str(path))


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
