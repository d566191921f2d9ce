"""Activation functions f and their derivatives f', written once on the Array API.

Every activation maps a preactivation ``z`` (shape ``(n, units)``) to a
postactivation ``a = f(z)`` of the same shape and dtype.  Backprop needs the
vector-Jacobian product ``g -> g ⊙ f'(z)`` (:meth:`Activation.delta`); for the
elementwise activations it is computed from the forward output ``a`` where the
formula allows (logistic ``a(1-a)``, tanh ``1-a^2``, relu ``a > 0``), so the
forward buffer is reused.  Softmax is not elementwise: its product is
``a ⊙ (g - sum(g ⊙ a))`` per row.

Beside the seeds' units: ``leaky_relu`` (slope parameter), ``elu`` (alpha), ``gelu``
(tanh form: the standard has no ``erf``), ``silu`` (swish) and ``softplus``, each
overflow-free in float32.  A parameterised activation is named by its *spec*,
``name:param=value`` (``leaky_relu:slope=0.2``; ``leaky_relu`` alone is the default
slope): :func:`get_activation` reads it, :attr:`Activation.spec` writes it, and model
files, the estimators' ``activation=`` and the command line use it.

``threshold`` (the seeds' step unit, ``f(z) = 1 if z >= 0 else 0``) is
available for the forward pass only: its derivative is zero wherever it exists
(and undefined at 0), so gradient descent receives no signal through it and
cannot train the weights below it.  Asking for its derivative raises
:class:`NotDifferentiableError`.
"""

from __future__ import annotations

import math
from typing import Any

from ..registry import Registry
from ..backends.arrays import scalar_like

__all__ = ["Activation", "NotDifferentiableError", "ACTIVATIONS", "TRAINABLE", "HIDDEN", "get_activation",
           "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus"]


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
    #: Names of the parameters ``__init__`` takes (``("slope",)``); empty for a plain activation.
    parameters: tuple[str, ...] = ()

    def f(self, xp: Any, z: Any) -> Any:
        """a = f(z)."""
        raise NotImplementedError

    def forward(self, xp: Any, z: Any, out: Any = None) -> tuple[Any, Any]:
        """``(a, aux)``: ``a = f(z)`` and what computing it gave for free that a loss can reuse
        (softmax: the log-normaliser ``log sum_k exp(z_k)``, ``(n, 1)``); ``aux`` is None otherwise.

        ``out`` (``z``'s shape and dtype), if given, is a buffer ``a`` may be written into (a fast
        path's choice: the training loop lends one per layer, so a step allocates nothing); the
        caller uses what is returned."""
        return self.f(xp, z), None

    def fprime(self, xp: Any, z: Any, a: Any) -> Any:
        """f'(z), elementwise; ``a`` is ``f(z)`` from the forward pass."""
        raise NotImplementedError

    def delta(self, xp: Any, g: Any, z: Any, a: Any, scratch: Any = None) -> Any:
        """g ⊙ f'(z): pull dC/da back to dC/dz.

        ``g`` is a temporary the caller gives up: a fast path
        (:mod:`xpmlp.backends.fastpaths`) may overwrite it and return it; ``scratch`` (``g``'s shape
        and dtype), if given, is a buffer it may use for an intermediate (the training loop lends one).
        """
        return g * self.fprime(xp, z, a)

    def config(self) -> dict[str, float]:
        """The parameters and their values (``{"slope": 0.2}``); ``{}`` for a plain activation."""
        return {p: getattr(self, p) for p in self.parameters}

    @property
    def spec(self) -> str:
        """What :func:`get_activation` reads back as this activation: ``relu``, ``leaky_relu:slope=0.2``."""
        params = ",".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{self.name}:{params}" if params else self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and (self.name, self.config()) == (other.name, other.config())

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.config().items())))

    def __repr__(self) -> str:
        return f"<activation {self.spec}>"


class Identity(Activation):
    """f(z) = z; f'(z) = 1 (linear regression, the delta rule)."""

    name = "identity"

    def f(self, xp, z):
        return z

    def fprime(self, xp, z, a):
        return xp.ones_like(z)

    def delta(self, xp, g, z, a, scratch=None):
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

    def delta(self, xp, g, z, a, scratch=None):
        return g * xp.astype(a > 0, g.dtype)  # mask by multiplication, never boolean assignment


def _logistic_pair(xp: Any, z: Any) -> tuple[Any, Any]:
    """``(s, 1 - s)`` for ``s = logistic(z)``, both from ``e = exp(-|z|) <= 1`` (as :class:`Logistic`):
    nothing overflows, and each keeps its relative precision where it is small."""
    e = xp.exp(-xp.abs(z))  # e in (0, 1]
    r = 1.0 / (1.0 + e)
    er = e * r
    return xp.where(z >= 0, r, er), xp.where(z >= 0, er, r)  # logistic(z), logistic(-z) = 1 - logistic(z)


def _finite(name: str, value: Any) -> float:
    """A parameter as a finite Python float, or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class LeakyReLU(Activation):
    """f(z) = z for z > 0, slope * z otherwise; f'(z) = 1 for z > 0, slope otherwise (slope at 0).

    ``slope`` defaults to 0.01, as in PyTorch.  f' needs the sign of z (that of ``a`` only for
    slope > 0), so it is computed from z.
    """

    name = "leaky_relu"
    parameters = ("slope",)

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = _finite("slope", slope)

    def f(self, xp, z):
        return xp.where(z > 0, z, self.slope * z)  # f(z) = z if z > 0 else slope z

    def fprime(self, xp, z, a):
        return xp.where(z > 0, scalar_like(xp, 1.0, z), scalar_like(xp, self.slope, z))  # 1 if z > 0 else slope


class ELU(Activation):
    """f(z) = z for z > 0, alpha (exp(z) - 1) otherwise; f'(z) = 1 for z > 0, alpha exp(z) otherwise.

    ``alpha`` defaults to 1.0.  ``exp`` sees only ``min(z, 0)``, so nothing overflows.  f' is
    computed from z: from ``a`` it would be ``a + alpha`` (no ``exp``), but that cancels for
    z << 0 (float32: 0 instead of ``alpha exp(-80)``, 0.1% off already at z = -10).
    """

    name = "elu"
    parameters = ("alpha",)

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = _finite("alpha", alpha)

    def f(self, xp, z):
        neg = self.alpha * xp.expm1(xp.minimum(z, scalar_like(xp, 0.0, z)))  # alpha (exp(z) - 1), exp of z <= 0 only
        return xp.where(z > 0, z, neg)

    def fprime(self, xp, z, a):
        neg = self.alpha * xp.exp(xp.minimum(z, scalar_like(xp, 0.0, z)))  # alpha exp(z), exp of z <= 0 only
        return xp.where(z > 0, scalar_like(xp, 1.0, z), neg)  # 1 if z > 0 else alpha exp(z)


class GELU(Activation):
    """f(z) = 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3): GELU's tanh form (the standard has no erf).

    Evaluated as ``f = z s`` with ``s = logistic(2u)`` (``0.5 (1 + tanh u) = logistic(2u)``), by the
    stable logistic: no cancellation in ``1 + tanh u`` for z < 0.  ``u`` is computed on z clipped
    to ±1e4, where ``2u`` is ±7e10 and ``s`` is exactly 0 or 1 in both dtypes, so ``z^3`` never
    overflows (float32 would past |z| ~ 7e12) and nothing else changes.
    f'(z) = s + z s (1 - s) 2 u'(z), u'(z) = sqrt(2/pi) (1 + 3 * 0.044715 z^2): from z (a gives no s at z = 0).
    """

    name = "gelu"
    #: sqrt(2/pi), the cubic's coefficient, and the |z| past which logistic(2u) is exactly 0 or 1.
    C, K, CLIP = math.sqrt(2.0 / math.pi), 0.044715, 1e4

    def _logistic_2u(self, xp, z):
        lim = scalar_like(xp, self.CLIP, z)
        zc = xp.minimum(xp.maximum(z, -lim), lim)  # |z| <= 1e4: z^3 stays finite; s is saturated beyond
        u = self.C * (zc + self.K * (zc * zc * zc))  # u = sqrt(2/pi) (z + 0.044715 z^3)
        return zc, _logistic_pair(xp, 2.0 * u)  # (s, 1 - s), s = logistic(2u) = 0.5 (1 + tanh u)

    def f(self, xp, z):
        _, (s, _) = self._logistic_2u(xp, z)
        return z * s  # f = 0.5 z (1 + tanh u) = z logistic(2u)

    def fprime(self, xp, z, a):
        zc, (s, s_neg) = self._logistic_2u(xp, z)
        du = self.C * (1.0 + 3.0 * self.K * (zc * zc))  # u'(z) = sqrt(2/pi) (1 + 3 * 0.044715 z^2)
        return s + (z * (s * s_neg)) * (2.0 * du)  # f' = s + z s (1 - s) 2 u'(z); s (1 - s) = 0 past the clip


class SiLU(Activation):
    """f(z) = z logistic(z) (SiLU, swish); f'(z) = s (1 + z (1 - s)), s = logistic(z).

    ``s`` and ``1 - s`` both come from the stable logistic (``exp`` of ``-|z|`` only), so nothing
    overflows in float32 and ``1 - s`` keeps its precision for large z.  f' is from z (``s = a / z``
    fails at z = 0).
    """

    name = "silu"

    def f(self, xp, z):
        return z * _logistic_pair(xp, z)[0]  # f = z logistic(z)

    def fprime(self, xp, z, a):
        s, s_neg = _logistic_pair(xp, z)
        return s * (1.0 + z * s_neg)  # f' = s + z s (1 - s)


class Softplus(Activation):
    """f(z) = log(1 + exp(z)); f'(z) = logistic(z) = 1 - exp(-a).

    Evaluated as ``max(z, 0) + log1p(exp(-|z|))``: ``exp`` never sees a positive argument.
    f' is cheaper from ``a`` (``exp(a) = 1 + exp(z)``, so ``logistic(z) = 1 - exp(-a)``), as
    ``-expm1(-a)``, which keeps its relative precision where ``a`` is tiny (z very negative).
    """

    name = "softplus"

    def f(self, xp, z):
        return xp.maximum(z, scalar_like(xp, 0.0, z)) + xp.log1p(xp.exp(-xp.abs(z)))  # log(1 + e^z), stably

    def fprime(self, xp, z, a):
        return -xp.expm1(-a)  # f'(z) = 1 - exp(-a)


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

    def forward(self, xp, z, out=None):
        m = xp.max(z, axis=1, keepdims=True)
        e = xp.exp(z - m)  # shift: exp(<= 0), no overflow
        s = xp.sum(e, axis=1, keepdims=True)
        return e / s, m + xp.log(s)  # a = softmax(z), and log sum exp(z) for the cross-entropy

    def fprime(self, xp, z, a):
        raise NotDifferentiableError("softmax has no elementwise derivative; use Activation.delta")

    def delta(self, xp, g, z, a, scratch=None):
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

    def delta(self, xp, g, z, a, scratch=None):
        return self.fprime(xp, z, a)  # raises


#: Name -> activation instance, parameterised ones with their defaults (aliases ``linear``, ``sigmoid``,
#: ``swish``, ``step``).
ACTIVATIONS: Registry[Activation] = Registry(
    "activation",
    {act.name: act for act in (Identity(), Logistic(), Tanh(), ReLU(), LeakyReLU(), ELU(), GELU(), SiLU(), Softplus(),
                               Exp(), Softmax(), Threshold())},
    aliases={"linear": "identity", "sigmoid": "logistic", "swish": "silu", "step": "threshold"},
    base=Activation,
)
#: Activations gradient descent can train.
TRAINABLE = tuple(name for name, act in ACTIVATIONS.items() if act.untrainable_reason is None)
#: Activations a hidden layer may use.
HIDDEN = tuple(name for name, act in ACTIVATIONS.items() if not act.output_only)


def get_activation(spec: "str | Activation") -> Activation:
    """Look an activation up by name or spec: ``identity``, ``logistic``, ``tanh``, ``relu``,
    ``leaky_relu``, ``elu``, ``gelu``, ``silu``, ``softplus``, ``exp``, ``softmax``, ``threshold``
    (aliases ``linear``, ``sigmoid``, ``swish``, ``step``); a parameterised one with its parameters
    as ``name:param=value[,param=value]`` (``leaky_relu:slope=0.2``; ``leaky_relu:0.2`` gives them
    in order); an :class:`Activation` is returned as it is."""
    if not isinstance(spec, str):
        return ACTIVATIONS.lookup(spec)
    name, _, text = spec.partition(":")
    act = ACTIVATIONS.lookup(name)
    return type(act)(**_parse_parameters(act, text)) if text.strip() else act


def _parse_parameters(act: Activation, text: str) -> dict[str, float]:
    """``"slope=0.2"`` (or ``"0.2"``, the parameters in order) as ``{"slope": 0.2}``, for ``act``."""
    if not act.parameters:
        raise ValueError(f"activation {act.name!r} takes no parameters, got {text!r}")
    params: dict[str, float] = {}
    for i, item in enumerate(text.split(",")):
        key, eq, value = item.partition("=")
        if not eq:  # positional: the i-th parameter ("" past the last one, refused below)
            key, value = (act.parameters[i] if i < len(act.parameters) else ""), key
        key = key.strip().lower()
        if key not in act.parameters or key in params:
            raise ValueError(f"activation {act.name!r} takes {', '.join(act.parameters)}; cannot read {item.strip()!r}")
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"activation {act.name!r}: {key} must be a number, got {value.strip()!r}") from None
    return params
