"""No garbage with exit 0, and one line for every failure: model files with absurd parameters or
labels that do not fit their outputs are refused at load; targets that are not finite are refused;
predictions that come out non-finite are an error, not a file; cells a spreadsheet would run as
formulas are written as text (``--raw-cells``: as they are); labels' control characters never reach
a terminal; out-of-memory and too-deep input are one line."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np
import pytest

from xpmlp.app import commands
from xpmlp.app.cells import formula_safe, printable
from xpmlp.app.cli import main
from xpmlp.io import read_state, write_state

ESC = "\x1b[31mred"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(directory, data.csv, classifier.npz, regression.csv, regressor.npz)``; the class labels include a
    formula, a terminal escape sequence and a negative number's look-alike."""
    d = tmp_path_factory.mktemp("garbage")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    labels = np.where(X[:, 0] > 0.4, "=HYPERLINK(x)", np.where(X[:, 0] > -0.4, ESC, "-x"))
    with open(d / "data.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "a", "b", "label"])
        w.writerows([("=cmd" if i == 0 else f"-{i}", f"{a:.6f}", f"{b:.6f}", y) for i, ((a, b), y) in
                     enumerate(zip(X, labels))])
    rows = [f"{a:.6f},{b:.6f},{-3 * a - 10:.6f}" for a, b in X]
    (d / "reg.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    for data, target, model in (("data.csv", "label", "m.npz"), ("reg.csv", "y", "r.npz")):
        assert main(["train", str(d / data), "--target", target, "--hidden", "4", "--epochs", "30", "--no-progress",
                     "--save", str(d / model), "--id", "id"][: 13 if target == "label" else 11]) == 0
    return d, d / "data.csv", d / "m.npz", d / "reg.csv", d / "r.npz"


def refused(argv, capsys, message):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and err == f"xpmlp: error: {message}\n", err
    return out


def edited(src, dst, edit):
    meta, arrays = read_state(src)
    edit(meta, arrays)
    return write_state(dst, meta, arrays)


def test_formula_cells_are_text_and_numbers_stay_numbers():
    assert [formula_safe(c) for c in ("=1+1", "+x", "-x", "@SUM(A1)", "\tx", "\rx", "-1.5", "+2", "-inf", "a=b", 3)] \
        == ["'=1+1", "'+x", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "-1.5", "+2", "-inf", "a=b", 3]


def test_predictions_file_writes_formulas_as_text_unless_raw_cells(trained, tmp_path, capsys):
    d, data, model, reg, rmodel = trained
    assert main(["predict", str(model), str(data), "-o", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[1][0] == "'=cmd" and rows[2][0] == "-1"  # a text ID escaped, a negative number kept
    predicted = {r[1] for r in rows[1:]}
    assert "'=HYPERLINK(x)" in predicted and "=HYPERLINK(x)" not in predicted and "'-x" in predicted
    assert main(["predict", str(model), str(data), "-o", str(tmp_path / "raw.csv"), "--raw-cells"]) == 0
    raw = list(csv.reader(open(tmp_path / "raw.csv")))
    assert raw[1][0] == "=cmd" and "=HYPERLINK(x)" in {r[1] for r in raw[1:]}
    capsys.readouterr()
    assert main(["predict", str(rmodel), str(reg)]) == 0
    values = [float(r[1]) for r in list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]]  # numbers, no '
    assert all(v < 0 for v in values)


def test_labels_control_characters_never_reach_a_terminal(trained, capsys, monkeypatch, tmp_path):
    d, data, model, _, _ = trained
    assert main(["predict", str(model), str(data)]) == 0
    assert ESC in capsys.readouterr().out  # into a pipe: the data as it is
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["predict", str(model), str(data)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert main(["evaluate", str(model), str(data)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert main(["info", str(model)]) == 0
    assert "\x1b" not in capsys.readouterr().out
    pytest.importorskip("onnx", reason="export needs onnx: pip install 'xpmlp[onnx]'")
    assert main(["export", str(model), str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31mred" in out


def test_printable_escapes_control_and_format_characters():
    assert printable("plain é ok") == "plain é ok"
    assert printable("a\x1b[2Jb\u202ec\x85") == "a\\x1b[2Jb\\u202ec\\x85"


def test_a_model_file_with_an_absurd_output_scale_is_refused(trained, tmp_path, capsys):
    d, _, _, reg, rmodel = trained
    bad = edited(rmodel, tmp_path / "bad.npz", lambda m, a: m["extra"]["preprocessing"].update(y_scale=1e308))
    refused(["predict", bad, reg], capsys, f"{bad}: malformed preprocessing record: inconsistent task, columns, "
            "scales or classes")


def test_two_labels_for_three_outputs_are_refused_at_load(trained, tmp_path, capsys):
    d, data, model, _, _ = trained
    bad = edited(model, tmp_path / "bad.npz", lambda m, a: m["extra"]["preprocessing"].update(classes=["x", "y"]))
    refused(["predict", bad, data], capsys, f"{bad}: the preprocessing record gives 2 inputs and 2 outputs "
            "(classification), the network has 2 and 3")


def test_an_absurd_activation_parameter_is_refused(trained, tmp_path, capsys):
    d, data, model, _, _ = trained
    bad = edited(model, tmp_path / "bad.npz",
                 lambda m, a: m["architecture"].update(hidden_activation="elu:alpha=1e308"))
    refused(["predict", bad, data], capsys, f"{bad}: activation elu:alpha=1e+308: parameters must lie within +-1000")


def test_outputs_that_overflow_on_ordinary_inputs_are_refused(trained, tmp_path, capsys):
    d, data, model, _, _ = trained

    def huge(meta, arrays):
        from xpmlp.io import archive

        arrays["W.1"] = np.full_like(arrays["W.1"], 3e38)
        meta["arrays"]["W.1"]["sha256"] = archive.digest(arrays["W.1"])

    bad = edited(model, tmp_path / "bad.npz", huge)
    refused(["predict", bad, data], capsys, f"{bad}: the model's outputs are not finite even on ordinary inputs "
            "(a corrupt or crafted file?)")


def test_predictions_that_are_not_finite_are_an_error_not_a_file(trained, tmp_path, capsys):
    d, _, model, _, _ = trained
    (tmp_path / "far.csv").write_text("a,b\n0.5,0.5\n1e300,-1e300\n")
    refused(["predict", model, tmp_path / "far.csv", "-o", tmp_path / "p.csv"], capsys,
            f"{tmp_path / 'far.csv'}: the model's predictions for 1 row(s) are not finite (first: line 3)")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("cell", ["inf", "1e308", "-1e200"])
def test_targets_that_are_not_finite_or_overflow_are_refused(tmp_path, capsys, cell):
    rows = [f"{i / 100},{cell if i == 5 else i / 10}" for i in range(200)]
    (tmp_path / "d.csv").write_text("a,y\n" + "\n".join(rows) + "\n")
    shown = "inf" if cell == "inf" else f"{float(cell):g}"
    out = refused(["train", tmp_path / "d.csv", "--target", "y", "--epochs", "1"], capsys,
                  f"{tmp_path / 'd.csv'}: target 'y', line 7 is {shown}: targets must be finite numbers within "
                  "+-1e+150 (rescale them, or fix the row)")
    assert "epochs" not in out


def test_evaluate_refuses_targets_whose_squares_overflow(trained, tmp_path, capsys):
    d, _, _, _, rmodel = trained
    (tmp_path / "e.csv").write_text("a,b,y\n0.1,0.2,1e200\n0.3,0.1,2\n")
    refused(["evaluate", rmodel, tmp_path / "e.csv"], capsys, f"{tmp_path / 'e.csv'}: target 'y', line 2 is 1e+200: "
            "targets must be finite numbers within +-1e+150 (rescale them, or fix the row)")


@pytest.mark.parametrize("error, message", [
    (MemoryError(), "out of memory: the input is too large for this machine's memory (fewer rows or columns, or a "
                    "smaller model)"),
    (MemoryError("Unable to allocate 8 TiB"), "out of memory (Unable to allocate 8 TiB): the input is too large for "
                                              "this machine's memory (fewer rows or columns, or a smaller model)"),
    (RecursionError(), "the input is nested too deeply to read (a corrupt or crafted file?)"),
])
def test_memory_and_recursion_errors_are_one_line(monkeypatch, capsys, error, message):
    def fails(args):
        raise error

    monkeypatch.setitem(commands.COMMANDS, "backends", fails)
    refused(["backends"], capsys, message)


def test_an_error_message_carrying_a_name_does_not_drive_the_terminal(trained, tmp_path, capsys):
    d, data, model, _, _ = trained
    refused(["predict", model, tmp_path / "\x1b[2Jx.csv"], capsys, f"{tmp_path}/\\x1b[2Jx.csv: no such file")


def test_train_refuses_activation_parameters_a_load_would_refuse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--activation", "elu:alpha=1e308"])
    assert exc.value.code == 2 and "argument --activation: 'elu:alpha=1e308': parameters must lie within +-1000" \
        in capsys.readouterr().err


def test_a_test_row_far_outside_the_training_range_leaves_the_model_trained_and_saved(tmp_path, capsys):
    from xpmlp.app.tables import split_rows

    held = split_rows(80, 0.25, 0)[1]
    rows = [f"{1e300 if i == held[0] else i / 80},{i % 2},{(i // 2) % 2}" for i in range(80)]
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    assert main(["train", str(tmp_path / "d.csv"), "--target", "y", "--task", "regression", "--hidden", "3",
                 "--epochs", "2", "--no-progress", "--save", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert f"note: no test score: {tmp_path / 'd.csv'}: the model's predictions for 1 row(s) are not finite " \
           f"(first: line {held[0] + 2})" in out and "test R^2: nan" in out and (tmp_path / "m.npz").exists()
