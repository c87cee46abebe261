"""Independent oracles of the burden data tests: dosages read with cyvcf2 (htslib), never gdbtools' readers."""

from __future__ import annotations

import numpy as np

KG22 = "1kg_phase1_chr22_1092/1KG_phase1_release_v3_chr22.vcf.gz"
KG22_META = "1kg_phase1_chr22_1092/1KG_phase1_chr22_samples.tsv"
HAIL = "hail_gatk_100/sample.vcf.gz"  # chr20, GT:AD:DP:GQ, 880 missing calls
REFFLAT_BED = "gene_annotation_hg19/genes_refFlat_hg19.bed"
ENSEMBL_BED = "gene_annotation_ravages_b37_b38/genes_ensembl_b37.bed"
CODING_BED = "gene_annotation_hg19/coding_exons_refFlat_hg19.bed.gz"
GNOMAD_TSV = "gene_annotation_ravages_b37_b38/gnomad_nfe_maf_vep_consequence_b37.tsv.gz"


def vcf_dosages(path, *, adj: bool = False) -> np.ndarray:
    """Alt-allele dosages ``(n_records, n_samples)`` float64 of a biallelic, diploid VCF, NaN where missing.

    With `adj`, gnomAD's genotype filters (the store's convention, docs/ARCHITECTURE.md): GQ >= 20, DP >= 10,
    a het needs AD[alt] / DP >= 0.2; a value missing for a called genotype fails.
    """
    from cyvcf2 import VCF

    rows = []
    vcf = VCF(str(path), gts012=True)
    for v in vcf:
        assert len(v.ALT) == 1, "the oracle reads biallelic records only"
        t = v.gt_types.astype(np.float64)  # 0 hom-ref, 1 het, 2 hom-alt, 3 unknown
        d = np.where(t == 3, np.nan, t)
        if adj:
            gq = v.format("GQ")
            dp = v.format("DP")
            ad = v.format("AD")
            n = d.shape[0]
            gq = np.full(n, -1.0) if gq is None else gq[:, 0].astype(np.float64)
            dp = np.full(n, -1.0) if dp is None else dp[:, 0].astype(np.float64)
            gq = np.where(gq < -(2**30), -1.0, gq)  # htslib's missing integer
            dp = np.where(dp < -(2**30), -1.0, dp)
            ok = (gq >= 20) & (dp >= 10)
            if ad is not None:
                alt = ad[:, 1].astype(np.float64)
                alt = np.where(alt < -(2**30), -1.0, alt)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ok &= ~((d == 1) & ~(alt / dp >= 0.2))
            d = np.where(ok, d, np.nan)
        rows.append(d)
    vcf.close()
    return np.array(rows)


def impute(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-impute columns of ``(n, m)`` dosages with NaN: ``(G, af, mac)`` with the contract's arithmetic."""
    miss = np.isnan(raw)
    n_called = (~miss).sum(axis=0)
    ac = np.where(miss, 0.0, raw).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        af = ac / (2.0 * n_called)
    fill = np.where(n_called > 0, 2.0 * af, 0.0)
    af = np.where(n_called > 0, af, np.nan)
    mac = np.minimum(ac, 2 * n_called - ac).astype(np.int64)
    return np.where(miss, fill[None, :], raw), af, mac
