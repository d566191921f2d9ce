"""Persistence: round trips across backends and dtypes, atomic saves, clear errors on bad files."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from conftest import assert_on_backend, to_np

import xpmlp
from xpmlp import io as xio
from xpmlp.io import archive
from xpmlp.io import ModelFileError, load, save
from xpmlp.optim.optimizers import Adam
from xpmlp.optim.schedules import Adaptive
from xpmlp.training import fit


def trained(be, epochs=2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3))
    T = np.eye(2)[(X[:, 0] > 0).astype(int)]
    net = xpmlp.MLP([3, 5, 2], "tanh", backend=be, seed=1)
    opt, sched = Adam(), Adaptive(0.01)
    hist = fit(net, X, T, epochs=epochs, batch_size=8, optimizer=opt, schedule=sched, patience=None)
    return net, opt, sched, hist, X, T


def test_round_trip_onto_numpy_and_back(be, tmp_path):
    net, opt, sched, hist, X, T = trained(be)
    path = save(tmp_path / "m.npz", net, optimizer=opt, schedule=sched, history=hist)
    with np.load(path, allow_pickle=False) as z:  # portable: plain .npz, no pickle
        assert "W.0" in z.files and "opt.m.0" in z.files
    ck = load(path, backend="numpy", dtype="float64")
    assert ck.net.sizes == [3, 5, 2] and ck.net.hidden_activation.name == "tanh" and ck.net.backend.dtype_name == "float64"
    for a, b in zip(ck.net.get_weights()[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b.astype(np.float64))
    assert ck.optimizer.t == opt.t == 6 and ck.optimizer.config() == opt.config()
    np.testing.assert_array_equal(np.asarray(ck.optimizer.state()["v"][1]), to_np(be, opt.state()["v"][1]))
    assert ck.schedule.learning_rate == sched.learning_rate and ck.history == hist
    back = load(path, backend=be)  # and onto the original backend, at the saved dtype
    assert_on_backend(be, back.net.Ws[0])
    assert_on_backend(be, back.optimizer.state()["m"][0])
    np.testing.assert_array_equal(to_np(be, back.net.predict(X)), to_np(be, net.predict(X)))


def test_loaded_optimizer_state_continues_training_identically(tmp_path):
    net, opt, sched, hist, X, T = trained("numpy")
    save(tmp_path / "m.npz", net, optimizer=opt, schedule=sched, history=hist)
    ck = load(tmp_path / "m.npz", backend="numpy")
    kw = dict(epochs=2, batch_size=8, seed=5, patience=None)
    fit(net, X, T, optimizer=opt, schedule=sched, history=hist, **kw)
    fit(ck.net, X, T, optimizer=ck.optimizer, schedule=ck.schedule, history=ck.history, **kw)
    for a, b in zip(ck.net.get_weights()[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b)
    assert ck.history.loss == hist.loss


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    net, opt, *_ = trained("numpy", epochs=1)
    path = tmp_path / "m.npz"
    save(path, net, optimizer=opt)
    original = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(archive.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save(path, net, optimizer=opt)

    def interrupted(f, **arrays):
        f.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(archive.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, net, optimizer=opt)
    assert path.read_bytes() == original  # the earlier file is whole
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary files left behind
    monkeypatch.undo()
    assert load(path, backend="numpy").optimizer.t == opt.t


def test_truncated_file_is_refused(tmp_path):
    net, opt, *_ = trained("numpy", epochs=1)
    path = save(tmp_path / "m.npz", net, optimizer=opt)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="truncated or corrupt"):
            load(path, backend="numpy")


def test_corrupt_bytes_are_refused(tmp_path):
    net, opt, *_ = trained("numpy", epochs=1)
    path = save(tmp_path / "m.npz", net, optimizer=opt)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("W.0.npy")
    data[info.header_offset + 30 + len(info.filename) + info.file_size - 3] ^= 0xFF  # a weight byte
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load(path, backend="numpy")


def rewrite(path, edit_meta=None, edit_arrays=None):
    meta, arrays = xio.read_state(path)
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    xio.write_state(path, meta, arrays)


@pytest.mark.parametrize(
    "edit_meta, edit_arrays, match",
    [
        (lambda m: m.update(version=99), None, "version 99 is not supported"),
        (lambda m: m.update(format="other"), None, "not an xpmlp model"),
        (lambda m: m["architecture"].update(sizes=[3, 6, 2]), None, "layer 1"),
        (lambda m: m["architecture"].update(loss="hinge"), None, "architecture"),
        (lambda m: m["optimizer"].update(name="rmsprop"), None, "optimizer"),
        (lambda m: m["arrays"]["W.0"].update(sha256="0" * 64), None, "checksum"),
        (None, lambda a: a.pop("opt.m.1"), "do not match the metadata"),
        (lambda m: m["history"].update(loss="abc"), None, "history"),
    ],
    ids=["version", "format", "shapes", "loss", "optimizer", "checksum", "missing-array", "history"],
)
def test_incompatible_files_give_clear_errors(tmp_path, edit_meta, edit_arrays, match):
    net, opt, sched, hist, *_ = trained("numpy", epochs=1)
    path = save(tmp_path / "m.npz", net, optimizer=opt, schedule=sched, history=hist)
    rewrite(path, edit_meta, edit_arrays)
    with pytest.raises(ModelFileError, match=match):
        load(path, backend="numpy")


def test_non_finite_weights_and_non_model_files_are_refused(tmp_path):
    net, *_ = trained("numpy", epochs=1)
    path = save(tmp_path / "m.npz", net)

    def poison(arrays):
        arrays["b.1"] = np.array([np.nan, 0.0], dtype=arrays["b.1"].dtype)

    def relist(meta):
        a = np.array([np.nan, 0.0], dtype=np.float32)
        meta["arrays"]["b.1"]["sha256"] = archive.digest(a)

    rewrite(path, relist, poison)
    with pytest.raises(ModelFileError, match="NaN"):
        load(path, backend="numpy")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an xpmlp model file"):
        load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_metadata_is_plain_json(tmp_path):
    net, opt, sched, hist, *_ = trained("numpy", epochs=1)
    path = save(tmp_path / "m.npz", net, optimizer=opt, schedule=sched, history=hist, hyperparameters={"alpha": 0.1})
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["__xpmlp__"].tobytes())
    assert meta["format"] == "xpmlp-model" and meta["architecture"]["sizes"] == [3, 5, 2]
    assert meta["optimizer"]["name"] == "adam" and meta["hyperparameters"] == {"alpha": 0.1}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_save_load_continues_identically(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris

    from xpmlp.estimators import MLPClassifier, MLPRegressor, load_estimator

    X, y = load_iris(return_X_y=True)
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, backend="numpy").fit(X, labels)
    clf.save(tmp_path / "clf.npz")
    again = load_estimator(tmp_path / "clf.npz", backend="array_api_strict")
    assert isinstance(again, MLPClassifier) and again.get_params()["hidden_layer_sizes"] == (8,)
    assert again.classes_.tolist() == ["a", "b", "c"] and again.loss_curve_ == clf.loss_curve_
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), rtol=1e-12)  # float64 both
    clf.partial_fit(X, labels)
    again.partial_fit(X, labels)  # restored optimizer moments and shuffle stream
    np.testing.assert_allclose(again.coefs_[0], clf.coefs_[0], rtol=1e-12)
    with pytest.raises(ModelFileError, match="not a MLPRegressor"):
        MLPRegressor.load(tmp_path / "clf.npz")


def test_saved_file_gets_the_usual_permissions(tmp_path):
    import stat

    net = xpmlp.MLP([2, 2], "relu", "identity", "squared_error", backend="numpy")
    umask = os.umask(0o022)
    try:
        path = save(tmp_path / "m.npz", net)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


NEW_ACTIVATIONS = ["leaky_relu", "leaky_relu:slope=0.2", "elu", "elu:alpha=0.5", "gelu", "silu", "softplus"]


@pytest.mark.parametrize("hidden", NEW_ACTIVATIONS)
def test_every_new_activation_round_trips_with_its_parameters(be, hidden, tmp_path):
    out = "elu:alpha=0.3" if hidden == "silu" else hidden  # as output too, with a parameter of its own
    net = xpmlp.MLP([3, 5, 2], hidden, out, "mse", backend=be, seed=2)
    X = np.random.default_rng(3).normal(scale=2, size=(11, 3))
    path = save(tmp_path / "m.npz", net)
    with np.load(path, allow_pickle=False) as z:
        arch = json.loads(z["__xpmlp__"].tobytes())["architecture"]
    assert arch["hidden_activation"] == net.hidden_activation.spec
    assert arch["output_activation"] == net.output_activation.spec
    if hidden == "leaky_relu":
        assert arch["hidden_activation"] == "leaky_relu:slope=0.01"  # a default is written out too
    back = load(path, backend=be)
    assert back.net.hidden_activation == xpmlp.get_activation(hidden)
    assert back.net.output_activation == net.output_activation
    np.testing.assert_array_equal(to_np(be, back.net.predict(X)), to_np(be, net.predict(X)))
    other = load(path, backend="numpy", dtype="float64")  # and onto NumPy: the same function
    rtol = 1e-5 if be.dtype_name == "float32" else 1e-12
    expected = to_np(be, net.predict(X))
    # relative to the outputs' scale: an output near zero is a cancellation of terms of that size
    np.testing.assert_allclose(other.net.predict(X), expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_a_file_naming_plain_activations_still_loads(tmp_path):
    """Files written before parameterised activations name each activation by its name alone."""
    net = xpmlp.MLP([3, 4, 2], "tanh", "softmax", backend="numpy", seed=0)
    path = save(tmp_path / "m.npz", net)
    rewrite(path, lambda m: m["architecture"].update(hidden_activation="sigmoid", output_activation="softmax"))
    ck = load(path, backend="numpy")
    assert ck.net.hidden_activation.name == "logistic" and ck.net.output_activation.name == "softmax"
    rewrite(path, lambda m: m["architecture"].update(hidden_activation="leaky_relu"))  # a name alone: the default
    assert load(path, backend="numpy").net.hidden_activation.slope == 0.01


@pytest.mark.parametrize("spec, match", [("leaky_relu:slope=nan", "slope must be a finite number"),
                                         ("gelu:1", "'gelu' takes no parameters"),
                                         ("leaky_relu:alpha=1", "takes slope")])
def test_bad_activation_parameters_in_a_file_are_refused(tmp_path, spec, match):
    path = save(tmp_path / "m.npz", xpmlp.MLP([3, 4, 2], "relu", backend="numpy"))
    rewrite(path, lambda m: m["architecture"].update(hidden_activation=spec))
    with pytest.raises(ModelFileError, match=f"malformed architecture record.*{match}"):
        load(path, backend="numpy")


def test_a_cut_learning_rate_is_saved_and_restored(tmp_path):
    """An adaptive schedule's current rate (cut by 5 after a stall) comes back, not its initial one."""
    net, opt, sched, hist, X, T = trained("numpy")
    sched.learning_rate /= 5.0  # what a stall does to it
    path = save(tmp_path / "m.npz", net, optimizer=opt, schedule=sched, history=hist)
    assert load(path).schedule.learning_rate == pytest.approx(0.002, rel=1e-15)
