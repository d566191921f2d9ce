"""Data files that cannot be used, as `xpmlp train` meets them: one line naming the file and the
problem, exit status 2, never a traceback -- truncated, corrupt or misnamed NPY/NPZ archives,
arrays of the wrong shape, broken Parquet, text files read without sniffing (a given --sep,
a .tsv) that are not UTF-8 or empty; and the readers' other paths: an .npz holding one array
or text targets, Parquet with text and gaps, 'inf' in a number column, held-out fractions."""

from __future__ import annotations

import re
import sys
import zipfile

import numpy as np
import pytest

from xpmlp.app.cli import main
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import DataError, read_table, split_rows


def good_npz(tmp_path, compressed=False):
    rng = np.random.default_rng(0)
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "good.npz", X=rng.normal(size=(60, 3)), y=np.arange(60.0))
    return (tmp_path / "good.npz").read_bytes()


def truncated_npy(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((50, 3)))
    data = (tmp_path / "d.npy").read_bytes()
    (tmp_path / "d.npy").write_bytes(data[:200])
    return tmp_path / "d.npy"


def object_npy(tmp_path):
    np.save(tmp_path / "d.npy", np.array([{"a": 1}, None], dtype=object))  # needs pickle to load
    return tmp_path / "d.npy"


def truncated_npz(tmp_path):
    data = good_npz(tmp_path)
    (tmp_path / "d.npz").write_bytes(data[: len(data) // 2])
    return tmp_path / "d.npz"


def flipped_byte(compressed):
    def make(tmp_path):
        data = bytearray(good_npz(tmp_path, compressed))
        with zipfile.ZipFile(tmp_path / "good.npz") as z:
            info = z.getinfo("X.npy")
        data[info.header_offset + 30 + len(info.filename) + 60] ^= 0xFF  # inside X's stored bytes
        (tmp_path / "d.npz").write_bytes(bytes(data))
        return tmp_path / "d.npz"
    return make


def text_as_npz(tmp_path):
    (tmp_path / "d.npz").write_text("a,b\n1,2\n")
    return tmp_path / "d.npz"


def npz_named_npy(tmp_path):
    (tmp_path / "d.npy").write_bytes(good_npz(tmp_path))
    return tmp_path / "d.npy"


def npy_named_npz(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((5, 3)))
    return (tmp_path / "d.npy").rename(tmp_path / "d.npz")


def saved(name, **arrays):
    def make(tmp_path):
        if name.endswith(".npy"):
            np.save(tmp_path / name, arrays["a"])
        else:
            np.savez(tmp_path / name, **arrays)
        return tmp_path / name
    return make


def broken_parquet(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"PAR1 not really")
    return tmp_path / "d.parquet"


# (make the file, what the one line says after "<file>: "); a (...) is the library's own words.
BAD_FILES = [
    (truncated_npy, r"not a readable \.npy array \(.+\)"),
    (object_npy, r"not a readable \.npy array \(.+\)"),
    (truncated_npz, r"not a readable \.npz archive \(.+\)"),  # once: zipfile.BadZipFile, a traceback
    (flipped_byte(False), r"not a readable \.npz archive \(Bad CRC-32 for file 'X.npy'\)"),  # once: a traceback
    (flipped_byte(True), r"not a readable \.npz archive \(.+\)"),  # zlib's error, once a traceback
    (text_as_npz, r"not a readable \.npz archive \(.+\)"),
    (npz_named_npy, r"an \.npz archive, not an \.npy array; rename it to \.npz"),  # once: AttributeError
    (npy_named_npz, r"an \.npy array, not an \.npz archive; rename it to \.npy"),  # once: TypeError
    (saved("d.npy", a=np.ones(3)), r"needs a 2-D array \(samples, columns\), got shape \(3,\)"),
    (saved("d.npz", X=np.ones((2, 2, 2))), r"X must be 2-D, got shape \(2, 2, 2\)"),
    (saved("d.npz", a=np.ones((2, 2)), b=np.ones(2)), r"needs arrays 'X' \(and 'y'\), or a single 2-D array; "
                                                       r"found \['a', 'b'\]"),
    (saved("d.npz", data=np.ones(4)), r"needs a 2-D array \(samples, columns\), got shape \(4,\)"),
    (saved("d.npy", a=np.ones((5, 1))), r"no feature columns besides the target"),
    (broken_parquet, r"not a readable Parquet file \(.+\)"),
]


@pytest.mark.parametrize("make, message", BAD_FILES, ids=[
    "npy-truncated", "npy-objects", "npz-truncated", "npz-corrupt", "npz-compressed-corrupt", "npz-text",
    "npz-named-npy", "npy-named-npz", "npy-1d", "npz-X-3d", "npz-no-X", "npz-one-1d", "npy-target-only",
    "parquet-broken"])
def test_unusable_binary_files_are_one_line_and_status_2(tmp_path, capsys, make, message):
    if make is broken_parquet:
        pytest.importorskip("pyarrow")
    path = make(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["train", str(path), "--target", "0", "--no-progress"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(re.escape(f"xpmlp: error: {path}: ") + message + "\n", err), err


def test_an_npz_of_one_array_or_with_text_targets(tmp_path):
    np.savez(tmp_path / "one.npz", data=np.arange(6.0).reshape(3, 2))
    t = read_table(tmp_path / "one.npz", 1)
    assert t.columns == ["0"] and t.y.tolist() == [1, 3, 5] and t.X.tolist() == [[0.0], [2.0], [4.0]]
    np.savez(tmp_path / "x.npz", X=np.arange(6.0).reshape(3, 2))  # X without y: the target is one of its columns
    t = read_table(tmp_path / "x.npz", 0)
    assert t.columns == ["1"] and t.y.tolist() == [0, 2, 4] and t.X.tolist() == [[1.0], [3.0], [5.0]]
    np.savez(tmp_path / "text.npz", X=np.array([[1.5, 2.0], [3.0, 4.0], [5.0, 6.5]]), y=np.array(["a", "b", "a"]))
    t = read_table(tmp_path / "text.npz", "y")
    assert t.columns == ["0", "1"] and t.y.tolist() == ["a", "b", "a"] and t.y.dtype.kind == "U"
    assert t.numbers("0").tolist() == [1.5, 3.0, 5.0] and t.texts("1").tolist() == ["2", "4", "6.5"]


def test_parquet_with_text_and_gaps(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"size": [1.5, None, 3.0], "color": ["red", None, "blue"], "y": ["a", "b", "a"]}), path)
    t = read_table(path, "y")
    assert t.columns == ["size", "color"] and t.y.tolist() == ["a", "b", "a"] and t.X.dtype == object
    np.testing.assert_array_equal(t.numbers("size"), [1.5, np.nan, 3.0])
    assert t.texts("color").tolist() == ["red", None, "blue"]


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert str(exc.value) == f"{path}: reading Parquet needs pyarrow: pip install 'xpmlp[parquet]'"


LATIN1 = "name;y\nJos\u00e9;1\n".encode("latin-1")


@pytest.mark.parametrize("name, content, options, message", [
    ("l1.csv", LATIN1, {"sep": ";", "encoding": "utf-8"}, "not utf-8 text (invalid continuation byte at byte 10); "
     "give the file's encoding with --encoding (e.g. --encoding cp1252 or --encoding latin-1)"),
    ("l1.tsv", LATIN1.replace(b";", b"\t") + b"\x81\n", {}, "neither UTF-8 (invalid continuation byte at byte 10) "
     "nor Windows-1252 text (byte 0x81 at byte 14); give the file's encoding with --encoding (e.g. --encoding latin-1)"),
    ("late.csv", b"a,y\n" + b"1,2\n" * 60 + "Jos\u00e9,1\n".encode("latin-1"), {"encoding": "UTF8"},  # past line 50
     "not UTF8 text (invalid continuation byte at byte 247); give the file's encoding with --encoding (e.g. "
     "--encoding cp1252 or --encoding latin-1)"),
    ("e.csv", b"", {"sep": ","}, "the file is empty"),
    ("e.tsv", b"", {}, "the file is empty"),
    ("gaps.csv", b",,\n?,NaN,\n", {}, "the file is empty"),  # lines of gaps only
    ("n.csv", b"1,1,0\n2,3,1\n", {}, "the first line looks like numbers, not names: if the file has no header row, "
                                     "give --no-header"),  # numbers that repeat: no names
    ("d.csv", b"a,y\n1,2\n", {"decimal": ";"}, "the decimal mark must be '.' or ',', got ';'"),
], ids=["sep-given-latin1", "tsv-latin1", "latin1-after-line-50", "sep-given-empty", "tsv-empty", "only-gaps",
        "numbers-as-header", "decimal-mark"])
def test_text_files_that_cannot_be_used(tmp_path, name, content, options, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        read_table(path, **options)
    assert str(exc.value) == f"{path}: {message}"


def test_infinity_in_a_column_of_numbers_is_not_a_number(tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("a,b,y\n1,2,0\ninf,3,1\n2,-Infinity,0\n4,5,1\n")
    t = read_table(path, "y")
    with pytest.raises(DataError, match=r"inf.csv: column 'a', line 3: 'inf' is not a number \(if it marks a gap, "
                                        r"give --na-values 'inf'\)$"):
        t.numbers("a")
    with pytest.raises(DataError, match=r"column 'b', line 4: '-Infinity' is not a number, though 3 of the column's 4 "
                                        r"cells are; fix it, give --na-values '-Infinity' if it marks a gap, "
                                        r"or --category b"):
        Preprocessor.fit(t, "classification", drop=["a"])


@pytest.mark.parametrize("argv, message", [
    (["--test-size", "-0.1"], "the test fraction must be in [0, 1) (0: train on every row), got -0.1"),
    (["--test-size", "1"], "the test fraction must be in [0, 1) (0: train on every row), got 1.0"),
])
def test_the_held_out_fraction_must_be_a_fraction(tmp_path, capsys, argv, message):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    with pytest.raises(SystemExit) as exc:
        main(["train", str(path), "--target", "y", "--no-progress", *argv])
    assert exc.value.code == 2 and capsys.readouterr().err == f"xpmlp: error: {message}\n"


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.25])
def test_split_rows_holds_out_a_fraction_strictly_between_0_and_1(fraction):
    """From Python too (the command line checks --test-size itself, where 0 means no test rows)."""
    with pytest.raises(DataError, match=rf"^the held-out fraction must be in \(0, 1\), got {fraction}$"):
        split_rows(10, fraction, 0)


def test_too_few_rows_per_class_to_hold_any_out():
    with pytest.raises(DataError) as exc:
        split_rows(4, 0.1, 0, np.array(["a", "a", "b", "b"]))  # 10% of two rows rounds to none
    assert str(exc.value) == "cannot hold out 10% of 4 rows by class; there are too few rows"


def test_one_row_per_class_says_so_not_too_few_rows():
    """100,000 rows of 100,000 labels are not "too few rows": the message says what is wrong."""
    with pytest.raises(DataError) as exc:
        split_rows(3, 0.25, 0, np.array(["a", "b", "c"]))  # one row per class: none can be held out
    assert str(exc.value) == ("cannot hold out 25% of 3 rows by class; 3 classes for 3 rows: too few rows per class "
                              "(is the target an ID, or a number to predict with --task regression?)")
