"""The tabular recipe's pieces in the application: robust scaling and smooth clipping (in the
model file and the ONNX graph), training on every row (``test_size=0``), early stopping judged by
the validation loss, and the recipe the command line and the benchmark share."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.app.preprocessing import Preprocessor, robust_scale
from xpmlp.app.recipe import CLI_DEFAULTS, cli_defaults
from xpmlp.app.tables import Table
from xpmlp.app.workflows import TrainedModel, load_model, predict_table, save_model, train_table


def outlier_table(n: int = 120, seed: int = 0) -> Table:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X[:3, 0] = [50.0, -80.0, 1e4]  # outliers that move the mean and blow up the standard deviation
    X[:, 2] = (np.arange(n) % 40 == 0)  # a rare indicator: its quartiles meet
    return Table(X, ["a", "b", "c"], X[:, 1] * 2.0 + 1.0, "y")


def test_robust_scale_is_the_median_and_the_quartile_spread():
    X = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 0.0], [100.0, 0.0]])
    center, scale = robust_scale(X)
    # column 0: median 3, quartiles 2 and 4 -> 2 / 1.349; column 1: quartiles 0 and 0 -> half the range, 0.5
    np.testing.assert_allclose(center, [3.0, 0.0])
    np.testing.assert_allclose(scale, [2.0 / 1.349, 0.5])


def test_robust_inputs_are_clipped_smoothly_and_ride_in_the_model_file(tmp_path):
    table = outlier_table()
    pre = Preprocessor.fit(table, "regression", scaling="clip")
    X = pre.transform(table)
    raw = (table.X - pre.mean) / pre.scale
    np.testing.assert_allclose(X, raw / np.sqrt(1 + (raw / 3.0) ** 2), rtol=1e-15)
    assert np.abs(X).max() < 3.0 and X[2, 0] == pytest.approx(3.0, abs=1e-6)  # 1e4 lands just under 3
    assert np.abs(Preprocessor.fit(table, "regression").transform(table)).max() > 10  # standardised: not clipped
    robust = Preprocessor.fit(table, "regression", scaling="robust")
    np.testing.assert_array_equal(robust.transform(table), raw)  # the same center and scale, no clipping
    assert robust.clip == 0.0 and robust.describe()[-1].endswith("scaled by their quartiles")
    net = xpmlp.MLP([3, 4, 1], "tanh", "identity", "squared_error", backend="numpy", dtype="float64")
    save_model(tmp_path / "m.npz", TrainedModel(net, pre, xpmlp.Adam(), xpmlp.History(), 0.0))
    net2, pre2 = load_model(tmp_path / "m.npz")
    assert pre2.clip == 3.0 and pre2.scaling == "clip" and "clipped smoothly at +-3" in pre2.describe()[-1]
    np.testing.assert_array_equal(predict_table(net2, pre2, table)[0], predict_table(net, pre, table)[0])
    old = {k: v for k, v in pre.to_dict().items() if k not in ("clip", "scaling")}  # from before the recipe
    assert Preprocessor.from_dict(old).clip == 0.0 and Preprocessor.from_dict(old).scaling == "standard"
    for bad in ({"clip": -1.0}, {"scaling": "minmax"}):
        with pytest.raises(ValueError, match="malformed preprocessing record"):
            Preprocessor.from_dict({**pre.to_dict(), **bad})
    with pytest.raises(ValueError, match="scaling must be one of standard, robust, clip, got 'minmax'"):
        Preprocessor.fit(table, "regression", scaling="minmax")


def test_onnx_clips_as_predict_does():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from xpmlp.app.export import onnx_inputs, to_onnx

    table = outlier_table()
    pre = Preprocessor.fit(table, "regression", scaling="clip")
    net = xpmlp.MLP([3, 5, 1], "relu", "identity", "squared_error", backend="numpy", dtype="float64", seed=3)
    values, _ = predict_table(net, pre, table)
    session = ort.InferenceSession(to_onnx(net, preprocessor=pre).SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, onnx_inputs(pre, table))[0][:, 0]
    np.testing.assert_allclose(got, values, rtol=1e-12)


def test_test_size_0_trains_on_every_row_and_reports_no_test_score():
    table = outlier_table(60)
    model = train_table(table, task="regression", test_size=0.0, epochs=3, validation_fraction=0.0, hidden=(4,))
    assert "test" not in model.scores and model.history.samples_seen == 3 * 60


def test_judge_by_loss_uses_the_log_loss_on_larger_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 2))
    table = Table(X, ["a", "b"], np.where(X[:, 0] > 0, "yes", "no"), "y")
    by_accuracy = train_table(table, epochs=2, hidden=(4,), validation_fraction=0.1)
    by_loss = train_table(table, epochs=2, hidden=(4,), validation_fraction=0.1, judge_by="loss")
    assert by_accuracy.validation_loss == "" and 0.5 < by_accuracy.history.best_score <= 1.0  # accuracy on 60 rows
    assert by_loss.validation_loss == "log loss" and by_loss.history.best_score < 0  # minus the log loss


def test_cli_defaults_are_train_table_keywords():
    assert cli_defaults(epochs=5)["epochs"] == 5 and CLI_DEFAULTS["epochs"] != 5
    model = train_table(outlier_table(60), task="regression", **cli_defaults(test_size=0.0, epochs=2))
    assert model.history.epochs == 2


def test_command_line_takes_the_recipe_options(tmp_path, capsys):
    from xpmlp.app.cli import main

    path = tmp_path / "d.csv"
    rng = np.random.default_rng(2)
    path.write_text("a,b,y\n" + "".join(f"{x:.4f},{z:.4f},{int(x > 0)}\n" for x, z in rng.normal(size=(90, 2))))
    argv = ["train", str(path), "--target", "y", "--no-progress", "--epochs", "4", "--test-size", "0",
            "--scaling", "clip", "--schedule", "coslog", "--judge-by", "loss", "--save", str(tmp_path / "m.npz")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "best validation log loss" in out and "test accuracy" not in out  # every row trained, none tested
    net, pre = load_model(tmp_path / "m.npz")
    assert pre.clip == 3.0


def mixed_table(n: int = 60, seed: int = 4) -> Table:
    """A category (with gaps) before a number (with gaps) and a date: inputs interleave in column order."""
    rng = np.random.default_rng(seed)
    colors, size = rng.choice(["red", "blue", "green"], n), rng.normal(size=n)
    cells = np.array([[None if i % 7 == 0 else c, None if i % 5 == 0 else s, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"]
                      for i, (c, s) in enumerate(zip(colors, size))], dtype=object)
    return Table(cells, ["color", "size", "when"], np.where(size > 0, "big", "small"), "y")


def test_inputs_come_numbers_first_and_old_records_keep_their_order():
    table = mixed_table()
    pre = Preprocessor.fit(table, "classification")
    old = Preprocessor.fit(table, "classification", numbers_first=False)
    n = 1 + len(pre.features[2].encoded)  # size, then the date's parts
    assert pre.n_numbers == old.n_numbers == n and pre.numbers_first and not old.numbers_first
    assert old.encoded[:5] == ["color=blue", "color=green", "color=red", "color missing", "size"]
    assert pre.encoded[:2] == ["size", pre.features[2].encoded[0]] and pre.encoded[n:] == [
        "color=blue", "color=green", "color=red", "color missing", "size missing"]
    assert [old.encoded[i] for i in pre.order] == pre.encoded and list(old.order) == list(range(len(old.encoded)))
    np.testing.assert_array_equal(pre._encode_features(table), old._encode_features(table)[:, pre.order])  # moved
    np.testing.assert_allclose(pre.transform(table), old.transform(table)[:, pre.order], rtol=1e-12, atol=1e-15)
    record = {k: v for k, v in old.to_dict().items() if k != "numbers_first"}  # a model saved before 0.4
    loaded = Preprocessor.from_dict(record)
    assert not loaded.numbers_first and loaded.encoded == old.encoded
    np.testing.assert_array_equal(loaded.transform(table), old.transform(table))
    assert Preprocessor.from_dict(pre.to_dict()).encoded == pre.encoded
    with pytest.raises(ValueError, match="malformed preprocessing record"):
        Preprocessor.from_dict({**pre.to_dict(), "numbers_first": "yes"})


def test_a_periodic_front_embeds_the_numbers_alone():
    table, notes = mixed_table(), []
    model = train_table(table, front=["scale", "periodic:frequencies=4"], epochs=1, hidden=(4,), test_size=0.0)
    scale, periodic = model.net.front.layers
    n = model.preprocessor.n_numbers
    assert periodic.m == n == 6 and periodic.frequencies == 4 and scale.width_in == len(model.preprocessor.encoded)
    assert model.net.front.specs[1].startswith("periodic") and model.net.Ws[0].shape[0] == periodic.width_out
    given = train_table(table, front=["periodic:columns=2"], epochs=1, hidden=(4,), test_size=0.0)
    assert given.net.front.layers[0].m == 2  # columns given: as given
    words = Table(table.X[:, :1], ["color"], table.y, "y")
    bare = train_table(words, front=["periodic"], epochs=1, hidden=(4,), test_size=0.0, on_note=notes.append)
    assert not bare.net.front and "input layer 'periodic' left out: no column is a number" in notes
    from xpmlp.app.workflows import front_specs

    assert front_specs(["scale", "periodic"], model.preprocessor, notes, "bfloat16") == [] and notes[-1] == (
        "input layers (scale, periodic) left out: they train in float32 or float64, not in --compute-dtype bfloat16")


def test_onnx_puts_the_numbers_first_as_predict_does():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from xpmlp.app.export import onnx_inputs, to_onnx

    table = mixed_table()
    table = Table(table.X[:, :2], ["color", "size"], table.y, "y")  # ONNX export takes no dates
    pre = Preprocessor.fit(table, "classification", scaling="robust")
    assert pre.encoded[0] == "size"
    net = xpmlp.MLP([len(pre.encoded), 5, 2], "relu", backend="numpy", dtype="float64", seed=3)
    session = ort.InferenceSession(to_onnx(net, preprocessor=pre).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, onnx_inputs(pre, table))[0], predict_table(net, pre, table)[1],
                               rtol=1e-12)


def test_the_front_option_reads_specs_and_none():
    from xpmlp.app.cli import build_parser

    def front(*given: str) -> list:
        return build_parser().parse_args(["train", *given]).front

    assert front() == tuple(CLI_DEFAULTS["front"]) and front("--front", "none") == ()
    assert front("--front", "scale,periodic:frequencies=8,sigma=0.2") == ("scale", "periodic:frequencies=8,sigma=0.2")
    with pytest.raises(SystemExit):
        front("--front", "scale,fourier")
