"""User-facing errors: every one names the file, the place in it, and what to do.

All errors that a user can cause by their input derive from :class:`GdbError`. The CLI prints them without a
traceback; the Python API raises them as they are. Each carries

- ``file``: the path of the input or store involved (or ``None``),
- ``where``: the record, line or block (``"record 12 (chr1:1234)"``, ``"line 7"``),
- ``fix``: one sentence telling the user what to do.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "GdbError",
    "InputError",
    "MetadataError",
    "StoreError",
    "StoreIncompleteError",
    "DiskFullError",
    "BackendError",
    "EmptySelectionError",
    "SelectionWarning",
    "disk_full_errnos",
]


class GdbError(Exception):
    """Base class of gdbtools' user-facing errors."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None, where: str | None = None,
                 fix: str | None = None):
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        head = ": ".join(part for part in (self.file, self.where) if part)
        text = f"{head}: {self.message}" if head else self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text

    def __reduce__(self):  # keep the keyword fields when the error crosses a process boundary (Dask workers)
        return (_rebuild, (type(self), self.message, self.file, self.where, self.fix))


def _rebuild(cls, message, file, where, fix):
    return cls(message, file=file, where=where, fix=fix)


class InputError(GdbError):
    """A VCF/BCF input is malformed, inconsistent or cannot be read."""


class MetadataError(GdbError):
    """A sample metadata table does not parse or does not match the genotype samples."""


class StoreError(GdbError):
    """A cohort store is missing, invalid, of an unknown version, or fails a checksum."""


class StoreIncompleteError(StoreError):
    """A store directory exists but its ingest has not finished (no manifest yet)."""


class DiskFullError(StoreError):
    """Writing the store failed because the disk (or the user's quota) is full."""


class BackendError(GdbError):
    """A compute backend (CuPy, host kernels) was asked for but cannot run here."""


disk_full_errnos = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class EmptySelectionError(GdbError):
    """A sample query or a region selects nothing (allowed explicitly with ``allow_empty=True`` /
    ``--allow-empty``)."""


class SelectionWarning(UserWarning):
    """Part of a selection matches nothing (one of several regions, a contig not in the store)."""
