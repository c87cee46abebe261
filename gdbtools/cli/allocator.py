"""How a command's process allocates memory: what it frees is kept for its next allocation, not handed back.

A command is one short process that decodes, counts and writes blocks of the same few sizes over and over.
The allocators' defaults hand large freed buffers back to the kernel, which then faults them in again, zeroed,
page by page, on the next allocation: on the 20k bench cohort (bench/RESULTS.md, "Allocator") that cost
about 1 s of system time per ``gdbtools qc`` with Arrow's default pool (mimalloc), and another 45,000 page
faults (0.1 s of CPU) with the C library's defaults (buffers over 32 MiB or at the top of the heap are
unmapped when freed, and each reader thread's arena trims its own heap). :func:`configure` therefore, once
at the start of a command:

- sets ``ARROW_DEFAULT_MEMORY_POOL=system`` (Arrow allocates with the C library's malloc), unless the user
  set that variable;
- with glibc, calls ``mallopt`` (:data:`GLIBC_MALLOPT`): buffers up to 32 MiB come from the heap, the heap
  is trimmed only past 512 MiB of free space at its top, and all threads share one arena (so a block
  freed by the compute is the reader's next buffer), unless the user tunes malloc already
  (``GLIBC_TUNABLES`` with ``glibc.malloc``, or a ``MALLOC_*`` variable such as ``MALLOC_ARENA_MAX``).

The process's resident size then stays at its peak until it exits (the peak is bounded by the block size
and the number of blocks in flight, as before). A notebook or a Dask worker keeps its allocators' defaults:
only the CLI calls this.
"""

from __future__ import annotations

import os

__all__ = ["GLIBC_MALLOPT", "configure"]

#: mallopt parameters (glibc's ``malloc.h`` numbers) and values set by :func:`configure`.
GLIBC_MALLOPT = {
    "M_TRIM_THRESHOLD": (-1, 512 << 20),  # trim the heap only past 512 MiB free at its top
    "M_MMAP_THRESHOLD": (-3, 32 << 20),  # glibc's maximum: blocks up to 32 MiB from the heap, not mmap
    "M_ARENA_MAX": (-8, 1),  # one arena: threads reuse each other's freed buffers
}


def _user_tunes_malloc(environ) -> bool:
    return "glibc.malloc" in environ.get("GLIBC_TUNABLES", "") or any(k.startswith("MALLOC_") for k in environ)


def configure(environ=os.environ) -> dict[str, int]:
    """Set up the process's allocators for a command (see the module docstring); returns the mallopt
    parameters that were set (empty without glibc or when the user tunes malloc)."""
    environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # before pyarrow makes its default pool
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        glibc = None
    if not glibc or _user_tunes_malloc(environ):
        return {}
    import ctypes

    libc = ctypes.CDLL(None)
    return {name: value for name, (param, value) in GLIBC_MALLOPT.items() if libc.mallopt(param, value) == 1}
