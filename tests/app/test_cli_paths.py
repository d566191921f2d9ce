"""The command line's less travelled paths, each as the user sees it: option values the parser
refuses, a data file without a target or beside --dataset, Ctrl-C outside training, a reader
that stops early (`xpmlp predict ... | head`), a regression model through `evaluate`, a plain
model through `info`, training without tqdm, `xpmlp backends`, and warnings from libraries."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import xpmlp
from xpmlp import io
from xpmlp.app import commands
from xpmlp.app.cli import main
from xpmlp.app.tables import read_table
from xpmlp.app.workflows import load_model, save_model, score, train_table

pytest.importorskip("pandas")


def regression_csv(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = 2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    path.write_text("x1,x2,y\n" + "".join(f"{a:.6f},{b:.6f},{c:.6f}\n" for (a, b), c in zip(X, y)))
    return path


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """``(model file, data file)``: a small regression model saved as `xpmlp train --save` saves it."""
    folder = tmp_path_factory.mktemp("regression")
    data = regression_csv(folder / "r.csv")
    model = train_table(read_table(data, "y"), hidden=(8,), epochs=40, learning_rate=0.02, progress=False)
    return save_model(folder / "r.npz", model), data


def error_line(capsys) -> str:
    """The last line on standard error (argparse prints its usage above it)."""
    return capsys.readouterr().err.splitlines()[-1]


@contextlib.contextmanager
def deadline(seconds: float):
    """TimeoutError if the block runs longer (a hang fails the test instead of stalling the suite)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("option, message", [
    (["--hidden", "10,x"], "argument --hidden: --hidden takes comma-separated ints, got '10,x'"),
    (["--hidden", "10,0"], "argument --hidden: --hidden sizes must be >= 1, got '10,0'"),
    (["--activation", "mish"], "argument --activation: invalid choice: 'mish' (choose from identity, logistic, tanh, "
                               "relu, leaky_relu, elu, gelu, silu, softplus; leaky_relu and elu take a parameter: "
                               "leaky_relu:slope=0.2, elu:alpha=0.5)"),
], ids=["hidden-not-int", "hidden-zero", "activation-unknown"])
def test_option_values_the_parser_refuses(capsys, option, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "iris", *option])
    assert exc.value.code == 2 and error_line(capsys) == f"xpmlp train: error: {message}"


@pytest.mark.parametrize("argv, message", [
    (["train", "nope.csv", "--dataset", "iris"], "give a data file or --dataset, not both"),
    (["train", "nope.csv"], "which column of nope.csv is the target? Give --target COLUMN"),
], ids=["file-and-dataset", "no-target"])
def test_train_asks_for_one_source_and_its_target_before_reading_it(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--no-progress"])
    captured = capsys.readouterr()
    assert exc.value.code == 2 and captured.err == f"xpmlp: error: {message}\n" and captured.out == ""


def test_ctrl_c_outside_training_exits_130_writing_nothing(regression, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while a large file is being read

    monkeypatch.setattr(commands, "read_table", interrupted)
    model, data = regression
    out = tmp_path / "p.csv"
    assert main(["predict", str(model), str(data), "-o", str(out)]) == 130
    captured = capsys.readouterr()
    assert captured.err == "xpmlp: interrupted\n" and captured.out == "" and not out.exists()


def test_a_reader_that_stops_early_ends_predict_quietly(regression, tmp_path):
    """`xpmlp predict MODEL DATA | head -1`: exit 0, no BrokenPipeError traceback or 'Exception ignored'."""
    model, _ = regression
    big = regression_csv(tmp_path / "big.csv", n=20_000)  # ~400 kB of predictions: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "xpmlp", "predict", str(model), str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader has had enough
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err.decode()
    assert first == b"row,predicted_y\n" and err == b""


def test_evaluate_prints_r2_for_a_regression_model(regression, capsys):
    model, data = regression
    expected = score(load_model(model), read_table(data, "y"))
    assert main(["evaluate", str(model), str(data)]) == 0
    assert capsys.readouterr().out == f"R^2: {expected:.4f} on 80 rows\n"
    assert expected > 0.9  # a trained model: y is linear in x1, x2 plus a little noise


def test_a_model_without_preprocessing_is_shown_by_info_and_refused_by_predict(regression, tmp_path, capsys):
    path = io.save(tmp_path / "plain.npz", xpmlp.MLP([2, 3], "relu", "identity", "squared_error", backend="numpy"))
    assert main(["info", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: MLP([2, 3], relu/identity, loss=squared_error, backend=numpy:cpu float32)\n"
        "no preprocessing record: the model takes rows of numbers as they are\n")
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(path), str(regression[1])])
    assert exc.value.code == 2 and capsys.readouterr().err == (
        f"xpmlp: error: {path}: the model carries no preprocessing record; it was not saved by `xpmlp train --save` "
        "or xpmlp.app.workflows.save_model\n")


def test_training_without_tqdm_says_how_to_get_the_bar(monkeypatch, capsys, caplog):
    pytest.importorskip("sklearn")  # --dataset
    for name in [m for m in sys.modules if m == "tqdm" or m.startswith("tqdm.")] + ["tqdm"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if tqdm were not installed (submodules too, once loaded)
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--hidden", "8"]) == 0
    assert "progress bar needs tqdm: pip install 'xpmlp[progress]'; training without one" in caplog.messages
    captured = capsys.readouterr()
    assert "test accuracy:" in captured.out and "training:" not in captured.err  # trained, without a bar


def test_backends_lists_every_backend_and_whether_it_runs_here(capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = xpmlp.available_backends()
    assert [line.split()[0] for line in lines] == ["numpy", "cupy", "torch", "array_api_strict"] == list(expected)
    assert lines[0] == "numpy             ok"  # names padded to one column
    assert all(line[18:] == expected[line.split()[0]] for line in lines)


def test_a_library_warning_during_predict_is_shown_and_predict_finishes(regression, tmp_path, monkeypatch, capsys):
    """Once: any warning that was not about unseen categories hung `xpmlp train/predict/evaluate`
    (it was shown while still being recorded, so the loop over the recorded warnings grew forever)."""
    real = commands.predict_table

    def warns(*args):
        warnings.warn("a library's own warning", RuntimeWarning)
        return real(*args)

    monkeypatch.setattr(commands, "predict_table", warns)
    model, data = regression
    with deadline(30), pytest.warns(RuntimeWarning, match="a library's own warning"):
        assert main(["predict", str(model), str(data), "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 81  # header and every row
    assert capsys.readouterr().err == ""  # not mistaken for a data warning
