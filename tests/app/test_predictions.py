"""Predictions users can join, early stopping on small files, and the small things (issue 19,
items 3-5); and the issue's "done when": a semicolon-separated file with a text column, an ID
column and empty cells trains, predicts with its IDs kept, and exports to ONNX that agrees."""

from __future__ import annotations

import csv
import io as text_io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.app.cli import main

pytest.importorskip("pandas")
pytest.importorskip("sklearn")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    """examples/patients.csv trained once, by the command the issue names: ``train FILE --target y``."""
    folder = tmp_path_factory.mktemp("patients")
    data, model = shutil.copy(EXAMPLES / "patients.csv", folder), folder / "patients.npz"
    assert main(["train", str(data), "--target", "y", "--no-progress", "--save", str(model)]) == 0
    return Path(data), model


def test_the_example_file_is_what_its_script_writes():
    import runpy

    rows = runpy.run_path(str(EXAMPLES / "make_patients.py"))["rows"]()
    assert (EXAMPLES / "patients.csv").read_text() == "".join(";".join(r) + "\n" for r in rows)


def test_done_when_train_predict_with_ids_and_onnx_agree(patients, tmp_path, capsys):
    data, model = patients
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(data), "-o", str(out), "--proba"]) == 0
    assert "160 predictions written" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out, newline="")))
    assert list(rows[0]) == ["patient", "predicted_y", "proba_sick", "proba_well"]
    truth = list(csv.DictReader(open(data, newline=""), delimiter=";"))
    assert [r["patient"] for r in rows] == [t["patient"] for t in truth]  # the IDs, to join back
    assert np.mean([r["predicted_y"] == t["y"] for r, t in zip(rows, truth)]) > 0.8
    assert b"\r\n" not in out.read_bytes()  # LF line endings
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from xpmlp.app.export import onnx_inputs
    from xpmlp.app.tables import read_table
    from xpmlp.app.workflows import load_model

    assert main(["export", str(model), str(tmp_path / "p.onnx")]) == 0
    assert "'region' (string, empty for a gap)" in capsys.readouterr().out
    new = tmp_path / "new.csv"  # gaps in both kinds of column and a region the model never saw
    new.write_text("patient;age;pressure;region;smoker\nQ1;61;;mars;yes\nQ2;35;118,5;;no\nQ3;70;150;north;yes\n")
    assert main(["predict", str(model), str(new), "--decimal", ",", "--proba", "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert "column 'region': 1 row(s) with a category the model never saw (first 'mars', line 2)" in captured.err
    printed = list(csv.reader(text_io.StringIO(captured.out)))
    assert [r[0] for r in printed] == ["patient", "Q1", "Q2", "Q3"]
    _, pre = load_model(model)
    sess = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, onnx_inputs(pre, read_table(new, decimal=",")))[0]
    np.testing.assert_allclose(got, np.array([r[2:] for r in printed[1:]], dtype=float), rtol=1e-5, atol=1e-6)


def test_predict_writes_row_numbers_or_the_ids_asked_for(patients, tmp_path, capsys):
    data, model = patients
    capsys.readouterr()
    assert main(["predict", str(model), str(data)]) == 0  # standard output by default
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "patient,predicted_y" and lines[1].startswith("P1000,")
    bare = tmp_path / "bare.csv"
    bare.write_text("age,pressure,region,smoker\n40,120,north,no\n50,130,south,yes\n")
    assert main(["predict", str(model), str(bare), "-o", "-"]) == 0
    assert [line.split(",")[0] for line in capsys.readouterr().out.split("\n")[:3]] == ["row", "1", "2"]
    assert main(["predict", str(model), str(bare), "-o", "-", "--id", "region", "--id", "age"]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "region,age,predicted_y"
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(model), str(bare), "--id", "patient"])
    assert exc.value.code == 2 and "no column 'patient'; the columns are age, pressure" in capsys.readouterr().err


def test_small_files_stop_early_on_their_loss_with_calibrated_probabilities(tmp_path, capsys):
    """breast_cancer (569 rows) once trained all 100 epochs to probabilities like 4.39e-19."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    path = tmp_path / "bc.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c.replace(" ", "_") for c in bunch.feature_names] + ["diagnosis"])
        w.writerows([list(x) + [int(t)] for x, t in zip(bunch.data.tolist(), bunch.target)])
    model = tmp_path / "bc.npz"
    assert main(["train", str(path), "--target", "diagnosis", "--no-progress", "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "early stopping judges the log loss on 50 held-out training rows" in out
    epochs = int(re.search(r"(\d+) epochs \(early_stopping\)", out).group(1))
    best = re.search(r"best validation log loss (0\.\d+) at epoch (\d+)", out)
    assert epochs < 100 and int(best.group(2)) < epochs and float(best.group(1)) < 0.2
    assert float(re.search(r"test accuracy: ([0-9.]+)", out).group(1)) > 0.95
    assert float(re.search(r"test log loss: ([0-9.]+)", out).group(1)) < 0.15
    assert main(["predict", str(model), str(path), "--proba", "-o", str(tmp_path / "p.csv")]) == 0
    p = np.array([r[2:] for r in list(csv.reader(open(tmp_path / "p.csv")))[1:]], dtype=float)
    y, guess, sure = bunch.target, np.argmax(p, axis=1), p.max(axis=1)
    assert -np.mean(np.log(p[np.arange(len(y)), y])) < 0.1  # 100 epochs to training accuracy 1.0: 0.5 and more
    assert sure[guess != y].max() < 0.995  # no sure-and-wrong probability (once 1 - 4.39e-19; 0.4: 0.991)
    for low, high in ((0.7, 0.9), (0.9, 1.0)):  # not overconfident: right at least about as often as it says
        rows = (sure > low) & (sure <= high)
        assert np.mean(guess[rows] == y[rows]) > np.mean(sure[rows]) - 0.05


def test_files_too_small_to_hold_out_rows_say_so(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    assert main(["train", str(path), "--target", "y", "--no-progress", "--epochs", "3"]) == 0
    assert "note: no validation split: 30 training rows are too few to hold out 10" in capsys.readouterr().out
