"""The variant rows of split records and the blocks they fill, shared by ingest's partitions and merge mode.

:func:`allele_type` classifies an ALT allele as Hail does; :func:`variant_schema` gives the columns of the
variant table; :func:`info_for_allele` the value an INFO field takes on one allele's row; :class:`BlockBuilder`
accumulates the genotype planes (``(rows, words) uint32`` lo/hi/fail) and variant rows of one block.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

from ..store.bitplanes import n_words

__all__ = ["allele_type", "variant_schema", "info_for_allele", "BlockBuilder"]


@functools.lru_cache(maxsize=65536)
def allele_type(ref: str, alt: str) -> tuple[str, bool]:
    """Hail's allele classes (SNP, MNP, Insertion, Deletion, Complex, Star, Symbolic) and is-transition."""
    if alt == "*":
        return "Star", False
    if alt.startswith("<") or "[" in alt or "]" in alt or alt == ".":
        return "Symbolic", False
    if len(ref) == len(alt):
        diff = [(r, a) for r, a in zip(ref.upper(), alt.upper()) if r != a]
        if len(diff) == 1:
            r, a = diff[0]
            return "SNP", {r, a} in ({"A", "G"}, {"C", "T"})
        return "MNP", False
    if len(ref) < len(alt) and alt.startswith(ref[0]) and alt.endswith(ref[1:]):
        return "Insertion", False
    if len(alt) < len(ref) and ref.startswith(alt[0]) and ref.endswith(alt[1:]):
        return "Deletion", False
    return "Complex", False


# INFO Number values kept as one value per split row (its own type); others become a string
SCALAR_NUMBERS = frozenset({"1", "A", "R", "0"})
_ARROW_TYPES = {"Integer": pa.int64(), "Float": pa.float64(), "Flag": pa.bool_(), "String": pa.string(),
                "Character": pa.string()}


def variant_schema(info_fields: dict, annotation: bool) -> pa.Schema:
    """Columns of the variant table (see :meth:`gdbtools.store.Store.variants`)."""
    fields = [("contig", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
              ("alt", pa.string()), ("qual", pa.float32()), ("filter", pa.string()),
              ("allele_index", pa.int16()), ("n_alleles", pa.int16()), ("allele_type", pa.string()),
              ("is_transition", pa.bool_()), ("partition", pa.int32()), ("block", pa.int32()),
              ("row", pa.int32())]
    if annotation:
        fields += [("gene", pa.string()), ("consequence", pa.string()), ("impact", pa.string())]
    for name, meta in info_fields.items():
        scalar = meta.get("Number") in SCALAR_NUMBERS
        fields.append((f"info_{name}", _ARROW_TYPES.get(meta.get("Type"), pa.string()) if scalar else pa.string()))
    return pa.schema(fields)


class BlockBuilder:
    """Accumulates planes and variant rows for one block; grows for records with many ALT alleles."""

    def __init__(self, n_samples: int, block_size: int, with_fail: bool, columns: list[str]):
        self.n = n_samples
        self.words = n_words(n_samples)
        self.block_size = block_size
        self.with_fail = with_fail
        self.columns = columns
        self._alloc(block_size + 64)
        self.reset()

    def _alloc(self, capacity: int) -> None:
        self.capacity = capacity
        self.lo = np.zeros((capacity, self.words), dtype=np.uint32)
        self.hi = np.zeros((capacity, self.words), dtype=np.uint32)
        self.fail = np.zeros((capacity, self.words), dtype=np.uint32) if self.with_fail else None

    def reserve(self, extra: int) -> None:
        if self.rows + extra > self.capacity:
            old = (self.lo, self.hi, self.fail)
            self._alloc(self.rows + extra + 64)
            self.lo[: self.rows] = old[0][: self.rows]
            self.hi[: self.rows] = old[1][: self.rows]
            if self.fail is not None and old[2] is not None:  # both exist exactly when with_fail (for mypy)
                self.fail[: self.rows] = old[2][: self.rows]

    def reset(self) -> None:
        self.rows = 0
        self.contig: str | None = None
        self.data: dict[str, list] = {c: [] for c in self.columns}

    def block(self, partition: int, block_no: int, schema: pa.Schema) -> tuple[dict[str, np.ndarray], pa.Table]:
        """The block built so far: its planes (``{"lo", "hi"[, "fail"]}``: ``(rows, words) uint32``) and its
        variant rows as a table of `schema` (with the partition, block and row columns filled in)."""
        rows = self.rows
        data = self.data
        data["partition"] = [partition] * rows
        data["block"] = [block_no] * rows
        data["row"] = list(range(rows))
        table = pa.table({c: pa.array(data[c], type=schema.field(c).type) for c in self.columns}, schema=schema)
        planes = {"lo": self.lo[:rows], "hi": self.hi[:rows]}
        if self.fail is not None:
            planes["fail"] = self.fail[:rows]
        return planes, table

    @property
    def full(self) -> bool:
        return self.rows >= self.block_size


def info_for_allele(value, number: str, allele: int):
    """The value an INFO field takes on the split row of ALT `allele` (1-based), as the variant table stores it.

    ``Number=A`` / ``Number=R`` tuples give the allele's own entry (None past the end), other tuples are
    joined with commas (``.`` for a missing entry), other non-scalar numbers become their text; scalars and
    strings are kept.
    """
    if value is None:
        return None
    if number == "A" and isinstance(value, tuple):
        return value[allele - 1] if allele - 1 < len(value) else None
    if number == "R" and isinstance(value, tuple):
        return value[allele] if allele < len(value) else None
    if isinstance(value, tuple):
        return ",".join("." if v is None else str(v) for v in value)
    if number not in SCALAR_NUMBERS and not isinstance(value, str):
        return str(value)
    return value
