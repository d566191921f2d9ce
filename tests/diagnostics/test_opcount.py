"""The number of array operations per training step (kernel launches on a GPU), guarded against
regressions (xpmlp.diagnostics.opcount).  Budgets are today's counts: raise one only with a reason,
lower it when a change saves operations.  The torch count (ATen operations that run a kernel, with
xpmlp's torch fast paths) is what a step costs on CUDA; the array-api-strict count is the generic
code alone."""

from __future__ import annotations

import pytest

pytest.importorskip("array_api_strict")
pytest.importorskip("torch")
from xpmlp.diagnostics.opcount import ops_per_step  # noqa: E402

#: (fit settings, torch budget, array-api-strict budget): operations per step of a 64-100-10
#: relu/softmax network.  Issue 18's target for plain SGD on torch: at most 22.
BUDGETS = [
    ({"optimizer": "sgd"}, 21, 35),
    ({"optimizer": "adam"}, 27, 47),
    ({"optimizer": "adam", "max_grad_norm": 1.0, "alpha": 1e-3}, 40, 59),
]


@pytest.mark.parametrize("settings,torch_budget,strict_budget", BUDGETS, ids=["sgd", "adam", "adam-clip-l2"])
def test_operations_per_step_stay_within_budget(settings, torch_budget, strict_budget):
    torch_ops = ops_per_step([64, 100, 10], backend="torch", **settings)
    assert sum(torch_ops.values()) <= torch_budget, f"{sum(torch_ops.values())} > {torch_budget}: {torch_ops}"
    norms = ("max_grad_norm" in settings) + ("alpha" in settings)  # ||g||^2 and ||W||^2: one dot product each
    assert torch_ops["addmm"] == 2 and torch_ops["mm"] == 3 + norms  # z^l; dW 2, dX 1
    strict = ops_per_step([64, 100, 10], backend="array_api_strict", **settings)
    assert sum(strict.values()) <= strict_budget, f"{sum(strict.values())} > {strict_budget}: {strict}"
    assert strict["__matmul__"] == 5  # forward 2, dW 2, dX 1 (none for the input layer)


def test_three_layers_meet_the_target_and_each_layer_adds_a_fixed_number():
    one, two, three = (sum(ops_per_step([64, *[100] * d, 10]).values()) for d in (1, 2, 3))
    assert two <= 30  # issue 18: three layers at most 30 operations per step on the GPU path
    assert two - one == three - two == 6  # z = aW + b, relu, its delta, dW, db, dX


def test_the_generic_code_adds_a_fixed_number_per_layer():
    one, two = (sum(ops_per_step([64, *[100] * d, 10], backend="array_api_strict").values()) for d in (1, 2))
    assert two - one == 12  # matmul, bias add, relu, its delta (2), dW, db, dX, the two written into the flat buffer


def test_no_per_step_host_work_is_counted_as_device_work():
    for backend in ("torch", "array_api_strict"):
        ops = ops_per_step([8, 5, 3], batch=4, backend=backend)
        assert all(v == int(v) for v in ops.values())  # every step makes the same operations


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend must be"):
        ops_per_step([4, 3], backend="cupy")
