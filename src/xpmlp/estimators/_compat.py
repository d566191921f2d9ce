"""Compatibility shims: the private names of scikit-learn's MLPs that its own ``test_mlp.py`` reads.

scikit-learn's test suite for its MLPs (run unchanged on xpmlp's estimators by
``tests/estimators/test_sklearn_suite.py``) reaches into two private names:

* ``MLP._optimizer.learning_rate`` -- the learning rate the optimizer steps with, after the last
  epoch's schedule (``test_learning_rate_warmstart``, ``test_adaptive_learning_rate``);
* ``MLP._loss_grad_lbfgs(packed, X, y, sample_weight, activations, deltas, coef_grads,
  intercept_grads)`` -- the L-BFGS objective and its gradient at packed parameters
  (``test_gradient`` holds it against finite differences).

They are offered here with scikit-learn's signatures and meanings, computed from xpmlp's own
state and objective; they are not part of xpmlp's API.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.externals.array_api_compat import array_namespace

from ._dispatch import home_of
from ..optim.optimizers import Adam
from ..training.lbfgs import flat_objective

__all__ = ["SklearnPrivates", "OptimizerView"]


class OptimizerView:
    """scikit-learn's ``MLP._optimizer`` as its tests read it: ``learning_rate``, the rate of the
    optimizer's steps now.

    For SGD that is the schedule's rate (``constant``, ``invscaling`` after each epoch from the
    samples seen, ``adaptive`` divided by 5 at each stall).  For Adam scikit-learn reports the
    step size with the bias corrections of its last step ``t`` folded in,
    ``sqrt(1 - beta_2^t) / (1 - beta_1^t) * learning_rate_init`` (``learning_rate_init`` before
    any step); xpmlp's Adam applies the same corrections to its moments, and this reports them
    folded in as scikit-learn does.
    """

    def __init__(self, optimizer: Any, schedule: Any) -> None:
        self._optimizer, self._schedule = optimizer, schedule

    @property
    def learning_rate(self) -> float:
        rate, opt = self._schedule.learning_rate, self._optimizer
        if isinstance(opt, Adam) and opt.t > 0:
            return math.sqrt(1 - opt.beta_2**opt.t) / (1 - opt.beta_1**opt.t) * rate
        return rate


class SklearnPrivates:
    """The private names of scikit-learn's MLPs that its own tests read (see the module docstring)."""

    @property
    def _optimizer(self) -> OptimizerView:
        """The optimizer of the last stochastic fit, as scikit-learn's tests read it (:class:`OptimizerView`)."""
        if not hasattr(self, "optimizer_"):
            raise AttributeError(f"{type(self).__name__} has no _optimizer: no stochastic solver has trained it")
        return OptimizerView(self.optimizer_, self.schedule_)

    def _loss_grad_lbfgs(self, packed_coef_inter: Any, X: Any, y: Any, sample_weight: Any, activations: list,
                         deltas: list, coef_grads: list, intercept_grads: list) -> tuple[float, np.ndarray]:
        """``(loss, grad)``: scikit-learn's L-BFGS objective function, computed by xpmlp.

        ``packed_coef_inter`` holds the parameters in scikit-learn's order (every ``coefs_[i]``
        raveled, then every ``intercepts_[i]``), ``y`` the training targets ``(n, n_outputs_)``
        (``(n,)`` for one output).  The loss and its gradient are xpmlp's L-BFGS objective
        (:func:`xpmlp.training.lbfgs.flat_objective`) with scikit-learn's penalty ``alpha / (2 sum w)``:
        the mean loss plus the penalty (for several squared-error outputs the sum over the outputs,
        which xpmlp's L-BFGS minimises with its exact gradient).  The gradient comes back packed
        alike.  As scikit-learn's does, the call leaves the parameters loaded (in the network and in
        ``coefs_``/``intercepts_``) and the gradients in ``coef_grads``/``intercept_grads``;
        ``activations`` and ``deltas``, scikit-learn's work buffers, are not used (xpmlp's live in
        the forward trace).  Each call moves ``X`` and ``y`` to the network's device.

        The order of ``flat_objective``'s vector is read, not assumed: each parameter is first set to
        its own position in scikit-learn's vector (exact below 2^24 parameters in float32).
        """
        net = self.net_
        if net.front:
            raise ValueError("_loss_grad_lbfgs packs scikit-learn's coefs_ and intercepts_ only; this network has input "
                             f"layers ({', '.join(net.front.specs)}): use fit(solver='lbfgs')")
        shapes = [tuple(W.shape) for W in net.Ws] + [tuple(b.shape) for b in net.bs]  # scikit-learn's order
        bounds = np.cumsum([0] + [math.prod(s) for s in shapes])
        L = net.n_layers
        probe = [np.arange(bounds[k], bounds[k + 1], dtype=np.float64).reshape(shapes[k]) for k in range(2 * L)]
        net.set_weights(probe[:L], probe[L:])
        T = y if y.ndim == 2 else array_namespace(y).reshape(y, (-1, 1))
        fun, where = flat_objective(net, X, T, sample_weight=sample_weight, alpha=self._lbfgs_alpha(X, sample_weight))
        order = np.rint(where).astype(np.int64)  # flat_objective's entry j is scikit-learn's entry order[j]
        loss, grad = fun(np.asarray(packed_coef_inter, dtype=np.float64)[order])
        packed = np.empty_like(grad)
        packed[order] = grad
        self._pull(home_of(self.coefs_[0]))
        for i in range(L):
            coef_grads[i] = packed[bounds[i]:bounds[i + 1]].reshape(shapes[i])
            intercept_grads[i] = packed[bounds[L + i]:bounds[L + i + 1]].reshape(shapes[L + i])
        return loss, packed
