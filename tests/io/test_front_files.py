"""Model files of networks with input layers of other kinds (``MLP(front=[...])``): the specs and
parameters round-trip on every backend, predictions bitwise equal; Adam's state over them resumes
training exactly; a tampered file is refused in one line naming the problem; a file without input
layers is the version-1 file xpmlp 0.3 and 0.4 wrote."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import to_np

import xpmlp
from xpmlp.io import ModelFileError, VERSION, archive, load, read_state, save, write_state
from xpmlp.optim.optimizers import Adam
from xpmlp.training import fit

FRONT = ["scale", "periodic:frequencies=3,width=3,columns=2"]


def data(n=16, width=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width))
    return X, np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]


def trained(backend="numpy", dtype="float64", epochs=1):
    X, T = data()
    net = xpmlp.MLP([3, 4, 2], "tanh", front=FRONT, backend=backend, dtype=dtype, seed=1)
    opt = Adam()
    fit(net, X, T, epochs=epochs, batch_size=8, optimizer=opt, learning_rate=0.01, patience=None)
    return net, opt, X, T


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A float32 front model with Adam's state after 2 steps."""
    net, opt, *_ = trained(dtype="float32")
    return save(tmp_path_factory.mktemp("front") / "m.npz", net, optimizer=opt)


def test_specs_and_parameters_round_trip_bitwise_on_every_backend(be, tmp_path):
    net, opt, X, T = trained(be, be.dtype_name)
    path = save(tmp_path / "m.npz", net, optimizer=opt)
    meta, arrays = read_state(path)
    assert meta["version"] == VERSION == 2 and meta["architecture"]["front"] == net.front.specs
    assert sorted(k for k in arrays if k.startswith("front.")) == [f"front.{i}" for i in range(5)]
    back = load(path, backend=be)  # onto the same backend and device, at the saved dtype
    assert back.net.front.specs == net.front.specs and back.net.widths == net.widths == [7, 4, 2]
    np.testing.assert_array_equal(to_np(be, back.net.predict(X)), to_np(be, net.predict(X)))
    for a, b in zip(back.net.get_front(), net.get_front()):
        np.testing.assert_array_equal(a, b)
    assert back.optimizer.t == opt.t == 2 and len(back.optimizer.state()["m"]) == 4 + 5
    host = load(path, backend="numpy", dtype="float64").net  # and onto NumPy
    for a, b in zip(host.get_front() + host.get_weights()[0], net.get_front() + net.get_weights()[0]):
        np.testing.assert_array_equal(a, b.astype(np.float64))


def test_adams_state_over_the_input_layers_resumes_training_exactly(tmp_path):
    net, opt, X, T = trained()
    ck = load(save(tmp_path / "m.npz", net, optimizer=opt), backend="numpy")
    kw = dict(epochs=2, batch_size=8, seed=5, learning_rate=0.01, patience=None)
    fit(net, X, T, optimizer=opt, **kw)
    fit(ck.net, X, T, optimizer=ck.optimizer, **kw)
    assert not np.array_equal(ck.net.get_front()[0], np.full(3, 1 / 6))  # the scale layer trained
    np.testing.assert_array_equal(to_np(ck.net.backend, ck.net.flat), to_np(net.backend, net.flat))


def test_a_checkpoint_written_by_fit_holds_the_input_layers(tmp_path):
    X, T = data()
    net = xpmlp.MLP([3, 4, 2], front=FRONT, backend="numpy", seed=2)
    fit(net, X, T, epochs=2, batch_size=8, checkpoint=tmp_path / "c.npz", patience=None)
    ck = load(tmp_path / "c.npz", backend="numpy")
    assert ck.optimizer.t == 4 and ck.history.epochs == 2
    np.testing.assert_array_equal(ck.net.predict(X), net.predict(X))


def test_a_model_without_input_layers_is_written_as_before(tmp_path):
    net = xpmlp.MLP([3, 4, 2], backend="numpy", seed=0)
    meta, arrays = read_state(save(tmp_path / "m.npz", net))
    assert meta["version"] == 1 and "front" not in meta["architecture"]
    assert sorted(arrays) == ["W.0", "W.1", "b.0", "b.1"]
    assert not load(tmp_path / "m.npz", backend="numpy").net.front


def listed(meta, arrays, name, a):
    arrays[name] = a
    meta["arrays"][name] = {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": archive.digest(a)}


def specs(*new):
    return lambda m, a: m["architecture"].update(front=list(new))


PERIODIC = "periodic:frequencies=3,width=3,sigma=0.1,lr_factor=0.1,columns=2"
# (edit(meta, arrays), what the error says after "<file>: "; a pattern where it starts with "re:")
EDITS = {
    "unknown-kind": (specs("scale", "fourier"),
                     "input layers ['scale', 'fourier']: unknown input layer 'fourier'; valid: scale, periodic"),
    "bad-setting": (specs("scale", PERIODIC.replace("columns=2", "columns=9")),
                    f"input layers ['scale', '{PERIODIC.replace('columns=2', 'columns=9')}']: periodic: columns must "
                    "be 0 (all) to 3, got 9"),
    "infinite-frequencies": (specs("scale", PERIODIC.replace("frequencies=3", "frequencies=inf")),
                             r"re:input layers \['scale', '.*'\]: periodic: frequencies must be a whole number >= 1, got inf"),
    "infinite-factor": (specs("scale:lr_factor=inf", PERIODIC),
                        r"re:input layers \['scale:lr_factor=inf', '.*'\]: scale: lr_factor must be > 0 and finite, got inf"),
    "not-a-list": (lambda m, a: m["architecture"].update(front="scale"),
                   "the input layers record 'scale' is not a list of specs"),
    "more-specs-than-arrays": (specs(*["scale"] * 6), "the file lists 6 input layers but holds fewer of their arrays"),
    "wrong-shape": (lambda m, a: listed(m, a, "front.0", np.ones(4, np.float32)),
                    r"re:input layer scale:lr_factor=6.0: array front.0 is \(4,\), the layer needs \(3,\)"),
    "missing-array": (lambda m, a: (a.pop("front.4"), m["arrays"].pop("front.4")),
                      f"input layer {PERIODIC}: array front.4 is missing"),
    "stray-array": (lambda m, a: listed(m, a, "front.5", np.ones(3, np.float32)),
                    r"re:the file holds input-layer arrays \['front.5'\] that its input layers \(scale.*\) do not have"),
    "layers-dropped": (lambda m, a: m["architecture"].pop("front"),
                       r"re:layer 1: W is \(7, 4\) and b \(4,\), architecture needs \(3, 4\) and \(4,\)"),
    "not-finite": (lambda m, a: listed(m, a, "front.3", np.full((2, 3, 2), np.nan, np.float32)),
                   "array 'front.3' contains NaN or inf"),
    "compute-dtype": (lambda m, a: m.update(compute_dtype="bfloat16"),
                      r"re:input layers \(scale.*\) train in float32 or float64, not in compute_dtype 'bfloat16'"),
    "adam-state-shape": (lambda m, a: listed(m, a, "opt.m.5", np.zeros(4, np.float32)),
                         r"re:optimizer state m\[5\] is missing or has the wrong shape"),
    "outputs-overflow": (lambda m, a: listed(m, a, "front.0", np.full(3, 3e38, np.float32)),
                         "the model's outputs are not finite even on ordinary inputs (a corrupt or crafted file?)"),
    "newer-version": (lambda m, a: m.update(version=3), r"re:format version 3 is not supported \(this xpmlp reads "
                      r"versions 1 to 2\)"),
}


@pytest.mark.parametrize("edit, problem", EDITS.values(), ids=EDITS.keys())
def test_a_tampered_file_is_refused_in_one_line(good, tmp_path, edit, problem):
    meta, arrays = read_state(good)
    edit(meta, arrays)
    path = write_state(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(ModelFileError) as exc:
        load(path, backend="numpy")
    pattern = problem[3:] if problem.startswith("re:") else re.escape(problem)
    assert re.fullmatch(re.escape(f"{path}: ") + pattern, str(exc.value)), str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_good_front_file_loads(good):
    """The files above differ from this one in their edit alone."""
    ck = load(good, backend="numpy")
    assert ck.net.front.specs == ["scale:lr_factor=6.0", PERIODIC] and ck.optimizer.t == 2
