"""Every registered fast path equals the generic Array API code it replaces.

The registry (xpmlp.backends.fastpaths) demands an example for each fast path, and the
parity test runs every one of them on every backend case that can.  CuPy fast
paths launch kernels declared as data (xpmlp.backends.cuda_kernels): here, with no GPU,
their bodies run compiled for the host (tests/host_kernels.py) inside the very
fast-path functions, against the generic code; tests/test_cuda_kernels.py
compiles the same bodies with NVRTC.  The coverage test, run last, fails if a
registered fast path had no parity case that actually ran.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from host_kernels import HostKernel, compiler

import xpmlp
from xpmlp.backends import fastpaths
from xpmlp.backends.cuda_kernels import SPECS
from xpmlp.backends import cupy_ops
from xpmlp.diagnostics.parity import compare_fast_path, compared_arrays, example_of, generic_of

from conftest import CASES, RTOL, assert_close, assert_on_backend, case_id, make_backend

FAST = [
    pytest.param(fp, case, id=f"{fp.name}-{case_id(case)}")
    for fp in fastpaths.registered()
    for case in CASES
    if case[0] == fp.backend and fp.backend != "cupy"
]
CUPY = [pytest.param(fp, dtype, id=f"{fp.name}-{dtype}")
        for fp in fastpaths.registered() if fp.backend == "cupy" for dtype in ("float32", "float64")]
#: (name, backend) of every fast path whose parity case passed in this session.
RAN: set[tuple[str, str]] = set()


def check_parity(fp, be) -> None:
    """``fp.impl`` and ``fp.generic`` on fresh copies of the example give the same arrays (the
    selftest's comparison), and the fast path's arrays stay on the backend, dtype and device."""
    assert compare_fast_path(fp, be) <= RTOL[be.dtype_name], fp.name
    args = example_of(fp.name, be, np.random.default_rng(0))
    for arr in compared_arrays(fp.name, args, fp.impl(*args)):
        assert_on_backend(be, arr)


@pytest.mark.parametrize("fp,case", FAST)
def test_fast_path_matches_generic(fp, case):
    check_parity(fp, make_backend(case))
    RAN.add((fp.name, fp.backend))


@pytest.fixture
def host_cupy_kernels(monkeypatch, request):
    """The CuPy fast paths launch host builds of their declared kernels, on NumPy arrays."""
    if compiler() is None:
        pytest.skip("no C++ compiler to build the kernel bodies for the host")
    dtype = request.node.callspec.params["dtype"]
    monkeypatch.setattr(cupy_ops, "kernel", lambda name: HostKernel(SPECS[name], dtype))


@pytest.mark.parametrize("fp,dtype", CUPY)
def test_cupy_fast_path_with_its_kernel_on_the_host_matches_generic(fp, dtype, host_cupy_kernels):
    check_parity(fp, xpmlp.resolve("numpy", dtype=dtype))
    RAN.add((fp.name, fp.backend))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_kernel_over_five_steps_with_its_state(dtype):
    """Read-modify-write state carried from step to step: p, m, v after 5 kernel steps equal
    5 generic steps, with the bias corrections of each step."""
    if compiler() is None:
        pytest.skip("no C++ compiler to build the kernel bodies for the host")
    from xpmlp.optim.updates import adam_update

    kernel, rng = HostKernel(SPECS["adam_update"], dtype), np.random.default_rng(1)
    be = xpmlp.resolve("numpy", dtype=dtype)
    p0 = rng.normal(size=(6, 5)).astype(dtype)
    k_state = [p0.copy(), np.zeros_like(p0), np.zeros_like(p0)]
    g_state = [p0.copy(), np.zeros_like(p0), np.zeros_like(p0)]
    for t in range(1, 6):
        g = rng.normal(size=p0.shape).astype(dtype)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        kernel(g, 0.01, 0.9, 0.999, 1e-8, c1, c2, *k_state)
        adam_update(be.xp, g_state[0], g, g_state[1], g_state[2], 0.01, 0.9, 0.999, 1e-8, c1, c2)
    for k, e, what in zip(k_state, g_state, ("p", "m", "v")):
        assert_close(k, e, RTOL[dtype], what)
    assert not np.allclose(k_state[0], p0)


def test_network_uses_the_fast_path_on_its_backend():
    net = xpmlp.MLP([3, 4, 2], "relu", backend="numpy")
    assert net.activations[0].delta is fastpaths._REGISTRY[("relu.delta", "numpy")].impl
    strict = xpmlp.MLP([3, 4, 2], "relu", backend="array_api_strict")
    assert strict.activations[0].delta.__func__ is type(strict.activations[0]).delta  # generic there


@pytest.mark.parametrize("fp", fastpaths.registered(), ids=lambda fp: f"{fp.name}-{fp.backend}")
def test_every_example_runs_through_its_generic_on_numpy(fp):
    """CPU-side check of each registration: the example's arguments fit the generic function and
    the result extractor names arrays, so a GPU parity run can only fail on the kernel itself."""
    be = xpmlp.resolve("numpy", dtype="float64")
    args = example_of(fp.name, be, np.random.default_rng(0))
    for arr in compared_arrays(fp.name, args, generic_of(fp.name)(*args)):
        assert isinstance(arr, np.ndarray) and np.isfinite(arr).all()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sgd_picks_the_update_registered_for_its_library(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    from xpmlp.optim.optimizers import SGD
    from xpmlp.optim.updates import sgd_update
    from xpmlp.training import fit

    net, opt = xpmlp.MLP([3, 4, 2], backend=backend), SGD()
    fit(net, np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]], epochs=1, optimizer=opt, patience=None)
    fast = fastpaths._REGISTRY.get(("sgd.update", backend))
    assert opt._kernels["sgd.update"] is (sgd_update if fast is None else fast.impl)


def registrations_in_source() -> set[tuple[str, str]]:
    """(name, backend) of every ``register(...)`` call written in the libraries' fast-path modules,
    read with ``ast``: the expected list, independent of what the registry holds at run time."""
    found = set()
    for module in ("numpy_ops", "torch_ops", "cupy_ops"):
        tree = ast.parse((Path(fastpaths.__file__).parent / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register":
                found.add((ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])))
    return found


@pytest.mark.run_last
def test_every_fast_path_had_a_parity_case_that_ran(request):
    """Skips do not count.  Runs last (conftest orders it); if this session did not collect every
    parity case (a subset of the tests was asked for), it skips and says so."""
    expected = registrations_in_source()
    assert expected == {(fp.name, fp.backend) for fp in fastpaths.registered()}, "registry != source"
    collected = {item.name for item in request.session.items}
    wanted = {f"test_fast_path_matches_generic[{p.id}]" for p in FAST} | {
        f"test_cupy_fast_path_with_its_kernel_on_the_host_matches_generic[{p.id}]" for p in CUPY}
    if not wanted <= collected:
        pytest.skip("only part of the parity cases were collected in this run; run the whole suite")
    installed = {"numpy", "cupy"} | {lib for lib in ("torch",) if _importable(lib)}
    missing = sorted(key for key in expected if key[1] in installed and key not in RAN)
    assert not missing, f"registered fast paths with no parity case that ran: {missing}"


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
