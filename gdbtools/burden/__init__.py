"""Gene-based rare-variant tests: the null model, burden, SKAT, SKAT-O, ACAT-V and ACAT-O.

Statistics core (this layer imports store, backend, stats, genome, errors, runtime, progress only):

- :func:`fit_null`: the trait on the covariates (OLS or logistic IRLS), fitted once per trait;
- :func:`burden_test`: per-sample scores, linear Wald t or logistic score test with saddle-point p;
- :func:`skat`, :func:`skato`: the variance-component tests (SKAT R package scaling);
- :func:`acat_v`, :func:`acat`: Cauchy combinations;
- :func:`mixture_chi2_sf`: the null distribution of the quadratic forms (Davies, Liu).

Conventions and oracles: docs/STATISTICS.md, section "Gene-based tests".
"""

from __future__ import annotations

from gdbtools.burden.acat import acat, acat_v
from gdbtools.burden.mixture import davies, liu, mixture_chi2_sf
from gdbtools.burden.nullmodel import NullModel, NullModelError, fit_null
from gdbtools.burden.scoretests import burden_test, spa_pvalue
from gdbtools.burden.skat import DEFAULT_RHO, skat, skato

__all__ = [
    "NullModel", "NullModelError", "fit_null", "burden_test", "spa_pvalue", "skat", "skato", "DEFAULT_RHO",
    "acat", "acat_v", "mixture_chi2_sf", "davies", "liu",
]

# Data side: phenotypes, gene sets, masks and bins, the dosage matrix of a gene, per-sample scores.
from gdbtools.burden.genotypes import GeneMatrix, gene_matrices
from gdbtools.burden.masks import MaskBin, MaskSpec, binning_af, mask_bins, read_annotations, read_masks
from gdbtools.burden.phenotypes import Phenotypes, load_phenotypes
from gdbtools.burden.scores import beta_weights, scores
from gdbtools.burden.sets import GeneSets, VariantSet, gene_sets

__all__ += [
    "Phenotypes", "load_phenotypes", "VariantSet", "GeneSets", "gene_sets", "MaskSpec", "MaskBin", "read_masks",
    "mask_bins", "read_annotations", "binning_af", "GeneMatrix", "gene_matrices", "scores", "beta_weights",
]
