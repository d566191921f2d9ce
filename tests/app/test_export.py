"""ONNX export against ``predict`` for every activation and output, depth and dtype; the model
file carries its preprocessing exactly; tables are read and split as documented."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import DataError, Table, infer_task, read_table, split_rows
from xpmlp.app.workflows import TrainedModel, load_model, predict_table, save_model

OUTPUTS = [("softmax", "cross_entropy"), ("logistic", "binary_cross_entropy"), ("identity", "squared_error"),
           ("tanh", "squared_error"), ("relu", "squared_error"), ("threshold", "squared_error"), ("exp", "poisson"),
           ("leaky_relu", "squared_error"), ("elu", "mse"), ("gelu", "squared_error"), ("silu", "mse"),
           ("softplus", "squared_error")]
HIDDEN = [name for name, act in ACTIVATIONS.items() if not act.output_only]
#: float32: each of ~10 ops rounds once, in another order than NumPy; float64: likewise at 1e-16.
TOL = {"float32": 1e-5, "float64": 1e-12}


def run_onnx(model, X):
    """The graph's output for ``X``: an array (the input ``X``) or a dict of inputs by name."""
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, X if isinstance(X, dict) else {"X": X})[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,loss", OUTPUTS, ids=[o for o, _ in OUTPUTS])
def test_onnx_matches_predict(out, loss, hidden, depth, dtype):
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    net = xpmlp.MLP([5] + [7] * depth + [3], hidden, out, loss, backend="numpy", dtype=dtype, seed=depth)
    X = np.random.default_rng(1).normal(size=(13, 5)).astype(dtype)
    got, want = run_onnx(to_onnx(net), X), net.backend.to_numpy(net.predict(X))
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
def test_export_from_any_backend_gives_the_same_graph_outputs(backend, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip(backend)
    from xpmlp.app.export import to_onnx

    X = np.random.default_rng(2).normal(size=(9, 4)).astype(np.float32)
    ref = xpmlp.MLP([4, 6, 3], backend="numpy", seed=5)
    net = xpmlp.MLP([4, 6, 3], backend=backend, seed=5)
    to_onnx(net, tmp_path / "m.onnx")
    np.testing.assert_array_equal(run_onnx(to_onnx(net), X), run_onnx(to_onnx(ref), X))  # same weights, same graph
    assert (tmp_path / "m.onnx").stat().st_size > 0


def regression_table(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 10.0, 0.1], size=(n, 3))
    return Table(X, ["a", "b", "c"], X @ [1.0, 0.2, 3.0] + 7.0, "y")


def test_preprocessing_rides_in_the_model_file_exactly(tmp_path):
    table = regression_table()
    pre = Preprocessor.fit(table, "regression")
    net = xpmlp.MLP([3, 5, 1], "tanh", "identity", "squared_error", backend="numpy", dtype="float64")
    xpmlp.fit(net, pre.transform(table), pre.encode(table.y), epochs=5, patience=None)
    model = TrainedModel(net, pre, xpmlp.Adam(), xpmlp.History(), 0.0)
    save_model(tmp_path / "m.npz", model)
    net2, pre2 = load_model(tmp_path / "m.npz")
    shuffled = Table(table.X[:, [2, 0, 1]], ["c", "a", "b"], None, None)  # columns in another order: taken by name
    np.testing.assert_array_equal(predict_table(net2, pre2, shuffled)[0], predict_table(net, pre, table)[0])
    assert Preprocessor.from_dict(pre.to_dict()).to_dict() == pre.to_dict()
    with pytest.raises(ValueError, match="malformed preprocessing record"):
        Preprocessor.from_dict({**pre.to_dict(), "scale": [1.0, 0.0, 1.0]})


def test_onnx_includes_the_preprocessing(tmp_path):
    pytest.importorskip("onnx")
    from xpmlp.app.export import onnx_inputs, to_onnx

    table = regression_table()
    pre = Preprocessor.fit(table, "regression")
    net = xpmlp.MLP([3, 5, 1], "relu", "identity", "squared_error", backend="numpy", dtype="float64", seed=3)
    values, _ = predict_table(net, pre, table)
    feeds = onnx_inputs(pre, table)
    assert list(feeds) == ["a", "b", "c"] and feeds["a"].shape == (80, 1)  # one input per column
    np.testing.assert_allclose(run_onnx(to_onnx(net, preprocessor=pre), feeds)[:, 0], values, rtol=1e-12)


def test_tables_task_inference_and_splits(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x1,x2,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n")
    t = read_table(path, "label")
    assert t.columns == ["x1", "x2"] and t.y.tolist() == ["cat", "dog", "cat", "dog"]
    assert t.numbers("x2").tolist() == [2.0, 4.0, 6.0, 8.0] and t.lines.tolist() == [2, 3, 4, 5]
    assert infer_task(t.y) == "classification"
    assert infer_task(np.arange(100) % 3) == "classification" and infer_task(np.linspace(0, 1, 100)) == "regression"
    assert infer_task(np.arange(100)) == "regression"  # 100 distinct integers: a quantity, not classes
    kept, held = split_rows(40, 0.25, 0, labels=np.arange(40) % 2)
    assert len(held) == 10 and np.bincount(np.arange(40)[held] % 2).tolist() == [5, 5]
    assert not set(kept) & set(held)
    (tmp_path / "t.xls").write_text("x")
    with pytest.raises(DataError, match="unknown format '.xls'"):
        read_table(tmp_path / "t.xls")


PARAMETERISED = ["leaky_relu:slope=0.2", "leaky_relu:slope=-0.3", "elu:alpha=0.5", "elu:alpha=2.5"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", PARAMETERISED)
def test_onnx_keeps_a_non_default_parameter_in_either_dtype(spec, dtype):
    """float32 graphs use LeakyRelu/Elu with the parameter as an attribute; float64 graphs build them
    from primitives with a float64 constant (a float attribute would round 0.2 to float32: 3e-9 off)."""
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    net = xpmlp.MLP([4, 6, 6, 2], spec, spec, "mse", backend="numpy", dtype=dtype, seed=4)
    X = np.random.default_rng(6).normal(scale=2, size=(17, 4)).astype(dtype)
    model = to_onnx(net)
    ops = {n.op_type for n in model.graph.node}
    native = "LeakyRelu" if spec.startswith("leaky") else "Elu"
    assert (native in ops) == (dtype == "float32"), ops
    np.testing.assert_allclose(run_onnx(model, X), net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", ["leaky_relu", "elu", "gelu", "silu", "softplus"])
def test_onnx_activations_stay_finite_and_right_at_float32_extremes(spec, dtype):
    """z = ±80, ±1e4, ±1e13 (GELU's z^3 would overflow float32 without the clip) and ±3e38."""
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    net = xpmlp.MLP([1, 1], "identity", spec, "mse", backend="numpy", dtype=dtype)
    net.set_weights([np.ones((1, 1))], [np.zeros(1)])  # a = f(x)
    X = np.array([[-3e38, -1e13, -1e4, -80.0, -1.0, 0.0, 1.0, 80.0, 1e4, 1e13, 3e38]], dtype=np.float32).T.astype(dtype)
    got, want = run_onnx(to_onnx(net), X), net.predict(X)
    assert np.all(np.isfinite(got)), got.ravel()
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("activation, spec", [("leaky_relu:slope=0.2", "leaky_relu:slope=0.2"), ("elu", "elu:alpha=1.0"),
                                              ("gelu", "gelu"), ("swish", "silu"), ("softplus", "softplus")])
def test_command_line_trains_saves_and_exports_each_new_activation(tmp_path, capsys, activation, spec):
    """``xpmlp train --activation ...`` takes every new activation (with its parameter), the model file
    keeps it, and ``xpmlp export`` writes a graph that gives the saved model's predictions on raw rows."""
    pytest.importorskip("onnx")
    pytest.importorskip("sklearn")
    from xpmlp.app.cli import main
    from xpmlp.app.workflows import load_dataset

    model, graph = tmp_path / "m.npz", tmp_path / "m.onnx"
    assert main(["train", "--dataset", "iris", "--activation", activation, "--hidden", "6", "--epochs", "3",
                 "--no-progress", "--save", str(model)]) == 0
    assert main(["export", str(model), str(graph)]) == 0
    net, pre = load_model(model, backend="numpy")
    assert net.hidden_activation.spec == spec
    from xpmlp.app.export import onnx_inputs

    table = load_dataset("iris")
    onnx = pytest.importorskip("onnx")
    got = run_onnx(onnx.load(str(graph)), onnx_inputs(pre, table))
    np.testing.assert_allclose(got, predict_table(net, pre, table)[1], rtol=TOL["float32"], atol=TOL["float32"])


def test_command_line_refuses_other_activations_saying_why(capsys):
    from xpmlp.app.cli import main

    for value, message in (("softmax", "invalid choice: 'softmax' (choose from identity, logistic, tanh, relu, "
                                       "leaky_relu, elu, gelu, silu, softplus;"),
                           ("leaky_relu:slope=x", "activation 'leaky_relu': slope must be a number, got 'x'")):
        with pytest.raises(SystemExit) as exc:
            main(["train", "--dataset", "iris", "--activation", value])
        assert exc.value.code == 2 and f"argument --activation: {message}" in capsys.readouterr().err


def test_a_model_trained_with_dropout_exports_the_network_without_it():
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    X = np.random.default_rng(3).normal(size=(40, 5))
    net = xpmlp.MLP([5, 8, 3], backend="numpy", seed=1, dropout=0.5, input_dropout=0.2)
    xpmlp.fit(net, X, np.eye(3)[np.arange(40) % 3], epochs=3, patience=None)
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(run_onnx(to_onnx(net), X32), net.predict(X32), rtol=TOL["float32"], atol=TOL["float32"])
