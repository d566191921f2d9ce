"""The backend seam: resolution order, auto, lazy import, clear errors, the two transfer points."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import xpmlp
from xpmlp.backends.backend import BackendError

from conftest import assert_on_backend


def test_resolution_order(monkeypatch):
    monkeypatch.setenv("XPMLP_BACKEND", "array_api_strict:device1")
    assert xpmlp.resolve().name == "array_api_strict"  # env beats auto
    with xpmlp.use("numpy", dtype="float64"):
        assert xpmlp.resolve().name == "numpy"  # context beats env
        assert xpmlp.resolve().dtype_name == "float64"
        assert xpmlp.resolve("array_api_strict").name == "array_api_strict"  # argument beats context
        assert xpmlp.MLP([2, 2], backend=None).backend.name == "numpy"
    assert str(xpmlp.resolve().device) == str(xpmlp.resolve("array_api_strict:device1").device)
    monkeypatch.delenv("XPMLP_BACKEND")
    assert xpmlp.resolve().name in ("numpy", "cupy")  # auto


def test_auto_is_numpy_when_cupy_reports_no_device(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert xpmlp.resolve("auto").name == "numpy"


def test_cupy_without_device_is_a_clear_error(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendError, match="no usable CUDA device"):
        xpmlp.resolve("cupy")


def test_cupy_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(BackendError, match=r"pip install 'xpmlp\[cuda12\]'"):
        xpmlp.resolve("cupy")


def test_unknown_backend_lists_valid_names():
    with pytest.raises(BackendError, match="valid names: numpy, cupy, torch, array_api_strict, auto"):
        xpmlp.resolve("tensorflow")
    with pytest.raises(BackendError, match="unknown backend"):
        xpmlp.MLP([2, 2], backend="jax")


def test_bad_dtype_and_device():
    with pytest.raises(ValueError, match="dtype must be one of"):
        xpmlp.resolve("numpy", dtype="float16")
    with pytest.raises(BackendError, match="not supported"):
        xpmlp.resolve("array_api_strict:no_float64", dtype="float64")
    with pytest.raises(BackendError, match="unknown array_api_strict device"):
        xpmlp.resolve("array_api_strict:gpu7")


def test_import_is_lazy():
    code = "import sys, xpmlp; print(sorted(m for m in ('torch', 'cupy', 'array_api_strict') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_transfer_points_roundtrip(be):
    host = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    x = be.asarray(host)
    assert_on_backend(be, x)
    back = be.to_numpy(x)
    assert isinstance(back, np.ndarray) and back.dtype == np.dtype(be.dtype_name)
    np.testing.assert_allclose(back, host, rtol=1e-7)


def test_numpy_input_is_converted_at_the_boundary(be):
    net = xpmlp.MLP([3, 4, 2], backend=be)
    out = net.predict(np.ones((5, 3)))  # host float64 in, backend array of the model dtype out
    assert_on_backend(be, out)
    assert tuple(out.shape) == (5, 2)


def test_available_backends_reports_reasons():
    report = xpmlp.available_backends()
    assert report["numpy"] == "ok"
    assert set(report) == {"numpy", "cupy", "torch", "array_api_strict"}
    assert all(v == "ok" or len(v) > 10 for v in report.values())


def test_backend_pickles_and_deep_copies(be):
    import copy
    import pickle

    for clone in (pickle.loads(pickle.dumps(be)), copy.deepcopy(be)):
        assert clone == be
