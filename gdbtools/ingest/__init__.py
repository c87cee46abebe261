"""Ingest: VCF/BCF files -> cohort store. Writes through :mod:`gdbtools.store`; knows no statistics."""

from .core import ADJ_DEFAULTS, ingest, plan_ingest
from .verify import verify

__all__ = ["ingest", "plan_ingest", "verify", "ADJ_DEFAULTS"]
