"""Bad input gets a clear error naming the file, the record and the fix, and leaves no store that looks complete."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest
from helpers import run_cli

from gdbtools.errors import InputError, MetadataError, StoreIncompleteError
from gdbtools.ingest import ingest, verify
from gdbtools.store import open_store

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=100000>\n"
    "##contig=<ID=2,length=100000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def write_vcf(path, body: str, samples=("A", "B", "C"), header: str = HEADER, bgzip: bool = True):
    import pysam

    text = header + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n" + body
    plain = str(path).removesuffix(".gz")
    with open(plain, "w") as handle:
        handle.write(text)
    if not bgzip:
        return plain
    return pysam.tabix_index(plain, preset="vcf", force=True, keep_original=False) if "unsorted" not in str(path) \
        else _bgzip_only(plain)


def _bgzip_only(plain):
    import pysam

    pysam.tabix_compress(plain, plain + ".gz", force=True)
    os.unlink(plain)
    return plain + ".gz"


GOOD = "1\t100\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n1\t200\t.\tG\tT,C\t.\tPASS\t.\tGT\t1/2\t0/0\t2/2\n"


def assert_not_complete(store_dir):
    assert not (store_dir / "manifest.json").exists()
    if store_dir.exists():
        with pytest.raises(StoreIncompleteError, match="has not finished"):
            open_store(store_dir)


def test_ingest__truncated_bgzip(tmp_path, data_dir):
    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    data = src.read_bytes()
    bad = tmp_path / "truncated.vcf.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        ingest(bad, tmp_path / "store", workers=1, progress=False)
    assert "truncated" in str(err.value) and str(bad) in str(err.value) and "fix:" in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__truncated_bgzip_without_eof_check_is_caught_midway(tmp_path, data_dir):
    """Cut mid-file but keep an EOF marker: htslib fails mid-stream; the error names the last good record."""
    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    data = src.read_bytes()
    from gdbtools.ingest.readers.header import BGZF_EOF

    bad = tmp_path / "cut.vcf.gz"
    bad.write_bytes(data[: len(data) // 2] + BGZF_EOF)
    with pytest.raises(InputError) as err:
        ingest(bad, tmp_path / "store", workers=1, progress=False)
    text = str(err.value)
    assert str(bad) in text and ("after 22:" in text or "cannot read" in text)
    assert_not_complete(tmp_path / "store")


@pytest.mark.parametrize("record, expect", [
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\n", "record after 1:200"),          # too few sample columns
    ("1\tabc\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n", "record after 1:200"),     # position not a number
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGT\tx/1\t1/1\t0/0\n", "record after 1:200"),     # GT not a number
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/5\t0/0\n", "above the 1 ALT"),         # allele out of range
])
def test_ingest__malformed_record(tmp_path, record, expect):
    path = write_vcf(tmp_path / "bad.vcf.gz", GOOD + record, bgzip=False)
    with pytest.raises(InputError) as err:
        ingest(path, tmp_path / "store", workers=1, progress=False)
    text = str(err.value)
    assert path in text and expect in text and "line 8" in text, text
    assert_not_complete(tmp_path / "store")


def test_ingest__duplicate_sample_ids(tmp_path):
    path = write_vcf(tmp_path / "dup.vcf.gz", GOOD, samples=("A", "B", "A"))
    with pytest.raises(InputError, match=r"duplicate sample id 'A' \(sample columns 1 and 3\)") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False)
    assert "bcftools reheader" in str(err.value)
    assert not (tmp_path / "store").exists()


def test_ingest__contig_absent_from_header(tmp_path):
    path = write_vcf(tmp_path / "contig.vcf", GOOD + "7\t10\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n", bgzip=False)
    with pytest.raises(InputError, match="contig '7' is not declared in the header") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False)
    assert "line 8 (7:10)" in str(err.value) and "##contig" in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__unsorted_positions(tmp_path):
    path = write_vcf(tmp_path / "unsorted.vcf.gz", GOOD + "1\t150\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n")
    with pytest.raises(InputError, match=r"not sorted: 1:150 comes after 1:200") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False)
    assert "bcftools sort" in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__unsorted_contigs(tmp_path):
    body = GOOD + "2\t10\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n1\t500\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
    path = write_vcf(tmp_path / "unsorted2.vcf.gz", body)
    with pytest.raises(InputError, match="contig 1 appears again after 2"):
        ingest(path, tmp_path / "store", workers=1, progress=False)


def test_ingest__unsorted_file_cannot_be_indexed(tmp_path):
    path = write_vcf(tmp_path / "unsorted3.vcf.gz", GOOD + "1\t150\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n")
    with pytest.raises(InputError, match="sorted") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False, index=True)
    assert str(path) in str(err.value)


def test_ingest__ploidy_above_two(tmp_path):
    path = write_vcf(tmp_path / "ploidy.vcf", GOOD + "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/1/1\t0/0\n", bgzip=False)
    with pytest.raises(InputError, match="sample 'B' has GT 0/1/1: ploidy above 2") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False)
    assert "line 8 (1:300)" in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__half_call_error_policy(tmp_path):
    path = write_vcf(tmp_path / "half.vcf", GOOD + "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/.\t0/1\t0/0\n", bgzip=False)
    with pytest.raises(InputError, match="sample 'A' has GT 0/.: a half-missing call") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False, half_call="error")
    assert "--half-call" in str(err.value)


def test_ingest__sample_sets_differ_across_files(tmp_path):
    a = write_vcf(tmp_path / "a.vcf.gz", GOOD)
    b = write_vcf(tmp_path / "b.vcf.gz", GOOD.replace("1\t", "2\t"), samples=("A", "B", "D"))
    with pytest.raises(InputError, match=r"samples differ .*only here: \['D'\]; only there: \['C'\]") as err:
        ingest([a, b], tmp_path / "store", workers=1, progress=False)
    assert "--merge" in str(err.value) and b in str(err.value)
    assert not (tmp_path / "store").exists()


def test_ingest__same_samples_other_order_are_matched_by_id(tmp_path):
    a = write_vcf(tmp_path / "a.vcf.gz", GOOD)
    body = "2\t100\t.\tA\tC\t.\tPASS\t.\tGT\t1/1\t0/0\t0/1\n"  # columns C, A, B
    b = write_vcf(tmp_path / "b.vcf.gz", body, samples=("C", "A", "B"))
    store = ingest([a, b], tmp_path / "store", workers=1, progress=False)
    codes = list(store.blocks())[-1].codes()
    assert codes[-1].tolist() == [0, 1, 2]  # A 0/0, B 0/1, C 1/1 in the store's order A, B, C
    assert verify(store, progress=False).ok


def test_ingest__metadata_does_not_parse(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    meta = tmp_path / "meta.tsv"
    meta.write_text("sample_id\tsex\tpopulation\nA\tF\tnfe\nB\tM\tafr\textra\nC\tF\teas\n")
    with pytest.raises(MetadataError, match=r"does not parse.*line 3") as err:
        ingest(path, tmp_path / "store", metadata=meta, workers=1, progress=False)
    assert str(meta) in str(err.value)


def test_ingest__metadata_bad_sex_value(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    meta = tmp_path / "meta.tsv"
    meta.write_text("sample_id\tsex\nA\tF\nB\tmale\nC\tyes\n")
    with pytest.raises(MetadataError, match=r"line 4, column 'sex'.*'yes'"):
        ingest(path, tmp_path / "store", metadata=meta, workers=1, progress=False)


def test_ingest__metadata_duplicate_id(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    meta = tmp_path / "meta.tsv"
    meta.write_text("sample_id\tsex\nA\tF\nB\tM\nA\tF\n")
    with pytest.raises(MetadataError, match=r"line 4: sample id 'A' appears more than once"):
        ingest(path, tmp_path / "store", metadata=meta, workers=1, progress=False)


def test_ingest__regions_need_an_index(tmp_path):
    path = write_vcf(tmp_path / "noindex.vcf.gz", GOOD)
    os.unlink(path + ".tbi")
    with pytest.raises(InputError, match="no index") as err:
        ingest(path, tmp_path / "store", workers=1, progress=False, regions=["1:1-150"])
    assert "--index" in str(err.value)
    store = ingest(path, tmp_path / "store2", workers=1, progress=False, regions=["1:1-150"], index=True)
    assert store.variants()["pos"].tolist() == [100]
    assert not (tmp_path / "noindex.vcf.gz.tbi").exists()  # the input directory is left untouched


def test_ingest__missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        ingest(tmp_path / "nope.vcf.gz", tmp_path / "store", workers=1, progress=False)
    assert "nope.vcf.gz" in str(err.value)


def test_ingest__cli_prints_error_without_traceback(tmp_path):
    path = write_vcf(tmp_path / "dup.vcf.gz", GOOD, samples=("A", "B", "A"))
    proc = run_cli("ingest", path, "--out", tmp_path / "store", "-q", check=False)
    assert proc.returncode == 2
    assert "duplicate sample id" in proc.stderr and "Traceback" not in proc.stderr


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_ingest__full_disk_then_resume(tmp_path, data_dir):
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG), like a full disk or quota: clear error, no manifest,
    finished blocks kept; the rerun resumes and the store verifies."""
    src = data_dir / "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "gdbtools", "ingest", str(src), "--out", str(out), "-q", "--workers", "1",
           "--block-size", "512"]
    env = dict(os.environ)
    # keep numba's cache writes out of the limit: compile the kernels first, into the cache every run of the
    # session shares (usually already there: then only loaded), so that the limited run writes none (a failing
    # cache write is an error of the fast reader, not a reason to hand over to htslib)
    warm = [sys.executable, "-m", "gdbtools", "ingest", str(write_vcf(tmp_path / "warm.vcf.gz", GOOD)), "--out",
            str(tmp_path / "warm"), "-q", "--workers", "1"]
    subprocess.run(warm, check=True, capture_output=True, env=env)
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_limit_file_size(100_000), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "no space left" in proc.stderr and "resumes" in proc.stderr and str(out) in proc.stderr
    assert_not_complete(out)
    kept = list((out / "blocks").rglob("*.gdb"))
    assert kept, "blocks written before the failure are kept"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    store = open_store(out)
    assert store.n_variants == 19773 and verify(store, progress=False).ok


def test_ingest__refuses_to_write_into_foreign_directory(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    foreign = tmp_path / "mydata"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("x")
    with pytest.raises(Exception, match="not a gdbtools store"):
        ingest(path, foreign, workers=1, progress=False)
    with pytest.raises(Exception, match="not a gdbtools store"):
        ingest(path, foreign, workers=1, progress=False, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "x"





def test_ingest__error_in_a_forked_worker_reaches_the_caller(tmp_path):
    a = write_vcf(tmp_path / "a.vcf", GOOD, bgzip=False)
    b = write_vcf(tmp_path / "b.vcf", "2\t100\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
                  "2\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/5\t0/0\n", bgzip=False)
    with pytest.raises(InputError, match="sample 'B' has GT 0/5") as err:
        ingest([a, b], tmp_path / "store", workers=2, progress=False)
    assert err.value.file == b and "fix:" in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__uncompressed_bcf_is_refused(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    bgzf = tmp_path / "level0.bcf"  # `-Ou` is BCF in BGZF blocks of level 0, which reads fine
    subprocess.run(["bcftools", "view", "-Ou", "-o", str(bgzf), path], check=True)
    raw = tmp_path / "raw.bcf"  # the BCF bytes without BGZF framing
    raw.write_bytes(subprocess.run(["bgzip", "-dc", str(bgzf)], check=True, capture_output=True).stdout)
    with pytest.raises(InputError, match="uncompressed BCF is not supported") as err:
        ingest(raw, tmp_path / "store", workers=1, progress=False)
    assert "bcftools view -Ob" in err.value.fix
    assert_not_complete(tmp_path / "store")


@pytest.mark.parametrize("header, expect, where", [
    ("##fileformat=TSV\n", "does not start with ##fileformat=VCF", "line 1"),
    (HEADER, "does not have the 8 fixed tab-separated columns", "line 5"),
])
def test_ingest__header_that_is_not_vcf(tmp_path, header, expect, where):
    """A text file that is not VCF, and a #CHROM line with spaces instead of tabs: refused, naming the line."""
    path = write_vcf(tmp_path / "bad.vcf.gz", GOOD, header=header, bgzip=False)
    if header == HEADER:  # the #CHROM line space-separated
        text = open(path).read().replace("#CHROM\tPOS\tID", "#CHROM POS ID")
        open(path, "w").write(text)
    plain = _bgzip_only(path)
    with pytest.raises(InputError, match=expect) as err:
        ingest(plain, tmp_path / "store", workers=1, progress=False)
    assert where in str(err.value)
    assert_not_complete(tmp_path / "store")


def test_ingest__empty_metadata_file(tmp_path):
    path = write_vcf(tmp_path / "ok.vcf.gz", GOOD)
    meta = tmp_path / "meta.tsv"
    meta.write_text("")
    with pytest.raises(MetadataError, match="the metadata file is empty"):
        ingest(path, tmp_path / "store", metadata=meta, workers=1, progress=False)
