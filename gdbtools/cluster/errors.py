"""The error of this package: a cluster kind that cannot start, or a scheduler that cannot be reached."""

from __future__ import annotations

from ..errors import BackendError

__all__ = ["ClusterError"]


class ClusterError(BackendError):
    """A Dask cluster was asked for but cannot start or be reached here (no GPU, no NVML, no ``sbatch``, a
    scheduler address that does not answer, a job request SLURM refuses). A :class:`~gdbtools.errors.BackendError`,
    so the CLI prints it without a traceback and exits with status 2.
    """
