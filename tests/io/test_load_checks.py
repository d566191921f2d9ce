"""Every check :func:`xpmlp.io.load` makes before it builds anything, each on a file that fails it
alone: one :class:`ModelFileError` naming the file and the problem; and what :func:`xpmlp.io.save`
refuses to write (the earlier file left whole)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import xpmlp
from xpmlp.io import ModelFileError, archive, from_state, load, read_state, save, to_state, write_state
from xpmlp.optim.optimizers import Adam
from xpmlp.optim.schedules import Adaptive
from xpmlp.training import fit


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A file with every part: a [3, 5, 2] network, Adam's state after 3 steps, a schedule, a history."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3))
    T = np.eye(2)[(X[:, 0] > 0).astype(int)]
    net = xpmlp.MLP([3, 5, 2], "tanh", backend="numpy", seed=1)
    opt, sched = Adam(), Adaptive(0.01)
    hist = fit(net, X, T, epochs=1, batch_size=8, optimizer=opt, schedule=sched, patience=None)
    return save(tmp_path_factory.mktemp("good") / "m.npz", net, optimizer=opt, schedule=sched, history=hist)


def listed(meta, arrays, name, a):
    """Put array ``a`` under ``name``, listed in the metadata as the writer lists it (so only the edit differs)."""
    arrays[name] = a
    meta["arrays"][name] = {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": archive.digest(a)}


def dropped(meta, arrays, *names):
    for name in names:
        del arrays[name], meta["arrays"][name]


def bad_layer_sizes(sizes):
    return lambda m, a: m["architecture"].update(sizes=sizes)


def optimizer(**fields):
    return lambda m, a: m["optimizer"].update(**fields)


def schedule(edit):
    return lambda m, a: edit(m["schedule"])


# (edit(meta, arrays), what the error says after "<file>: ")
EDITS = {
    "arrays-not-a-mapping": (lambda m, a: m.update(arrays=[]),
                             "malformed architecture record: TypeError('the array list is not a mapping')"),
    "a-zero-layer": (bad_layer_sizes([3, 0, 2]), "layer sizes [3, 0, 2] are not valid"),
    "a-fractional-layer": (bad_layer_sizes([3, 5.5, 2]), "layer sizes [3, 5.5, 2] are not valid"),
    "one-layer": (bad_layer_sizes([3]), "layer sizes [3] are not valid"),
    "dtype": (lambda m, a: m.update(dtype="float16"), "dtype 'float16' is not float32 or float64"),
    "compute-dtype": (lambda m, a: m.update(compute_dtype="float8"), "compute_dtype 'float8' is not bfloat16 or float16"),
    "listed-shape": (lambda m, a: m["arrays"]["W.0"].update(shape=[5, 3]),
                     "array 'W.0' is <f4[3, 5], metadata says <f4[5, 3]"),
    "listed-dtype": (lambda m, a: m["arrays"]["b.1"].update(dtype="<f8"), "array 'b.1' is <f4[2], metadata says <f8[2]"),
    "layer-missing": (lambda m, a: dropped(m, a, "W.1", "b.1"), "layer 2 parameters are missing"),
    "stray-layer": (lambda m, a: listed(m, a, "W.2", np.zeros((2, 2), np.float32)),
                    "the file holds parameters ['W.2'] that a 2-layer network does not have"),
    "weights-of-integers": (lambda m, a: listed(m, a, "W.0", np.zeros((3, 5), np.int64)),
                            "array 'W.0' has dtype int64, expected floating point"),
    "optimizer-slots": (optimizer(slots=["velocity"]), "optimizer adam needs state ['m', 'v'], file has ['velocity']"),
    "optimizer-state-shape": (lambda m, a: listed(m, a, "opt.m.1", np.zeros(4, np.float32)),
                              "optimizer state m[1] is missing or has the wrong shape"),
    "optimizer-negative-step": (optimizer(t=-1), "optimizer step count -1 does not match its state"),
    "optimizer-unknown": (optimizer(name="adamx"), "malformed optimizer record: unknown optimizer 'adamx'"),
    "optimizer-state-not-finite": (lambda m, a: listed(m, a, "opt.v.2", np.full((5, 2), np.nan, np.float32)),
                                   "array 'opt.v.2' contains NaN or inf"),
    "bias-missing": (lambda m, a: dropped(m, a, "b.1"), "layer 2 parameters are missing"),
    "bias-shape": (lambda m, a: listed(m, a, "b.1", np.zeros(3, np.float32)),
                   "layer 2: W is (5, 2) and b (3,), architecture needs (5, 2) and (2,)"),
    "bias-not-finite": (lambda m, a: listed(m, a, "b.1", np.array([0.0, np.inf], np.float32)),
                        "array 'b.1' contains NaN or inf"),
    "stray-bias": (lambda m, a: listed(m, a, "b.2", np.zeros(2, np.float32)),
                   "the file holds parameters ['b.2'] that a 2-layer network does not have"),
    "not-an-xpmlp-file": (lambda m, a: m.update(format="keras"), "not an xpmlp model (format tag 'keras')"),
    "listed-without-shape": (lambda m, a: m["arrays"]["W.1"].pop("shape"), "array 'W.1' is <f4[5, 2], metadata says <f4None"),
    "optimizer-steps-without-state": (
        lambda m, a: (dropped(m, a, *[k for k in list(a) if k.startswith("opt.")]), m["optimizer"].update(slots=[])),
        "optimizer step count 3 does not match its state"),
    "schedule-unknown": (schedule(lambda s: s.update(name="cosine")),
                         "malformed schedule record: unknown schedule 'cosine'"),
    "schedule-rate-zero": (schedule(lambda s: s.update(learning_rate=0)), "malformed schedule record: learning rate 0.0"),
    "schedule-no-config": (schedule(lambda s: s.pop("config")), "malformed schedule record: 'config'"),
    "schedule-bad-config": (schedule(lambda s: s["config"].update(factor=2.0)),
                            "malformed schedule record: factor must be in (0, 1), got 2.0"),
    "extra-not-a-mapping": (lambda m, a: m.update(extra=5), "the extra record is not a mapping"),
    "hyperparameters-not-a-mapping": (lambda m, a: m.update(hyperparameters=[1, 2]),
                                      "the hyperparameters record is not a mapping"),
    "activation-parameter-absurd": (lambda m, a: m["architecture"].update(hidden_activation="leaky_relu:slope=-2e3"),
                                    "activation leaky_relu:slope=-2000.0: parameters must lie within +-1000"),
    "outputs-overflow": (lambda m, a: listed(m, a, "W.1", np.full((5, 2), 3e38, np.float32)),
                         "the model's outputs are not finite even on ordinary inputs (a corrupt or crafted file?)"),
}


@pytest.mark.parametrize("edit, problem", EDITS.values(), ids=EDITS.keys())
def test_each_check_of_load_names_the_problem(good, tmp_path, edit, problem):
    meta, arrays = read_state(good)
    edit(meta, arrays)
    path = write_state(tmp_path / "bad.npz", meta, arrays)
    with pytest.raises(ModelFileError) as exc:
        load(path, backend="numpy")
    assert str(exc.value) == f"{path}: {problem}"


@pytest.mark.parametrize("payload, problem", [
    (b'{"format": "xpmlp-model", ', r"metadata is not valid JSON: .*\(char 26\)"),  # the json module's words
    (b"\xff\xfe{}", r"metadata is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
], ids=["truncated-json", "not-utf8"])
def test_metadata_that_is_not_json_is_refused(good, tmp_path, payload, problem):
    _, arrays = read_state(good)
    path = tmp_path / "bad.npz"
    np.savez(path, __xpmlp__=np.frombuffer(payload, dtype=np.uint8), **arrays)
    with pytest.raises(ModelFileError) as exc:
        load(path, backend="numpy")
    assert re.fullmatch(re.escape(f"{path}: ") + problem, str(exc.value)), str(exc.value)


def test_save_refuses_what_it_cannot_write_without_pickle_and_keeps_the_earlier_file(good, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(good.read_bytes())
    net = load(good, backend="numpy").net
    with pytest.raises(TypeError) as exc:
        save(path, net, extra_arrays={"classes": np.array([{"a": 1}, None], dtype=object)})
    assert str(exc.value) == ("extra array 'classes' has dtype object; only numbers and strings can be saved without "
                              "pickle")
    assert path.read_bytes() == good.read_bytes() and sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_an_estimator_is_saved_with_its_own_state_only(tmp_path):
    pytest.importorskip("sklearn")
    from xpmlp.estimators import MLPRegressor

    with pytest.raises(TypeError) as exc:
        save(tmp_path / "e.npz", MLPRegressor(), optimizer=Adam(), history=None)
    assert str(exc.value) == "an estimator saves its own optimizer and history; got extra ['history', 'optimizer']"
    assert not (tmp_path / "e.npz").exists()


def test_the_good_file_loads(good):
    """The files above differ from this one in their edit alone."""
    ck = load(good, backend="numpy")
    assert ck.net.sizes == [3, 5, 2] and ck.optimizer.t == 3 and ck.schedule.learning_rate == 0.01
    meta, _ = read_state(good)
    assert json.loads(json.dumps(meta)) == meta and meta["optimizer"]["slots"] == ["m", "v"]


@pytest.mark.parametrize("sizes", [[3, 2], [2, 1, 1], [1, 4, 1]])
def test_any_valid_shape_loads_even_one_unit_wide(tmp_path, sizes):
    """No hidden layer, or layers of one unit, are networks like any other."""
    net = xpmlp.MLP(sizes, "tanh", "identity", "squared_error", backend="numpy", seed=2)
    ck = load(save(tmp_path / "m.npz", net), backend="numpy")
    assert ck.net.sizes == sizes
    for a, b in zip(ck.net.get_weights()[0], net.get_weights()[0]):
        np.testing.assert_array_equal(a, b)


def test_everything_saved_beside_the_network_reads_back(tmp_path):
    """An untouched Adam (step 0, no state yet) with its own settings; a float16 compute dtype;
    hyperparameters, extra facts,
    extra arrays of every kind a file may hold, the kind tag, where it was saved from; no history."""
    net = xpmlp.MLP([3, 4, 2], "relu", backend="numpy", seed=3)
    net.compute_dtype = "float16"
    extra_arrays = {"flags": np.array([True, False]), "ints": np.arange(3), "uints": np.arange(2, dtype=np.uint8),
                    "floats": np.array([0.5]), "names": np.array(["a", "bc"])}
    path = save(tmp_path / "m.npz", net, optimizer=Adam(beta_1=0.8, epsilon=1e-6, weight_decay=0.1),
                hyperparameters={"alpha": 0.5}, extra={"note": "x"}, extra_arrays=extra_arrays, kind="Regressor")
    ck = load(path, backend="numpy")
    assert ck.optimizer.config() == Adam(beta_1=0.8, epsilon=1e-6, weight_decay=0.1).config() and ck.optimizer.t == 0
    assert ck.hyperparameters == {"alpha": 0.5} and ck.extra == {"note": "x"} and ck.kind == "Regressor"
    assert ck.history is None and read_state(path)[0]["compute_dtype"] == "float16"
    assert ck.net.compute_dtype is None  # NumPy has no float16 compute: the model trains in float32 there
    assert sorted(ck.arrays) == sorted(extra_arrays)
    for name, a in extra_arrays.items():
        np.testing.assert_array_equal(ck.arrays[name], a)
        assert ck.arrays[name].dtype == a.dtype
    meta, _ = read_state(save(tmp_path / "plain.npz", net))
    assert meta["kind"] == "MLP" and meta["saved_from"] == net.backend.describe() and meta["extra"] == {}
    assert load(tmp_path / "plain.npz", backend="numpy").kind == "MLP"


def test_save_refuses_what_json_cannot_hold_before_writing(tmp_path):
    net = xpmlp.MLP([2, 2], backend="numpy", seed=0)
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_state(net, extra={"score": float("inf")})  # the state alone is refused too, before anything reads it
    with pytest.raises(ValueError, match="not JSON compliant"):
        save(tmp_path / "m.npz", net, hyperparameters={"alpha": float("nan")})
    assert not list(tmp_path.iterdir())


def test_save_takes_an_mlp_or_an_estimator_only(tmp_path):
    class OnlySaves:
        def save(self, path):
            raise AssertionError("called")

    with pytest.raises(TypeError, match="save needs an xpmlp MLP .*got OnlySaves"):
        save(tmp_path / "m.npz", OnlySaves())


def test_metadata_that_is_not_a_record_and_state_without_a_source_are_named(good, tmp_path):
    _, arrays = read_state(good)
    path = tmp_path / "bad.npz"
    np.savez(path, __xpmlp__=np.frombuffer(b"[1, 2]", dtype=np.uint8), **arrays)
    with pytest.raises(ModelFileError) as exc:
        load(path, backend="numpy")
    assert str(exc.value) == f"{path}: not an xpmlp model (format tag None)"
    meta, arrays = read_state(good)
    meta["format"] = "keras"
    with pytest.raises(ModelFileError, match="^model state: not an xpmlp model"):
        from_state(meta, arrays, backend="numpy")


def test_a_file_without_a_kind_is_a_plain_mlp_and_loads_onto_the_device_asked(good, tmp_path):
    meta, arrays = read_state(good)
    del meta["kind"]
    path = write_state(tmp_path / "old.npz", meta, arrays)
    ck = load(path, backend="array_api_strict", device="device1")
    array_api_strict = pytest.importorskip("array_api_strict")
    assert ck.kind == "MLP" and ck.net.flat.device == array_api_strict.Device("device1")


def test_a_model_with_parameters_a_load_would_refuse_is_not_saved(tmp_path):
    net = xpmlp.MLP([2, 3, 1], "elu:alpha=2000", "identity", "squared_error", backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"^activation elu:alpha=2000.0: parameters must lie within \+-1000$"):
        save(tmp_path / "m.npz", net)
    assert list(tmp_path.iterdir()) == []
