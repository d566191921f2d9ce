"""Full-batch training by L-BFGS: SciPy's L-BFGS-B on the host, loss and gradient from the backend.

The optimizer's state (a few hundred vectors of ``n_params`` floats at most, and
scalar line-search logic) lives on the host in SciPy; every function evaluation
is one forward and one backward pass over the whole training set on the
backend.  Per evaluation exactly two transfers happen, both through the
documented points: the flat parameter vector goes to the device
(:meth:`Backend.asarray`) and the loss with the flat gradient comes back in one
read (:meth:`Backend.to_numpy`).  The data move to the device once
(:func:`xpmlp.training.data.prepare`).

Objective (float64 on the host; computed in the model's dtype on the device)::

    J(W, b) = mean_i w_i C_i + (alpha / 2) sum_l ||W^l||^2

with sample weights normalised to mean 1 (see :mod:`xpmlp.nn.objective`).
scikit-learn's L-BFGS uses ``alpha / (2 n)`` (``alpha / (2 sum w)`` with sample
weights); its estimators here pass ``alpha`` converted.

Why SciPy on the host rather than an L-BFGS on the device: L-BFGS-B's work per
iteration is ``O(m n_params)`` vector operations against the ``O(N n_params)``
passes over the data, and its line search needs the loss on the host at every
evaluation anyway; SciPy's implementation is mature and is what scikit-learn
uses, so the two stop on the same criteria (``maxiter``, ``maxfun``, ``gtol``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .data import prepare
from ..nn.network import MLP
from ..nn.objective import Objective, batch_gradients

__all__ = ["fit_lbfgs", "flat_objective"]


def _load(net: MLP, theta: np.ndarray) -> None:
    """Copy the host vector ``theta`` into the model's flat buffer: one host-to-device transfer."""
    net.flat[...] = net.backend.asarray(theta)  # host -> device, once per evaluation


def flat_objective(net: MLP, X: Any, T: Any, *, sample_weight: Any = None,
                   alpha: float = 0.0) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], np.ndarray]:
    """``(fun, theta0)``: ``fun(theta) -> (J, dJ/dtheta)`` over the model's flat parameter
    buffer (:class:`~xpmlp.nn.parameters.Layout` order, host float64), and ``net.flat`` as ``theta0``.

    ``fun`` leaves ``theta`` loaded in ``net``.  ``X`` ``(n, sizes[0])`` (dense or sparse) and
    ``T`` ``(n, sizes[-1])`` move to the backend here, once.
    """
    with net.backend.activate():
        data = prepare(net, X, T, batch_size="full", shuffle=False, rng=np.random.default_rng(0),
                       sample_weight=sample_weight)
        grads = net.parameters.like()  # dJ/dtheta, in net.flat's layout, on the model's device
    objective = Objective(alpha=alpha)
    xp, n = net.xp, data.n_total

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with net.backend.activate():
            return _evaluate(theta)

    def _evaluate(theta: np.ndarray) -> tuple[float, np.ndarray]:
        _load(net, theta)
        step = batch_gradients(net, data.X, data.T, data.w, objective, grads=grads)  # sum_i w_i C_i, n alpha ||W||^2
        total = step.loss if step.penalty is None else step.loss + 0.5 * step.penalty  # n J
        packed = xp.concat([xp.reshape(total / n, (1,)), grads.flat])
        host = np.asarray(net.backend.to_numpy(packed), dtype=np.float64)  # device -> host, one read
        return float(host[0]), host[1:]

    theta0 = np.array(net.backend.to_numpy(net.flat), dtype=np.float64)  # a copy: fun writes into net.flat
    return fun, theta0


def fit_lbfgs(net: MLP, X: Any, T: Any, *, sample_weight: Any = None, alpha: float = 0.0, max_iter: int = 200,
              max_fun: int = 15000, tol: float = 1e-4, options: dict | None = None) -> Any:
    """Train ``net`` in place by L-BFGS-B on the whole of ``X, T``; return SciPy's ``OptimizeResult``.

    Parameters
    ----------
    net : MLP
    X, T : ``(n, sizes[0])`` inputs (dense or sparse) and ``(n, sizes[-1])`` targets.
    sample_weight : ``(n,)`` non-negative weights (normalised to mean 1).
    alpha : L2 penalty ``(alpha / 2) sum ||W||^2`` on the mean loss.
    max_iter, max_fun : at most this many iterations and function evaluations (SciPy's
        ``maxiter`` and ``maxfun``).
    tol : SciPy's ``gtol``: stop when the largest projected gradient component is below it.
    options : more SciPy L-BFGS-B options.

    The result's ``x`` is loaded into ``net``; ``fun`` is ``J`` there, ``nit`` the iterations,
    ``nfev`` the evaluations, ``status`` 0 on convergence.  Needs SciPy (``pip install scipy``).
    """
    from scipy.optimize import minimize

    net._check_trainable()
    if not alpha >= 0.0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    with net.backend.activate():  # the model's device current (cupy:1 computes on GPU 1)
        fun, theta0 = flat_objective(net, X, T, sample_weight=sample_weight, alpha=alpha)
        opts = {"maxiter": int(max_iter), "maxfun": int(max_fun), "gtol": float(tol), **(options or {})}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a non-finite loss ends the line search
            result = minimize(fun, theta0, method="L-BFGS-B", jac=True, options=opts)
        _load(net, result.x)
    return result
