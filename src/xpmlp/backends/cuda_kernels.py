"""CUDA elementwise kernels as data, and the source they compile to.

Every CuPy kernel xpmlp launches is declared here as an :class:`ElementwiseSpec`
(its parameters and its loop body, the strings ``cupy.ElementwiseKernel``
takes).  :mod:`xpmlp.backends.fastpaths` builds its kernels from these specs, and the
same strings are turned into

* :func:`cuda_source` -- the CUDA C++ translation unit CuPy 14's
  ``ElementwiseKernel`` generates for contiguous 1-D arguments (``typedef``
  for the type placeholder, ``const T&`` bindings for inputs, ``T&`` for
  outputs, scalars by value, a ``CUPY_FOR`` grid-stride loop over a
  ``CIndexer``), which the tests compile with NVRTC on a machine without a
  GPU (mirroring ``_get_elementwise_kernel_code`` in ``cupy/_core/_kernel.pyx``);
* :func:`host_source` -- the same body in a plain C++ loop with the same
  bindings, which the tests build with the system compiler and run on NumPy
  arrays against the generic Array API code.

Nothing here imports CuPy: a spec is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ElementwiseSpec", "SPECS", "cuda_source", "host_source", "parse_params"]

#: CuPy's names for scalar parameter types, and their C types.
SCALAR_CTYPES = {"float64": "double", "float32": "float", "int64": "long long", "int32": "int"}
#: The C type each float dtype gives the placeholder ``T``.
FLOAT_CTYPES = {"float32": "float", "float64": "double"}


@dataclass(frozen=True)
class ElementwiseSpec:
    """One elementwise kernel: ``cupy.ElementwiseKernel(in_params, out_params, body, "xpmlp_" + name)``.

    ``in_params``/``out_params`` are CuPy parameter lists (``"T g, float64 lr"``): ``T`` is the
    array type placeholder, other types are scalars.  Outputs may also be read (read-modify-write).
    """

    name: str
    in_params: str
    out_params: str
    body: str

    @property
    def kernel_name(self) -> str:
        return f"xpmlp_{self.name}"


def parse_params(params: str) -> list[tuple[str, str]]:
    """``"T g, float64 lr"`` -> ``[("T", "g"), ("float64", "lr")]``."""
    out = []
    for part in params.split(","):
        words = part.split()
        if len(words) != 2:
            raise ValueError(f"parameter {part.strip()!r} is not '<type> <name>'")
        out.append((words[0], words[1]))
    return out


def _ctype(type_name: str) -> str:
    if type_name == "T":
        return "T"
    if type_name not in SCALAR_CTYPES:
        raise ValueError(f"unknown parameter type {type_name!r}")
    return SCALAR_CTYPES[type_name]


def _signature_and_bindings(spec: ElementwiseSpec, array_param, index: str) -> tuple[list[str], list[str]]:
    """Kernel parameters and the per-element reference bindings, inputs then outputs."""
    params, bindings = [], []
    for is_input, plist in ((True, spec.in_params), (False, spec.out_params)):
        for type_name, name in parse_params(plist):
            const = "const " if is_input else ""
            if type_name == "T":
                params.append(f"{const}{array_param} _raw_{name}")
                bindings.append(f"{const}T &{name} = _raw_{name}[{index}];")
            else:
                params.append(f"{const}{_ctype(type_name)} {name}")
    return params, bindings


def cuda_source(spec: ElementwiseSpec, dtype: str) -> str:
    """The CUDA source CuPy's ``ElementwiseKernel`` builds for ``spec`` on contiguous 1-D arrays
    of ``dtype`` (``"float32"`` or ``"float64"``); include ``cupy/_core/include`` to compile it."""
    params, bindings = _signature_and_bindings(spec, "CArray<T, 1, true, true>", "_ind.get()")
    params.append("CIndexer<1, true> _ind")
    body = "\n    ".join([*bindings, spec.body + ";"])
    return (
        "#include <cupy/complex.cuh>\n#include <cupy/carray.cuh>\n#include <cupy/atomics.cuh>\n"
        "#include <cupy/math_constants.h>\n"
        f"typedef {FLOAT_CTYPES[dtype]} T;\n"
        f'extern "C" __global__ void {spec.kernel_name}({", ".join(params)}) {{\n'
        "  #pragma unroll 1\n"
        "  CUPY_FOR(i, _ind.size()) {\n"
        "    _ind.set(i);\n"
        f"    {body}\n"
        "  };\n"
        "}\n"
    )


def host_source(spec: ElementwiseSpec, dtype: str) -> str:
    """The same body in a C++ function ``kernel_name(arrays..., scalars..., long long n)`` that
    loops over ``n`` contiguous elements with CuPy's bindings; arrays are pointers, in parameter order."""
    params, bindings = _signature_and_bindings(spec, "T*", "i")
    body = "\n    ".join([*bindings, spec.body + ";"])
    return (
        "#include <cmath>\n"
        "using std::sqrt; using std::exp; using std::log; using std::tanh; using std::fabs;\n"
        f"typedef {FLOAT_CTYPES[dtype]} T;\n"
        f'extern "C" void {spec.kernel_name}({", ".join([*params, "long long n"])}) {{\n'
        "  for (long long i = 0; i < n; ++i) {\n"
        f"    {body}\n"
        "  }\n"
        "}\n"
    )


#: The kernels, by name.
SPECS: dict[str, ElementwiseSpec] = {
    spec.name: spec
    for spec in (
        # delta = g ⊙ f'(z), f' from the forward output a: one pass instead of three
        ElementwiseSpec("logistic_delta", "T g, T a", "T d", "d = g * a * (1 - a)"),
        ElementwiseSpec("tanh_delta", "T g, T a", "T d", "d = g * (1 - a * a)"),
        ElementwiseSpec("relu_delta", "T a", "T g", "g = a > 0 ? g : (T)0"),  # in place in g
        # p <- p - eta g
        ElementwiseSpec("sgd_update", "T g, float64 lr", "T p", "p -= (T)lr * g"),
        # Adam (Kingma & Ba, alg. 1), c1 = 1 - b1^t, c2 = 1 - b2^t: one pass instead of about ten
        ElementwiseSpec(
            "adam_update",
            "T g, float64 lr, float64 b1, float64 b2, float64 eps, float64 c1, float64 c2",
            "T p, T m, T v",
            "m = (T)b1 * m + (T)(1 - b1) * g;"
            " v = (T)b2 * v + (T)(1 - b2) * g * g;"
            " p -= (T)(lr / c1) * m / (sqrt(v / (T)c2) + (T)eps)",
        ),
    )
}
