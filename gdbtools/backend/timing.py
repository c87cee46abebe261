"""Timing one kernel alone: :meth:`KernelTiming.kernel_launcher`, a base class of
:class:`~gdbtools.backend.Backend` (bench/bench_kernels.py and the GPU check time each kernel with it)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["KernelTiming"]


class KernelTiming:
    """Relaunching a backend's kernels on the same arguments (the backend supplies the checks and hooks)."""

    def kernel_launcher(self, kernel: str, *args, **kwargs) -> Callable[[], Any]:
        """A function that launches one kernel again and again on the same arguments, for timing it alone.

        `kernel` is ``"variant_group_counts"``, ``"sample_class_counts"``, ``"missing_weight_sums"``,
        ``"dosages"`` or ``"hwe_exact"``, and the arguments are that method's.  The method runs once here (checking the
        arguments); the returned function then only launches the kernel: no checks, no allocation, no
        class ordering, no copy, no synchronisation (on a GPU it returns at once: time it with CUDA events).
        Each call returns the method's output array (or HweResult), where the results accumulate in place
        over the calls when the method accumulates, and are rewritten when it does not.
        """
        be: Any = self  # the Backend this class is a base of: its argument checks and kernel hooks
        if kernel not in ("variant_group_counts", "sample_class_counts", "missing_weight_sums", "dosages",
                          "hwe_exact"):
            raise ValueError(f"no kernel {kernel!r}")
        method = getattr(be, kernel)
        bound = inspect.signature(method).bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        result = method(*args, **kwargs)
        if kernel == "hwe_exact":
            het, hom1, hom2 = (be._counts(n, a[n]) for n in ("n_het", "n_hom1", "n_hom2"))
            run = functools.partial(be._hwe_exact, het, hom1, hom2, result)
        else:
            lo, hi, fail = be._planes(a["lo"], a["hi"], a["fail"])
            if kernel == "variant_group_counts":
                masks = be._array("masks", a["masks"], np.uint32, ndim=2)
                run = functools.partial(be._variant_group_counts, lo, hi, masks, fail, result)
            elif kernel == "dosages":
                rows, samples, fill = be._dosage_args(a["rows"], a["samples"], a["fill"], result)
                run = functools.partial(be._dosages, lo, hi, fail, rows, samples, fill, result)
            elif kernel == "missing_weight_sums":
                wfix = be._array("wfix", a["wfix"], np.int64, ndim=1)
                run = functools.partial(be._missing_weight_sums, lo, hi, fail, wfix, result)
            else:
                var_class = be._array("var_class", a["var_class"], None, ndim=1).astype(np.uint8, copy=False)
                n_classes, n_samples = int(a["n_classes"]), int(a["n_samples"])
                plan = be._sample_class_plan(var_class, n_classes, lo.shape)
                run = functools.partial(be._sample_class_launch, lo, hi, fail, plan, n_classes, n_samples, result,
                                        bool(a["kind_major"]))

        def launch():
            run()
            return result

        return launch
