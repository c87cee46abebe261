"""The ``"numpy"`` backend: the NumPy twins (:mod:`gdbtools.backend.twins`) behind the backend interface."""

from __future__ import annotations

import numpy as np

from gdbtools.backend import twins
from gdbtools.backend._base import Backend, HweResult

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Reference backend: whole-array NumPy, no compiled code, always available."""

    name = "numpy"
    xp = np
    on_device = False

    def _variant_group_counts(self, lo, hi, masks, fail, out) -> None:
        out[...] = twins.variant_group_counts(lo, hi, masks, fail)

    def _sample_class_plan(self, var_class, n_classes, shape):
        return var_class

    def _sample_class_launch(self, lo, hi, fail, plan, n_classes, n_samples, out, kind_major) -> None:
        twins.sample_class_counts(lo, hi, plan, n_classes, out.transpose(2, 0, 1) if kind_major else out, fail,
                                  n_samples=n_samples)

    def _hwe_exact(self, n_het, n_hom1, n_hom2, res: HweResult) -> None:
        for dst, src in zip(res, twins.hwe_exact(n_het, n_hom1, n_hom2)):
            dst[...] = src

    def _missing_weight_sums(self, lo, hi, fail, wfix, out) -> None:
        twins.missing_weight_sums(lo, hi, wfix, out, fail)

    def _dosages(self, lo, hi, fail, rows, samples, fill, out) -> None:
        twins.dosages(lo, hi, rows, samples, fill, out, fail)

    def _hwe_x_exact(self, het, hom1, hom2, male1, male2, p, p_midp) -> None:
        from gdbtools.backend import twin_hwe_x  # plain Python, one tuple at a time

        twin_hwe_x.hwe_x_many(het, hom1, hom2, male1, male2, p, p_midp)

    def _fisher_exact(self, a, b, c, d, p) -> None:
        from gdbtools.backend import twin_fisher  # scipy.stats.hypergeom, vectorised

        twin_fisher.fisher_exact_many(a, b, c, d, p)
