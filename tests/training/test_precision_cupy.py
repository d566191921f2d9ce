"""Mixed precision on CuPy (the stand-in, ``tests/standins``): bfloat16 (CuPy 14 with ml_dtypes) and
float16, with dropout's masks drawn on the device, against the generic float32 computation; the
error that names the CuPy version where bfloat16 is missing; a model on GPU 1 that never leans on
peer access.

Tolerances as tests/training/test_precision.py: one batch's gradient within 8 unit roundoffs of
the compute dtype (bfloat16: 8-bit significand, u = 2^-8, bound 3.1e-2; float16: u = 2^-11, bound
3.9e-3), norm-relative against float32's.  A short fit's losses (float32 weights, each step's
products rounded) within 4 bounds: the roundings of every step add up, but the weights stay float32.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.objective import Objective, batch_gradients
from xpmlp.optim.optimizers import Adam
from xpmlp.training import fit
from xpmlp.training.dropout import DropoutMasks
from xpmlp.training.precision import MixedPrecision

from conftest import random_problem, rel_err
from standins import cupy_standin
from sync_probes import Probe

TOLERANCE = {"bfloat16": 8 * 2.0 ** -8, "float16": 8 * 2.0 ** -11}
COMPUTE_DTYPES = ["bfloat16", "float16"]


def _needs(compute_dtype):
    if compute_dtype == "bfloat16":
        pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes (pip install ml-dtypes)")


def _host(net, flat):
    return net.backend.to_numpy(flat).astype(np.float64)


@pytest.mark.parametrize("compute_dtype", COMPUTE_DTYPES)
def test_cupy_mixed_gradient_with_device_dropout_masks_matches_float32_with_the_same_masks(compute_dtype):
    """Masks drawn by cupy.random into compute-dtype buffers (float32 draws copied in: CuPy's
    contract), then one batch: the mixed-precision gradient against NumPy float32's with those masks."""
    _needs(compute_dtype)
    X, T = random_problem("cross_entropy", 32, 6, 4, seed=1)
    ref = xpmlp.MLP([6, 16, 16, 4], "tanh", backend="numpy", dtype="float32", seed=0, dropout=0.3, input_dropout=0.1)
    with cupy_standin():
        mixed = xpmlp.MLP([6, 16, 16, 4], "tanh", backend="cupy:1", seed=0, compute_dtype=compute_dtype,
                          dropout=0.3, input_dropout=0.1)
        with mixed.backend.activate():
            mp = MixedPrecision(mixed, 32)
            masks = DropoutMasks(mixed, 32, seed=5, dtype=mp.dtype)
            assert masks.on_device
            drawn = masks.draw(32)
            assert all(m.dtype == mp.dtype and m.device == mixed.flat.device for m in drawn)
            got = mp.batch_gradients(mixed.as_input(X), mixed.as_target(T, 32), None, Objective(), 32, None,
                                     mixed.parameters.like(), masks=drawn)
            host_masks = [mixed.backend.to_numpy(m).astype(np.float32) for m in drawn]
        got = _host(mixed, got.grads.flat)
    for m, p in zip(host_masks, (0.1, 0.3, 0.3)):
        assert set(np.unique(m)) == {0.0, np.float32(1 / (1 - p)).astype(mp.dtype).astype(np.float32)}
    want = batch_gradients(ref, ref.as_input(X), ref.as_target(T, 32), grads=ref.parameters.like(), masks=host_masks)
    err = rel_err(got, _host(ref, want.grads.flat))
    assert 0 < err < TOLERANCE[compute_dtype], err


@pytest.mark.parametrize("compute_dtype", COMPUTE_DTYPES)
def test_cupy_mixed_fit_with_dropout_follows_the_float32_fit_given_the_same_masks(compute_dtype):
    _needs(compute_dtype)
    X, T = random_problem("cross_entropy", 48, 5, 3, shift=1.0)
    settings = dict(epochs=4, batch_size=16, optimizer="adam", patience=None, seed=2, dropout_masks="host")
    ref = xpmlp.MLP([5, 12, 3], "relu", backend="numpy", dtype="float32", seed=0, dropout=0.25)
    want = fit(ref, X, T, **settings).loss
    with cupy_standin():
        net = xpmlp.MLP([5, 12, 3], "relu", backend="cupy:1", seed=0, dropout=0.25, compute_dtype=compute_dtype)
        got = fit(net, X, T, **settings).loss
    np.testing.assert_allclose(got, want, rtol=4 * TOLERANCE[compute_dtype])
    assert got != want  # the products did run in low precision


@pytest.mark.parametrize("compute_dtype", COMPUTE_DTYPES)
def test_cupy_mixed_precision_with_device_dropout_steps_without_a_sync(compute_dtype):
    _needs(compute_dtype)
    X, T = random_problem("cross_entropy", 64, 3, 3, shift=2.0)
    with cupy_standin() as cupy:
        net = xpmlp.MLP([3, 5, 3], "relu", backend="cupy:1", seed=0, compute_dtype=compute_dtype, dropout=0.2)
        probe = Probe(cupy._standin.SYNCS, cupy._standin.UPLOADS)
        history = fit(net, X, T, epochs=2, batch_size=8, optimizer=Adam(), patience=None, callbacks=[probe])
    assert not probe.seen, dict(probe.seen)
    assert np.isfinite(history.loss).all()


def test_cupy_bfloat16_steps_in_bfloat16_without_a_loss_scale():
    bf16 = np.dtype(pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes").bfloat16)
    X, T = random_problem("cross_entropy", 32, 6, 4, seed=1)
    with cupy_standin():
        net = xpmlp.MLP([6, 16, 4], "tanh", backend="cupy:1", seed=0, compute_dtype="bfloat16")
        assert net.backend.compute_dtype("bfloat16") == bf16
        with net.backend.activate():
            mp = MixedPrecision(net, 32)
            assert mp.scaler is None and mp.ws is not None
            got = mp.batch_gradients(net.as_input(X), net.as_target(T, 32), None, Objective(), 32, None,
                                     net.parameters.like())
            assert mp.compute.flat.dtype == mp.ws.a[0].dtype == bf16 and mp.ws.a[-1].dtype == np.float32
            assert got.grads.flat.dtype == np.float32 and got.grads.flat.device.id == 1
        assert "compute_dtype=bfloat16" in repr(net)


@pytest.mark.parametrize("patch,message", [
    ("version", r"^compute_dtype='bfloat16': bfloat16 needs CuPy 14 or later \(with ml_dtypes\); this is CuPy "
                r"13\.6\.0$"),
    ("ml_dtypes", r"^compute_dtype='bfloat16': CuPy 14\.2\.0\+xpmlp-standin has bfloat16 through ml_dtypes, which "
                  r"is not installed: pip install ml-dtypes$"),
    ("numpy", r"^compute_dtype='bfloat16': CuPy 14\.2\.0\+xpmlp-standin has bfloat16 only with NumPy 2\.1\.2 or "
              r"later; this is NumPy 2\.0\.2$"),
])
def test_cupy_without_bfloat16_is_refused_naming_what_is_missing(monkeypatch, patch, message):
    with cupy_standin() as cupy:
        if patch == "version":
            monkeypatch.setattr(cupy, "__version__", "13.6.0")
        elif patch == "ml_dtypes":
            monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # `import ml_dtypes` raises ImportError
        else:
            monkeypatch.setattr(np, "__version__", "2.0.2")
        with pytest.raises(ValueError, match=message):
            xpmlp.MLP([3, 2], backend="cupy:1", compute_dtype="bfloat16")
        assert xpmlp.MLP([3, 2], backend="cupy:1", compute_dtype="float16").compute_dtype == "float16"


def test_the_cli_trains_cupy_in_bfloat16(tmp_path, capsys):
    pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes")
    from xpmlp.app.cli import main

    X, T = random_problem("cross_entropy", 40, 4, 3, shift=1.0)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, np.argmax(T, 1)]), delimiter=",", comments="",
               header="a,b,c,d,label")
    with cupy_standin():
        code = main(["train", str(data), "--target", "label", "--backend", "cupy:1", "--compute-dtype", "bfloat16",
                     "--epochs", "2", "--no-progress", "--save", str(tmp_path / "m.npz")])
        assert code == 0, capsys.readouterr().err
        from xpmlp.io.model import load

        assert load(tmp_path / "m.npz", backend="cupy:1").net.compute_dtype == "bfloat16"


def test_a_model_on_gpu_1_never_leans_on_peer_access(monkeypatch):
    """With peer access between the GPUs (NVLink), CuPy runs a kernel on another GPU's array and only
    warns: xpmlp must still make its model's device current and copy data there itself."""
    X, T = random_problem("cross_entropy", 40, 4, 3, shift=1.0)
    with cupy_standin() as cupy:
        monkeypatch.setattr(cupy._standin, "PEER_ACCESS", True)
        X0, T0 = cupy.asarray(X), cupy.asarray(T)  # on GPU 0
        with pytest.warns(cupy._util.PerformanceWarning, match="Peer access has been activated automatically"):
            with cupy.cuda.Device(1):
                X0 * 2  # the stand-in does warn where an array is used from another GPU
        with warnings.catch_warnings():
            warnings.simplefilter("error", cupy._util.PerformanceWarning)
            net = xpmlp.MLP([4, 6, 3], "relu", backend="cupy:1", seed=0, dropout=0.2)
            fit(net, X0, T0, epochs=2, batch_size=8, validation_data=(X0[:8], T0[:8]), patience=None)
            predicted = net.predict(X0)
        assert net.flat.device.id == 1 and predicted.device.id == 1
        assert np.isfinite(predicted.get()).all()


def test_a_bfloat16_model_loads_in_bfloat16_on_cupy_14_and_in_float32_before(tmp_path, monkeypatch):
    pytest.importorskip("ml_dtypes", reason="CuPy's bfloat16 needs ml_dtypes")
    from xpmlp.io.model import load, save

    with cupy_standin() as cupy:
        path = save(tmp_path / "m.npz", xpmlp.MLP([3, 4, 2], backend="cupy:1", compute_dtype="bfloat16"))
        assert load(path, backend="cupy:1").net.compute_dtype == "bfloat16"
        monkeypatch.setattr(cupy, "__version__", "13.6.0")
        assert load(path, backend="cupy:1").net.compute_dtype is None  # predicts and trains in float32 there
