"""The plan's sample masks on the backend's device (cached per thread)."""

from __future__ import annotations

import threading

from ...backend import sparse as sparse_ops
from .plan import Plan

__all__ = ["device_masks"]

_DEVICE_CACHE = threading.local()


def device_masks(plan: Plan, backend) -> dict:
    """The packed masks and sizes of a plan on the backend's device (cached per thread and plan).

    Keys: ``flat`` ``(G, W) uint32`` and ``split`` ``(3 G, W)`` packed masks, ``atoms_flat``/``atoms_split``
    (the masks as atoms for sparse rows), ``size_flat`` ``(G, 1)`` and ``size_split`` ``(G, 3)`` int64.
    """
    key = (id(plan), id(backend))
    cache = getattr(_DEVICE_CACHE, "entries", None)
    if cache is None or cache[0] != key:
        packed = {k: (backend.to_device(v) if k in ("flat", "split") else v) for k, v in plan._packed.items()}
        for k in ("flat", "split"):  # the masks as atoms, for sparse rows
            atoms = sparse_ops.mask_atoms(plan._packed[k], plan.n_samples)
            packed[f"atoms_{k}"] = atoms.to(backend.to_device)
        _DEVICE_CACHE.entries = (key, packed, plan)  # keep `plan` alive so its id is not reused
        cache = _DEVICE_CACHE.entries
    return cache[1]
