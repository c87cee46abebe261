"""The exact tests of count tables every backend runs: Hardy-Weinberg (autosomes and chrX) and Fisher's 2x2.

:class:`ExactTests` holds their argument checks, the de-duplication of repeated tables and the scatter back;
each backend implements the ``_hwe_exact``, ``_hwe_x_exact`` and ``_fisher_exact`` hooks (NumPy twins, host
C++, CuPy kernels).  A base class of :class:`~gdbtools.backend.Backend`, which supplies ``xp``, ``_array``
(the array checks).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdbtools.backend import tables

__all__ = ["ExactTests", "HweResult"]

MAX_HWE_GENOTYPES = 2**30  # per triple; keeps het * 2n within int64 in the kernels
MAX_HWE_X_COUNT = 2**31 - 1  # per count of a chrX tuple (the kernel's sums are int64)
_HWE_X_NAMES = ("female_het", "female_hom1", "female_hom2", "male1", "male2")


class HweResult(NamedTuple):
    """Hardy-Weinberg exact test p-values, each ``(M,) float64`` on the backend's device.

    Attributes
    ----------
    p : two-sided exact p (Wigginton et al. 2005), as ``plink2 --hardy``.
    p_midp : two-sided mid-p, as ``plink2 --hardy midp`` (and Hail's ``hardy_weinberg_test``).
    p_het_excess : one-sided ``P(n_het >= observed)`` (bcftools +fill-tags ``ExcHet``).
    p_het_excess_midp : ``P(n_het > observed) + P(n_het == observed) / 2``.
    """

    p: Any
    p_midp: Any
    p_het_excess: Any
    p_het_excess_midp: Any


class ExactTests:
    """HWE and Fisher exact tests on count arrays of the backend's device (see the module docstring)."""

    xp: Any

    def _array(self, name: str, a, dtype, *, ndim: int):  # pragma: no cover - Backend's
        raise NotImplementedError

    def _counts(self, name: str, a):
        a = self._array(name, a, None, ndim=1)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer counts, got {a.dtype}")
        if a.size and (int(a.min()) < 0 or int(a.max()) > MAX_HWE_GENOTYPES):
            raise ValueError(f"{name} must be counts in 0..{MAX_HWE_GENOTYPES}")
        return self.xp.ascontiguousarray(a, dtype=np.int32)

    def hwe_exact(self, n_het, n_hom1, n_hom2) -> HweResult:
        """The Hardy-Weinberg exact test on count triples (call it on de-duplicated triples).

        Parameters
        ----------
        n_het, n_hom1, n_hom2 : (M,) integer
            Het and the two homozygote counts of each triple (the test is symmetric in the homozygotes).

        Returns
        -------
        HweResult
            Four ``(M,) float64`` arrays.  Monomorphic or empty triples give p = 1 and p_midp = 0.5.
        """
        n_het, n_hom1, n_hom2 = (self._counts(n, a) for n, a in
                                 (("n_het", n_het), ("n_hom1", n_hom1), ("n_hom2", n_hom2)))
        if not n_het.shape == n_hom1.shape == n_hom2.shape:
            raise ValueError(f"count arrays differ in shape: {n_het.shape}, {n_hom1.shape}, {n_hom2.shape}")
        total = n_het.astype(np.int64) + n_hom1 + n_hom2
        if total.size and int(total.max()) > MAX_HWE_GENOTYPES:
            raise ValueError(f"a triple has more than {MAX_HWE_GENOTYPES} genotypes")
        xp = self.xp
        res = HweResult(*(xp.empty(n_het.shape, dtype=np.float64) for _ in range(4)))
        if n_het.size:
            self._hwe_exact(n_het, n_hom1, n_hom2, res)
        return res

    def hwe_x_exact(self, female_het, female_hom1, female_hom2, male1, male2, *, unique: bool = True):
        """The Graffelman-Weir exact test of HWE on the X chromosome (:mod:`gdbtools.stats.hwe_x`).

        Parameters
        ----------
        female_het, female_hom1, female_hom2, male1, male2 : (M,) integer, 0 .. 2^31 - 1
            Female genotype counts (het and the two homozygotes) and male allele counts (allele 1, allele 2).
        unique : bool
            Test each distinct tuple once (alleles put in a canonical order first: the test is symmetric in
            them) and scatter the results back.

        Returns
        -------
        p, p_midp : (M,) float64
            ``plink2 --hardy``'s P and MIDP of ``.hardy.x``; p = 1 and p_midp = 0.5 for a tuple with a single
            possible table, 0 for p beyond the double range.
        """
        xp = self.xp
        arrays = [self._array(n, a, None, ndim=1) for n, a in zip(_HWE_X_NAMES, (female_het, female_hom1,
                                                                                  female_hom2, male1, male2))]
        if len({a.shape[0] for a in arrays}) > 1:
            raise ValueError(f"count arrays differ in length: {[a.shape[0] for a in arrays]}")
        for name, a in zip(_HWE_X_NAMES, arrays):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be integer counts, got {a.dtype}")
            if a.size and (int(a.min()) < 0 or int(a.max()) > MAX_HWE_X_COUNT):
                raise ValueError(f"{name} must be counts in 0..{MAX_HWE_X_COUNT}")
        het, h1, h2, m1, m2 = (a.astype(np.int64) for a in arrays)
        swap = (h1 > h2) | ((h1 == h2) & (m1 > m2))  # canonical allele order: results do not depend on labels
        h1, h2, m1, m2 = xp.where(swap, h2, h1), xp.where(swap, h1, h2), xp.where(swap, m2, m1), xp.where(swap, m1, m2)
        if not (unique and het.size):
            return self._hwe_x_run(het, h1, h2, m1, m2)
        uniq, inverse = xp.unique(xp.stack([het, h1, h2, m1, m2], axis=1), axis=0, return_inverse=True)
        p, p_midp = self._hwe_x_run(*(xp.ascontiguousarray(uniq[:, j]) for j in range(5)))
        inverse = inverse.reshape(-1)
        return p[inverse], p_midp[inverse]

    fisher_unique = True  # fisher_exact de-duplicates the tables unless told otherwise (the host's C++ does not)

    def fisher_exact(self, a, b, c, d, *, unique: bool | None = None):
        """The two-sided Fisher exact test of 2x2 tables ``[[a, b], [c, d]]`` (``kernels/fisher.h``).

        Parameters
        ----------
        a, b, c, d : (M,) integer, >= 0, a + b + c + d <= 2^31 - 1 (:data:`~gdbtools.backend.tables.MAX_FISHER_TOTAL`)
            The four cells of each table.
        unique : bool, optional
            Test each distinct table once and scatter the results back.  Default: the backend's
            :attr:`fisher_unique` (on the host the C++ tests a table in ~0.2 us, faster than sorting out the
            repeats; the NumPy twin gains from it).

        Returns
        -------
        p : (M,) float64
            ``scipy.stats.fisher_exact(..., alternative="two-sided")``'s p: the probability of the tables with
            the same margins no more likely than the observed one (relative tolerance 1e-7); 1 for a table
            whose margins allow one table only, 0 below about 1e-305.
        """
        cells = tables.check_cells([self._array(n, x, None, ndim=1) for n, x in zip("abcd", (a, b, c, d))])
        if not ((self.fisher_unique if unique is None else unique) and cells[0].size):
            return self._fisher_run(*cells)
        uniq, inverse = tables.unique_tables(self.xp, cells)
        return self._fisher_run(*uniq)[inverse]

    def _fisher_run(self, a, b, c, d):
        p = self.xp.empty(a.shape[0], dtype=np.float64)
        if p.size:
            self._fisher_exact(a, b, c, d, p)
        return p

    def _hwe_x_run(self, *tuples):
        p, p_midp = (self.xp.empty(tuples[0].shape[0], dtype=np.float64) for _ in range(2))
        if p.size:
            self._hwe_x_exact(*tuples, p, p_midp)
        return p, p_midp

    def hwe_exact_unique(self, n_het, n_hom1, n_hom2) -> HweResult:
        """:meth:`hwe_exact` on the distinct triples only, scattered back to every input position.

        Triples are made canonical (the homozygotes sorted) first, since the test is symmetric in them.
        Rare variants share few distinct triples, so this is usually much faster than :meth:`hwe_exact`.
        """
        xp = self.xp
        n_het, n_hom1, n_hom2 = (self._counts(n, a) for n, a in
                                 (("n_het", n_het), ("n_hom1", n_hom1), ("n_hom2", n_hom2)))
        if not n_het.shape == n_hom1.shape == n_hom2.shape:
            raise ValueError(f"count arrays differ in shape: {n_het.shape}, {n_hom1.shape}, {n_hom2.shape}")
        het = n_het.astype(np.int64)
        homr = xp.minimum(n_hom1, n_hom2).astype(np.int64)
        homc = xp.maximum(n_hom1, n_hom2).astype(np.int64)
        if het.size == 0:
            return self.hwe_exact(n_het, n_hom1, n_hom2)
        if int(xp.maximum(het.max(), homc.max())) < 2**21:
            key = (het << 42) | (homr << 21) | homc
            uniq, inverse = xp.unique(key, return_inverse=True)
            mask = (1 << 21) - 1
            u_het, u_homr, u_homc = uniq >> 42, (uniq >> 21) & mask, uniq & mask
        else:
            uniq, inverse = xp.unique(xp.stack([het, homr, homc], axis=1), axis=0, return_inverse=True)
            u_het, u_homr, u_homc = uniq[:, 0], uniq[:, 1], uniq[:, 2]
        inverse = inverse.reshape(-1)
        res = self.hwe_exact(u_het.astype(np.int32), u_homr.astype(np.int32), u_homc.astype(np.int32))
        return HweResult(*(r[inverse] for r in res))

    # -------------------------------------------------------------------------------- for the subclasses
    def _hwe_exact(self, n_het, n_hom1, n_hom2, res: HweResult) -> None:
        raise NotImplementedError

    def _hwe_x_exact(self, het, hom1, hom2, male1, male2, p, p_midp) -> None:
        """Canonical ``(M,) int64`` tuples into ``(M,) float64`` `p`, `p_midp` (M > 0)."""
        raise NotImplementedError

    def _fisher_exact(self, a, b, c, d, p) -> None:
        """``(M,) int64`` tables into ``(M,) float64`` `p` (M > 0)."""
        raise NotImplementedError
