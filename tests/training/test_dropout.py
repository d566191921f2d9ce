"""Dropout (xpmlp.training.dropout, xpmlp.nn.backprop): inverted dropout in the generic math, masks
drawn on the device by each library's generator, or on the host so every backend gets the same.

Tolerances as the rest of the suite (conftest.RTOL, RTOL_TRAJECTORY): float64 1e-12, float32 1e-5
for one pass and 1e-4 after many steps, all against NumPy float64 given the same masks."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.backprop import forward
from xpmlp.nn.objective import Objective, batch_gradients
from xpmlp.training import fit
from xpmlp.training.dropout import DropoutMasks

from conftest import RTOL, RTOL_TRAJECTORY, central_differences, make_problem, random_problem, rel_err, to_np

SIZES = [5, 7, 6, 3]


def _masks(net, n, seed=0):
    """Fixed host masks (input 0.2, hidden 0.5 and 0.3), scaled, as backend arrays."""
    rng, rates = np.random.default_rng(seed), [0.2, 0.5, 0.3]
    host = [(rng.random((n, k)) >= p) / (1 - p) for p, k in zip(rates, net.sizes[:-1])]
    return host, [net.backend.asarray(m) for m in host]


def test_gradient_with_fixed_masks_matches_finite_differences(be64):
    net, X, T = make_problem(be64, SIZES, n=9)
    host_masks, masks = _masks(net, 9)
    Ws, bs = (list(map(np.array, a)) for a in net.get_weights())

    def loss():
        ref = xpmlp.MLP(SIZES, "tanh", backend="numpy", dtype="float64")
        ref.set_weights(Ws, bs)
        trace = forward(ref.Ws, ref.bs, ref.activations, X, ref.xp, masks=host_masks)
        return float(np.mean(ref.loss.value(ref.xp, trace.z[-1], trace.a[-1], T, trace.aux[-1])))

    numeric = central_differences(loss, [p for pair in zip(Ws, bs) for p in pair])
    with be64.activate():
        got = batch_gradients(net, net.as_input(X), net.as_target(T, 9), None, Objective(), masks=masks)
    for g, d in zip(got.grads, numeric):
        assert rel_err(to_np(be64, g), d) < 1e-7


def test_masks_scale_kept_units_and_enter_delta(be):
    net, X, T = make_problem(be, SIZES, n=9)
    host_masks, masks = _masks(net, 9)
    with be.activate():
        trace = forward(net.Ws, net.bs, net.activations, net.as_input(X), net.xp, masks=masks)
        f1 = to_np(be, net.activations[0].f(net.xp, trace.z[0]))  # f(z^1)
    np.testing.assert_allclose(to_np(be, trace.a[0]), X * host_masks[0], rtol=RTOL[be.dtype_name])  # a^0 = X m/(1-p)
    np.testing.assert_allclose(to_np(be, trace.undropped(1)), f1, rtol=RTOL[be.dtype_name])
    np.testing.assert_allclose(to_np(be, trace.a[1]), f1 * host_masks[1], rtol=RTOL[be.dtype_name])  # a^1 = f m/(1-p)
    dropped = host_masks[1] == 0
    assert dropped.any() and not to_np(be, trace.a[1])[dropped].any()  # dropped units are zero


def test_host_masks_give_every_backend_the_same_trajectory(be):
    ref, X, T = make_problem(xpmlp.resolve("numpy", dtype="float64"), SIZES, n=40, shift=1.0)
    for net in (ref, make_problem(be, SIZES, n=40, shift=1.0)[0]):
        net.dropout = [0.1, 0.5, 0.25]
        fit(net, X, T, epochs=10, batch_size=8, optimizer="sgd", learning_rate=0.1, patience=None,
            dropout_masks="host", seed=3)  # 50 steps
    for got, want in zip(net.params, ref.params):
        assert rel_err(to_np(be, got), to_np(ref.backend, want)) <= RTOL_TRAJECTORY[be.dtype_name]


@pytest.mark.parametrize("backend", ["numpy", "torch", "array_api_strict"])
def test_device_masks_repeat_exactly_for_a_seed(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    X, T = random_problem("cross_entropy", 40, 5, 3, shift=1.0)
    runs = []
    for seed in (4, 4, 5):
        net = xpmlp.MLP(SIZES, "relu", backend=backend, seed=0, dropout=[0.5, 0.25], input_dropout=0.1)
        fit(net, X, T, epochs=3, batch_size=8, patience=None, seed=seed)
        runs.append(net.backend.to_numpy(net.flat))
    np.testing.assert_array_equal(runs[0], runs[1])  # the same seed: bit for bit
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_device_masks_keep_one_minus_p_and_scale_by_its_inverse(be, p):
    net = xpmlp.MLP([40, 200, 3], backend=be, dropout=p)
    with be.activate():
        m = to_np(be, DropoutMasks(net, 500, seed=1).draw(500)[1])
    values = np.unique(m)
    assert values[0] == 0.0 and len(values) == 2
    assert values[1] == pytest.approx(1 / (1 - p), rel=RTOL[be.dtype_name])
    kept = np.mean(m > 0)
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / m.size)  # within 4 standard errors


def test_prediction_and_validation_never_drop():
    X, T = random_problem("cross_entropy", 40, 5, 3, shift=1.0)
    net = xpmlp.MLP(SIZES, "relu", backend="numpy", dtype="float64", dropout=0.5)
    history = fit(net, X, T, epochs=3, batch_size=8, validation_data=(X, T), patience=None, restore_best=False)
    plain = xpmlp.MLP(SIZES, "relu", backend="numpy", dtype="float64")
    plain.set_weights(*net.get_weights())
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    score = xpmlp.nn.metrics.default_score("softmax")(net.xp, plain.predict(X), T, None)
    assert history.validation_score[-1] == pytest.approx(float(score), rel=1e-12)


def test_mixed_precision_with_dropout():
    pytest.importorskip("torch")
    X, T = random_problem("cross_entropy", 40, 5, 3, shift=1.0)
    net = xpmlp.MLP(SIZES, "relu", backend="torch", compute_dtype="bfloat16", dropout=0.3)
    history = fit(net, X, T, epochs=5, batch_size=8, patience=None)
    assert history.loss[-1] < history.loss[0]


def test_bad_rates_and_modes_are_refused():
    with pytest.raises(ValueError, match=r"dropout rates must be in \[0, 1\), got 1.0"):
        xpmlp.MLP(SIZES, dropout=1.0)
    with pytest.raises(ValueError, match="dropout gives 1 rates for 2 hidden layers"):
        xpmlp.MLP(SIZES, dropout=[0.5])
    with pytest.raises(ValueError, match="needs a hidden layer; this network has none"):
        xpmlp.MLP([4, 3], dropout=0.5)
    net, X, T = make_problem("numpy", SIZES, n=8)
    with pytest.raises(ValueError, match="dropout_masks must be 'device' or 'host'"):
        fit(net, X, T, epochs=1, dropout_masks="gpu")
    from scipy import sparse

    net = xpmlp.MLP(SIZES, backend="numpy", input_dropout=0.2)
    with pytest.raises(TypeError, match="input_dropout needs dense inputs"):
        fit(net, sparse.csr_matrix(X), T, epochs=1)


def test_model_files_keep_the_rates(tmp_path):
    import json

    from xpmlp.io import model as io

    net = xpmlp.MLP(SIZES, backend="numpy", dropout=[0.5, 0.25], input_dropout=0.1)
    path = io.save(tmp_path / "m.npz", net)
    assert io.load(path).net.dropout == [0.1, 0.5, 0.25]
    assert "dropout=[0.5, 0.25], input_dropout=0.1" in repr(net)
    meta, arrays = io.to_state(net)
    del meta["architecture"]["dropout"]  # a 0.2 file
    assert io.from_state(meta, arrays).net.dropout == [0.0, 0.0, 0.0]
    meta["architecture"]["dropout"] = [0.1, 0.5]
    with pytest.raises(io.ModelFileError, match="dropout record"):
        io.from_state(json.loads(json.dumps(meta)), arrays)


def test_host_masks_are_numpys_draws_scaled_by_one_over_keep(be):
    """host=True: one NumPy generator seeded with ``seed``, U[0, 1) >= p kept as 1/(1-p), layer after
    layer, in the layers' dtype; the default draws on the device."""
    net = xpmlp.MLP([4, 6, 5, 2], backend=be, dropout=[0.5, 0.0], input_dropout=0.25)
    with be.activate():
        assert DropoutMasks(net, 8, seed=3).host is False
        masks = DropoutMasks(net, 8, seed=3, host=True)
        assert not masks.on_device
        got = masks.draw(6)
    rng = np.random.default_rng(3)
    want = [(rng.random((6, 4)) >= 0.25) / 0.75, (rng.random((6, 6)) >= 0.5) / 0.5]  # the batch's rows only
    assert got[2] is None
    for g, w in zip(got[:2], want):
        assert g.dtype == net.backend.dtype
        np.testing.assert_array_equal(to_np(be, g), w.astype(be.dtype_name).astype(np.float64))



def test_a_mask_on_the_last_hidden_layer_alone_applies_there_alone():
    """masks[l] scales a^l only: none on the input or the first hidden layer, one on the second."""
    net = xpmlp.MLP(SIZES, "tanh", backend="numpy", dtype="float64", seed=0)
    X = np.random.default_rng(1).normal(size=(4, 5))
    m2 = (np.arange(24).reshape(4, 6) % 3 != 0) / (2 / 3)
    trace = forward(net.Ws, net.bs, net.activations, X, net.xp, masks=[None, None, m2])
    a1 = np.tanh(X @ net.Ws[0] + net.bs[0])
    a2 = np.tanh(a1 @ net.Ws[1] + net.bs[1]) * m2
    np.testing.assert_allclose(trace.a[1], a1, rtol=1e-12)
    np.testing.assert_allclose(trace.a[2], a2, rtol=1e-12, atol=1e-15)
