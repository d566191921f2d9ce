"""A training step on NumPy allocates nothing the size of a hidden layer or of the batch's inputs
(xpmlp.diagnostics.allocations): its products, activations, deltas, gradients and optimizer state
live in arrays made once per fit.  The bound: the output layer's loss terms, two of NumPy's
iterator buffers for broadcasting operations, and Python's small objects."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.diagnostics.allocations import step_allocations
from xpmlp.optim.optimizers import SGD, Adam

SIZES, BATCH = [64, 512, 10], 256
ITEM = np.dtype(np.float32).itemsize
OUTPUT = BATCH * SIZES[-1] * ITEM  # one (batch, n_out) array: 10 KiB
HIDDEN = BATCH * SIZES[1] * ITEM  # one (batch, n_hidden) array: 512 KiB, which must never appear
BOUND = 4 * OUTPUT + 2 * np.getbufsize() * ITEM + 16 * 1024


@pytest.mark.parametrize("settings", [
    {"optimizer": "sgd"},
    {"optimizer": SGD(momentum=0.9, nesterov=True)},
    {"optimizer": Adam()},
    {"optimizer": "adamw", "max_grad_norm": 1.0, "alpha": 1e-3},
], ids=["sgd", "nesterov", "adam", "adamw-clip-l2"])
def test_a_step_allocates_at_most_output_sized_temporaries(settings):
    got = step_allocations(SIZES, BATCH, **settings)
    assert BOUND < HIDDEN / 4  # the bound can tell a hidden-layer temporary from noise
    assert got["peak"] <= BOUND, f"a step held {got['peak']} bytes beyond its arrays (bound {BOUND})"
    assert got["growth"] <= 1024, f"live memory grew by {got['growth']} bytes between steps"


def test_the_probe_sees_a_step_that_allocates():
    # a tanh hidden layer has no fast path writing into the workspace: its activations are new arrays
    got = step_allocations(SIZES, BATCH, activation="tanh")
    assert got["peak"] >= HIDDEN
