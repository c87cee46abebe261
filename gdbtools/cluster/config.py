"""The ``gdbtools.cluster`` settings: package defaults (``gdbtools.yaml``) under Dask's configuration system.

The defaults are registered with :func:`dask.config.update_defaults` when this module is imported, so the
user's Dask config files (``~/.config/dask/*.yaml``), ``DASK_GDBTOOLS__CLUSTER__...`` environment variables
and ``dask.config.set`` take precedence over them, and the arguments of a call take precedence over all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.config
import yaml

__all__ = ["DEFAULTS_FILE", "COMMON_KEYS", "KINDS", "settings", "defaults"]

DEFAULTS_FILE = Path(__file__).with_name("gdbtools.yaml")
#: keys that apply to every kind (the kind's own keys sit in a section named after it)
COMMON_KEYS = ("security", "dashboard-address", "wait-for-workers", "timeout", "connect-timeout")
#: cluster kinds that gdbtools starts itself (anything else must be a scheduler address or file)
KINDS = ("local", "local-cuda", "slurm")


def _canonical(mapping: dict) -> dict:
    return {str(key).replace("_", "-"): value for key, value in (mapping or {}).items()}


def defaults() -> dict:
    """The shipped defaults, as nested dicts (``{"gdbtools": {"cluster": {...}}}``)."""
    with open(DEFAULTS_FILE) as f:
        return yaml.safe_load(f)


def settings(kind: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effective settings of one kind: common keys + the kind's section + ``overrides``.

    Keys use hyphens (``n-workers``); overrides may use underscores (``n_workers``). An override that is
    not a setting of this kind raises :class:`TypeError` naming the valid ones.
    """
    config = _canonical(dask.config.get("gdbtools.cluster", {}))
    merged = {key: config.get(key) for key in COMMON_KEYS}
    if kind in KINDS:
        merged.update(_canonical(config.get(kind, {})))
    unknown = sorted(set(_canonical(overrides or {})) - set(merged))
    if unknown:
        valid = ", ".join(key.replace("-", "_") for key in sorted(merged))
        raise TypeError(f"{', '.join(unknown)}: not a setting of cluster kind {kind!r}; valid: {valid}")
    merged.update(_canonical(overrides or {}))
    return merged


dask.config.update_defaults(defaults())
