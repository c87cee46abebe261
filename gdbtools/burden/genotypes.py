"""The genotypes of a gene as a dosage matrix G on the backend's device, built from the store's blocks.

For each gene (:class:`gdbtools.burden.sets.VariantSet`), :func:`gene_matrices` builds ``G`` ``(n, m)``
float64: the alt-allele count (0, 1, 2; a haploid alt call counts 2) of the analysed samples (rows, in the
order given) at the gene's variants (columns, in ``variant_index`` order).  The dense rows of a block go through
the backend's ``dosages`` kernel, the sparse rows of a ``hybrid2`` block through ``sparse_dosages``, both with
missing calls (and, with ``adj=True``, calls failing the genotype filters) written as NaN; then per variant,
among the analysed samples' called genotypes: ``ac`` = sum of dosages, ``af = ac / (2 n_called)``,
``maf = min(af, 1 - af)``, ``mac = min(ac, 2 n_called - ac)``, ``n_carriers`` = samples with an alt allele,
``n_missing``; finally missing entries are mean-imputed with ``2 af`` (0 where no call exists, af NaN).

Blocks are read once for all genes: genes are visited in the order of their first variant, and a small cache
keeps the blocks that later genes may still need (overlapping genes share them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend.sparse import VIEW_ADJ, VIEW_RAW
from .sets import VariantSet

__all__ = ["GeneMatrix", "gene_matrices", "variant_stats"]


@dataclass
class GeneMatrix:
    """A gene's dosage matrix and its per-variant counts among the analysed samples.

    Attributes
    ----------
    G : (n, m) float64 on the backend's device
        Mean-imputed alt-allele dosages; rows = analysed samples, columns = the gene's variants.
    af, maf : (m,) float64, host
        Alt-allele frequency among the called genotypes, and ``min(af, 1 - af)``; NaN without calls.
    mac : (m,) int64, host
        Minor allele count ``min(ac, 2 n_called - ac)``.
    n_carriers_per_variant : (m,) int64, host
        Called samples with at least one alt allele.
    n_missing : (m,) int64, host
        Missing calls (with ``adj``: or failing the genotype filters).
    """

    G: Any
    af: np.ndarray
    maf: np.ndarray
    mac: np.ndarray
    n_carriers_per_variant: np.ndarray
    n_missing: np.ndarray

    @property
    def ac(self) -> np.ndarray:
        """Alt-allele count among the called genotypes, ``(m,) int64``."""
        n_called = self.G.shape[0] - self.n_missing
        return np.rint(np.nan_to_num(self.af) * 2 * n_called).astype(np.int64)


class _BlockCache:
    """Decoded blocks (and their device copies) by index, at most `size`; counts the reads."""

    def __init__(self, store, backend, size: int):
        self.store, self.backend, self.size = store, backend, size
        self.blocks: OrderedDict[int, tuple] = OrderedDict()
        self.reads = 0

    def get(self, index: int):
        hit = self.blocks.get(index)
        if hit is not None:
            self.blocks.move_to_end(index)
            return hit
        block = self.store.read_block(index)
        self.reads += 1
        dev = self.backend.to_device
        dense = (dev(block.dense_lo), dev(block.dense_hi), None if block.dense_fail is None else dev(block.dense_fail))
        sparse = None if block.sparse is None else block.sparse.to(dev)
        hit = (block, dense, sparse, block.dense_rows)
        self.blocks[index] = hit
        while len(self.blocks) > self.size:
            self.blocks.popitem(last=False)
        return hit

    def drop_before(self, index: int) -> None:
        for k in [k for k in self.blocks if k < index]:
            del self.blocks[k]


def variant_stats(G, backend):
    """Per-variant counts of a NaN-marked dosage matrix ``(n, m)`` (xp), then G mean-imputed in place.

    Returns ``af, maf, mac, n_carriers, n_missing`` as host arrays (see :class:`GeneMatrix`).
    """
    xp = backend.xp
    miss = xp.isnan(G)
    n_missing = miss.sum(axis=0)
    n_called = G.shape[0] - n_missing
    ac = xp.where(miss, 0.0, G).sum(axis=0)  # integers: exact in float64
    n_carriers = (G > 0).sum(axis=0)  # NaN > 0 is False
    with np.errstate(invalid="ignore", divide="ignore"):
        af = ac / (2.0 * n_called)
    fill = xp.where(n_called > 0, 2.0 * af, 0.0)
    G[...] = xp.where(miss, fill[None, :], G)
    af, ac, n_called = (backend.to_host(a) for a in (af, ac, n_called))
    af = np.where(n_called > 0, af, np.nan)
    ac = ac.astype(np.int64)
    mac = np.minimum(ac, 2 * n_called.astype(np.int64) - ac)
    return (af, np.minimum(af, 1.0 - af), mac, backend.to_host(n_carriers).astype(np.int64),
            backend.to_host(n_missing).astype(np.int64))


def gene_matrices(store, sets: list[VariantSet], sample_index, backend, *, adj: bool = False, progress: bool = True,
                  cache_blocks: int = 8, counters: dict | None = None) -> Iterator[tuple[VariantSet, GeneMatrix]]:
    """Yield ``(set, GeneMatrix)`` for each set with variants, in the order of their first variant.

    Parameters
    ----------
    store : Store
    sets : list of VariantSet
    sample_index : (n,) int
        Store sample indices of the analysed samples: the rows of G, in this order.
    backend : Backend
    adj : bool
        Calls failing the genotype filters count as missing (the store's ``fail`` plane; no effect without one).
    progress : bool
        A progress bar over the genes.
    cache_blocks : int
        Decoded blocks kept for later genes (each read once as long as no gene spans more).
    counters : dict, optional
        Filled with ``block_reads`` (blocks decoded) and ``genes`` (matrices built) as the genes go by.
    """
    from ..progress import Progress

    xp = backend.xp
    samples = np.ascontiguousarray(sample_index, dtype=np.int32)
    samples_dev = backend.to_device(samples)
    n = samples.shape[0]
    todo = sorted((s for s in sets if s.n_variants), key=lambda s: (int(s.variant_index[0]), s.name))
    cache = _BlockCache(store, backend, max(1, int(cache_blocks)))
    counters = {} if counters is None else counters
    counters.update(block_reads=0, genes=0)
    with Progress("burden genotypes", len(todo), enabled=progress, unit="genes") as bar:
        for vset in todo:
            vi = np.asarray(vset.variant_index, dtype=np.int64)
            blocks = store.block_of_variant(vi)
            cache.drop_before(int(blocks[0]))
            G = xp.empty((n, vi.shape[0]), dtype=np.float64)
            for b in np.unique(blocks):
                cols = np.flatnonzero(blocks == b)
                _fill_block(cache.get(int(b)), vi[cols], cols, samples_dev, G, backend, adj)
            counters.update(block_reads=cache.reads, genes=counters["genes"] + 1)
            yield vset, GeneMatrix(G, *variant_stats(G, backend))
            bar.update(1)


def _fill_block(hit, vi, cols, samples_dev, G, backend, adj: bool) -> None:
    """Write G's columns `cols` (the variants `vi` of this block), missing calls as NaN."""
    block, (lo, hi, fail), sparse, dense_rows = hit
    xp = backend.xp
    rows = vi - block.variant_offset
    if sparse is None:
        is_sparse = np.zeros(rows.shape[0], dtype=bool)
    else:
        is_sparse = np.isin(rows, block.sparse.rows)
    n = G.shape[0]
    if (~is_sparse).any():
        d_rows = np.searchsorted(dense_rows, rows[~is_sparse]).astype(np.int32)
        out = xp.empty((n, d_rows.shape[0]), dtype=np.float64)
        backend.dosages(lo, hi, backend.to_device(d_rows), samples_dev,
                        xp.full(d_rows.shape[0], np.nan), out, fail if adj else None)
        G[:, backend.to_device(cols[~is_sparse])] = out
    if is_sparse.any():
        s_rows = rows[is_sparse].astype(np.int32)
        out = xp.empty((n, s_rows.shape[0]), dtype=np.float64)
        backend.sparse_dosages(sparse, backend.to_device(s_rows), samples_dev, xp.full(s_rows.shape[0], np.nan),
                               out, VIEW_ADJ if adj else VIEW_RAW)
        G[:, backend.to_device(cols[is_sparse])] = out
