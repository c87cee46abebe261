"""Building the kernels: nvcc/NVRTC cubins for sm_80 and sm_90, the host library, its cache, the seam."""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess

import numpy as np
import pytest
from backend_oracles import (
    CI,
    decode_group_counts,
    decode_sample_counts,
    decode_weight_sums,
    random_cohort,
    random_masks,
)

import gdbtools.backend
from gdbtools.backend import get_backend, kernels, twins
from gdbtools.backend.cupy_backend import gpu_available
from gdbtools.backend.host_backend import HostBackend
from gdbtools.errors import BackendError

ARCHS = ["sm_80", "sm_90"]


def _nvrtc():
    """cupy's NVRTC binding if libnvrtc loads here, else None."""
    try:
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
        return nvrtc
    except Exception:
        return None


def _nvrtc_compile(nvrtc, file_name: str, arch: str) -> bytes:
    """Compile like the CuPy backend does (inlined source, name expressions) to a cubin for `arch`."""
    prog = nvrtc.createProgram(kernels.device_source(file_name), file_name, [], [])
    try:
        for name in kernels.NAME_EXPRESSIONS[file_name]:
            nvrtc.addNameExpression(prog, name)
        try:
            nvrtc.compileProgram(prog, [*kernels.DEVICE_OPTIONS, f"-arch={arch}"])
        except Exception as exc:
            raise AssertionError(f"NVRTC failed on {file_name} for {arch}:\n{nvrtc.getProgramLog(prog)}") from exc
        for name in kernels.NAME_EXPRESSIONS[file_name]:
            assert nvrtc.getLoweredName(prog, name)
        return nvrtc.getCUBIN(prog)
    finally:
        nvrtc.destroyProgram(prog)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("file_name", kernels.KERNEL_FILES)
def test_kernels__compile_to_cubin_without_warnings_or_spills(file_name, arch, tmp_path):
    nvcc = kernels.find_nvcc()
    if nvcc is not None:
        out = tmp_path / f"{file_name}.{arch}.cubin"
        proc = kernels.nvcc_compile(file_name, arch, out, nvcc=nvcc)
        assert proc.returncode == 0, f"nvcc {file_name} {arch}:\n{proc.stderr}"
        assert out.stat().st_size > 0
        return
    nvrtc = _nvrtc()
    if nvrtc is None:
        message = "no device compiler: neither nvcc nor libnvrtc found"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    assert len(_nvrtc_compile(nvrtc, file_name, arch)) > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_kernels__nvrtc_with_name_expressions(arch):
    nvrtc = _nvrtc()
    if nvrtc is None:
        pytest.skip("libnvrtc not found (the nvcc compile check still ran)")
    for file_name in kernels.KERNEL_FILES:
        assert len(_nvrtc_compile(nvrtc, file_name, arch)) > 0


def test_kernels__device_source_inlines_headers():
    src = kernels.device_source("sample_counts.cu")
    assert '#include "gdb_device.cuh"' not in src
    assert "flush_sliced" in src and "vertical_add" in src
    assert src.count("#define GDB_DEVICE_CUH") == 1


def test_kernel_dir__found_relative_to_the_package():
    d = kernels.kernel_dir()
    assert (d / "gdb_device.cuh").is_file()
    assert all((d / f).is_file() for f in kernels.KERNEL_FILES)


def _flags() -> frozenset[str]:
    return kernels._cpu_flags()


_LEVEL_NEEDS = {"x86-64": set(), "x86-64-v2": {"sse4_2", "popcnt"}, "x86-64-v3": {"avx2", "bmi2", "fma"},
                "x86-64-v4": {"avx512f", "avx512bw", "avx512vl"}}


@pytest.mark.parametrize("level", list(_LEVEL_NEEDS))
def test_host_build__every_isa_level_builds_warning_free_and_matches(level, tmp_path, monkeypatch, rng):
    """The host library for each psABI level (lanes of 4, 8 and 16 words), built with -Werror, against numpy."""
    cxx = kernels.find_cxx()
    if cxx is None:
        if CI:
            pytest.fail("no C++ compiler")
        pytest.skip("no C++ compiler")
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86-64 levels")
    monkeypatch.setenv("GDBTOOLS_HOST_ISA", level)
    lib = tmp_path / "lib.so"
    proc = subprocess.run(kernels.host_build_command(cxx, lib, extra=("-Werror",)), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    if not _LEVEL_NEEDS[level] <= _flags():
        pytest.skip(f"this CPU cannot run {level}")
    be = HostBackend(n_threads=2, library_path=lib)
    n = 333  # 11 words: partial lanes for every lane width
    lo, hi, fail = random_cohort(rng, 300, n)
    masks = random_masks(rng, 5, n)
    np.testing.assert_array_equal(be.variant_group_counts(lo, hi, masks, fail),
                                  decode_group_counts(lo, hi, masks, n, fail))
    var_class = rng.integers(0, 3, size=300).astype(np.uint8)
    out = np.zeros((n, 3, 3), np.int64)
    be.sample_class_counts(lo, hi, var_class, 3, out, fail, n_samples=n)
    np.testing.assert_array_equal(out, decode_sample_counts(lo, hi, var_class, 3, n, fail))
    wfix = rng.integers(0, 2**32, size=300, dtype=np.int64)
    np.testing.assert_array_equal(be.missing_weight_sums(lo, hi, wfix, np.zeros(n, np.int64), fail),
                                  decode_weight_sums(lo, hi, wfix, n, fail))
    het, hom1, hom2 = rng.integers(0, 3000, size=(3, 500))
    for got, want in zip(be.hwe_exact(het, hom1, hom2), twins.hwe_exact(het, hom1, hom2)):
        np.testing.assert_array_equal(got, want)


def test_host_build__cached_and_rebuilt_when_a_source_changes(tmp_path, monkeypatch):
    if kernels.find_cxx() is None:
        if CI:
            pytest.fail("no C++ compiler")
        pytest.skip("no C++ compiler")
    src = tmp_path / "kernels"
    shutil.copytree(kernels.kernel_dir(), src)
    monkeypatch.setenv("GDBTOOLS_KERNELS", str(src))
    monkeypatch.setenv("GDBTOOLS_CACHE", str(tmp_path / "cache"))
    first = kernels.build_host_library()
    assert first.is_relative_to(tmp_path / "cache") and first.is_file()
    mtime = first.stat().st_mtime_ns
    assert kernels.build_host_library() == first and first.stat().st_mtime_ns == mtime  # cached
    with open(src / "gdb_device.cuh", "a") as f:
        f.write("\n// changed\n")
    second = kernels.build_host_library()
    assert second != first and second.is_file()


def test_host_build__no_compiler_is_a_backend_error(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BackendError, match="no C\\+\\+ compiler") as info:
        kernels.build_host_library()
    assert info.value.fix


def test_host_build__isa_override_is_checked(monkeypatch):
    monkeypatch.setenv("GDBTOOLS_HOST_ISA", "native")
    with pytest.raises(BackendError, match="not a known level"):
        kernels.host_isa()
    monkeypatch.setenv("GDBTOOLS_HOST_ISA", "x86-64-v3")
    assert kernels.host_isa() == ("x86-64-v3", ("-march=x86-64-v3", "-mtune=generic"))


def test_host_build__never_native():
    assert not any("native" in flag for flag in kernels.host_isa()[1])


@pytest.mark.skipif(gpu_available(), reason="a GPU is present")
def test_get_backend__cupy_without_a_gpu_is_a_clear_backend_error():
    with pytest.raises(BackendError, match="no CUDA device|CuPy is not installed") as info:
        get_backend("cupy")
    assert "host" in info.value.fix


def test_get_backend__auto_prefers_gpu_then_host():
    be = get_backend("auto")
    if gpu_available():
        assert be.name == "cupy"
    elif kernels.find_cxx() is not None:
        assert be.name == "host"
    assert be is get_backend("auto")
    assert {"name", "xp"} <= set(dir(be))


def test_get_backend__unknown_name():
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("opencl")


def test_backend__doctests():
    failures, _ = doctest.testmod(gdbtools.backend, verbose=False)
    assert failures == 0


def test_host_build__cache_outside_package(tmp_path, monkeypatch):
    monkeypatch.delenv("GDBTOOLS_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kernels.cache_dir() == tmp_path / ".cache" / "gdbtools"
    assert not str(kernels.cache_dir()).startswith(os.path.dirname(gdbtools.backend.__file__))


@pytest.mark.skipif(gpu_available(), reason="a GPU is present")
def test_get_backend__require_gpu_turns_the_fallback_into_an_error(monkeypatch):
    monkeypatch.setenv("GDBTOOLS_REQUIRE_GPU", "1")
    with pytest.raises(BackendError, match="GDBTOOLS_REQUIRE_GPU") as info:
        get_backend("auto")
    assert "GPU node" in info.value.fix
    monkeypatch.setenv("GDBTOOLS_REQUIRE_GPU", "0")
    assert get_backend("auto").name in ("host", "numpy")
