"""A synthetic cohort store written straight from random genotypes: large cohorts in seconds, no msprime.

:mod:`gdbtools.simulate` makes realistic VCFs (coalescent genealogies) for the tests and the demo, but a
60,000-sample cohort takes it, and the ingest, far longer than a device check may run.  This module draws the
genotypes directly and writes them through the store writer (:class:`~gdbtools.store.StoreWriter`), so the
store has the same layout, encoding (``hybrid2`` by default) and tables as an ingested one:

- an allele-frequency spectrum like a large sequenced cohort's: alternate-allele counts ``k`` from a power
  law ``P(k) ~ k**-1.5`` (about 30 % singletons, 3 % of variants with frequency above 1 %), alleles placed
  on random haplotypes (Hardy-Weinberg proportions), in time proportional to the alternate alleles;
- missing calls: about 1 % per sample on average, a few samples much worse; failing calls (the ``fail``
  plane of the genotype filters, adj) on about 0.5 % of the called genotypes;
- ``chr1`` and a stretch of ``chrX`` across the end of PAR1 (GRCh38; a fifth of its variants in the PAR),
  where XY samples have haploid calls (hom-ref or hom-alt) outside the PAR; samples with ``sex``,
  ``population`` and ``pipeline`` columns;
- SNVs with a Ti/Tv near 2 and a few short indels.

Everything is seeded: the same arguments give the same store.

>>> from gdbtools.simulate_store import write_synthetic_store          # doctest: +SKIP
>>> store = write_synthetic_store("/tmp/syn", n_samples=60_000, n_variants=200_000)  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .store import Store, StoreWriter
from .store.bitplanes import n_words
from .store.writer import PartitionWriter

__all__ = ["VARIANT_SCHEMA", "write_synthetic_store", "synthetic_block"]

# The variant table's columns (as gdbtools.ingest.partition.variant_schema without INFO fields; the tests
# check that the two agree).  Not imported from the ingest, which needs htslib (cyvcf2) at import.
VARIANT_SCHEMA = pa.schema([("contig", pa.string()), ("pos", pa.int64()), ("id", pa.string()), ("ref", pa.string()),
                            ("alt", pa.string()), ("qual", pa.float32()), ("filter", pa.string()),
                            ("allele_index", pa.int16()), ("n_alleles", pa.int16()), ("allele_type", pa.string()),
                            ("is_transition", pa.bool_()), ("partition", pa.int32()), ("block", pa.int32()),
                            ("row", pa.int32())])

POPULATIONS = ("afr", "eas", "nfe")
PIPELINES = ("dragen-3.10", "gatk-4.2")
CHR1_START = 1_000_001
PAR1_END = 2_781_479  # GRCh38
_SPACING = 7  # bp between variant positions
_SFS_ALPHA = 1.5  # P(k alternate alleles) ~ k**-alpha
_FAIL_RATE = 0.005  # failing calls among the called genotypes
_SNV = (("A", "G", True), ("C", "T", True), ("G", "A", True), ("T", "C", True),
        ("A", "C", False), ("A", "T", False), ("C", "G", False), ("G", "T", False))
_TYPE_P = (0.15,) * 4 + (0.075,) * 4 + (0.05, 0.05)  # Ti/Tv 2; 10 % indels


def _sample_table(n_samples: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "sample_id": [f"S{i:06d}" for i in range(n_samples)],
        "sample_index": np.arange(n_samples, dtype=np.int32),
        "sex": pd.array(np.where(rng.random(n_samples) < 0.5, "XX", "XY"), dtype="string"),
        "population": rng.choice(POPULATIONS, size=n_samples, p=[0.25, 0.25, 0.5]),
        "pipeline": rng.choice(PIPELINES, size=n_samples, p=[0.7, 0.3]),
    })


def _distinct(a: np.ndarray, counts: bool = False):
    """The sorted distinct values of `a` (and how often each occurs): ``np.unique`` by a sort, which is
    several times faster than its hash path for these large integer keys."""
    a = np.sort(a)
    first = np.flatnonzero(np.r_[True, a[1:] != a[:-1]]) if a.size else np.zeros(0, np.int64)
    if not counts:
        return a[first]
    return a[first], np.diff(np.r_[first, a.size])


def _set_bits(n_rows: int, words: int, row: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """A ``(n_rows, words) uint32`` plane with the bits ``(row, sample)`` set (pairs distinct)."""
    flat = row.astype(np.int64) * (words * 32) + sample
    weights = np.left_shift(1, (flat & 31)).astype(np.float64)  # distinct bits of a word add like an OR
    plane = np.bincount(flat >> 5, weights=weights, minlength=n_rows * words)
    return plane.astype(np.uint32).reshape(n_rows, words)


def synthetic_block(rng: np.random.Generator, n_variants: int, n_samples: int, haploid: np.ndarray | None,
                    miss_rate: np.ndarray, fail_rate: float) -> dict[str, np.ndarray]:
    """The planes ``lo, hi, fail`` ``(V, W) uint32`` of `n_variants` random variants.

    Parameters
    ----------
    haploid : (N,) bool or None
        Samples with haploid calls here (XY outside the PAR): one allele, coded hom-ref or hom-alt.
    miss_rate : (N,) float64
        Each sample's share of missing calls (their sum over samples is the expected missing calls per row).
    fail_rate : float
        Share of the called genotypes that fail the genotype filters.
    """
    words = n_words(n_samples)
    two_n = 2 * n_samples
    # alternate allele counts from the power law, by inverse transform of the continuous Pareto
    k = np.floor((1.0 - rng.random(n_variants)) ** (-1.0 / (_SFS_ALPHA - 1.0))).astype(np.int64)
    k = np.clip(k, 1, two_n - 1)
    row = np.repeat(np.arange(n_variants, dtype=np.int64), k)
    slot = rng.integers(0, two_n, size=row.size)
    if haploid is not None:  # a haploid sample's second allele copies its first
        hap = haploid[slot >> 1]
        slot[hap] &= ~np.int64(1)
    key = _distinct(row * two_n + slot)  # distinct (row, haplotype)
    row, sample = key // two_n, (key % two_n) >> 1
    pair, n_alt = _distinct(row * n_samples + sample, counts=True)
    prow, psample = pair // n_samples, pair % n_samples
    if haploid is not None:
        n_alt = np.where(haploid[psample], 2, n_alt)
    het = n_alt == 1
    lo = _set_bits(n_variants, words, prow[het], psample[het])
    hi = _set_bits(n_variants, words, prow[~het], psample[~het])
    # missing calls: per row a Poisson number of samples, drawn in proportion to the samples' rates
    n_miss = rng.poisson(miss_rate.sum(), size=n_variants)
    mrow = np.repeat(np.arange(n_variants, dtype=np.int64), n_miss)
    cum = np.cumsum(miss_rate)
    msample = np.minimum(np.searchsorted(cum, rng.random(mrow.size) * cum[-1]), n_samples - 1)
    mkey = _distinct(mrow * n_samples + msample)
    missing = _set_bits(n_variants, words, mkey // n_samples, mkey % n_samples)
    lo |= missing
    hi |= missing
    n_fail = rng.binomial(n_samples, fail_rate, size=n_variants)
    frow = np.repeat(np.arange(n_variants, dtype=np.int64), n_fail)
    fkey = _distinct(frow * n_samples + rng.integers(0, n_samples, size=frow.size))
    fail = _set_bits(n_variants, words, fkey // n_samples, fkey % n_samples) & ~missing
    return {"lo": lo, "hi": hi, "fail": fail}


def _variant_rows(rng: np.random.Generator, contig: str, pos: np.ndarray, partition: int, block: int) -> pa.Table:
    n = pos.size
    snv = rng.choice(len(_SNV) + 2, size=n, p=_TYPE_P)  # the two codes past the SNVs: an insertion, a deletion
    ref, alt, ti, atype = [], [], [], []
    for code in snv.tolist():
        if code < len(_SNV):
            r, a, t = _SNV[code]
            ref.append(r)
            alt.append(a)
            ti.append(t)
            atype.append("SNP")
        else:
            ins = code == len(_SNV)
            ref.append("A" if ins else "AT")
            alt.append("AT" if ins else "A")
            ti.append(False)
            atype.append("Insertion" if ins else "Deletion")
    data = {"contig": [contig] * n, "pos": pos, "id": [None] * n, "ref": ref, "alt": alt,
            "qual": np.full(n, 50.0, np.float32), "filter": ["PASS"] * n, "allele_index": np.ones(n, np.int16),
            "n_alleles": np.full(n, 2, np.int16), "allele_type": atype, "is_transition": ti,
            "partition": np.full(n, partition, np.int32), "block": np.full(n, block, np.int32),
            "row": np.arange(n, dtype=np.int32)}
    return pa.table({c: pa.array(data[c], type=VARIANT_SCHEMA.field(c).type) for c in VARIANT_SCHEMA.names},
                    schema=VARIANT_SCHEMA)


def _write_partition(path: str, index: int, contig: str, pos: np.ndarray, block_size: int, n_samples: int,
                     xy: np.ndarray, miss_rate: np.ndarray, encoding: str | None, seed: int) -> int:
    """Write partition `index` (the variants at `pos` of `contig`); seeded by (seed, index) alone."""
    rng = np.random.default_rng([seed, index])
    part = PartitionWriter(path, index, n_samples, encoding=encoding)
    for b0 in range(0, pos.size, block_size):
        bpos = pos[b0:b0 + block_size]
        if contig == "chrX":  # PAR rows diploid for everyone, the rest haploid for XY samples
            par = bpos <= PAR1_END
            parts = [synthetic_block(rng, int(m.sum()), n_samples, None if is_par else xy, miss_rate, _FAIL_RATE)
                     for m, is_par in ((par, True), (~par, False))]
            planes = {name: np.concatenate([p[name] for p in parts]) for name in ("lo", "hi", "fail")}
        else:
            planes = synthetic_block(rng, bpos.size, n_samples, None, miss_rate, _FAIL_RATE)
        table = _variant_rows(rng, contig, bpos, index, part.next_block)
        part.write_block(planes, table, {"rows": b0 + bpos.size}, int(bpos[0]), int(bpos[-1]), contig)
    part.finish(VARIANT_SCHEMA, {"n_records": int(pos.size), "n_rows": int(pos.size)})
    return int(pos.size)


def write_synthetic_store(path: str | os.PathLike, n_samples: int = 60_000, n_variants: int = 200_000, *,
                          x_fraction: float = 0.1, block_size: int | None = None, blocks_per_partition: int = 4,
                          seed: int = 1, encoding: str | None = None, workers: int | None = None,
                          overwrite: bool = False) -> Store:
    """Write a synthetic store of `n_samples` x `n_variants` (a `x_fraction` of them on chrX) and open it.

    Parameters
    ----------
    path : the store directory (must not exist, unless `overwrite`)
    block_size : variants per block (default as the ingest: 4096 up to 16k samples, 2048 up to 64k, else 1024)
    blocks_per_partition : blocks per partition; partitions are written in parallel
    encoding : ``"hybrid2"`` (default) or ``"dense2"``
    workers : processes writing partitions (default: the CPUs available; 1 writes in this process)

    The store is the same for any `workers`: each partition draws from its own seeded generator.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    samples = _sample_table(n_samples, rng)
    if block_size is None:
        block_size = 4096 if n_samples <= 16_384 else 2048 if n_samples <= 65_536 else 1024
    n_x = int(round(n_variants * x_fraction))
    per_part = block_size * max(1, blocks_per_partition)
    parts = []  # (contig, positions)
    x_start = PAR1_END + 1 - _SPACING * (n_x // 5)  # a fifth of the chrX variants in PAR1, the rest past it
    for contig, start, n in (("chr1", CHR1_START, n_variants - n_x), ("chrX", x_start, n_x)):
        pos = start + _SPACING * np.arange(n, dtype=np.int64)
        parts += [(contig, pos[i:i + per_part]) for i in range(0, n, per_part)]
    plan = {"params": {"synthetic": True, "n_samples": n_samples, "n_variants": n_variants, "seed": seed,
                       "x_fraction": x_fraction, "block_size": block_size, "encoding": encoding,
                       "build": "GRCh38"},
            "partitions": [{"contig": c, "start": int(p[0]), "end": int(p[-1])} for c, p in parts]}
    writer = StoreWriter(path, plan, samples, overwrite=overwrite)
    miss_rate = rng.gamma(2.0, 0.005, size=n_samples)  # mean 1 %
    miss_rate[rng.random(n_samples) < 0.005] = 0.08  # a few poor samples
    xy = samples["sex"].to_numpy(dtype=object) == "XY"
    args = [(str(path), i, c, p, block_size, n_samples, xy, miss_rate, encoding, seed)
            for i, (c, p) in enumerate(parts)]
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            workers = os.cpu_count() or 1
    workers = max(1, min(workers, len(args)))
    if workers == 1:
        for a in args:
            _write_partition(*a)
    else:
        # spawn, not fork: the caller may hold a CUDA context, which a forked child must not inherit
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            for done in pool.map(_write_partition, *zip(*args)):
                assert done > 0
    writer.finalize({"build": "GRCh38", "sources": [], "metadata": {"synthetic": True}, "contigs_declared": 2},
                    {"chr1": 248_956_422, "chrX": 156_040_895})
    return Store(path)
