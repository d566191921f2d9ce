"""Devices: arrays that arrive on another device of the model's library are moved to the model's
device at the entry point (a documented transfer point), and work runs with the model's device
current.  array-api-strict's two devices stand in for two GPUs; its arrays refuse to mix devices,
as CuPy's and torch's do."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from conftest import make_backend, random_problem, to_np

import xpmlp
from xpmlp.backends.backend import Backend, BackendError
from xpmlp.backends.libraries import cupy_usable
from xpmlp.io import load, save
from xpmlp.training import fit

strict = pytest.importorskip("array_api_strict")
CPU, DEV1 = strict.Device("CPU_DEVICE"), strict.Device("device1")


def on(device, host):
    return strict.asarray(np.asarray(host), dtype=strict.float64, device=device)


@pytest.fixture
def model():
    return xpmlp.MLP([3, 5, 2], backend="array_api_strict:device1", dtype="float64", seed=0)


def test_weights_from_another_device_are_moved(model):
    Ws, bs = model.get_weights()
    model.set_weights([on(CPU, W) for W in Ws], [on(CPU, b) for b in bs])
    assert all(p.device == DEV1 for p in model.params)
    X = np.ones((4, 3))
    out = model.predict(X)  # once failed: "Arrays from two different devices"
    assert out.device == DEV1


def test_inputs_and_validation_data_from_another_device_are_moved(model):
    X, T = random_problem("cross_entropy", 20, 3, 2)
    out = model.predict(on(CPU, X))
    assert out.device == DEV1
    np.testing.assert_allclose(to_np(model.backend, out), to_np(model.backend, model.predict(X)), rtol=1e-12)
    hist = fit(model, on(CPU, X), on(CPU, T), epochs=2, validation_data=(on(CPU, X), on(CPU, T)), patience=None)
    assert len(hist.validation_score) == 2
    assert all(p.device == DEV1 for p in model.params)


def test_a_saved_model_loads_onto_the_asked_device(model, tmp_path):
    save(tmp_path / "m.npz", model)
    ck = load(tmp_path / "m.npz", backend="array_api_strict", device="device1")
    assert all(p.device == DEV1 for p in ck.net.params)
    for a, b in zip(ck.net.get_weights()[0], model.get_weights()[0]):
        np.testing.assert_array_equal(a, b)


def test_arrays_of_another_library_are_refused(model):
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="pass a NumPy array or an array of that backend"):
        model.predict(torch.ones(2, 3, dtype=torch.float64))


def test_activate_makes_the_device_current_on_cupy_and_torch_cuda():
    """The selection logic only (no GPU here): CuPy enters its cupy.cuda.Device (which makes that
    device current); torch on the CPU, NumPy and array-api-strict enter nothing."""

    class FakeCupyDevice(contextlib.AbstractContextManager):
        entered = False

        def __enter__(self):
            FakeCupyDevice.entered = True
            return self

        def __exit__(self, *exc):
            return None

    with Backend("cupy", None, FakeCupyDevice(), None).activate():
        pass
    assert FakeCupyDevice.entered
    for name, device in (("numpy", "cpu"), ("array_api_strict", DEV1)):
        assert isinstance(Backend(name, None, device, None).activate(), contextlib.nullcontext)
    torch = pytest.importorskip("torch")
    assert isinstance(Backend("torch", None, torch.device("cpu"), None).activate(), contextlib.nullcontext)


def test_cupy_on_a_numbered_device_without_a_gpu_is_refused_clearly():
    if cupy_usable()[0]:
        pytest.skip("a CUDA device exists here: the refusal is for machines without one")
    with pytest.raises(BackendError, match="CuPy"):
        xpmlp.resolve("cupy:1")


@pytest.mark.cupy
def test_cupy_device_1_runs_everything_on_device_1():
    be = make_backend(("cupy", None, "float32"))  # skips with the reason where CuPy cannot run
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    net = xpmlp.MLP([3, 4, 2], backend="cupy:1", seed=0)
    X, T = random_problem("cross_entropy", 16, 3, 2)
    fit(net, X, T, epochs=1, optimizer="adam", patience=None)
    assert be.name == "cupy" and all(p.device.id == 1 for p in net.params)


def test_training_on_a_device_without_64_bit_integers():
    """Row orders use the device's own index dtype (array-api-strict's no_x64 has int32 only)."""
    if "no_x64" not in str(strict.__array_namespace_info__().devices()):
        pytest.skip("this array-api-strict has no no_x64 device")
    net = xpmlp.MLP([3, 4, 2], backend="array_api_strict:no_x64", seed=0)
    X, T = random_problem("cross_entropy", 20, 3, 2)
    hist = fit(net, X, T, epochs=2, batch_size=5, optimizer="sgd", patience=None)  # once: int64 refused
    assert hist.epochs == 2 and net.backend.index_dtype == strict.int32
