"""The fast VCF/BCF readers yield exactly what cyvcf2 (htslib) yields, and ingest gives identical stores with either.

Oracle: cyvcf2 itself, record by record (CHROM, POS, ID, REF, ALT, QUAL, FILTERS, every declared INFO field,
the genotype array, GQ/DP/AD), on every VCF under ../shared/data (as VCF.gz and, where bcftools can write
it, as BCF), on simulated cohorts, on crafted edge cases, for whole files and for region queries. Where the
fast reader cannot be exact it must raise FastPathUnsupported before the first differing record, and the
reader of :func:`open_reader` must then continue with htslib.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pytest
from test_ingest_real_data import PER_CHROM, VCFS

from gdbtools.errors import InputError
from gdbtools.ingest import ingest
from gdbtools.ingest.readers.errors import FastPathUnsupported
from gdbtools.ingest.readers.select import SelectedReader, open_fast, open_reader

ADJ = ("GQ", "DP", "AD")
pytestmark = pytest.mark.filterwarnings("ignore:no intervals found:UserWarning")  # cyvcf2, on empty regions


# -- helpers -------------------------------------------------------------------------------------------------------
def _same_float(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(_same_float(x, y) for x, y in zip(a, b)))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b and type(a) is type(b)


def assert_same_record(fast, ref, n_samples: int, formats=(), info_keys=(), where=""):
    assert (fast.CHROM, fast.POS) == (ref.CHROM, ref.POS), where
    for attr in ("ID", "REF", "ALT", "FILTERS"):
        assert getattr(fast, attr) == getattr(ref, attr), (where, attr)
    assert _same_float(fast.QUAL, ref.QUAL), (where, fast.QUAL, ref.QUAL)
    for key in info_keys:
        assert _same_float(fast.INFO.get(key), ref.INFO.get(key)), (where, key, fast.INFO.get(key), ref.INFO.get(key))
    if not n_samples:
        assert fast.genotype is None
        return
    a, b = fast.genotype.array(), ref.genotype.array()
    assert a.shape == b.shape and a.dtype == b.dtype, (where, a.shape, b.shape)
    if a.shape[1] == 2:  # ploidy 1: cyvcf2 reads the last sample's phase past the end of its buffer
        a, b = a[:-1], b[:-1]
        assert (fast.genotype.array()[-1, 0] == ref.genotype.array()[-1, 0]), where
    assert np.array_equal(a, b), (where, np.argwhere(a != b)[:5])
    for name in formats:
        fa, fb = fast.format(name), ref.format(name)
        if fb is None:
            assert fa is None, (where, name)
        else:
            assert fa is not None and fa.dtype == fb.dtype and np.array_equal(fa, fb), (where, name)


def compare_readers(path, region=None, *, info=True, index=None) -> int:
    """Compare the fast reader with cyvcf2 on `path` (whole file or `region`); returns the record count."""
    ref = cyvcf2.VCF(str(path), lazy=True)
    fast = open_fast(str(path), index)
    try:
        assert fast.samples == ref.samples
        header = list(ref.header_iter())
        formats = [h["ID"] for h in header if h["HeaderType"] == "FORMAT" and h["ID"] in ADJ
                   and h.info().get("Type") == "Integer"]
        info_keys = [h["ID"] for h in header if h["HeaderType"] == "INFO"] if info else []
        ia = fast(region) if region else iter(fast)
        ib = ref(region) if region else iter(ref)
        n = 0
        for b in ib:
            a = next(ia, None)
            assert a is not None, (path, region, "fast reader ended early", n)
            assert_same_record(a, b, len(ref.samples), formats, info_keys, where=(str(path), region, n))
            n += 1
        assert next(ia, None) is None, (path, region, "fast reader has more records")
        return n
    finally:
        fast.close()
        ref.close()


def is_bgzf(path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(18)
    return head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def as_bgzf(path: Path, out_dir: Path) -> Path:
    """`path` itself if BGZF, else the same text recompressed as BGZF (+ tabix index) in `out_dir`."""
    import pysam

    if is_bgzf(path):
        return path
    out = out_dir / path.name
    if not out.exists():
        plain = out_dir / path.name.removesuffix(".gz")
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False)
    return out


def to_bcf(path: Path, out_dir: Path) -> Path:
    """`bcftools view -Ob` + `bcftools index`; contigs the header lacks (BCF needs them) are declared first."""
    out = out_dir / (path.name.removesuffix(".vcf.gz").removesuffix(".vcf") + ".bcf")
    if not out.exists():
        proc = subprocess.run(["bcftools", "view", "-Ob", "-o", str(out), str(path)], capture_output=True)
        if proc.returncode != 0:  # declare the contigs and INFO keys the header lacks (BCF needs them)
            vcf = cyvcf2.VCF(str(path))
            declared = {(h["HeaderType"], h["ID"]) for h in vcf.header_iter() if h["HeaderType"] in ("CONTIG", "INFO")}
            lines = []
            with gzip.open(path, "rt") as handle:
                for line in handle:
                    if line.startswith("#"):
                        continue
                    cols = line.split("\t", 8)
                    if ("CONTIG", cols[0]) not in declared:
                        declared.add(("CONTIG", cols[0]))
                        lines.append(f"##contig=<ID={cols[0]}>")
                    for key in (kv.split("=", 1)[0] for kv in cols[7].strip().split(";") if kv != "."):
                        if ("INFO", key) not in declared:
                            declared.add(("INFO", key))
                            lines.append(f'##INFO=<ID={key},Number=.,Type=String,Description="">')
            extra = out_dir / f"{out.name}.header.txt"
            extra.write_text("".join(f"{x}\n" for x in lines))
            subprocess.run(["bcftools", "annotate", "-h", str(extra), "-Ob", "-o", str(out), str(path)], check=True,
                           capture_output=True)
        subprocess.run(["bcftools", "index", "-f", str(out)], check=True, capture_output=True)
    return out


def write_vcf(path: Path, body: str, samples=("A", "B", "C"), header_extra: str = "", index=True) -> Path:
    import pysam

    header = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=1000000>\n##contig=<ID=2,length=1000000>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="GQ">\n'
              '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">\n'
              '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">\n'
              '##FILTER=<ID=q10,Description="q">\n##FILTER=<ID=s50,Description="s">\n'
              '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
              '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">\n'
              '##INFO=<ID=NS,Number=1,Type=Integer,Description="NS">\n'
              '##INFO=<ID=X,Number=.,Type=String,Description="X">\n'
              '##INFO=<ID=F,Number=0,Type=Flag,Description="F">\n' + header_extra)
    text = header + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n" + body
    plain = Path(str(path).removesuffix(".gz"))
    plain.write_text(text)
    if index:
        return Path(pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False))
    pysam.tabix_compress(str(plain), str(plain) + ".gz", force=True)
    plain.unlink()
    return Path(str(plain) + ".gz")


def region_set(path, rng, per_contig=6) -> list[str]:
    """Awkward regions: whole contigs, single records, just past the end, and starts inside long deletions."""
    recs = [(r.CHROM, r.POS, len(r.REF)) for r in cyvcf2.VCF(str(path), lazy=True)]
    out = ["nosuchcontig:1-100"]
    contigs = list(dict.fromkeys(c for c, _, _ in recs))
    if len(contigs) > 3:  # the first, one in the middle and the last
        contigs = [contigs[0], contigs[len(contigs) // 2], contigs[-1]]
    for contig in contigs:
        rs = [r for r in recs if r[0] == contig]
        last = rs[-1][1]
        out += [contig if contig == contigs[0] else f"{contig}:1-{2**31 - 1}", f"{contig}:{last}-{last}",
                f"{contig}:{last + 1}-{last + 10**6}"]
        for _ in range(per_contig):
            a = int(rng.integers(len(rs)))
            b = min(len(rs) - 1, a + int(rng.integers(0, 400)))
            beg, end = rs[a][1] + int(rng.integers(-1, 2)), rs[b][1] + int(rng.integers(-1, 2))
            out.append(f"{contig}:{beg}-{max(beg, end)}")  # END < START is a user error (genome.parse_region)
        for _, pos, ref_len in sorted((r for r in rs if r[2] > 1), key=lambda r: -r[2])[:2]:
            out += [f"{contig}:{pos + 1}-{pos + ref_len + 5}", f"{contig}:{pos + ref_len - 1}-{pos + ref_len + 10**5}"]
    return out


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fastread")


@pytest.fixture(scope="module")
def sim_full(tmp_path_factory):
    """300 samples, GT:AD:DP:GQ, chr1 + chrX (haploid XY calls outside the PAR), missing calls, multi-allelics."""
    from gdbtools.simulate import simulate_cohort

    return simulate_cohort(tmp_path_factory.mktemp("sim_full"), n_samples=300, length=300_000, x_length=200_000,
                           seed=5, bcf=True)


@pytest.fixture(scope="module")
def sim_gt(tmp_path_factory):
    from gdbtools.simulate import simulate_cohort

    return simulate_cohort(tmp_path_factory.mktemp("sim_gt"), n_samples=500, length=400_000, x_length=150_000,
                           fields=("GT",), seed=6, bcf=True)


def _bcf_of(cohort) -> Path:
    return Path(str(cohort.vcf).removesuffix(".vcf.gz") + ".bcf")


# -- every shared VCF, whole file ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rel", VCFS + PER_CHROM, ids=lambda r: r.split("/")[-1].replace(".vcf.gz", ""))
def test_fast_reader__shared_vcf_matches_cyvcf2(rel, data_dir, work):
    path = as_bgzf(data_dir / rel, work)
    assert compare_readers(path, info=rel in VCFS) > 0


@pytest.mark.parametrize("rel", VCFS + PER_CHROM[-1:], ids=lambda r: r.split("/")[-1].replace(".vcf.gz", ""))
def test_fast_reader__shared_vcf_as_bcf_matches_cyvcf2(rel, data_dir, work, bcftools_bin):
    assert compare_readers(to_bcf(data_dir / rel, work)) > 0


# -- regions -------------------------------------------------------------------------------------------------------
REGION_FILES = ["1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz",
                "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz",
                "hail_gatk_100/multipleChromosomes.vcf.gz",
                "gnomad_sites_excerpts/vcfanno_gnomad_v2.0_exomes_chr1.127sites.vcf.gz",
                "small_real_vcfs/seqarray_CEU_Exon_b36.vcf.gz"]


@pytest.mark.parametrize("fmt", ["vcf.gz+tbi", "vcf.gz+csi", "bcf+csi"])
@pytest.mark.parametrize("rel", REGION_FILES, ids=lambda r: r.split("/")[1].split(".")[0])
def test_fast_reader__regions_match_cyvcf2(rel, fmt, data_dir, work, bcftools_bin):
    src = data_dir / rel
    if fmt == "bcf+csi":
        path = to_bcf(src, work)
    elif fmt == "vcf.gz+csi":
        path = work / f"csi_{src.name}"
        if not path.exists():
            shutil.copy(src, path)
            subprocess.run(["bcftools", "index", "-c", "-f", str(path)], check=True, capture_output=True)
    else:
        path = src
    rng = np.random.default_rng(7)
    regions = region_set(path, rng)
    for region in regions:
        compare_readers(path, region, info=False)


def test_fast_reader__regions_inside_long_deletions_and_end_tags(work):
    """Records that start before the region but reach into it (REF length, INFO/END, a too-small END)."""
    rows = []
    for i in range(400):
        pos = 1000 + 50 * i
        if i % 40 == 7:
            rows.append(f"1\t{pos}\t.\t{'A' * 300}\tA\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0")
        elif i % 40 == 9:
            rows.append(f"1\t{pos}\t.\tA\t<DEL>\t.\tPASS\tEND={pos + 900}\tGT\t0/1\t./.\t0|0")
        elif i % 40 == 11:
            rows.append(f"1\t{pos}\t.\tAC\t<DEL>\t.\tPASS\tNS=3;END={pos - 5}\tGT\t0/1\t0/0\t0|0")
        elif i % 40 == 13:
            rows.append(f"1\t{pos}\t.\tA\t<DUP>\t.\tPASS\tXEND=5;END={pos + 2000}\tGT\t0/1\t0/0\t0|0")
        else:
            rows.append(f"1\t{pos}\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/0\t1|1")
    path = write_vcf(work / "dels.vcf.gz", "\n".join(rows) + "\n",
                     header_extra='##INFO=<ID=XEND,Number=1,Type=Integer,Description="not END">\n')
    bcf = to_bcf(path, work)
    for target in (path, bcf):
        for start in range(1200, 21000, 377):
            for span in (1, 60, 700, 5000):
                compare_readers(target, f"1:{start}-{start + span}", info=False)


# -- simulated cohorts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vcf", "bcf"])
def test_fast_reader__simulated_cohort_with_ad_dp_gq(sim_full, kind):
    path = sim_full.vcf if kind == "vcf" else _bcf_of(sim_full)
    n = compare_readers(path)
    assert n == sim_full.n_records
    ref = cyvcf2.VCF(str(path))
    assert any(len(r.ALT) > 1 for r in ref), "the cohort should have multi-allelic records"
    rng = np.random.default_rng(3)
    for region in region_set(path, rng, per_contig=4):
        compare_readers(path, region, info=False)


@pytest.mark.parametrize("kind", ["vcf", "bcf"])
def test_fast_reader__simulated_gt_only_cohort(sim_gt, kind):
    path = sim_gt.vcf if kind == "vcf" else _bcf_of(sim_gt)
    assert compare_readers(path) == sim_gt.n_records


# -- crafted edge cases ----------------------------------------------------------------------------------------------
EDGE_BODY = "".join([
    "1\t100\trs1;rs2\tA\tC\t50.1\tPASS\tAF=0.1;X=a,b;F\tGT:GQ:DP:AD\t0|1:10:5:1,2\t1/1:.:3:.\t0:5:.:3\n",
    "1\t101\t.\tA\tC,G\t.\t.\t.\tGT\t0/.\t.|1\t2\n",
    "1\t102\t.\tA\tC\t1e3\tq10;s50\tAF=.\tGT\t0\t1\t.\n",          # all haploid: ploidy 1
    "1\t103\t.\tA\tC,G,T,AA,AC,AG,AT,CA,CC,CG,CT\t.\tq10\tNS=2\tGT\t10|11\t0/10\t./.\n",  # two-digit alleles
    "1\t104\t.\tAT\t.\t0\tPASS\t.\tGT\t0/0\t0|0\t./.\n",          # no ALT
    "1\t105\t.\tA\tC\t.\tPASS\t.\tGT:AD:DP\t0/1:3,4:7\t0/0:.:.\t./.\n",  # trailing fields dropped
    "1\t106\t.\tA\tC\t.\tPASS\t.\tGT\t.\t./.\t.|.\n",
    "2\t5\t.\tG\tGA\t12.5\tPASS\tEND=9\tGT:DP\t0/1:-3\t1|0:2147483647\t0/0:0\n",
])


@pytest.mark.parametrize("kind", ["vcf", "bcf"])
def test_fast_reader__edge_cases_match_cyvcf2(work, kind, bcftools_bin):
    path = write_vcf(work / "edge.vcf.gz", EDGE_BODY)
    target = path if kind == "vcf" else to_bcf(path, work)
    assert compare_readers(target) == EDGE_BODY.count("\n")


def test_fast_reader__bcf_int16_genotypes_and_header_idx(work, bcftools_bin):
    """Allele indices above 63 make BCF store GT as int16; removing a header line leaves IDX= gaps-free ids."""
    alts = ",".join(f"A{'C' * i}" for i in range(1, 80))
    body = "".join(f"1\t{200 + i}\t.\tA\t{alts}\t.\tPASS\tNS={i};AF={','.join(['0.01'] * 79)}\tGT:AD\t"
                   f"{i % 80}/{(i * 7) % 80}:{','.join(['1'] * 80)}\t79|0:.\t.\n" for i in range(60))
    path = write_vcf(work / "int16.vcf.gz", body)
    bcf = to_bcf(path, work)
    assert compare_readers(bcf) == 60
    stripped = work / "stripped.bcf"
    subprocess.run(["bcftools", "annotate", "-x", "INFO/NS", "-Ob", "-o", str(stripped), str(bcf)], check=True,
                   capture_output=True)
    assert compare_readers(stripped) == 60


def test_fast_reader__many_records_across_batches(work):
    """Lines split across BGZF blocks and batches (the carried unfinished record)."""
    rng = np.random.default_rng(11)
    n = 120
    rows = []
    for i in range(3000):
        gts = rng.choice(["0|0", "0|1", "1|1", "./.", "1/0", "0", "12/3", ".|1"], size=n,
                         p=[0.6, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
        rows.append(f"1\t{10 + i}\t.\tA\t{','.join(['C'] * 12)}\t.\tPASS\t.\tGT\t" + "\t".join(gts))
    path = write_vcf(work / "batches.vcf.gz", "\n".join(rows) + "\n", samples=[f"S{i}" for i in range(n)])
    assert compare_readers(path) == 3000
    assert compare_readers(to_bcf(path, work)) == 3000


# -- fallback -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, reason", [
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1/1\t0/0\t0/0", "ploidy"),
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGQ:GT\t5:0/1\t5:0/0\t5:0/0", "GT"),
    ("1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\r", "value"),
])
def test_fast_reader__unsupported_record_hands_over_to_htslib(work, line, reason):
    body = "".join(f"1\t{100 + i}\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1|1\t0/0\n" for i in range(150))
    body += line + "\n" + "".join(f"1\t{400 + i}\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1|1\t0/0\n" for i in range(50))
    path = write_vcf(work / f"fallback_{reason}.vcf.gz", body)
    fast = open_fast(str(path))
    seen = 0
    with pytest.raises(FastPathUnsupported, match=reason):
        for _ in fast:
            seen += 1
    assert seen == 150  # every record before the unsupported one was handed out
    reader = open_reader(str(path))
    assert reader.name == "fast-vcf" and reader.fallback_reason is None
    ref = cyvcf2.VCF(str(path))
    got = [(r.CHROM, r.POS, r.genotype.array().tolist()) for r in reader]
    assert got == [(r.CHROM, r.POS, r.genotype.array().tolist()) for r in ref]
    assert reader.name == "htslib"
    assert reader.fallback_reason is not None and reason in reader.fallback_reason
    assert reader.fallback_reason.startswith("fast-vcf handed over to htslib after 150 records")


def _corrupt_middle_block(src: Path, dst: Path) -> None:
    data = bytearray(src.read_bytes())
    i, blocks = 0, []
    while i + 18 <= len(data):
        blocks.append(i)
        i += int.from_bytes(data[i + 16: i + 18], "little") + 1
    b = blocks[len(blocks) // 2]
    data[b + 40] ^= 0xFF  # inside the deflate stream: the CRC32 no longer matches (or it does not inflate)
    dst.write_bytes(bytes(data))


def test_fast_reader__damaged_block_falls_back_and_htslib_reports_it(data_dir, work):
    src = data_dir / "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"
    bad = work / "damaged.vcf.gz"
    _corrupt_middle_block(src, bad)
    with pytest.raises(FastPathUnsupported):
        for _ in open_fast(str(bad)):
            pass
    fast_recs, fast_exc = [], None
    try:
        for r in open_reader(str(bad)):
            fast_recs.append((r.POS, r.genotype.array().tobytes()))
    except Exception as exc:
        fast_exc = exc
    ref_recs, ref_exc = [], None
    try:
        for r in cyvcf2.VCF(str(bad)):
            ref_recs.append((r.POS, r.genotype.array().tobytes()))
    except Exception as exc:
        ref_exc = exc
    assert fast_recs == ref_recs and type(fast_exc) is type(ref_exc) and str(fast_exc) == str(ref_exc)
    assert ref_exc is not None


@pytest.mark.parametrize("record", [
    "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\n",                 # too few sample columns
    "1\tabc\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n",             # POS not a number
    "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\tx/1\t1/1\t0/0\n",             # GT not a number
    "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/5\t0/0\n",             # allele out of range (our own check)
    "1\t300\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/1/1\t0/0\n",           # ploidy above 2
])
def test_ingest__malformed_bgzf_record_errors_like_htslib(work, record, monkeypatch):
    """Same InputError text with the fast reader (which hands over to htslib) as with htslib alone."""
    good = "1\t100\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n1\t200\t.\tG\tT,C\t.\tPASS\t.\tGT\t1/2\t0/0\t2/2\n"
    path = write_vcf(work / "malformed.vcf.gz", good + record, index=False)
    messages = {}
    for mode in ("auto", "htslib"):
        monkeypatch.setenv("GDBTOOLS_READER", mode)
        with pytest.raises(InputError) as err:
            ingest(path, work / f"store_malformed_{mode}", workers=1, progress=False, overwrite=True)
        messages[mode] = str(err.value).replace(f"store_malformed_{mode}", "STORE")
    assert messages["auto"] == messages["htslib"]


# -- stores ----------------------------------------------------------------------------------------------------------
def _blocks(store_dir: Path) -> list:
    manifest = json.loads((store_dir / "manifest.json").read_text())
    return [(b["path"], b["n_variants"], b["encoding"], b["sha256"]) for b in manifest["blocks"]]


@pytest.mark.parametrize("case", ["sim_vcf_adj", "sim_bcf_adj", "real_regions", "real_adj_bcf"])
def test_ingest__fast_and_htslib_readers_give_identical_stores(case, sim_full, data_dir, work, monkeypatch):
    kwargs = {"workers": 1, "progress": False, "overwrite": True, "block_size": 512}
    if case == "sim_vcf_adj":
        src, kwargs["metadata"] = sim_full.vcf, sim_full.metadata
    elif case == "sim_bcf_adj":
        src, kwargs["metadata"] = _bcf_of(sim_full), sim_full.metadata
    elif case == "real_regions":
        src, kwargs["partition_records"] = data_dir / "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz", 3000
    else:
        src = to_bcf(data_dir / "hail_gatk_100/sample2.vcf.gz", work)
    stores = {}
    for mode in ("fast", "htslib"):
        monkeypatch.setenv("GDBTOOLS_READER", mode)
        stores[mode] = ingest(src, work / f"store_{case}_{mode}", **kwargs)
    blocks = {mode: _blocks(work / f"store_{case}_{mode}") for mode in stores}
    assert blocks["fast"] and blocks["fast"] == blocks["htslib"]
    pd.testing.assert_frame_equal(stores["fast"].variants(), stores["htslib"].variants())


def test_open_reader__respects_gdbtools_reader(data_dir, monkeypatch):
    path = str(data_dir / "hail_gatk_100/sample.vcf.gz")
    monkeypatch.setenv("GDBTOOLS_READER", "htslib")
    reader = open_reader(path)
    assert isinstance(reader, SelectedReader) and reader.name == "htslib" and reader.fallback_reason is None
    monkeypatch.setenv("GDBTOOLS_READER", "fast")
    assert open_reader(path).name == "fast-vcf"
    monkeypatch.setenv("GDBTOOLS_READER", "auto")
    assert open_reader(path).name == "fast-vcf"
    gz = data_dir / "gnomad_sites_excerpts/hail_gnomad.genomes.r3.0.sites.chr1.sample30.vcf.gz"  # plain gzip
    reader = open_reader(str(gz))
    assert not is_bgzf(gz) and reader.name == "htslib" and "not a BGZF file" in reader.fallback_reason
    monkeypatch.setenv("GDBTOOLS_READER", "fast")
    with pytest.raises(FastPathUnsupported):
        open_reader(str(gz))
    monkeypatch.setenv("GDBTOOLS_READER", "bogus")
    with pytest.raises(ValueError, match="GDBTOOLS_READER"):
        open_reader(path)


def test_open_reader__a_bug_in_the_fast_reader_propagates(data_dir):
    """Only FastPathUnsupported leads to htslib: any other exception of a fast reader is not hidden."""
    reader = open_reader(str(data_dir / "hail_gatk_100/sample.vcf.gz"), mode="auto")

    def broken(region=None):
        yield from ()
        raise ZeroDivisionError("a bug")

    reader._fast.__class__ = type("Broken", (reader._fast.__class__,), {"__call__": broken,
                                                                         "__iter__": lambda self: broken()})
    with pytest.raises(ZeroDivisionError):
        list(reader)
    assert reader.fallback_reason is None


def test_parse_region__one_reading_of_chr1_5000(data_dir):
    """``chr1:5000`` is the one position 5000 (gdbtools.genome.parse_region), in the fast reader and in the
    selector's htslib query alike; htslib's own reading (5000 to the end) is not used anywhere."""
    from gdbtools.genome import Region, parse_region
    from gdbtools.ingest.readers.select import htslib_region

    assert parse_region("chr1:5000") == Region("chr1", 5000, 5000)
    assert parse_region("chr1:5,000-") == Region("chr1", 5000, None)
    assert parse_region("chr1") == Region("chr1", 1, None)
    assert htslib_region("chr1:5000") == "chr1:5000-5000"
    assert htslib_region("chr1:5000-") == "chr1:5000-" and htslib_region("chr1") == "chr1"
    path = str(data_dir / "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz")
    pos = [r.POS for r in cyvcf2.VCF(path)("22:16050000-16100000")][5]
    single = [r.POS for r in cyvcf2.VCF(path)(f"22:{pos}-{pos}")]
    to_end = [r.POS for r in cyvcf2.VCF(path)(f"22:{pos}")]
    assert len(to_end) > len(single) >= 1
    for mode in ("fast", "htslib"):
        assert [r.POS for r in open_reader(path, mode=mode)(f"22:{pos}")] == single, mode
    assert [r.POS for r in open_fast(path)(f"22:{pos}")] == single
