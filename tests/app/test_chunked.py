"""``app/chunked.py``: a Parquet or text file read a chunk of rows at a time, as pandas would read it,
holding one row group and one chunk; the target column alone kept as compact codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xpmlp.app import chunked
from xpmlp.app.streamed import split
from xpmlp.app.tables import DataError, split_rows

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[2]


def numbers(n=300, seed=0):
    """A table of numbers only: float32 and int columns with gaps, an integer target."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n).astype(np.float32)
    a[rng.random(n) < 0.1] = np.nan
    b = pd.array(rng.integers(0, 9, n), dtype="Int64")
    b[rng.random(n) < 0.1] = pd.NA
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "y": rng.integers(0, 3, n)})


def test_a_parquet_of_numbers_reads_as_pandas_reads_it(tmp_path):
    df = numbers()
    df.to_parquet(tmp_path / "n.parquet", row_group_size=128)
    chunks = list(chunked.table_chunks(tmp_path / "n.parquet", "y", None, 50))
    assert [start for start, _ in chunks] == [0, 50, 100, 128, 178, 228, 256]  # row groups cut into chunks
    cells = np.concatenate([table.X for _, table in chunks])
    np.testing.assert_array_equal(cells, df.drop(columns="y").to_numpy(dtype=np.float64, na_value=np.nan))
    y = np.concatenate([table.y for _, table in chunks])
    assert y.dtype == np.int64 and np.array_equal(y, df["y"].to_numpy())
    assert chunks[0][1].columns == ["a", "b", "c"] and chunks[0][1].source.endswith("n.parquet")
    target = chunked.labels(tmp_path / "n.parquet", "y", None, 50)
    assert target.names is None and target.chunks == [50, 50, 28, 50, 50, 28, 44]
    np.testing.assert_array_equal(target.values, df["y"].to_numpy())


def test_a_directory_of_parquet_files_and_a_pandas_index(tmp_path):
    df = numbers(40).set_index(pd.Index([f"r{i}" for i in range(40)], name="key"))
    (tmp_path / "d").mkdir()
    df.iloc[:25].to_parquet(tmp_path / "d" / "part-0.parquet")
    df.iloc[25:].to_parquet(tmp_path / "d" / "part-1.parquet")
    (tmp_path / "d" / "_SUCCESS").write_text("")
    (tmp_path / "d" / ".part-0.crc").write_text("")
    chunks = list(chunked.table_chunks(tmp_path / "d", "y", None, 10))
    assert [len(t.X) for _, t in chunks] == [10, 10, 5, 10, 5] and chunks[0][1].columns == ["a", "b", "c"]
    assert chunked.labels(tmp_path / "d", "y", None, 10).chunks == [10, 10, 5, 10, 5]


def test_text_and_other_targets(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=60), "t": rng.choice(["b", "a", "c"], 60), "f": rng.normal(size=60),
                       "flag": rng.random(60) > 0.5})
    df.to_parquet(tmp_path / "t.parquet", row_group_size=25)
    text = chunked.labels(tmp_path / "t.parquet", "t", None, 10)
    assert text.values.dtype == np.int32 and text.names.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(text.names[text.values], df["t"].to_numpy().astype(str))
    keep = np.arange(60) % 4 > 0
    assert text.for_fit(keep, "classification").tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(text.for_fit(keep, "regression"), df["t"].to_numpy()[keep].astype(str))
    values = chunked.labels(tmp_path / "t.parquet", "f", None, 10)
    assert values.names is None and values.values.dtype == np.float64
    np.testing.assert_array_equal(values.for_fit(keep, "regression"), df["f"].to_numpy()[keep])
    flags = chunked.labels(tmp_path / "t.parquet", "flag", None, 10)  # booleans: read through pandas, labels
    assert flags.names.tolist() == ["False", "True"]


@pytest.mark.parametrize("cells, message", [
    ({"x": [1.0, 2.0, 3.0], "y": ["a", None, "b"]}, "target column 'y', row 2 is missing"),
    ({"x": [1.0, 2.0, 3.0], "y": [1.5, 2.5, np.nan]}, "target column 'y', row 3 is missing"),
    ({"x": [1.0, 2.0], "z": [0, 1]}, "no target column 'y'; the columns are x, z"),
    ({"x": np.zeros(0), "y": np.zeros(0)}, "holds no rows"),
])
def test_target_refusals_name_the_row_or_the_columns(tmp_path, cells, message):
    pd.DataFrame(cells).to_parquet(tmp_path / "r.parquet")
    with pytest.raises(DataError, match=message):
        chunked.labels(tmp_path / "r.parquet", "y", None, 2)


def test_a_text_file_whose_target_changes_kind_between_chunks(tmp_path):
    (tmp_path / "k.csv").write_text("x,y\n1,1\n2,2\n3,3\n4,x\n5,y\n6,x\n")
    with pytest.raises(DataError, match="holds numbers in some chunks and text in others"):
        chunked.labels(tmp_path / "k.csv", "y", None, 3)
    (tmp_path / "i.csv").write_text("x,y\n1,1\n2,2\n3,1\n")
    assert chunked.labels(tmp_path / "i.csv", "y", None, 2).values.tolist() == [1, 2, 1]
    with pytest.raises(DataError, match="--stream reads Parquet and delimited text files"):
        list(chunked.table_chunks(tmp_path / "i.json", "y"))


def test_the_split_marks_the_rows_split_rows_holds_out():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, 500).astype(np.int32)
    for y, task in ((codes, "classification"), (rng.choice(["u", "v"], 500), "classification"),
                    (rng.normal(size=500), "regression")):
        _, held = split_rows(500, 0.25, 7, y if task == "classification" else None)
        _, keep = split(y, task, 0.25, 7)
        assert np.array_equal(np.flatnonzero(~keep), held)
    with pytest.raises(DataError, match="the held-out fraction must be in"):
        split(codes, "classification", 1.5, 0)
    with pytest.raises(DataError, match="cannot hold out 25% of 3 rows by class"):
        split(np.array([0, 1, 2], dtype=np.int32), "classification", 0.25, 0)


def test_a_parquet_of_numbers_is_read_without_importing_pandas(tmp_path):
    """pandas' import alone takes about 40 MB: a file of numbers does without it (pyarrow's to_numpy imports it)."""
    table = pa.table({"a": pa.array([1.5, None, 2.5], pa.float32()), "n": pa.array([1, None, 3]),
                      "y": pa.array(["p", "q", "p"])})
    pq.write_table(table, tmp_path / "p.parquet")
    code = ("import sys; from pathlib import Path; from xpmlp.app import chunked\n"
            f"p = Path({str(tmp_path / 'p.parquet')!r})\n"
            "t = chunked.labels(p, 'y', None); X = next(chunked.table_chunks(p, 'y'))[1].X\n"
            "print(t.values.tolist(), X.tolist(), 'pandas.core' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0,", "1,", "0]", "[[1.5,", "1.0],", "[nan,", "nan],", "[2.5,", "3.0]]", "False"]
