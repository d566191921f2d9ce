"""The one seam for backend-specific fast paths.

The generic Array API code (:mod:`xpmlp.nn`, :mod:`xpmlp.optim.updates`) is the
specification.  A fast path is a faster way to compute the same thing on one
library: an in-place NumPy or PyTorch operation where the standard has none, or a
fused CuPy kernel.  Each one is registered here under the name of the generic
function it replaces -- ``"<activation>.<method>"`` (``"relu.delta"``) or an update
rule (``"sgd.update"``) -- by the module of its library (:mod:`.numpy_ops`,
:mod:`.torch_ops`, :mod:`.cupy_ops`).  The math never asks which library it runs
on: a network calls :func:`specialize` once, when it is built, and an optimizer
calls :func:`select` once per rule.

Every registration is held to its generic function by a parity test
(:mod:`xpmlp.diagnostics.parity` builds the inputs from the name;
``tests/backends/test_fastpaths.py`` runs each one, and fails if one had no case
that ran).  A CuPy fast path that launches a kernel of its own names it
(``register(..., kernel=name)``); those kernels are declared as data in
:mod:`.cuda_kernels`, so CI compiles each with NVRTC and runs its body, built for the host.

Fast paths may overwrite their first array argument where the generic function's
docstring allows it (``Activation.delta`` may reuse ``g``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from .cuda_kernels import SPECS

__all__ = ["FastPath", "register", "registered", "select", "specialize"]


@dataclass(frozen=True)
class FastPath:
    """One registered fast path.

    name : the generic function it replaces: ``"<activation>.<method>"`` or ``"<rule>.update"``
    backend : the library it runs on (``numpy``, ``torch``, ``cupy``)
    impl : the fast function, with the generic function's signature
    kernel : for CuPy, the :data:`~xpmlp.backends.cuda_kernels.SPECS` entry it launches
    """

    name: str
    backend: str
    impl: Callable
    kernel: str | None = None


_REGISTRY: dict[tuple[str, str], FastPath] = {}


def register(name: str, backend: str, kernel: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: register ``impl`` as the fast path for ``name`` on ``backend``."""
    if kernel is not None and kernel not in SPECS:
        raise ValueError(f"fast path {name!r} names kernel {kernel!r}, which cuda_kernels.SPECS does not declare")
    if (name, backend) in _REGISTRY:
        raise ValueError(f"a {backend} fast path for {name!r} is registered already")

    def deco(impl: Callable) -> Callable:
        _REGISTRY[(name, backend)] = FastPath(name, backend, impl, kernel)
        return impl

    return deco


def registered() -> list[FastPath]:
    """Every registered fast path."""
    return list(_REGISTRY.values())


def select(name: str, backend: str, generic: Callable) -> Callable:
    """The fast path registered for ``name`` on ``backend``, else ``generic``."""
    fp = _REGISTRY.get((name, backend))
    return generic if fp is None else fp.impl


def specialize(act: Any, backend: str) -> Any:
    """``act`` (an activation) with its methods swapped for the fast paths registered for ``backend``."""
    prefix = act.name + "."
    fast = {name[len(prefix):]: fp.impl for (name, be), fp in _REGISTRY.items() if be == backend and name.startswith(prefix)}
    if not fast:
        return act
    out = copy.copy(act)
    for method, impl in fast.items():
        setattr(out, method, impl)
    return out
