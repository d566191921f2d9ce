"""The training loop: epochs of online, mini-batch or full-batch gradient descent.

Data moves to the backend once, at the start of :func:`train`.  Inside an
epoch nothing is read back to the host: the epoch's summed loss stays a device
scalar and is read once per epoch.  Shuffling indices come from a seeded host
generator (so every backend sees the same batches) and travel to the device
once per epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .network import MLP, backward, forward
from .optimizers import SGD, Optimizer

__all__ = ["train", "DivergenceError", "batch_slices"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss; the model keeps its last good weights."""


def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in batches; the last may be short."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def resolve_batch_size(batch_size: "int | str | None", n: int) -> int:
    """``"full"`` or ``None`` -> n (full batch); 1 -> online; else clipped to n."""
    if batch_size is None or batch_size == "full":
        return n
    if isinstance(batch_size, str) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive int, 'full' or None, got {batch_size!r}")
    return min(int(batch_size), n)


def train(
    net: MLP,
    X: Any,
    T: Any,
    *,
    epochs: int = 1,
    batch_size: "int | str | None" = 32,
    learning_rate: float = 0.1,
    shuffle: bool = True,
    seed: "int | np.random.Generator | None" = 0,
    reduction: str = "mean",
    optimizer: Optimizer | None = None,
) -> list[float]:
    """Train ``net`` in place by backpropagation and gradient descent.

    Parameters
    ----------
    net : MLP
    X : ``(n, sizes[0])`` inputs; T : ``(n, sizes[-1])`` targets (one-hot for classification).
        NumPy arrays (moved to the backend once, here) or arrays of the net's backend.
    epochs : passes over the data.
    batch_size : 1 (online), k (mini-batch), or ``"full"``/``None`` (full batch).
    learning_rate : LR in ``W <- W - LR * grad``.
    shuffle : reshuffle the samples every epoch (host generator seeded by ``seed``).
    reduction : ``"mean"`` averages the gradient over each batch (default), ``"sum"`` sums it.
    optimizer : update rule; plain :class:`~xpmlp.optimizers.SGD` by default.

    Returns
    -------
    list of float
        The mean per-sample loss of each epoch, accumulated over its batches
        before each batch's update.

    Raises
    ------
    DivergenceError
        If an epoch's loss or the weights after it are NaN or inf; the weights are restored to those at
        the start of that epoch.
    """
    net._check_trainable()
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    be, xp = net.backend, net.xp
    X = net.as_input(X)  # host -> device, once
    T = net.as_target(T, X.shape[0])
    n = X.shape[0]
    bs = resolve_batch_size(batch_size, n)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    optimizer = optimizer or SGD()
    params = net.params
    slices = batch_slices(n, bs)
    losses: list[float] = []
    for _ in range(epochs):
        good = [xp.asarray(p, copy=True) for p in params]  # last good weights, on the device
        order = be.asarray(rng.permutation(n), dtype=xp.int64) if shuffle else None  # host indices -> device
        total = xp.zeros((), dtype=be.dtype, device=be.device)
        for start, stop in slices:
            if order is None:
                Xb, Tb = X[start:stop, ...], T[start:stop, ...]
            else:
                idx = order[start:stop]
                Xb, Tb = xp.take(X, idx, axis=0), xp.take(T, idx, axis=0)  # gather the minibatch
            trace = forward(net.Ws, net.bs, net.activations, Xb, xp)
            total += xp.sum(net.loss.value(xp, trace.z[-1], trace.a[-1], Tb))  # stays on the device
            grads = backward(net.Ws, net.activations, net.loss, trace, Tb, xp, reduction)
            optimizer.step(params, [g for pair in zip(grads.grad_W, grads.grad_b) for g in pair], learning_rate)
        weight_sum = sum(xp.sum(p) for p in params)  # NaN/inf if any weight is
        total_host, weight_host = be.to_numpy(xp.stack([total, weight_sum]))  # the epoch's one device -> host read
        epoch_loss = float(total_host) / n
        if not (np.isfinite(epoch_loss) and np.isfinite(weight_host)):
            for p, g in zip(params, good):
                p[...] = g
            raise DivergenceError(
                f"loss became {epoch_loss} (weights finite: {bool(np.isfinite(weight_host))}) in epoch {len(losses) + 1}; weights restored to the start of that epoch "
                f"(try a smaller learning_rate)"
            )
        losses.append(epoch_loss)
    return losses
