"""Every registered fast path equals the generic Array API code it replaces.

Each registration names the generic function it replaces (xpmlp.backends.fastpaths); the parity
test builds that function's inputs from the name (xpmlp.diagnostics.parity) and runs the fast
path and the generic code on every backend case of its library.  CuPy fast paths run on the
CuPy stand-in (tests/standins), which builds their kernels with ``cupy.ElementwiseKernel`` as
CuPy does and runs the bodies compiled for the host, on CuPy's argument rules;
test_cuda_kernels.py compiles the same bodies with NVRTC, as CuPy generates them.  The coverage
test, run last, fails if a registered fast path had no parity case that actually ran.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.backends import fastpaths
from xpmlp.diagnostics.parity import compare_fast_path, compared_arrays, example_of, generic_of

from conftest import CASES, RTOL, assert_close, assert_on_backend, backend_of, case_id

#: A fast path of a library runs on that library's cases (CuPy's on the stand-in's too).
LIBRARY = {"cupy-standin": "cupy"}
FAST = [
    pytest.param(fp, case, id=f"{fp.name}-{case_id(case)}")
    for fp in fastpaths.registered()
    for case in CASES
    if LIBRARY.get(case[0], case[0]) == fp.backend
]
#: (name, backend) of every fast path whose parity case passed in this session.
RAN: set[tuple[str, str]] = set()


def check_parity(fp, be) -> None:
    """``fp.impl`` and the generic function on fresh copies of the same inputs give the same arrays
    (the selftest's comparison), and the fast path's arrays stay on the backend, dtype and device."""
    assert compare_fast_path(fp, be) <= RTOL[be.dtype_name], fp.name
    with be.activate():
        args = example_of(fp.name, be, np.random.default_rng(0))
        for arr in compared_arrays(fp.name, args, fp.impl(*args)):
            assert_on_backend(be, arr)


@pytest.mark.parametrize("fp,case", FAST)
def test_fast_path_matches_generic(fp, case):
    with backend_of(case) as be:
        check_parity(fp, be)
    RAN.add((fp.name, fp.backend))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_kernel_over_five_steps_with_its_state(dtype):
    """Read-modify-write state carried from step to step: p, m, v after 5 kernel steps equal
    5 generic steps, with the bias corrections of each step."""
    from xpmlp.backends import cupy_ops
    from xpmlp.optim.updates import adam_update

    with backend_of(("cupy-standin", "1", dtype)) as be, be.activate():
        rng, xp = np.random.default_rng(1), be.xp
        p0 = rng.normal(size=(6, 5))
        kernel_state = [be.asarray(p0), xp.zeros((6, 5), dtype=be.dtype), xp.zeros((6, 5), dtype=be.dtype)]
        generic_state = [xp.asarray(a, copy=True) for a in kernel_state]
        for t in range(1, 6):
            g = be.asarray(rng.normal(size=p0.shape))
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            cupy_ops.kernel("adam_update")(g, 0.01, 0.9, 0.999, 1e-8, c1, c2, *kernel_state)
            adam_update(xp, generic_state[0], g, generic_state[1], generic_state[2], 0.01, 0.9, 0.999, 1e-8, c1, c2)
        for k, e, what in zip(kernel_state, generic_state, ("p", "m", "v")):
            assert_close(be.to_numpy(k), be.to_numpy(e), RTOL[dtype], what)
        assert not np.allclose(be.to_numpy(kernel_state[0]), p0)


def test_a_cupy_kernel_refuses_what_cupy_refuses():
    """Arrays of another dtype for one placeholder, NumPy arrays, arrays on another device."""
    from xpmlp.backends import cupy_ops

    with backend_of(("cupy-standin", "1", "float32")) as be:
        with be.activate():
            p, g64 = be.xp.ones(4, dtype=be.xp.float32), be.xp.ones(4, dtype=be.xp.float64)
            with pytest.raises(TypeError, match="Type is mismatched"):
                cupy_ops.kernel("sgd_update")(g64, 0.1, p)
            with pytest.raises(TypeError, match="Unsupported type"):
                cupy_ops.kernel("sgd_update")(np.ones(4, dtype=np.float32), 0.1, p)
        with pytest.raises(ValueError, match="different from the current device"):
            cupy_ops.kernel("sgd_update")(p, 0.1, p)  # device 1's arrays while device 0 is current


def test_network_uses_the_fast_path_on_its_backend():
    net = xpmlp.MLP([3, 4, 2], "relu", backend="numpy")
    assert net.activations[0].delta is fastpaths._REGISTRY[("relu.delta", "numpy")].impl
    strict = xpmlp.MLP([3, 4, 2], "relu", backend="array_api_strict")
    assert strict.activations[0].delta.__func__ is type(strict.activations[0]).delta  # generic there


@pytest.mark.parametrize("fp", fastpaths.registered(), ids=lambda fp: f"{fp.name}-{fp.backend}")
def test_every_registration_names_a_generic_function_with_inputs(fp):
    """CPU-side check of each registration: its name names a generic function, whose inputs the
    harness builds and whose results it compares."""
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


@pytest.mark.parametrize("spec", ["numpy", "torch", "array_api_strict"])
def test_cos_and_sin_without_a_buffer_give_new_arrays(spec):
    """``ops.cos(x)``, ``ops.sin(x)`` with no ``out`` (the fast paths' and, on array-api-strict, the
    generic forms'): new arrays of cos and sin, ``x`` untouched (the parity cases all pass one)."""
    if spec == "torch":
        pytest.importorskip("torch")
    from xpmlp.backends.arrays import ops_for

    be = xpmlp.resolve(spec, dtype="float64")
    ops, x0 = ops_for(be.xp, be.name), np.linspace(-4.0, 4.0, 12).reshape(3, 4)
    assert ops.in_place == (spec != "array_api_strict")  # fast paths, or the generic forms
    x = be.asarray(x0)
    for fn, expected in ((ops.cos, np.cos(x0)), (ops.sin, np.sin(x0))):
        got = fn(x)
        assert got is not x and be.to_numpy(got).shape == (3, 4)
        assert_close(be.to_numpy(got), expected, RTOL["float64"], fn.__name__)
    np.testing.assert_array_equal(be.to_numpy(x), x0)


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
    parity case (a subset of the tests was asked for), it skips and says so.  A case another process
    ran (pytest-xdist's workers) runs again here."""
    expected = registrations_in_source()
    assert expected == {(fp.name, fp.backend) for fp in fastpaths.registered()}, "registry != source"
    collected = {item.name for item in request.session.items}
    if not {f"test_fast_path_matches_generic[{p.id}]" for p in FAST} <= collected:
        pytest.skip("only part of the parity cases were collected in this run; run the whole suite")
    for param in FAST:  # under pytest-xdist another worker may have run a case: it runs here again
        fp, case = param.values
        if (fp.name, fp.backend) not in RAN:
            try:
                test_fast_path_matches_generic(fp, case)
            except pytest.skip.Exception:  # skips do not count
                pass
    installed = {"numpy", "cupy"} | {lib for lib in ("torch",) if _importable(lib)}
    missing = sorted(key for key in expected if key[1] in installed and key not in RAN)
    assert not missing, f"registered fast paths with no parity case that ran: {missing}"


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
