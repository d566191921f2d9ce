"""CuPy fast paths: fused elementwise kernels, each declared as data in :mod:`.cuda_kernels`.

A kernel is built from its spec by ``cupy.ElementwiseKernel`` on first use (CuPy
compiles it with NVRTC for the current device and caches the binary).  Each fast
path is registered (:mod:`.fastpaths`) under the generic function it replaces and
held to it by a parity test; CI runs these very functions with the kernel bodies
built for the host (no GPU there) and compiles the CUDA source with NVRTC.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .cuda_kernels import SPECS
from .arrays import matmul
from .fastpaths import register

__all__ = ["kernel"]

_KERNELS: dict[str, Any] = {}


def kernel(name: str) -> Any:
    """The ``cupy.ElementwiseKernel`` built from ``cuda_kernels.SPECS[name]`` (once per process)."""
    if name not in _KERNELS:
        import cupy

        spec = SPECS[name]
        _KERNELS[name] = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.body, spec.kernel_name)
    return _KERNELS[name]


def _delta(name: str) -> Callable:
    """``delta(xp, g, z, a)`` as one elementwise pass ``d = body(g, a)``, into ``g``'s buffer."""

    def delta(xp: Any, g: Any, z: Any, a: Any, scratch: Any = None) -> Any:
        return kernel(name)(g, a, g)

    return delta


register("logistic.delta", "cupy", kernel="logistic_delta")(_delta("logistic_delta"))
register("tanh.delta", "cupy", kernel="tanh_delta")(_delta("tanh_delta"))


@register("relu.delta", "cupy", kernel="relu_delta")
def _relu_delta(xp: Any, g: Any, z: Any, a: Any, scratch: Any = None) -> Any:
    return kernel("relu_delta")(a, g)  # g where a > 0 else 0, in g's buffer


@register("sgd.update", "cupy", kernel="sgd_update")
def _sgd_update(params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
    k = kernel("sgd_update")
    for p, g in zip(params, grads):
        k(g, learning_rate, p)  # p <- p - eta g in one pass (the generic code needs two)


@register("adam.update", "cupy", kernel="adam_update")
def _adam_update(xp, p, g, m, v, learning_rate, beta_1, beta_2, epsilon, c1, c2) -> None:
    kernel("adam_update")(g, learning_rate, beta_1, beta_2, epsilon, c1, c2, p, m, v)  # p, m, v in place


@register("arrays.matmul", "cupy")
def _matmul(xp: Any, a: Any, b: Any, out: Any = None) -> Any:
    import cupy

    if not isinstance(a, cupy.ndarray):
        return matmul(xp, a, b, out)  # a sparse input layer: cuSPARSE's product, then copied
    return cupy.matmul(a, b, out=out)  # cuBLAS writes into out


@register("arrays.add_scaled", "cupy", kernel="add_scaled")
def _add_scaled(xp: Any, y: Any, x: Any, alpha: float) -> Any:
    return kernel("add_scaled")(x, alpha, y)  # y += alpha x in one pass


@register("arrays.sum_rows", "cupy")
def _sum_rows(xp: Any, a: Any, out: Any = None) -> Any:
    import cupy

    return cupy.sum(a, axis=0, out=out)


@register("arrays.take_rows", "cupy")
def _take_rows(xp: Any, a: Any, rows: Any, out: Any = None) -> Any:
    import cupy

    return cupy.take(a, rows, axis=0, out=out)


@register("arrays.cos", "cupy")
def _cos(xp: Any, x: Any, out: Any = None) -> Any:
    import cupy

    return cupy.cos(x, out=out)  # CuPy's ufunc writes into out (its shape, any strides): one kernel


@register("arrays.sin", "cupy")
def _sin(xp: Any, x: Any, out: Any = None) -> Any:
    import cupy

    return cupy.sin(x, out=out)
