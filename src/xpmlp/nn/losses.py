"""Cost functions C: the per-sample value and dC/da, written once on the Array API.

Shapes: ``z``, ``a``, ``t`` are ``(n, outputs)``; :meth:`Loss.value` returns the
per-sample cost, shape ``(n,)``.  The cost of a batch is the mean of the
per-sample costs (or their sum: see :func:`xpmlp.nn.network.backward`).

For an output activation whose pairing with the loss cancels ``f'(z)``, the
loss declares the *fused* output delta, ``delta^L = scale * (a - t)``
(:attr:`Loss.fused`); it equals the general route
``delta^L = dC/da ⊙ f'(z^L)`` (a test holds the two together) but is cheaper
and stable where ``dC/da`` alone would overflow (cross-entropy at a saturated
output).

=======================  =========================================  ==================  =============
name                     C per sample                               dC/da               fused with
=======================  =========================================  ==================  =============
``squared_error``        ``0.5 * sum_j (a_j - t_j)^2`` (seeds)       ``a - t``           identity: a-t
``mse``                  ``mean_j (a_j - t_j)^2``                   ``2 (a - t) / k``   identity
``binary_cross_entropy`` ``-sum_j t log a + (1-t) log(1-a)``        ``(a-t)/(a(1-a))``  logistic: a-t
``cross_entropy``        ``-sum_j t_j log softmax(z)_j``            ``-t / a``          softmax: a-t
``poisson``              ``sum_j a_j - t_j log a_j + t_j log t_j     ``1 - t / a``       exp: a-t
                         - t_j`` (half Poisson deviance, ``t >= 0``)
=======================  =========================================  ==================  =============

A loss may restrict its targets (:attr:`Loss.target_rule`, :meth:`Loss.invalid_targets`);
:meth:`xpmlp.nn.network.MLP.as_target` checks them where targets enter.
"""

from __future__ import annotations

from typing import Any

from .activations import ACTIVATIONS
from ..registry import Registry
from ..backends.arrays import scalar_like

__all__ = ["Loss", "LOSSES", "get_loss", "valid_pair"]


class Loss:
    """A cost function.

    Attributes
    ----------
    name : str
    outputs : tuple of str
        Output activations this loss may follow; empty means any trainable one.
    fused : dict
        ``activation name -> scale`` where ``delta^L = scale * (a - t)`` holds;
        ``scale`` may depend on the number of outputs ``k`` (a callable of ``k``).
    target_rule : str or None
        The targets the loss is defined for, in words (checked by :meth:`invalid_targets`).
    """

    name: str = ""
    outputs: tuple[str, ...] = ()
    fused: dict[str, Any] = {}
    #: The targets the loss (and its fused delta) is defined for, in words; None: any finite value.
    target_rule: str | None = None

    def invalid_targets(self, xp: Any, t: Any) -> Any:
        """A ``(n,)`` bool array, True for each row of ``t`` outside :attr:`target_rule`
        (checked once where targets enter, never in the step loop)."""
        return None

    def value(self, xp: Any, z: Any, a: Any, t: Any, aux: Any = None) -> Any:
        """Per-sample cost, shape ``(n,)``; ``z`` lets stable formulas avoid ``log(a)``, and ``aux``
        is what the output activation computed beside ``a`` (:meth:`Activation.forward`), if anything."""
        raise NotImplementedError

    def total(self, xp: Any, z: Any, a: Any, t: Any, aux: Any = None) -> Any:
        """``sum_i C_i`` over the batch, a 0-d array (a loss may skip the per-sample vector)."""
        return xp.sum(self.value(xp, z, a, t, aux))

    def dC_da(self, xp: Any, a: Any, t: Any) -> Any:
        """Gradient of the per-sample cost with respect to the output ``a``, ``(n, k)``."""
        raise NotImplementedError

    def fused_scale(self, activation: str, k: int) -> float | None:
        """``scale`` with ``delta^L = scale * (a - t)`` for this output activation, or None."""
        s = self.fused.get(activation)
        return s(k) if callable(s) else s

    def __repr__(self) -> str:
        return f"<loss {self.name}>"


class SquaredError(Loss):
    """The seeds' quadratic cost: C = 0.5 * sum_j (a_j - t_j)^2; dC/da = a - t."""

    name = "squared_error"
    fused = {"identity": 1.0}

    def value(self, xp, z, a, t, aux=None):
        r = a - t
        return 0.5 * xp.sum(r * r, axis=1)

    def dC_da(self, xp, a, t):
        return a - t  # FE = S_postA,O - T in seed 01


class MeanSquaredError(Loss):
    """C = mean_j (a_j - t_j)^2 over the k outputs; dC/da = 2 (a - t) / k."""

    name = "mse"
    fused = {"identity": lambda k: 2.0 / k}

    def value(self, xp, z, a, t, aux=None):
        r = a - t
        return xp.sum(r * r, axis=1) / a.shape[1]

    def dC_da(self, xp, a, t):
        return (2.0 / a.shape[1]) * (a - t)


class BinaryCrossEntropy(Loss):
    """C = -sum_j [t log a + (1 - t) log(1 - a)] on logistic outputs (binary, multilabel).

    Evaluated from z as ``max(z, 0) - t z + log(1 + exp(-|z|))``: no log of 0,
    no overflow.
    """

    name = "binary_cross_entropy"
    outputs = ("logistic",)
    fused = {"logistic": 1.0}
    target_rule = "every target in [0, 1] (0/1 labels, or probabilities)"

    def invalid_targets(self, xp, t):
        return xp.any((t < 0) | (t > 1), axis=1)

    def value(self, xp, z, a, t, aux=None):
        return xp.sum(xp.maximum(z, scalar_like(xp, 0.0, z)) - t * z + xp.log1p(xp.exp(-xp.abs(z))), axis=1)

    def dC_da(self, xp, a, t):
        return (a - t) / (a * (1.0 - a))


class CrossEntropy(Loss):
    """Categorical cross-entropy on softmax outputs: C = -sum_j t_j log softmax(z)_j.

    Evaluated from log-softmax, ``log softmax(z)_j = z_j - lse``, with the log-normaliser
    ``lse = m + log sum_k exp(z_k - m)``, ``m = max(z)``: stable for any z.  The softmax
    computes ``lse`` on its way to ``a`` and hands it over (``aux``), so it is not computed twice.
    """

    name = "cross_entropy"
    outputs = ("softmax",)
    fused = {"softmax": 1.0}
    target_rule = ("rows of non-negative values summing to 1 (one-hot rows, or class probabilities); "
                   "the fused delta a - t is the gradient only for such rows")

    def invalid_targets(self, xp, t):
        tol = 1e-4 if t.dtype == xp.float32 else 1e-8  # about sqrt(eps): rounding of soft labels passes
        return xp.any(t < 0, axis=1) | (xp.abs(xp.sum(t, axis=1) - 1.0) > tol)

    def value(self, xp, z, a, t, aux=None):
        return xp.sum(self._terms(xp, z, t, aux), axis=1)  # -sum_j t_j log softmax(z)_j

    def total(self, xp, z, a, t, aux=None):
        return xp.sum(self._terms(xp, z, t, aux))  # one reduction over the batch, no per-sample vector

    def _terms(self, xp, z, t, aux):
        lse = aux if aux is not None else ACTIVATIONS["softmax"].forward(xp, z)[1]  # log sum_k exp(z_k), (n, 1)
        return t * (lse - z)  # -t_j log softmax(z)_j

    def dC_da(self, xp, a, t):
        return -t / a


class Poisson(Loss):
    """Half the Poisson deviance on exp outputs (log link): for ``t >= 0`` and ``a = exp(z)``,
    C = sum_j a_j - t_j log a_j + xlogy(t_j, t_j) - t_j, which is 0 where a = t.

    Evaluated from z as ``exp(z) - t z + xlogy(t, t) - t``: no log of the prediction.
    With the exp output ``f'(z) = a`` cancels ``dC/da = 1 - t/a``, so ``delta^L = a - t``.
    The constant ``xlogy(t, t) - t`` (``xlogy(0, 0) = 0``) makes the value scikit-learn's
    ``poisson`` loss; it has no gradient.
    """

    name = "poisson"
    outputs = ("exp",)
    fused = {"exp": 1.0}
    target_rule = "non-negative targets (counts or rates)"

    def invalid_targets(self, xp, t):
        return xp.any(t < 0, axis=1)

    def value(self, xp, z, a, t, aux=None):
        positive = t > 0
        t_log_t = xp.where(positive, t * xp.log(xp.where(positive, t, xp.ones_like(t))), xp.zeros_like(t))
        return xp.sum(xp.exp(z) - t * z + t_log_t - t, axis=1)

    def dC_da(self, xp, a, t):
        return 1.0 - t / a


#: Name -> loss instance (aliases ``quadratic``, ``squared_loss``, ``log_loss``,
#: ``categorical_cross_entropy``, ``bce``).
LOSSES: Registry[Loss] = Registry(
    "loss",
    {loss.name: loss for loss in (SquaredError(), MeanSquaredError(), BinaryCrossEntropy(), CrossEntropy(), Poisson())},
    aliases={
        "quadratic": "squared_error",
        "squared_loss": "squared_error",
        "log_loss": "cross_entropy",
        "categorical_cross_entropy": "cross_entropy",
        "bce": "binary_cross_entropy",
    },
    base=Loss,
)


def get_loss(name: "str | Loss") -> Loss:
    """Look a loss up by name (see the module table and :data:`LOSSES`' aliases)."""
    return LOSSES.lookup(name)


def valid_pair(loss: str, activation: str) -> bool:
    """Whether ``loss`` may follow an output ``activation`` (and be trained)."""
    spec = get_loss(loss)
    if activation == "threshold":
        return False
    return not spec.outputs or activation in spec.outputs
