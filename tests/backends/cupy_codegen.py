"""Test helper: the CUDA source CuPy itself generates for an ``ElementwiseKernel`` call, without a GPU.

CuPy builds a kernel's source at its first call from the parameter lists, the body and the
arguments' types (``cupy._core._kernel._get_elementwise_kernel_code``), prepends its headers and
compiles it with NVRTC using its own options.  :func:`cupy_source` runs that code generator for
contiguous 1-D arrays (what xpmlp's kernels get) and :func:`cupy_options` gives CuPy's options;
neither needs a device.  Both use CuPy's private API (13.0-14.x): a CuPy that changes it fails
these tests, which is how a drift between xpmlp's expectations and CuPy's kernels shows.
"""

from __future__ import annotations

import numpy as np

from xpmlp.backends.cuda_kernels import ElementwiseSpec

ARG_NDARRAY, ARG_INDEXER, ARG_SCALAR = 1, 2, 3  # cupy/_core/_kernel.pxd: _ArgKind


def cupy_source(spec: ElementwiseSpec, dtype: str) -> str:
    """CuPy's source for ``spec`` on contiguous 1-D ``dtype`` arrays, with the headers it prepends."""
    import cupy
    from cupy._core import _carray, _kernel, _scalar
    from cupy._core.core import _cupy_header_list

    ins = _kernel._get_param_info(spec.in_params, True)
    outs = _kernel._get_param_info(spec.out_params, False)
    params = ins + outs + _kernel._get_param_info("CIndexer _ind", False)
    arrays = np.dtype(dtype)
    in_types, out_types, type_map = _kernel._decide_params_type(
        ins, outs, tuple(arrays if p.dtype is None else None for p in ins), tuple(arrays for _ in outs))
    arginfos = [_kernel._ArgInfo(ARG_NDARRAY, cupy.ndarray, np.dtype(t), 1, True, True) if p.dtype is None else
                _kernel._ArgInfo(ARG_SCALAR, _scalar.CScalar, np.dtype(t), 0, True, True)
                for p, t in zip(ins + outs, in_types + out_types)]
    arginfos.append(_kernel._ArgInfo(ARG_INDEXER, _carray.Indexer, None, 1, True, True))
    code = _kernel._get_elementwise_kernel_code(tuple(arginfos), type_map, params, spec.body, spec.kernel_name, "")
    return "".join(f"#include <{h}>\n" for h in _cupy_header_list) + code


def cupy_options(arch: str) -> list[str]:
    """The NVRTC options CuPy compiles its kernels with (its include folders, ``--std``, ``-ftz``,
    the device as default execution space) for ``arch``."""
    from cupy._core.core import assemble_cupy_compiler_options

    return [*assemble_cupy_compiler_options(()), "-ftz=true", "--device-as-default-execution-space",
            f"--gpu-architecture={arch}"]
