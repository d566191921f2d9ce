"""The multilayer perceptron: its layers, activations and loss, its parameters, and its public math.

An :class:`MLP` holds every parameter in one flat buffer (:mod:`.parameters`): ``net.flat``,
with ``net.Ws[i]`` (``W^{i+1}``, ``(sizes[i], sizes[i+1])``) and ``net.bs[i]`` (``b^{i+1}``)
views of it.  Its methods check user data and move it to the backend once, then run the
forward and backward passes of :mod:`.backprop` with the model's device current.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from ..backends import fastpaths
from ..backends.arrays import ops_for
from ..backends.backend import Backend, resolve
from ..backends.boundary import as_backend_2d, check_finite_host
from ..backends.sparse import is_sparse
from .activations import HIDDEN, NotDifferentiableError, get_activation
from .backprop import Gradients, Trace, backward, forward, output_delta
from .front import Front, InputLayer
from .init import init_weights
from .losses import get_loss, valid_pair
from .parameters import Flat, Layout
from .targets import as_target_matrix, check_targets

__all__ = ["MLP", "Trace", "Gradients", "forward", "backward", "output_delta"]


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
    compute_dtype : None, ``"bfloat16"`` or ``"float16"``: mixed-precision training (torch:
        both; CuPy: both from CuPy 14 with ml_dtypes, float16 before).  The weights and the optimizer's state stay float32 (``dtype``
        must be float32); each step's products run on a copy in this dtype, the output layer
        and the loss in float32 (:mod:`xpmlp.training.precision`).  Prediction uses the float32
        weights.
    dropout : the dropout rate of every hidden layer, or one rate per hidden layer (training only:
        inverted dropout, see :mod:`xpmlp.training.dropout`); ``input_dropout``: the inputs'.
        Each in ``[0, 1)``; :attr:`dropout` holds the ``L`` rates, the input's first.
    front : input layers of other kinds between ``X`` and ``W^1`` (:mod:`xpmlp.nn.front`), by spec:
        ``"scale"`` (a learned factor per column, :mod:`~xpmlp.nn.scale`), ``"periodic"`` (each
        number embedded, :mod:`~xpmlp.nn.periodic`; ``"periodic:frequencies=16,width=4,columns=5"``);
        ``W^1`` then has :attr:`widths` ``[0]`` rows.  Dense inputs only; float32 or float64 weights.

    Attributes
    ----------
    parameters : :class:`~xpmlp.nn.parameters.Flat`, the flat buffer ``flat`` (1-D, every ``W^l``,
        then every ``b^l``) and its views
    Ws, bs : its views, ``Ws[i]`` ``(widths[i], widths[i+1])``, ``bs[i]`` ``(sizes[i+1],)``
    front : the input layers (:class:`~xpmlp.nn.front.Front`, empty without), their parameters
        ``parameters.front``
    ops : the backend's array primitives (:func:`xpmlp.backends.arrays.ops_for`)
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
        compute_dtype: str | None = None,
        dropout: "float | Sequence[float]" = 0.0,
        input_dropout: float = 0.0,
        front: "Sequence[str | InputLayer]" = (),
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
        if compute_dtype is not None:
            self.backend.compute_dtype(compute_dtype)  # refused here, naming what the library offers
        self.compute_dtype = compute_dtype
        self.front = Front([front] if isinstance(front, (str, InputLayer)) else list(front), sizes[0])
        if self.front and compute_dtype is not None:
            raise ValueError(f"input layers ({', '.join(self.front.specs)}) train in float32 or float64; "
                             f"compute_dtype={compute_dtype!r} is not available with them")
        self.dropout = dropout_rates(sizes, dropout, input_dropout)
        layer_acts = [self.hidden_activation] * (len(sizes) - 2) + [self.output_activation]
        self.activations = [fastpaths.specialize(act, self.backend.name) for act in layer_acts]  # the one seam
        self.ops = ops_for(self.backend.xp, self.backend.name)
        self.layout = Layout((self.front.width, *sizes[1:]), tuple(self.front.shapes))
        with self.backend.activate():
            self.parameters = Flat.zeros(self.layout, self.xp, self.backend.dtype, self.backend.device)
        init_acts = [self.hidden_activation.name] * len(layer_acts) if init == "sklearn" else [a.name for a in layer_acts]
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.set_weights(*init_weights(self.widths, init_acts, rng, init))
        if self.front:
            self.set_front(self.front.init(rng))  # drawn after the dense layers' weights

    @property
    def hidden_dropout(self) -> list[float]:
        """The hidden layers' dropout rates (:attr:`dropout` without the input's)."""
        return self.dropout[1:]

    # -- parameters -----------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def widths(self) -> list[int]:
        """The dense layers' widths: :attr:`sizes` with ``W^1``'s rows (the input layers' output) first."""
        return list(self.layout.sizes)

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def Ws(self) -> list:  # noqa: N802 (the seeds' name)
        """``W^1 .. W^L``: views of :attr:`flat`."""
        return self.parameters.Ws

    @property
    def bs(self) -> list:
        """``b^1 .. b^L``: views of :attr:`flat`."""
        return self.parameters.bs

    @property
    def flat(self) -> Any:
        """Every parameter in one 1-D backend array: ``W^1 .. W^L`` (raveled), then ``b^1 .. b^L``."""
        return self.parameters.flat

    @property
    def front_args(self) -> dict:
        """``front=`` and ``theta=`` for :func:`~xpmlp.nn.backprop.forward` and ``backward``."""
        return {"front": self.front, "theta": self.parameters.front}

    @property
    def params(self) -> list:
        """The parameter arrays in update order ``[W^1, b^1, W^2, b^2, ...]`` (views of :attr:`flat`)."""
        return self.parameters.params

    @_on_device
    def set_weights(self, Ws: Sequence, bs: Sequence) -> None:
        """Copy new parameters in: host arrays (cast to the model's dtype, moved to its device) or arrays
        of the model's library.  Every shape and value is checked before anything is written."""
        if len(Ws) != self.n_layers or len(bs) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} weight matrices and bias vectors, got {len(Ws)} and {len(bs)}")
        new = []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            W = W if self.backend.is_native(W) else np.asarray(W)
            b = b if self.backend.is_native(b) else np.asarray(b)
            want_W, want_b = (self.widths[i], self.sizes[i + 1]), (self.sizes[i + 1],)
            if tuple(W.shape) != want_W or tuple(b.shape) != want_b:
                raise ValueError(f"layer {i + 1}: W must be {want_W} and b {want_b}, got {tuple(W.shape)} and {tuple(b.shape)}")
            new += [self._own(W), self._own(b)]
        for view, value in zip(self.params, new):
            view[...] = value

    @_on_device
    def set_front(self, theta: Sequence) -> None:
        """Copy new input-layer parameters in (host arrays or the model's library's), checked first."""
        want = self.front.shapes
        if len(theta) != len(want):
            raise ValueError(f"expected {len(want)} input-layer arrays, got {len(theta)}")
        new = []
        for i, (t, shape) in enumerate(zip(theta, want)):
            t = t if self.backend.is_native(t) else np.asarray(t)
            if tuple(t.shape) != shape:
                raise ValueError(f"input-layer array {i}: must be {shape}, got {tuple(t.shape)}")
            new.append(self._own(t))
        for view, value in zip(self.parameters.front, new):
            view[...] = value

    @_on_device
    def get_front(self) -> list[np.ndarray]:
        """Host NumPy copies of the input layers' parameters (one device-to-host copy)."""
        return self._host_arrays()[2 * self.n_layers:]

    def _host_arrays(self) -> list[np.ndarray]:
        """Every parameter array in layout order (``W^1 .. W^L, b^1 .. b^L``, the input layers'), as host
        NumPy arrays of their own, from one device-to-host copy of :attr:`flat`."""
        host = np.array(self.backend.to_numpy(self.flat))
        return [np.array(a) for a in self.layout.views(np, host)]

    def _own(self, arr: Any) -> Any:
        be = self.backend
        if be.is_device_array(arr):  # of this library, maybe on another device: moved here
            return be.xp.astype(be.to_device(arr), be.dtype)
        host = np.asarray(arr)
        check_finite_host(host, "weights", hint="")
        return be.asarray(host)

    @_on_device
    def get_weights(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Host NumPy copies ``(Ws, bs)`` of the parameters (one device-to-host copy)."""
        arrays, L = self._host_arrays(), self.n_layers
        return arrays[:L], arrays[L:2 * L]

    # -- public math (checks input, converts host data once) ------------------------------
    @_on_device
    def as_input(self, X: Any) -> Any:
        """``X`` checked and moved to the backend: ``(n, sizes[0])`` of the model's dtype; a sparse
        ``X`` stays sparse in the backend's format (:mod:`xpmlp.backends.sparse`), but for input layers."""
        if self.front and is_sparse(X):
            raise TypeError(f"input layers ({', '.join(self.front.specs)}) take dense inputs; X is a sparse "
                            f"{type(X).__name__}")
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
        return forward(self.Ws, self.bs, self.activations, self.as_input(X), self.xp, self.ops, **self.front_args)

    def predict(self, X: Any) -> Any:
        """Network output ``a^L``, ``(n, sizes[-1])``, as a backend array."""
        return self.forward(X).a[-1]

    @_on_device
    def gradients(self, X: Any, T: Any, reduction: str = "mean", fused: bool = True) -> Gradients:
        """Backprop for one batch: deltas and gradients of every layer (backend arrays)."""
        self._check_trainable()
        X = self.as_input(X)
        T = self.as_target(T, X.shape[0])
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp, self.ops, **self.front_args)
        return backward(self.Ws, self.activations, self.loss, trace, T, self.xp, reduction, fused, ops=self.ops,
                        **self.front_args)

    @_on_device
    def loss_value(self, X: Any, T: Any) -> float:
        """Mean per-sample cost over the batch, as a Python float."""
        X = self.as_input(X)
        T = self.as_target(T, X.shape[0])
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp, self.ops, **self.front_args)
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
        trace = forward(self.Ws, self.bs, self.activations, X, self.xp, self.ops, **self.front_args)
        grads = backward(self.Ws, self.activations, self.loss, trace, T, self.xp, reduction="sum", ops=self.ops,
                         **self.front_args)
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
        extra = f", compute_dtype={self.compute_dtype}" if self.compute_dtype else ""
        extra += f", front={self.front.specs}" if self.front else ""
        if any(self.dropout):
            extra += f", dropout={self.hidden_dropout}" + (f", input_dropout={self.dropout[0]}" if self.dropout[0] else "")
        return f"MLP({self.sizes}, {acts}, loss={self.loss.name}, backend={self.backend.describe()}{extra})"


def dropout_rates(sizes: Sequence[int], dropout: "float | Sequence[float]", input_dropout: float = 0.0) -> list[float]:
    """The ``L`` dropout rates of a network with layer ``sizes``: the input's, then each hidden
    layer's (``dropout`` one rate for all, or one per hidden layer); ``ValueError`` outside ``[0, 1)``."""
    hidden = len(sizes) - 2
    if np.ndim(dropout) == 0 and float(dropout) and not hidden:
        raise ValueError(f"dropout={dropout!r} needs a hidden layer; this network has none (input_dropout "
                         "drops inputs)")
    rates = [float(dropout)] * hidden if np.ndim(dropout) == 0 else [float(p) for p in dropout]
    if len(rates) != hidden:
        raise ValueError(f"dropout gives {len(rates)} rates for {hidden} hidden layers")
    rates = [float(input_dropout)] + rates
    bad = [p for p in rates if not 0.0 <= p < 1.0]
    if bad:
        raise ValueError(f"dropout rates must be in [0, 1), got {bad[0]!r}")
    return rates
