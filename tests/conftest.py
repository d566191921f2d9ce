"""The test matrix: every test that takes the ``be`` fixture runs on every backend here.

One generator of (library, device, dtype) cases with readable ids.  Cases whose
library is missing, or CuPy without a CUDA device, skip and say why.

``array_api_strict`` runs on the non-default device ``device1`` (it refuses
NumPy conversion and device mixing, the bugs that break on CuPy) and on the
float32-only device ``no_float64``.

Set ``XPMLP_TEST_BACKENDS=numpy,torch`` (names or id prefixes) to run a subset.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

# SciPy's Array API support is read when SciPy is first imported: on for every test (scikit-learn's
# Array API estimator checks need it), whoever runs the suite.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

import xpmlp
from xpmlp.backends.backend import BackendError
from xpmlp.backends.libraries import cupy_usable

from standins import cupy_standin

# (library, device, dtype): the whole matrix.
CASES = [
    ("numpy", None, "float64"),
    ("numpy", None, "float32"),
    ("array_api_strict", "device1", "float64"),
    ("array_api_strict", "device1", "float32"),
    ("array_api_strict", "no_float64", "float32"),
    ("torch", "cpu", "float64"),
    ("torch", "cpu", "float32"),
    ("cupy", None, "float64"),
    ("cupy", None, "float32"),
    ("torch", "cuda", "float64"),
    ("torch", "cuda", "float32"),
    ("cupy-standin", "1", "float64"),
    ("cupy-standin", "1", "float32"),
    ("torch-cuda-standin", "cuda:1", "float64"),
    ("torch-cuda-standin", "cuda:1", "float32"),
]

SHORT = {"numpy": "np", "array_api_strict": "strict", "torch": "torch", "cupy": "cupy", "cupy-standin": "cupy-standin",
         "torch-cuda-standin": "torch-standin"}


def case_id(case: tuple) -> str:
    lib, dev, dtype = case
    return "-".join(p for p in (SHORT[lib], dev and dev.replace(":", ""), "f" + dtype[-2:]) if p)


def _selected(case: tuple) -> bool:
    wanted = os.environ.get("XPMLP_TEST_BACKENDS")
    if not wanted:
        return True
    cid = case_id(case)
    return any(cid.startswith(w.strip()) or case[0] == w.strip() for w in wanted.split(","))


@contextlib.contextmanager
def backend_of(case: tuple, request: pytest.FixtureRequest | None = None) -> Iterator[xpmlp.Backend]:
    """The case's backend for the block (the CuPy stand-in's cases with the stand-in in place).

    A test marked ``on_device`` calls functions that run on the current device (the math's
    forward and backward, optimizer steps, metrics), as xpmlp's loop does, so it runs with the
    backend's device current; every other test gets the device of a fresh process (device 0),
    so a public entry point that forgot to make its model's device current fails there, as on
    a GPU (``cupy:1``)."""
    active = request is not None and request.node.get_closest_marker("on_device") is not None
    with contextlib.ExitStack() as stack:
        if case[0] == "cupy-standin":
            stack.enter_context(cupy_standin())
            backend = xpmlp.resolve("cupy", device=case[1], dtype=case[2])
        elif case[0] == "torch-cuda-standin":
            pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
            from standins.torch_cuda import torch_cuda

            stack.enter_context(torch_cuda())
            backend = xpmlp.resolve("torch", device=case[1], dtype=case[2])
        else:
            backend = make_backend(case)
        if active:
            stack.enter_context(backend.activate())
        yield backend


def make_backend(case: tuple) -> xpmlp.Backend:
    """Resolve a case, or skip the test with the reason it cannot run here."""
    lib, dev, dtype = case
    if lib == "cupy":
        ok, why = cupy_usable()
        if not ok:
            pytest.skip(f"CuPy case skipped: {why}")
    if lib == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
        if dev == "cuda" and not torch.cuda.is_available():
            pytest.skip("torch CUDA case skipped: " + ("a CPU-only PyTorch build" if torch.version.cuda is None
                                                      else "torch.cuda.is_available() is False"))
    if lib == "array_api_strict":
        pytest.importorskip("array_api_strict")
    try:
        return xpmlp.resolve(lib, device=dev, dtype=dtype)
    except BackendError as exc:  # pragma: no cover - reported as a skip with the reason
        pytest.skip(str(exc))


BACKEND_CASES = [pytest.param(c, id=case_id(c), marks=[pytest.mark.cupy] if c[0] == "cupy" else []) for c in CASES if _selected(c)]
#: The non-NumPy cases, for parity tests against NumPy.
OTHER_CASES = [p for p in BACKEND_CASES if p.values[0][0] != "numpy"]
#: float64-capable cases only (finite differences need float64).
F64_CASES = [p for p in BACKEND_CASES if p.values[0][2] == "float64"]


@pytest.fixture(params=BACKEND_CASES)
def be(request) -> Iterator[xpmlp.Backend]:
    """Every backend case of the matrix (skips where unavailable)."""
    with backend_of(request.param, request) as backend:
        yield backend


@pytest.fixture(params=F64_CASES)
def be64(request) -> Iterator[xpmlp.Backend]:
    """Every float64 backend case."""
    with backend_of(request.param, request) as backend:
        yield backend


@pytest.fixture(params=OTHER_CASES)
def be_other(request) -> Iterator[xpmlp.Backend]:
    """Every non-NumPy backend case (for parity against NumPy)."""
    with backend_of(request.param, request) as backend:
        yield backend


# Parity tolerances, as a norm-relative error ||x - ref|| / ||ref||.
# float64: unit roundoff 1.1e-16; another BLAS or reduction tree reorders sums of k <= 1e3
#   terms, giving ~1e-15 in practice (measured on torch CPU: 3e-16 for one pass and after
#   50 steps), so 1e-12 leaves three orders of magnitude for other libraries and devices.
# float32: unit roundoff 6e-8; the same reorderings give ~1e-7 (measured on torch CPU: 2e-7
#   for one pass, 1e-7 after 50 steps), so 1e-5 for one pass; after 50 SGD steps each step's
#   rounding differences feed the next, so 1e-4 for trajectories (GPU GEMMs reorder more).
RTOL = {"float64": 1e-12, "float32": 1e-5}
RTOL_TRAJECTORY = {"float64": 1e-12, "float32": 1e-4}


def to_np(be: xpmlp.Backend, x) -> np.ndarray:
    """Test-only conversion of a backend array to NumPy float64."""
    return np.asarray(be.to_numpy(x), dtype=np.float64)


def assert_on_backend(be: xpmlp.Backend, x) -> None:
    """``x`` is an array of ``be``'s library, on its device, with its float dtype."""
    assert be.is_native(x), f"expected a {be.name} array, got {type(x)}"
    assert x.dtype == be.dtype, f"dtype {x.dtype} != {be.dtype}"
    if be.name != "numpy":
        assert x.device == be.device, f"device {x.device} != {be.device}"


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """Norm-relative error ||actual - expected|| / max(||expected||, tiny)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def assert_close(actual, expected, rtol: float, what: str = "") -> None:
    err = rel_err(actual, expected)
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.1e}"


def random_problem(loss: str, n: int, n_in: int, n_out: int, seed: int = 0,
                   shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Host float64 inputs ``(n, n_in)`` and targets ``(n, n_out)`` valid for ``loss``:
    one-hot rows for cross-entropy, 0/1 entries for binary cross-entropy, Poisson counts (some 0)
    for the Poisson loss, reals otherwise.
    With ``shift``, class ``c`` of a one-hot problem gets ``shift`` added to input ``c``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if loss == "cross_entropy":
        labels = rng.integers(0, n_out, n)
        T = np.eye(n_out)[labels]
        X += shift * np.eye(n_out, n_in)[labels]
    elif loss == "binary_cross_entropy":
        T = rng.integers(0, 2, size=(n, n_out)).astype(float)
    elif loss == "poisson":
        T = rng.poisson(1.5, size=(n, n_out)).astype(float)
    else:
        T = rng.normal(size=(n, n_out))
    return X, T


def central_differences(f, arrays: list, h: float = 1e-6) -> list:
    """Central differences ``(f(x + h e) - f(x - h e)) / 2h`` of ``f`` with respect to every entry
    of every host float64 array in ``arrays`` (perturbed in place, restored after).

    ``f()`` reads the arrays and returns a float or an array; the result for ``arrays[k]`` has
    shape ``shape(f()) + arrays[k].shape``.  The one finite-difference helper of the tests.
    """
    out = []
    for x in arrays:
        probe = np.asarray(f(), dtype=np.float64)
        d = np.zeros(probe.shape + x.shape)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + h
            up = np.array(f(), dtype=np.float64)  # a copy: f may return a view of x
            x[idx] = old - h
            down = np.array(f(), dtype=np.float64)
            x[idx] = old
            d[(...,) + idx] = (up - down) / (2 * h)
        out.append(d)
    return out


def make_problem(backend, sizes, hidden="tanh", out="softmax", loss="cross_entropy", *, n=8, seed=0,
                 dtype=None, shift=0.0):
    """A network on ``backend`` and host float64 data for it: ``(net, X, T)``.

    The one random-problem builder of the tests: ``X, T = random_problem(loss, n, ...)``, with
    ``shift`` moving each one-hot class's inputs apart (a learnable problem for training tests).
    """
    X, T = random_problem(loss, n, sizes[0], sizes[-1], seed, shift=shift)
    net = xpmlp.MLP(list(sizes), hidden, out, loss, backend=backend, dtype=dtype, seed=seed)
    return net, X, T


def pytest_configure(config):
    config.addinivalue_line("markers", "run_last: run after every other test (coverage checks)")
    config.addinivalue_line("markers", "on_device: runs with its backend's device current (it calls functions "
                                       "that run on the current device, as the training loop does)")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)  # stable: the rest keep their order
