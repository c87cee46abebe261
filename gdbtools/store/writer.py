"""Writing a cohort store: a planned set of partitions, each a sequence of atomic block writes, then a manifest.

The writer knows nothing about VCFs. Ingest gives it

1. a *plan* (ingest parameters and the list of partitions, each a region of the input) and the samples table:
   :class:`StoreWriter` creates the directory, or resumes one whose plan is identical;
2. per partition, a stream of blocks (bit-planes plus their variant rows plus an opaque resume cursor):
   :class:`PartitionWriter` writes each block file, its variant rows and then a small marker, each
   atomically, so a killed process leaves only whole blocks behind and the next run continues after the
   last marker;
3. :meth:`StoreWriter.finalize` checks that every partition finished, and writes ``manifest.json`` last.

Until the manifest exists the store does not open (:class:`~gdbtools.errors.StoreIncompleteError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas and pyarrow are imported when a store is written (keeps `import gdbtools` small)
    import pandas as pd
    import pyarrow as pa

from ..errors import StoreError
from .format import (
    DEFAULT_ENCODING,
    FORMAT_VERSION,
    atomic_write_bytes,
    atomic_write_json,
    encode_block,
    sha256_file,
    write_guard,
)
from .software import software_versions

__all__ = ["StoreWriter", "PartitionWriter", "partition_id"]

WORK = "_work"


def partition_id(index: int) -> str:
    return f"p{index:05d}"


def _write_parquet_atomic(table: pa.Table, path: Path, row_group_sizes: list[int] | None = None) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with write_guard(path):
            if row_group_sizes:
                with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
                    start = 0
                    for size in row_group_sizes:
                        writer.write_table(table.slice(start, size), row_group_size=max(size, 1))
                        start += size
            else:
                pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class StoreWriter:
    """Create (or resume) a store directory for a fixed plan.

    Parameters
    ----------
    path
        The store directory. It must not exist, or hold an unfinished ingest with the same plan (resume).
    plan
        JSON-serialisable dict: ``{"params": {...}, "partitions": [{"contig", "start", "end", ...}, ...]}``.
        Two runs resume each other only if their plans are equal.
    samples
        One row per sample in genotype column order; must have ``sample_id``.
    overwrite
        Delete an existing store (complete or not) at `path` first.
    """

    def __init__(self, path: str | os.PathLike, plan: dict, samples: pd.DataFrame, *, overwrite: bool = False):
        self.path = Path(path)
        self.plan = json.loads(json.dumps(plan))  # normalise (tuples -> lists) so that comparisons are exact
        self.n_samples = len(samples)
        manifest = self.path / "manifest.json"
        if self.path.exists() and overwrite:
            shutil.rmtree(self.path)
        if manifest.exists():
            raise StoreError("a complete store already exists here", file=self.path,
                             fix="choose a new output directory, or pass --overwrite to replace it")
        plan_file = self.path / WORK / "plan.json"
        # a directory holding only `_work` is an ingest killed before it wrote its plan (or built indexes)
        if self.path.exists() and any(p.name != WORK for p in self.path.iterdir()) or plan_file.exists():
            if not plan_file.exists():
                raise StoreError("the output directory exists and is not a gdbtools store", file=self.path,
                                 fix="choose a new output directory (gdbtools never writes into other data)")
            previous = json.loads(plan_file.read_text())
            if previous != self.plan:
                diff = sorted(k for k in set(previous["params"]) | set(self.plan["params"])
                              if previous["params"].get(k) != self.plan["params"].get(k))
                raise StoreError("an unfinished ingest with different parameters is in this directory "
                                 f"(differs in: {', '.join(diff) or 'partitions'})", file=self.path,
                                 fix="rerun with the original parameters to resume, or pass --overwrite to start over")
            self.resumed = True
        else:
            self.resumed = False
            with write_guard(self.path):
                (self.path / WORK).mkdir(parents=True, exist_ok=True)
                (self.path / "variants").mkdir(exist_ok=True)
                (self.path / "blocks").mkdir(exist_ok=True)
            atomic_write_json(plan_file, self.plan)
        samples_file = self.path / "samples.parquet"
        if not samples_file.exists():
            import pyarrow as pa

            _write_parquet_atomic(pa.Table.from_pandas(samples, preserve_index=False), samples_file)

    def partitions_done(self) -> list[str]:
        """Ids of partitions whose completion marker exists."""
        return sorted(p.name[: -len(".done.json")] for p in (self.path / WORK).glob("p*.done.json"))

    def finalize(self, extra: dict, contig_lengths: dict | None = None) -> dict:
        """Check that every planned partition finished, then write ``manifest.json`` (atomically, last).

        `extra` adds top-level manifest fields (build, contigs, sources, ingest parameters, stats).
        Returns the manifest.
        """
        work = self.path / WORK
        partitions: list[dict] = []
        blocks: list[dict] = []
        offset = 0
        stats: dict = {}
        missing = [partition_id(i) for i in range(len(self.plan["partitions"]))
                   if not (work / f"{partition_id(i)}.done.json").exists()]
        if missing:
            raise StoreError(f"{len(missing)} of {len(self.plan['partitions'])} partitions have not finished "
                             f"(first: {missing[0]})", file=self.path,
                             fix="run the ingest (or the missing partition jobs) again; finished ones are kept")
        for i, part in enumerate(self.plan["partitions"]):
            pid = partition_id(i)
            done = json.loads((work / f"{pid}.done.json").read_text())
            for key, value in done.get("stats", {}).items():
                if isinstance(value, (int, float)):
                    stats[key] = stats.get(key, 0) + value
                elif isinstance(value, list):
                    stats[key] = (stats.get(key, []) + value)[:50]
            variants_file = self.path / done["variants"]
            if not variants_file.exists() or sha256_file(variants_file) != done["variants_sha256"]:
                raise StoreError("a finished partition's variant table is missing or changed", file=variants_file,
                                 fix=f"remove {work / (pid + '.done.json')} and run the ingest again to redo "
                                     "that partition")
            for blk in done["blocks"]:
                path = self.path / blk["path"]
                if not path.exists() or path.stat().st_size != blk["bytes"]:
                    raise StoreError("a finished block is missing or has the wrong size", file=path,
                                     fix="remove the store directory and ingest again")
                blocks.append({"id": len(blocks), **blk, "variant_offset": offset})
                offset += blk["n_variants"]
            partitions.append({"id": pid, **{k: part.get(k) for k in ("file", "contig", "start", "end")},
                               "variants": done["variants"], "variants_sha256": done["variants_sha256"],
                               "n_variants": done["n_variants"], "n_blocks": len(done["blocks"]),
                               **done.get("reader", {})})
        samples_file = self.path / "samples.parquet"
        counts: dict[str, int] = {}
        for b in blocks:
            counts[b["contig"]] = counts.get(b["contig"], 0) + b["n_variants"]
        contigs = [{"name": c, "length": (contig_lengths or {}).get(c), "n_variants": n} for c, n in counts.items()]
        manifest = {
            "format": "gdbtools-cohort-store",
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "software": software_versions(),
            "n_samples": self.n_samples,
            "n_variants": offset,
            "samples": {"path": "samples.parquet", "sha256": sha256_file(samples_file)},
            **extra,
            "contigs": contigs,
            "stats": stats,
            "params": self.plan["params"],
            "partitions": partitions,
            "blocks": blocks,
        }
        atomic_write_json(self.path / "manifest.json", manifest)
        shutil.rmtree(work, ignore_errors=True)
        return manifest


class PartitionWriter:
    """Write one partition's blocks; constructible in any process from the store path and partition index.

    ``resume_cursor`` is the cursor passed with the last finished block (``None`` for a fresh partition), and
    ``next_block`` the index the next block gets. Call :meth:`write_block` per block, then :meth:`finish`.
    """

    def __init__(self, store_path: str | os.PathLike, index: int, n_samples: int, *,
                 encoding: str | None = None):
        self.root = Path(store_path)
        self.encoding = encoding or DEFAULT_ENCODING
        self.index = index
        self.pid = partition_id(index)
        self.n_samples = n_samples
        self.work = self.root / WORK / self.pid
        self.block_dir = self.root / "blocks" / self.pid
        with write_guard(self.work):
            self.work.mkdir(parents=True, exist_ok=True)
            self.block_dir.mkdir(parents=True, exist_ok=True)
        self.done_file = self.root / WORK / f"{self.pid}.done.json"
        self.blocks: list[dict] = []
        self.resume_cursor = None
        for marker in sorted(self.work.glob("b*.json")):
            info = json.loads(marker.read_text())
            if info["index"] != len(self.blocks):
                break  # a gap: everything after it is rewritten
            self.blocks.append(info["block"])
            self.resume_cursor = info["cursor"]

    @property
    def finished(self) -> bool:
        return self.done_file.exists()

    @property
    def next_block(self) -> int:
        return len(self.blocks)

    def write_block(self, planes: dict[str, np.ndarray], variants: pa.Table, cursor: dict,
                    first_pos: int, last_pos: int, contig: str | None) -> dict:
        """Write block number :attr:`next_block`: its genotype file, its variant rows, then its marker."""
        k = self.next_block
        name = f"b{k:06d}"
        data = encode_block(planes, self.n_samples, encoding=self.encoding)
        block_path = self.block_dir / f"{name}.gdb"
        atomic_write_bytes(block_path, data)
        _write_parquet_atomic(variants, self.work / f"{name}.parquet")
        record = {"partition": self.pid, "index": k, "path": f"blocks/{self.pid}/{name}.gdb", "contig": contig,
                  "first_pos": int(first_pos), "last_pos": int(last_pos), "n_variants": variants.num_rows,
                  "encoding": self.encoding, "planes": list(planes), "bytes": len(data),
                  "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_json(self.work / f"{name}.json", {"index": k, "block": record, "cursor": cursor})
        self.blocks.append(record)
        return record

    def read_block_variants(self) -> list[pa.Table]:
        import pyarrow.parquet as pq

        return [pq.read_table(self.work / f"b{k:06d}.parquet") for k in range(len(self.blocks))]

    def finish(self, schema: pa.Schema | None = None, stats: dict | None = None, reader: dict | None = None) -> dict:
        """Consolidate the variant rows into ``variants/pNNNNN.parquet`` and mark the partition finished.

        `reader`: which reader read the partition and why it fell back (``{"reader": "fast-bcf" | "fast-vcf" |
        "htslib", "fallback_reason": str | None}``), copied into the partition's manifest entry.
        """
        import pyarrow as pa

        pieces = self.read_block_variants()
        sizes = [t.num_rows for t in pieces]
        table = pa.concat_tables(pieces, promote_options="permissive") if pieces else (
            schema.empty_table() if schema is not None else pa.table({}))
        out = self.root / "variants" / f"{self.pid}.parquet"
        _write_parquet_atomic(table, out, sizes)
        done = {"variants": f"variants/{self.pid}.parquet", "variants_sha256": sha256_file(out),
                "n_variants": table.num_rows, "blocks": self.blocks, "stats": stats or {}, "reader": reader or {}}
        atomic_write_json(self.done_file, done)
        shutil.rmtree(self.work, ignore_errors=True)
        return done
