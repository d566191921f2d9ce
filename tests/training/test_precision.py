"""Mixed precision (xpmlp.training.precision): float32 master weights, products in bfloat16 or float16.

Tolerances: one batch's gradient against float32's, norm-relative.  The compute copy rounds
weights, inputs and every activation to the compute dtype's unit roundoff (bfloat16 2^-8 = 3.9e-3,
float16 2^-11 = 4.9e-4) and errors of a few such roundings add up through two layers: bounds of
8 unit roundoffs (bfloat16 3e-2, float16 4e-3)."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.objective import Objective, batch_gradients
from xpmlp.optim.optimizers import Adam
from xpmlp.training import fit
from xpmlp.training.precision import LossScaler, MixedPrecision

from conftest import random_problem, rel_err
from sync_probes import Probe, counting, only_row_orders

torch = pytest.importorskip("torch")

TOLERANCE = {"bfloat16": 8 * 2.0 ** -8, "float16": 8 * 2.0 ** -11}


def _nets(compute_dtype, backend="torch", seed=0):
    ref = xpmlp.MLP([6, 16, 4], "tanh", backend=backend, seed=seed)
    mixed = xpmlp.MLP([6, 16, 4], "tanh", backend=backend, seed=seed, compute_dtype=compute_dtype)
    return ref, mixed


def _host(net, grads):
    return net.backend.to_numpy(grads.flat).astype(np.float64)


@pytest.mark.parametrize("compute_dtype", ["bfloat16", "float16"])
def test_gradients_match_float32_within_the_compute_dtypes_roundoff(compute_dtype):
    X, T = random_problem("cross_entropy", 32, 6, 4, seed=1)
    ref, mixed = _nets(compute_dtype)
    Xd, Td = ref.as_input(X), ref.as_target(T, 32)
    want = batch_gradients(ref, Xd, Td, grads=ref.parameters.like())
    mp = MixedPrecision(mixed, 32)
    got = mp.batch_gradients(Xd, Td, None, Objective(), 32, None, mixed.parameters.like())
    assert got.grads.flat.dtype == torch.float32 and got.loss.dtype == torch.float32  # master precision out
    assert mp.compute.flat.dtype == getattr(torch, compute_dtype)
    err = rel_err(_host(mixed, got.grads), _host(ref, want.grads))
    assert 0 < err < TOLERANCE[compute_dtype], err  # not float32 (0 would mean no low precision ran), but close
    assert float(got.loss) == pytest.approx(float(want.loss), rel=TOLERANCE[compute_dtype])


def test_the_l2_gradient_is_added_in_float32():
    X, T = random_problem("cross_entropy", 32, 6, 4, seed=1)
    ref, mixed = _nets("bfloat16")
    Xd, Td = ref.as_input(X), ref.as_target(T, 32)
    mp = MixedPrecision(mixed, 32)
    plain = mp.batch_gradients(Xd, Td, None, Objective(), 32, None, mixed.parameters.like())
    plain = _host(mixed, plain.grads)
    l2 = mp.batch_gradients(Xd, Td, None, Objective(alpha=0.5), 32, None, mixed.parameters.like())
    W = mixed.backend.to_numpy(mixed.flat)
    n = mixed.layout.n_weights
    np.testing.assert_allclose(_host(mixed, l2.grads)[:n] - plain[:n], 0.5 * W[:n], rtol=1e-6, atol=1e-7)


def test_a_forced_overflow_skips_the_step_and_halves_the_scale():
    X, T = random_problem("cross_entropy", 16, 6, 4, seed=2)
    _, net = _nets("float16")
    opt = Adam()
    mp = MixedPrecision(net, 16)
    Xd, Td = net.as_input(X), net.as_target(T, 16)

    def step():
        grads = net.parameters.like()
        mp.batch_gradients(Xd, Td, None, Objective(), 16, None, grads)
        mp.before_update(opt)
        opt.step(net.parameters, grads, 1e-2)
        mp.after_update(opt)

    before = net.backend.to_numpy(net.flat).copy()
    mp.scaler.scale = mp.scaler.scale * 2.0 ** 20  # 2^36: delta^L overflows float16's 65504
    step()
    assert not bool(mp.scaler.finite)
    np.testing.assert_array_equal(net.backend.to_numpy(net.flat), before)  # undone, bit for bit
    assert all(not np.any(net.backend.to_numpy(b)) for b in opt.buffers())  # Adam's first moments: still zero
    assert float(mp.scaler.scale) == 2.0 ** 35
    mp.scaler.scale = mp.scaler.scale * 0 + 2.0 ** 10
    step()
    assert bool(mp.scaler.finite) and not np.array_equal(net.backend.to_numpy(net.flat), before)
    assert float(mp.scaler.scale) == 2.0 ** 10 and float(mp.scaler.good) == 1
    state = [net.backend.to_numpy(b).copy() for b in opt.buffers()]
    weights = net.backend.to_numpy(net.flat).copy()
    mp.scaler.scale = mp.scaler.scale * 2.0 ** 26  # overflow again, now that Adam has state
    step()
    assert not bool(mp.scaler.finite)
    np.testing.assert_array_equal(net.backend.to_numpy(net.flat), weights)
    for b, old in zip(opt.buffers(), state, strict=True):  # the moments restored, not zeroed
        np.testing.assert_array_equal(net.backend.to_numpy(b), old)


def test_the_scale_grows_after_enough_finite_steps():
    scaler = LossScaler(torch, "cpu", torch.float32, init=4.0, growth_interval=3)
    g = torch.ones(5)
    for expected in (4.0, 4.0, 8.0, 8.0, 8.0, 16.0):
        scaler.unscale_(g)
        scaler.update()
        assert float(scaler.scale) == expected
    g[2] = float("nan")
    scaler.unscale_(g)
    scaler.update()
    assert float(scaler.scale) == 8.0 and float(scaler.good) == 0


@pytest.mark.parametrize("compute_dtype", ["bfloat16", "float16"])
def test_digits_accuracy_within_one_point_of_float32(compute_dtype):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order] / 16.0, y[order]
    T = np.eye(10)[y]
    scores = {}
    for cd in (None, compute_dtype):
        net = xpmlp.MLP([64, 64, 10], backend="torch", seed=0, compute_dtype=cd)
        fit(net, X[:1400], T[:1400], epochs=15, batch_size=100, optimizer="adam", patience=None, seed=0)
        scores[cd] = float(np.mean(np.argmax(net.backend.to_numpy(net.predict(X[1400:])), 1) == y[1400:]))
    assert scores[None] > 0.93
    assert abs(scores[compute_dtype] - scores[None]) <= 0.01, scores


@pytest.mark.parametrize("kind,compute_dtype", [("torch", "bfloat16"), ("torch", "float16"),
                                                ("torch-cuda-standin", "float16"), ("cupy-standin", "float16")])
def test_mixed_precision_steps_without_a_sync(monkeypatch, kind, compute_dtype):
    X, T = random_problem("cross_entropy", 64, 3, 3, shift=2.0)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        net = xpmlp.MLP([3, 5, 3], "relu", backend=backend, seed=0, compute_dtype=compute_dtype)
        probe = Probe(syncs, uploads)
        fit(net, X, T, epochs=2, batch_size=8, optimizer=Adam(), alpha=1e-3, max_grad_norm=1.0,
            validation_data=(X[:16], T[:16]), patience=None, callbacks=[probe])
    assert not probe.seen, f"operations that synchronise on {kind}, inside the step loop: {dict(probe.seen)}"
    assert only_row_orders(probe.uploaded, 64, 2), dict(probe.uploaded)


def test_libraries_without_the_dtype_are_refused_by_name():
    with pytest.raises(ValueError, match=r"numpy offers no low-precision products; bfloat16 runs on cupy or torch"):
        xpmlp.MLP([3, 2], backend="numpy", compute_dtype="bfloat16")
    with pytest.raises(ValueError, match=r"float16 runs on cupy or torch"):
        xpmlp.MLP([3, 2], backend="array_api_strict", compute_dtype="float16")
    with pytest.raises(ValueError, match="keeps float32 master weights; this model is float64"):
        xpmlp.MLP([3, 2], backend="torch", dtype="float64", compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype must be 'bfloat16' or 'float16'"):
        xpmlp.MLP([3, 2], backend="torch", compute_dtype="int8")


def test_sparse_inputs_are_refused():
    from scipy import sparse

    net = xpmlp.MLP([3, 3], "relu", "softmax", backend="torch", compute_dtype="bfloat16")
    with pytest.raises(TypeError, match="mixed precision needs dense inputs"):
        fit(net, sparse.csr_matrix(np.eye(3)), np.eye(3), epochs=1)


def test_a_saved_model_keeps_its_compute_dtype_where_the_library_offers_it(tmp_path):
    from xpmlp.io.model import load, save

    net = xpmlp.MLP([3, 4, 2], backend="torch", compute_dtype="bfloat16")
    path = save(tmp_path / "m.npz", net)
    assert load(path, backend="torch").net.compute_dtype == "bfloat16"
    assert load(path, backend="numpy").net.compute_dtype is None  # predicts and trains in float32 there
    assert "compute_dtype=bfloat16" in repr(net)


def test_the_loss_scale_starts_at_2_16_doubles_after_2000_finite_steps_and_halves_on_overflow():
    s = LossScaler(np, "cpu", np.float32)
    assert s.scale.dtype == np.float32 and s.good.dtype == np.float32 and float(s.scale) == 2.0 ** 16
    g = np.ones(3, np.float32)
    for _ in range(1999):
        s.unscale_(g.copy())
        s.update()
    assert float(s.scale) == 2.0 ** 16 and float(s.good) == 1999
    s.unscale_(g.copy())
    s.update()
    assert float(s.scale) == 2.0 ** 17 and float(s.good) == 0
    s.unscale_(np.array([1.0, np.inf], np.float32))
    s.update()
    assert float(s.scale) == 2.0 ** 16


def test_only_float16_scales_the_loss():
    for compute_dtype, scaled in (("bfloat16", False), ("float16", True)):
        _, net = _nets(compute_dtype)
        mp = MixedPrecision(net, 8)
        assert (mp.scaler is not None) == scaled
        if scaled:
            assert mp.scaler.scale.dtype == torch.float32 and mp.scaler.scale.device == net.flat.device


def test_every_input_of_the_step_reaches_the_low_precision_computation():
    """Sample weights, dropout masks, the folded factor, the reduce hook and the L2 term each change
    the mixed-precision gradient as they change the float32 one (within bfloat16's roundoff)."""
    X, T = random_problem("cross_entropy", 32, 6, 4, seed=3)
    ref, mixed = _nets("bfloat16")
    Xd, Td = ref.as_input(X), ref.as_target(T, 32)
    rng = np.random.default_rng(4)
    wb = ref.backend.asarray(rng.uniform(0.2, 3.0, 32))
    masks = [None, ref.backend.asarray((rng.random((32, 16)) >= 0.5) / 0.5)]
    obj = Objective(alpha=0.3)
    seen = []

    def double(arrays):  # two identical processes
        seen.append(len(arrays))
        for a in arrays:
            a *= 2

    mp = MixedPrecision(mixed, 32)
    low = [None, masks[1].to(torch.bfloat16)]  # in the dtype the layers compute in (0 and 2: exact)
    got = mp.batch_gradients(Xd, Td, wb, obj, 32, double, mixed.parameters.like(), factor=0.5, masks=low)
    want = batch_gradients(ref, Xd, Td, wb, obj, reduce=double, grads=ref.parameters.like(), factor=0.5, masks=masks)
    assert seen == [1, 1]  # one flat float32 buffer each
    err = rel_err(_host(mixed, got.grads), _host(ref, want.grads))
    assert err < TOLERANCE["bfloat16"], err
    assert float(got.penalty) == pytest.approx(float(want.penalty), rel=1e-6)  # float32 weights, float32 sums
    plain = batch_gradients(ref, Xd, Td, grads=ref.parameters.like())
    assert rel_err(_host(ref, plain.grads), _host(ref, want.grads)) > 10 * TOLERANCE["bfloat16"]  # the inputs mattered


def test_cupy_float16_steps_through_its_workspace_on_its_device():
    """CuPy's path (in-place products into a workspace; float16 with a loss scale) on the stand-in's
    device 1: the gradient of a short batch within float16's roundoff of float32's, every array there."""
    from standins import cupy_standin

    X, T = random_problem("cross_entropy", 32, 6, 4, seed=1)
    with cupy_standin():
        ref, mixed = _nets("float16", backend="cupy:1")
        with mixed.backend.activate():
            Xd, Td = ref.as_input(X[:24]), ref.as_target(T[:24], 24)
            want = batch_gradients(ref, Xd, Td, grads=ref.parameters.like())
            mp = MixedPrecision(mixed, 32)
            assert mp.ws is not None and mp.scaler is not None
            got = mp.batch_gradients(Xd, Td, None, Objective(), 24, None, mixed.parameters.like())
            for a in (mp.compute.flat, mp.scaler.scale, mp.scaler.good, mp.ws.a[-1], got.grads.flat):
                assert a.device == mixed.flat.device
            assert mp.ws.a[-1].dtype == mixed.flat.dtype and mp.ws.a[0].dtype == mp.dtype  # float32 output layer
            assert mp.scaler.scale.dtype == mp.scaler.good.dtype == mixed.flat.dtype  # the scale in float32
            err = rel_err(_host(mixed, got.grads), _host(ref, want.grads))
    assert 0 < err < TOLERANCE["float16"], err


def test_a_sparse_input_is_refused_by_mixed_precision_with_the_way_out():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    _, mixed = _nets("bfloat16")
    mp = MixedPrecision(mixed, 4)
    with pytest.raises(TypeError, match=r"^mixed precision needs dense inputs: a sparse X trains in float32 "
                                        r"\(compute_dtype=None\)$"):
        mp.batch_gradients(scipy_sparse.csr_matrix(np.eye(4, 6)), None, None, Objective(), 4, None,
                           mixed.parameters.like())
