"""Optimizers: the state an update rule keeps, and one step over all parameters.

An optimizer updates the parameter arrays in place, on their device, from
gradients of the same shapes; it never reads a value back to the host.  Its
state (velocities, moments) is created on the first step with the parameters'
own dtype and device, and travels with the model through :mod:`xpmlp.io`.
The update rules themselves are in :mod:`xpmlp.optim.updates` (the generic forms);
:meth:`Optimizer.bind` picks the fast path registered for a backend's library
(:mod:`xpmlp.backends.fastpaths`) where there is one.

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

from typing import Any, Callable, Sequence

import array_api_compat
import numpy as np

from ..backends import fastpaths
from ..backends.arrays import sum_of_squares
from ..registry import Registry
from .updates import adam_update, momentum_update, sgd_update

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "OPTIMIZERS", "make_optimizer", "clip_grad_norm"]


class Optimizer:
    """Base class: ``step(params, grads, learning_rate)`` updates ``params`` in place.

    ``params`` and ``grads`` are a model's flat buffers (:class:`~xpmlp.nn.parameters.Flat`: one
    update for every parameter at once, weight decay on the weights' slice; :func:`xpmlp.fit`
    steps these) or lists of arrays.  Subclasses name their state arrays in :attr:`slots`; each
    slot holds one array per array stepped (for flat buffers: one flat array), same shape, dtype
    and device.
    """

    name: str = ""
    slots: tuple[str, ...] = ()

    def __init__(self, weight_decay: float = 0.0) -> None:
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)
        self.t = 0  # completed steps (a host int: never read from the device)
        self._state: dict[str, list] = {}
        self._flat: Any = None  # the flat parameter buffer stepped, if any: its layout splits the state
        self._backend: Any = None  # the Backend given to bind(), if any
        self._kernels: dict[str, Callable] = {}

    # -- the update -------------------------------------------------------------------------
    def bind(self, backend: Any) -> "Optimizer":
        """Attach to a :class:`~xpmlp.backends.backend.Backend`: its library's registered fast paths
        replace the generic update rules (:func:`xpmlp.training.fit` calls this).  An unbound
        optimizer uses the generic Array API rules, which give the same result."""
        if self._backend is None or self._backend.name != backend.name:
            self._kernels = {}
        self._backend = backend
        return self

    def _kernel(self, name: str, generic: Callable) -> Callable:
        """The fast path registered for ``name`` on the bound backend's library, else ``generic``."""
        if name not in self._kernels:
            self._kernels[name] = generic if self._backend is None else fastpaths.select(name, self._backend.name, generic)
        return self._kernels[name]

    @property
    def folds_learning_rate(self) -> bool:
        """Whether the update is ``p <- p - eta g`` alone, so the learning rate may be folded into the
        gradient where it is made (``delta^L``) and the step given ``learning_rate=1``."""
        return False

    def step(self, params: Any, grads: Any, learning_rate: float) -> None:
        """Apply one update to every parameter, in place, on its device.

        ``params`` and ``grads``: two flat buffers of one layout (:class:`~xpmlp.nn.parameters.Flat`),
        or lists of arrays of one namespace with equal shapes.  ``learning_rate`` is a Python float
        (so float32 models stay float32).  The gradients are consumed: an update may overwrite them.
        """
        if hasattr(params, "flat"):
            if self._state and self._flat is None:  # state kept per parameter (unpickled): made flat
                self._state = {s: [params.pack(params.xp, arrays)] for s, arrays in self._state.items()}
            self._flat = params
        params, grads, decayed = _arrays(params, grads)
        if self.slots and not self._state:
            xp = array_api_compat.array_namespace(params[0])
            self._state = {s: [xp.zeros_like(p) for p in params] for s in self.slots}  # on p's device
        self.t += 1
        lr = float(learning_rate)
        if self.weight_decay:
            for p in decayed:
                p *= 1.0 - lr * self.weight_decay  # decoupled decay: p <- p - eta wd p
        self._apply(params, grads, lr)

    def _apply(self, params: Sequence[Any], grads: Sequence[Any], lr: float) -> None:
        raise NotImplementedError

    # -- configuration and state (for persistence) ------------------------------------------
    def config(self) -> dict[str, Any]:
        """Hyperparameters as JSON-ready Python values (``make_optimizer(name, **config)`` rebuilds it)."""
        return {"weight_decay": self.weight_decay}

    def state(self) -> dict[str, list]:
        """``{slot: [array per parameter]}``: the live backend arrays (views of the flat state when it
        steps a flat buffer), empty before the first step."""
        if self._flat is not None and self._state:
            return {slot: self._flat.unpack(arrays[0]) for slot, arrays in self._state.items()}
        return self._state

    def load_state(self, state: dict[str, Sequence[np.ndarray]], t: int, backend: Any, params: Any) -> None:
        """Replace the state with host arrays, moved to ``backend`` (its dtype and device).

        Every slot must hold one array per parameter (``params``' order), shaped like it; for a
        flat buffer of parameters they are packed into one flat array per slot.  An empty
        ``state`` means "no step taken yet" and needs ``t == 0``.
        """
        if not state:
            if t != 0:
                raise ValueError(f"{self.name} state is empty but its step count is {t}")
            self._state, self.t = {}, 0
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
            if hasattr(params, "flat"):  # a model's flat buffer: its state is flat too
                new[slot] = [params.pack(backend.xp, new[slot])]
        self._state, self.t = new, int(t)
        self._flat = params if hasattr(params, "flat") else None

    def buffers(self) -> list:
        """The live state arrays (one flat array per slot when it steps a flat buffer); empty before
        the first step."""
        return [a for arrays in self._state.values() for a in arrays]

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
        self._state, self.t, self._flat = {}, 0, None

    def __getstate__(self) -> dict[str, Any]:
        # the kernels are functions of a backend's library: picked again after bind(); the state as
        # per-parameter arrays (a flat buffer's views would pickle as copies, apart from it)
        return {**self.__dict__, "_kernels": {}, "_state": self.state(), "_flat": None}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


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

    @property
    def folds_learning_rate(self) -> bool:
        return not self.momentum and not self.weight_decay

    def _apply(self, params, grads, lr):
        if not self.momentum:
            self._kernel("sgd.update", sgd_update)(params, grads, lr)  # p <- p - eta g, for every parameter
            return
        update = self._kernel("momentum.update", momentum_update)
        for p, g, v in zip(params, grads, self._state["velocity"]):
            update(p, g, v, lr, self.momentum, self.nesterov)  # v <- mu v - eta g; p <- p + v

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

    def _apply(self, params, grads, lr):
        c1, c2 = 1.0 - self.beta_1**self.t, 1.0 - self.beta_2**self.t  # bias corrections of step t
        update = self._kernel("adam.update", adam_update)
        xp = array_api_compat.array_namespace(params[0]) if self._backend is None else self._backend.xp
        for p, g, m, v in zip(params, grads, self._state["m"], self._state["v"]):
            update(xp, p, g, m, v, lr, self.beta_1, self.beta_2, self.epsilon, c1, c2)

    def config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, **super().config()}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.01``); see :class:`Adam`."""

    name = "adamw"

    def __init__(self, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(beta_1, beta_2, epsilon, weight_decay)


#: Name -> optimizer class.
OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer", {cls.name: cls for cls in (SGD, Adam, AdamW)}, base=Optimizer)


def make_optimizer(name: "str | Optimizer", **config: Any) -> Optimizer:
    """An optimizer by name (``sgd``, ``adam``, ``adamw``) with its hyperparameters;
    an :class:`Optimizer` is returned as it is."""
    return OPTIMIZERS.make(name, **config)


def clip_grad_norm(grads: Any, max_norm: float, xp: Any, eps: float = 1e-6) -> Any:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``.

    ``grads``: a flat gradient buffer (one norm, one scaling) or a list of arrays.  The factor
    ``min(1, max_norm / (norm + eps))`` is computed on the device and applied unconditionally:
    no ``if`` on a device value, no boolean mask, so no device-to-host sync on any library.
    Returns the norm before clipping, a 0-d device array.
    """
    grads = [grads.flat] if hasattr(grads, "flat") else list(grads)
    norm = xp.sqrt(sum_of_squares(xp, grads))  # ||g||, over every parameter
    scale = xp.minimum(float(max_norm) / (norm + eps), xp.ones_like(norm))  # min(1, max_norm / (norm + eps))
    for g in grads:
        g *= scale
    return norm


def _copy(a: Any) -> Any:
    return array_api_compat.array_namespace(a).asarray(a, copy=True)



def _arrays(params: Any, grads: Any) -> tuple[list, list, list]:
    """``(params, grads, decayed)`` as lists: a flat buffer is one array, whose weights' slice is
    what weight decay shrinks; a list's matrices (``ndim >= 2``) are."""
    if hasattr(params, "flat") != hasattr(grads, "flat"):
        raise TypeError("give two flat buffers or two lists of arrays")
    if hasattr(params, "flat"):
        if params.layout != grads.layout:
            raise ValueError("the parameters and the gradients have different layouts")
        return [params.flat], [grads.flat], [params.weights]
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(f"got {len(params)} parameters but {len(grads)} gradients")
    return params, grads, [p for p in params if p.ndim >= 2]
