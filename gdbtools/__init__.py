"""gdbtools: GPU-accelerated variant analytics for a national genome database.

Load VCF/BCF cohorts into a columnar cohort store (:mod:`gdbtools.store`, :mod:`gdbtools.ingest`) and compute
allele frequencies, QC and gene tests on it with NumPy or CuPy kernels.
"""

from .errors import GdbError

__all__ = ["__version__", "GdbError", "Store", "open_store", "open", "Cohort", "describe"]

_SUBMODULES = ("cluster", "ingest", "pipeline", "simulate", "stats", "backend", "store", "genome", "views",
               "plot", "report")


def _version() -> str:
    """The installed distribution's version, read on first use without importing importlib.metadata
    (:mod:`gdbtools.distributions`)."""
    from .distributions import installed_version

    return installed_version("gdbtools") or "0.0.0+unknown"  # a source tree without install


def __getattr__(name):  # `gdbtools.cluster.connect(...)` etc. without importing every subpackage up front
    if name == "__version__":
        globals()["__version__"] = version = _version()
        return version
    if name in ("Store", "open_store"):  # the store pulls in pandas: imported on first use (CLI cold start)
        from . import store

        return getattr(store, name)
    if name in ("open", "Cohort"):  # gdbtools.open(path) -> Cohort, imported on first use (keeps CLI start fast)
        from . import cohort

        return getattr(cohort, name)
    if name == "describe":  # gdb.describe(cohort or table): the notebook views
        from .views import describe

        return describe
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gdbtools' has no attribute {name!r}")


def load_ipython_extension(ipython):  # `%load_ext gdbtools`: user errors as message and fix (gdbtools.views.ipython)
    from .views.ipython import load

    load(ipython)


def unload_ipython_extension(ipython):  # `%unload_ext gdbtools`: IPython's full tracebacks again
    from .views.ipython import unload

    unload(ipython)


def _auto_load_in_ipython() -> None:  # inside IPython only (nothing is imported elsewhere)
    import sys

    if "IPython" in sys.modules:
        from .views.ipython import auto_load

        auto_load()


_auto_load_in_ipython()
