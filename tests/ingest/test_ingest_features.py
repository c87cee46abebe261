"""Merge of per-sample VCFs, sample metadata, annotations, INFO fields and the adj (genotype filter) plane."""

from __future__ import annotations

import subprocess

import numpy as np
import oracles
import pandas as pd
import pytest

from gdbtools.ingest import ingest, verify
from gdbtools.ingest.encode import encode_record, reference_codes
from gdbtools.store.bitplanes import n_words, unpack_codes

CHR22 = "1kg_phase3_subset_1126/per_chrom/1KG_phase3_subset_chr22.vcf.gz"


def _subset(bcftools_bin, src, samples, out, extra=()):
    subprocess.run([bcftools_bin, "view", "-s", ",".join(samples), *extra, "-Oz", "-o", str(out), str(src)],
                   check=True, capture_output=True)
    subprocess.run([bcftools_bin, "index", "-t", str(out)], check=True)
    return out


def _bgzip(bcftools_bin, src, out):
    """The per_chrom files are plain gzip (not BGZF): recompress to an indexable copy."""
    subprocess.run([bcftools_bin, "view", "-Oz", "-o", str(out), str(src)], check=True, capture_output=True)
    subprocess.run([bcftools_bin, "index", "-t", str(out)], check=True)
    return out


def test_ingest__merge_per_sample_files_equals_joint_file(data_dir, bcftools_bin, tmp_path):
    """Three batch VCFs (bcftools view -s), one with sites dropped where the batch has no ALT (-c1):
    merged with absent=hom-ref they give exactly the joint file's calls; with absent=missing those calls are 3."""
    src = _bgzip(bcftools_bin, data_dir / CHR22, tmp_path / "chr22.vcf.gz")
    full = ingest(src, tmp_path / "full", workers=1, progress=False)
    ids = full.samples["sample_id"].tolist()
    batches = [ids[:400], ids[400:401], ids[401:]]
    files = [_subset(bcftools_bin, src, batches[0], tmp_path / "b0.vcf.gz"),
             _subset(bcftools_bin, src, batches[1], tmp_path / "b1.vcf.gz", ["-c1"]),  # one sample, its ALT sites only
             _subset(bcftools_bin, src, batches[2], tmp_path / "b2.vcf.gz")]
    homref = ingest(files, tmp_path / "m_homref", merge=True, absent="hom-ref", workers=1, progress=False,
                    partition_records=400)
    assert homref.manifest["params"]["absent"] == "hom-ref" and homref.manifest["params"]["mode"] == "merge"
    pd.testing.assert_frame_equal(homref.variants(["contig", "pos", "ref", "alt"]),
                                  full.variants(["contig", "pos", "ref", "alt"]))
    full_codes = np.concatenate([b.codes() for b in full.blocks()])
    merged = np.concatenate([b.codes() for b in homref.blocks()])
    np.testing.assert_array_equal(merged, full_codes)
    missing = ingest(files, tmp_path / "m_missing", merge=True, absent="missing", workers=1, progress=False)
    codes = np.concatenate([b.codes() for b in missing.blocks()])
    absent = codes[:, 400] != full_codes[:, 400]
    assert absent.sum() == missing.manifest["stats"]["n_absent_calls"] > 0
    assert (codes[absent, 400] == 3).all() and (full_codes[absent, 400] == 0).all()
    np.testing.assert_array_equal(np.delete(codes, 400, axis=1), np.delete(full_codes, 400, axis=1))


def test_ingest__merge_refuses_overlapping_samples(data_dir, bcftools_bin, tmp_path):
    src = data_dir / CHR22
    a = _subset(bcftools_bin, src, ["HG00096", "HG00097"], tmp_path / "a.vcf.gz")
    b = _subset(bcftools_bin, src, ["HG00097", "HG00099"], tmp_path / "b.vcf.gz")
    with pytest.raises(Exception, match="sample 'HG00097' is in two files"):
        ingest([a, b], tmp_path / "m", merge=True, workers=1, progress=False)


def test_ingest__metadata_join_reports_both_directions(data_dir, tmp_path):
    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    panel = pd.read_csv(data_dir / "1kg_broad_gatk_2535/integrated_call_samples_v3.20130502.ALL.panel", sep="\t",
                        usecols=[0, 1, 2, 3])
    meta = panel.rename(columns={"sample": "sample_id"})
    ids = subprocess.run(["bcftools", "query", "-l", str(src)], capture_output=True, text=True).stdout.split()
    # keep 90 of the 100 samples, plus 5 rows that match nothing
    kept = meta[meta["sample_id"].isin(ids[:90])]
    extra = pd.DataFrame({"sample_id": [f"NOPE{i}" for i in range(5)], "pop": "X", "super_pop": "Y",
                          "gender": "female"})
    path = tmp_path / "meta.tsv"
    pd.concat([kept, extra]).to_csv(path, sep="\t", index=False)
    store = ingest(src, tmp_path / "store", metadata=path, workers=1, progress=False)
    s = store.samples
    assert s["sample_id"].tolist() == ids and s["sample_index"].tolist() == list(range(100))
    assert s["sex"].isna().sum() == 10
    gender = kept.set_index("sample_id")["gender"]
    expect = gender.map({"male": "XY", "female": "XX"})
    assert (s.set_index("sample_id").loc[expect.index, "sex"] == expect).all()
    assert set(s.columns) >= {"pop", "super_pop", "gender"}
    report = store.manifest["metadata"]
    assert report["n_missing_metadata"] == 10 and report["missing_metadata"] == ids[90:]
    assert report["n_unused_metadata"] == 5 and report["sex_column"] == "gender"
    with pytest.raises(Exception, match="10 genotype samples lack metadata"):
        ingest(src, tmp_path / "strict", metadata=path, strict_metadata=True, workers=1, progress=False)


def test_ingest__vep_csq_parsed_into_gene_and_consequence(data_dir, tmp_path):
    src = data_dir / "gnomad_sites_excerpts/vcfanno_exac_r0.3_chr1.148sites.vcf.gz"
    store = ingest(src, tmp_path / "store", workers=1, progress=False, info_fields=["AC_Adj", "AN_Adj"])
    v = store.variants()
    assert store.manifest["params"]["annotation"] == "CSQ"
    assert v["gene"].notna().mean() > 0.9 and v["consequence"].notna().mean() > 0.9
    # independent re-parse of one record with bcftools: most severe term among its CSQ entries
    out = oracles.bcftools("query", "-f", "%POS\t%CSQ\n", str(src)).splitlines()[0].split("\t")
    entries = [e.split("|") for e in out[1].split(",")]
    header = oracles.bcftools("view", "-h", str(src))
    fmt = header.split('ID=CSQ')[1].split("Format: ")[1].split('"')[0].split("|")
    cons_terms = {t for e in entries for t in e[fmt.index("Consequence")].split("&")}
    first = v.iloc[0]
    assert first["pos"] == int(out[0]) and first["consequence"] in cons_terms
    from gdbtools.ingest.annotations import SEVERITY
    assert SEVERITY[first["consequence"]] == min(SEVERITY.get(t, 99) for t in cons_terms)
    assert v["info_AC_Adj"].dtype.kind in "iu" or str(v["info_AC_Adj"].dtype) == "Int64"


def test_annotations__snpeff_and_bcsq_synthetic():
    from gdbtools.ingest.annotations import AnnotationParser

    ann = AnnotationParser("ANN", "Functional annotations: 'Allele | Annotation | Annotation_Impact | Gene_Name | "
                                  "Gene_ID'")
    value = ("T|missense_variant|MODERATE|BRCA1|ENSG1,TA|frameshift_variant|HIGH|BRCA1|ENSG1,"
             "T|synonymous_variant|LOW|X|Y")
    assert ann.parse(value, "C", ["T", "TA"]) == [("BRCA1", "missense_variant", "MODERATE"),
                                                  ("BRCA1", "frameshift_variant", "HIGH")]
    bcsq = AnnotationParser("BCSQ", "Format: Consequence|gene|transcript|biotype|strand|amino_acid_change|dna_change")
    assert bcsq.parse("missense|PCSK9|ENST1|protein_coding|+|10R>10W|123C>T,*stop_gained|PCSK9|ENST1", "C", ["T"]) == \
        [("PCSK9", "stop_gained", "HIGH")]
    vep = AnnotationParser("CSQ", "Format: Allele|Consequence|IMPACT|SYMBOL")
    # VEP trims the shared first base of indels: CTT>C is '-'... here C>CA is 'A'
    assert vep.parse("A|inframe_insertion|MODERATE|G1,AA|frameshift_variant|HIGH|G2", "C", ["CA", "CAA"]) == \
        [("G1", "inframe_insertion", "MODERATE"), ("G2", "frameshift_variant", "HIGH")]
    assert vep.parse("-|frameshift_variant|HIGH|G3", "CTT", ["C"]) == [("G3", "frameshift_variant", "HIGH")]


def test_ingest__adj_plane_matches_bcftools_setgt(data_dir, bcftools_bin, tmp_path):
    """adj = GQ>=20, DP>=10, het AB=AD[alt]/DP>=0.2, a missing GQ/DP fails: against bcftools +setGT on split rows."""
    src = data_dir / "hail_gatk_100/sample2.vcf.gz"
    store = ingest(src, tmp_path / "store", workers=1, progress=False)
    expr = 'FMT/GQ<20 | FMT/DP<10 | FMT/GQ="." | FMT/DP="." | (GT="het" & FMT/AD[:1]/FMT/DP<0.2)'
    norm = subprocess.Popen([bcftools_bin, "norm", "-m-", "-Ou", str(src)], stdout=subprocess.PIPE)
    setgt = subprocess.run([bcftools_bin, "+setGT", "-Ou", "-", "--", "-t", "q", "-n", ".", "-i", expr],
                           stdin=norm.stdout, capture_output=True, check=True)
    norm.wait()
    tags = subprocess.run([bcftools_bin, "+fill-tags", "-", "--", "-t", "AC_Het,AC_Hom,NS"], input=setgt.stdout,
                          capture_output=True, check=True)
    query = subprocess.run([bcftools_bin, "query", "-f", "%AC_Het\t%AC_Hom\t%NS\n", "-"], input=tags.stdout,
                           capture_output=True, check=True)
    want = np.array([list(map(int, line.split("\t"))) for line in query.stdout.decode().splitlines()])
    codes = np.concatenate([b.codes(adj=True) for b in store.blocks()])
    got = np.stack([(codes == 1).sum(1), 2 * (codes == 2).sum(1), (codes != 3).sum(1)], axis=1)
    np.testing.assert_array_equal(got, want)
    raw = np.concatenate([b.codes() for b in store.blocks()])
    assert (codes != raw).sum() == store.manifest["stats"]["n_failed_calls"] > 1000
    assert verify(store, progress=False).ok


def test_ingest__no_adj_has_no_fail_plane(data_dir, tmp_path):
    store = ingest(data_dir / "hail_gatk_100/sample.vcf.gz", tmp_path / "store", workers=1, progress=False,
                   adj=False)
    assert all(b.fail is None for b in store.blocks())
    assert store.manifest["params"]["adj"] is None


def test_encode_record__numba_equals_numpy_twin():
    """The ingest encoder against its plain-NumPy twin on random diploid/haploid/half/missing/multi-allelic calls."""
    rng = np.random.default_rng(5)
    for n in (1, 31, 32, 33, 100, 257):
        for n_alt in (1, 2, 4):
            gt = rng.integers(-1, n_alt + 1, size=(n, 3)).astype(np.int16)
            gt[rng.random(n) < 0.2, 1] = -2  # haploid calls
            gt[:, 2] = rng.integers(0, 2, n)  # phase flag
            for policy, mode in (("haploid", 0), ("missing", 1), ("reference", 2)):
                lo = np.zeros((n_alt, n_words(n)), np.uint32)
                hi = np.zeros_like(lo)
                encode_record(gt, n_alt, 0, lo, hi, mode)
                np.testing.assert_array_equal(unpack_codes(lo, hi, n), reference_codes(gt, n_alt, policy))
