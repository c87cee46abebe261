"""One task of the pass: a run of consecutive blocks -> its partials (host NumPy arrays).

Blocks come decoded on the host (reader threads, then ``to_device``) or by the backend on its device
(:func:`~.readahead.use_backend_decode`).  Per-variant results stay on the device until the task ends; per
block the host reads back only the group-0 totals that sample QC needs (the variant states), plus the sparse
row numbers of a block decoded on the device (its dense rows).

Per block, in named steps (:class:`TaskRun`):

1. :meth:`~TaskRun.variant_counts`: ``variant_group_counts`` (dense rows) and ``sparse_group_counts``
   (hybrid2 rows) for every sample group at once, raw and adj in one call (the ``fail`` plane); on chrX/chrY
   each group is split into its XX, XY and unknown-sex parts, then :func:`~.counts.derive_counts` applies
   ploidy: ``(V, G, 6)`` int32 per view;
2. :meth:`~TaskRun.hwe`: the HWE exact test on group 0's diploid counts of one view;
3. :meth:`~TaskRun.sample_sums`: per sample, the calls of each class (zone, allele type, state; the state,
   polymorphic / singleton / monomorphic in the selection, known from step 1: ``sample_class_counts``) and
   the weighted sums of missing calls for the inbreeding F (``missing_weight_sums``); a block's sparse rows
   add to both in one pass over their entries (``sparse_sample_sums``).

:meth:`~TaskRun.partials` returns ``{"index", "counts", "hwe", "has_adj", "timers", "samples"}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...backend import get_backend
from ...backend import sparse as sparse_ops
from ...genome import contig_kind
from ...store.bitplanes import n_words
from .. import ploidy as pl
from .._wsum import fixed_weights, missing_weight_sums
from .counts import HET, HOM, REF, STATE_MONO, derive_counts, genotype_totals, variant_states
from .device import device_masks
from .plan import Plan, Task
from .readahead import BackendBlockReader, BlockReader, open_store_cached, threads_here, use_backend_decode

__all__ = ["run_task", "TaskRun", "TIMERS"]

TIMERS = ("read_wait", "variant_counts", "hwe", "sample_counts", "f_sums", "sparse_samples", "other")


@dataclass
class BlockOnDevice:
    """One block's rows on the backend's device: dense planes, optional fail plane and sparse rows."""

    n_variants: int
    split: bool          # chrX/chrY: groups split by sex part
    lo: Any
    hi: Any
    fail: Any            # None when the store has no filters or no view needs adj
    sparse: Any          # SparseRows or None (dense2 block)
    dense_rows: Any      # (D,) int64 rows of the dense planes within the block (hybrid2), else None
    zone: np.ndarray     # (V,) uint8, host
    atype: np.ndarray    # (V,) uint8, host


def run_task(plan: Plan, task: Task, on_block: Callable[[int], None] | None = None) -> dict:
    """Process one run of blocks; returns its partials (host NumPy arrays).

    `on_block` is called with the number of variants of each block once it is done (progress).
    """
    run = TaskRun(plan)
    run.run(task, on_block)
    return run.partials()


class TaskRun:
    """The accumulators of one task and the steps applied to each of its blocks."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.readers, kernel_threads = threads_here(plan)
        name = plan.backend
        self.be = get_backend(name, n_threads=kernel_threads)  # n_threads: the host backend's CPU threads
        xp = self.xp = self.be.xp
        self.masks = device_masks(plan, self.be)
        self.ptable = pl.ploidy_table(plan.unknown_sex)
        n = plan.n_samples
        self.keep = {view: list(groups) for view, groups in plan.keep.items() if groups}
        self.variant_parts: dict[str, list] = {view: [] for view in self.keep}
        self.hwe_parts: list = []
        self.index_parts: list = []
        self.want_samples = plan.sample_view is not None
        self.class_counts = self.filtered = self.wmiss = None
        self.class_sizes = np.zeros(max(plan.n_classes, 1), dtype=np.int64)
        self.wtotal = 0
        self.has_adj = False
        if self.want_samples:
            # kind-major (C, 3, N): the sparse rows' entries and the dense flushes add to contiguous runs
            self.class_counts = xp.zeros((plan.n_classes, 3, n), dtype=np.int64)
            self.wmiss = xp.zeros(n_words(n) * 32, dtype=np.int64)
            if plan.count_filtered:
                self.filtered = xp.zeros((plan.n_classes, 3, n), dtype=np.int64)
        self.timers = dict.fromkeys(TIMERS, 0.0)

    # -- the loop -------------------------------------------------------------------------------------------
    def run(self, task: Task, on_block: Callable[[int], None] | None = None) -> None:
        """Read the task's blocks (ahead, in background threads) and apply the steps to each."""
        clock = time.perf_counter
        t_start = clock()
        store = open_store_cached(self.plan.store_path)
        reader = (BackendBlockReader(store, task.blocks, self.be, self.readers) if use_backend_decode(self.be)
                  else BlockReader(store, task.blocks, self.readers))
        blocks = iter(reader)
        done: Callable[[], None] | None = None
        row0 = 0
        while True:
            if done is not None:
                done()  # the previous block's work is issued: its buffers may be reused
            t0 = clock()
            item = next(blocks, None)
            self.timers["read_wait"] += clock() - t0
            if item is None:
                break
            spec, block, done = item
            nv = spec.stop - spec.start
            zone, atype = task.zone[row0:row0 + nv], task.atype[row0:row0 + nv]
            row0 += nv
            if nv:
                self.index_parts.append(np.arange(spec.offset, spec.offset + nv, dtype=np.int64))
                self.block(self.to_device(block, nv, contig_kind(spec.contig) in ("X", "Y"), zone, atype))
                if on_block is not None:
                    on_block(nv)
        self.timers["other"] = clock() - t_start - sum(self.timers.values())

    def to_device(self, block, nv: int, split: bool, zone: np.ndarray, atype: np.ndarray) -> BlockOnDevice:
        """The block's planes (dense rows as bit-planes, rare rows as sparse entries) on the device."""
        has_fail = block.dense_fail is not None
        self.has_adj = self.has_adj or has_fail
        dev = self.be.to_device
        fail = dev(block.dense_fail) if (has_fail and self.plan.needs_adj) else None
        sp = block.sparse
        if sp is not None and self.xp is not np:  # a device: its kernels read every entry's row (made here)
            sp = sp.to(dev)
        return BlockOnDevice(nv, split, dev(block.dense_lo), dev(block.dense_hi), fail, sp,
                             block.dense_rows if sp is not None else None, zone, atype)

    def block(self, b: BlockOnDevice) -> None:
        """All steps on one block."""
        views = self.variant_counts(b)
        for view, groups in self.keep.items():  # on the device until the task ends
            self.variant_parts[view].append(views[view][:, groups])
        if self.plan.hwe_view is not None:
            self.hwe(views[self.plan.hwe_view])
        if self.want_samples:
            tot = genotype_totals(self.be.to_host(views[self.plan.sample_view][:, 0]))
            state = variant_states(tot["AC"], tot["AN"])
            self.sample_sums(b, state, tot)

    # -- the steps ------------------------------------------------------------------------------------------
    def variant_counts(self, b: BlockOnDevice) -> dict:
        """``{"raw": (V, G, 6), "adj": (V, G, 6)}`` int32 genotype counts on the device (adj is raw without
        a fail plane)."""
        t0 = time.perf_counter()
        be, xp, masks = self.be, self.xp, self.masks
        kernel_masks = masks["split"] if b.split else masks["flat"]
        sizes = masks["size_split"] if b.split else masks["size_flat"]
        if b.sparse is None:
            raw_adj = be.variant_group_counts(b.lo, b.hi, kernel_masks, b.fail)
        else:
            raw_adj = be.sparse_group_counts(b.sparse, b.n_variants, masks["atoms_split" if b.split else "atoms_flat"],
                                             b.fail is not None)
            if b.dense_rows.size:
                raw_adj[self.be.to_device(b.dense_rows)] = be.variant_group_counts(b.lo, b.hi, kernel_masks, b.fail)
        zone = self.be.to_device(b.zone)
        views = {"raw": derive_counts(xp, raw_adj, sizes, zone, self.ptable, b.split, 0)}
        views["adj"] = (derive_counts(xp, raw_adj, sizes, zone, self.ptable, b.split, 3) if b.fail is not None
                        else views["raw"])
        self.timers["variant_counts"] += time.perf_counter() - t0
        return views

    def hwe(self, counts) -> None:
        """HWE exact p-values of group 0's diploid counts: ``(V, 4)`` float64 appended to the partials."""
        t0 = time.perf_counter()
        c = counts[:, 0]
        res = self.be.hwe_exact_unique(c[:, HET], c[:, REF], c[:, HOM])
        self.hwe_parts.append(self.xp.stack(list(res), axis=1))  # on the device until the task ends
        self.timers["hwe"] += time.perf_counter() - t0

    def _sample_fail(self, b: BlockOnDevice):
        sfail = b.fail if self.plan.sample_view == "adj" else None
        return sfail, (sparse_ops.VIEW_ADJ if sfail is not None else sparse_ops.VIEW_RAW)

    def sample_sums(self, b: BlockOnDevice, state: np.ndarray, tot: dict) -> None:
        """Per sample and class (zone, allele type, `state`): het, hom-alt, missing calls (also the calls
        failing the filters when the plan counts them); and for F, over the polymorphic variants of the F
        zones, the weight ``1 - 2pq`` in fixed point summed over all and (per sample) over its missing calls.
        Timers: dense class counts ``sample_counts``, dense weight sums ``f_sums``, sparse rows (both at
        once) ``sparse_samples``."""
        plan, be = self.plan, self.be
        if plan.class_layout is None:
            raise ValueError("a plan with a sample_view needs a class_layout")
        var_class = plan.class_layout[b.zone.astype(np.int64), b.atype.astype(np.int64), state]
        if (var_class < 0).any():
            raise AssertionError("a variant has no sample-QC class (layout built from other variants)")
        self.class_sizes += np.bincount(var_class, minlength=self.class_sizes.size)[: self.class_sizes.size]
        vc_all = var_class.astype(np.uint8)
        wfix = self._f_weights(b, state, tot)
        sfail, sview = self._sample_fail(b)
        count_fail = self.filtered is not None and b.fail is not None
        t0 = time.perf_counter()
        if b.lo.shape[0]:
            vc = self.be.to_device(vc_all if b.dense_rows is None else vc_all[b.dense_rows])
            be.sample_class_counts(b.lo, b.hi, vc, plan.n_classes, self.class_counts, sfail,
                                   n_samples=plan.n_samples, kind_major=True)
            if count_fail:
                be.sample_class_counts(b.fail, b.fail, vc, plan.n_classes, self.filtered, n_samples=plan.n_samples,
                                       kind_major=True)
        t1 = time.perf_counter()
        if wfix is not None and b.lo.shape[0]:
            missing_weight_sums(self.be, b.lo, b.hi, sfail, wfix if b.sparse is None else wfix[b.dense_rows],
                                self.wmiss)
        t2 = time.perf_counter()
        if b.sparse is not None:
            vc_sp = self.be.to_device(vc_all)
            weights = {} if wfix is None else {"wfix": self.be.to_device(wfix), "wmiss": self.wmiss}
            be.sparse_sample_sums(b.sparse, sview, var_class=vc_sp, out=self.class_counts, **weights)
            if count_fail:
                be.sparse_sample_sums(b.sparse, sparse_ops.VIEW_FAIL, var_class=vc_sp, out=self.filtered)
        t3 = time.perf_counter()
        self.timers["sample_counts"] += t1 - t0
        self.timers["f_sums"] += t2 - t1
        self.timers["sparse_samples"] += t3 - t2

    def _f_weights(self, b: BlockOnDevice, state: np.ndarray, tot: dict) -> np.ndarray | None:
        """The block's F weights ``(V,) int64`` (fixed point; 0 for rows outside the F zones, monomorphic or
        without a missing call among the selected samples), added to the total; ``None`` when no row has one."""
        f_rows = np.isin(b.zone, self.plan.f_zones) & (state != STATE_MONO)
        if not f_rows.any():
            return None
        ac, an = tot["AC"], tot["AN"]
        p = np.where(an > 0, ac / np.maximum(an, 1), 0.0)
        wfix = fixed_weights(np.where(f_rows, 1.0 - 2.0 * p * (1.0 - p), 0.0))
        self.wtotal += int(wfix.sum())
        wfix[tot["n_missing"] == 0] = 0  # rows without a missing call among the selected samples add nothing
        return wfix if wfix.any() else None

    # -- the result -----------------------------------------------------------------------------------------
    def partials(self) -> dict:
        """The task's partials: per-variant rows, timers, and the per-sample sums (``None`` if not asked)."""
        plan = self.plan
        host, xp = self.be.to_host, self.xp
        out: dict[str, Any] = {
            "index": np.concatenate(self.index_parts) if self.index_parts else np.zeros(0, np.int64),
            "counts": {view: (host(xp.concatenate(parts)) if parts else np.zeros((0, len(self.keep[view]), 6),
                                                                                  np.int32))
                       for view, parts in self.variant_parts.items()},
            "hwe": ((host(xp.concatenate(self.hwe_parts)) if self.hwe_parts else np.zeros((0, 4)))
                    if plan.hwe_view else None),
            "has_adj": self.has_adj,
            "timers": self.timers,
            "samples": None,
        }
        if self.want_samples:
            out["samples"] = {
                "class_counts": host(self.class_counts).transpose(2, 0, 1).copy(),  # (N, C, 3)
                "class_sizes": self.class_sizes[: plan.n_classes],
                "filtered": None if self.filtered is None else host(self.filtered)[:, 2].T.copy(),  # (N, C)
                "wmiss": self.be.to_host(self.wmiss)[: plan.n_samples], "wtotal": self.wtotal,
            }
        return out
