"""A selection of a store: which samples, which variants (regions), and the groups statistics are split by.

:class:`Selection` is what every statistic takes.  The notebook API (:class:`gdbtools.cohort.Cohort`) builds
one from a sample query and regions; the statistics never parse queries themselves.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import GdbError
from ..genome import Region, parse_region
from ..store import Store
from . import ploidy as pl
from .engine.counts import allele_classes
from .engine.plan import BlockSpec

__all__ = ["Selection", "Group", "build_groups", "sanitize_label", "store_variants", "POPULATION_COLUMNS"]

POPULATION_COLUMNS = ("population", "pop", "gen_anc", "genetic_ancestry", "ancestry", "super_population",
                      "Population", "superpopulation")
_VARIANT_COLUMNS = ["contig", "pos", "ref", "alt", "allele_type", "is_transition"]
_VARIANT_CACHE: weakref.WeakKeyDictionary[Store, pd.DataFrame] = weakref.WeakKeyDictionary()


def store_variants(store: Store) -> pd.DataFrame:
    """The store's variant table (contig, pos, ref, alt, allele_type, is_transition), read once per store."""
    table = _VARIANT_CACHE.get(store)
    if table is None:
        table = store.variants(_VARIANT_COLUMNS)
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


def build_groups(samples: pd.DataFrame, selected: np.ndarray, by) -> list[Group]:
    """The whole selection, then one group per value (combination) of each stratum of `by`.

    Parameters
    ----------
    samples : DataFrame
        All samples of the store (``store.samples``).
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
    for stratum in strata:
        for col in stratum:
            if col not in samples.columns:
                raise GdbError(f"no sample column {col!r} to group by",
                               fix=f"use one of: {', '.join(map(str, samples.columns))}")
        frame = samples.loc[:, list(stratum)]
        defined = frame.notna().all(axis=1).to_numpy() & selected
        if not defined.any():
            continue
        rows = np.flatnonzero(defined)
        keys = list(zip(*(frame[c].iloc[rows].astype(str).tolist() for c in stratum)))  # as the frame's astype(str)
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
            member = np.zeros(len(samples), dtype=bool)
            member[rows[codes == i]] = True
            groups.append(Group(label, dict(zip(stratum, key)), member))
    return groups


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
        self._variants: pd.DataFrame | None = None
        self._zones: np.ndarray | None = None
        self._atypes: np.ndarray | None = None

    # -- variants ------------------------------------------------------------------------------------------
    @property
    def variant_index(self) -> np.ndarray:
        """Global indices of the selected variants, ascending: ``(V,) int64``."""
        return self.variants.index.to_numpy(dtype=np.int64)

    @property
    def variants(self) -> pd.DataFrame:
        """The selected rows of the variant table (contig, pos, ref, alt, allele_type, is_transition)."""
        if self._variants is None:
            table = store_variants(self.store)
            if self.regions is not None:
                keep = np.zeros(len(table), dtype=bool)
                contig = table["contig"].to_numpy(dtype=object)
                pos = table["pos"].to_numpy()
                for reg in self.regions:
                    keep |= (contig == reg.contig) & reg.contains(pos)
                table = table[keep]
            self._variants = table
        return self._variants

    def with_variants(self, keep: np.ndarray) -> Selection:
        """The same samples and only the selected variants where `keep` (``(V,) bool``) is true."""
        sub = Selection(self.store, self.samples, self.regions)
        sub._variants = self.variants[np.asarray(keep, dtype=bool)]
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
            v = self.variants
            self._zones = pl.variant_zones(v["contig"].array, v["pos"].to_numpy(),
                                           self.store.build)
        return self._zones

    def allele_types(self) -> np.ndarray:
        """Allele type of each selected variant (:func:`gdbtools.stats.engine.allele_classes`), cached."""
        if self._atypes is None:
            v = self.variants
            self._atypes = allele_classes(v["allele_type"].array,
                                          v["is_transition"].to_numpy(dtype=bool))
        return self._atypes

    @property
    def has_adj(self) -> bool:
        """Whether the store has genotype filters (a ``fail`` plane): otherwise adj equals raw."""
        return any("fail" in b.get("planes", ()) for b in self.store.blocks_meta)

    @property
    def sex(self) -> np.ndarray:
        """Sex part of every sample of the store: 0 XX, 1 XY, 2 unknown."""
        return pl.sex_part(self.store.samples["sex"])

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
