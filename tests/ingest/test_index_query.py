"""The region lookup of :func:`gdbtools.ingest.readers.index.query_start` against its definition.

``query_start`` intersects the bins the index holds with the region's per-level bin ranges; the definition
lists every bin of the region (the SAM specification's ``reg2bins``, written out below from the spec) and
looks each up. Both must give the same first virtual offset on real indexes (TBI as shipped, CSI written by
``bcftools index -c``) over random regions, short ones and whole contigs.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from gdbtools.ingest.readers.index import Index, query_start, read_index

TBI = ["1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz",
       "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz",
       "hapmap2_snprelate_279/hapmap_geno_snprelate_hg18.vcf.gz",
       "lct_region_1kg_phase3_2504/LCT_1kg_phase3_2504.biallelic.vcf.gz"]


def _spec_reg2bins(beg: int, end: int, min_shift: int, depth: int) -> list[int]:
    """SAM spec 5.3 (CSI form): every bin overlapping the 0-based half-open [beg, end)."""
    s, t, out = min_shift + depth * 3, 0, []
    end = min(end, 1 << s) - 1
    for level in range(depth + 1):
        out.extend(range(t + (beg >> s), t + (end >> s) + 1))
        s -= 3
        t += 1 << (3 * level)
    return out


def _spec_query_start(index: Index, tid: int, beg: int, end: int) -> int | None:
    """The first offset read: min over the region's bins' chunks ending after min_off of max(start, min_off)."""
    bidx = index.bins[tid]
    if not bidx or beg >= end:
        return None
    rel_off = beg >> index.min_shift
    b, found = ((1 << (3 * index.n_lvls)) - 1) // 7 + rel_off, None
    while True:  # htslib's search for the bin whose loff bounds min_off (csi)
        if b in bidx:
            found = b
            break
        if b == 0:
            break
        parent = (b - 1) >> 3
        b = b - 1 if b > (parent << 3) + 1 else parent
    min_off = bidx[found][0] if found is not None else 0
    if index.kind == "tbi" and rel_off < len(index.lidx[tid]):
        min_off = max(min_off, int(index.lidx[tid][rel_off]))
    starts = [max(int(u), min_off) for b in _spec_reg2bins(beg, end, index.min_shift, index.n_lvls)
              if b in bidx for u, v in bidx[b][1] if int(v) > min_off]
    return min(starts) if starts else None


def _regions(index: Index, rng: np.random.Generator, n: int):
    """Random regions on every reference: within and around its bins' span, short to whole contig."""
    for tid, bidx in enumerate(index.bins):
        if not bidx:
            continue
        span = 1 << (index.min_shift + 3 * index.n_lvls)
        leaf = ((1 << (3 * index.n_lvls)) - 1) // 7
        leaves = [b - leaf for b in bidx if leaf <= b < leaf + (1 << (3 * index.n_lvls))]
        low = max(min(leaves) - 2, 0) << index.min_shift if leaves else 0
        top = (max(leaves) + 2) << index.min_shift if leaves else span
        yield tid, 0, 2**31 - 1  # a whole contig, as the partitioner asks
        yield tid, 0, span
        for _ in range(n):
            beg = int(rng.integers(low, top))
            length = int(10 ** rng.uniform(0, np.log10(top - low) + 0.5))
            yield tid, beg, beg + length


def _check(index: Index, seed: int, n: int) -> int:
    rng = np.random.default_rng(seed)
    checked = hits = 0
    for tid, beg, end in _regions(index, rng, n):
        want = _spec_query_start(index, tid, beg, end)
        assert query_start(index, tid, beg, end) == want, (tid, beg, end)
        checked += 1
        hits += want is not None
    assert hits > checked // 4  # the regions mostly hit indexed records
    return checked


@pytest.mark.parametrize("rel", TBI)
def test_query_start__tbi_matches_the_spec_lookup(rel, data_dir):
    index = read_index(str(data_dir / f"{rel}.tbi"))
    assert index.kind == "tbi"
    assert _check(index, seed=len(rel), n=100) >= 100


@pytest.mark.parametrize("rel", TBI[:2])
def test_query_start__csi_matches_the_spec_lookup(rel, data_dir, bcftools_bin, tmp_path):
    src = data_dir / rel
    vcf = tmp_path / src.name
    shutil.copy(src, vcf)
    subprocess.run([bcftools_bin, "index", "-c", str(vcf)], check=True)
    index = read_index(f"{vcf}.csi")
    assert index.kind == "csi" and index.min_shift == 14
    assert _check(index, seed=len(rel), n=30) >= 30 * len([b for b in index.bins if b])
