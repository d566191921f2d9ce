"""``xpmlp train FILE --target y --stream``: the preprocessing fitted in one pass over the file equals
the in-memory fit's, and training, scoring, saving and predicting work on a file read chunk by chunk."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.app import streamed
from xpmlp.app.cli import main
from xpmlp.app.features import MAX_CATEGORIES
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import read_table, split_rows

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * 3 + 1,
                       "color": rng.choice(["red", "green", "blue"], n),
                       "many": [f"c{int(v)}" for v in rng.integers(0, 80, n)],
                       "id": [f"row{i}" for i in range(n)], "empty": np.full(n, np.nan)})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.1, "color"] = None
    df["y"] = np.where(df["b"] + (df["color"] == "red") > 1, "yes", "no")
    return df


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_one_pass_preprocessing_is_the_in_memory_one(tmp_path, suffix):
    df = frame()
    path = tmp_path / f"t{suffix}"
    df.to_parquet(path, row_group_size=150) if suffix == ".parquet" else df.to_csv(path, index=False)
    y = streamed.labels(path, "y", None, 100)
    assert y.values.dtype == np.int32 and y.names.tolist() == ["no", "yes"]  # text labels: codes
    task, keep = streamed.split(y.values, "classification", 0.25, 0)
    pre = streamed.fit_preprocessor(streamed.table_chunks(path, "y", None, 100), keep, task, y.for_fit(keep, task))
    table = read_table(path, "y")
    kept, _ = split_rows(len(table.y), 0.25, 0, table.y)
    assert np.array_equal(np.flatnonzero(keep), kept)
    memory = Preprocessor.fit(table.take(kept), task)
    assert [f.to_dict() for f in pre.features] == [f.to_dict() for f in memory.features]
    assert pre.dropped == memory.dropped and pre.classes == memory.classes == ["no", "yes"]
    np.testing.assert_allclose(pre.mean, memory.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pre.scale, memory.scale, rtol=1e-12)
    many = next(f for f in pre.features if f.name == "many")
    assert len(many.categories) == MAX_CATEGORIES
    assert any("80 categories: the 50 most frequent" in note for note in pre.notes)


def test_a_number_column_median_comes_from_a_sample_past_its_size(monkeypatch):
    monkeypatch.setattr(streamed, "SAMPLE", 50)
    column = streamed._Column(0)
    for start in range(0, 1000, 100):
        column.add(np.arange(start, start + 100, dtype=np.float64), "x", "file")
    feature, _, (moments,) = column.feature("x")
    assert column.sample.size == 50 and 250 < feature.fill < 750  # a uniform sample's median
    np.testing.assert_allclose(moments, (499.5, np.var(np.arange(1000.0))), rtol=1e-12)


def test_train_stream_saves_a_model_that_predicts(tmp_path, capsys):
    df = frame(800)
    df.to_parquet(tmp_path / "t.parquet", row_group_size=200)
    model = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "t.parquet"), "--target", "y", "--stream", "--epochs", "8", "--no-progress",
                 "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "read as it trains (--stream)" in out and "note: streamed:" in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.85, out
    assert main(["predict", str(model), str(tmp_path / "t.parquet"), "-o", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 800 and np.mean(predicted.iloc[:, -1].astype(str) == df["y"]) > 0.85


def test_train_stream_regression_from_text(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "t": X @ [1.0, -2.0, 0.5] + 0.1}).to_csv(
        tmp_path / "r.tsv", sep="\t", index=False)
    pytest.importorskip("matplotlib")
    assert main(["train", str(tmp_path / "r.tsv"), "--target", "t", "--stream", "--epochs", "30", "--no-progress",
                 "--validation-fraction", "0", "--plot", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "curves.png").stat().st_size > 0 and "training curves drawn to" in out
    assert float(out.split("test R^2: ")[1].split()[0]) > 0.8, out


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "digits"], "--stream reads a data file"),
    (["DATA.npz", "--target", "y"], "--stream reads Parquet and delimited text files"),
    (["DATA.csv", "--target", "nope"], "no target column 'nope'"),
    (["DATA.csv", "--target", "y", "--class-weight", "balanced"], "class_weight needs the class counts"),
])
def test_stream_refusals_are_one_line(tmp_path, capsys, argv, message):
    frame(60).to_csv(tmp_path / "DATA.csv", index=False)
    np.savez(tmp_path / "DATA.npz", a=np.zeros(3))
    argv = [str(tmp_path / a) if a.startswith("DATA") else a for a in argv]
    with pytest.raises(SystemExit) as caught:
        main(["train", *argv, "--stream", "--no-progress", "--epochs", "1"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and message in err and "Traceback" not in err, err


def test_columns_that_change_kind_or_are_all_empty(tmp_path):
    a = pd.DataFrame({"v": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    b = pd.DataFrame({"v": ["x", "y", "z"], "y": [1, 0, 1]})
    pd.concat([a, b]).astype({"v": object}).to_csv(tmp_path / "k.csv", index=False)
    chunks = streamed.table_chunks(tmp_path / "k.csv", "y", None, 3)
    keep = np.ones(6, dtype=bool)
    with pytest.raises(ValueError, match="holds numbers in some chunks and text in others"):
        streamed.fit_preprocessor(chunks, keep, "classification", np.array([0, 1, 0, 1, 0, 1]))
    pd.DataFrame({"v": [np.nan] * 4, "y": [0, 1, 0, 1]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(ValueError, match="no feature columns left"):
        streamed.fit_preprocessor(streamed.table_chunks(tmp_path / "e.csv", "y"), np.ones(4, dtype=bool),
                                  "classification", np.array([0, 1, 0, 1]))


def test_chunks_without_training_rows_and_a_missing_target(tmp_path):
    """A chunk whose rows are all held out gives no training rows and no training loss, only test scores."""
    import xpmlp

    df = frame(90)
    df.to_csv(tmp_path / "t.csv", index=False)
    y = streamed.labels(tmp_path / "t.csv", "y", None, 30)
    keep = np.ones(90, dtype=bool)
    keep[:30] = False  # the first chunk: held out
    pre = streamed.fit_preprocessor(streamed.table_chunks(tmp_path / "t.csv", "y", None, 30), keep, "classification",
                                    y.for_fit(keep, "classification"))
    source = streamed._Encoded(tmp_path / "t.csv", "y", None, y.chunks, keep, pre)
    encoded = list(source._all())
    assert [X.shape[0] for X, _ in encoded] == source.chunk_rows == [30, 30]
    net = xpmlp.MLP([len(pre.encoded), 4, 2], "relu", seed=0)
    scores, loss = streamed._scores(net, pre, streamed.table_chunks(tmp_path / "t.csv", "y", None, 30), keep, 0.0)
    assert set(scores) == {"train", "test", "test_log_loss"} and np.isfinite(loss)
    with pytest.raises(ValueError, match="no target column 'z'"):
        next(streamed.table_chunks(tmp_path / "t.csv", "z"))


def test_a_column_whose_first_chunks_are_gaps_takes_its_kind_from_the_rest(tmp_path):
    df = pd.DataFrame({"c": [None] * 4 + ["u", "v", "u", "u"], "x": [np.nan] * 4 + [1.0, 2.0, 3.0, 4.0],
                       "y": [0, 1] * 4})
    df.to_csv(tmp_path / "g.csv", index=False)
    pre = streamed.fit_preprocessor(streamed.table_chunks(tmp_path / "g.csv", "y", None, 4), np.ones(8, dtype=bool),
                                    "classification", df["y"].to_numpy())
    memory = Preprocessor.fit(read_table(tmp_path / "g.csv", "y"), "classification")
    assert [f.to_dict() for f in pre.features] == [f.to_dict() for f in memory.features]
    np.testing.assert_allclose(pre.scale, memory.scale, rtol=1e-12)


def test_predict_stream_writes_a_chunk_at_a_time_what_predict_writes(tmp_path, capsys, monkeypatch):
    df = frame(300)
    df.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "3", "--no-progress", "--save",
                 str(model)]) == 0
    monkeypatch.setattr(streamed.table_chunks, "__defaults__", (None, 70))
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--proba", "-o", str(tmp_path / "whole.csv")]) == 0
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--proba", "--stream", "-o",
                 str(tmp_path / "streamed.csv")]) == 0
    assert "300 predictions written" in capsys.readouterr().out
    whole, chunked = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "streamed.csv")
    assert list(chunked.columns) == list(whole.columns) == ["id", "predicted_y", "proba_no", "proba_yes"]
    assert chunked.iloc[:, :2].equals(whole.iloc[:, :2])  # float32 products of 70 rows or 300: within 1e-6
    np.testing.assert_allclose(chunked.iloc[:, 2:], whole.iloc[:, 2:], atol=3e-6)
    assert not list(tmp_path.glob(".*partial"))
    df.drop(columns=["id"]).to_csv(tmp_path / "no-id.csv", index=False)  # rows numbered from 1 through the file
    assert main(["predict", str(model), str(tmp_path / "no-id.csv"), "--stream", "--sep", ","]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "row,predicted_y" and lines[-1].startswith("300,") and len(lines) == 301


def test_predict_stream_leaves_no_partial_file(tmp_path, capsys):
    df = frame(100)
    df.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "1", "--no-progress", "--save",
                 str(model)]) == 0
    df.drop(columns=["a"]).to_csv(tmp_path / "lacking.csv", index=False)
    with pytest.raises(SystemExit) as caught:
        main(["predict", str(model), str(tmp_path / "lacking.csv"), "--stream", "-o", str(tmp_path / "p.csv")])
    assert caught.value.code == 2 and "lacks the column(s) the model was trained on: a" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists() and not list(tmp_path.glob(".*partial"))
    with pytest.raises(SystemExit) as caught:
        main(["predict", str(model), str(tmp_path / "t.csv"), "--stream", "--decimal", ","])
    assert caught.value.code == 2 and "--stream reads text files with a header row" in capsys.readouterr().err


def test_a_large_file_streams_unasked(tmp_path, capsys, monkeypatch):
    frame(200).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "d").mkdir()
    frame(200).to_parquet(tmp_path / "d" / "part.parquet")
    monkeypatch.setattr(streamed, "STREAM_ABOVE", 1000)
    assert streamed.should_stream(str(tmp_path / "d")) and not streamed.should_stream(None)
    assert not streamed.should_stream(str(tmp_path / "none.csv"))
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "is larger than 9.31323e-07 GiB: read as it trains, as with --stream" in out and "note: streamed:" in out
    monkeypatch.setattr(streamed, "STREAM_ABOVE", 10 ** 9)
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--epochs", "1", "--no-progress"]) == 0
    assert "note: streamed:" not in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--date", "when"], "it cannot honour --date"),
    (["--keep", "a"], "it cannot honour --keep"),
    (["--test-size", "0"], "it cannot honour --test-size 0"),
    (["--no-header"], "it cannot honour --no-header"),
    (["--encoding", "cp1252"], "it cannot honour --encoding"),
    ([], "column 'when' holds dates, which --stream does not read as dates: give --no-dates"),
])
def test_stream_refuses_what_it_cannot_honour_of_main_reading(tmp_path, capsys, extra, message):
    df = frame(60)
    df["when"] = [f"2024-01-{1 + i % 28:02d}" for i in range(60)]
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(SystemExit) as caught:
        main(["train", str(tmp_path / "t.csv"), "--target", "y", "--stream", "--no-progress", "--epochs", "1", *extra])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and message in err and len(err.splitlines()) == 1, err
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--stream", "--no-progress", "--epochs", "1",
                 "--no-dates"]) == 0  # dates as categories when asked


def test_stream_reads_main_gap_markers_and_keeps_the_reading_record(tmp_path, capsys):
    df = frame(200)
    df["a"] = df["a"].astype(object).where(df["a"].notna(), "?")  # '?' marks a gap by default, as in memory
    df["b"] = df["b"].astype(object)
    df.loc[:9, "b"] = "missing"  # a gap only with --na-values missing
    df.to_csv(tmp_path / "t.csv", sep=";", index=False)
    model = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--stream", "--no-progress", "--epochs", "1",
                 "--na-values", "missing", "--sep", ";", "--save", str(model)]) == 0
    from xpmlp.app.workflows import load_model

    _, pre = load_model(str(model))
    kinds = {f.name: (f.kind, f.indicator) for f in pre.features}
    assert kinds["a"] == ("number", True) and kinds["b"] == ("number", True), kinds
    assert pre.reading["na_values"] == ["missing"]
    capsys.readouterr()
    df.loc[0, "id"] = "=cmd()"  # an ID cell a spreadsheet would run: written as text
    df.to_csv(tmp_path / "t.csv", sep=";", index=False)
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--stream", "--id", "id"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("'=cmd()") and len(lines) == 201, lines[:3]
    assert main(["predict", str(model), str(tmp_path / "t.csv"), "--stream", "--id", "id", "--raw-cells"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("=cmd()")
