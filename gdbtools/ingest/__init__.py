"""Ingest: VCF/BCF files -> cohort store. Writes through :mod:`gdbtools.store`; knows no statistics."""

import os as _os

# numba caches compiled encoders next to this package; point it elsewhere when the install is read-only
if "NUMBA_CACHE_DIR" not in _os.environ and not _os.access(_os.path.dirname(__file__), _os.W_OK):
    _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(
        _os.environ.get("GDBTOOLS_CACHE", _os.path.expanduser("~/.cache/gdbtools")), "numba")

from .core import ADJ_DEFAULTS, ingest, plan_ingest  # noqa: E402
from .verify import verify  # noqa: E402

__all__ = ["ingest", "plan_ingest", "verify", "ADJ_DEFAULTS"]
