"""Update rules: how a gradient moves the parameters.

An optimizer updates the parameter arrays in place, on their device, from
gradients of the same shapes; it never reads a value back to the host.  Its
state (velocities, moments) is created on the first step with the parameters'
own dtype and device, and travels with the model through :mod:`xpmlp.io`.

Update rules, for a parameter ``p`` with gradient ``g`` and learning rate ``eta``:

=========================  ===============================================================
SGD                        ``p <- p - eta g``
SGD, momentum ``mu``       ``v <- mu v - eta g``;  ``p <- p + v``
SGD, Nesterov momentum     ``v <- mu v - eta g``;  ``p <- p + mu v - eta g``
Adam (Kingma & Ba, alg. 1) ``m <- b1 m + (1-b1) g``;  ``v <- b2 v + (1-b2) g^2``;
                           ``p <- p - eta m_hat / (sqrt(v_hat) + eps)``,
                           ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``
=========================  ===============================================================

``weight_decay`` (either optimizer) is *decoupled* weight decay (AdamW,
Loshchilov & Hutter 2019): before the update, ``p <- p - eta * weight_decay * p``
for every matrix parameter (``ndim >= 2``: the weights ``W^l``; biases are not
decayed).  It is not the L2 penalty ``alpha`` of :func:`xpmlp.training.fit`,
which enters the gradient and so passes through Adam's moment scaling.

The momentum form (velocity ``v`` holds ``-eta`` times the running gradient) is
scikit-learn's and Sutskever et al.'s (2013); with a constant learning rate it
equals PyTorch's ``buf <- mu buf + g; p <- p - eta buf``.
"""

from __future__ import annotations

from typing import Any, Sequence

import array_api_compat
import numpy as np

__all__ = ["Optimizer", "SGD", "sgd_update", "adam_update", "Adam", "AdamW", "OPTIMIZERS", "make_optimizer", "clip_grad_norm"]


class Optimizer:
    """Base class: ``step(params, grads, learning_rate)`` updates ``params`` in place.

    Subclasses name their per-parameter state arrays in :attr:`slots`; each slot
    holds one array per parameter, same shape, dtype and device.
    """

    name: str = ""
    slots: tuple[str, ...] = ()

    def __init__(self, weight_decay: float = 0.0) -> None:
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.t = 0  # completed steps (a host int: never read from the device)
        self._state: dict[str, list] = {}
        self._xp: Any = None  # the parameters' namespace, found on the first step
        self._bound: Any = None  # (namespace, {name: kernel picked for it}), see _kernel

    # -- the update -------------------------------------------------------------------------
    def step(self, params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
        """Apply one update to every parameter, in place, on its device.

        ``params[i]`` and ``grads[i]`` are arrays of one namespace with equal shapes.
        ``learning_rate`` is a Python float (so float32 models stay float32).
        The gradients are consumed: an update may overwrite them in place.
        """
        if len(params) != len(grads):
            raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
        if self.slots and not self._state:
            self._state = {s: [_zeros_like(p) for p in params] for s in self.slots}
        if self._xp is None:
            self._xp = array_api_compat.array_namespace(params[0])  # once: it costs microseconds per call
        self.t += 1
        self._apply(params, grads, float(learning_rate))

    def _kernel(self, name: str, generic: Any) -> Any:
        """The fast path registered for ``name`` on the parameters' library, else ``generic``."""
        if self._bound is None or self._bound[0] is not self._xp:
            self._bound = (self._xp, {})
        table = self._bound[1]
        if name not in table:
            from . import fastpaths  # imported here: fastpaths refers back to this module's generics

            table[name] = fastpaths.select(name, fastpaths.backend_name(self._xp), generic)
        return table[name]

    def _apply(self, params: Sequence[Any], grads: Sequence[Any], lr: float) -> None:
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.weight_decay and p.ndim >= 2:
                p *= 1.0 - lr * self.weight_decay  # decoupled decay: p <- p - eta wd p
            self._update(i, p, g, lr)

    def _update(self, i: int, p: Any, g: Any, lr: float) -> None:
        raise NotImplementedError

    # -- configuration and state (for persistence) ------------------------------------------
    def config(self) -> dict[str, Any]:
        """Hyperparameters as JSON-ready Python values (``make_optimizer(name, **config)`` rebuilds it)."""
        return {"weight_decay": self.weight_decay}

    def state(self) -> dict[str, list]:
        """``{slot: [array per parameter]}``: the live backend arrays (empty before the first step)."""
        return self._state

    def load_state(self, state: dict[str, Sequence[np.ndarray]], t: int, backend: Any, params: Sequence[Any]) -> None:
        """Replace the state with host arrays, moved to ``backend`` (its dtype and device).

        Every slot must hold one array per parameter, shaped like it; an empty
        ``state`` means "no step taken yet" and needs ``t == 0``.
        """
        if not state:
            if t != 0:
                raise ValueError(f"{self.name} state is empty but its step count is {t}")
            self._state, self.t, self._xp = {}, 0, None
            return
        if set(state) != set(self.slots):
            raise ValueError(f"{self.name} state needs slots {sorted(self.slots)}, got {sorted(state)}")
        new = {}
        for slot, arrays in state.items():
            if len(arrays) != len(params):
                raise ValueError(f"{self.name} slot {slot!r} has {len(arrays)} arrays for {len(params)} parameters")
            for k, (a, p) in enumerate(zip(arrays, params)):
                if tuple(np.shape(a)) != tuple(p.shape):
                    raise ValueError(f"{self.name} slot {slot!r}[{k}] has shape {np.shape(a)}, parameter has {tuple(p.shape)}")
            new[slot] = [backend.asarray(np.array(a, copy=True), dtype=backend.dtype) for a in arrays]
        self._state, self.t, self._xp = new, int(t), None

    def snapshot(self) -> tuple[int, dict[str, list]]:
        """Device copies of the state, for :meth:`restore` (rolls back a diverged epoch)."""
        return self.t, {s: [_copy(a) for a in arrays] for s, arrays in self._state.items()}

    def restore(self, snap: tuple[int, dict[str, list]]) -> None:
        """Return to a :meth:`snapshot`, copying into the live arrays."""
        t, saved = snap
        if not saved:
            self._state = {}
        for s, arrays in saved.items():
            for live, old in zip(self._state[s], arrays):
                live[...] = old
        self.t = t

    def reset(self) -> None:
        """Forget all state (the next step starts from zero moments)."""
        self._state, self.t, self._xp = {}, 0, None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_xp": None, "_bound": None}  # a module does not pickle; found again on the next step

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def sgd_update(params: Sequence[Any], grads: Sequence[Any], learning_rate: float) -> None:
    """Plain gradient descent on every parameter, in place: ``p <- p - eta g``.

    The generic form of ``"sgd.update"`` (see :mod:`xpmlp.fastpaths`); the
    gradients are consumed (scaled in place).
    """
    for p, g in zip(params, grads):
        g *= learning_rate  # eta g, in the gradient's own buffer (no temporary the size of p)
        p -= g  # p <- p - eta g


def adam_update(
    xp: Any, p: Any, g: Any, m: Any, v: Any, learning_rate: float,
    beta_1: float, beta_2: float, epsilon: float, c1: float, c2: float,
) -> None:
    """One Adam step on one parameter, in place (``p``, ``m``, ``v``; ``g`` is read).

    ``c1 = 1 - beta_1^t`` and ``c2 = 1 - beta_2^t`` are the bias corrections of this
    step.  The generic form of ``"adam.update"`` (see :mod:`xpmlp.fastpaths`).
    """
    m *= beta_1
    m += (1.0 - beta_1) * g  # m <- b1 m + (1 - b1) g
    v *= beta_2
    v += (1.0 - beta_2) * (g * g)  # v <- b2 v + (1 - b2) g^2
    p -= (learning_rate / c1) * m / (xp.sqrt(v / c2) + epsilon)  # eta m_hat / (sqrt(v_hat) + eps)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    ``momentum = 0``: ``p <- p - eta g`` (seed 01: weight -= LR * gradient).
    ``momentum = mu > 0``: ``v <- mu v - eta g``, then ``p <- p + v``, or with
    ``nesterov=True`` ``p <- p + mu v - eta g`` (the look-ahead step).
    """

    name = "sgd"

    def __init__(self, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum else ()

    def _apply(self, params, grads, lr):
        if self.momentum or self.weight_decay:
            return super()._apply(params, grads, lr)
        self._kernel("sgd.update", sgd_update)(params, grads, lr)  # p <- p - eta g, for every parameter

    def _update(self, i, p, g, lr):
        g *= lr  # eta g, in the gradient's own buffer
        v = self._state["velocity"][i]
        v *= self.momentum  # v <- mu v ...
        v -= g  # ... - eta g
        if self.nesterov:
            p += self.momentum * v  # p <- p + mu v ...
            p -= g  # ... - eta g
        else:
            p += v  # p <- p + v

    def config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov, **super().config()}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, algorithm 1), optionally with decoupled weight decay (AdamW).

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, then
    ``p <- p - eta * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.
    The bias corrections are Python floats computed from the host step count ``t``.
    """

    name = "adam"
    slots = ("m", "v")

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(weight_decay)
        for what, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{what} must be in [0, 1), got {b!r}")
        if not epsilon > 0.0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def step(self, params, grads, learning_rate):
        # bias corrections for the step about to be taken (t + 1), host floats
        self._c1 = 1.0 - self.beta_1 ** (self.t + 1)
        self._c2 = 1.0 - self.beta_2 ** (self.t + 1)
        super().step(params, grads, learning_rate)

    def _update(self, i, p, g, lr):
        m, v = self._state["m"][i], self._state["v"][i]
        update = self._kernel("adam.update", adam_update)
        update(self._xp, p, g, m, v, lr, self.beta_1, self.beta_2, self.epsilon, self._c1, self._c2)

    def config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, **super().config()}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.01``); see :class:`Adam`."""

    name = "adamw"

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(beta_1, beta_2, epsilon, weight_decay)


#: Name -> optimizer class.
OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Adam, AdamW)}


def make_optimizer(name: "str | Optimizer", **config: Any) -> Optimizer:
    """An optimizer by name (``sgd``, ``adam``, ``adamw``) with its hyperparameters."""
    if isinstance(name, Optimizer):
        return name
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](**config)


def clip_grad_norm(grads: Sequence[Any], max_norm: float, xp: Any, eps: float = 1e-6) -> Any:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``.

    The factor ``min(1, max_norm / (norm + eps))`` is computed on the device and
    applied unconditionally (no ``if``, so no device-to-host sync).  Returns the
    norm before clipping, a 0-d device array.
    """
    sq = xp.sum(grads[0] * grads[0])
    for g in grads[1:]:
        sq = sq + xp.sum(g * g)
    norm = xp.sqrt(sq)
    scale = xp.clip(float(max_norm) / (norm + eps), max=1.0)  # min(1, max_norm / (norm + eps)), on the device
    for g in grads:
        g *= scale
    return norm


def _zeros_like(p: Any) -> Any:
    xp = array_api_compat.array_namespace(p)
    return xp.zeros(p.shape, dtype=p.dtype, device=array_api_compat.device(p))


def _copy(a: Any) -> Any:
    xp = array_api_compat.array_namespace(a)
    return xp.asarray(a, copy=True)
