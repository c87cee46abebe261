"""``verify`` on small real files written here (bgzip + tabix through bcftools/htslib).

- a file whose contig order differs from its ``##contig`` order: the store follows the header, verify compares
  in the store's order (no false mismatches), and still finds a real difference;
- a record htslib cannot read and a record without GT: findings in the report, never a traceback;
- a record past the ``##contig`` length: the store holds it (and counts it), verify passes;
- the parallel path (workers=2) gives the same report as the serial one.
"""

from __future__ import annotations

import subprocess

import numpy as np

from gdbtools.ingest import ingest, verify

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr2,length=1000>
##contig=<ID=chr1,length=1000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
"""
# file order chr1 then chr2; header order chr2 then chr1
RECORDS = [
    "chr1\t10\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1/1\t0/0",
    "chr1\t20\t.\tA\tG,T\t.\t.\t.\tGT\t1/2\t0/2\t./.",
    "chr1\t25\t.\tC\tT\t.\t.\t.\tGT\t0|1\t1|1\t0/.",
    "chr1\t30\t.\tG\tA\t.\t.\t.\tGT\t1/.\t0/1\t0/0",  # a half call (a haploid 1 on chr1 is refused)
    "chr2\t5\t.\tT\tC\t.\t.\t.\tGT\t0/0\t0/1\t1/1",
    "chr2\t50\t.\tT\tA,C\t.\t.\t.\tGT\t0/1\t2/2\t1/2",
]


def write_vcf(path, records, bcftools_bin) -> str:
    """bgzip-compressed, tabix-indexed VCF at `path` (written raw, so malformed records stay as written)."""
    text = HEADER + "".join(r + "\n" for r in records)
    with open(path, "wb") as fh:
        subprocess.run(["bgzip", "-c"], input=text.encode(), stdout=fh, check=True)
    subprocess.run([bcftools_bin, "index", "-f", "-t", str(path)], check=True, capture_output=True)
    return str(path)


def store_of(tmp_path, bcftools_bin, **kw):
    vcf = write_vcf(tmp_path / "in.vcf.gz", RECORDS, bcftools_bin)
    return vcf, ingest(vcf, tmp_path / "store", workers=1, progress=False, partition_by="contig", **kw)


def test_verify__file_contig_order_differs_from_header__compares_in_store_order(tmp_path, bcftools_bin):
    vcf, store = store_of(tmp_path, bcftools_bin)
    contigs = store.variants(["contig"])["contig"].tolist()
    assert contigs[0] == "chr2" and contigs[-1] == "chr1"  # the store follows ##contig, not the file
    report = verify(store, progress=False, workers=1)
    assert report.ok, str(report)
    assert (report.n_records, report.n_rows, report.n_calls) == (6, 8, 24)
    # the same store against a file with one call changed: found, named, and nothing else
    changed = [*RECORDS[:4], RECORDS[4].replace("0/1\t1/1", "1/1\t1/1"), RECORDS[5]]
    write_vcf(vcf, changed, bcftools_bin)
    report = verify(store, progress=False, workers=1)
    assert report.n_mismatches == 1, str(report)
    assert report.mismatches[0].startswith("chr2:5 T>C: 1 calls differ, first sample 'S2': VCF code 2, store code 1")


def test_verify__parallel_equals_serial(tmp_path, bcftools_bin):
    vcf, store = store_of(tmp_path, bcftools_bin)
    write_vcf(vcf, [RECORDS[0].replace("0/1", "1/1"), *RECORDS[1:]], bcftools_bin)
    serial = verify(store, progress=False, workers=1)
    parallel = verify(store, progress=False, workers=2)
    assert not serial.ok and str(serial) == str(parallel)


def test_verify__unreadable_record__is_a_finding_not_a_traceback(tmp_path, bcftools_bin):
    vcf, store = store_of(tmp_path, bcftools_bin)
    # the source now has a truncated record (htslib cannot parse it) and a record without GT
    broken = [RECORDS[0], RECORDS[1], "chr1\t25\t.\tC", RECORDS[3].replace("GT\t1/.\t0/1\t0/0", "DP\t3\t4\t5"),
              *RECORDS[4:]]
    write_vcf(vcf, broken, bcftools_bin)
    report = verify(store, progress=False, workers=1)
    assert not report.ok
    text = str(report)
    assert "htslib cannot read the record after chr1:20" in text, text
    # the record without GT reads as all missing (bcftools: NS=0); the store has calls there
    assert "chr1:30 G>A: 3 calls differ" in text, text
    # the unreadable record's store row is reported once, then the rows realign (chr2 compares clean)
    assert "chr1:30 G>A: the store has 1 variant(s) before it that are not in the file, first chr1:25 C>T" in text
    assert not any(m.startswith("chr2") for m in report.mismatches), text


def test_verify__record_past_contig_length__in_store_or_reported(tmp_path, bcftools_bin):
    records = [*RECORDS[:4], *RECORDS[4:], "chr2\t1500\t.\tA\tT\t.\t.\t.\tGT\t0/1\t0/0\t0/0"]
    vcf = write_vcf(tmp_path / "in.vcf.gz", records, bcftools_bin)
    store = ingest(vcf, tmp_path / "store", workers=1, progress=False)
    report = verify(store, progress=False, workers=1)
    # the last window of a contig is open-ended: the record is read, kept and counted (never dropped)
    assert bool(np.any(store.variants(["pos"])["pos"].to_numpy() == 1500))
    assert store.manifest["stats"]["n_past_contig_length"] == 1
    assert report.ok, str(report)
