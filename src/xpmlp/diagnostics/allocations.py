"""How many bytes a training step allocates on the host: the step loop is meant to reuse its arrays.

:func:`step_allocations` trains a NumPy model with :mod:`tracemalloc` running and reports, over
every step after the first epoch (which makes the optimizer's state) but the first of each
epoch (which follows the epoch's own set-up: the row order), the most memory any step held beyond what was live when it began (``peak``), and how
much live memory grew from one step to the next (``growth``; a leak shows here).  What remains in
a step are arrays the size of the output layer (the loss terms), NumPy's iterator buffers for
broadcasting operations (at most ``numpy.getbufsize()`` elements each, freed at once) and Python's
own small objects; nothing the size of a hidden layer or of the batch's inputs.
``tests/training/test_allocations.py`` bounds it and ``bench/bench_train.py`` reports it.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np

__all__ = ["step_allocations"]


def step_allocations(sizes: list[int], batch: int = 256, steps: int = 8, epochs: int = 2, dtype: str = "float32",
                     activation: str = "relu", **fit_kwargs: Any) -> dict[str, int]:
    """``{"peak": bytes, "growth": bytes}``: the most a step held beyond what was live as it began,
    and the most live memory grew between steps, of ``fit`` on a NumPy MLP with layer ``sizes``
    (``activation`` hidden, softmax output, cross-entropy) and ``steps`` batches of ``batch`` rows
    per epoch.  ``fit_kwargs`` go to :func:`xpmlp.fit` (default: plain SGD)."""
    from ..nn.network import MLP
    from ..training.callbacks import Callback
    from ..training.loop import fit

    class _Probe(Callback):
        def __init__(self) -> None:
            self.previous: int | None = None
            self.peak = self.growth = 0

        def on_epoch_begin(self, run: Any) -> None:
            self.previous = None  # the epoch's first step follows its set-up: not measured

        def on_gradients(self, run: Any, grads: Any) -> None:
            current, peak = tracemalloc.get_traced_memory()
            if self.previous is not None and run.history.epochs >= 1:  # the first epoch makes the state
                self.peak = max(self.peak, peak - self.previous)
                self.growth = max(self.growth, current - self.previous)
            self.previous = current
            tracemalloc.reset_peak()

    rng = np.random.default_rng(0)
    n = batch * steps
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    T = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    net = MLP(sizes, activation, backend="numpy", dtype=dtype, seed=0)
    probe = _Probe()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        fit(net, X, T, epochs=epochs, batch_size=batch, callbacks=[probe],
            **{"optimizer": "sgd", "patience": None, **fit_kwargs})
    finally:
        if started:
            tracemalloc.stop()
    return {"peak": probe.peak, "growth": probe.growth}
