"""Input layers of other kinds through the application: ONNX export of ``scale`` and ``periodic``
against ``predict``, ``xpmlp train --front`` (in memory and ``--stream``), and ``predict``,
``evaluate``, ``info`` and ``export`` on the saved model."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.app.cli import _parse_front, main
from xpmlp.app.recipe import CLI_DEFAULTS
from xpmlp.app.tables import read_table
from xpmlp.app.workflows import load_model, predict_table, train_table
from xpmlp.nn.scale import Scale
from xpmlp.training.presets import TABULAR

from test_export import run_onnx  # the export tests' onnxruntime helper (tests/app is on the path)

TOL = {"float32": 1e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("front", [["scale"], ["periodic"], ["scale", "periodic:frequencies=5,width=4,columns=2"],
                                   ["periodic:columns=3", "scale:lr_factor=2"]], ids=lambda f: "+".join(f))
def test_onnx_of_input_layers_matches_predict(front, dtype):
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    net = xpmlp.MLP([4, 6, 3], "tanh", front=front, backend="numpy", dtype=dtype, seed=1)
    X = np.random.default_rng(0).normal(size=(9, 4)).astype(dtype) * 2
    np.testing.assert_allclose(run_onnx(to_onnx(net), X), net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])


def test_onnx_refuses_an_input_layer_it_has_no_form_for_by_name():
    pytest.importorskip("onnx")
    from xpmlp.app.export import to_onnx

    class Mystery(Scale):
        name = "mystery"

    net = xpmlp.MLP([3, 2], front=[Mystery(3)], backend="numpy")
    with pytest.raises(ValueError) as exc:
        to_onnx(net)
    assert str(exc.value) == "no ONNX form for input layer 'mystery:lr_factor=6.0' (ONNX export writes scale, periodic)"


def table_file(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n) * 3 + 1
    color = rng.choice(["red", "green"], n)
    y = np.where(a + (color == "red") > 0.5, "yes", "no")
    path.write_text("a,b,color,y\n" + "".join(f"{u:.4f},{v:.4f},{c},{t}\n" for u, v, c, t in zip(a, b, color, y)))
    return path


def test_train_front_saves_a_model_that_predicts_evaluates_and_exports(tmp_path, capsys):
    data, model, graph = table_file(tmp_path / "t.csv"), tmp_path / "m.npz", tmp_path / "m.onnx"
    assert main(["train", str(data), "--target", "y", "--front", "scale,periodic:frequencies=4,width=3", "--hidden",
                 "5", "--epochs", "3", "--no-progress", "--save", str(model)]) == 0
    assert "front=['scale:lr_factor=6.0', 'periodic:frequencies=4,width=3," in capsys.readouterr().out
    net, pre = load_model(model, backend="numpy")
    assert [layer.name for layer in net.front.layers] == ["scale", "periodic"] and net.widths[0] == 2 * 2 + 4  # a, b embedded, not color's one-hot
    assert main(["predict", str(model), str(data), "--proba", "-o", str(tmp_path / "p.csv")]) == 0
    assert main(["evaluate", str(model), str(data)]) == 0
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "120 predictions written" in out and "accuracy:" in out and "periodic:frequencies=4" in out
    table = read_table(data, target="y")
    written = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    np.testing.assert_allclose(written, predict_table(net, pre, table)[1], atol=1e-6)  # written with 6 digits
    onnx = pytest.importorskip("onnx")
    assert main(["export", str(model), str(graph)]) == 0
    from xpmlp.app.export import onnx_inputs

    got = run_onnx(onnx.load(str(graph)), onnx_inputs(pre, table))
    np.testing.assert_allclose(got, predict_table(net, pre, table)[1], rtol=TOL["float32"], atol=TOL["float32"])


def test_train_stream_takes_front_too(tmp_path, capsys):
    data, model = table_file(tmp_path / "t.csv", n=200), tmp_path / "m.npz"
    assert main(["train", str(data), "--target", "y", "--stream", "--front", "scale", "--hidden", "4", "--epochs",
                 "2", "--no-progress", "--save", str(model)]) == 0
    net, _ = load_model(model, backend="numpy")
    assert net.front.specs == ["scale:lr_factor=6.0"]
    assert main(["predict", str(model), str(data), "--stream", "-o", str(tmp_path / "p.csv")]) == 0


def test_front_none_trains_without_input_layers_and_bad_specs_are_one_line(tmp_path, capsys):
    assert CLI_DEFAULTS["front"] == ("scale", "periodic") and _parse_front("none") == () == _parse_front("")
    assert _parse_front("scale,periodic:frequencies=8,width=3") == ("scale", "periodic:frequencies=8,width=3")
    data = table_file(tmp_path / "t.csv", n=40)
    assert main(["train", str(data), "--target", "y", "--hidden", "3", "--epochs", "1", "--no-progress",
                 "--front", "none", "--save", str(tmp_path / "m.npz")]) == 0
    assert not load_model(tmp_path / "m.npz")[0].front
    for spec, message in (("fourier", "unknown input layer 'fourier'; valid: scale, periodic"),
                          ("periodic:frequencies=inf", "periodic: frequencies must be a whole number >= 1, got inf")):
        with pytest.raises(SystemExit) as exc:
            main(["train", str(data), "--target", "y", "--front", spec])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and f"--front {spec!r}: {message}" in err
    with pytest.raises(SystemExit) as exc:  # a width the data decide: checked when the network is built
        main(["train", str(data), "--target", "y", "--front", "periodic:columns=99", "--no-progress"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.strip().endswith("periodic: columns must be 0 (all) to 4, got 99")


def test_train_table_builds_the_front_and_the_recipe_is_the_presets(tmp_path):
    table = read_table(table_file(tmp_path / "t.csv", n=60), target="y")
    model = train_table(table, hidden=(3,), epochs=1, test_size=0.0, front=["scale"])
    assert model.net.front.specs == ["scale:lr_factor=6.0"]
    shared = set(CLI_DEFAULTS) & set(TABULAR) - {"front"}
    assert shared == {"hidden", "optimizer", "learning_rate", "epochs", "batch_size", "alpha", "validation_fraction",
                      "judge_by", "patience"}
    own = {"learning_rate", "batch_size"}  # the command line's larger steps (app/recipe.py says why)
    assert all(CLI_DEFAULTS[k] is TABULAR[k] for k in shared - own | {"front"})  # one place
