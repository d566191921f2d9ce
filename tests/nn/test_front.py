"""Input layers of other kinds (xpmlp.nn.front): their gradients, checked three ways on every backend.

* central differences in float64 over every entry of the flat parameter buffer (``W^l``, ``b^l``
  and the input layers' ``theta``), on every float64 backend of the matrix;
* torch.autograd on the same network written in plain torch ops (its formulas from the
  modules' docstrings, not xpmlp's code), to float64 roundoff, dropout masks included;
* every backend against NumPy from the same seed (one pass and a short fit), by dtype.

The kinds: ``scale``, ``periodic``, ``periodic:columns=2`` (the first 2 of 3 columns embedded)
and stacks, where each kind's pull-back ``dC/dx`` feeds the kind below it.  Errors and reprs are
in ``test_front_errors.py``, training in ``test_front_training.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.backprop import backward, forward

from conftest import RTOL, RTOL_TRAJECTORY, assert_close, assert_on_backend, central_differences, rel_err, to_np

SIZES = [3, 4, 2]
NUMPY64 = xpmlp.resolve("numpy", dtype="float64")
#: Every kind alone, and stacks: scale's gradient needs periodic's pull-back through all of
#: ``u = [e, x]`` (columns=0) or through ``e`` for 2 columns and ``x`` for the third (columns=2).
FRONTS = {
    "scale": ["scale"],
    "periodic": ["periodic"],
    "periodic-columns2": ["periodic:columns=2"],
    "scale-periodic": ["scale", "periodic"],
    "scale-periodic-columns2": ["scale", "periodic:columns=2"],
    "periodic-scale": ["periodic:columns=2", "scale"],
}
#: Central differences of the mean cost, h = 1e-6: truncation O(h^2) ~ 1e-12, roundoff ~ eps C / h ~ 1e-10.
H, FD_RTOL = 1e-6, 1e-6
#: Every backend differentiates periodic layers of 4 frequencies and width 3 (the same code as the
#: default 16 and 4, with fewer parameters to perturb: the check stays well under a second);
#: NumPy the default size too.
SMALL = "frequencies=4,width=3"


def small(front):
    """``front`` with its periodic layers at the :data:`SMALL` size."""
    return [f"periodic:{SMALL}" + spec[len("periodic"):].replace(":", ",") if spec.startswith("periodic") else spec
            for spec in front]


def problem(be, front, n=5, seed=0, hidden="tanh", out="softmax", loss="cross_entropy"):
    """A small network with ``front`` on ``be`` and host float64 data ``(net, X, T)``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, SIZES[0]))
    T = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], n)] if loss == "cross_entropy" else rng.normal(size=(n, SIZES[-1]))
    return xpmlp.MLP(SIZES, hidden, out, loss, backend=be, seed=seed, front=front), X, T


def host_flat(net) -> np.ndarray:
    return np.array(net.backend.to_numpy(net.flat), dtype=np.float64)


def load(net, theta: np.ndarray) -> None:
    with net.backend.activate():
        net.flat[...] = net.backend.asarray(theta)


def flat_gradient(net, grads) -> np.ndarray:
    """A :class:`Gradients` as one host vector in the flat buffer's order (Ws, bs, then the front's)."""
    be = net.backend
    return np.concatenate([to_np(be, g).ravel() for g in [*grads.grad_W, *grads.grad_b, *grads.grad_front]])


def check_central_differences(be, front):
    net, X, T = problem(be, front)
    analytic = flat_gradient(net, net.gradients(X, T))
    theta = host_flat(net)
    assert analytic.shape == theta.shape == (net.layout.size,)

    def cost():
        load(net, theta)
        return net.loss_value(X, T)

    numeric = central_differences(cost, [theta], H)[0]
    load(net, theta)
    for k, (a, n) in enumerate(zip(net.layout.views(np, analytic), net.layout.views(np, numeric))):
        assert np.linalg.norm(n) > 1e-8, f"array {k}: the numeric gradient vanished; the check would be vacuous"
        assert rel_err(a, n) < FD_RTOL, f"array {k} {a.shape} of {front}: relative error {rel_err(a, n):.2e}"
    assert len(net.layout.views(np, analytic)) == 2 * net.n_layers + len(net.front.shapes)


#: Every kind alone and the stack RealMLP uses, on every backend (the other stacks: NumPy's below,
#: and every backend's torch.autograd check).
EVERY_BACKEND = ["scale", "periodic", "periodic-columns2", "scale-periodic"]


@pytest.mark.parametrize("front", [FRONTS[k] for k in EVERY_BACKEND], ids=EVERY_BACKEND)
def test_gradients_match_central_differences_on_every_backend(be64, front):
    check_central_differences(be64, small(front))


@pytest.mark.parametrize("front", [*FRONTS.values(), ["periodic"]], ids=[*(f"small-{k}" for k in FRONTS), "periodic"])
def test_numpy_gradients_match_central_differences(front):
    check_central_differences(NUMPY64, front if front == ["periodic"] else small(front))


# -- torch.autograd ------------------------------------------------------------------------------

def torch_front(torch, layer, theta, x):
    """The kind's forward written from its module docstring in plain torch ops."""
    c = layer.lr_factor
    if layer.name == "scale":
        return x * (c * theta[0])  # u = x ⊙ (c theta)
    w1, b1, W2, b2 = (c * t for t in theta)
    xm = x[:, :layer.m]
    v = 2 * math.pi * xm[:, :, None] * w1 + b1  # (n, m, k)
    e = torch.einsum("nmk,mkd->nmd", torch.cos(v), W2) + b2  # (n, m, d)
    return torch.cat([e.reshape(x.shape[0], -1), x], dim=1)  # [e_1 .. e_m, x]


def torch_gradients(net, X, T, masks=None):
    """Every parameter's gradient of the mean softmax cross-entropy, by torch.autograd (float64)."""
    torch = pytest.importorskip("torch")
    Ws, bs = net.get_weights()
    dense = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in Ws + bs]
    theta = [torch.tensor(t, dtype=torch.float64, requires_grad=True) for t in net.get_front()]
    a, i = torch.tensor(X, dtype=torch.float64), 0
    for layer in net.front.layers:
        a = torch_front(torch, layer, theta[i:i + len(layer.shapes)], a)
        i += len(layer.shapes)
    L = net.n_layers
    for l in range(L):
        if masks is not None and masks[l] is not None:
            a = a * torch.tensor(masks[l])
        z = a @ dense[l] + dense[L + l]
        a = torch.tanh(z) if l < L - 1 else z
    cost = -(torch.tensor(T) * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
    cost.backward()
    return np.concatenate([p.grad.numpy().ravel() for p in dense + theta])


@pytest.mark.parametrize("front", FRONTS.values(), ids=FRONTS.keys())
def test_gradients_equal_torch_autograd(be64, front):
    net, X, T = problem(be64, front, n=9, seed=3)
    expected = torch_gradients(net, X, T)
    got = flat_gradient(net, net.gradients(X, T))
    for k, (a, b) in enumerate(zip(net.layout.views(np, got), net.layout.views(np, expected))):
        assert_close(a, b, RTOL["float64"], f"array {k} of {front}")


@pytest.mark.parametrize("front", [["scale", "periodic"], ["scale", "periodic:columns=2"]], ids=["all", "columns2"])
def test_dropout_masks_equal_torch_autograd(front):
    """Input dropout acts on ``a^0``, the input layers' output: ``dC/da^0 ⊙ m^0 / (1-p)`` goes down the stack."""
    net, X, T = problem(NUMPY64, front, n=7, seed=4)
    rng = np.random.default_rng(1)
    masks = [(rng.random((7, w)) >= 0.3) / 0.7 for w in net.widths[:-1]]
    xp = net.xp
    trace = forward(net.Ws, net.bs, net.activations, X, xp, masks=masks, **net.front_args)
    got = backward(net.Ws, net.activations, net.loss, trace, T, xp, **net.front_args)
    expected = torch_gradients(net, X, T, masks)
    assert_close(flat_gradient(net, got), expected, RTOL["float64"], "dropout")
    assert np.linalg.norm(np.concatenate([g.ravel() for g in got.grad_front])) > 0


def test_scales_pull_back_below_periodic_is_periodics_input_gradient():
    """``dC/dx`` of periodic, as handed to the scale below it: ``grad_theta_scale = c sum_n x ⊙ dC/du``
    with ``dC/du`` torch's gradient at the scaled input (the densenet part and the embedding both)."""
    torch = pytest.importorskip("torch")
    net, X, T = problem(NUMPY64, ["scale", "periodic:columns=2"], n=6, seed=2)
    scale, periodic = net.front.layers
    theta = net.get_front()
    u = torch.tensor(X * (scale.lr_factor * theta[0]), requires_grad=True)
    out = torch_front(torch, periodic, [torch.tensor(t) for t in theta[1:]], u)
    g = np.random.default_rng(0).normal(size=tuple(out.shape))
    out.backward(torch.tensor(g))
    xp = net.xp
    _, caches = net.front.forward(xp, net.parameters.front, X)
    grads = net.front.backward(xp, net.parameters.front, caches, g)
    assert_close(grads[0], scale.lr_factor * (X * u.grad.numpy()).sum(axis=0), RTOL["float64"], "grad_theta scale")
    assert np.all(u.grad.numpy()[:, 2] == g[:, -1])  # the third column is not embedded: only its densenet copy


# -- parity across backends ----------------------------------------------------------------------

PARITY = {"scale-periodic": ["scale", "periodic"], "periodic-columns2": ["periodic:columns=2"]}


def parity_pair(be, front, n=12):
    ref, X, T = problem(xpmlp.resolve("numpy", dtype=be.dtype_name), front, n=n, seed=7)
    net, _, _ = problem(be, front, n=n, seed=7)
    return ref, net, X, T


@pytest.mark.parametrize("front", PARITY.values(), ids=PARITY.keys())
def test_every_backend_gives_numpys_outputs_and_gradients(be_other, front):
    ref, net, X, T = parity_pair(be_other, front)
    for a, b in zip(ref.get_front(), net.get_front()):
        np.testing.assert_array_equal(a, b)  # drawn on the host: bit-identical
    rtol = RTOL[be_other.dtype_name]
    out = net.predict(X)
    assert_on_backend(be_other, out)
    assert_close(to_np(be_other, out), to_np(ref.backend, ref.predict(X)), rtol, "a^L")
    g_ref, g = ref.gradients(X, T), net.gradients(X, T)
    for k, (a, b) in enumerate(zip(g_ref.grad_front, g.grad_front)):
        assert_on_backend(be_other, b)
        assert_close(to_np(be_other, b), to_np(ref.backend, a), rtol, f"grad_front {k}")
    assert_close(flat_gradient(net, g), flat_gradient(ref, g_ref), rtol, "every gradient")


@pytest.mark.parametrize("front", PARITY.values(), ids=PARITY.keys())
def test_every_backend_trains_like_numpy(be_other, front):
    ref, net, X, T = parity_pair(be_other, front, n=24)
    start = ref.get_front()
    kw = dict(epochs=4, batch_size=6, optimizer="adam", learning_rate=0.01, seed=3, patience=None)  # 16 steps
    h_ref, h = xpmlp.fit(ref, X, T, **kw), xpmlp.fit(net, X, T, **kw)
    rtol = RTOL_TRAJECTORY[be_other.dtype_name]
    assert_close(h.loss, h_ref.loss, rtol, "loss curve")
    assert_close(to_np(be_other, net.flat), to_np(ref.backend, ref.flat), rtol, "parameters")
    assert all(not np.array_equal(a, b) for a, b in zip(start, ref.get_front()))  # the input layers trained
