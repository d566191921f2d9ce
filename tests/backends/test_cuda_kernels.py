"""Every CUDA kernel xpmlp launches compiles with NVRTC, for float32 and float64 and two GPU
architectures, on this machine without a GPU; a body with a typo fails to compile.

NVRTC comes from pip (``nvidia-cuda-nvrtc-cu12``), CuPy's headers and NVRTC binding from
``cupy-cuda12x``; neither needs a GPU or a driver.  The sources are what CuPy's
ElementwiseKernel generates (xpmlp.backends.cuda_kernels.cuda_source); their bodies also run, compiled
for the host, in tests/test_fastpaths.py.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from host_kernels import HostKernel, compiler

from xpmlp.backends.cuda_kernels import SPECS, ElementwiseSpec, cuda_source, host_source, parse_params

ARCHS = ("sm_80", "sm_90")  # A100, H100: cubin for each, as CuPy builds for the device it runs on


def nvrtc_compile(source: str, arch: str) -> bytes:
    """Compile CUDA source with NVRTC against CuPy's headers; return the cubin, or raise
    RuntimeError carrying NVRTC's log."""
    try:
        import cupy
        from cupy_backends.cuda.libs import nvrtc
    except ImportError as exc:  # pragma: no cover - CI installs both
        pytest.skip(f"NVRTC compile tests need cupy-cuda12x and nvidia-cuda-nvrtc-cu12 ({exc})")
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    try:
        prog = nvrtc.createProgram(source, "xpmlp_kernel.cu", [], [])
    except Exception as exc:  # pragma: no cover - libnvrtc missing
        pytest.skip(f"NVRTC is not loadable here: {exc}")
    try:
        # the headers and flags CuPy compiles its kernels with (-ftz: float32 subnormals flushed on the device)
        cccl = [f"-I{os.path.join(include, 'cupy', '_cccl', part)}" for part in ("libcudacxx", "thrust", "cub")]
        nvrtc.compileProgram(prog, [f"--gpu-architecture={arch}", f"-I{include}", *cccl, "--std=c++17",
                                    "-ftz=true", "--device-as-default-execution-space"])
    except nvrtc.NVRTCError as exc:
        raise RuntimeError(f"NVRTC: {exc}\n{nvrtc.getProgramLog(prog)}") from exc
    return nvrtc.getCUBIN(prog)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_kernel_compiles_with_nvrtc(name, dtype, arch):
    cubin = nvrtc_compile(cuda_source(SPECS[name], dtype), arch)
    assert cubin[:4] == b"\x7fELF" and SPECS[name].kernel_name.encode() in cubin


def test_a_typo_in_a_kernel_body_fails_to_compile():
    broken = dataclasses.replace(SPECS["sgd_update"], body="p -= (T)lr * gg")  # no such name
    with pytest.raises(RuntimeError, match='identifier "gg" is undefined'):
        nvrtc_compile(cuda_source(broken, "float32"), "sm_80")


def test_a_typo_fails_the_host_build_too():
    if compiler() is None:
        pytest.skip("no C++ compiler")
    broken = ElementwiseSpec("typo_kernel", "T g", "T d", "d = g +* 2")
    with pytest.raises(RuntimeError, match="host build of typo_kernel"):
        HostKernel(broken, "float64")


def test_sources_bind_inputs_const_and_outputs_by_reference():
    spec = SPECS["adam_update"]
    src = cuda_source(spec, "float32")
    assert "typedef float T;" in src and "const T &g = _raw_g[_ind.get()];" in src
    assert "T &p = _raw_p[_ind.get()];" in src and "const double lr" in src
    assert "CUPY_FOR(i, _ind.size())" in src
    host = host_source(spec, "float64")
    assert "typedef double T;" in host and "const T &g = _raw_g[i];" in host and "T &m = _raw_m[i];" in host
    assert parse_params(spec.in_params)[0] == ("T", "g")
    with pytest.raises(ValueError, match="not '<type> <name>'"):
        parse_params("T")
