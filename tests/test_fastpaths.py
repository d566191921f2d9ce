"""Every registered fast path equals the generic Array API code it replaces.

The registry (xpmlp.fastpaths) demands an example for each fast path, and this
test runs every one of them on every backend case that can, so a registered
fast path can never go without a parity test.  CuPy kernels run wherever a
CUDA device exists and skip with the reason otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp import fastpaths

from conftest import CASES, RTOL, assert_close, assert_on_backend, case_id, make_backend, to_np

FAST = [
    pytest.param(fp, case, id=f"{fp.name}-{case_id(case)}")
    for fp in fastpaths.registered()
    for case in CASES
    if case[0] == fp.backend
]


def test_registry_is_not_empty_and_covered():
    assert FAST, "no fast path registered: the seam is untested"
    names = {(fp.name, fp.backend) for fp in fastpaths.registered()}
    tested = {(p.values[0].name, p.values[0].backend) for p in FAST}
    assert names == tested, f"fast paths without a parity case: {names - tested}"


@pytest.mark.parametrize("fp,case", FAST)
def test_fast_path_matches_generic(fp, case):
    be = make_backend(case)
    args = fp.example(be, np.random.default_rng(0))

    def fresh(arg):  # every array copied, so an in-place fast path cannot touch the other call's inputs
        if isinstance(arg, list):
            return [fresh(a) for a in arg]
        return be.xp.asarray(arg, copy=True) if be.is_native(arg) else arg

    generic_args, fast_args = fresh(list(args)), fresh(list(args))
    expected = fp.result(generic_args, fp.generic(*generic_args))
    got = fp.result(fast_args, fp.impl(*fast_args))
    expected, got = (expected, got) if isinstance(got, list) else ([expected], [got])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_on_backend(be, g)
        assert_close(to_np(be, g), to_np(be, e), RTOL[be.dtype_name], fp.name)
    before = fp.result(list(args), None)  # what an in-place fast path updates, as it was
    if before is not None:  # the update must move every array it names, or the comparison is vacuous
        for g, b in zip(got, before if isinstance(before, list) else [before]):
            assert not np.allclose(to_np(be, g), to_np(be, b)), f"{fp.name} left an array unchanged"


def test_network_uses_the_fast_path_on_its_backend():
    net = xpmlp.MLP([3, 4, 2], "relu", backend="numpy")
    assert net.activations[0].delta is fastpaths._REGISTRY[("relu.delta", "numpy")].impl
    strict = xpmlp.MLP([3, 4, 2], "relu", backend="array_api_strict")
    assert strict.activations[0].delta.__func__ is type(strict.activations[0]).delta  # generic there


@pytest.mark.parametrize("fp", fastpaths.registered(), ids=lambda fp: f"{fp.name}-{fp.backend}")
def test_every_example_runs_through_its_generic_on_numpy(fp):
    """CPU-side check of each registration (CuPy ones included): the example's arguments fit the
    generic function and the result extractor names arrays, so the GPU parity run can only fail on
    the kernel itself."""
    be = xpmlp.resolve("numpy", dtype="float64")
    args = list(fp.example(be, np.random.default_rng(0)))
    out = fp.result(args, fp.generic(*args))
    for arr in out if isinstance(out, list) else [out]:
        assert isinstance(arr, np.ndarray) and np.isfinite(arr).all()


@pytest.mark.parametrize("backend,expected", [("numpy", "sgd_update"), ("torch", "_sgd_update_torch")])
def test_sgd_picks_the_update_registered_for_its_library(backend, expected):
    if backend == "torch":
        pytest.importorskip("torch")
    from xpmlp.optimizers import SGD
    from xpmlp.training import fit

    net, opt = xpmlp.MLP([3, 4, 2], backend=backend), SGD()
    fit(net, np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]], epochs=1, optimizer=opt, patience=None)
    assert opt._kernels["sgd.update"].__name__ == expected
