"""Mixed columns inside the model (issue 19, item 2): text one-hot encoded, gaps filled with an
indicator, ID columns dropped or given, unseen categories warned about; all of it in the model
file (JSON), shown by `xpmlp info`, and the same in the exported ONNX graph; 0.2's model files."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

import xpmlp
from xpmlp import io
from xpmlp.app.cli import main
from xpmlp.app.features import UnseenCategoryWarning
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import DataError, Table, read_table
from xpmlp.app.workflows import TrainedModel, load_model, predict_table, save_model

pytest.importorskip("pandas")


def mixed_csv(path, n=40):
    """``id;size;color;y``: a unique ID per row, numbers with gaps, text with gaps."""
    colors = ["red", "blue", "blue", "green"]
    lines = ["id;size;color;y"]
    for i in range(n):
        size = "" if i % 10 == 3 else f"{i % 7 + 0.5}"
        color = "" if i % 10 == 6 else colors[i % 4]
        lines.append(f"A{i:03d};{size};{color};{'yes' if i % 7 > 3 else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_numbers_categories_gaps_and_ids_are_encoded_as_documented(tmp_path):
    table = read_table(mixed_csv(tmp_path / "m.csv"), "y")
    pre = Preprocessor.fit(table, "classification")
    assert pre.columns == ["size", "color"] and pre.ids == ["id"]
    assert pre.encoded == ["size", "size missing", "color=blue", "color=green", "color=red", "color missing"]
    sizes = table.numbers("size")
    assert pre.features[0].fill == float(np.median(sizes[~np.isnan(sizes)])) == 3.5
    assert pre.features[1].fill == "blue"  # the most frequent
    X = pre._encode_features(table)
    # line 5 (row 3): size is a gap -> the median, and its indicator; line 8 (row 6): color is a gap -> blue
    np.testing.assert_array_equal(X[3], [3.5, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(X[6], [6.5, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(X[1], [1.5, 0, 1, 0, 0, 0])
    assert any("column 'id' dropped: a different text in every row (an ID)" == n for n in pre.notes)
    Z = pre.transform(table)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)  # standardised over the training rows


def test_unseen_categories_encode_as_none_and_are_counted(tmp_path):
    table = read_table(mixed_csv(tmp_path / "m.csv"), "y")
    pre = Preprocessor.fit(table, "classification")
    new = tmp_path / "new.csv"
    new.write_text("size;color\n1;purple\n2;red\n3;purple\n4;\n")
    with pytest.warns(UnseenCategoryWarning, match=r"new.csv: column 'color': 2 row\(s\) with a category the model "
                                                   r"never saw \(first 'purple', line 2\)"):
        X = pre._encode_features(read_table(new))
    np.testing.assert_array_equal(X[:, 2:6], [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 1]])


def test_ids_drop_and_category_by_hand(tmp_path):
    table = read_table(mixed_csv(tmp_path / "m.csv"), "y")
    pre = Preprocessor.fit(table, "classification", ids=["id"], drop=["color"])
    assert pre.columns == ["size"] and pre.ids == ["id"] and pre.dropped == {"color": "given with --drop"}
    with pytest.raises(DataError, match=r"no feature columns left to learn from \(dropped: size \(given with --drop\), "
                                        r"color \(given with --drop\), id \(a different text in every row"):
        Preprocessor.fit(table, "classification", drop=["size", "color"])
    pre = Preprocessor.fit(table, "classification", categories=["size"])
    assert pre.features[0].kind == "category" and "size=0.5" in pre.encoded
    with pytest.raises(DataError, match="no column 'nope'; the columns are id, size, color"):
        Preprocessor.fit(table, "classification", drop=["nope"])
    with pytest.raises(DataError, match="--id y: that is the target column"):
        Preprocessor.fit(table, "classification", ids=["y"])


def test_a_typo_in_a_column_of_numbers_is_an_error_not_a_category(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(9)) + "1.2.3,0\n")
    with pytest.raises(DataError, match=r"column 'a', line 11: '1.2.3' is not a number, though 9 of the column's "
                                        r"10 cells are; fix it, give --na-values '1.2.3' if it marks a gap, or --category a to "
                                        r"treat the column as text"):
        Preprocessor.fit(read_table(path, "y"), "classification")


def test_the_model_file_holds_the_preprocessing_as_json_and_info_shows_it(tmp_path, capsys):
    data, model = mixed_csv(tmp_path / "m.csv", n=80), tmp_path / "m.npz"
    assert main(["train", str(data), "--target", "y", "--no-progress", "--epochs", "5", "--save", str(model)]) == 0
    with zipfile.ZipFile(model) as z:
        assert not any(name.endswith(".pkl") for name in z.namelist())
    record = io.load(model).extra["preprocessing"]
    assert json.loads(json.dumps(record)) == record and record["version"] == 2
    assert [f["name"] for f in record["features"]] == ["size", "color"] and record["ids"] == ["id"]
    assert Preprocessor.from_dict(record).to_dict() == record
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "column 'size': number; gaps filled with 3.5, marked in 'size missing'" in out
    assert "column 'color': category, one-hot over 3 ('blue', 'green', 'red'); gaps filled with 'blue'" in out
    assert "ID column 'id': not an input; predict writes it beside the predictions" in out
    assert "inputs: 6, each centered on the training rows' median and scaled by their quartiles\n" in out and "classes 'no', 'yes'" in out


def test_model_files_of_0_2_still_load_and_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    net = xpmlp.MLP([2, 4, 2], backend="numpy", seed=1)
    old = {"task": "classification", "columns": ["a", "b"], "mean": [0.5, -1.0], "scale": [2.0, 1.0],
           "target": "label", "classes": ["p", "q"], "y_mean": 0.0, "y_scale": 1.0}  # as 0.2 wrote it
    io.save(tmp_path / "old.npz", net, extra={"preprocessing": old})
    net2, pre = load_model(tmp_path / "old.npz")
    got, outputs = predict_table(net2, pre, Table(X, ["b", "a"]))
    want = net.backend.to_numpy(net.predict((X[:, [1, 0]] - [0.5, -1.0]) / [2.0, 1.0]))
    np.testing.assert_allclose(outputs, want, rtol=1e-6)
    (tmp_path / "gap.csv").write_text("a,b\n1,2\n,3\n")
    with pytest.raises(DataError, match=r"gap.csv: column 'a', line 3 is missing; this model \(saved by xpmlp 0.2\) "
                                        "cannot fill gaps"):
        predict_table(net2, pre, read_table(tmp_path / "gap.csv"))
    assert main(["info", str(tmp_path / "old.npz")]) == 0
    assert "column 'a': number; gaps refused" in capsys.readouterr().out


def test_onnx_takes_raw_columns_and_agrees_with_predict(tmp_path):
    """Categories, gaps in both kinds of column, an unseen category: the graph gives what predict gives."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from xpmlp.app.export import onnx_inputs, to_onnx

    for dtype, tol in (("float32", 1e-6), ("float64", 1e-12)):
        table = read_table(mixed_csv(tmp_path / "m.csv", n=60), "y")
        pre = Preprocessor.fit(table, "classification")
        net = xpmlp.MLP([len(pre.encoded), 8, 2], "tanh", backend="numpy", dtype=dtype, seed=2)
        xpmlp.fit(net, pre.transform(table), pre.encode(table.y), epochs=20, patience=None)
        new = tmp_path / "new.csv"
        new.write_text("id;size;color\nZ1;;purple\nZ2;2.5;\nZ3;9;green\nZ4;;\n")
        rows = read_table(new)
        with pytest.warns(UnseenCategoryWarning):
            _, want = predict_table(net, pre, rows)
        sess = ort.InferenceSession(to_onnx(net, preprocessor=pre).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        feeds = onnx_inputs(pre, rows)
        assert feeds["size"].dtype == np.float64 and np.isnan(feeds["size"][0, 0]) and feeds["color"][1, 0] == ""
        got = sess.run(None, feeds)[0]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
        assert [i.name for i in sess.get_inputs()] == ["size", "color"]


def test_regression_with_categories_through_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from xpmlp.app.export import onnx_inputs, to_onnx

    rng = np.random.default_rng(3)
    kind = rng.choice(["a", "b", "c"], 50)
    x = rng.normal(size=50)
    y = 3 * x + (kind == "b") * 5.0
    cells = np.array([[None if i % 9 == 0 else v, k] for i, (v, k) in enumerate(zip(x, kind))], dtype=object)
    table = Table(cells, ["x", "kind"], y, "y")
    pre = Preprocessor.fit(table, "regression")
    net = xpmlp.MLP([len(pre.encoded), 6, 1], "relu", "identity", "squared_error", backend="numpy",
                    dtype="float64", seed=0)
    values, _ = predict_table(net, pre, table)
    got = ort.InferenceSession(to_onnx(net, preprocessor=pre).SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, onnx_inputs(pre, table))[0]
    np.testing.assert_allclose(got[:, 0], values, rtol=1e-12)
    assert re.fullmatch(r"x missing", pre.encoded[1])
