"""The table limits (xpmlp.app.limits): columns, cell length, line length and classes, each refused in
one line naming its flag, and raised by it; and the work on a table stays linear in its columns."""

from __future__ import annotations

import time

import numpy as np
import pytest

from xpmlp.app import limits
from xpmlp.app.cli import main
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import Table, parse_numbers, split_rows

pytest.importorskip("pandas", reason="reading CSV files needs pandas")


def run(argv, capsys):
    with pytest.raises(SystemExit) as ended:
        main(argv)
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    return err


def wide_csv(path, columns: int, rows: int = 12):
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write(",".join(f"c{j}" for j in range(columns)) + ",y\n")
        for _ in range(rows):
            f.write(",".join(f"{v:.3f}" for v in rng.normal(size=columns)) + f",{rng.integers(2)}\n")
    return path


class Counted(list):
    """A column list that counts the scans through it (``in``, ``index``): each costs its length."""

    scans = 0

    def __contains__(self, item):
        Counted.scans += 1
        return super().__contains__(item)

    def index(self, *args):
        Counted.scans += 1
        return super().index(*args)


def test_preprocessing_never_scans_the_column_list_per_column():
    d = 300
    rng = np.random.default_rng(0)
    table = Table(rng.normal(size=(40, d)), Counted(f"c{j}" for j in range(d)), y=rng.integers(0, 2, 40),
                  target="y")
    Counted.scans = 0
    pre = Preprocessor.fit(table, "classification")
    pre.transform(table)
    assert len(pre.features) == d and Counted.scans < 10  # was 3 per column: quadratic in the columns


def test_a_header_of_too_many_columns_is_refused_before_parsing_and_the_flag_raises_it(tmp_path, capsys):
    path = wide_csv(tmp_path / "wide.csv", 60)
    err = run(["train", str(path), "--target", "y", "--max-columns", "50"], capsys)
    assert err == f"xpmlp: error: {path}: the first line has 61 fields; the limit is 50 columns (--max-columns N " \
        "allows more)\n"
    assert main(["train", str(path), "--target", "y", "--max-columns", "61", "--epochs", "1", "--no-progress"]) == 0
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--max-columns", "0"])
    assert "argument --max-columns: expected a whole number >= 1, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--max-classes", "lots"])
    assert "argument --max-classes: expected a whole number >= 1, got 'lots'" in capsys.readouterr().err


def test_an_array_of_too_many_columns_is_refused(tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((5, 70)))
    err = run(["train", str(tmp_path / "wide.npy"), "--target", "0", "--max-columns", "50"], capsys)
    assert err.endswith(": 70 columns; the limit is 50 (--max-columns N allows more)\n")


def test_a_long_cell_is_refused_naming_its_line_and_column(tmp_path, capsys):
    path = tmp_path / "cell.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},x{i},{i % 2}\n" for i in range(20)) + "1," + "z" * 5000 + ",0\n")
    err = run(["train", str(path), "--target", "y", "--max-cell-length", "1000"], capsys)
    assert err == f"xpmlp: error: {path}: line 22, column 'b': a cell of 5000 characters; the limit is 1000 " \
        "(--max-cell-length N allows more)\n"


def test_a_long_line_is_refused_before_any_parser_reads_it(monkeypatch):
    monkeypatch.setattr(limits, "_LINE_SLACK", 100)
    monkeypatch.setattr(limits, "_CHUNK", 64)  # lines across chunks, and a line longer than a chunk
    monkeypatch.setattr(limits, "LIMITS", limits.Limits(max_cell_length=20))
    with pytest.raises(limits.LimitError, match=r"^line 42 is longer than 120 bytes \(--max-cell-length"):
        limits.check_lines(b"a,b\n" + b"1,2\n" * 40 + b"3," + b"4" * 200 + b"\n5,6\n")
    with pytest.raises(limits.LimitError, match=r"^line 2 is longer than 120 bytes"):
        limits.check_lines(b"a,b\n" + b"4" * 121)  # the last line, without its newline
    limits.check_lines(b"a,b\n" + b"1,2\n" * 40 + b"3," + b"4" * 118 + b"\n5,6\n")  # 120 bytes: within the limit
    limits.check_lines(b"")


def test_a_100_mb_line_and_a_1_mb_cell_end_in_one_line_each(tmp_path, capsys):
    path = tmp_path / "big.csv"
    path.write_text("a,b,y\n1,2,0\n3," + "9" * 100_000_000 + ",1\n")
    start = time.perf_counter()
    err = run(["train", str(path), "--target", "y"], capsys)
    assert err.endswith("big.csv: line 3 is longer than 67208864 bytes (--max-cell-length N allows longer cells and "
                        "lines)\n")
    assert time.perf_counter() - start < 30
    path.write_text("a,b,y\n1,2,0\n3," + "9" * 1_000_000 + ",1\n")
    err = run(["train", str(path), "--target", "y"], capsys)
    assert "big.csv: line 3, column 'b': a cell of 1000000 characters; the limit is 100000" in err


def test_25k_classes_of_4_rows_are_refused_at_once(tmp_path, capsys):
    path = tmp_path / "classes.csv"
    labels = np.repeat(np.arange(25_000), 4)
    path.write_text("x,label\n" + "".join(f"{i % 7},k{c}\n" for i, c in enumerate(labels)))
    start = time.perf_counter()
    err = run(["train", str(path), "--target", "label"], capsys)
    assert err == f"xpmlp: error: {path}: the target 'label' has 25000 classes; the limit is 1000 (--max-classes N " \
        "allows more; for a number to predict, give --task regression)\n"
    assert time.perf_counter() - start < 30


def test_the_class_flag_raises_the_limit(tmp_path, capsys):
    path = tmp_path / "classes.csv"
    path.write_text("x,label\n" + "".join(f"{i % 7},k{i % 30}\n" for i in range(240)))
    assert "has 30 classes; the limit is 20" in run(["train", str(path), "--target", "label", "--max-classes", "20"],
                                                      capsys)
    assert main(["train", str(path), "--target", "label", "--epochs", "1", "--no-progress"]) == 0


def test_a_long_cell_does_not_size_every_cell_of_its_column():
    cells = np.array(["1.5"] * 100_000 + ["x" * 1_000_000], dtype=object)  # at once: 400 GB of fixed-width text
    values, bad = parse_numbers(cells)
    assert bad.tolist() == [100_000] and values[0] == 1.5 and np.isnan(values[-1])


def test_a_stratified_split_is_linear_in_the_labels_and_unchanged():
    labels = np.repeat(np.arange(20_000), 3)
    start = time.perf_counter()
    kept, held = split_rows(labels.size, 0.25, 0, labels)
    assert time.perf_counter() - start < 10 and held.size == 20_000 and kept.size == 40_000
    kept, held = split_rows(10, 0.2, 1, np.array(list("aabbbbcccc")))
    labels = np.array(list("aabbbbcccc"))
    assert sorted(labels[held].tolist()) == ["b", "c"] and held.size == 2  # round(0.3 * 4) of b and c, none of a


def test_cells_of_a_binary_file_are_counted_by_row(monkeypatch):
    monkeypatch.setattr(limits, "LIMITS", limits.Limits(max_cell_length=3))
    limits.check_cells(np.zeros((2, 2)), ["a", "b"], None, "x.npy")  # numbers: nothing to measure
    cells = np.array([["ab", None], ["abcd", "a"]], dtype=object)
    with pytest.raises(limits.LimitError, match=r"^x.parquet: row 2, column 'a': a cell of 4 characters; the limit "
                       r"is 3 \(--max-cell-length N allows more\)$"):
        limits.check_cells(cells, ["a", "b"], None, "x.parquet")
