"""The step loop's guarantees with input layers on (``front=["scale", "periodic"]``).

* No host sync and no host-to-device copy but each epoch's row order, on the four instrumented
  kinds of tests/sync_probes.py (array-api-strict ``device1``, torch CPU, the CuPy and torch-CUDA
  stand-ins), with dropout, validation, L2 and clipping on.
* Allocations per step on NumPy (xpmlp.diagnostics.allocations): neither kind allocates anything
  the size of the batch (the periodic layer's ``cos(v)`` and ``sin(v)`` go into its kept arrays
  through ``ops.cos``/``ops.sin``, NumPy's ``out=``).
* Operations per step (xpmlp.diagnostics.opcount): what each kind adds to a step, counted.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
import xpmlp.nn.network
from xpmlp.diagnostics.allocations import step_allocations
from xpmlp.optim.optimizers import Adam
from xpmlp.training import fit

from conftest import random_problem
from sync_probes import KINDS, Probe, counting, only_row_orders

FRONT = ["scale", "periodic:frequencies=4,width=3"]
N_ROWS, EPOCHS = 64, 2


@pytest.mark.parametrize("kind", KINDS)
def test_step_loop_has_no_sync_with_input_layers(monkeypatch, kind):
    X, T = random_problem("cross_entropy", N_ROWS, 3, 3, shift=2.0)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        model = xpmlp.MLP([3, 5, 3], "relu", backend=backend, seed=0, front=FRONT, dropout=0.2, input_dropout=0.1)
        probe = Probe(syncs, uploads)
        fit(model, X, T, epochs=EPOCHS, batch_size=8, optimizer=Adam(), alpha=1e-3, max_grad_norm=1.0,
            sample_weight=np.linspace(0.5, 1.5, N_ROWS), validation_data=(X[:16], T[:16]), patience=None,
            callbacks=[probe])
    assert not probe.seen, f"operations that synchronise on {kind}, inside the step loop: {dict(probe.seen)}"
    if kind == "strict":  # array-api-strict has no generator: one upload per step for each of the two masks
        assert sum(probe.uploaded.values()) == EPOCHS * (1 + 2 * N_ROWS // 8), dict(probe.uploaded)
    else:
        assert only_row_orders(probe.uploaded, N_ROWS, EPOCHS), f"host data copied in: {dict(probe.uploaded)}"


REAL_MLP = xpmlp.nn.network.MLP


def with_front(monkeypatch, front):
    """The diagnostics build their own MLP: make it one with ``front``."""

    class FrontMLP(REAL_MLP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, front=front, **kwargs)

    monkeypatch.setattr(xpmlp.nn.network, "MLP", FrontMLP)


# As tests/training/test_allocations.py (a 64-512-10 network, batches of 256 rows, float32), with
# 256 inputs, so that one array the size of the batch's inputs (256 KiB) stands out of the bound.
SIZES, BATCH, ITEM = [256, 512, 10], 256, 4
BOUND = 4 * BATCH * SIZES[-1] * ITEM + 2 * np.getbufsize() * ITEM + 16 * 1024
INPUTS = BATCH * SIZES[0] * ITEM


@pytest.mark.parametrize("front,optimizer", [("scale", "sgd"), ("scale", "adam"), ("scale+periodic", "sgd")])
def test_input_layers_allocate_nothing_the_size_of_the_batch(monkeypatch, front, optimizer):
    """As the dense layers: a step allocates nothing larger than the output layer's arrays.  The
    periodic layer (default size: (n, m, k) = 4 MiB in float32) writes ``cos(v)`` and ``sin(v)``
    into its kept arrays too."""
    with_front(monkeypatch, front.split("+"))
    got = step_allocations(SIZES, BATCH, optimizer=optimizer)
    assert BOUND < INPUTS  # the bound tells an input-sized temporary from noise
    assert got["peak"] <= BOUND, f"a step held {got['peak']} bytes beyond its arrays (bound {BOUND})"
    assert got["growth"] <= 1024, f"live memory grew by {got['growth']} bytes between steps"


#: Operations per step of a relu/softmax network with one hidden layer (as tests/diagnostics/test_opcount.py's
#: 64-100-10, plain SGD; the count does not depend on the widths) with input layers: torch's ATen
#: operations (kernel launches on CUDA) and array-api-strict's (the generic code, which makes its
#: arrays anew each call).
OPS = {"none": {"torch": 21, "array_api_strict": 35},
       "scale": {"torch": 28, "array_api_strict": 43},
       "periodic": {"torch": 45, "array_api_strict": 98},
       "scale+periodic": {"torch": 55, "array_api_strict": 117}}


def test_operations_each_kind_adds_to_a_step(monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("array_api_strict")
    from xpmlp.diagnostics.opcount import ops_per_step

    counts = {}
    for name in OPS:
        with_front(monkeypatch, [] if name == "none" else name.split("+"))
        counts[name] = {backend: sum(ops_per_step([6, 10, 3], batch=4, steps=2, backend=backend).values())
                        for backend in ("torch", "array_api_strict")}
    assert counts == OPS, counts
    one = ops_per_step([6, 10, 3], batch=4, steps=2, backend="torch")  # scale+periodic, by name
    assert one["cos"] == one["sin"] == 1 and one["bmm"] == 6, one  # e; grad_W2, dC/dh, grad_w1, dC/dx; scale's vecdot
