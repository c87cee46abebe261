"""Helpers of the burden tests: the 1000 Genomes chr22 store's dosages, phenotype files, gene BEDs.

The genotypes of ``1kg_phase1_chr22_1092`` are real; the phenotypes are simulated here (seeded): covariates
(sex from the store, an age, the first principal components of the common variants), null traits (normal,
and binary 1:20), permutations of them, and traits with effects planted in chosen genes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gdbtools.store.bitplanes import unpack_codes

GENE_BED = "gene_annotation_hg19/genes_refFlat_hg19.bed"


def dosages(store) -> np.ndarray:
    """(V, N) float64 alt-allele dosages of every variant (codes 0/1/2; missing -> NaN), from the blocks."""
    rows = []
    for block in store.blocks():
        codes = unpack_codes(block.lo, block.hi, store.n_samples).astype(np.float64)
        codes[codes == 3] = np.nan
        rows.append(codes)
    return np.concatenate(rows)


def principal_components(store, k: int = 3) -> np.ndarray:
    """(N, k) top principal components of the standardised variants with MAF >= 5%."""
    d = dosages(store)
    p = np.nanmean(d, axis=1) / 2
    keep = (np.minimum(p, 1 - p) >= 0.05)
    x = d[keep] - 2 * p[keep, None]
    x = np.nan_to_num(x / np.sqrt(2 * p[keep, None] * (1 - p[keep, None])))
    u, s, _ = np.linalg.svd(x.T, full_matrices=False)
    return u[:, :k] * s[:k]


def base_phenotypes(store, seed: int = 7) -> pd.DataFrame:
    """sample_id, sex (0/1), age, PC1-3, a null quantitative trait ``q`` (with covariate effects) and a null
    binary trait ``b`` with about 1 case in 21 (logistic on the covariates)."""
    rng = np.random.default_rng(seed)
    samples = store.samples
    n = len(samples)
    pcs = principal_components(store)
    pcs = pcs / pcs.std(axis=0)
    sex = (samples["sex"] == "XY").to_numpy(dtype=np.float64)
    age = np.round(rng.uniform(20, 80, n), 1)
    df = pd.DataFrame({"sample_id": samples["sample_id"].astype(str).to_numpy(), "sex": sex, "age": age,
                       "PC1": pcs[:, 0], "PC2": pcs[:, 1], "PC3": pcs[:, 2]})
    df["q"] = 0.3 * sex + 0.02 * age + 0.5 * df["PC1"] + rng.normal(size=n)
    eta = -3.2 + 0.3 * sex + 0.4 * df["PC1"]
    df["b"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    return df


def permuted(df: pd.DataFrame, column: str, n: int, seed: int = 11) -> pd.DataFrame:
    """``df`` with columns ``<column>_perm0 ...``: the trait permuted across samples (null phenotypes,
    unrelated to the genotypes and to the covariates)."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    for i in range(n):
        out[f"{column}_perm{i}"] = df[column].to_numpy()[rng.permutation(len(df))]
    return out


def write_tsv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep="\t", index=False, na_rep="NA")
    return path


def chr22_bed(data_dir: Path, out: Path) -> Path:
    """The refFlat gene bodies of chr22 (one row per gene) as a BED with a header line."""
    bed = pd.read_csv(data_dir / GENE_BED, sep="\t")
    bed = bed[bed["#chrom"].astype(str) == "22"]
    bed.to_csv(out, sep="\t", index=False)
    return out
