"""Every CUDA kernel xpmlp launches compiles with NVRTC, as CuPy generates and compiles it, for
float32 and float64 and two GPU architectures (the activations' deltas also for float16 and
bfloat16, mixed precision's compute dtypes), on this machine without a GPU; a body with a typo
fails to compile; and CuPy's bindings are the ones the CuPy stand-in runs the bodies with.

NVRTC comes from pip (``nvidia-cuda-nvrtc-cu12``); CuPy's code generator, headers and NVRTC
binding from ``cupy-cuda12x``; neither needs a GPU or a driver.  The same bodies run, compiled for
the host by the CuPy stand-in, in ``tests/backends/test_fastpaths.py``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from cupy_codegen import cupy_options, cupy_source

from xpmlp.backends.cuda_kernels import SPECS, ElementwiseSpec

from standins import cupy_standin

ARCHS = ("sm_80", "sm_90")  # A100, H100: cubin for each, as CuPy builds for the device it runs on


def nvrtc_compile(source: str, arch: str) -> bytes:
    """Compile CUDA source with NVRTC and CuPy's options; the cubin, or RuntimeError with NVRTC's log."""
    try:
        from cupy_backends.cuda.libs import nvrtc
    except ImportError as exc:  # pragma: no cover - CI installs it
        pytest.skip(f"NVRTC compile tests need cupy-cuda12x and nvidia-cuda-nvrtc-cu12 ({exc})")
    try:
        prog = nvrtc.createProgram(source, "xpmlp_kernel.cu", [], [])
    except Exception as exc:  # pragma: no cover - libnvrtc missing
        pytest.skip(f"NVRTC is not loadable here: {exc}")
    try:
        nvrtc.compileProgram(prog, cupy_options(arch))
    except nvrtc.NVRTCError as exc:
        raise RuntimeError(f"NVRTC: {exc}\n{nvrtc.getProgramLog(prog)}") from exc
    return nvrtc.getCUBIN(prog)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_kernel_compiles_with_nvrtc(name, dtype, arch):
    cubin = nvrtc_compile(cupy_source(SPECS[name], dtype), arch)
    assert cubin[:4] == b"\x7fELF" and SPECS[name].kernel_name.encode() in cubin


#: The kernels the mixed-precision step runs in its compute dtype (the activations' deltas); the
#: updates run on the float32 master weights.
COMPUTE_DTYPE_KERNELS = ("logistic_delta", "relu_delta", "tanh_delta")


def compile_bfloat16(spec: ElementwiseSpec) -> bytes:
    """:func:`nvrtc_compile` of ``spec`` for bfloat16 on sm_80; a skip where no CUDA toolkit's
    ``cuda_bf16.h`` is found (CuPy's ``bfloat16.cuh`` includes it; this machine's image has CUDA's)."""
    try:
        return nvrtc_compile(cupy_source(spec, "bfloat16"), "sm_80")
    except RuntimeError as exc:
        if 'cannot open source file "cuda_bf16.h"' in str(exc):  # pragma: no cover - a machine without CUDA
            pytest.skip("CuPy's bfloat16 needs CUDA's cuda_bf16.h, which CuPy finds in no include folder here")
        raise


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", COMPUTE_DTYPE_KERNELS)
def test_the_mixed_precision_kernels_compile_in_the_compute_dtypes(name, dtype):
    """CuPy's float16 (``cupy/float16.cuh``) and bfloat16 (``cupy/bfloat16.cuh`` over ``cuda_bf16.h``:
    CuPy 14 with ml_dtypes) as the kernels' T."""
    if dtype == "bfloat16":
        pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes")
    source = cupy_source(SPECS[name], dtype)
    assert dtype != "bfloat16" or "cupy/bfloat16.cuh" in source
    cubin = compile_bfloat16(SPECS[name]) if dtype == "bfloat16" else nvrtc_compile(source, "sm_80")
    assert SPECS[name].kernel_name.encode() in cubin


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_stand_in_builds_a_bfloat16_kernel_where_nvrtc_compiles_it(name):
    """CuPy's bfloat16 lacks compound assignment from float (``y += (T)a * x``): the stand-in's host
    type fails the same kernels, so a bfloat16 path that passes on the stand-in compiles on a GPU."""
    bf16 = np.dtype(pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes").bfloat16)
    spec = SPECS[name]
    try:
        compile_bfloat16(spec)
        compiles = True
    except RuntimeError:
        compiles = False
    with cupy_standin() as cupy:
        from cupy._elementwise import ElementwiseKernel, _library

        try:
            _library(ElementwiseKernel(spec.in_params, spec.out_params, spec.body, spec.kernel_name), {"T": bf16})
            builds = True
        except RuntimeError:
            builds = False
    assert builds == compiles
    assert compiles == (name in COMPUTE_DTYPE_KERNELS)


def test_a_typo_in_a_kernel_body_fails_to_compile():
    broken = dataclasses.replace(SPECS["sgd_update"], body="p -= (T)lr * gg")  # no such name
    with pytest.raises(RuntimeError, match='identifier "gg" is undefined'):
        nvrtc_compile(cupy_source(broken, "float32"), "sm_80")


def test_a_typo_fails_the_host_build_too():
    with cupy_standin() as cupy:
        kernel = cupy.ElementwiseKernel("T g", "T d", "d = g +* 2", "typo_kernel")
        with pytest.raises(RuntimeError, match="host build of typo_kernel"):
            kernel(cupy.ones(3))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_stand_in_binds_arguments_as_cupys_generated_code_does(name):
    """CuPy binds each array element by reference (``const`` for inputs) and passes scalars by value,
    with their declared types: the stand-in's host loop must do the same for its runs to mean anything."""
    spec = SPECS[name]
    generated = cupy_source(spec, "float64")
    cupy_bindings = re.findall(r"(const )?T &(\w+) = _raw_\w+\[_ind\.get\(\)\];", generated)
    cupy_scalars = re.findall(r"const (double|float|int|long long) (\w+)[,)]", generated)
    with cupy_standin():
        from cupy._elementwise import ElementwiseKernel, host_source

        host = host_source(ElementwiseKernel(spec.in_params, spec.out_params, spec.body, spec.kernel_name),
                           {"T": np.dtype("float64")})
    assert re.findall(r"(const )?T &(\w+) = _raw_\w+\[i\];", host) == cupy_bindings
    assert re.findall(r"const (double|float|int|long long) (\w+)[,)]", host) == cupy_scalars
    assert spec.body in generated and spec.body in host
