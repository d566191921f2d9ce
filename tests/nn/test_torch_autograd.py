"""An independent check of the backprop math: xpmlp's gradients equal torch.autograd's.

The network is rebuilt in PyTorch from xpmlp's own weights, the same cost is
written with torch functions, and autograd differentiates it.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp

from conftest import RTOL, assert_close, to_np

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

TORCH_ACT = {
    "identity": lambda z: z,
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softmax": lambda z: torch.softmax(z, dim=1),
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "leaky_relu:slope=0.2": lambda z: torch.nn.functional.leaky_relu(z, 0.2),
    "elu": torch.nn.functional.elu,
    "elu:alpha=0.5": lambda z: torch.nn.functional.elu(z, alpha=0.5),
    "gelu": lambda z: torch.nn.functional.gelu(z, approximate="tanh"),
    "silu": torch.nn.functional.silu,
    "softplus": torch.nn.functional.softplus,  # z itself past z = 20 (2e-9 off); these z stay far below
}


def torch_cost(loss, z, a, t):
    if loss == "squared_error":
        return 0.5 * ((a - t) ** 2).sum(dim=1)
    if loss == "mse":
        return ((a - t) ** 2).mean(dim=1)
    if loss == "binary_cross_entropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none").sum(dim=1)
    return -(t * torch.log_softmax(z, dim=1)).sum(dim=1)


CASES = [
    ([5, 6, 4], "relu", "softmax", "cross_entropy"),
    ([5, 6, 6, 3], "tanh", "logistic", "binary_cross_entropy"),
    ([5, 3], "relu", "identity", "mse"),
    ([5, 4, 4, 4, 2], "logistic", "tanh", "squared_error"),
    ([5, 6, 6, 3], "leaky_relu", "gelu", "mse"),
    ([5, 6, 4], "leaky_relu:slope=0.2", "softmax", "cross_entropy"),
    ([5, 6, 6, 3], "elu", "silu", "squared_error"),
    ([5, 6, 3], "elu:alpha=0.5", "logistic", "binary_cross_entropy"),
    ([5, 6, 6, 2], "gelu", "softplus", "mse"),
    ([5, 6, 6, 3], "silu", "leaky_relu:slope=0.2", "squared_error"),
    ([5, 6, 3], "softplus", "elu:alpha=0.5", "mse"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", CASES, ids=lambda s: f"{s[1]}-{s[2]}-{s[3]}-d{len(s[0]) - 2}")
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradients_equal_torch_autograd(spec, dtype, reduction):
    sizes, hidden, out, loss = spec
    be = xpmlp.resolve("torch", dtype=dtype)
    net = xpmlp.MLP(sizes, hidden, out, loss, backend=be, seed=11)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(9, sizes[0]))
    T = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 9)] if loss != "mse" else rng.normal(size=(9, sizes[-1]))
    grads = net.gradients(X, T, reduction=reduction)

    tdtype = getattr(torch, dtype)
    Ws, bs = net.get_weights()
    params = [torch.tensor(p, dtype=tdtype, requires_grad=True) for pair in zip(Ws, bs) for p in pair]
    a = torch.tensor(X, dtype=tdtype)
    acts = [hidden] * (len(sizes) - 2) + [out]
    for i, act in enumerate(acts):
        z = a @ params[2 * i] + params[2 * i + 1]
        a = TORCH_ACT[act](z)
    cost = torch_cost(loss, z, a, torch.tensor(T, dtype=tdtype))
    (cost.mean() if reduction == "mean" else cost.sum()).backward()

    ours = [g for pair in zip(grads.grad_W, grads.grad_b) for g in pair]
    for i, (g, p) in enumerate(zip(ours, params)):
        assert_close(to_np(be, g), p.grad.double().numpy(), RTOL[dtype], f"param {i}")
