"""Calls whose written ploidy differs from the one the store counts (sex and region), and records read in a
noteworthy way: refused naming the record, or kept, counted in the manifest's ``stats`` and warned; never
silently doubled or dropped. Small files written here; the whole bcftools suite is test_bcftools_suite.py."""

from __future__ import annotations

import subprocess

import pytest

from gdbtools.errors import InputError
from gdbtools.ingest import ingest, verify
from gdbtools.ingest.core import report_records

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000>
##contig=<ID=chrX,length=1000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled likelihoods">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tF1\tM1\tU1
"""


def write(tmp_path, records, bcftools_bin, name="in.vcf.gz") -> str:
    path = tmp_path / name
    with open(path, "wb") as fh:
        subprocess.run(["bgzip", "-c"], input=(HEADER + "".join(r + "\n" for r in records)).encode(), stdout=fh,
                       check=True)
    subprocess.run([bcftools_bin, "index", "-f", "-t", str(path)], check=True, capture_output=True)
    return str(path)


def metadata(tmp_path) -> str:
    path = tmp_path / "samples.tsv"
    path.write_text("sample\tsex\nF1\tfemale\nM1\tmale\n")  # U1: no row, unknown sex
    return str(path)


def test_ingest__haploid_call_on_autosome__refused_naming_record_and_fix(tmp_path, bcftools_bin):
    vcf = write(tmp_path, ["chr1\t10\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1\t0/0"], bcftools_bin)
    with pytest.raises(InputError) as err:
        ingest(vcf, tmp_path / "store", workers=1, progress=False)
    text = str(err.value)
    assert "chr1:10" in text and "sample 'M1' has GT 1: a haploid call on a diploid contig" in text, text
    assert "bcftools +fixploidy" in text


def test_ingest__haploid_chrX_call__refused_for_XX_kept_for_XY_and_unknown(tmp_path, bcftools_bin):
    # no build in the header: every chrX position lies outside the PARs
    ok = write(tmp_path, ["chrX\t10\t.\tA\tC\t.\t.\t.\tGT\t0/1\t1\t1"], bcftools_bin)
    store = ingest(ok, tmp_path / "ok", metadata=metadata(tmp_path), workers=1, progress=False)
    assert store.manifest["stats"]["n_unknown_sex_calls"] == 1  # U1's call: excluded by the statistics by default
    lines = report_records(store.manifest)  # the warnings ingest printed at its end
    assert any("1 calls on chrX outside the PARs or on chrY belong to samples of unknown sex" in x for x in lines)
    assert verify(store, progress=False, workers=1).ok
    bad = write(tmp_path, ["chrX\t10\t.\tA\tC\t.\t.\t.\tGT\t1\t1\t1"], bcftools_bin, "bad.vcf.gz")
    with pytest.raises(InputError, match="sample 'F1' has GT 1: a haploid call on chrX outside the PARs"):
        ingest(bad, tmp_path / "bad", metadata=metadata(tmp_path), workers=1, progress=False)


def test_ingest__noteworthy_records__kept_counted_and_warned(tmp_path, bcftools_bin):
    records = [
        "chr1\t10\t.\tA\t.\t.\t.\t.\tGT\t0/0\t0/0\t0/0",             # ALT .: skipped, counted
        "chr1\t20\t.\tA\tC\t.\t.\t.\tPL\t0,3,30\t0,3,30\t0,3,30",     # no GT: calls missing
        "chr1\t30\t.\tA\tG\t.\t.\t.\tGT:AD\t0/.:3,4\t0/1:5,5\t1/1:0,9",  # a half call on chr1; AD without DP
        "chr1\t1500\t.\tG\tT\t.\t.\t.\tGT\t0/1\t0/0\t0/0",            # past the declared length (1000)
    ]
    store = ingest(write(tmp_path, records, bcftools_bin), tmp_path / "store", workers=1, progress=False)
    stats = store.manifest["stats"]
    assert (stats["n_ref_only"], stats["n_records_without_gt"], stats["n_half_calls_diploid"],
            stats["n_past_contig_length"]) == (1, 1, 1, 1)
    assert store.variants(["pos"])["pos"].tolist() == [20, 30, 1500]
    err = "\n".join(report_records(store.manifest))  # the warnings ingest printed at its end
    for words in ("1 record(s) with ALT . skipped", "first: chr1:10 ", "1 record(s) without GT ingested with every "
                  "call missing", "1 half call(s) (0/., 1/.) read as haploid", "1 record(s) lie past their "
                  "contig's declared ##contig length"):
        assert words in err, err
    codes = next(iter(store.blocks())).codes()
    assert codes[0].tolist() == [3, 3, 3]  # the record without GT
    assert verify(store, progress=False, workers=1).ok
