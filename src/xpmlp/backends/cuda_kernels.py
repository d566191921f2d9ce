"""CUDA elementwise kernels as data: every ``cupy.ElementwiseKernel`` xpmlp launches.

Each is an :class:`ElementwiseSpec` -- its parameters and its loop body, the strings
``cupy.ElementwiseKernel`` takes.  :mod:`.cupy_ops` builds its kernels from these specs, and
the tests take the same strings through CuPy's own code generator (which runs without a GPU)
to compile them with NVRTC for float32 and float64 and two GPU architectures, and through the
CuPy stand-in (``tests/standins``) to run each body, compiled for the host, against the
generic code.  Nothing here imports CuPy: a spec is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ElementwiseSpec", "SPECS"]


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


#: The kernels, by name.
SPECS: dict[str, ElementwiseSpec] = {
    spec.name: spec
    for spec in (
        # delta = g ⊙ f'(z), f' from the forward output a: one pass instead of three
        ElementwiseSpec("logistic_delta", "T g, T a", "T d", "d = g * a * (1 - a)"),
        ElementwiseSpec("tanh_delta", "T g, T a", "T d", "d = g * (1 - a * a)"),
        ElementwiseSpec("relu_delta", "T a", "T g", "g = a > 0 ? g : (T)0"),  # in place in g
        # y <- y + alpha x (BLAS's axpy), e.g. the L2 penalty's gradient added in place
        ElementwiseSpec("add_scaled", "T x, float64 alpha", "T y", "y += (T)alpha * x"),
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
