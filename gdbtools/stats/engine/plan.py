"""What a pass computes and what it returns: :class:`Plan`, :class:`BlockSpec`, :class:`Task`, :class:`PassResult`.

Small, picklable records sent to every Dask task (the plan, the task's blocks) and the reduced result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...store.bitplanes import n_words, sample_mask
from .counts import F_ZONES

__all__ = ["Plan", "BlockSpec", "Task", "PassResult"]


@dataclass
class Plan:
    """What one pass computes; sent to every task (small and picklable).

    Attributes
    ----------
    store_path : str
    backend : str
        A resolved backend name (``numpy``, ``host`` or ``cupy``).
    n_samples : int
    groups : (G, N) bool
        Sample groups; group 0 is the whole selection.
    keep : dict
        ``{"raw": [group indices], "adj": [...]}``: the groups whose per-variant counts are returned per view.
    unknown_sex : str
        :data:`gdbtools.stats.ploidy.UNKNOWN_SEX_POLICIES`.
    sex : (N,) int8
        Sex part of each sample (0 XX, 1 XY, 2 unknown).
    hwe_view : str or None
        Run the HWE test on group 0's diploid counts of this view.
    sample_view : str or None
        Per-sample class counts (and F sums) of this view.
    f_zones : tuple of int
        Zones whose polymorphic variants enter the F sums.
    class_layout : (7, 6, 3) int16
        Class id of each (zone, allele type, state); -1 where the combination does not occur.
    n_classes : int
    count_filtered : bool
        Also count, per sample and class, the calls that fail the genotype filters.
    n_threads, readers : int, optional
        Kernel threads (host backend) and block-decoding threads per task; default :func:`thread_split` of
        the CPUs (of the Dask worker's share).
    """

    store_path: str
    backend: str
    n_samples: int
    groups: np.ndarray
    keep: dict
    unknown_sex: str = "exclude"
    sex: np.ndarray | None = None
    hwe_view: str | None = None
    sample_view: str | None = None
    f_zones: tuple = F_ZONES
    class_layout: np.ndarray | None = None
    n_classes: int = 0
    count_filtered: bool = False
    n_threads: int | None = None
    readers: int | None = None
    _packed: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        groups = np.asarray(self.groups, dtype=bool)
        self.groups = groups
        if self.sex is None:
            self.sex = np.full(self.n_samples, 2, np.int8)
        words = n_words(self.n_samples)
        parts = np.stack([self.sex == k for k in range(3)])  # (3, N)
        split = (groups[:, None, :] & parts[None, :, :]).reshape(3 * groups.shape[0], self.n_samples)  # g*3 + k
        self._packed = {
            "flat": sample_mask(groups, words), "split": sample_mask(split, words),
            "size_flat": groups.sum(axis=1).astype(np.int64)[:, None],  # (G, 1)
            "size_split": split.sum(axis=1).astype(np.int64).reshape(-1, 3),  # (G, 3)
        }

    @property
    def n_groups(self) -> int:
        return self.groups.shape[0]

    @property
    def needs_adj(self) -> bool:
        return bool(self.keep.get("adj")) or self.hwe_view == "adj" or self.sample_view == "adj"


@dataclass
class BlockSpec:
    """Rows ``start:stop`` of block ``index``; ``offset`` is the global index of row ``start``."""

    index: int
    start: int
    stop: int
    offset: int
    contig: str


@dataclass
class Task:
    blocks: list
    zone: np.ndarray
    atype: np.ndarray


@dataclass
class PassResult:
    """The reduced partials of a pass (all NumPy, on the host).

    Attributes
    ----------
    variant_index : (V,) int64
    counts : dict
        ``view -> (V, len(keep[view]), 6) int32`` genotype counts (:data:`COUNT_FIELDS`).
    hwe : (V, 4) float64 or None
        p, p_midp, p_het_excess, p_het_excess_midp of group 0's diploid calls.
    class_counts : (N, C, 3) int64 or None
        Per sample and class: het, hom-alt, missing calls (raw codes, before ploidy).
    class_sizes : (C,) int64 or None
        Variants per class.
    filtered : (N, C) int64 or None
        Calls failing the genotype filters per sample and class.
    wmiss : (N,) int64 or None
        Fixed-point weights of the F variants summed over each sample's missing calls.
    wtotal : int
        Fixed-point weights of the F variants summed.
    has_adj : bool
        Whether the store has genotype filters (else adj = raw).
    timers : dict
        Seconds per phase summed over the tasks (host wall clock; GPU kernels are asynchronous):
        read_wait (waiting for decoded blocks), variant_counts, hwe, sample_counts and f_sums (dense rows),
        sparse_samples (the per-sample sums of the sparse rows), other.
    """

    variant_index: np.ndarray
    counts: dict
    hwe: np.ndarray | None
    class_counts: np.ndarray | None
    class_sizes: np.ndarray | None
    filtered: np.ndarray | None
    wmiss: np.ndarray | None
    wtotal: int
    has_adj: bool
    backend: str = ""
    timers: dict = field(default_factory=dict)
