"""Input layers (xpmlp.nn.front): bad specs, inputs and shapes get one line naming the problem; specs,
reprs and the parameter layout say what was built."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.front import KINDS, Front, get_input_layer, parse_spec
from xpmlp.backends.arrays import ops_for
from xpmlp.nn.input_layer import InputLayer, Scratch
from xpmlp.nn.periodic import Periodic
from xpmlp.nn.scale import Scale


@pytest.mark.parametrize("spec, message", [
    ("fourier", "unknown input layer 'fourier'; valid: scale, periodic"),
    ("periodic:octaves=3", "input layer 'periodic' takes frequencies, width, sigma, lr_factor, columns; "
                           "cannot read 'octaves=3'"),
    ("scale:lr_factor", "input layer 'scale' takes lr_factor; cannot read 'lr_factor'"),
    ("periodic:width=3,width=4", "cannot read 'width=4'"),
    ("periodic:sigma=wide", "input layer 'periodic': sigma must be a number, got 'wide'"),
    ("periodic:columns=4", "periodic: columns must be 0 \\(all\\) to 3, got 4"),
    ("periodic:columns=-1", "periodic: columns must be a whole number >= 0, got -1"),
    ("periodic:frequencies=0", "periodic: frequencies must be a whole number >= 1, got 0"),
    ("periodic:frequencies=2.5", "periodic: frequencies must be a whole number >= 1, got 2.5"),
    ("periodic:frequencies=nan", "periodic: frequencies must be a whole number >= 1, got nan"),
    ("periodic:frequencies=inf", "periodic: frequencies must be a whole number >= 1, got inf"),
    ("periodic:width=1", "periodic: width must be a whole number >= 2, got 1"),
    ("periodic:columns=1.5", "periodic: columns must be a whole number >= 0, got 1.5"),
    ("periodic:sigma=0", "periodic: sigma must be > 0 and finite, got 0"),
    ("periodic:lr_factor=-1", "periodic: lr_factor must be > 0 and finite, got -1"),
    ("periodic:sigma=inf", "periodic: sigma must be > 0 and finite, got inf"),
    ("scale:lr_factor=0", "scale: lr_factor must be > 0 and finite, got 0"),
    ("scale:lr_factor=nan", "scale: lr_factor must be > 0 and finite, got nan"),
])
def test_bad_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        xpmlp.MLP([3, 4, 2], front=[spec])


def test_specs_are_read_case_and_space_blind_and_read_back():
    assert parse_spec(" Periodic : Frequencies = 8 , sigma=0.5 ,") == ("periodic", {"frequencies": 8.0, "sigma": 0.5})
    for layer in (Scale(3, lr_factor=2.0), Periodic(5, frequencies=8, width=3, sigma=0.5, lr_factor=0.2, columns=2)):
        again = get_input_layer(layer.spec, layer.width_in)
        assert type(again) is type(layer) and again.config() == layer.config() and again.spec == layer.spec
    assert Periodic(5, columns=2).spec == "periodic:frequencies=16,width=4,sigma=0.1,lr_factor=0.1,columns=2"
    assert repr(Periodic(5, columns=2)) == (
        "<input layer periodic:frequencies=16,width=4,sigma=0.1,lr_factor=0.1,columns=2 (5 -> 11)>")
    assert repr(Scale(3)) == "<input layer scale:lr_factor=6.0 (3 -> 3)>"
    assert set(KINDS) == {"scale", "periodic"}


def test_an_input_layer_object_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match=r"<input layer scale:lr_factor=6.0 \(4 -> 4\)> takes 4 columns, its place has 3"):
        xpmlp.MLP([3, 4, 2], front=[Scale(4)])
    with pytest.raises(ValueError, match=r"takes 3 columns, its place has 9"):  # below it: periodic:columns=2 of 3
        Front(["periodic:columns=2,width=4", Scale(3)], 3)
    layer = Periodic(3, columns=2)
    net = xpmlp.MLP([3, 4, 2], front=[layer, Scale(9)], seed=0)
    assert net.front.layers[0] is layer and net.widths == [9, 4, 2] and net.sizes == [3, 4, 2]


def test_one_spec_or_layer_alone_is_a_stack_of_one():
    assert xpmlp.MLP([3, 4, 2], front="scale").front.specs == ["scale:lr_factor=6.0"]
    assert len(xpmlp.MLP([3, 4, 2], front=Periodic(3)).front.layers) == 1
    assert not xpmlp.MLP([3, 4, 2]).front and xpmlp.MLP([3, 4, 2]).front.width == 3


def test_the_layout_puts_the_input_layers_after_the_biases():
    net = xpmlp.MLP([3, 4, 2], front=["scale", "periodic:frequencies=5,width=3,columns=2"], dtype="float64", seed=0)
    assert net.widths == [3 + 2 * 2, 4, 2]
    assert net.front.shapes == [(3,), (2, 5), (2, 5), (2, 5, 2), (2, 2)]
    assert net.layout.size == 7 * 4 + 4 * 2 + 4 + 2 + 3 + 10 + 10 + 20 + 4
    assert [tuple(p.shape) for p in net.params] == [(7, 4), (4,), (4, 2), (2,), *net.front.shapes]
    assert len(net.parameters) == 9
    theta = net.get_front()
    np.testing.assert_array_equal(theta[0], np.full(3, 1 / 6))  # s = c theta = 1
    assert np.all(np.abs(theta[2]) <= np.pi / 0.1)  # b1 = U(-pi, pi) / c
    assert np.all(np.abs(theta[3]) <= 1 / np.sqrt(5) / 0.1)  # W2 = U(-1, 1) / sqrt(k) / c
    flat = np.asarray(net.flat)
    np.testing.assert_array_equal(flat[-47:], np.concatenate([t.ravel() for t in theta]))
    assert net.parameters.unpack(net.flat)[4] is not None and net.parameters.pack(np, net.params).shape == flat.shape
    np.testing.assert_array_equal(net.parameters.pack(np, net.params), flat)


def test_set_front_copies_in_and_checks_first(be):
    net = xpmlp.MLP([3, 4, 2], front=["scale", "periodic:frequencies=2,width=2"], backend=be, seed=0)
    before = np.asarray(be.to_numpy(net.flat)).copy()
    with pytest.raises(ValueError, match="expected 5 input-layer arrays, got 4"):
        net.set_front(net.get_front()[:4])
    wrong = net.get_front()
    wrong[3] = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match=r"input-layer array 3: must be \(3, 2, 1\), got \(3, 2, 2\)"):
        net.set_front(wrong)
    np.testing.assert_array_equal(be.to_numpy(net.flat), before)  # nothing was written
    new = [np.full(s, float(i)) for i, s in enumerate(net.front.shapes)]
    net.set_front(new)
    for a, b in zip(net.get_front(), new):
        np.testing.assert_array_equal(a, b)
    net.set_front([be.asarray(t) for t in new])  # the model's own library's arrays are taken too
    dense = before.size - sum(int(np.prod(s)) for s in net.front.shapes)
    np.testing.assert_array_equal(be.to_numpy(net.flat)[:dense], before[:dense])  # Ws, bs kept


def test_sparse_inputs_are_refused_naming_the_input_layers():
    from scipy import sparse

    net = xpmlp.MLP([3, 4, 2], front=["scale"], seed=0)
    X = sparse.csr_matrix(np.eye(3))
    with pytest.raises(TypeError, match=r"input layers \(scale:lr_factor=6.0\) take dense inputs; X is a sparse csr_matrix"):
        net.predict(X)
    with pytest.raises(TypeError, match="take dense inputs"):
        xpmlp.fit(net, X, np.eye(2)[[0, 1, 0]], epochs=1)
    xpmlp.MLP([3, 4, 2], seed=0).predict(X)  # without input layers sparse X is fine


def test_compute_dtype_is_refused_with_input_layers():
    torch = pytest.importorskip("torch")  # noqa: F841 (numpy offers no compute dtype at all)
    with pytest.raises(ValueError, match=r"input layers \(scale:lr_factor=6.0\) train in float32 or float64; "
                                         r"compute_dtype='bfloat16' is not available with them"):
        xpmlp.MLP([3, 4, 2], backend="torch", compute_dtype="bfloat16", front=["scale"])


def test_the_models_repr_names_its_input_layers():
    net = xpmlp.MLP([3, 4, 2], front=["scale", "periodic:columns=2"], backend="numpy")
    assert repr(net) == ("MLP([3, 4, 2], relu/softmax, loss=cross_entropy, backend=numpy:cpu float32, "
                         "front=['scale:lr_factor=6.0', "
                         "'periodic:frequencies=16,width=4,sigma=0.1,lr_factor=0.1,columns=2'])")


def test_an_input_layer_kind_says_what_it_must_provide():
    layer = InputLayer(3)
    for call in (lambda: layer.width_out, lambda: layer.shapes, lambda: layer.init(np.random.default_rng(0)),
                 lambda: layer.forward(np, [], np.ones((1, 3)), None),
                 lambda: layer.backward(np, [], np.ones((1, 3)), None, np.ones((1, 3)), None, False, None)):
        with pytest.raises(NotImplementedError):
            call()
    assert layer.config() == {} and layer.spec == ""


def test_scratch_kept_for_training_hands_out_one_array_per_name_and_shape(be):
    like = be.asarray(np.ones((2, 3)))
    kept, fresh = Scratch(ops_for(be.xp, be.name), keep=True), Scratch(ops_for(be.xp, be.name))
    a = kept("u", (4, 3), like)
    assert kept("u", (4, 3), like) is a and kept("u", (2, 3), like) is not a and kept("v", (4, 3), like) is not a
    assert a.dtype == be.dtype and tuple(a.shape) == (4, 3)
    assert fresh("u", (4, 3), like) is not fresh("u", (4, 3), like)  # outside training: results outlive the call
