"""What a model learns from a table and carries in its file, at its edges: targets it cannot learn,
columns without values, a preprocessing record that is malformed (refused when the model is
loaded, naming the problem), the functions behind the commands given what the parser would never
pass, and ONNX export of a 0.2 model, of an activation ONNX has no form for, without onnx, and
when the file cannot be written (any earlier file left whole)."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

import xpmlp
from xpmlp import io
from xpmlp.app import export
from xpmlp.app.cli import main
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import DataError, Table, read_table
from xpmlp.app.workflows import load_dataset, load_model, predict_table, save_model, train_table
from xpmlp.nn.activations import Activation

pytest.importorskip("pandas")


def write(path, header, rows):
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows))
    return path


def train_argv(path, *extra):
    return ["train", str(path), "--target", "y", "--no-progress", "--epochs", "1", "--hidden", "4", *extra]


def test_targets_that_cannot_be_learnt(tmp_path, capsys):
    rng = np.random.default_rng(0)
    one = write(tmp_path / "one.csv", "x,y", [f"{v:.3f},a" for v in rng.normal(size=12)])
    with pytest.raises(SystemExit) as exc:
        main(train_argv(one))
    assert exc.value.code == 2
    assert capsys.readouterr().err == "xpmlp: error: target 'y' has a single class 'a': nothing to learn\n"
    text = write(tmp_path / "text.csv", "x,y", [f"{v:.3f},{'low' if i % 2 else 'high'}"
                                                for i, v in enumerate(rng.normal(size=12))])
    with pytest.raises(SystemExit) as exc:
        main(train_argv(text, "--task", "regression"))
    assert exc.value.code == 2  # once: "(e.g. np.str_('high'))", NumPy's repr in the message
    assert re.fullmatch(r"xpmlp: error: target 'y' is not numeric \(e\.g\. '(low|high)'\); use the classification "
                        r"task\n", capsys.readouterr().err)


@pytest.mark.parametrize("extra", [[], ["--category", "e"]], ids=["as-numbers", "as-category"])
def test_a_column_without_values_is_dropped_saying_so(tmp_path, capsys, extra):
    path = write(tmp_path / "e.csv", "x,e,y", [f"{i / 7:.3f},,{i % 2}" for i in range(30)])
    assert main(train_argv(path, *extra)) == 0
    out = capsys.readouterr().out
    assert "note: column 'e' dropped: no values\n" in out and "model: MLP([1, 4, 2]" in out  # x alone is an input


def test_the_functions_behind_the_commands_refuse_what_the_parser_would_not_pass():
    table = Table(np.arange(12.0).reshape(6, 2), ["a", "b"], np.array([0, 1] * 3), "y")
    with pytest.raises(ValueError) as exc:
        Preprocessor.fit(table, "clustering")
    assert str(exc.value) == "task must be 'classification' or 'regression', got 'clustering'"
    with pytest.raises(DataError) as exc:
        train_table(Table(table.X, table.columns))
    assert str(exc.value) == "training needs a target column (--target)"
    with pytest.raises(DataError) as exc:
        load_dataset("mnist")
    assert str(exc.value) == "unknown dataset 'mnist'; bundled: digits, iris, breast_cancer, wine, diabetes"


def test_bundled_datasets_without_scikit_learn_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    with pytest.raises(ImportError) as exc:
        load_dataset("iris")
    assert str(exc.value) == "the bundled datasets come with scikit-learn: pip install 'xpmlp[demo]'"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model file saved by `xpmlp train --save` (numbers and a category), and its data."""
    folder = tmp_path_factory.mktemp("records")
    data = write(folder / "d.csv", "x1,color,y", [f"{i / 10:.1f},{'red' if i % 3 else 'blue'},{'p' if i % 4 else 'q'}"
                                                 for i in range(40)])
    model = train_table(read_table(data, "y"), hidden=(4,), epochs=2, progress=False)
    return save_model(folder / "m.npz", model), data


def rewritten(path, saved_path, edit):
    """A copy of the model file with its preprocessing record edited."""
    ck = io.load(saved_path, backend="numpy")
    record = ck.extra["preprocessing"]
    edit(record)
    return io.save(path, ck.net, history=ck.history, extra={"preprocessing": record})


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r.pop("mean"), "malformed preprocessing record: KeyError('mean')"),
    (lambda r: r["features"][0].pop("name"), "malformed preprocessing record: KeyError('name')"),
    (lambda r: r["features"][0].update(kind="date"),
     "malformed preprocessing record: ValueError(\"feature 'x1': kind 'date', fill 1.85\")"),
    (lambda r: r["features"][0].update(fill="nan"),
     "malformed preprocessing record: ValueError(\"feature 'x1': kind 'number', fill nan\")"),
    (lambda r: r.update(task="clustering"),
     "malformed preprocessing record: inconsistent task, columns, scales or classes"),
], ids=["no-mean", "feature-without-name", "unknown-kind", "fill-not-finite", "unknown-task"])
def test_a_malformed_preprocessing_record_is_refused_naming_it(saved, tmp_path, capsys, edit, problem):
    model, data = saved
    path = rewritten(tmp_path / "bad.npz", model, edit)
    with pytest.raises(io.ModelFileError) as exc:
        load_model(path)
    assert str(exc.value) == f"{path}: {problem}"
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(path), str(data)])
    assert exit_.value.code == 2 and capsys.readouterr().err == f"xpmlp: error: {path}: {problem}\n"


def test_a_0_2_model_exports_to_onnx_without_gap_handling(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = xpmlp.MLP([2, 4, 2], backend="numpy", seed=1)
    old = {"task": "classification", "columns": ["a", "b"], "mean": [0.5, -1.0], "scale": [2.0, 1.0],
           "target": "label", "classes": ["p", "q"], "y_mean": 0.0, "y_scale": 1.0}  # as 0.2 wrote it
    io.save(tmp_path / "old.npz", net, extra={"preprocessing": old})
    net, pre = load_model(tmp_path / "old.npz")
    graph = export.to_onnx(net, tmp_path / "old.onnx", preprocessor=pre)
    assert [i.name for i in graph.graph.input] == ["a", "b"]
    assert not any(node.op_type in ("IsNaN", "Where") for node in graph.graph.node)  # 0.2 refused gaps: none filled
    table = Table(np.random.default_rng(0).normal(size=(9, 2)), ["a", "b"])
    session = ort.InferenceSession(str(tmp_path / "old.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, export.onnx_inputs(pre, table))[0]
    np.testing.assert_allclose(got, predict_table(net, pre, table)[1], rtol=1e-5, atol=1e-6)  # float32: per-op rounding


class Cube(Activation):
    """A user's own activation, f(z) = z^3: the network runs it, ONNX export has no form for it."""

    name = "cube"

    def f(self, xp, z):
        return z * z * z

    def fprime(self, xp, z, a):
        return 3.0 * z * z


def test_an_activation_without_an_onnx_form_is_refused_and_nothing_written(tmp_path):
    pytest.importorskip("onnx")
    net = xpmlp.MLP([3, 4, 2], Cube(), "identity", "squared_error", backend="numpy")
    assert net.predict(np.ones((1, 3))).shape == (1, 2)
    with pytest.raises(ValueError) as exc:
        export.to_onnx(net, tmp_path / "cube.onnx")
    assert str(exc.value) == "no ONNX form for activation 'cube'" and os.listdir(tmp_path) == []


def test_export_without_onnx_names_the_extra(saved, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(SystemExit) as exc:
        main(["export", str(saved[0]), str(tmp_path / "m.onnx")])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "xpmlp: error: ONNX export needs the onnx package: pip install 'xpmlp[onnx]'\n"
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_the_earlier_onnx_file_whole(saved, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    net, pre = load_model(saved[0])
    path = tmp_path / "m.onnx"
    export.to_onnx(net, path, preprocessor=pre)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        export.to_onnx(net, path, preprocessor=pre)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.onnx"]  # no temporary file left
    monkeypatch.undo()
    with pytest.raises(IsADirectoryError):
        export.to_onnx(net, tmp_path, preprocessor=pre)  # a folder's name: the rename fails
    with pytest.raises(FileNotFoundError):
        export.to_onnx(net, tmp_path / "missing" / "m.onnx", preprocessor=pre)  # no such folder: nothing opened
    assert os.listdir(tmp_path) == ["m.onnx"]


@pytest.mark.parametrize("history, panels", [
    (dict(loss=[1.0, 0.5], learning_rate=[0.1, 0.1]), 2),  # no validation: loss and learning rate
    (dict(loss=[1.0, 0.5], validation_score=[0.5, 0.7], learning_rate=[0.1, 0.1]), 3),  # no best epoch marked
], ids=["no-validation", "validation"])
def test_training_curves_have_a_panel_per_record(tmp_path, history, panels):
    pytest.importorskip("matplotlib")
    from xpmlp.app.plotting import plot_history
    from xpmlp.history import History

    plot_history(History(**history), tmp_path / "c.png")  # no title
    png = (tmp_path / "c.png").read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (600, round(220 * panels))
