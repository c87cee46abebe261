"""Realistic synthetic cohorts with msprime: the demo, the fast tests and the benchmarks use them.

A cohort is a bgzipped, indexed VCF plus a sample metadata TSV:

- three populations (``afr``, ``eas``, ``nfe``) split from a common ancestor 2,000 generations ago, with
  migration; finite-sites HKY mutations (kappa 4: Ti/Tv about 2) so that multi-allelic sites occur;
- an autosome (``chr1``) and a chrX portion that straddles the end of PAR1 (GRCh38): XY samples are
  diploid in the PAR and haploid (``GT=0``) outside it; chrX is simulated with 20x the recombination rate so
  that its short stretch carries many independent genealogies, as a whole chrX would (sex check);
- metadata: ``sex`` (XX/XY), ``population``, ``region`` (of the country) and ``pipeline`` (two sequencing
  pipelines; the second one has more missing calls and a small batch effect on a few variants);
- about 1 % missing calls, varying by sample and variant, and a few samples with much worse call rates;
- optional FORMAT AD/DP/GQ, consistent with the calls, so that genotype filters (adj) have work to do.

The VCF text is written by a numba kernel (the slow part of writing with Python strings), compressed and
indexed with pysam (htslib). Everything is seeded: the same arguments give the same files.
"""

from __future__ import annotations

import concurrent.futures
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import msprime
import numba
import numpy as np
import pandas as pd

from .genome import BUILDS

__all__ = ["SimulatedCohort", "simulate_cohort"]

POPULATIONS = ("afr", "eas", "nfe")
REGIONS = ("Capital", "North", "South", "East", "West")
PIPELINES = ("dragen-3.10", "gatk-4.2")
AUTOSOME_START = 1_000_001
X_START = 2_700_001  # GRCh38 PAR1 ends at 2,781,479: the first ~81 kb of the chrX portion are PAR


@dataclass
class SimulatedCohort:
    """Paths and sizes of a simulated cohort."""

    vcf: Path
    metadata: Path
    n_samples: int
    n_records: int
    fields: tuple[str, ...]


def _demography(n_pops: int, ne: float) -> msprime.Demography:
    demo = msprime.Demography()
    for name in POPULATIONS[:n_pops]:
        demo.add_population(name=name, initial_size=ne)
    demo.add_population(name="anc", initial_size=ne)
    demo.add_population_split(time=2_000, derived=list(POPULATIONS[:n_pops]), ancestral="anc")
    for a in range(n_pops):
        for b in range(n_pops):
            if a != b:
                demo.set_migration_rate(a, b, 2e-4)  # F_ST about 0.1, like continental human groups
    return demo


@numba.njit(cache=True)
def _write_digits(buf, k, value):
    if value < 0:
        buf[k] = 46  # '.'
        return k + 1
    if value == 0:
        buf[k] = 48
        return k + 1
    m = 0
    v = value
    while v > 0:
        v //= 10
        m += 1
    for i in range(m - 1, -1, -1):
        buf[k + i] = 48 + value % 10
        value //= 10
    return k + m


@numba.njit(cache=True)
def _format_calls(buf, a0, a1, dp, ad, gq, with_format):
    """Write the sample columns of one record into `buf`; return the number of bytes written."""
    k = 0
    for s in range(a0.shape[0]):
        buf[k] = 9  # tab
        k += 1
        k = _write_digits(buf, k, a0[s])
        if a1[s] != -2:
            buf[k] = 47  # '/'
            k = _write_digits(buf, k + 1, a1[s])
        if with_format:
            buf[k] = 58  # ':'
            k += 1
            if ad[s, 0] < 0:
                buf[k] = 46
                k += 1
            else:
                for j in range(ad.shape[1]):
                    if j:
                        buf[k] = 44  # ','
                        k += 1
                    k = _write_digits(buf, k, ad[s, j])
            buf[k] = 58
            k = _write_digits(buf, k + 1, dp[s])
            buf[k] = 58
            k = _write_digits(buf, k + 1, gq[s])
    buf[k] = 10  # newline
    return k + 1


class _BgzfWriter:
    """Minimal BGZF writer: 64 KiB deflate blocks compressed on a thread pool (zlib releases the GIL).

    pysam's single-threaded compression at level 6 was three quarters of the simulation's time.
    """

    _HEADER = struct.Struct("<4BI2BH2BHH")
    _BLOCK = 65280

    def __init__(self, path, level: int = 3, threads: int = 4):
        self.handle = open(path, "wb")
        self.level = level
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
        self.pending: list = []
        self.buffer = bytearray()

    def _compress(self, data: bytes) -> bytes:
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        body = comp.compress(data) + comp.flush()
        header = self._HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 66, 67, 2, len(body) + 25)
        return header + body + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= self._BLOCK:
            chunk = bytes(self.buffer[: self._BLOCK])
            del self.buffer[: self._BLOCK]
            self.pending.append(self.pool.submit(self._compress, chunk))
            if len(self.pending) > 64:
                self._drain(32)

    def _drain(self, keep: int = 0) -> None:
        while len(self.pending) > keep:
            self.handle.write(self.pending.pop(0).result())

    def close(self) -> None:
        if self.buffer:
            self.pending.append(self.pool.submit(self._compress, bytes(self.buffer)))
            self.buffer = bytearray()
        self._drain()
        self.handle.write(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))
        self.handle.close()
        self.pool.shutdown()


def _simulate_ts(n_samples, n_pops, length, ne, seed, contig_seed, recombination=1e-8):
    per_pop = np.full(n_pops, n_samples // n_pops)
    per_pop[: n_samples - per_pop.sum()] += 1
    samples = {POPULATIONS[i]: int(per_pop[i]) for i in range(n_pops)}
    ts = msprime.sim_ancestry(samples=samples, demography=_demography(n_pops, ne), sequence_length=length,
                              recombination_rate=recombination, random_seed=seed + contig_seed)
    return msprime.sim_mutations(ts, rate=1.5e-8, model=msprime.HKY(kappa=4.0), random_seed=seed + 7 + contig_seed)


def simulate_cohort(out_dir: str | os.PathLike, n_samples: int = 2_000, length: int = 2_000_000,
                    x_length: int = 600_000, *, n_populations: int = 3, seed: int = 1, missing_rate: float = 0.01,
                    fields: tuple[str, ...] = ("GT", "AD", "DP", "GQ"), name: str = "cohort",
                    ne: float = 10_000, bcf: bool = False) -> SimulatedCohort:
    """Simulate a cohort and write ``<name>.vcf.gz`` (+ ``.tbi``) and ``<name>.samples.tsv`` in `out_dir`.

    Parameters
    ----------
    n_samples
        Diploid individuals (split evenly over the populations).
    length, x_length
        Simulated bp of the autosome (``chr1`` from 1,000,001) and of chrX (from 2,700,001; 0 for none).
    missing_rate
        Mean fraction of missing calls.
    fields
        ``("GT",)`` or ``("GT", "AD", "DP", "GQ")``.
    bcf
        Also write ``<name>.bcf`` (+ ``.csi``) with the same records.
    """
    import pysam

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with_format = tuple(fields) != ("GT",)
    n_pops = n_populations
    per_pop = np.full(n_pops, n_samples // n_pops)
    per_pop[: n_samples - per_pop.sum()] += 1
    population = np.repeat(np.array(POPULATIONS[:n_pops]), per_pop)
    sex = np.where(rng.random(n_samples) < 0.5, "XX", "XY")
    pipeline = np.where(rng.random(n_samples) < 0.65, PIPELINES[0], PIPELINES[1])
    region = rng.choice(REGIONS, size=n_samples, p=[0.3, 0.2, 0.2, 0.15, 0.15])
    ids = np.array([f"GDB{i + 1:06d}" for i in range(n_samples)])
    # per-sample missingness: mostly low, pipeline 2 higher, ~1 % of samples bad
    sample_miss = rng.gamma(2.0, missing_rate / 2.0, n_samples) * np.where(pipeline == PIPELINES[1], 1.6, 0.7)
    bad = rng.random(n_samples) < 0.01
    sample_miss[bad] += 0.08
    meta = pd.DataFrame({"sample_id": ids, "sex": sex, "population": population, "region": region,
                         "pipeline": pipeline})
    meta_path = out / f"{name}.samples.tsv"
    meta.to_csv(meta_path, sep="\t", index=False)

    build = BUILDS["GRCh38"]
    par_end = build.par_x[0][1]
    header = ["##fileformat=VCFv4.2", f"##source=gdbtools.simulate (msprime {msprime.__version__}, seed {seed})",
              "##reference=GRCh38", f"##contig=<ID=chr1,length={build.chr1_length}>",
              f"##contig=<ID=chrX,length={build.chrx_length}>",
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    if with_format:
        header += ['##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
                   '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
                   '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">']
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(ids))
    vcf_path = out / f"{name}.vcf.gz"
    fmt = ":".join(fields)
    n_records = 0
    buf = np.empty(n_samples * (40 if with_format else 6) + 16, dtype=np.uint8)
    xy = sex == "XY"
    handle = _BgzfWriter(vcf_path)
    try:
        handle.write(("\n".join(header) + "\n").encode())
        for contig, start, span, ne_c, cseed in (("chr1", AUTOSOME_START, length, ne, 0),
                                                ("chrX", X_START, x_length, ne * 0.75, 1000)):
            if span <= 0:
                continue
            # chrX: 20x the recombination rate, so that a short simulated stretch has the many independent
            # genealogies of a whole X (a sex check's F needs them; one 800 kb stretch is a handful of trees)
            ts = _simulate_ts(n_samples, n_pops, span, ne_c, seed, cseed, 2e-7 if contig == "chrX" else 1e-8)
            batch_rng = np.random.default_rng(seed + cseed + 99)
            for var in ts.variants():
                alleles = var.alleles
                if len(alleles) < 2 or any(a is None for a in alleles):
                    continue
                pos = start + int(var.site.position)
                g = var.genotypes.reshape(n_samples, 2).astype(np.int16)
                a0, a1 = g[:, 0].copy(), g[:, 1].copy()
                if contig == "chrX" and pos > par_end:
                    a1[xy] = -2  # haploid male calls outside PAR1
                # batch effect: on ~0.5 % of variants pipeline 2 calls some hom-ref samples het
                if batch_rng.random() < 0.005:
                    flip = (pipeline == PIPELINES[1]) & (a0 == 0) & (a1 == 0) & (batch_rng.random(n_samples) < 0.05)
                    a1[flip] = 1
                miss = rng.random(n_samples) < sample_miss * rng.gamma(4.0, 0.25)
                a0[miss] = -1
                a1[miss & (a1 != -2)] = -1
                dp = gq = np.zeros(n_samples, np.int32)
                ad = np.zeros((n_samples, 1), np.int32)
                if with_format:
                    n_all = len(alleles)
                    dp = rng.poisson(np.where(pipeline == PIPELINES[1], 22, 32)).astype(np.int64)
                    ploidy = np.where(a1 == -2, 1, 2)
                    # allelic depths: binomial splits of DP, allele by allele (a multinomial, 20x faster than
                    # Generator.multinomial with per-row probabilities)
                    ad = np.empty((n_samples, n_all), np.int32)
                    left = dp.copy()
                    rest = np.ones(n_samples)
                    for j in range(n_all):
                        share = 0.97 * ((a0 == j).astype(float) + (a1 == j)) / ploidy + 0.03 / n_all
                        if j == n_all - 1:
                            ad[:, j] = left
                            break
                        take = rng.binomial(left, np.clip(share / rest, 0.0, 1.0))
                        ad[:, j] = take
                        left -= take
                        rest -= share
                    dp = dp.astype(np.int32)
                    gq = np.minimum(99, (dp * 3 + rng.normal(0, 8, n_samples))).clip(0).astype(np.int32)
                    dp[miss], gq[miss], ad[miss] = -1, -1, -1
                used = _format_calls(buf, a0, a1, dp, ad, gq, with_format)
                line = f"{contig}\t{pos}\t.\t{alleles[0]}\t{','.join(alleles[1:])}\t.\tPASS\t.\t{fmt}".encode()
                handle.write(line)
                handle.write(buf[:used].tobytes())
                n_records += 1
    finally:
        handle.close()
    pysam.tabix_index(str(vcf_path), preset="vcf", force=True)
    if bcf:
        import pysam.bcftools

        bcf_path = out / f"{name}.bcf"
        pysam.bcftools.view("-Ob", "-o", str(bcf_path), str(vcf_path), catch_stdout=False)
        pysam.bcftools.index("-f", str(bcf_path))
    return SimulatedCohort(vcf_path, meta_path, n_samples, n_records, tuple(fields))
