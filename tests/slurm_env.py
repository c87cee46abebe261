"""A throw-away single-node SLURM for the tests: munged, slurmctld and slurmd from the Debian packages.

Everything lives in one directory (``$GDBTOOLS_SLURM_ROOT``, default ``/tmp/gdbtools-slurm-<uid>[-<xdist
worker>]``): the generated ``slurm.conf``, a fresh munge key and socket, state, spool, pid files and logs.
Nothing outside it is touched, so a system SLURM or munge on the same machine is left alone. Clients find the
instance through ``SLURM_CONF`` (see :meth:`SlurmEnv.environ` and :meth:`SlurmEnv.activate`).

Starting is restartable: a previous instance in the same directory that was never stopped (a killed test run)
is found through its pid file, its daemons and leftover job processes are ended by pid, and the directory is
recreated with a new munge key and new ports. :meth:`SlurmEnv.stop` cancels every job, waits until the queue
is empty, shuts the daemons down and removes the directory.

The packages must already be installed (nothing is installed here)::

    apt-get install -y --no-install-recommends slurm-wlm munge

The configuration is the one that works in containers and VMs without cgroups (docs/SUPERCOMPUTER.md)::

    ProctrackType=proctrack/linuxproc   TaskPlugin=task/none
    SlurmctldHost=<host>(127.0.0.1)     NodeName=<host> NodeAddr=127.0.0.1 <CPUs and memory of `slurmd -C`>

By hand, for debugging: ``python tests/slurm_env.py up`` prints the ``export SLURM_CONF=...`` line;
``python tests/slurm_env.py down`` stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["APT_PACKAGES", "APT_LINE", "SlurmUnavailable", "SlurmEnv", "default_root", "running_in_ci"]

APT_PACKAGES = ("slurm-wlm", "munge")
APT_LINE = "apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES)
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class SlurmUnavailable(RuntimeError):
    """The test SLURM could not be started here; the message says why and what to install or look at."""


def running_in_ci() -> bool:
    """True when ``CI`` is set to a true value: then a SLURM that cannot start fails the tests."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def default_root() -> Path:
    """The instance directory: ``$GDBTOOLS_SLURM_ROOT`` or ``<tmp>/gdbtools-slurm-<uid>[-<xdist worker>]``.

    A fixed name (rather than a fresh ``mkdtemp``) is what lets a second start find and end a first one
    that was never stopped. Each pytest-xdist worker gets its own instance.
    """
    if os.environ.get("GDBTOOLS_SLURM_ROOT"):
        return Path(os.environ["GDBTOOLS_SLURM_ROOT"])
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    name = f"gdbtools-slurm-{os.getuid()}" + (f"-{worker}" if worker else "")
    return Path(tempfile.gettempdir()) / name


def _which(name: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(SBIN)
    return shutil.which(name, path=path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"    ({path.name}: no log)"
    return "\n".join(f"    {line}" for line in text[-lines:]) or f"    ({path.name}: empty)"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _end_pids(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM the given processes, then SIGKILL whatever is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        alive = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                alive.append(pid)
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
            time.sleep(0.1)
        pids = alive
        if not pids:
            return


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class SlurmEnv:
    """One single-node SLURM instance rooted at ``root``.

    >>> env = SlurmEnv.start()                         # doctest: +SKIP
    >>> job = env.sbatch("#!/bin/bash\\necho hi", "--output", "/tmp/hi.out")  # doctest: +SKIP
    >>> env.wait_for_job(job)                          # doctest: +SKIP
    'COMPLETED'
    >>> env.stop()                                     # doctest: +SKIP
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "etc" / "slurm.conf"
        self.log_dir = self.root / "log"
        self.munge_socket = self.root / "munge" / "munge.socket.2"
        self.hostname = socket.gethostname().split(".")[0]
        self.partition = "debug"
        self.node: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock_fd: int | None = None
        self._saved_env: dict[str, str | None] | None = None

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(cls, root: str | os.PathLike | None = None, timeout: float = 90.0) -> SlurmEnv:
        """Start munged, slurmctld and slurmd and wait until ``sinfo`` shows the node idle.

        Raises :class:`SlurmUnavailable` (with the daemons' log tails) when that does not happen; whatever
        was started is stopped again first.
        """
        env = cls(Path(root) if root is not None else default_root())
        env._check_installed()
        env._check_paths()
        env._lock()
        try:
            env._clean_stale()
            env._write_config()
            env._start_munged(timeout)
            env._start_slurm(timeout)
        except BaseException:
            env.stop()
            raise
        return env

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel all jobs, wait for an empty queue, stop the daemons and remove the instance directory."""
        problems = []
        if self._procs.get("slurmctld") and self._procs["slurmctld"].poll() is None:
            try:
                self.cancel_all(timeout=timeout / 2)
            except (SlurmUnavailable, subprocess.SubprocessError, OSError) as exc:
                problems.append(str(exc))
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.run("scontrol", "shutdown", check=False, timeout=10)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if name == "munged":  # munged has no shutdown command: SIGTERM is its normal stop
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            if proc.poll() is None:
                _end_pids([proc.pid])
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        _end_pids(self._job_processes())
        self.deactivate()
        if os.environ.get("GDBTOOLS_SLURM_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
        self._unlock(remove=True)
        if problems:
            raise SlurmUnavailable("stopping the test SLURM: " + "; ".join(problems))

    # ------------------------------------------------------------------ environment
    def environ(self) -> dict[str, str]:
        """``os.environ`` plus ``SLURM_CONF`` pointing at this instance (for subprocesses)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def activate(self) -> None:
        """Point this process's SLURM clients (and what it spawns, e.g. dask-jobqueue's sbatch) here."""
        if self._saved_env is None:
            self._saved_env = {"SLURM_CONF": os.environ.get("SLURM_CONF")}
        os.environ["SLURM_CONF"] = str(self.conf)

    def deactivate(self) -> None:
        if self._saved_env is None:
            return
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = None

    # ------------------------------------------------------------------ client helpers
    def run(self, *cmd: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this instance; stdout and stderr are captured as text."""
        proc = subprocess.run(list(cmd), env=self.environ(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    def sbatch(self, script: str | os.PathLike, *options: str, args: tuple | list = ()) -> int:
        """Submit a job and return its id: ``script`` is a script's text (starting with ``#!``) or a path,
        ``options`` go to ``sbatch`` and ``args`` to the script."""
        if isinstance(script, str) and script.startswith("#!"):
            cmd, stdin = ["sbatch", "--parsable", *options], script
        else:
            cmd, stdin = ["sbatch", "--parsable", *options, os.fspath(script), *map(str, args)], None
        proc = subprocess.run(cmd, input=stdin, env=self.environ(), capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return int(proc.stdout.strip().split(";")[0])

    def queue(self) -> list[tuple[int, str]]:
        """Jobs in the queue (pending, running, completing...) as ``(job id, state)``; array tasks included."""
        out = self.run("squeue", "--noheader", "--array", "--format=%A %T").stdout
        return [(int(job), state) for job, state in (line.split() for line in out.splitlines() if line.strip())]

    def job_state(self, job_id: int) -> tuple[str, str]:
        """``(state, exit code)`` of a job the controller still remembers, e.g. ``("COMPLETED", "0:0")``."""
        out = self.run("scontrol", "--oneliner", "show", "job", str(job_id), check=False).stdout
        state = re.search(r"JobState=(\S+)", out)
        code = re.search(r"\bExitCode=(\S+)", out)
        return (state.group(1) if state else "UNKNOWN", code.group(1) if code else "")

    def wait_for_job(self, job_id: int, states=("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                                                "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"),
                     timeout: float = 60.0) -> str:
        """Wait until the job reaches one of ``states`` (default: any final state) and return that state."""
        deadline = time.monotonic() + timeout
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            state, _ = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.25)
        detail = self.run("scontrol", "--oneliner", "show", "job", str(job_id), check=False).stdout
        reason = re.search(r"\bReason=(\S+)", detail)
        raise TimeoutError(f"job {job_id} is {state} (reason {reason.group(1) if reason else '?'}) after "
                           f"{timeout:.0f}s, waiting for one of {states}; node {self.node_state()}\n"
                           f"  slurmctld.log:\n{_tail(self.log_dir / 'slurmctld.log')}\n"
                           f"  slurmd.log:\n{_tail(self.log_dir / 'slurmd.log')}")

    def cancel_all(self, timeout: float = 30.0) -> None:
        """``scancel`` every job and wait until ``squeue`` is empty (completing jobs included)."""
        deadline = time.monotonic() + timeout
        jobs = self.queue()
        while jobs:
            self.run("scancel", *sorted({str(job) for job, _ in jobs}), check=False)
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"jobs still in the queue after {timeout:.0f}s: {jobs}")
            time.sleep(0.5)
            jobs = self.queue()

    def node_state(self) -> str:
        out = self.run("sinfo", "--noheader", "--Node", "--format=%t", check=False).stdout.split()
        return out[0] if out else "unknown"

    # ------------------------------------------------------------------ internals
    def _check_paths(self) -> None:
        # slurmstepd's socket: <spool>/slurmd-<host>/<host>_<job id>.<step id>, at most 107 bytes
        longest = len(str(self.root / "spool" / f"slurmd-{self.hostname}")) + len(self.hostname) + 23
        if longest > 107 or len(str(self.munge_socket)) > 107:
            raise SlurmUnavailable(f"{self.root} is too long a path for SLURM's and munge's unix sockets "
                                   "(107 bytes); set GDBTOOLS_SLURM_ROOT to a shorter directory")

    def _check_installed(self) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("the test SLURM runs its daemons (and jobs) as root; run the tests as root "
                                   "(CI does)")
        missing = [name for name in DAEMONS + CLIENTS + ("munge", "unmunge") if _which(name) is None]
        if missing:
            raise SlurmUnavailable(f"SLURM/munge programs not found: {', '.join(missing)}; "
                                   f"install them with `{APT_LINE}` (Debian/Ubuntu, as root)")

    def _lock(self) -> None:
        lock = self.root.with_name(self.root.name + ".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SlurmUnavailable(f"another live test session holds {lock}: its SLURM in {self.root} is in "
                                   "use; set GDBTOOLS_SLURM_ROOT to another directory to run side by side") from None
        self._lock_fd = fd

    def _unlock(self, remove: bool = False) -> None:
        if self._lock_fd is not None:
            if remove:
                with contextlib.suppress(OSError):
                    self.root.with_name(self.root.name + ".lock").unlink()
            os.close(self._lock_fd)
            self._lock_fd = None

    def _job_processes(self) -> list[int]:
        """Processes of jobs run by this instance (slurmstepd and job steps carry its ``SLURM_CONF``)."""
        conf, mine, found = str(self.conf), _ancestors(), []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            env = _environ(int(entry.name))
            if env.get("SLURM_CONF") != conf:
                continue
            if "SLURM_JOB_ID" in env or _cmdline(int(entry.name)).startswith("slurmstepd"):
                found.append(int(entry.name))
        return found

    def _clean_stale(self) -> None:
        """End the daemons and jobs of an earlier instance in ``root`` that was never stopped, then wipe it."""
        pid_file = self.root / "pids.json"
        if pid_file.exists():
            try:
                pids = json.loads(pid_file.read_text())
            except (OSError, ValueError):
                pids = {}
            stale = [pid for pid in pids.values() if str(self.root) in _cmdline(int(pid))]
            _end_pids(stale + self._job_processes())
        elif self.root.exists():
            _end_pids(self._job_processes())
        shutil.rmtree(self.root, ignore_errors=True)
        for sub in ("etc", "log", "munge", "state", "spool", "run", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # jobs (any user) read slurm.conf through here
        os.chmod(self.root / "munge", 0o755)
        os.chmod(self.root / "jobs", 0o1777)

    def _node_line(self) -> str:
        out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("NodeName=")), None)
        if out.returncode != 0 or line is None:
            raise SlurmUnavailable(f"`slurmd -C` failed (exit {out.returncode}): {out.stderr.strip()}")
        fields = dict(item.split("=", 1) for item in line.split())
        keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
        self.node = {key: fields[key] for key in keep if key in fields}
        # leave some memory to the OS and the test process, and never ask for less than 1 GiB
        mem = int(self.node.get("RealMemory", "1024"))
        self.node["RealMemory"] = str(max(1024, mem - min(1024, mem // 10)))
        return " ".join(f"{key}={value}" for key, value in self.node.items())

    def _write_config(self) -> None:
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = _free_port()
        r, host = self.root, self.hostname
        self.conf.write_text(f"""\
# generated by tests/slurm_env.py for a throw-away single-node test SLURM
ClusterName=gdbtools-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/slurmd-%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
ScronParameters=enable
NodeName={host} NodeAddr=127.0.0.1 {self._node_line()} State=UNKNOWN
PartitionName={self.partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        os.chmod(self.conf, 0o644)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.stdout", "ab")
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.environ(), cwd=self.root, start_new_session=True)
        finally:
            log.close()
        self._procs[name] = proc
        pids = {key: p.pid for key, p in self._procs.items()}
        (self.root / "pids.json").write_text(json.dumps(pids))
        return proc

    def _failure(self, what: str) -> SlurmUnavailable:
        logs = "\n".join(f"  {p.name}:\n{_tail(p)}" for p in sorted(self.log_dir.glob("*")))
        exited = ", ".join(f"{name} exited with {p.returncode}" for name, p in self._procs.items()
                           if p.poll() is not None)
        return SlurmUnavailable(f"{what}{' (' + exited + ')' if exited else ''}; instance in {self.root}\n"
                                f"{logs}")

    def _wait(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if any(p.poll() is not None for p in self._procs.values()):
                break
            time.sleep(0.2)
        raise self._failure(f"test SLURM: {what} did not happen within {timeout:.0f}s")

    def _start_munged(self, timeout: float) -> None:
        key = self.root / "munge" / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        self._spawn("munged", [
            _which("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
            f"--key-file={key}", f"--pid-file={self.root / 'run' / 'munged.pid'}",
            f"--log-file={self.log_dir / 'munged.log'}", f"--seed-file={self.root / 'munge' / 'munged.seed'}",
        ])

        def ready() -> bool:
            if not self.munge_socket.exists():
                return False
            cred = subprocess.run([_which("munge"), "-n", "-S", str(self.munge_socket)], capture_output=True)
            if cred.returncode != 0:
                return False
            check = subprocess.run([_which("unmunge"), "-S", str(self.munge_socket)], input=cred.stdout,
                                   capture_output=True)
            return check.returncode == 0

        self._wait("munged answering on its socket", ready, timeout)

    def _start_slurm(self, timeout: float) -> None:
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-c", "-i", "-f", str(self.conf)])

        def ctld_up() -> bool:
            return self.run("scontrol", "ping", check=False, timeout=10).stdout.count("UP") > 0

        self._wait("slurmctld answering `scontrol ping`", ctld_up, timeout)
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.hostname, "-f", str(self.conf)])
        deadline = time.monotonic() + timeout
        resumed = False

        def idle() -> bool:
            nonlocal resumed
            state = self.node_state().rstrip("*~#!%$@^-")
            if state in {"drain", "drng", "down", "fail"} and not resumed and time.monotonic() < deadline - 5:
                self.run("scontrol", "update", f"NodeName={self.hostname}", "State=RESUME", check=False)
                resumed = True
            return state == "idle"

        try:
            self._wait("node becoming idle in sinfo", idle, timeout)
        except SlurmUnavailable as exc:
            reason = self.run("sinfo", "--noheader", "--list-reasons", check=False).stdout.strip()
            raise SlurmUnavailable(f"{exc}\n  node state: {self.node_state()}; reason: {reason or '-'}") from None


def _main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "status"
    root = default_root()
    if action == "up":
        env = SlurmEnv.start(root)
        env._unlock()  # the daemons keep running after this process exits; `down` stops them
        print(f"export SLURM_CONF={env.conf}")
        return 0
    if action == "down":
        env = SlurmEnv(root)
        env._lock()
        env._clean_stale()
        shutil.rmtree(root, ignore_errors=True)
        env._unlock(remove=True)
        return 0
    print(f"{root}: {'present' if root.exists() else 'absent'}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
