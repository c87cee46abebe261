"""The fused pass: genotype blocks -> backend kernels -> small partials -> one reduction.

One pass over the selected blocks computes everything a request asks for.  Per block:

1. read and decode the block (a background thread reads ahead), move its planes to the backend's device;
2. ``variant_group_counts`` for every sample group at once, raw and adj in one call (the ``fail`` plane);
   on chrX/chrY each group is split into its XX, XY and unknown-sex parts so that ploidy can be applied;
3. turn the counts into per-variant genotype counts by ploidy zone (:mod:`gdbtools.stats.ploidy`):
   ``(V, G, 6)`` int32 = hom-ref, het, hom-alt (diploid), haploid ref, haploid alt, missing;
4. optionally the HWE exact test on the diploid counts of the whole selection;
5. optionally ``sample_class_counts`` with one class per (zone, allele type, state), the state being
   polymorphic / singleton / monomorphic in the selection (known from step 3 of the same block), and the
   per-sample weighted sums of missing calls for the inbreeding F.

Partials are small: per-variant rows (G x 6 integers) and per-sample vectors ``(N, C, 3)``.  Without a Dask
client the blocks are processed in this process; with one (``distributed.get_client()`` succeeds), tasks
are runs of consecutive blocks, each returning its partials, and the per-sample partials are summed in a
tree on the workers.  Memory is bounded by the block size (plus the read-ahead) and the partials.

Integer results are identical on every backend (the kernels are exact, the weighted sums fixed point).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import get_backend
from ..backend import sparse as sparse_ops
from ..errors import GdbError
from ..genome import contig_kind
from ..runtime import current_client
from ..store import Store
from ..store.bitplanes import n_words, sample_mask
from . import ploidy as pl
from ._wsum import fixed_weights, missing_weight_sums

__all__ = ["REF", "HET", "HOM", "HAP_REF", "HAP_ALT", "MISSING", "COUNT_FIELDS", "ATYPE_NAMES", "allele_classes",
           "Plan", "PassResult", "run_pass", "resolve_backend", "current_client", "derive_counts",
           "genotype_totals", "thread_split", "F_ZONES", "STATE_POLY", "STATE_SINGLETON", "STATE_MONO"]

# per-variant genotype counts, last axis of the (V, G, 6) arrays
REF, HET, HOM, HAP_REF, HAP_ALT, MISSING = range(6)
COUNT_FIELDS = ("n_hom_ref", "n_het", "n_hom_alt", "n_hap_ref", "n_hap_alt", "n_missing")

# allele types of the sample QC classes
TI, TV, INS, DEL, STAR, OTHER_TYPE = range(6)
ATYPE_NAMES = ("transition", "transversion", "insertion", "deletion", "star", "other")
STATE_POLY, STATE_SINGLETON, STATE_MONO = range(3)

# zones of the inbreeding F of sample QC: the diploid-for-everyone ones, as plink2 --het (autosomes and PARs)
F_ZONES = (pl.AUTO, pl.X_PAR)
READ_AHEAD = 1  # blocks decoded ahead of the compute, per reader thread
TASK_VARIANTS = 65_536  # variants per Dask task (whole blocks)


def allele_classes(allele_type, is_transition) -> np.ndarray:
    """Hail's allele classes as the six types of sample QC: ``(V,) uint8`` (TI, TV, INS, DEL, STAR, OTHER)."""
    atype = np.asarray(allele_type, dtype=object)
    ti = np.asarray(is_transition, dtype=bool)
    out = np.full(atype.shape[0], OTHER_TYPE, dtype=np.uint8)
    snp = atype == "SNP"
    out[snp & ti] = TI
    out[snp & ~ti] = TV
    out[atype == "Insertion"] = INS
    out[atype == "Deletion"] = DEL
    out[atype == "Star"] = STAR
    return out


# ------------------------------------------------------------------------------------------------ the request
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
        split = (groups[:, None, :] & parts[None, :, :]).reshape(-1, self.n_samples)  # g*3 + k
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
        read_wait (waiting for decoded blocks), variant_counts, hwe, sample_counts, f_sums, other.
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


# ------------------------------------------------------------------------------------------------ backend, client
def _resolve_here(name: str) -> str:
    return get_backend(name).name


def resolve_backend(name: str = "auto", client=None) -> str:
    """The backend name a pass uses: ``"auto"`` resolved once (on a worker when a client is given)."""
    if name not in ("auto", "numpy", "host", "cupy"):
        raise GdbError(f"unknown backend {name!r}", fix="use auto, numpy, host or cupy")
    if client is not None:
        return client.submit(_resolve_here, name, pure=False).result()
    return _resolve_here(name)


@functools.lru_cache(maxsize=8)
def _open_store(path: str, mtime: float) -> Store:
    return Store(path)


def open_store_cached(path: str) -> Store:
    return _open_store(path, os.stat(os.path.join(path, "manifest.json")).st_mtime)


# ------------------------------------------------------------------------------------------------ per block
def derive_counts(xp, counts, sizes, zone, ploidy, split: bool, offset: int):
    """Genotype counts by ploidy from kernel counts.

    Parameters
    ----------
    counts : (V, M, 3 or 6) int32
        ``variant_group_counts`` output; M = G, or 3 G with groups split by sex part (``g*3 + k``).
    sizes : (G, 1) or (G, 3) int64
        Samples per mask.
    zone : (V,) uint8
    ploidy : (7, 3) uint8
        :func:`gdbtools.stats.ploidy.ploidy_table`.
    split : bool
    offset : int
        0 for the raw counts, 3 for the adj counts.

    Returns
    -------
    (V, G, 6) int32
        :data:`COUNT_FIELDS`.
    """
    v = counts.shape[0]
    het = counts[..., offset].astype(np.int64)
    hom = counts[..., offset + 1].astype(np.int64)
    mis = counts[..., offset + 2].astype(np.int64)
    n_parts = 3 if split else 1
    het, hom, mis = (a.reshape(v, -1, n_parts) for a in (het, hom, mis))
    size = xp.asarray(sizes)[None, :, :]
    mode = xp.asarray(ploidy)[zone.astype(np.int64)][:, None, :n_parts]  # (V, 1, parts)
    dip = mode == pl.DIPLOID
    hap = mode == pl.HAPLOID
    ref = size - het - hom - mis
    zero = xp.zeros((), dtype=np.int64)
    out = xp.stack([
        xp.where(dip, ref, zero).sum(axis=2),
        xp.where(dip, het, zero).sum(axis=2),
        xp.where(dip, hom, zero).sum(axis=2),
        xp.where(hap, ref, zero).sum(axis=2),
        xp.where(hap, hom, zero).sum(axis=2),
        (xp.where(dip, mis, zero) + xp.where(hap, mis + het, zero)).sum(axis=2),
    ], axis=-1)
    return out.astype(np.int32)


def genotype_totals(c: np.ndarray) -> dict[str, np.ndarray]:
    """AC, AN, NS, nhomalt ... from ``(..., 6)`` genotype counts (int64 arrays of the leading shape)."""
    c = c.astype(np.int64)
    ref, het, hom, hr, ha, mis = (c[..., i] for i in range(6))
    return {"AC": het + 2 * hom + ha, "AN": 2 * (ref + het + hom) + hr + ha, "NS": ref + het + hom + hr + ha,
            "nhomalt": hom + ha, "AC_Het": het, "AC_Hom": 2 * hom, "AC_Hemi": ha, "n_missing": mis,
            "n_hom_ref": ref + hr, "n_het": het, "n_hom_var": hom + ha}


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


class _BufferPool:
    """Recycled plane buffers: decoding into memory that was used before avoids the page faults of fresh
    allocations (measured 17 % of the decode time)."""

    def __init__(self):
        self._free: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def get(self, shape: tuple) -> np.ndarray:
        with self._lock:
            free = self._free.get(shape)
            if free:
                return free.pop()
        return np.empty(shape, dtype=np.uint32)

    def put(self, buf: np.ndarray | None) -> None:
        if buf is not None:
            with self._lock:
                self._free.setdefault(buf.shape, []).append(buf)


def _decode_block(store: Store, index: int, pool: _BufferPool):
    """``Store.read_block(index)`` decoding into a pooled buffer; returns the block and its buffer."""
    taken = []

    def alloc(shape):
        taken.append(pool.get(shape))
        return taken[0]

    block = store.read_block(index, alloc=alloc)
    return block, taken[0]


class _Reader:
    """Reads and decodes blocks ahead of the compute in `threads` background threads (bounded look-ahead:
    at most ``threads * (READ_AHEAD + 1)`` decoded blocks wait), yielding ``(spec, block, buffer)`` in order;
    the caller gives each buffer back to :attr:`pool` when done with its block."""

    def __init__(self, store: Store, specs: list, threads: int = 1):
        self.store, self.specs, self.threads = store, specs, max(0, int(threads))
        self.pool = _BufferPool()

    def _read(self, spec: BlockSpec):
        block, buf = _decode_block(self.store, spec.index, self.pool)
        if spec.start != 0 or spec.stop != block.n_variants:
            block = block.slice(spec.start, spec.stop)
        return spec, block, buf

    def __iter__(self):
        if len(self.specs) <= 1 or self.threads == 0:
            for spec in self.specs:
                yield self._read(spec)
            return
        depth = self.threads * (READ_AHEAD + 1)
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gdb-read") as pool:
            pending = deque()
            it = iter(self.specs)
            for spec in it:
                pending.append(pool.submit(self._read, spec))
                if len(pending) >= depth:
                    break
            while pending:
                fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(self._read, nxt))
                yield fut.result()


def thread_split(cpus: int | None = None) -> tuple[int, int]:
    """``(reader threads, kernel threads)`` for `cpus` CPUs: decoding (zstd) and the kernels take about the
    same time per block on a CPU, and the kernels gain little from a second thread (memory bound), so about
    a third of the CPUs decode and the rest compute; 2 CPUs: one each."""
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
    readers = max(1, cpus // 3)
    return readers, max(1, cpus - readers)


_DEVICE_CACHE = threading.local()


def _device_masks(plan: Plan, xp):
    """The packed masks and sizes of a plan on the backend's device (cached per thread and plan)."""
    key = (id(plan), id(xp))
    cache = getattr(_DEVICE_CACHE, "entries", None)
    if cache is None or cache[0] != key:
        packed = {k: (xp.asarray(v) if k in ("flat", "split") else v) for k, v in plan._packed.items()}
        for k in ("flat", "split"):  # the masks as atoms, for sparse rows
            atoms = sparse_ops.mask_atoms(plan._packed[k], plan.n_samples)
            packed[f"atoms_{k}"] = atoms if xp is np else atoms.to(xp.asarray)
        _DEVICE_CACHE.entries = (key, packed, plan)  # keep `plan` alive so its id is not reused
        cache = _DEVICE_CACHE.entries
    return cache[1]


def _threads_here(plan: Plan) -> tuple[int, int]:
    """Reader and kernel threads for a task: the plan's, else split this machine's CPUs (a Dask worker's
    share of them: CPUs / worker threads)."""
    cpus = None
    try:
        from distributed import get_worker

        worker = get_worker()
        cpus = max(1, len(os.sched_getaffinity(0)) // max(1, worker.state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    readers, kernel = thread_split(cpus)
    return (plan.readers if plan.readers is not None else readers,
            plan.n_threads if plan.n_threads is not None else kernel)


def run_task(plan: Plan, task: Task) -> dict:
    """Process one run of blocks; returns its partials (host NumPy arrays)."""
    store = open_store_cached(plan.store_path)
    readers, kernel_threads = _threads_here(plan)
    be = get_backend(plan.backend, n_threads=kernel_threads) if plan.backend == "host" else get_backend(plan.backend)
    xp = be.xp
    masks = _device_masks(plan, xp)
    ptable = pl.ploidy_table(plan.unknown_sex)
    n = plan.n_samples
    keep = {view: list(groups) for view, groups in plan.keep.items() if groups}
    variant_parts = {view: [] for view in keep}
    hwe_parts, index_parts = [], []
    want_samples = plan.sample_view is not None
    class_counts = filtered = wmiss = None
    class_sizes = np.zeros(max(plan.n_classes, 1), dtype=np.int64)
    wtotal = 0
    has_adj = False
    words = n_words(n)
    if want_samples:
        class_counts = xp.zeros((n, plan.n_classes, 3), dtype=np.int64)
        wmiss = xp.zeros(words * 32, dtype=np.int64)
        if plan.count_filtered:
            filtered = xp.zeros((n, plan.n_classes, 3), dtype=np.int64)
    sparse_acc = {}  # kind-major (C, 3, N) sums of the sparse rows, made on first use (see Backend)

    def acc(name):
        if name not in sparse_acc:
            sparse_acc[name] = xp.zeros((plan.n_classes, 3, n), dtype=np.int64)
        return sparse_acc[name]

    layout = plan.class_layout
    row0 = 0
    clock = time.perf_counter
    t_start = clock()
    timers = dict.fromkeys(("read_wait", "variant_counts", "hwe", "sample_counts", "f_sums", "other"), 0.0)
    reader = _Reader(store, task.blocks, readers)
    blocks = iter(reader)
    buf = None
    while True:
        reader.pool.put(buf)  # the previous block's planes are no longer referenced
        t0 = clock()
        item = next(blocks, None)
        t1 = clock()
        timers["read_wait"] += t1 - t0
        if item is None:
            break
        spec, block, buf = item
        nv = spec.stop - spec.start
        zone_h = task.zone[row0:row0 + nv]
        atype_h = task.atype[row0:row0 + nv]
        row0 += nv
        if nv == 0:
            continue
        kind = contig_kind(spec.contig)
        split = kind in ("X", "Y")
        # dense rows as bit-planes (all rows of a dense2 block), rare rows as sparse entries (hybrid2)
        lo, hi = xp.asarray(block.dense_lo), xp.asarray(block.dense_hi)
        fail = xp.asarray(block.dense_fail) if (block.dense_fail is not None and plan.needs_adj) else None
        has_adj = has_adj or block.dense_fail is not None
        sp = block.sparse
        if sp is not None and xp is not np:
            sp = sp.to(xp.asarray)
        dense_rows = block.dense_rows if sp is not None else None
        kernel_masks = masks["split"] if split else masks["flat"]
        sizes = masks["size_split"] if split else masks["size_flat"]
        if sp is None:
            raw_adj = be.variant_group_counts(lo, hi, kernel_masks, fail)
        else:
            raw_adj = be.sparse_group_counts(sp, nv, masks["atoms_split" if split else "atoms_flat"],
                                             fail is not None)
            if dense_rows.size:
                raw_adj[xp.asarray(dense_rows)] = be.variant_group_counts(lo, hi, kernel_masks, fail)
        t2 = clock()
        timers["variant_counts"] += t2 - t1
        zone = xp.asarray(zone_h)
        views = {"raw": derive_counts(xp, raw_adj, sizes, zone, ptable, split, 0)}
        views["adj"] = derive_counts(xp, raw_adj, sizes, zone, ptable, split, 3) if fail is not None else views["raw"]
        index_parts.append(np.arange(spec.offset, spec.offset + nv, dtype=np.int64))
        for view, groups in keep.items():
            variant_parts[view].append(_host(views[view][:, groups]))
        if plan.hwe_view is not None:
            t3 = clock()
            c = views[plan.hwe_view][:, 0]
            res = be.hwe_exact_unique(c[:, HET], c[:, REF], c[:, HOM])
            hwe_parts.append(np.stack([_host(r) for r in res], axis=1))
            timers["hwe"] += clock() - t3
        if want_samples:
            tot = genotype_totals(_host(views[plan.sample_view][:, 0]))
            ac, an = tot["AC"], tot["AN"]
            state = np.where((ac == 0) | (ac == an), STATE_MONO, np.where(ac == 1, STATE_SINGLETON, STATE_POLY))
            var_class = layout[zone_h.astype(np.int64), atype_h.astype(np.int64), state]
            if (var_class < 0).any():
                raise AssertionError("a variant has no sample-QC class (layout built from other variants)")
            class_sizes += np.bincount(var_class, minlength=class_sizes.size)[: class_sizes.size]
            vc_all = var_class.astype(np.uint8)
            vc = xp.asarray(vc_all if dense_rows is None else vc_all[dense_rows])
            sfail = fail if plan.sample_view == "adj" else None
            sview = sparse_ops.VIEW_ADJ if sfail is not None else sparse_ops.VIEW_RAW
            t4 = clock()
            if lo.shape[0]:
                be.sample_class_counts(lo, hi, vc, plan.n_classes, class_counts, sfail, n_samples=n)
                if filtered is not None and fail is not None:
                    be.sample_class_counts(fail, fail, vc, plan.n_classes, filtered, n_samples=n)
            if sp is not None:
                vc_sp = xp.asarray(vc_all)
                be.sparse_sample_class_counts(sp, vc_sp, plan.n_classes, acc("class_counts"), sview)
                if filtered is not None and fail is not None:
                    be.sparse_sample_class_counts(sp, vc_sp, plan.n_classes, acc("filtered"), sparse_ops.VIEW_FAIL)
            timers["sample_counts"] += clock() - t4
            # F: polymorphic variants of the F zones, weight 1 - 2pq
            f_rows = np.isin(zone_h, plan.f_zones) & (state != STATE_MONO)
            if f_rows.any():
                p = np.where(an > 0, ac / np.maximum(an, 1), 0.0)
                w = np.where(f_rows, 1.0 - 2.0 * p * (1.0 - p), 0.0)
                wfix = fixed_weights(w)
                wtotal += int(wfix.sum())
                t5 = clock()
                # rows without a missing call among the selected samples add nothing that is read back
                wfix[tot["n_missing"] == 0] = 0
                if sp is None:
                    missing_weight_sums(be, lo, hi, sfail, wfix, wmiss)
                else:
                    if lo.shape[0]:
                        missing_weight_sums(be, lo, hi, sfail, wfix[dense_rows], wmiss)
                    be.sparse_missing_weight_sums(sp, xp.asarray(wfix), wmiss, sview)
                timers["f_sums"] += clock() - t5
    for name, total in sparse_acc.items():
        target = class_counts if name == "class_counts" else filtered
        target += total.transpose(2, 0, 1)
    out: dict[str, Any] = {
        "index": np.concatenate(index_parts) if index_parts else np.zeros(0, np.int64),
        "counts": {view: (np.concatenate(parts) if parts else np.zeros((0, len(keep[view]), 6), np.int32))
                   for view, parts in variant_parts.items()},
        "hwe": (np.concatenate(hwe_parts) if hwe_parts else np.zeros((0, 4))) if plan.hwe_view else None,
        "has_adj": has_adj,
    }
    total = clock() - t_start
    timers["other"] = total - sum(timers.values())
    out["timers"] = timers
    out["samples"] = None
    if want_samples:
        out["samples"] = {
            "class_counts": _host(class_counts), "class_sizes": class_sizes[: plan.n_classes],
            "filtered": None if filtered is None else _host(filtered)[:, :, 2],
            "wmiss": _host(wmiss)[:n], "wtotal": wtotal,
        }
    return out


def _merge_samples(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    out = {}
    for key in a:
        if key == "filtered" and (a[key] is None or b[key] is None):
            out[key] = a[key] if b[key] is None else b[key]
        elif key == "wtotal":
            out[key] = a[key] + b[key]
        else:
            out[key] = a[key] + b[key]
    return out


def _samples_of(part: dict):
    return part["samples"]


def _strip_samples(part: dict) -> dict:
    return {k: v for k, v in part.items() if k != "samples"}


# ------------------------------------------------------------------------------------------------ the pass
def _tasks(specs: list[BlockSpec], zone: np.ndarray, atype: np.ndarray, per_task: int) -> list[Task]:
    tasks, cur, start, count = [], [], 0, 0
    row = 0
    for spec in specs:
        nv = spec.stop - spec.start
        if cur and count + nv > per_task:
            tasks.append(Task(cur, zone[start:row], atype[start:row]))
            cur, start, count = [], row, 0
        cur.append(spec)
        count += nv
        row += nv
    if cur:
        tasks.append(Task(cur, zone[start:row], atype[start:row]))
    return tasks


def run_pass(plan: Plan, specs: list[BlockSpec], zone: np.ndarray, atype: np.ndarray, *, client=None,
             task_variants: int | None = None) -> PassResult:
    """Run `plan` over the blocks `specs` (rows aligned with `zone`/`atype`), locally or on `client`.

    Parameters
    ----------
    specs : list of BlockSpec
    zone, atype : (V,) uint8
        Zone and allele type of every selected row, in the order of `specs`.
    client : distributed.Client or None
        Run as Dask tasks on it (tasks of about `task_variants` variants, default :data:`TASK_VARIANTS`);
        ``None``: in this process.
    """
    if client is None:
        parts = [run_task(plan, Task(specs, zone, atype))]
        samples = parts[0]["samples"]
        variant_parts = parts
    else:
        tasks = _tasks(specs, zone, atype, task_variants or TASK_VARIANTS)
        scattered = client.scatter(plan, broadcast=True, hash=False)
        futures = client.map(run_task, [scattered] * len(tasks), tasks, pure=False)
        sample_futs = [client.submit(_samples_of, f, pure=False) for f in futures]
        while len(sample_futs) > 1:  # tree reduction of the per-sample partials on the workers
            nxt = [client.submit(_merge_samples, sample_futs[i], sample_futs[i + 1], pure=False)
                   for i in range(0, len(sample_futs) - 1, 2)]
            if len(sample_futs) % 2:
                nxt.append(sample_futs[-1])
            sample_futs = nxt
        stripped = [client.submit(_strip_samples, f, pure=False) for f in futures]
        variant_parts = client.gather(stripped)
        samples = sample_futs[0].result() if sample_futs else None
        del futures
    counts = {}
    for view in plan.keep:
        if not plan.keep[view]:
            continue
        arrays = [p["counts"][view] for p in variant_parts]
        counts[view] = np.concatenate(arrays) if arrays else np.zeros((0, len(plan.keep[view]), 6), np.int32)
    hwe = None
    if plan.hwe_view is not None:
        hwe = np.concatenate([p["hwe"] for p in variant_parts]) if variant_parts else np.zeros((0, 4))
    index = np.concatenate([p["index"] for p in variant_parts]) if variant_parts else np.zeros(0, np.int64)
    has_adj = any(p["has_adj"] for p in variant_parts)
    timers = {}
    for p in variant_parts:
        for key, value in p["timers"].items():
            timers[key] = timers.get(key, 0.0) + value
    if samples is None:
        return PassResult(index, counts, hwe, None, None, None, None, 0, has_adj, plan.backend, timers)
    return PassResult(index, counts, hwe, samples["class_counts"], samples["class_sizes"], samples["filtered"],
                      samples["wmiss"], int(samples["wtotal"]), has_adj, plan.backend, timers)
