"""Training with input layers of other kinds (xpmlp.nn.front): their parameters live in the flat
buffer after the biases, so every way of training moves them with no special case.

Each test checks a step or a fit against what it must equal: one SGD step is ``theta - eta g``,
Adam's first step ``-eta sign(g)``, L-BFGS's gradient is backprop's (and L2 leaves the input layers
out), the best epoch's input layers come back with ``restore_best``, a streamed fit with one
window is the in-memory fit bitwise, two processes train as one; dropout on every backend from the
host's masks is NumPy's fit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed.sharded import prepare_shard
from xpmlp.nn.metrics import r2_score
from xpmlp.nn.objective import objective
from xpmlp.training import fit, fit_lbfgs
from xpmlp.training.comm import Communicator
from xpmlp.training.dropout import DropoutMasks
from xpmlp.training.lbfgs import flat_objective
from xpmlp.training.sources import ArraySource

from conftest import RTOL, RTOL_TRAJECTORY, assert_close, to_np

NUMPY64 = xpmlp.resolve("numpy", dtype="float64")
FRONT = ["scale", "periodic:frequencies=4,width=3,columns=2"]
D = 3


def data(n=40, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] > 0).astype(np.int64) if classes == 2 else np.sin(2 * X[:, 0]) + X[:, 1]
    return X, y


def classifier(backend=NUMPY64, front=FRONT, **kwargs):
    return xpmlp.MLP([D, 6, 2], "tanh", backend=backend, seed=0, front=front, **kwargs)


def front_of(net) -> list[np.ndarray]:
    return [np.asarray(t, dtype=np.float64) for t in net.get_front()]


def test_one_sgd_step_moves_the_input_layers_by_minus_eta_g():
    X, y = data()
    net = classifier()
    T = np.eye(2)[y]
    g = [to_np(NUMPY64, t) for t in net.gradients(X, T).grad_front]
    before = front_of(net)
    fit(net, X, T, epochs=1, batch_size="full", shuffle=False, optimizer="sgd", learning_rate=0.3, patience=None)
    for k, (a, b, gk) in enumerate(zip(front_of(net), before, g)):
        assert np.linalg.norm(gk) > 0, f"theta {k}: a zero gradient would make this check vacuous"
        assert_close(a, b - 0.3 * gk, RTOL["float64"], f"theta {k}")


def test_adams_first_step_moves_the_input_layers_by_minus_eta_sign_g():
    X, y = data()
    net = classifier()
    T = np.eye(2)[y]
    g = np.concatenate([to_np(NUMPY64, t).ravel() for t in net.gradients(X, T).grad_front])
    before = np.concatenate([t.ravel() for t in front_of(net)])
    fit(net, X, T, epochs=1, batch_size="full", shuffle=False, optimizer="adam", learning_rate=1e-3, patience=None)
    step = np.concatenate([t.ravel() for t in front_of(net)]) - before
    # m_hat / (sqrt(v_hat) + eps) = g / (|g| + eps) after one step
    np.testing.assert_allclose(step, -1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-9, atol=1e-18)
    assert np.count_nonzero(step) > 0.9 * step.size


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "nesterov"])
def test_minibatch_training_learns_with_input_layers(optimizer):
    X, y = data(n=64)
    net = classifier()
    opt = xpmlp.SGD(momentum=0.9, nesterov=True) if optimizer == "nesterov" else optimizer
    start = front_of(net)
    hist = fit(net, X, y, epochs=15, batch_size=16, optimizer=opt, learning_rate=0.05, patience=None)
    assert hist.loss[-1] < 0.8 * hist.loss[0], hist.loss
    assert all(not np.array_equal(a, b) for a, b in zip(start, front_of(net)))


def test_lbfgs_gradient_is_backprops_and_l2_leaves_the_input_layers_out():
    X, y = data()
    T = np.eye(2)[y]
    net = classifier()
    fun, theta0 = flat_objective(net, X, T)
    J, grad = fun(theta0)
    g = net.gradients(X, T)
    expected = np.concatenate([to_np(NUMPY64, a).ravel() for a in [*g.grad_W, *g.grad_b, *g.grad_front]])
    assert_close(grad, expected, RTOL["float64"], "flat gradient")
    assert J == pytest.approx(net.loss_value(X, T), rel=1e-12)
    fun_l2, _ = flat_objective(net, X, T, alpha=0.5)
    J_l2, grad_l2 = fun_l2(theta0)
    W2 = sum(float(np.sum(W * W)) for W in net.get_weights()[0])
    assert J_l2 == pytest.approx(objective(net, X, T, alpha=0.5), rel=1e-12)
    assert J_l2 == pytest.approx(J + 0.25 * W2, rel=1e-12)  # (alpha/2) sum ||W^l||^2: no input layer in it
    n_weights = net.layout.n_weights
    dense = net.layout.size - sum(int(np.prod(s)) for s in net.front.shapes)
    assert_close(grad_l2[:n_weights], grad[:n_weights] + 0.5 * theta0[:n_weights], RTOL["float64"], "W + alpha W")
    np.testing.assert_array_equal(grad_l2[n_weights:], grad[n_weights:])  # biases and input layers: no penalty
    assert dense < net.layout.size
    result = fit_lbfgs(net, X, T, max_iter=30)
    assert result.x.shape == theta0.shape and result.fun < 0.7 * J
    np.testing.assert_array_equal(np.asarray(net.flat), result.x)


def test_inspect_shows_the_dense_layers_behind_the_input_layers():
    X, y = data(n=6)
    net = classifier()
    T = np.eye(2)[y]
    layers = net.inspect(X, T)
    g = net.gradients(X, T, reduction="sum")
    assert layers[0]["grad_W"].shape == (D + 2 * 2, 6)  # W^1's rows: the input layers' output
    np.testing.assert_array_equal(layers[0]["grad_W"], to_np(NUMPY64, g.grad_W[0]))
    np.testing.assert_array_equal(layers[-1]["a"], np.asarray(net.predict(X)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dropout_with_host_masks_trains_alike_on_every_library(dtype):
    """``dropout_masks="host"``: the same masks everywhere, so the fit is NumPy's (torch and array-api-strict)."""
    X, y = data()
    kw = dict(epochs=3, batch_size=8, optimizer="adam", learning_rate=0.01, patience=None, dropout_masks="host")
    ref = classifier(xpmlp.resolve("numpy", dtype=dtype), dropout=0.3, input_dropout=0.2)
    h_ref = fit(ref, X, y, **kw)
    assert ref.dropout == [0.2, 0.3]
    assert [b.shape[1] for b in DropoutMasks(ref, 8, 0).buffers] == [D + 2 * 2, 6]  # m^0 on a^0 = the layers' output
    for spec in ("torch", "array_api_strict:device1"):
        if spec == "torch":
            pytest.importorskip("torch")
        net = classifier(xpmlp.resolve(spec, dtype=dtype), dropout=0.3, input_dropout=0.2)
        h = fit(net, X, y, **kw)
        assert_close(h.loss, h_ref.loss, RTOL_TRAJECTORY[dtype], f"{spec} loss")
        assert_close(to_np(net.backend, net.flat), to_np(ref.backend, ref.flat), RTOL_TRAJECTORY[dtype], spec)
    plain = classifier(xpmlp.resolve("numpy", dtype=dtype))
    assert fit(plain, X, y, **kw).loss != h_ref.loss  # the masks did change the fit


def test_restore_best_brings_back_the_best_epochs_input_layers():
    X, y = data(n=48, classes=0)
    Xv, yv = data(n=24, seed=1, classes=0)
    net = xpmlp.MLP([D, 8, 1], "tanh", "identity", "mse", backend=NUMPY64, seed=0, front=FRONT)
    hist = fit(net, X, y, epochs=60, batch_size=8, optimizer="adam", learning_rate=0.2, patience=3,
               validation_data=(Xv, yv))
    assert hist.stop_reason != "max_epochs" and int(np.argmax(hist.validation_score)) < hist.epochs - 1
    best = max(hist.validation_score)
    score = float(r2_score(np, np.asarray(net.predict(Xv)), yv[:, None]))
    assert score == pytest.approx(best, rel=1e-12)  # the weights and the input layers of the best epoch


@pytest.mark.parametrize("options", [{}, {"validation_fraction": 0.25}, {"shuffle": False}])
def test_a_streamed_fit_in_one_window_is_the_in_memory_fit_bitwise(options):
    X, y = data(n=70)
    a, b = classifier(), classifier()
    kw = dict(epochs=3, batch_size=16, optimizer="adam", learning_rate=0.01, patience=None, **options)
    ha = fit(a, X, y, **kw)
    hb = fit(b, ArraySource(X, y, chunk_rows=20), None, window=0, **kw)
    assert ha.loss == hb.loss and ha.validation_score == hb.validation_score
    np.testing.assert_array_equal(np.asarray(a.flat), np.asarray(b.flat))


class ThreadComm(Communicator):
    """One of ``size`` processes played by threads, summing through shared slots (as
    tests/training/test_stream_ranks.py does for streamed data; here in-memory shards)."""

    def __init__(self, group, rank):
        self.group, self.rank, self.size = group, rank, group["size"]

    def exchange(self, payload):
        g = self.group
        g["barrier"].wait()
        g["slots"][self.rank] = payload
        g["barrier"].wait()
        return list(g["slots"])

    def allreduce_(self, arrays):
        parts = self.exchange([np.array(a, copy=True) for a in arrays])
        for i, a in enumerate(arrays):
            a[...] = sum(p[i] for p in parts)

    def consensus(self, values):
        return dict(self.exchange(values)[0])

    def prepare(self, net, X, T, **kwargs):
        return prepare_shard(self, net, X, T, **kwargs)


def test_two_processes_train_as_one():
    X, y = data(n=50)
    kw = dict(epochs=3, batch_size=8, optimizer="adam", learning_rate=0.01, patience=None, validation_fraction=0.2)
    one = classifier()
    h_one = fit(one, X, y, **kw)
    group = {"size": 2, "barrier": threading.Barrier(2, timeout=20), "slots": [None, None]}
    shards, found = [slice(0, 23), slice(23, 50)], [None, None]

    def rank(r):
        net = classifier()
        found[r] = (net, fit(net, X[shards[r]], y[shards[r]], comm=ThreadComm(group, r), **kw))

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for net, hist in found:
        assert_close(hist.loss, h_one.loss, RTOL["float64"], "loss")
        assert_close(np.asarray(net.flat), np.asarray(one.flat), RTOL["float64"], "parameters")
    np.testing.assert_array_equal(np.asarray(found[0][0].flat), np.asarray(found[1][0].flat))
