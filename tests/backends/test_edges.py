"""The backend layer at its edges: data the boundary refuses (each with its message), arrays of the
model's library in another dtype, sample weights, sparse inputs of each library (and of the wrong
one), mini-batches taken in order from a sparse X, libraries that are missing or cannot run (a
broken CUDA driver on the CuPy stand-in), devices given as objects, fast paths registered twice."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from conftest import RTOL_TRAJECTORY, assert_close, assert_on_backend, to_np

import xpmlp
from xpmlp.backends import fastpaths, sparse
from xpmlp.backends.backend import Backend, BackendError
from xpmlp.training import fit

from standins import cupy_standin

sp = pytest.importorskip("scipy.sparse")


def small_net(be):
    return xpmlp.MLP([2, 3, 1], "tanh", "identity", "squared_error", backend=be, seed=0)


@pytest.mark.parametrize("X, error, message", [
    (None, ValueError, "X is None"),
    ([[1.0, 2.0], [3.0]], ValueError, "X cannot be read as a numeric array: setting an array element with a sequence"),
    (np.ones((0, 2)), ValueError, "X has no samples (shape (0, 2))"),
    (np.array([[1 + 1j, 0]]), TypeError, "X must hold real numbers, got dtype complex128"),
    (sp.csr_matrix(np.array([[1 + 1j, 0]])), TypeError, "X must hold real numbers, got dtype complex128"),
], ids=["none", "ragged", "no-rows", "complex", "sparse-complex"])
def test_host_data_the_boundary_refuses(X, error, message):
    with pytest.raises(error) as exc:
        small_net("numpy").predict(X)
    assert str(exc.value).startswith(message)


def test_arrays_of_the_models_library_in_another_dtype_are_cast_or_refused(be):
    net = small_net(be)
    host = np.array([[1.0, -2.0], [4.0, 3.0]])  # whole numbers: the same in every dtype
    want = to_np(be, net.predict(host))
    other = "float32" if be.dtype_name == "float64" else "float64"
    if be.name == "array_api_strict" and str(be.device) == "array_api_strict.Device('no_float64')":
        other = "int64"  # no float64 on this device: integers cast instead
    native = be.xp.asarray(host.astype(other), device=be.device)
    out = net.predict(native)
    assert_on_backend(be, out)
    np.testing.assert_array_equal(to_np(be, out), want)  # cast to the model's dtype, as host data is
    complex_x = be.xp.asarray(np.array([[1.0, 2.0]]), dtype=be.xp.complex64, device=be.device)
    with pytest.raises(TypeError) as exc:
        net.predict(complex_x)
    assert str(exc.value) == f"X must hold real numbers, got dtype {complex_x.dtype}"


def test_a_scalar_sample_weight_weights_every_row_alike_and_zero_weights_are_refused():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    kw = dict(epochs=2, batch_size=4, optimizer="sgd", learning_rate=0.1, patience=None, seed=0)
    h_scalar = fit(small_net("numpy"), X, T, sample_weight=2.5, **kw)
    h_rows = fit(small_net("numpy"), X, T, sample_weight=np.full(12, 2.5), **kw)
    assert h_scalar.loss == h_rows.loss
    with pytest.raises(ValueError) as exc:
        fit(small_net("numpy"), X, T, sample_weight=np.zeros(12), **kw)
    assert str(exc.value) == "sample_weight sums to 0: no sample would be trained on"


@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
def test_a_torch_sparse_x_with_nan_is_refused_on_torch():
    torch = pytest.importorskip("torch")
    X = torch.sparse_coo_tensor(torch.tensor([[0, 1], [0, 1]]), torch.tensor([1.0, float("nan")]), (2, 2))
    with pytest.raises(ValueError) as exc:
        small_net("torch").predict(X)
    assert str(exc.value) == "X contains NaN or inf values; clean or impute the data first"


def test_a_cupyx_sparse_x_on_cupy_equals_the_dense_computation():
    X = sp.random(8, 2, density=0.5, format="csr", random_state=0)
    with cupy_standin() as cp:
        import cupyx.scipy.sparse as csp

        be = xpmlp.resolve("cupy", device="1", dtype="float64")
        net = small_net(be)
        with be.activate():
            Xc = csp.csr_matrix((cp.asarray(X.data), cp.asarray(X.indices), cp.asarray(X.indptr)), shape=X.shape)
            on_device = sparse.to_backend(be, Xc)
        assert sparse.is_sparse(on_device) and on_device.dtype == np.float64 and on_device.has_canonical_format
        assert_close(to_np(be, net.predict(Xc)), to_np(be, net.predict(X.toarray())), 1e-12, "cupyx X")


@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
def test_sparse_to_backend_refuses_another_librarys_sparse_matrix():
    torch = pytest.importorskip("torch")
    Xt = torch.sparse_coo_tensor(torch.tensor([[0, 1], [0, 1]]), torch.tensor([1.0, 2.0]), (2, 2))
    for name in ("numpy", "array_api_strict:device1"):
        be = xpmlp.resolve(name)
        with pytest.raises(TypeError) as exc:
            sparse.to_backend(be, Xt)
        where = "the NumPy backend" if name == "numpy" else be.describe()
        assert str(exc.value) == f"a torch.Tensor cannot be used on {where}"
    with cupy_standin() as cp:
        import cupyx.scipy.sparse as csp

        be = xpmlp.resolve("cupy", device="1")
        with pytest.raises(TypeError) as exc:
            sparse.to_backend(be, Xt)
        assert str(exc.value) == f"a torch.Tensor cannot be used on {be.describe()}"
        with be.activate():
            Xc = csp.csr_matrix((cp.asarray([1.0, 2.0]), cp.asarray([0, 1]), cp.asarray([0, 1, 2])), shape=(2, 2))
        torch_be = xpmlp.resolve("torch")
        with pytest.raises(TypeError) as exc:
            sparse.to_backend(torch_be, Xc)
        assert str(exc.value) == f"a {type(Xc).__module__}.{type(Xc).__name__} cannot be used on {torch_be.describe()}"


@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context")  # NumPy meeting the torch tensor
def test_a_model_refuses_another_librarys_sparse_matrix_naming_it():
    torch = pytest.importorskip("torch")
    Xt = torch.sparse_coo_tensor(torch.tensor([[0, 1], [0, 1]]), torch.tensor([1.0, 2.0]), (2, 2))
    with pytest.raises(TypeError, match=r"a torch\.Tensor cannot be used on the NumPy backend"):
        small_net("numpy").predict(Xt)  # it said: "all() received an invalid combination of arguments ..."


def test_a_torch_sparse_x_on_another_device_is_refused():
    pytest.importorskip("torch")
    import torch
    from standins.torch_cuda import torch_cuda

    with torch_cuda():
        net = small_net(xpmlp.resolve("torch", device="cuda:1", dtype="float64"))
        X = torch.sparse_coo_tensor(torch.tensor([[0, 1], [0, 1]]), torch.tensor([1.0, 2.0]), (2, 2),
                                    check_invariants=True)
        with pytest.raises(ValueError) as exc:
            net.predict(X)
    assert str(exc.value) == "X is on device cpu but the model is on cuda:1"


def test_sparse_mini_batches_taken_in_order_equal_dense(be):
    """``shuffle=False``: every batch is a slice of rows, which torch and cupyx take as an index range."""
    X = sp.random(30, 2, density=0.6, format="csr", random_state=1)
    T = np.random.default_rng(1).normal(size=(30, 1))
    kw = dict(epochs=2, batch_size=7, optimizer="sgd", learning_rate=0.1, patience=None, shuffle=False)
    sparse_net, dense_net = small_net(be), small_net(be)
    h_sparse, h_dense = fit(sparse_net, X, T, **kw), fit(dense_net, X.toarray(), T, **kw)
    tol = RTOL_TRAJECTORY[be.dtype_name]
    assert_close(h_sparse.loss, h_dense.loss, tol, "loss curve")
    for a, b in zip(sparse_net.params, dense_net.params):
        assert_close(to_np(be, a), to_np(be, b), tol, "weights")


@pytest.mark.parametrize("missing, name, message", [
    ("torch", "torch", "PyTorch is not installed: pip install torch"),
    ("array_api_strict", "array_api_strict", "array-api-strict is not installed: pip install array-api-strict"),
])
def test_a_missing_library_names_what_to_install(monkeypatch, missing, name, message):
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    with pytest.raises(BackendError) as exc:
        xpmlp.resolve(name)
    assert str(exc.value) == message and xpmlp.available_backends()[name] == message


def test_devices_a_library_does_not_have_are_refused(monkeypatch):
    with pytest.raises(BackendError) as exc:
        xpmlp.resolve("numpy:gpu")
    assert str(exc.value) == "numpy has only the 'cpu' device, got 'gpu'"
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only build, or no driver
    with pytest.raises(BackendError) as exc:
        xpmlp.resolve("torch:cuda")
    assert str(exc.value) == "torch device cuda requested but torch.cuda.is_available() is False"


def test_a_broken_cuda_driver_is_reported_not_raised(monkeypatch):
    """``cupy.is_available()`` itself raises where the driver is broken: CuPy is reported unusable, saying why."""
    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime")

    why = "CuPy is installed but CUDA is unusable: cudaErrorInsufficientDriver: CUDA driver version is insufficient " \
          "for CUDA runtime"
    with cupy_standin() as cupy:
        monkeypatch.setattr(cupy, "is_available", broken)
        assert xpmlp.available_backends()["cupy"] == why
        assert xpmlp.resolve("auto").name == "numpy"
        with pytest.raises(BackendError) as exc:
            xpmlp.resolve("cupy")
        assert str(exc.value) == why


def test_a_device_given_as_an_object_and_a_backend_given_as_neither():
    strict = pytest.importorskip("array_api_strict")
    device = strict.Device("device1")
    be = xpmlp.resolve("array_api_strict", device=device, dtype="float64")
    assert be.device == device and be == xpmlp.resolve("array_api_strict:device1", dtype="float64")
    with pytest.raises(TypeError) as exc:
        xpmlp.resolve(42)
    assert str(exc.value) == "backend must be a name or a Backend, got int"


def test_a_namespace_without_the_inspection_api_indexes_with_int64():
    plain = types.SimpleNamespace(int64=np.int64, float64=np.float64)  # no __array_namespace_info__
    assert Backend("numpy", plain, "cpu", np.float64).index_dtype is np.int64
    assert xpmlp.resolve("numpy").index_dtype == np.int64  # and one with it says so itself


def test_a_fast_path_is_registered_once_and_names_a_declared_kernel():
    before = fastpaths.registered()
    with pytest.raises(ValueError) as exc:
        fastpaths.register("softsign.delta", "cupy", kernel="softsign_delta")
    assert str(exc.value) == ("fast path 'softsign.delta' names kernel 'softsign_delta', which cuda_kernels.SPECS "
                              "does not declare")
    with pytest.raises(ValueError) as exc:
        fastpaths.register("relu.f", "numpy")
    assert str(exc.value) == "a numpy fast path for 'relu.f' is registered already"
    assert fastpaths.registered() == before


@pytest.mark.parametrize("case", ["strided-y", "strided-x", "x-of-another-dtype", "float16-y", "no-scipy"])
def test_numpy_add_scaled_where_scipys_axpy_cannot_run_is_numpys_own_in_place(case, monkeypatch):
    """``y += alpha x`` into ``y`` where SciPy's BLAS axpy cannot take the arrays, or SciPy is missing."""
    from xpmlp.backends.arrays import ops_for

    rng = np.random.default_rng(0)
    y, x = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    if case == "strided-y":
        y = rng.normal(size=(4, 6))[:, ::2]
    if case == "strided-x":
        x = rng.normal(size=(4, 6))[:, ::2]
    if case == "x-of-another-dtype":
        x = x.astype(np.float32)
    if case == "float16-y":
        y, x = y.astype(np.float16), x.astype(np.float16)
    if case == "no-scipy":
        monkeypatch.setitem(sys.modules, "scipy.linalg", None)  # `from scipy.linalg import blas` raises ImportError
    expected = y + 0.5 * x
    before = y
    out = ops_for(np, "numpy").add_scaled(y, x, 0.5)
    assert out is before and y.dtype == expected.dtype
    np.testing.assert_array_equal(y, expected)
