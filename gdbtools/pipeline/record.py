"""Fingerprints of inputs and outputs (cached checksums), step state, and the run record.

- :class:`Checksums`: SHA-256 of files, computed once per file version (path, size, modification time,
  inode) and cached in ``<workdir>/state/checksums.json``; a cohort store's checksum is that of its
  ``manifest.json`` (which holds every block's checksum); a directory's is over its files' names and checksums.
- the *state* of a step (``<workdir>/state/<step>.json``): the fingerprint of its last successful run and
  the checksums of what it wrote;
- the *run record* (``<workdir>/runs/<UTC time>-<run id>.json``): what ran, on what, with which software,
  how long each step took and how it ended. It is rewritten after every step, so a run killed with SIGKILL
  still leaves a record (outcome ``running``) of the steps it finished.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..store.format import atomic_write_bytes, sha256_file
from ..store.software import software_versions

__all__ = ["Checksums", "software_versions", "host_info", "slurm_info", "utc_now", "fingerprint"]

RECORD_FORMAT = "gdbtools-pipeline-run"
RECORD_VERSION = 1
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NAME",
                   "SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT", "SLURM_JOB_NODELIST", "SLURM_CPUS_PER_TASK",
                   "SLURM_MEM_PER_NODE", "SLURM_JOB_GPUS", "SLURM_CLUSTER_NAME", "SLURM_SUBMIT_DIR",
                   "SLURM_RESTART_COUNT")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(obj) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


class Checksums:
    """Checksums of files, directories and stores; files are cached by (size, mtime, inode).

    ``mode="stat"`` fingerprints files by size and modification time only (no reading).
    """

    def __init__(self, cache_file: Path, mode: str = "sha256"):
        self.cache_file = Path(cache_file)
        self.mode = mode
        try:
            self.cache = json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            self.cache = {}
        self.dirty = False

    def file(self, path: str | os.PathLike) -> str:
        path = os.path.abspath(path)
        st = os.stat(path)
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        if self.mode == "stat":
            return f"stat:{st.st_size}:{st.st_mtime_ns}"
        hit = self.cache.get(path)
        if hit and hit.get("key") == key:
            return hit["sha256"]
        digest = sha256_file(path)
        self.cache[path] = {"key": key, "sha256": digest}
        self.dirty = True
        return digest

    def of(self, path: str | os.PathLike | None) -> str | None:
        """The checksum of whatever is at ``path`` (None when nothing is there)."""
        if path is None:
            return None
        p = Path(path)
        if p.is_file():
            return self.file(p)
        if p.is_dir():
            manifest = p / "manifest.json"
            if manifest.is_file():
                return "store:" + sha256_file(manifest)  # the manifest holds every block's checksum
            entries = []
            for sub in sorted(q for q in p.rglob("*") if q.is_file()):
                entries.append([str(sub.relative_to(p)), self.file(sub)])
            return "dir:" + fingerprint(entries)
        return None

    def artifact(self, value) -> object:
        """Checksums of an artifact: one path, or a list of paths (the VCF inputs)."""
        if isinstance(value, (list, tuple)):
            return [[str(v), self.of(v)] for v in value]
        return self.of(value)

    def save(self) -> None:
        if self.dirty:
            write_json(self.cache_file, self.cache)
            self.dirty = False


def host_info() -> dict:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid())
    cpus: int | None
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "cpus": cpus, "user": user,
            "pid": os.getpid(), "cwd": os.getcwd(), "argv": list(sys.argv)}


def slurm_info() -> dict | None:
    """The SLURM job this process runs in (its environment variables), or None outside SLURM."""
    if not os.environ.get("SLURM_JOB_ID"):
        return None
    return {name[len("SLURM_"):].lower(): os.environ[name] for name in SLURM_VARIABLES if os.environ.get(name)}


def write_json(path: Path, obj) -> None:
    """Atomically write ``obj`` as JSON (values JSON lacks, such as YAML dates, as strings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(obj, indent=1, default=str) + "\n").encode())
