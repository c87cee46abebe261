"""Reading a cohort store: manifest, samples, variants, and genotype blocks as NumPy (or CuPy) arrays.

Opening and reading never write into the store directory, so a store can be shared read-only (ACLs).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import StoreError, StoreIncompleteError
from ..genome import Region, get_build, parse_region
from .bitplanes import CODE_FAIL_BIT, unpack_codes
from .format import FORMAT_VERSION, KNOWN_ENCODINGS, BlockFrames, SparseRows, _np, block_frames, decode_block

if TYPE_CHECKING:  # pandas and pyarrow are imported on the first table read (keeps `import gdbtools` small)
    import pandas as pd
    import pyarrow as pa

__all__ = ["Store", "Block", "open_store"]


class Block:
    """A run of consecutive variants of one contig: dense variants as bit-planes, rare ones as sparse entries.

    Attributes
    ----------
    index : int
        Global block number (``manifest["blocks"][index]``).
    variant_offset : int
        Global index of the first variant (row 0); rows are variants ``variant_offset + arange(n_variants)``.
    dense_lo, dense_hi : (D, W) uint32
        The bit-planes (see :mod:`gdbtools.store.bitplanes`) of the dense rows :attr:`dense_rows`: all rows
        for a ``dense2`` block (D = V), the rows not in :attr:`sparse` for a ``hybrid2`` one.
    dense_fail : (D, W) uint32 or None
        Calls failing the genotype filters (adj); ``None`` when the input had no fields to filter on.
    sparse : gdbtools.store.format.SparseRows or None
        The sparse rows (``hybrid2``), or ``None``.
    n_samples : int
        N; bits at or beyond N are padding (0).
    contig : str

    :attr:`lo`, :attr:`hi` and :attr:`fail` are the planes of *all* ``V`` rows, ``(V, W) uint32``: for a block
    with sparse rows they are built on first use (the statistics read the dense and sparse parts directly).
    """

    def __init__(self, index: int, variant_offset: int, dense_lo, dense_hi, dense_fail, n_samples: int,
                 contig: str, extra: dict | None = None, *, sparse: SparseRows | None = None,
                 n_variants: int | None = None):
        self.index, self.variant_offset = index, variant_offset
        self.dense_lo, self.dense_hi, self.dense_fail = dense_lo, dense_hi, dense_fail
        self.n_samples, self.contig = n_samples, contig
        self.extra = dict(extra or {})
        self.sparse = sparse if (sparse is not None and sparse.n_rows > 0) else None
        self._n = int(dense_lo.shape[0] if n_variants is None else n_variants)
        self._full = None

    def __repr__(self) -> str:
        sp = 0 if self.sparse is None else self.sparse.n_rows
        return (f"<Block {self.index} {self.contig} rows {self.variant_offset}+{self._n} "
                f"({self._n - sp} dense, {sp} sparse) x {self.n_samples} samples>")

    @property
    def n_variants(self) -> int:
        return self._n

    @property
    def n_dense(self) -> int:
        return int(self.dense_lo.shape[0])

    @property
    def dense_rows(self) -> np.ndarray:
        """Row numbers of the dense rows, ``(D,) int64`` (host)."""
        if self.sparse is None:
            return np.arange(self._n, dtype=np.int64)
        keep = np.ones(self._n, dtype=bool)
        keep[_np(self.sparse.rows)] = False  # (a block decoded on a device holds device arrays)
        return np.flatnonzero(keep)

    def _materialize(self):
        if self._full is None:
            if self.sparse is None:
                self._full = (self.dense_lo, self.dense_hi, self.dense_fail)
            else:
                self._full = _full_planes(self)
        return self._full

    @property
    def lo(self):
        return self._materialize()[0]

    @property
    def hi(self):
        return self._materialize()[1]

    @property
    def fail(self):
        return self.dense_fail if self.sparse is None else self._materialize()[2]

    def planes(self, adj: bool = False):
        """``(lo, hi)`` of all rows; with ``adj=True`` calls that fail the genotype filters read as missing."""
        if adj and self.fail is not None:
            return self.lo | self.fail, self.hi | self.fail
        return self.lo, self.hi

    def codes(self, adj: bool = False, samples: np.ndarray | None = None) -> np.ndarray:
        """Genotype codes ``(V, N) int8`` (0 hom-ref, 1 het, 2 hom-alt, 3 missing), optionally a sample subset."""
        lo, hi = self.planes(adj)
        codes = unpack_codes(lo, hi, self.n_samples)
        return codes if samples is None else codes[:, samples]

    def slice(self, start: int, stop: int) -> Block:
        """Rows ``start:stop`` as a block (views of the planes, no copy)."""
        stop = max(start, min(stop, self._n))
        if self.sparse is None:
            d0, d1 = start, stop
            sparse = None
        else:
            d0, d1 = (int(i) for i in np.searchsorted(self.dense_rows, [start, stop]))
            sparse = self.sparse.select(start, stop)
        fail = None if self.dense_fail is None else self.dense_fail[d0:d1]
        return Block(self.index, self.variant_offset + start, self.dense_lo[d0:d1], self.dense_hi[d0:d1], fail,
                     self.n_samples, self.contig, self.extra, sparse=sparse, n_variants=stop - start)


def _full_planes(block: Block):
    """All rows of a block with sparse rows as ``(lo, hi, fail)`` planes ``(V, W) uint32``."""
    w = block.dense_lo.shape[1]
    dense = block.dense_rows
    out: list = []
    sp = block.sparse
    assert sp is not None  # only hybrid blocks with sparse rows come here (Block._materialize)
    word = sp.sample >> 5
    bit = np.left_shift(np.uint32(1), (sp.sample & 31).astype(np.uint32))
    for plane, flag in ((block.dense_lo, 1), (block.dense_hi, 2), (block.dense_fail, CODE_FAIL_BIT)):
        if plane is None:
            out.append(None)
            continue
        full = np.zeros((block.n_variants, w), dtype=np.uint32)
        full[dense] = plane
        on = (sp.code & flag) != 0
        np.bitwise_or.at(full, (sp.row[on], word[on]), bit[on])
        out.append(full)
    return tuple(out)


class Store:
    """A cohort store opened for reading. Use :func:`open_store` (or :func:`gdbtools.open`)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not self.path.is_dir():
            raise StoreError("no such store directory", file=self.path,
                             fix="check the path, or create the store with `gdbtools ingest`")
        if not manifest_path.exists():
            if (self.path / "_work").exists():
                raise StoreIncompleteError("the ingest into this store has not finished (no manifest.json)",
                                           file=self.path,
                                           fix="run the same `gdbtools ingest` command again to resume it")
            raise StoreError("not a gdbtools store (no manifest.json)", file=self.path,
                             fix="point to a directory written by `gdbtools ingest`")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"manifest.json does not parse ({exc})", file=manifest_path,
                             fix="the store is damaged; re-run the ingest into a new directory") from exc
        version = self.manifest.get("format_version")
        if self.manifest.get("format") != "gdbtools-cohort-store" or not isinstance(version, int):
            raise StoreError("manifest.json is not a gdbtools manifest", file=manifest_path)
        if version > FORMAT_VERSION:
            raise StoreError(f"store format version {version} is newer than this gdbtools supports "
                             f"({FORMAT_VERSION})", file=self.path, fix="upgrade gdbtools")
        unknown = {b["encoding"] for b in self.manifest["blocks"]} - KNOWN_ENCODINGS
        if unknown:
            raise StoreError(f"blocks use encodings unknown to this gdbtools ({', '.join(sorted(unknown))})",
                             file=self.path, fix="upgrade gdbtools")
        self.blocks_meta = self.manifest["blocks"]
        self._block_starts = np.array([b["variant_offset"] for b in self.blocks_meta] + [self.n_variants],
                                      dtype=np.int64)
        self._part_offsets: dict[str, int] = {}
        for b in self.blocks_meta:
            self._part_offsets.setdefault(b["partition"], b["variant_offset"])

    def __repr__(self) -> str:
        return (f"<gdbtools Store {str(self.path)!r}: {self.n_samples} samples x {self.n_variants} variants "
                f"in {len(self.blocks_meta)} blocks, build {self.build_name}>")

    # -- sizes and metadata ------------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.manifest["n_samples"])

    @property
    def n_variants(self) -> int:
        return int(self.manifest["n_variants"])

    @property
    def build_name(self) -> str | None:
        return self.manifest.get("build")

    @property
    def build(self):
        return get_build(self.build_name)

    @property
    def contigs(self) -> list[str]:
        return [c["name"] for c in self.manifest.get("contigs", [])]

    @cached_property
    def sample_arrow(self) -> pa.Table:
        """The sample table as Arrow (read once, no pandas): one row per sample, in genotype column order."""
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path / "samples.parquet").read()  # not read_table: pyarrow.dataset imports pandas

    @cached_property
    def samples(self) -> pd.DataFrame:
        """One row per sample, in genotype column order: ``sample_id``, ``sample_index``, ``sex``, metadata."""
        return self.sample_arrow.to_pandas()

    def variant_arrow(self, columns: list[str] | None = None, dictionary=()) -> tuple[pa.Table, np.ndarray]:
        """The variant table as Arrow (no pandas) and its global ``variant_index``, ``(V,) int64``; the
        `dictionary` columns (``contig``, ``allele_type``) read as Arrow dictionaries (codes and values)."""
        import pyarrow as pa

        tables, index = [], []
        for part in self.manifest["partitions"]:
            table = self._read_variants(part, columns, dictionary)
            off = self._partition_offset(part["id"])
            tables.append(table)
            index.append(np.arange(off, off + table.num_rows, dtype=np.int64))
        if not tables:  # no variants: empty columns (pa.nulls: pa.array and empty_table import pandas)
            types = {"pos": pa.int64(), "is_transition": pa.bool_()}
            names = list(columns or [])
            return pa.Table.from_arrays([pa.nulls(0, types.get(c, pa.string())) for c in names], names=names), \
                np.zeros(0, np.int64)
        return pa.concat_tables(tables), np.concatenate(index)

    def variants(self, columns: list[str] | None = None, region: str | Region | None = None) -> pd.DataFrame:
        """The variant table (one row per biallelic variant), indexed by global ``variant_index``.

        Parameters
        ----------
        columns
            Columns to read (default all): contig, pos, id, ref, alt, qual, filter, allele_index,
            n_alleles, allele_type, is_transition, partition, block, row, plus INFO/annotation columns.
        region
            Restrict to a region (``"17:43044295-43125483"``).
        """
        import pandas as pd

        parts = self.manifest["partitions"]
        if region is not None:
            reg = parse_region(region)
            parts = [p for p in parts if p["contig"] == reg.contig]
        want = None if columns is None else list(dict.fromkeys([*columns, *(["pos"] if region else [])]))
        frames, offsets = [], []
        for part in parts:
            table = self._read_variants(part, want)
            frames.append(table.to_pandas())
            offsets.append(self._partition_offset(part["id"]))
        if not frames:
            return pd.DataFrame(columns=columns or [])
        for frame, off in zip(frames, offsets):
            frame.index = pd.RangeIndex(off, off + len(frame), name="variant_index")
        out = pd.concat(frames)
        if region is not None:
            out = out[reg.contains(out["pos"].to_numpy())]
            if columns is not None and "pos" not in columns:
                out = out.drop(columns="pos")
        return out

    def variants_of_partition(self, pid: str, columns: list[str] | None = None) -> pd.DataFrame:
        """The variant rows of one partition, indexed by global ``variant_index``."""
        import pandas as pd

        part = next(p for p in self.manifest["partitions"] if p["id"] == pid)
        frame = self._read_variants(part, columns).to_pandas()
        off = self._partition_offset(pid)
        frame.index = pd.RangeIndex(off, off + len(frame), name="variant_index")
        return frame

    def _read_variants(self, part: dict, columns, dictionary=()):
        import pyarrow.parquet as pq

        path = self.path / part["variants"]
        try:
            with pq.ParquetFile(path, read_dictionary=list(dictionary) or None) as reader:
                # not pq.read_table: pyarrow.dataset imports pandas (0.3 s)
                return reader.read(columns=columns)
        except FileNotFoundError as exc:
            raise StoreError("a variant table listed in the manifest is missing", file=path,
                             fix="the store is damaged; re-run the ingest into a new directory") from exc

    def _partition_offset(self, pid: str) -> int:
        return self._part_offsets.get(pid, 0)  # an empty partition has no rows; its offset is irrelevant

    # -- genotype blocks ---------------------------------------------------------------------------------------
    def read_block(self, index: int, *, verify: bool = False, alloc=None) -> Block:
        """Read and decode block `index`; with ``verify=True`` check its SHA-256 against the manifest.

        `alloc(shape) -> uint32 array` may provide the decode buffer ``(planes, V, W)`` (e.g. a pool reused
        across blocks); the block's planes are views of it.
        """
        meta = self.blocks_meta[index]
        data, path = self._block_bytes(index, verify)
        header, planes, sparse = decode_block(data, path, alloc)
        self._check_shape(header, meta, path)
        return Block(index, meta["variant_offset"], planes["lo"], planes["hi"], planes.get("fail"),
                     self.n_samples, meta["contig"], sparse=sparse, n_variants=header.n_variants)

    def read_block_frames(self, index: int, *, verify: bool = False) -> BlockFrames:
        """Read block `index` without decoding it: its compressed frames and their layout
        (:class:`~gdbtools.store.format.BlockFrames`), for a batched decoder such as a backend's
        ``decode_blocks``; with ``verify=True`` check its SHA-256 first."""
        data, path = self._block_bytes(index, verify)
        frames = block_frames(data, path)
        self._check_shape(frames.header, self.blocks_meta[index], path)
        return frames

    def _check_shape(self, header, meta: dict, path) -> None:
        if header.n_variants != meta["n_variants"] or header.n_samples != self.n_samples:
            raise StoreError("block shape disagrees with the manifest", file=path,
                             fix="the store is damaged; re-run the ingest into a new directory")

    def _block_bytes(self, index: int, verify: bool) -> tuple[bytes, Path]:
        meta = self.blocks_meta[index]
        path = self.path / meta["path"]
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError("a genotype block listed in the manifest is missing", file=path,
                             fix="the store is damaged; re-run the ingest into a new directory") from exc
        if verify:
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise StoreError("genotype block checksum mismatch", file=path,
                                 fix="the block is corrupt; re-run the ingest into a new directory")
        return data, path

    def block_indices(self, region: str | Region | None = None) -> list[int]:
        """Indices of the blocks that overlap `region` (all blocks when ``None``)."""
        if region is None:
            return list(range(len(self.blocks_meta)))
        reg = parse_region(region)
        end = reg.end if reg.end is not None else np.inf
        return [i for i, b in enumerate(self.blocks_meta)
                if b["contig"] == reg.contig and b["last_pos"] >= reg.start and b["first_pos"] <= end]

    def blocks(self, region: str | Region | None = None, *, verify: bool = False) -> Iterator[Block]:
        """Iterate over genotype blocks in order, trimmed to `region`, as NumPy arrays (a backend's
        ``to_device`` moves what a kernel needs)."""
        reg = parse_region(region) if region is not None else None
        positions = None
        if reg is not None:
            positions = self.variants(["pos"], region=None if reg is None else reg.contig)["pos"]
        for i in self.block_indices(reg):
            block = self.read_block(i, verify=verify)
            if reg is not None:
                assert positions is not None
                meta = self.blocks_meta[i]
                pos = positions.loc[meta["variant_offset"]: meta["variant_offset"] + meta["n_variants"] - 1]
                inside = np.flatnonzero(reg.contains(pos.to_numpy()))
                if inside.size == 0:
                    continue
                block = block.slice(int(inside[0]), int(inside[-1]) + 1)
            yield block

    def block_of_variant(self, variant_index: np.ndarray) -> np.ndarray:
        """Global block index of each global variant index."""
        return np.searchsorted(self._block_starts, variant_index, side="right") - 1


def open_store(path: str | os.PathLike) -> Store:
    """Open a cohort store read-only."""
    return Store(path)
