"""Activation functions f and their derivatives f', written once on the Array API.

Every activation maps a preactivation ``z`` (shape ``(n, units)``) to a
postactivation ``a = f(z)`` of the same shape and dtype.  Backprop needs the
vector-Jacobian product ``g -> g ⊙ f'(z)`` (:meth:`Activation.delta`); for the
elementwise activations it is computed from the forward output ``a`` where the
formula allows (logistic ``a(1-a)``, tanh ``1-a^2``, relu ``a > 0``), so the
forward buffer is reused.  Softmax is not elementwise: its product is
``a ⊙ (g - sum(g ⊙ a))`` per row.

``threshold`` (the seeds' step unit, ``f(z) = 1 if z >= 0 else 0``) is
available for the forward pass only: its derivative is zero wherever it exists
(and undefined at 0), so gradient descent receives no signal through it and
cannot train the weights below it.  Asking for its derivative raises
:class:`NotDifferentiableError`.
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from ..backends.arrays import scalar_like

__all__ = ["Activation", "NotDifferentiableError", "ACTIVATIONS", "TRAINABLE", "HIDDEN", "get_activation"]


class NotDifferentiableError(ValueError):
    """The activation has no useful derivative (threshold), so it cannot be trained."""


class Activation:
    """An activation function.

    Subclasses implement ``f(xp, z)`` and either ``fprime(xp, z, a)`` (elementwise)
    or ``delta(xp, g, z, a)`` (the vector-Jacobian product, for softmax).
    All arrays are ``(n, units)`` of one float dtype and stay on their device.
    """

    name: str = ""
    #: None if gradient descent can train through it, else the reason it cannot.
    untrainable_reason: str | None = None
    #: Only for the output layer (softmax, exp).
    output_only: bool = False

    def f(self, xp: Any, z: Any) -> Any:
        """a = f(z)."""
        raise NotImplementedError

    def forward(self, xp: Any, z: Any) -> tuple[Any, Any]:
        """``(a, aux)``: ``a = f(z)`` and what computing it gave for free that a loss can reuse
        (softmax: the log-normaliser ``log sum_k exp(z_k)``, ``(n, 1)``); ``aux`` is None otherwise."""
        return self.f(xp, z), None

    def fprime(self, xp: Any, z: Any, a: Any) -> Any:
        """f'(z), elementwise; ``a`` is ``f(z)`` from the forward pass."""
        raise NotImplementedError

    def delta(self, xp: Any, g: Any, z: Any, a: Any) -> Any:
        """g ⊙ f'(z): pull dC/da back to dC/dz.

        ``g`` is a temporary the caller gives up: a fast path
        (:mod:`xpmlp.backends.fastpaths`) may overwrite it and return it.
        """
        return g * self.fprime(xp, z, a)

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class Identity(Activation):
    """f(z) = z; f'(z) = 1 (linear regression, the delta rule)."""

    name = "identity"

    def f(self, xp, z):
        return z

    def fprime(self, xp, z, a):
        return xp.ones_like(z)

    def delta(self, xp, g, z, a):
        return g


class Logistic(Activation):
    """f(z) = 1 / (1 + exp(-z)); f'(z) = a (1 - a).

    Evaluated as ``e = exp(-|z|)``, ``a = 1/(1+e)`` for z >= 0 and ``e/(1+e)``
    otherwise: ``exp`` never sees a positive argument, so nothing overflows in
    float32, and small outputs keep full relative precision.
    """

    name = "logistic"

    def f(self, xp, z):
        e = xp.exp(-xp.abs(z))  # e in (0, 1]: no overflow
        r = 1.0 / (1.0 + e)
        return xp.where(z >= 0, r, e * r)

    def fprime(self, xp, z, a):
        return a * (1.0 - a)  # f'(z) = f(z) (1 - f(z))


class Tanh(Activation):
    """f(z) = tanh(z); f'(z) = 1 - a^2."""

    name = "tanh"

    def f(self, xp, z):
        return xp.tanh(z)

    def fprime(self, xp, z, a):
        return 1.0 - a * a


class ReLU(Activation):
    """f(z) = max(z, 0); f'(z) = 1 where z > 0 else 0 (taken as 0 at z = 0)."""

    name = "relu"

    def f(self, xp, z):
        return xp.maximum(z, scalar_like(xp, 0.0, z))  # a 0-d zero: 2023.12 takes no Python scalar here

    def fprime(self, xp, z, a):
        return xp.astype(a > 0, a.dtype)

    def delta(self, xp, g, z, a):
        return g * xp.astype(a > 0, g.dtype)  # mask by multiplication, never boolean assignment


class Exp(Activation):
    """f(z) = exp(z); f'(z) = a (the log link of Poisson regression, an output activation).

    Its outputs are positive; ``exp`` overflows to inf for ``z`` above ~88.7 in float32
    (~709.8 in float64), a prediction the dtype cannot hold: training reports it as
    divergence.  The Poisson loss is evaluated from ``z`` (:class:`xpmlp.nn.losses.Poisson`).
    """

    name = "exp"
    output_only = True

    def f(self, xp, z):
        return xp.exp(z)

    def fprime(self, xp, z, a):
        return a  # d exp(z)/dz = exp(z)


class Softmax(Activation):
    """a_j = exp(z_j) / sum_k exp(z_k) along each row (output layer only).

    Computed from ``z - max(z)`` so exp never overflows.  Its Jacobian is not
    diagonal: the pullback is ``a ⊙ (g - sum_k g_k a_k)``.
    """

    name = "softmax"
    output_only = True

    def f(self, xp, z):
        return self.forward(xp, z)[0]

    def forward(self, xp, z):
        m = xp.max(z, axis=1, keepdims=True)
        e = xp.exp(z - m)  # shift: exp(<= 0), no overflow
        s = xp.sum(e, axis=1, keepdims=True)
        return e / s, m + xp.log(s)  # a = softmax(z), and log sum exp(z) for the cross-entropy

    def fprime(self, xp, z, a):
        raise NotDifferentiableError("softmax has no elementwise derivative; use Activation.delta")

    def delta(self, xp, g, z, a):
        return a * (g - xp.sum(g * a, axis=1, keepdims=True))  # J^T g, J = diag(a) - a a^T


class Threshold(Activation):
    """f(z) = 1 if z >= 0 else 0: the seeds' threshold unit (forward only).

    f'(z) = 0 for z != 0 and does not exist at 0, so every error signal through
    it vanishes: gradient descent cannot train it.  Use logistic, its smooth
    stand-in, to train; threshold its output at 0.5 to classify.
    """

    name = "threshold"
    untrainable_reason = (
        "threshold activation cannot be trained by gradient descent: its derivative is 0 "
        "everywhere except at z = 0, where it does not exist; use 'logistic' instead"
    )

    def f(self, xp, z):
        return xp.astype(z >= 0, z.dtype)

    def fprime(self, xp, z, a):
        raise NotDifferentiableError(self.untrainable_reason)

    def delta(self, xp, g, z, a):
        return self.fprime(xp, z, a)  # raises


#: Name -> activation instance (aliases ``linear``, ``sigmoid``, ``step``).
ACTIVATIONS: Registry[Activation] = Registry(
    "activation",
    {act.name: act for act in (Identity(), Logistic(), Tanh(), ReLU(), Exp(), Softmax(), Threshold())},
    aliases={"linear": "identity", "sigmoid": "logistic", "step": "threshold"},
    base=Activation,
)
#: Activations gradient descent can train.
TRAINABLE = tuple(name for name, act in ACTIVATIONS.items() if act.untrainable_reason is None)
#: Activations a hidden layer may use.
HIDDEN = tuple(name for name, act in ACTIVATIONS.items() if not act.output_only)


def get_activation(name: "str | Activation") -> Activation:
    """Look an activation up by name (``identity``, ``logistic``, ``tanh``, ``relu``,
    ``softmax``, ``threshold``; aliases ``linear``, ``sigmoid``, ``step``)."""
    return ACTIVATIONS.lookup(name)
