"""The flat parameter buffer and the arrays a step reuses, at their edges: the buffer as a sequence of
its layers' views, the refusal of a library whose reshape copies, the optimizer given mismatched
buffers, an L2 term of 0 that does no work, a batch larger than its workspace."""

from __future__ import annotations

import types

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.backprop import Workspace
from xpmlp.nn.objective import add_l2_gradient
from xpmlp.nn.parameters import check_views
from xpmlp.optim.optimizers import SGD


def test_the_flat_buffer_is_a_sequence_of_its_layers_views_in_update_order():
    net = xpmlp.MLP([3, 4, 2], backend="numpy", dtype="float64", seed=0)
    params = net.parameters
    assert len(params) == 4 and [p.shape for p in params] == [(3, 4), (4,), (4, 2), (2,)]
    assert [params[k].shape for k in (0, 1, -2, -1)] == [(3, 4), (4,), (4, 2), (2,)]
    for k in range(4):
        assert np.shares_memory(params[k], params.flat)
    params[3][...] = 7.0  # b^2, written through its view
    np.testing.assert_array_equal(net.bs[1], [7.0, 7.0])
    np.testing.assert_array_equal(params.flat[-2:], [7.0, 7.0])  # the biases come after every weight


class CopyingReshape:
    """A namespace like NumPy's whose ``reshape`` always copies (as a library without views would)."""

    __name__ = "copying_reshape"
    float32 = np.float32
    zeros, ones, sum = staticmethod(np.zeros), staticmethod(np.ones), staticmethod(np.sum)

    @staticmethod
    def reshape(a, shape, copy=None):
        return np.array(a).reshape(shape)


def test_a_library_whose_reshaped_slice_is_a_copy_is_refused():
    with pytest.raises(TypeError, match="copying_reshape: a reshaped slice is a copy, not a view, so a flat "
                                        "parameter buffer cannot be shared with its layers' arrays"):
        check_views(CopyingReshape())


def test_the_optimizer_refuses_mismatched_parameters_and_gradients():
    net = xpmlp.MLP([3, 4, 2], backend="numpy", dtype="float64", seed=0)
    other = xpmlp.MLP([3, 5, 2], backend="numpy", dtype="float64", seed=0)
    before = net.flat.copy()
    opt = SGD().bind(net.backend)
    with pytest.raises(TypeError, match="give two flat buffers or two lists of arrays"):
        opt.step(net.parameters, list(net.parameters.like()), 0.1)
    with pytest.raises(ValueError, match="the parameters and the gradients have different layouts"):
        opt.step(net.parameters, other.parameters.like(), 0.1)
    np.testing.assert_array_equal(net.flat, before)  # nothing was updated


def test_an_l2_term_of_zero_does_no_work():
    net = xpmlp.MLP([3, 4, 2], backend="numpy", dtype="float64", seed=0)
    grads = net.parameters.like()
    grads.flat[...] = 1.0

    def refused(*args):
        raise AssertionError("a zero L2 term launched add_scaled")

    add_l2_gradient(grads, net.parameters, 0.0, ops=types.SimpleNamespace(add_scaled=refused))
    np.testing.assert_array_equal(grads.flat, np.ones(net.parameters.flat.size))
    add_l2_gradient(grads, net.parameters, 0.5)  # and a nonzero one adds alpha W to the weights' gradients
    n = net.parameters.layout.n_weights
    np.testing.assert_array_equal(grads.flat[:n], 1.0 + 0.5 * net.flat[:n])
    np.testing.assert_array_equal(grads.flat[n:], 1.0)


def test_a_batch_larger_than_the_workspace_is_refused():
    ws = Workspace([3, 4, 2], np, np.float64, None, rows=8)
    assert ws.rows(8) is ws and ws.rows(5).z[0].shape == (5, 4)
    with pytest.raises(ValueError, match="a batch of 9 rows does not fit a workspace of 8"):
        ws.rows(9)



def test_a_library_whose_reshaped_slices_are_copies_is_refused(monkeypatch):
    """The flat buffer's views need reshape(copy=False) to give a view; checked once per library."""
    import xpmlp.nn.parameters as parameters

    class Copying:  # NumPy, except that reshape copies
        __name__ = "copying"
        float32 = np.float32
        zeros, ones = staticmethod(np.zeros), staticmethod(np.ones)
        sum = staticmethod(np.sum)

        @staticmethod
        def reshape(a, shape, copy=None):
            return np.array(np.reshape(a, shape))

    monkeypatch.setattr(parameters, "_CHECKED", set())
    parameters.check_views(np)
    assert parameters._CHECKED == {"numpy"}
    with pytest.raises(TypeError, match="^copying: a reshaped slice is a copy, not a view"):
        parameters.check_views(Copying())
    assert parameters._CHECKED == {"numpy"}


def test_a_workspace_holds_the_output_in_its_own_dtype_and_short_batches_share_its_arrays():
    ws = Workspace([3, 4, 5, 2], np, np.float16, None, 8, out_dtype=np.float32)  # as mixed precision uses it
    assert [a.dtype for a in ws.a] == [np.float16, np.float16, np.float32] and ws.z[-1].dtype == np.float16
    assert [a.dtype for a in Workspace([3, 4, 2], np, np.float32, None, 8).a] == [np.float32, np.float32]
    assert ws.g[0] is None and [g.shape for g in ws.g[1:]] == [(8, 4), (8, 5)]
    short = ws.rows(3)
    assert short is ws.rows(3) and ws.rows(8) is ws
    for big, small in zip(ws.z + ws.a + ws.g[1:] + ws.scratch[1:], short.z + short.a + short.g[1:] + short.scratch[1:]):
        assert small.shape[0] == 3 and np.shares_memory(big, small)
    with pytest.raises(ValueError, match="a batch of 9 rows does not fit a workspace of 8"):
        ws.rows(9)


def test_a_workspace_and_its_views_are_freed_without_the_garbage_collector():
    """No reference cycle: a fit's step arrays go when the fit returns (on a GPU, device memory that
    waited for the cyclic collector stayed allocated; bench_scale.py saw the peak grow per epoch)."""
    import gc
    import weakref

    gc.disable()
    try:
        ws = Workspace([3, 4, 2], np, np.float64, None, rows=8)
        short = ws.rows(5)
        assert short.rows(5) is short and ws.rows(8) is ws
        gone, view_gone = weakref.ref(ws), weakref.ref(short)
        del ws, short
        assert gone() is None and view_gone() is None
    finally:
        gc.enable()
