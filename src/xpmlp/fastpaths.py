"""Backend-specific fast paths, behind one seam, each held to the generic code by a parity test.

The generic Array API code in :mod:`~xpmlp.activations` (and the other math
modules) is the specification.  A fast path is a faster way to compute the same
thing on one library: an in-place NumPy/PyTorch operation where the standard
has none, or a fused CuPy kernel.  Each one is registered here with
:func:`register`, naming the generic function it replaces and an ``example``
that builds inputs for it.  ``tests/test_fastpaths.py`` runs every registered
fast path against its generic function on those inputs, on every backend that
can run it, so a fast path without a parity test cannot exist.

CuPy fast paths launch kernels declared as data in :mod:`xpmlp.cuda_kernels`
(``register(..., kernel=name)`` is required for CuPy), so CI can compile each
one with NVRTC and run its body, built for the host, against the generic code.

The math never asks which backend it runs on: a network calls
:func:`specialize` once, when it is built, and gets activation objects whose
methods are the fast ones for its backend.

Fast paths may overwrite their first array argument where the generic
function's docstring allows it (``Activation.delta`` may reuse ``g``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .activations import ACTIVATIONS, Activation
from .cuda_kernels import SPECS
from .updates import adam_update, sgd_update

__all__ = ["FastPath", "register", "registered", "select", "specialize"]


@dataclass(frozen=True)
class FastPath:
    """One registered fast path.

    name : what it replaces: ``"<activation>.<method>"`` (e.g. ``"relu.delta"``) or an
        update rule (``"sgd.update"``)
    backend : the library it runs on (``numpy``, ``torch``, ``cupy``)
    impl : the fast function, same signature as ``generic``
    generic : the Array API function it must agree with
    example : ``example(be, rng) -> args`` builds arguments (backend arrays) for both
    result : ``result(args, returned) -> array or list of arrays`` to compare; by default what
        the call returned (an in-place update names the arrays it updated instead)
    kernel : for CuPy, the :data:`xpmlp.cuda_kernels.SPECS` entry it launches (every CuPy fast path
        declares one, so CI can compile it with NVRTC and run its body on the host)
    """

    name: str
    backend: str
    impl: Callable
    generic: Callable
    example: Callable[[Any, np.random.Generator], tuple]
    result: Callable[[tuple, Any], Any] = staticmethod(lambda args, returned: returned)
    kernel: str | None = None


_REGISTRY: dict[tuple[str, str], FastPath] = {}


def register(
    name: str,
    backends: tuple[str, ...],
    example: Callable,
    generic: Callable | None = None,
    result: Callable | None = None,
    kernel: str | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator: register ``impl`` as the fast path for ``name`` on ``backends``.

    ``generic`` defaults to the activation method ``name`` names (``"relu.delta"``).
    """
    if generic is None:
        act_name, method = name.split(".")
        generic = getattr(ACTIVATIONS[act_name], method)
    if "cupy" in backends and kernel not in SPECS:
        raise ValueError(f"CuPy fast path {name!r} must name its kernel in xpmlp.cuda_kernels.SPECS, got {kernel!r}")
    extra = {"kernel": kernel} if result is None else {"result": result, "kernel": kernel}

    def deco(impl: Callable) -> Callable:
        for backend in backends:
            _REGISTRY[(name, backend)] = FastPath(name, backend, impl, generic, example, **extra)
        return impl

    return deco


def registered() -> list[FastPath]:
    """Every registered fast path."""
    return list(_REGISTRY.values())


def select(name: str, backend: str, generic: Callable) -> Callable:
    """The fast path registered for ``name`` on ``backend``, else ``generic``."""
    fp = _REGISTRY.get((name, backend))
    return generic if fp is None else fp.impl


def specialize(act: Activation, backend: str) -> Activation:
    """``act`` with its methods swapped for the fast paths registered for ``backend`` (if any)."""
    fast = {fp.name.split(".")[1]: fp.impl for (name, be), fp in _REGISTRY.items() if be == backend and name.startswith(act.name + ".")}
    if not fast:
        return act
    out = copy.copy(act)
    for method, impl in fast.items():
        setattr(out, method, impl)
    return out


# ----------------------------------------------------------------------------------------------
# The fast paths.  Each example returns the generic function's arguments:
# (xp, z) for Activation.f, (xp, g, z, a) for Activation.delta.
# ----------------------------------------------------------------------------------------------


def _delta_example(act_name: str) -> Callable:
    def example(be: Any, rng: np.random.Generator) -> tuple:
        z = be.asarray(rng.normal(size=(33, 17)))
        g = be.asarray(rng.normal(size=(33, 17)))
        return be.xp, g, z, ACTIVATIONS[act_name].f(be.xp, z)

    return example


def _f_example(be: Any, rng: np.random.Generator) -> tuple:
    return be.xp, be.asarray(rng.normal(size=(33, 17)))


@register("relu.f", ("torch",), example=_f_example)
def _relu_f_torch(xp: Any, z: Any) -> Any:
    import torch

    return torch.relu(z)  # array-api-compat's maximum(z, 0.0) builds a tensor from the scalar each call


@register("relu.delta", ("torch",), example=_delta_example("relu"))
def _relu_delta_torch(xp: Any, g: Any, z: Any, a: Any) -> Any:
    import torch

    return torch.ops.aten.threshold_backward(g, a, 0.0)  # g where a > 0 else 0, one fused pass


@register("relu.delta", ("numpy",), example=_delta_example("relu"))
def _relu_delta_inplace(xp: Any, g: Any, z: Any, a: Any) -> Any:
    g *= a > 0  # g ⊙ f'(z): NumPy multiplies by a bool mask in place, no float mask built
    return g


@register("relu.f", ("numpy",), example=_f_example)
def _relu_f_numpy(xp: Any, z: Any) -> Any:
    return np.maximum(z, 0.0)  # NumPy takes the Python scalar as it is: no 0-d array per call


@register("softmax.forward", ("numpy",), example=_f_example,
          result=lambda args, returned: None if returned is None else list(returned))
def _softmax_forward_numpy(xp: Any, z: Any) -> tuple[Any, Any]:
    m = np.max(z, axis=1, keepdims=True)
    e = z - m
    np.exp(e, out=e)  # in place: one (n, k) buffer for e and a
    s = e @ np.ones((z.shape[1], 1), dtype=z.dtype)  # row sums by BLAS: short rows reduce slowly in NumPy
    e /= s
    return e, m + np.log(s)


# -- CuPy: every kernel is a declared spec (xpmlp.cuda_kernels), compiled once on first use ----------

_CUPY_KERNELS: dict[str, Any] = {}


def _cupy_kernel(name: str) -> Any:
    """The ``cupy.ElementwiseKernel`` built from ``cuda_kernels.SPECS[name]``."""
    if name not in _CUPY_KERNELS:
        import cupy

        spec = SPECS[name]
        _CUPY_KERNELS[name] = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.body, spec.kernel_name)
    return _CUPY_KERNELS[name]


def _cupy_delta(kernel: str) -> Callable:
    """``delta(xp, g, z, a)`` as one elementwise pass ``d = body(g, a)``."""

    def delta(xp: Any, g: Any, z: Any, a: Any) -> Any:
        return _cupy_kernel(kernel)(g, a)

    return delta


register("logistic.delta", ("cupy",), example=_delta_example("logistic"), kernel="logistic_delta")(
    _cupy_delta("logistic_delta")
)
register("tanh.delta", ("cupy",), example=_delta_example("tanh"), kernel="tanh_delta")(_cupy_delta("tanh_delta"))


@register("relu.delta", ("cupy",), example=_delta_example("relu"), kernel="relu_delta")
def _relu_delta_cupy(xp: Any, g: Any, z: Any, a: Any) -> Any:
    return _cupy_kernel("relu_delta")(a, g)  # g where a > 0 else 0, in g's buffer


# -- update rules ---------------------------------------------------------------------------


def _update_example(be: Any, rng: np.random.Generator) -> tuple:
    shapes = [(7, 5), (5,), (5, 3), (3,)]
    params = [be.asarray(rng.normal(size=s)) for s in shapes]
    grads = [be.asarray(rng.normal(size=s)) for s in shapes]
    return params, grads, 0.25


@register("sgd.update", ("torch",), example=_update_example, generic=sgd_update,
          result=lambda args, returned: args[0])
def _sgd_update_torch(params: Any, grads: Any, learning_rate: float) -> None:
    import torch

    torch._foreach_add_(list(params), list(grads), alpha=-learning_rate)  # p <- p - eta g, one call for all


@register("sgd.update", ("cupy",), example=_update_example, generic=sgd_update,
          result=lambda args, returned: args[0], kernel="sgd_update")
def _sgd_update_cupy(params: Any, grads: Any, learning_rate: float) -> None:
    kernel = _cupy_kernel("sgd_update")
    for p, g in zip(params, grads):
        kernel(g, learning_rate, p)  # p <- p - eta g in one pass (the generic code needs two)


def _adam_example(be: Any, rng: np.random.Generator) -> tuple:
    p, g, m = (be.asarray(rng.normal(size=(9, 7))) for _ in range(3))
    v = be.asarray(rng.uniform(0.1, 2.0, size=(9, 7)))
    return be.xp, p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 1 - 0.9**3, 1 - 0.999**3


@register("adam.update", ("cupy",), example=_adam_example, generic=adam_update,
          result=lambda args, returned: [args[1], args[3], args[4]], kernel="adam_update")
def _adam_update_cupy(xp, p, g, m, v, learning_rate, beta_1, beta_2, epsilon, c1, c2) -> None:
    _cupy_kernel("adam_update")(g, learning_rate, beta_1, beta_2, epsilon, c1, c2, p, m, v)  # p, m, v in place
