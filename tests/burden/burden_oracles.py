"""Oracles and helpers of the burden tests (import as ``from burden_oracles import ...``): dosages read with
cyvcf2 (htslib), never gdbtools' readers; Imhof's integral, Monte Carlo of chi-square mixtures, weights,
covariates."""

from __future__ import annotations

import math

import numpy as np
import scipy.integrate
from helpers import KG22, KG22_META  # noqa: F401  (the paths are defined once, in helpers)

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


def beta_weights(G: np.ndarray) -> np.ndarray:
    """dbeta(MAF; 1, 25) of each column of G (MAF from the column means)."""
    from scipy.stats import beta

    af = G.mean(axis=0) / 2
    return beta.pdf(np.minimum(af, 1 - af), 1, 25)


def covariates(rng, n: int, k: int = 3) -> np.ndarray:
    """(n, 1 + k) design: intercept, then k simulated covariates (two normal, one 0/1 'sex')."""
    cols = [np.ones(n), *(rng.normal(size=n) for _ in range(k - 1)), (rng.random(n) < 0.5).astype(float)]
    return np.column_stack(cols)


def imhof_sf(q: float, lam) -> float:
    """``P(sum lam chi2_1 > q)`` by Imhof's (1961) integral, integrated piecewise with scipy's quad to ~1e-12.

    An independent route to Davies' p: the same characteristic function, integrated adaptively instead of
    summed on a grid (no error bound of ours involved).
    """
    lam = np.asarray(lam, dtype=np.float64)

    def f(u: float) -> float:
        theta = 0.5 * np.sum(np.arctan(lam * u)) - 0.5 * q * u
        rho = np.exp(0.25 * np.sum(np.log1p((lam * u) ** 2)))
        return math.sin(theta) / (u * rho)

    # the integrand decays like u^(-1 - m/2); integrate to where its bound is below 1e-14
    edges = [0.0]
    step = math.pi / max(q, lam.sum()) if q > 0 else 1.0
    total = 0.0
    u = 0.0
    while True:
        nxt = u + step
        val, _ = scipy.integrate.quad(f, u, nxt, epsabs=1e-15, epsrel=1e-12, limit=200)
        total += val
        u = nxt
        edges.append(u)
        bound = np.exp(-0.25 * np.sum(np.log1p((lam * u) ** 2))) / u
        if bound * u / max(len(lam) / 2, 0.5) < 1e-13 or u > 1e7:
            break
        step *= 1.05
    return 0.5 + total / math.pi


def mc_mixture_sf(q: float, lam, n_draws: int, rng) -> tuple[float, float]:
    """Monte Carlo estimate of ``P(sum lam chi2_1 > q)`` and its binomial standard error."""
    lam = np.asarray(lam, dtype=np.float64)
    hits = 0
    done = 0
    while done < n_draws:
        b = min(250_000, n_draws - done)
        x = rng.standard_normal((b, lam.size))
        hits += int(np.count_nonzero((x * x) @ lam > q))
        done += b
    p = hits / n_draws
    return p, math.sqrt(max(p * (1 - p), 1.0 / n_draws) / n_draws)
