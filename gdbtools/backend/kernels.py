"""Where the CUDA kernel sources are, and how they are built: host C++ shared library, NVRTC, nvcc.

The sources live in the repository's top-level ``kernels/`` directory (``*.cu`` kernels, ``gdb_device.cuh``
device helpers, ``host_shim.h``).  Each ``.cu`` compiles three ways:

- as host C++ (``g++ -O3``, OpenMP) into one shared library, loaded with :mod:`ctypes` by the ``"host"``
  backend.  The build is cached under ``$GDBTOOLS_CACHE/host-kernels/<key>/`` (default
  ``~/.cache/gdbtools``), never inside the package or a store, and rebuilt when the key changes: a hash of
  the sources, the compiler's version and the flags.  The instruction set is a portable x86-64 psABI level
  (``x86-64-v2``/``-v3``/``-v4``, plus ``-mavx512vpopcntdq`` when the CPU has it) detected from the CPU
  and part of the key, never ``-march=native``; ``$GDBTOOLS_HOST_ISA`` overrides it (e.g. ``x86-64-v3`` on
  a cluster of mixed nodes, or ``generic``).
- with NVRTC through :class:`cupy.RawModule` (``"cupy"`` backend), to cubin for the running device;
- with ``nvcc -cubin`` for ``sm_80``/``sm_90`` (the compile check of the test suite).

For NVRTC the local ``#include "..."`` lines are inlined (:func:`device_source`), so CuPy's kernel cache,
which hashes the source text, sees every change of a header.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from gdbtools.errors import BackendError

__all__ = [
    "KERNEL_FILES",
    "NAME_EXPRESSIONS",
    "kernel_dir",
    "kernel_sources",
    "device_source",
    "cache_dir",
    "find_cxx",
    "host_isa",
    "host_lane_words",
    "host_build_command",
    "build_host_library",
    "find_nvcc",
    "nvcc_compile",
]

# The kernel files and the template instantiations the CuPy backend asks NVRTC for (single source of truth,
# also used by the nvcc compile check).
KERNEL_FILES = ("variant_counts.cu", "sample_counts.cu", "hwe.cu", "weight_sums.cu", "dosages.cu")
NAME_EXPRESSIONS = {
    "variant_counts.cu": ("gdb::variant_group_counts<false>", "gdb::variant_group_counts<true>"),
    "sample_counts.cu": ("gdb::sample_class_counts<false>", "gdb::sample_class_counts<true>"),
    "hwe.cu": ("gdb::hwe_exact",),
    "weight_sums.cu": ("gdb::missing_weight_sums<false>", "gdb::missing_weight_sums<true>"),
    "dosages.cu": ("gdb::dosages<false>", "gdb::dosages<true>"),
}
HEADER_FILES = ("gdb_device.cuh", "host_shim.h", "sparse_host.h", "hwe_x.h", "fisher.h")  # the last three host only

# Options every device compile uses: no FMA contraction, so the HWE test is bit-identical to the host build.
DEVICE_OPTIONS = ("-std=c++17", "--fmad=false")

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.MULTILINE)


def kernel_dir() -> Path:
    """The directory holding the kernel sources.

    ``$GDBTOOLS_KERNELS`` if set; else the repository's ``kernels/`` next to the package (a checkout or an
    editable install); else ``<prefix>/share/gdbtools/kernels``, where a wheel installs them as data files.
    """
    env = os.environ.get("GDBTOOLS_KERNELS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "kernels")
    for scheme in dict.fromkeys([sysconfig.get_default_scheme(), f"{os.name}_user"]):
        try:
            candidates.append(Path(sysconfig.get_path("data", scheme)) / "share" / "gdbtools" / "kernels")
        except KeyError:
            pass
    for path in candidates:
        if (path / KERNEL_FILES[0]).is_file():
            return path
    raise BackendError(
        "the CUDA kernel sources were not found (looked in " + ", ".join(map(str, candidates)) + ")",
        fix="run from a gdbtools checkout or an installation that ships kernels/, or set GDBTOOLS_KERNELS",
    )


def kernel_sources() -> dict[str, str]:
    """Every kernel and header source by file name."""
    d = kernel_dir()
    return {name: (d / name).read_text() for name in KERNEL_FILES + HEADER_FILES}


def device_source(file_name: str) -> str:
    """The source of one ``.cu`` file with its local ``#include "..."`` lines inlined (each file once)."""
    d = kernel_dir()
    seen: set[str] = set()

    def expand(name: str) -> str:
        if name in seen:
            return ""
        seen.add(name)
        text = (d / name).read_text()
        return _INCLUDE.sub(lambda m: expand(m.group(1)) if (d / m.group(1)).is_file() else m.group(0), text)

    return expand(file_name)


def cache_dir() -> Path:
    """``$GDBTOOLS_CACHE`` or ``~/.cache/gdbtools``."""
    env = os.environ.get("GDBTOOLS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gdbtools"


def find_cxx() -> str | None:
    """The host C++ compiler: ``$CXX``, else ``g++``, ``c++`` or ``clang++`` on the PATH (``None`` if none)."""
    for name in ([os.environ["CXX"]] if os.environ.get("CXX") else []) + ["g++", "c++", "clang++"]:
        path = shutil.which(name)
        if path:
            return path
    return None


@functools.cache
def _compiler_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_X86_LEVELS = (
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
    ("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def host_isa() -> tuple[str, tuple[str, ...]]:
    """The instruction-set level the host library is built for: ``(name, compiler flags)``.

    A psABI level every CPU of that level runs (not ``-march=native``); ``$GDBTOOLS_HOST_ISA`` may force one of
    ``x86-64-v4``, ``x86-64-v3``, ``x86-64-v2``, ``x86-64`` or ``generic`` (no ``-march``).
    """
    forced = os.environ.get("GDBTOOLS_HOST_ISA")
    if forced:
        if forced == "generic":
            return "generic", ()
        if forced not in {"x86-64", *(name for name, _ in _X86_LEVELS)}:
            raise BackendError(f"GDBTOOLS_HOST_ISA={forced!r} is not a known level",
                               fix="use x86-64-v4, x86-64-v3, x86-64-v2, x86-64 or generic")
        return forced, (f"-march={forced}", "-mtune=generic")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "generic", ()
    flags = _cpu_flags()
    for i, (name, _) in enumerate(_X86_LEVELS):
        if all(req <= flags for _, req in _X86_LEVELS[i:]):
            extra = ("-mavx512vpopcntdq",) if name == "x86-64-v4" and "avx512_vpopcntdq" in flags else ()
            return name + ("+vpopcntdq" if extra else ""), (f"-march={name}", "-mtune=generic", *extra)
    return "x86-64", ("-march=x86-64", "-mtune=generic")


def host_lane_words() -> int:
    """Words per SIMD lane of the host build (``GDB_HOST_LANE_WORDS`` in ``kernels/gdb_device.cuh``)."""
    name = host_isa()[0]
    return 16 if name.startswith("x86-64-v4") else 8 if name == "x86-64-v3" else 4


def host_build_command(cxx: str, output: str | os.PathLike, *, extra: tuple[str, ...] = ()) -> list[str]:
    """The compiler command that builds the host library from the kernel sources."""
    d = kernel_dir()
    return [cxx, "-std=c++17", "-O3", *host_isa()[1], "-fopenmp", "-fPIC", "-shared", "-ffp-contract=off",
            "-fno-math-errno", "-Wall", "-Wextra", *extra, "-x", "c++",
            *(str(d / name) for name in KERNEL_FILES), "-o", os.fspath(output)]


def _host_key(cxx: str) -> str:
    h = hashlib.sha256()
    h.update(_compiler_version(cxx).encode())
    h.update(" ".join(host_build_command("CXX", "OUT")[1:]).replace(str(kernel_dir()), "").encode())
    for name, text in sorted(kernel_sources().items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:20]


def build_host_library(*, force: bool = False) -> Path:
    """Build (or find in the cache) the host shared library and return its path.

    Raises
    ------
    BackendError
        When no C++ compiler is found or the build fails.
    """
    cxx = find_cxx()
    if cxx is None:
        raise BackendError("no C++ compiler found for the host kernels (looked for $CXX, g++, c++, clang++)",
                           fix="install one (Debian: apt-get install g++) or use get_backend('numpy')")
    isa = host_isa()[0]
    target_dir = cache_dir() / "host-kernels" / f"{isa}-{_host_key(cxx)}"
    target = target_dir / "libgdbkernels.so"
    if target.is_file() and not force:
        return target
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(f"cannot create the kernel cache directory: {exc}", file=target_dir,
                           fix="set GDBTOOLS_CACHE to a writable directory") from exc
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target_dir)
    os.close(fd)
    cmd = host_build_command(cxx, tmp)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise BackendError(
                "building the host kernels failed:\n" + (proc.stderr or proc.stdout)[-4000:],
                file=kernel_dir(), fix="check the compiler (g++ >= 9 with OpenMP) or use get_backend('numpy')")
        (target_dir / "build.log").write_text(" ".join(cmd) + "\n" + proc.stderr)
        os.replace(tmp, target)  # atomic: a concurrent build just replaces it with an identical file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def find_nvcc() -> str | None:
    """``nvcc`` from ``$CUDA_PATH/bin``, the PATH or ``/usr/local/cuda/bin`` (``None`` if none)."""
    candidates = []
    if os.environ.get("CUDA_PATH"):
        candidates.append(os.path.join(os.environ["CUDA_PATH"], "bin", "nvcc"))
    candidates += [shutil.which("nvcc") or "", "/usr/local/cuda/bin/nvcc"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def nvcc_compile(file_name: str, arch: str, output: str | os.PathLike, *, nvcc: str | None = None,
                 ) -> subprocess.CompletedProcess:
    """Compile one kernel file with every instantiation of :data:`NAME_EXPRESSIONS` to a cubin for `arch`.

    Warnings are errors, and so are register spills and local-memory use (``ptxas -warn-spills
    -warn-lmem-usage -Werror``).  Returns the finished process (check ``returncode``, ``stderr``).
    """
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise BackendError("nvcc was not found", fix="install the CUDA toolkit or set CUDA_PATH")
    with tempfile.TemporaryDirectory(prefix="gdb-nvcc-") as tmp:
        # the source exactly as NVRTC gets it (headers inlined), plus references that instantiate the templates
        (Path(tmp) / file_name).write_text(device_source(file_name))
        wrapper = Path(tmp) / ("check_" + file_name)
        refs = ", ".join(f"(void*)&{name}" for name in NAME_EXPRESSIONS[file_name])
        wrapper.write_text(f'#include "{file_name}"\nvoid* gdb_instantiate_{Path(file_name).stem}[] = {{{refs}}};\n')
        cmd = [nvcc, *DEVICE_OPTIONS, "-cubin", f"-arch={arch}", "-Werror", "all-warnings",
               "-Xptxas", "-warn-spills,-warn-lmem-usage,-Werror", str(wrapper), "-o", os.fspath(output)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600)
