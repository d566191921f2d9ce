"""The number of array operations per training step (kernel launches on a GPU), guarded against
regressions.  Budgets are today's counts for the generic code (xpmlp.diagnostics.opcount): raise one only with
a reason, lower it when a change saves operations."""

from __future__ import annotations

import pytest

pytest.importorskip("array_api_strict")
from xpmlp.diagnostics.opcount import ops_per_step  # noqa: E402

#: fit settings -> operations per step of a 64-100-10 relu/softmax network, today.
BUDGETS = [
    ({"optimizer": "sgd"}, 38),
    ({"optimizer": "adam"}, 82),
    ({"optimizer": "adam", "max_grad_norm": 1.0, "alpha": 1e-3}, 113),
]


@pytest.mark.parametrize("settings,budget", BUDGETS, ids=["sgd", "adam", "adam-clip-l2"])
def test_operations_per_step_stay_within_budget(settings, budget):
    ops = ops_per_step([64, 100, 10], **settings)
    assert sum(ops.values()) <= budget, f"{sum(ops.values())} operations per step > {budget}: {ops}"
    assert ops.get("__matmul__") == 5  # forward 2, dW 2, dX 1 (none for the input layer)


def test_each_hidden_layer_adds_a_fixed_number():
    one, two, three = (sum(ops_per_step([64, *[100] * d, 10]).values()) for d in (1, 2, 3))
    assert two - one == three - two <= 14  # matmul, bias add, relu, its delta, dW, db, dX, update


def test_no_per_step_host_work_is_counted_as_device_work():
    ops = ops_per_step([8, 5, 3], batch=4)
    assert all(v == int(v) for v in ops.values())  # every step makes the same operations
