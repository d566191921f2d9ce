"""The multilayer perceptron: parameters, forward pass and backward pass.

Notation follows the seeds (Nielsen's matrix form), batched along axis 0:
layer ``l = 1..L`` has weights ``W^l`` of shape ``(fan_in, fan_out)`` and bias
``b^l`` of shape ``(fan_out,)``; ``a^0 = X`` is the input batch ``(n, n_in)``.

==========================================  ==============================================
forward, layer l                            ``z^l = a^{l-1} W^l + b^l``,  ``a^l = f(z^l)``
output error signal                         ``delta^L = dC/da^L ⊙ f'(z^L)``
                                            (fused: ``delta^L = a^L - t`` for matching pairs)
propagated error signal                     ``delta^l = (delta^{l+1} (W^{l+1})^T) ⊙ f'(z^l)``
gradients                                   ``dC/dW^l = (a^{l-1})^T delta^l``,
                                            ``dC/db^l = sum over the batch of delta^l``
==========================================  ==============================================

Python lists are 0-based: ``Ws[i]`` is ``W^{i+1}``, ``trace.z[i]`` is ``z^{i+1}``,
``trace.a[i]`` is ``a^i`` (so ``trace.a[0]`` is the input).

The input ``a^0 = X`` may be a sparse matrix (:mod:`xpmlp.backends.sparse`): the input layer
touches it only in ``a^0 W^1`` and ``(a^0)^T delta^1``, written with ``@`` and ``.T``,
which the sparse containers compute as sparse times dense, giving dense arrays.

Batch reduction: with ``reduction="mean"`` (default) the batch cost is the mean
of the per-sample costs, so ``delta^L`` carries a factor ``1/n`` and every
gradient is the batch average (mini-batch SGD as in seed 04).  With
``reduction="sum"`` the deltas are the per-sample error signals and the
gradients are sums over the batch (seed 02's batch derivation).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..backends import fastpaths
from .activations import HIDDEN, Activation, NotDifferentiableError, get_activation
from ..backends.backend import Backend, resolve
from .init import init_weights
from .losses import Loss, get_loss, valid_pair
from .targets import as_target_matrix, check_targets
from ..backends.boundary import as_backend_2d, check_finite_host

__all__ = ["MLP", "Trace", "Gradients", "forward", "backward"]


@dataclass
class Trace:
    """What the forward pass records.

    ``z[i]`` is ``z^{i+1}``, shape ``(n, sizes[i+1])``; ``a[i]`` is ``a^i``
    (``a[0]`` is the input, ``a[-1]`` the output).  Backend arrays.
    """

    z: list
    a: list
    #: ``aux[i]``: what layer i+1's activation computed for free beside ``a`` (see
    #: :meth:`Activation.forward`; softmax: its log-normaliser), else None.
    aux: list = field(default_factory=list)


@dataclass
class Gradients:
    """What the backward pass returns (backend arrays, the model's dtype).

    ``delta[i]`` is ``delta^{i+1}`` ``(n, sizes[i+1])``; ``grad_W[i]`` is
    ``dC/dW^{i+1}`` ``(sizes[i], sizes[i+1])``; ``grad_b[i]`` is ``dC/db^{i+1}``
    ``(sizes[i+1],)``.
    """

    delta: list
    grad_W: list
    grad_b: list


def forward(Ws: Sequence, bs: Sequence, activations: Sequence[Activation], X: Any, xp: Any) -> Trace:
    """Forward pass: record ``z^l`` and ``a^l`` for every layer.

    ``X`` is ``(n, n_in)`` on the weights' backend and dtype.
    """
    z, a, aux = [], [X], []
    for W, b, act in zip(Ws, bs, activations):
        z_l = a[-1] @ W  # z^l = a^{l-1} W^l ...
        z_l += b  # ... + b^l
        a_l, aux_l = act.forward(xp, z_l)  # a^l = f(z^l)
        z.append(z_l)
        a.append(a_l)
        aux.append(aux_l)
    return Trace(z, a, aux)


def output_delta(
    loss: Loss, act: Activation, trace: Trace, T: Any, xp: Any, scale: float, fused: bool = True, sample_weight: Any = None
) -> Any:
    """delta^L, the error signal at the output, times ``scale`` (1/n for the batch mean).

    ``fused=True`` uses the loss's declared pairing ``delta^L = s (a^L - t)``
    where one exists; otherwise, or with ``fused=False``, the general route
    ``delta^L = dC/da ⊙ f'(z^L)``.  ``sample_weight`` ``(n,)``, if given,
    weights each sample's cost, so each row of delta^L is multiplied by it.
    """
    a_L, z_L = trace.a[-1], trace.z[-1]
    s = loss.fused_scale(act.name, a_L.shape[1]) if fused else None
    if s is not None:
        delta = a_L - T  # FE = a^L - t (seed 01's final error)
        delta *= s * scale  # delta^L = s (a^L - t): f'(z^L) cancels against dC/da
    else:
        delta = act.delta(xp, loss.dC_da(xp, a_L, T), z_L, a_L)  # delta^L = dC/da ⊙ f'(z^L)
        if scale != 1.0:
            delta *= scale
    if sample_weight is not None:
        delta *= xp.reshape(sample_weight, (-1, 1))  # d(w_i C_i)/dz_i = w_i delta_i
    return delta


def backward(
    Ws: Sequence,
    activations: Sequence[Activation],
    loss: Loss,
    trace: Trace,
    T: Any,
    xp: Any,
    reduction: str = "mean",
    fused: bool = True,
    sample_weight: Any = None,
    scale: float | None = None,
) -> Gradients:
    """Backward pass: error signals and gradients for every layer.

    Parameters
    ----------
    Ws : weights, ``Ws[i]`` of shape ``(sizes[i], sizes[i+1])``
    activations : one per layer
    loss : the cost function
    trace : the forward pass for the same batch
    T : targets ``(n, sizes[-1])``, same backend and dtype
    reduction : ``"mean"`` (gradients averaged over the batch) or ``"sum"``
    fused : use the fused output delta where the loss declares one
    sample_weight : ``(n,)`` per-sample weights of the cost, or None
    scale : the factor on delta^L, overriding ``reduction``'s (``1/n`` for the mean, 1 for the
        sum); data-parallel training passes ``1/B`` for a global batch of ``B`` rows split
        across processes
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if scale is None:
        scale = 1.0 / trace.a[0].shape[0] if reduction == "mean" else 1.0
    L = len(Ws)
    deltas, grad_W, grad_b = [None] * L, [None] * L, [None] * L
    delta = output_delta(loss, activations[-1], trace, T, xp, scale, fused, sample_weight)  # delta^L
    for i in range(L - 1, -1, -1):
        deltas[i] = delta
        grad_W[i] = trace.a[i].T @ delta  # dC/dW^l = (a^{l-1})^T delta^l
        grad_b[i] = xp.sum(delta, axis=0)  # dC/db^l = sum over the batch of delta^l
        if i > 0:
            g = delta @ Ws[i].T  # dC/da^{l-1} = delta^l (W^l)^T
            delta = activations[i - 1].delta(xp, g, trace.z[i - 1], trace.a[i])  # delta^{l-1} = g ⊙ f'(z^{l-1})
    return Gradients(deltas, grad_W, grad_b)


def _on_device(method: Callable) -> Callable:
    """Run an MLP method with the model's device current (:meth:`Backend.activate`)."""

    @functools.wraps(method)
    def on_device(self: "MLP", *args: Any, **kwargs: Any) -> Any:
        with self.backend.activate():
            return method(self, *args, **kwargs)

    return on_device


class MLP:
    """A fully connected feed-forward network with biases on every layer.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, output last: ``[n_in, h1, ..., n_out]``.
        Two entries give a network with no hidden layer (the delta rule:
        linear or logistic regression).
    hidden_activation, output_activation : str or Activation
        ``identity``, ``logistic``, ``tanh``, ``relu``, ``leaky_relu``, ``elu``, ``gelu``, ``silu``,
        ``softplus`` (hidden or output; parameters by spec, ``"leaky_relu:slope=0.2"``),
        ``softmax``, ``exp`` (output), ``threshold`` (forward only).
    loss : str
        ``squared_error`` (the seeds' 0.5 sum (a - t)^2), ``mse``,
        ``binary_cross_entropy`` (logistic outputs), ``cross_entropy`` (softmax outputs),
        ``poisson`` (exp outputs).
    backend : str or Backend, optional
        See :func:`xpmlp.backends.backend.resolve`.
    dtype : ``"float32"`` (default) or ``"float64"``
    seed : int or numpy Generator
        Seeds the host generator that draws the initial weights.
    init : ``"auto"`` (He for relu, Glorot otherwise) or ``"sklearn"`` (scikit-learn's rule);
        see :func:`xpmlp.nn.init.init_layer`.

    Attributes
    ----------
    Ws, bs : lists of backend arrays, ``Ws[i]`` ``(sizes[i], sizes[i+1])``, ``bs[i]`` ``(sizes[i+1],)``
    """

    def __init__(
        self,
        sizes: Sequence[int],
        hidden_activation: str = "relu",
        output_activation: str = "softmax",
        loss: str = "cross_entropy",
        *,
        backend: "str | Backend | None" = None,
        dtype: str | None = None,
        device: Any = None,
        seed: "int | np.random.Generator | None" = 0,
        init: str = "auto",
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list at least an input and an output size, all >= 1; got {sizes}")
        self.sizes = sizes
        self.hidden_activation = get_activation(hidden_activation)
        self.output_activation = get_activation(output_activation)
        if self.hidden_activation.output_only:
            raise ValueError(f"{self.hidden_activation.name} is an output activation; for hidden layers choose "
                             f"one of {', '.join(HIDDEN)}")
        self.loss = get_loss(loss)
        if self.output_activation.name != "threshold" and not valid_pair(self.loss.name, self.output_activation.name):
            raise ValueError(
                f"loss {self.loss.name!r} needs output activation {' or '.join(self.loss.outputs)}, "
                f"got {self.output_activation.name!r}"
            )
        self.backend = resolve(backend, device=device, dtype=dtype)
        layer_acts = [self.hidden_activation] * (len(sizes) - 2) + [self.output_activation]
        self.activations = [fastpaths.specialize(act, self.backend.name) for act in layer_acts]  # the one seam
        init_acts = [self.hidden_activation.name] * len(layer_acts) if init == "sklearn" else [a.name for a in layer_acts]
        Ws, bs = init_weights(sizes, init_acts, seed, init)
        self.Ws, self.bs = [], []
        self.set_weights(Ws, bs)

    # -- parameters -----------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    @_on_device
    def set_weights(self, Ws: Sequence, bs: Sequence) -> None:
        """Replace the parameters with host arrays (cast to the model's dtype, moved to its device)."""
        if len(Ws) != self.n_layers or len(bs) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} weight matrices and bias vectors, got {len(Ws)} and {len(bs)}")
        new_W, new_b = [], []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            W = W if self.backend.is_native(W) else np.asarray(W)
            b = b if self.backend.is_native(b) else np.asarray(b)
            want_W, want_b = (self.sizes[i], self.sizes[i + 1]), (self.sizes[i + 1],)
            if tuple(W.shape) != want_W or tuple(b.shape) != want_b:
                raise ValueError(f"layer {i + 1}: W must be {want_W} and b {want_b}, got {tuple(W.shape)} and {tuple(b.shape)}")
            new_W.append(self._own(W))
            new_b.append(self._own(b))
        self.Ws, self.bs = new_W, new_b

    def _own(self, arr: Any) -> Any:
        be = self.backend
        if be.is_device_array(arr):  # of this library, maybe on another device: moved here, then copied
            return be.xp.asarray(be.to_device(arr), dtype=be.dtype, copy=True)
        host = np.asarray(arr)
        check_finite_host(host, "weights", hint="")
        return be.asarray(np.array(host, copy=True))

    @_on_device
    def get_weights(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Host NumPy copies ``(Ws, bs)`` of the parameters."""
        to = self.backend.to_numpy
        return [np.array(to(W)) for W in self.Ws], [np.array(to(b)) for b in self.bs]

    @property
    def params(self) -> list:
        """The parameter arrays in update order ``[W^1, b^1, W^2, b^2, ...]`` (backend arrays)."""
        return [p for pair in zip(self.Ws, self.bs) for p in pair]

    # -- public math (checks input, converts host data once) ------------------------------
    @_on_device
    def as_input(self, X: Any) -> Any:
        """``X`` checked and moved to the backend: ``(n, sizes[0])`` of the model's dtype; a sparse
        ``X`` stays sparse in the backend's format (:mod:`xpmlp.backends.sparse`)."""
        return as_backend_2d(self.backend, X, "X", columns=self.sizes[0], allow_sparse=True)

    @_on_device
    def as_target(self, T: Any, n: int) -> Any:
        """``T`` checked and moved to the backend: ``(n, sizes[-1])`` of the model's dtype.

        A 1-D host array is accepted where it is unambiguous: integer class labels ``0..k-1``
        for a softmax output (made one-hot), or the column of a one-output network
        (:func:`xpmlp.nn.targets.as_target_matrix`).  The targets must suit the loss
        (:func:`xpmlp.nn.targets.check_targets`: one-hot or probability rows for cross-entropy, ...).
        """
        T = as_target_matrix(T, self.sizes[-1], self.output_activation.name)
        T = as_backend_2d(self.backend, T, "T", columns=self.sizes[-1], rows=n)
        check_targets(self.backend, self.loss, T)
        return T

    @_on_device
    def forward(self, X: Any) -> Trace:
        """Forward pass for a batch ``X`` ``(n, sizes[0])``; returns the :class:`Trace` (backend arrays)."""
        return forward(self.Ws, self.bs, self.activations, self.as_input(X), self.xp)

    def predict(self, X: Any) -> Any:
        """Network output ``a^L``, ``(n, sizes[-1])``, as a backend array."""
        return self.forward(X).a[-1]

    @_on_device
    def gradients(self, X: Any, T: Any, reduction: str = "mean", fused: bool = True) -> Gradients:
        """Backprop for one batch: deltas and gradients of every layer (backend arrays)."""
        self._check_trainable()
        X = self.as_input(X)
        T = self.as_target(T, X.shape[0])
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp)
        return backward(self.Ws, self.activations, self.loss, trace, T, self.xp, reduction, fused)

    @_on_device
    def loss_value(self, X: Any, T: Any) -> float:
        """Mean per-sample cost over the batch, as a Python float."""
        X = self.as_input(X)
        T = self.as_target(T, X.shape[0])
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp)
        return float(self.backend.to_numpy(self.xp.mean(self.loss.value(self.xp, trace.z[-1], trace.a[-1], T, trace.aux[-1]))))

    @_on_device
    def inspect(self, X: Any, T: Any) -> list[dict[str, np.ndarray]]:
        """Every layer's signals for a sample or batch, in the seeds' terms (host NumPy arrays).

        Returns one dict per layer ``l = 1..L`` with keys ``z`` (S_preA, ``(n, units)``),
        ``a`` (S_postA), ``delta`` (S_ERROR, per sample: reduction ``sum``),
        ``grad_W`` (gradient, summed over the batch, ``(fan_in, units)``), ``grad_b``;
        the last dict also has ``FE``, the final error ``a^L - t``.
        """
        self._check_trainable()
        X = self.as_input(X)
        T = self.as_target(T, X.shape[0])
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp)
        grads = backward(self.Ws, self.activations, self.loss, trace, T, self.xp, reduction="sum")
        to = self.backend.to_numpy
        layers = [
            {"z": to(trace.z[i]), "a": to(trace.a[i + 1]), "delta": to(grads.delta[i]),
             "grad_W": to(grads.grad_W[i]), "grad_b": to(grads.grad_b[i])}
            for i in range(self.n_layers)
        ]
        layers[-1]["FE"] = to(trace.a[-1] - T)
        return layers

    def _check_trainable(self) -> None:
        for act in self.activations:
            if act.untrainable_reason:
                raise NotDifferentiableError(act.untrainable_reason)
        if not valid_pair(self.loss.name, self.output_activation.name):
            raise NotDifferentiableError(f"cannot train {self.loss.name} on {self.output_activation.name} outputs")

    def __repr__(self) -> str:
        acts = f"{self.hidden_activation.spec}/{self.output_activation.spec}"
        return f"MLP({self.sizes}, {acts}, loss={self.loss.name}, backend={self.backend.describe()})"
