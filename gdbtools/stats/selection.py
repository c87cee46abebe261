"""A selection of a store: which samples, which variants (regions), and the groups statistics are split by.

:class:`Selection` is what every statistic takes.  The notebook API (:class:`gdbtools.cohort.Cohort`) builds
one from a sample query and regions; the statistics never parse queries themselves.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GdbError
from ..genome import Region, parse_region
from ..store import Store
from ..table import Table, arrow_numpy, column_objects, factorize
from . import ploidy as pl
from .engine.counts import allele_classes
from .engine.plan import BlockSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Selection", "Group", "build_groups", "sanitize_label", "store_variant_table",
           "POPULATION_COLUMNS"]

POPULATION_COLUMNS = ("population", "pop", "gen_anc", "genetic_ancestry", "ancestry", "super_population",
                      "Population", "superpopulation")
_VARIANT_COLUMNS = ["contig", "pos", "ref", "alt", "allele_type", "is_transition"]
_NUMERIC_COLUMNS = ("pos", "is_transition")
_VARIANT_CACHE: weakref.WeakKeyDictionary[Store, Table] = weakref.WeakKeyDictionary()


def store_variant_table(store: Store) -> Table:
    """The store's variant table (contig, pos, ref, alt, allele_type, is_transition; index ``variant_index``)
    as a :class:`~gdbtools.table.Table` (text as Arrow, no pandas), read once per store."""
    table = _VARIANT_CACHE.get(store)
    if table is None:
        arrow, index = store.variant_arrow(_VARIANT_COLUMNS, dictionary=("contig", "allele_type"))
        columns = {name: arrow_numpy(arrow.column(name)) if name in _NUMERIC_COLUMNS else arrow.column(name)
                   for name in _VARIANT_COLUMNS}
        table = Table(columns, index, "variant_index")
        _VARIANT_CACHE[store] = table
    return table


@dataclass(frozen=True)
class Group:
    """A sample group: its column-name ``label`` suffix, its metadata values, and its members.

    Attributes
    ----------
    label : str
        ``""`` for the whole selection, else e.g. ``"nfe"`` or ``"nfe_XX"``.
    meta : dict
        Column -> value (``{"population": "nfe", "sex": "XX"}``); empty for the whole selection.
    mask : (N,) bool
        Members among all samples of the store.
    """

    label: str
    meta: dict
    mask: np.ndarray = field(repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.mask.sum())


_BAD = re.compile(r"[^0-9A-Za-z_.]")


def sanitize_label(value) -> str:
    """A metadata value as part of a column name (VCF INFO keys allow ``[0-9A-Za-z_.]``)."""
    text = _BAD.sub("_", str(value))
    return text if text else "_"


def build_groups(samples: pa.Table | pd.DataFrame, selected: np.ndarray, by) -> list[Group]:
    """The whole selection, then one group per value (combination) of each stratum of `by`.

    Parameters
    ----------
    samples : pyarrow.Table or DataFrame
        All samples of the store (``store.sample_arrow`` or ``store.samples``).
    selected : (N,) bool
    by : sequence of str or tuple of str
        Each string is a stratum of one column, each tuple a stratum of a combination of columns; when `by`
        has two or more strings (and no tuples), their full combination is added as a last stratum
        (``["sex", "population"]`` gives sex, population and sex x population, gnomAD's strata).

    Returns
    -------
    list of Group
        Group 0 is the whole selection (label ``""``).  Samples with a null value in a stratum's column are
        in no group of that stratum.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    strata = [tuple(e) if isinstance(e, (tuple, list)) else (e,) for e in by]
    strata = [s for s in strata if s]
    if len(by) >= 2 and all(isinstance(e, str) for e in by):
        strata.append(tuple(by))
    groups = [Group("", {}, np.asarray(selected, dtype=bool).copy())]
    seen = {"": "the whole selection"}
    reserved = {"raw", "adj", "grpmax"}
    names = _column_names(samples)
    for stratum in strata:
        for col in stratum:
            if col not in names:
                raise GdbError(f"no sample column {col!r} to group by",
                               fix=f"use one of: {', '.join(map(str, names))}")
        values = [column_objects(samples, c).tolist() for c in stratum]
        defined = np.asarray(selected, dtype=bool).copy()
        for vals in values:
            defined &= np.fromiter((v is not None and v == v for v in vals), dtype=bool, count=len(vals))
        if not defined.any():
            continue
        rows = np.flatnonzero(defined)
        keys = list(zip(*([str(vals[i]) for i in rows] for vals in values)))  # str() as pandas' astype(str)
        uniq = sorted(set(keys))
        code = {key: i for i, key in enumerate(uniq)}
        codes = np.fromiter((code[k] for k in keys), dtype=np.int64, count=len(keys))
        for i, key in enumerate(uniq):
            label = "_".join(sanitize_label(v) for v in key)
            if label in reserved:
                raise GdbError(f"group label {label!r} (from {dict(zip(stratum, key))}) clashes with a reserved "
                               "column suffix", fix="rename that metadata value")
            if label in seen:
                raise GdbError(f"two sample groups share the column label {label!r}: {seen[label]} and "
                               f"{dict(zip(stratum, key))}",
                               fix="give the groups values that differ in letters or digits, or group by fewer "
                                   "columns")
            seen[label] = str(dict(zip(stratum, key)))
            member = np.zeros(len(defined), dtype=bool)
            member[rows[codes == i]] = True
            groups.append(Group(label, dict(zip(stratum, key)), member))
    return groups


def _column_names(samples) -> list[str]:
    return list(samples.column_names) if hasattr(samples, "column_names") else list(samples.columns)


class Selection:
    """Samples and variants of a store that a statistic runs on.

    Parameters
    ----------
    store : Store
    samples : (N,) bool, optional
        Selected samples (default all).
    regions : sequence of str or Region, optional
        Selected regions (default the whole store); variants in any of them are selected.
    """

    def __init__(self, store: Store, samples: np.ndarray | None = None, regions=None):
        self.store = store
        n = store.n_samples
        self.samples = np.ones(n, dtype=bool) if samples is None else np.asarray(samples, dtype=bool)
        if self.samples.shape != (n,):
            raise ValueError(f"sample mask must have shape ({n},), got {self.samples.shape}")
        self.regions = None if regions is None else tuple(parse_region(r) for r in regions)
        self._table: Table | None = None
        self._frame: pd.DataFrame | None = None
        self._zones: np.ndarray | None = None
        self._atypes: np.ndarray | None = None

    # -- variants ------------------------------------------------------------------------------------------
    @property
    def variant_index(self) -> np.ndarray:
        """Global indices of the selected variants, ascending: ``(V,) int64``."""
        return self.variant_table.index

    @property
    def n_variants(self) -> int:
        return len(self.variant_table)

    @property
    def variant_table(self) -> Table:
        """The selected rows of the variant table (contig, pos, ref, alt, allele_type, is_transition; index
        ``variant_index``) as a :class:`~gdbtools.table.Table`: what the statistics read (no pandas)."""
        if self._table is None:
            table = store_variant_table(self.store)
            if self.regions is not None:
                keep = np.zeros(len(table), dtype=bool)
                codes, names = factorize(table["contig"])
                pos = table["pos"]
                for reg in self.regions:
                    if reg.contig in names:
                        keep |= (codes == names.index(reg.contig)) & reg.contains(pos)
                table = table.take(keep)
            self._table = table
        return self._table

    @property
    def variants(self) -> pd.DataFrame:
        """The selected rows of the variant table as a DataFrame (:attr:`variant_table`)."""
        if self._frame is None:
            self._frame = self.variant_table.to_pandas()
        return self._frame

    def with_variants(self, keep: np.ndarray) -> Selection:
        """The same samples and only the selected variants where `keep` (``(V,) bool``) is true."""
        sub = Selection(self.store, self.samples, self.regions)
        sub._table = self.variant_table.take(np.asarray(keep, dtype=bool))
        return sub

    def block_specs(self) -> list[BlockSpec]:
        """Runs of selected rows per block, in variant order."""
        index = self.variant_index
        if index.size == 0:
            return []
        block = self.store.block_of_variant(index)
        meta = self.store.blocks_meta
        breaks = np.flatnonzero((np.diff(index) != 1) | (np.diff(block) != 0)) + 1
        starts = np.r_[0, breaks]
        stops = np.r_[breaks, index.size]
        specs = []
        for a, b in zip(starts, stops):
            bi = int(block[a])
            off = meta[bi]["variant_offset"]
            specs.append(BlockSpec(bi, int(index[a] - off), int(index[b - 1] - off + 1), int(index[a]),
                                   meta[bi]["contig"]))
        return specs

    def zones(self) -> np.ndarray:
        """Ploidy zone of each selected variant (:mod:`gdbtools.stats.ploidy`): ``(V,) uint8`` (cached)."""
        if self._zones is None:
            v = self.variant_table
            self._zones = pl.variant_zones(v["contig"], v["pos"], self.store.build)
        return self._zones

    def allele_types(self) -> np.ndarray:
        """Allele type of each selected variant (:func:`gdbtools.stats.engine.allele_classes`), cached."""
        if self._atypes is None:
            v = self.variant_table
            self._atypes = allele_classes(v["allele_type"], v["is_transition"])
        return self._atypes

    @property
    def has_adj(self) -> bool:
        """Whether the store has genotype filters (a ``fail`` plane): otherwise adj equals raw."""
        return any("fail" in b.get("planes", ()) for b in self.store.blocks_meta)

    @property
    def sex(self) -> np.ndarray:
        """Sex part of every sample of the store: 0 XX, 1 XY, 2 unknown."""
        return pl.sex_part(self.store.sample_arrow.column("sex"))

    def __repr__(self) -> str:
        regions = "all" if self.regions is None else ", ".join(map(str, self.regions))
        return f"<Selection {int(self.samples.sum())} of {self.store.n_samples} samples; regions: {regions}>"


def intersect_regions(old: tuple[Region, ...] | None, new) -> tuple[Region, ...] | None:
    """Regions selected by both (each of `new` intersected with each of `old`)."""
    new = None if new is None else tuple(parse_region(r) for r in ([new] if isinstance(new, (str, Region)) else new))
    if old is None:
        return new
    if new is None:
        return old
    out = []
    for a in old:
        for b in new:
            if a.contig != b.contig:
                continue
            start = max(a.start, b.start)
            ends = [e for e in (a.end, b.end) if e is not None]
            end = min(ends) if ends else None
            if end is None or end >= start:
                out.append(Region(a.contig, start, end))
    return tuple(out)
