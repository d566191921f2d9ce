"""Update rules, written once on the Array API: how a gradient moves a parameter.

These are the generic forms, the specification every fast path in
:mod:`xpmlp.backends.fastpaths` is held to, by the names in :data:`RULES`.  Each updates its arrays in place, on their device, and
takes its learning rate and coefficients as Python floats (so a float32 model
stays float32).  The optimizers in :mod:`xpmlp.optim.optimizers` keep the state and
call these.

=========================  ===============================================================
SGD                        ``p <- p - eta g``  (seed 01: weight -= LR * gradient)
SGD, momentum ``mu``       ``v <- mu v - eta g``;  ``p <- p + v``
SGD, Nesterov momentum     ``v <- mu v - eta g``;  ``p <- p + mu v - eta g``
Adam (Kingma & Ba, alg. 1) ``m <- b1 m + (1-b1) g``;  ``v <- b2 v + (1-b2) g^2``;
                           ``p <- p - eta m_hat / (sqrt(v_hat) + eps)``,
                           ``m_hat = m / c1``, ``v_hat = v / c2``, ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t``
=========================  ===============================================================
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["sgd_update", "momentum_update", "adam_update", "RULES"]


def sgd_update(params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
    """Plain gradient descent on every parameter, in place: ``p <- p - eta g``.

    ``params[i]`` and ``grads[i]`` have equal shapes and dtypes; the gradients are
    consumed (scaled in place, so no temporary the size of ``p`` is made).
    """
    for p, g in zip(params, grads):
        if learning_rate != 1.0:  # 1: the rate was folded into the gradient where it was made
            g *= learning_rate  # eta g, in the gradient's own buffer
        p -= g  # p <- p - eta g


def momentum_update(p: Any, g: Any, v: Any, learning_rate: float, momentum: float, nesterov: bool) -> None:
    """One (Nesterov) momentum step on one parameter, in place (``p``, ``v``; ``g`` is consumed)."""
    g *= learning_rate  # eta g, in the gradient's own buffer
    v *= momentum  # v <- mu v ...
    v -= g  # ... - eta g
    if nesterov:
        p += momentum * v  # p <- p + mu v ...
        p -= g  # ... - eta g
    else:
        p += v  # p <- p + v


def adam_update(
    xp: Any, p: Any, g: Any, m: Any, v: Any, learning_rate: float,
    beta_1: float, beta_2: float, epsilon: float, c1: float, c2: float,
) -> None:
    """One Adam step on one parameter, in place (``p``, ``m``, ``v``; ``g`` is read).

    ``c1 = 1 - beta_1^t`` and ``c2 = 1 - beta_2^t`` are the bias corrections of this step.
    """
    m *= beta_1
    m += (1.0 - beta_1) * g  # m <- b1 m + (1 - b1) g
    v *= beta_2
    v += (1.0 - beta_2) * (g * g)  # v <- b2 v + (1 - b2) g^2
    p -= (learning_rate / c1) * m / (xp.sqrt(v / c2) + epsilon)  # eta m_hat / (sqrt(v_hat) + eps)


#: Fast-path name -> the generic rule a fast path registered under that name replaces.
RULES = {"sgd.update": sgd_update, "momentum.update": momentum_update, "adam.update": adam_update}
