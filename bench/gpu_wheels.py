"""The wheels a GPU node may lack for ``scripts/gpu-check``, fetched beforehand on a machine with a registry.

    python bench/gpu_wheels.py prepare [--dir .gpu-wheels] [--python 3.12 ...] [--cuda 13] [--groups store nvcomp]
    python bench/gpu_wheels.py missing [--dir .gpu-wheels]     # on the node: the wheel files to install

A GPU node of this project reaches no package registry and runs its image's own Python, NumPy and CuPy.
``prepare`` downloads (``pip download --no-deps``, binary wheels for manylinux x86-64 CPython) the packages
the check imports that such an image usually lacks; ``missing`` lists, for the running interpreter, the
wheels of the modules that do not import, which ``scripts/gpu-check`` then installs with
``pip install --no-index --no-deps --target`` into a temporary folder (the image's packages stay untouched).

The set is minimal on purpose (the working tree plus the wheels must stay under 64 MiB): CuPy, NumPy, pandas,
pyarrow, numba, SciPy and pytest come from the image (a GPU image has them).  Three groups (``--groups``):
``store`` (``zstandard``), ``dask`` (the local-cuda Dask pass: dask, distributed and their small pure-Python
dependencies, dask-cuda with RMM; ~14 MiB) and ``nvcomp`` (GPU decoding of the blocks: ``nvidia-nvcomp-cu*``
and its ``nvidia-libnvcomp-cu*``; ~48 MiB).  All three come to about 63 MiB for one CPython: where the working
tree and the wheels must fit in 64 MiB, prepare ``store nvcomp`` (the check then skips the Dask pass) or
``store dask`` (the pass then decodes on the host, and the check says so).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

__all__ = ["WHEELS", "missing_wheels", "prepare"]

# (module imported by the check, pip requirement, whether the wheel is specific to the CPython version, group);
# "{cu}" is the CUDA major version (12 or 13). dask/distributed are pinned with dask-cuda 26.10 (pyproject).
WHEELS = (
    ("zstandard", "zstandard>=0.22", True, "store"),
    ("dask", "dask==2026.7.1", False, "dask"),
    ("distributed", "distributed==2026.7.1", False, "dask"),
    ("tornado", "tornado>=6.2", False, "dask"),  # abi3: one wheel for every CPython >= 3.9
    ("tblib", "tblib>=1.6", False, "dask"),
    ("zict", "zict>=3", False, "dask"),
    ("partd", "partd>=1.4", False, "dask"),
    ("locket", "locket>=1", False, "dask"),
    ("dask_cuda", "dask-cuda==26.10.0", False, "dask"),
    ("rapids_dask_dependency", "rapids-dask-dependency==26.10.*", False, "dask"),
    ("rmm", "rmm-cu{cu}==26.10.*", False, "dask"),  # abi3
    ("rmm", "librmm-cu{cu}==26.10.*", False, "dask"),  # rmm's C++ library (no module of its own)
    ("rmm", "rapids-logger==0.3.*", False, "dask"),  # librmm's logger
    ("nvidia.nvcomp", "nvidia-nvcomp-cu{cu}>=6.0,<7", False, "nvcomp"),  # one wheel: a module per CPython inside
    ("nvidia.nvcomp", "nvidia-libnvcomp-cu{cu}>=6.0,<7", False, "nvcomp"),  # the library itself (~44 MiB)
)
GROUPS = ("store", "dask", "nvcomp")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64")


def _project(requirement: str) -> str:
    for sep in ("==", ">=", "<", "["):
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower().replace("-", "_")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package is missing ("nvidia" for nvidia.nvcomp)
        return False


def prepare(folder: Path, pythons: list[str], cuda: int, groups=GROUPS) -> list[Path]:
    """Download the wheels of `groups` into `folder` for each CPython version in `pythons`; returns the wheel
    files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, py in enumerate(pythons):
        reqs = [req.format(cu=cuda) for _, req, per_python, group in WHEELS
                if group in groups and (per_python or i == 0)]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", py, "-d", str(folder)]
        for plat in PLATFORMS:
            cmd += ["--platform", plat]
        subprocess.run(cmd + reqs, check=True)
    return sorted(folder.glob("*.whl"))


def missing_wheels(folder: Path) -> tuple[list[str], list[Path]]:
    """The modules this interpreter cannot import, and the wheel files of `folder` that provide them."""
    missing = sorted({module for module, _, _, _ in WHEELS if not _importable(module)})
    wanted = {_project(req.format(cu=cu)) for module, req, _, _ in WHEELS if module in missing for cu in (12, 13)}
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    files = []
    for whl in sorted(folder.glob("*.whl")):
        name, _, rest = whl.name.partition("-")
        if name.lower() not in wanted:
            continue
        python_tag = rest.split("-")[-3] if rest.count("-") >= 3 else "py3"
        if python_tag.startswith("cp") and python_tag != tag and "abi3" not in whl.name:
            continue  # a compiled wheel for another CPython
        files.append(whl)
    return missing, files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["prepare", "missing"])
    ap.add_argument("--dir", type=Path, default=Path(".gpu-wheels"))
    ap.add_argument("--python", nargs="+", default=["3.12"],
                    help="CPython versions of the node (default 3.12, the H200 image's; 3.10 3.11 3.12 for any)")
    ap.add_argument("--cuda", type=int, choices=[12, 13], default=13, help="CUDA major version of the node's CuPy")
    ap.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS),
                    help="which wheels: store (zstandard), dask (the Dask pass), nvcomp (GPU decoding); default all")
    args = ap.parse_args(argv)
    if args.action == "prepare":
        files = prepare(args.dir, args.python, args.cuda, args.groups)
        total = sum(f.stat().st_size for f in files)
        for f in files:
            print(f"{f.stat().st_size / 2**20:7.2f} MiB  {f.name}")
        print(f"{total / 2**20:7.2f} MiB in {len(files)} wheels under {args.dir}/ (carry it to the node)")
        if total > 60 * 2**20:
            print("note: with the working tree this may pass 64 MiB; --groups store nvcomp (no Dask pass) or "
                  "--groups store dask (host decoding) make it smaller")
        return 0
    missing, files = missing_wheels(args.dir)
    print(" ".join(missing))
    print(" ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
