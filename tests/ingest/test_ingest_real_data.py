"""Every VCF under ../shared/data ingested; counts read back equal bcftools' after ``norm -m-``; verify passes.

Oracles (exact equality, no tolerance):
- per variant: ``bcftools norm -m- | bcftools +fill-tags -t AC_Het,AC_Hom,AC_Hemi,NS`` gives het, hom-alt
  (AC_Hom/2 + AC_Hemi: hom-alt and haploid alt share code 2) and missing (N - NS);
- per sample: ``bcftools norm -m- | bcftools stats -s -`` (PSC/PSI): SNP hom-ref/het/hom-alt and missing over all
  variants. bcftools stats reads half calls (``0/.``) as missing, fill-tags as haploid: the half-call policy
  of the ingest is set to match each oracle, and the difference between the two is tested.
"""

from __future__ import annotations

import numpy as np
import oracles
import pandas as pd
import pytest
from helpers import store_code_counts

from gdbtools.ingest import ingest, verify

VCFS = [
    "1kg_broad_gatk_2535/1000G.phase3.broad.withGenotypes.chr20.10100000.vcf.gz",
    "1kg_broad_gatk_2535/regressionLogisticEpacts.chr22.vcf.gz",
    "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz",
    "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz",
    "gnomad_sites_excerpts/hail_gnomad.exomes.r2.1.1.sites.chr1.sample100.vcf.gz",
    "gnomad_sites_excerpts/hail_gnomad.genomes.r3.0.sites.chr1.sample30.vcf.gz",
    "gnomad_sites_excerpts/vcfanno_1kg_phase3_sites_multiallelic.116sites.vcf.gz",
    "gnomad_sites_excerpts/vcfanno_exac_r0.3_chr1.148sites.vcf.gz",
    "gnomad_sites_excerpts/vcfanno_gnomad_v2.0_exomes_chr1.127sites.vcf.gz",
    "hail_gatk_100/multipleChromosomes.vcf.gz",
    "hail_gatk_100/sample.vcf.gz",
    "hail_gatk_100/sample2.vcf.gz",
    "hapmap2_snprelate_279/hapmap_geno_snprelate_hg18.vcf.gz",
    "lct_region_1kg_phase3_2504/LCT_1kg_phase3_2504.biallelic.vcf.gz",
    "small_real_vcfs/cyvcf2_test-haploidX.vcf.gz",
    "small_real_vcfs/cyvcf2_test_189samples.vcf.gz",
    "small_real_vcfs/seqarray_CEU_Exon_b36.vcf.gz",
]
PER_CHROM = [f"1kg_phase3_subset_1126/per_chrom/1KG_phase3_subset_chr{c}.vcf.gz" for c in [*range(1, 23), "X"]]


def test_every_shared_vcf_is_listed(data_dir):
    """Guard: a VCF added to ../shared/data must be added to this test (or it would go untested)."""
    found = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*.vcf.gz")}
    assert found == set(VCFS) | set(PER_CHROM)




def store_sample_counts(store, mask: np.ndarray) -> np.ndarray:
    """(N, 4) counts of codes 0..3 per sample over the variants selected by `mask`."""
    out = np.zeros((store.n_samples, 4), dtype=np.int64)
    for block in store.blocks():
        codes = block.codes()[mask[block.variant_offset: block.variant_offset + block.n_variants]]
        for k in range(4):
            out[:, k] += (codes == k).sum(axis=0)
    return out


@pytest.mark.parametrize("rel", VCFS, ids=lambda r: r.split("/")[-1].replace(".vcf.gz", ""))
def test_ingest__real_vcf_matches_bcftools(rel, data_dir, bcftools_bin, tmp_path):
    path = data_dir / rel
    store = ingest(path, tmp_path / "store", workers=1, progress=False, block_size=1024)
    variants = store.variants(["contig", "pos", "ref", "alt"])
    expected = oracles.split_variant_counts(str(path), store.n_samples)
    # same split rows in the same order as bcftools norm -m-
    assert len(variants) == len(expected)
    assert (variants["contig"].astype(str).to_numpy() == expected["contig"].astype(str).to_numpy()).all()
    assert (variants["pos"].to_numpy() == expected["pos"].to_numpy()).all()
    assert (variants["ref"].to_numpy() == expected["ref"].to_numpy()).all()
    assert (variants["alt"].to_numpy() == expected["alt"].to_numpy()).all()
    got = store_code_counts(store)
    want = expected[["n_hom_ref", "n_het", "n_hom_alt", "n_missing"]].to_numpy()
    np.testing.assert_array_equal(got, want)
    assert store.manifest["stats"]["n_records"] == int(oracles.bcftools("index", "-n", str(path)).strip() or 0) \
        if (path.parent / (path.name + ".tbi")).exists() else True
    report = verify(store, progress=False)
    assert report.ok, str(report)
    assert report.n_rows == len(expected)


def _per_sample_check(path, store):
    """bcftools stats: nRefHom and nMissing over all variants, het/hom-alt split into SNPs (PSC) and indels (PSI)."""
    variants = store.variants(["ref", "alt", "allele_type"])
    snp = (variants["allele_type"] == "SNP").to_numpy()  # same length, one mismatch (bcftools and Hail)
    indel = variants["allele_type"].isin(["Insertion", "Deletion"]).to_numpy()  # bcftools: complex ones are "other"
    expected = oracles.split_sample_counts(str(path)).set_index("sample").loc[store.samples["sample_id"]]
    every = store_sample_counts(store, np.ones(store.n_variants, bool))
    got_snp = store_sample_counts(store, snp)
    np.testing.assert_array_equal(every[:, 0], expected["snp_hom_ref"].to_numpy())
    np.testing.assert_array_equal(got_snp[:, 1], expected["snp_het"].to_numpy())
    np.testing.assert_array_equal(every[:, 3], expected["n_missing"].to_numpy())
    indel_het = expected["indel_het"].fillna(0).to_numpy() if "indel_het" in expected else 0
    indel_hom = expected["indel_hom_alt"].fillna(0).to_numpy() if "indel_hom_alt" in expected else 0
    if indel.any():
        np.testing.assert_array_equal(store_sample_counts(store, indel)[:, 1], indel_het)
    if expected["hap_alt"].sum() == 0:
        np.testing.assert_array_equal(got_snp[:, 2], expected["snp_hom_alt"].to_numpy())
        if indel.any():
            np.testing.assert_array_equal(store_sample_counts(store, indel)[:, 2], indel_hom)
    else:  # haploid alt calls (code 2 too) are counted over all variant types by bcftools
        np.testing.assert_array_equal(store_sample_counts(store, snp | indel)[:, 2],
                                      expected["snp_hom_alt"].to_numpy() + indel_hom + expected["hap_alt"].to_numpy())


@pytest.mark.parametrize("rel", [
    "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz",
    "hail_gatk_100/sample2.vcf.gz",
    "hapmap2_snprelate_279/hapmap_geno_snprelate_hg18.vcf.gz",
    "small_real_vcfs/cyvcf2_test-haploidX.vcf.gz",
], ids=lambda r: r.split("/")[-1].replace(".vcf.gz", ""))
def test_ingest__per_sample_counts_match_bcftools_stats(rel, data_dir, bcftools_bin, tmp_path):
    path = data_dir / rel
    store = ingest(path, tmp_path / "store", workers=1, progress=False)
    _per_sample_check(path, store)


def test_ingest__half_calls_haploid_vs_missing(data_dir, bcftools_bin, tmp_path):
    """1000G phase 3 writes male non-PAR chrX as ``0/.``: fill-tags reads it haploid, bcftools stats missing.

    The default policy ('haploid') matches fill-tags per variant; 'missing' matches bcftools stats per sample;
    the two stores differ exactly on the half calls.
    """
    path = data_dir / "1kg_phase3_subset_1126/per_chrom/1KG_phase3_subset_chrX.vcf.gz"
    hap = ingest(path, tmp_path / "haploid", workers=1, progress=False)
    miss = ingest(path, tmp_path / "missing", workers=1, progress=False, half_call="missing")
    expected = oracles.split_variant_counts(str(path), hap.n_samples)
    np.testing.assert_array_equal(store_code_counts(hap), expected[["n_hom_ref", "n_het", "n_hom_alt", "n_missing"]])
    _per_sample_check(path, miss)
    n_half = hap.manifest["stats"]["n_half_calls"]
    assert n_half == miss.manifest["stats"]["n_half_calls"] > 500_000
    # every half call is a called genotype in one store and missing in the other; nothing else differs
    assert store_code_counts(miss)[:, 3].sum() - store_code_counts(hap)[:, 3].sum() > 0
    males = (pd.read_csv(data_dir / "1kg_phase3_subset_1126/samples_annot.tsv", sep="\t")
             .set_index("sample.id").loc[hap.samples["sample_id"], "sex"] == "M").to_numpy()
    for b_hap, b_miss in zip(hap.blocks(), miss.blocks()):
        c_hap, c_miss = b_hap.codes(), b_miss.codes()
        differs = c_hap != c_miss
        assert (c_miss[differs] == 3).all()
        assert not differs[:, ~males].any()  # only male calls are half calls
    assert verify(hap, progress=False).ok and verify(miss, progress=False).ok


def test_ingest__per_chromosome_files_concat_equals_whole_file(data_dir, tmp_path):
    """The 23 per-chromosome files (no index: one sequential partition each) give the concatenated file's store."""
    files = [data_dir / p for p in PER_CHROM]
    per = ingest(files, tmp_path / "per", workers=1, progress=False, block_size=2048)
    whole = ingest(data_dir / "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz", tmp_path / "whole",
                   workers=1, progress=False, block_size=2048)
    pd.testing.assert_frame_equal(per.variants(["contig", "pos", "ref", "alt"]),
                                  whole.variants(["contig", "pos", "ref", "alt"]))
    np.testing.assert_array_equal(store_code_counts(per), store_code_counts(whole))
    assert len(per.manifest["sources"]) == 23
    assert verify(per, progress=False).ok
