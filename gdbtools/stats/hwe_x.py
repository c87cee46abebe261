"""Hardy-Weinberg exact test for X-chromosomal variants with males (Graffelman & Weir 2016).

Outside the PARs a male carries one X, so his call is one allele; a female's is a genotype.  Under
Hardy-Weinberg equilibrium with equal allele frequencies in both sexes, and conditioned on the numbers of
females ``nf`` and males ``nm`` and on the allele-1 total ``nA`` (``N = 2 nf + nm`` alleles), a table of
female genotypes ``(fAA, fAB, fBB)`` and male alleles ``(mA, mB)`` has probability

    P = nA! nB! nf! nm! 2^fAB / (fAA! fAB! fBB! mA! mB! N!)

(Graffelman J, Weir BS (2016) Testing for Hardy-Weinberg equilibrium at biallelic genetic markers on the X
chromosome, Heredity 116:558-568).  The two-sided p-value sums the probabilities of the tables at most as
probable as the observed one; the mid-p counts the tables exactly as probable (ties, relative tolerance
2^-40) half.  This is ``plink2 --hardy [midp]``'s P / MIDP of its ``.hardy.x`` report.

Unlike the test on the females alone (the diploid calls), this one also rejects when the allele frequency
differs between the sexes, and it uses the males' information on the frequency.

The walk over the tables (ratio recursion from the observed table, as plink2) is a backend method,
:meth:`gdbtools.backend.Backend.hwe_x_exact`: C++ in the host library (threads over the tuples), its
Python twin :mod:`gdbtools.backend.twin_hwe_x` on the ``"numpy"`` backend; identical count tuples are
tested once.

>>> from gdbtools.stats.hwe_x import hwe_x_exact
>>> p, midp = hwe_x_exact([10], [20], [5], [30], [10])  # female het, hom1, hom2; male allele 1, allele 2
>>> round(float(p[0]), 6), round(float(midp[0]), 6)
(0.154551, 0.149491)
"""

from __future__ import annotations

import numpy as np

__all__ = ["hwe_x_exact"]

MAX_COUNT = 2**31 - 1


def _as_counts(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        a = a.reshape(-1)
    if a.size and (a.dtype.kind not in "iu" or int(a.min()) < 0 or int(a.max()) > MAX_COUNT):
        if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)) and a.min() >= 0:
            return a.astype(np.int64)
        raise ValueError(f"{name} must hold non-negative integer counts")
    return a.astype(np.int64)


def hwe_x_exact(female_het, female_hom1, female_hom2, male1, male2, *, unique: bool = True, backend=None):
    """Graffelman-Weir exact test of Hardy-Weinberg equilibrium on the X chromosome (females + males).

    Parameters
    ----------
    female_het, female_hom1, female_hom2 : (M,) int
        Female (diploid) genotype counts: heterozygous, homozygous for allele 1, homozygous for allele 2.
    male1, male2 : (M,) int
        Male (haploid) allele counts: allele 1, allele 2.
    unique : bool
        Test each distinct tuple once (tuples are made canonical by swapping the alleles first; the test is
        symmetric in them) and scatter the results back.
    backend : Backend, optional
        Where the test runs (host arrays in, host arrays out whatever the backend); default the ``"host"``
        backend, else ``"numpy"`` when the host kernels cannot be built.

    Returns
    -------
    p, p_midp : (M,) float64
        Two-sided exact p and mid-p (``plink2 --hardy`` / ``--hardy midp`` on chrX).  Without males this is
        the autosomal exact test of the female genotypes (plink2 does the same); a tuple without females or
        monomorphic overall has one possible table: p = 1, p_midp = 0.5 (as plink2).  p below about 1e-308
        is 0.
    """
    arrays = [_as_counts(n, a) for n, a in (("female_het", female_het), ("female_hom1", female_hom1),
                                             ("female_hom2", female_hom2), ("male1", male1), ("male2", male2))]
    m = arrays[0].shape[0]
    if any(a.shape[0] != m for a in arrays):
        raise ValueError(f"count arrays differ in length: {[a.shape[0] for a in arrays]}")
    if backend is None:
        from gdbtools.backend import default_host_backend

        backend = default_host_backend()
    p, p_midp = backend.hwe_x_exact(*(backend.to_device(a) for a in arrays), unique=unique)
    return backend.to_host(p), backend.to_host(p_midp)
