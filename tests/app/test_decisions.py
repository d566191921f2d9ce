"""The guesses train makes, said before it trains (issue 26, item 4): the task and why, row
numbers left out (and --keep), each note once and before the first epoch, one warning per
unseen-category message."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.app.cli import main
from xpmlp.app.decisions import explain_task, infer_task, row_numbers
from xpmlp.app.tables import Table
from xpmlp.app.workflows import log_loss, predict_table, train_table

pytest.importorskip("pandas")

TRAIN = ["--no-progress", "--epochs", "2"]


def counts(levels):
    """Labels with ``levels[k]`` rows of value ``k + 1``."""
    return np.repeat(np.arange(1, len(levels) + 1), levels)


@pytest.mark.parametrize("y, task, why", [
    (np.array(["a", "b", "a"]), "classification", "2 distinct text labels -> classes"),
    (np.linspace(0, 1, 50), "regression", "numbers that are not all integers -> a quantity"),
    (np.arange(100), "regression", "100 distinct integers 0-99: too many for classes -> a quantity; give --task "
                                   "classification"),
    (np.arange(240) % 12 + 1, "classification", "12 distinct integers 1-12 -> classes; give --task regression"),
    (np.arange(1000) % 10, "classification", "10 distinct integers 0-9 -> classes; give --task regression"),  # digits
    (counts([5, 20, 60, 140, 220, 240, 180, 90, 30, 10]), "regression",
     "10 distinct integers 1-10, consecutive, most rows in the middle and few at the ends: a score on a scale -> a "
     "quantity; give --task classification"),
    (counts([30, 216, 2138, 2836, 1079, 193, 5]) + 2, "regression", None),  # wine quality 3-9
    (counts([5, 20, 60, 140]), "classification", None),  # four levels: too few for a scale
    (counts([5, 60, 20, 140, 20]), "classification", None),  # not one peak
    (counts([50, 60, 80, 70, 40]), "classification", None),  # the ends are not rare
    (np.repeat([1, 2, 3, 5, 6], [5, 50, 80, 40, 5]), "classification", None),  # not consecutive
])
def test_the_task_rule_and_its_reason(y, task, why):
    got, reason = explain_task(y)
    assert got == task and infer_task(y) == task
    assert why is None or reason == why


def numbers_table(columns: dict) -> Table:
    names = list(columns)
    X = np.array([[str(v) for v in columns[n]] for n in names], dtype=object).T
    return Table(X, names)


def test_row_numbers_sorted_or_consecutive():
    n = 30
    rng = np.random.default_rng(0)
    t = numbers_table({"up": np.arange(5, 5 + 3 * n, 3), "down": np.arange(n, 0, -1), "shuffled": rng.permutation(n),
                       "repeats": np.arange(n) // 2, "floats": np.arange(n) + 0.5, "spread": rng.permutation(n) * 7,
                       "text": [f"r{i}" for i in range(n)]})
    assert row_numbers(t) == [("up", "distinct integers in order"), ("down", "distinct integers in order"),
                              ("shuffled", "the integers 0-29, each once")]
    assert row_numbers(t, skip=["up"])[0][0] == "down"
    assert row_numbers(t.take(np.arange(19))) == []  # too few rows to tell
    gaps = numbers_table({"up": [None] + list(range(1, n))})
    assert row_numbers(gaps) == []


def sorted_by_class(path, n=80):
    """``Probe_Nr`` numbers the rows, which are sorted by class: it alone predicts the class."""
    rng = np.random.default_rng(1)
    labels = np.sort(rng.integers(0, 2, n))
    rows = [f"{i + 1},{rng.normal():.3f},{label}" for i, label in enumerate(labels)]
    path.write_text("Probe_Nr,noise,y\n" + "\n".join(rows) + "\n")
    return path


def test_a_row_number_column_is_not_an_input_unless_kept(tmp_path, capsys):
    path, model = sorted_by_class(tmp_path / "p.csv"), tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    out = capsys.readouterr().out
    assert "note: column 'Probe_Nr' looks like row numbers (distinct integers in order): not an input (it could leak " \
           "the file's order), written beside predictions like an ID; give --keep Probe_Nr to use it" in out
    assert "MLP([1, 100, 2]" in out  # noise alone
    assert main(["predict", str(model), str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("1,")  # the row numbers, written as IDs
    assert main(["train", str(path), "--target", "y", "--keep", "Probe_Nr", *TRAIN]) == 0
    out = capsys.readouterr().out
    assert "looks like row numbers" not in out and "MLP([2, 100, 2]" in out
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--keep", "nope", *TRAIN])
    assert "no column 'nope'" in capsys.readouterr().err


def test_decisions_come_before_training_once_each(tmp_path, capsys):
    """A 1-10 score: regression, said with its reason before the first epoch; each note once."""
    rng = np.random.default_rng(2)
    score = counts([5, 20, 60, 140, 220, 240, 180, 90, 30, 10])
    rng.shuffle(score)
    x = score + rng.normal(size=score.size)
    path = tmp_path / "s.csv"
    path.write_text("x,colour,score\n" + "\n".join(f"{a:.3f},{'rgb'[i % 3]},{s}" for i, (a, s) in
                                                  enumerate(zip(x, score))) + "\n")
    assert main(["train", str(path), "--target", "score", *TRAIN]) == 0
    out = capsys.readouterr().out
    task = "note: task: regression (10 distinct integers 1-10, consecutive, most rows in the middle and few at the " \
           "ends: a score on a scale -> a quantity; give --task classification)"
    assert out.count(task) == 1 and out.count("note: column 'colour'") == 1
    assert out.index(task) < out.index("note: column 'colour'") < out.index("model: MLP") < out.index("epochs (")
    assert "note:" not in out[out.index("model: MLP"):]
    assert main(["train", str(path), "--target", "score", "--task", "classification", *TRAIN]) == 0
    assert "note: task: classification (given with --task)" in capsys.readouterr().out


def test_unseen_categories_are_warned_of_once(tmp_path, capsys):
    """Test rows with categories training never saw: one warning, not one per score."""
    n = 200
    colours = [f"c{i}" if i % 4 == 0 else "common" for i in range(n)]  # 50 rare ones, most unseen by training
    path = tmp_path / "u.csv"
    path.write_text("x,colour,y\n" + "\n".join(f"{i % 7},{c},{i % 2}" for i, c in enumerate(colours)) + "\n")
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    assert capsys.readouterr().err.count("with a category the model never saw") == 1
    assert main(["evaluate", str(model), str(path)]) == 0  # scored, then predicted: the same rows twice
    assert capsys.readouterr().err.count("with a category the model never saw") == 1


def test_train_table_reports_its_notes_to_a_callback():
    y = np.arange(60) % 2
    t = Table(np.column_stack([np.arange(60.0), np.random.default_rng(0).normal(size=60)]), ["n", "x"], y, "y")
    said = []
    model = train_table(t, epochs=1, on_note=said.append)
    assert said[0] == "task: classification (2 distinct integers 0-1 -> classes)"
    assert said == model.notes and model.preprocessor.ids == ["n"]
    outputs = predict_table(model.net, model.preprocessor, t)[1]  # log_loss on its own, as the test rows' was
    assert log_loss(model, t) == pytest.approx(-np.mean(np.log(outputs[np.arange(60), y])), rel=1e-12)
