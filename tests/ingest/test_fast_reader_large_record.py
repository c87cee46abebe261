"""Issue 9: a record larger than a reader buffer grows the buffer; no reader loop is without a bound.

A BCF read by region used to loop forever when its one record in the region (an ALT field of 1,709
characters: 328 alleles) needed more site-text room than the cap ``stop - p + 64`` of the fast reader.
The file here is written by bcftools (``view -Ob`` + ``index``); the oracle is cyvcf2 (htslib).
"""

from __future__ import annotations

import itertools
import subprocess

import cyvcf2
import numpy as np
import pytest

from gdbtools.ingest import ingest
from gdbtools.ingest.readers.select import open_fast


def _long_alt() -> str:
    alts = ["".join(p) for p in itertools.product("ACGT", repeat=4)][1:]          # 255 x 4 characters
    alts += ["C" + "".join(p) for p in itertools.product("ACGT", repeat=4)][:71]  # 71 x 5
    alts.append("CAAAAAAA")
    alt = ",".join(alts)
    assert len(alt) == 1709 and len(set(alts)) == 327
    return alt


@pytest.fixture(scope="module")
def big_record_files(tmp_path_factory, bcftools_bin):
    out = tmp_path_factory.mktemp("big_record")
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=100000>", "##contig=<ID=chr2,length=100000>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2"]
    lines += [f"chr1\t{pos}\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t0/0" for pos in range(100, 2100, 100)]
    lines.append(f"chr2\t500\tbig\tA\t{_long_alt()}\t50\tPASS\t.\tGT\t0/327\t12|1")
    (out / "big.vcf").write_text("\n".join(lines) + "\n")
    files = {}
    for kind, flag, index in (("bcf", "-Ob", "-c"), ("vcf.gz", "-Oz", "-t")):
        path = out / f"big.{kind}"
        subprocess.run([bcftools_bin, "view", flag, "-o", str(path), str(out / "big.vcf")], check=True)
        subprocess.run([bcftools_bin, "index", index, str(path)], check=True)
        files[kind] = path
    return files


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["bcf", "vcf.gz"])
@pytest.mark.parametrize("region", ["chr2:1-100000", "chr2:500-500", "chr1:1900-100000"])
def test_fast_reader__record_larger_than_buffer_read_by_region(big_record_files, kind, region):
    path = str(big_record_files[kind])
    fast = open_fast(path)
    try:
        got = [(r.CHROM, r.POS, r.ID, r.REF, r.ALT, r.genotype.array().copy()) for r in fast(region)]
    finally:
        fast.close()
    want = [(r.CHROM, r.POS, r.ID, r.REF, r.ALT, r.genotype.array()) for r in cyvcf2.VCF(path)(region)]
    assert len(got) == len(want) >= 1
    for g, w in zip(got, want):
        assert g[:5] == w[:5]
        np.testing.assert_array_equal(g[5], w[5])
    if region.startswith("chr2"):
        assert len(got[0][4]) == 327


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["bcf", "vcf.gz"])
def test_ingest__record_larger_than_buffer_by_region_equals_htslib(big_record_files, kind, tmp_path, monkeypatch):
    stores = {}
    for mode in ("fast", "htslib"):
        monkeypatch.setenv("GDBTOOLS_READER", mode)
        stores[mode] = ingest(big_record_files[kind], tmp_path / mode, workers=1, progress=False,
                              partition_by="contig", adj=False)
    fast, hts = stores["fast"], stores["htslib"]
    assert fast.variants(["contig", "pos", "alt"]).equals(hts.variants(["contig", "pos", "alt"]))
    assert len(fast.variants(["pos"])) == 20 + 327
    np.testing.assert_array_equal(np.concatenate([b.codes() for b in fast.blocks()]),
                                  np.concatenate([b.codes() for b in hts.blocks()]))
    assert {p["reader"] for p in fast.manifest["partitions"]} == {f"fast-{'bcf' if kind == 'bcf' else 'vcf'}"}
    assert {p["reader"] for p in hts.manifest["partitions"]} == {"htslib"}
