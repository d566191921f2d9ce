"""Files as they arrive (issue 26, items 1, 3 and 5): every common gap marker, --na-values, the
first bad line of the whole file, compressed files, encodings, and a model that remembers how its
file was read."""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
import zipfile

import numpy as np
import pytest

from xpmlp.app.cli import main
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.reading import MISSING, ReadOptions, reuse
from xpmlp.app.tables import DataError, read_table

pytest.importorskip("pandas")

TRAIN = ["--no-progress", "--epochs", "2"]


def table_text(n=40, marker=None):
    """``a,b,y``: a number column (with ``marker`` in rows 5, 9), a text column, a class."""
    rows = [f"{marker if marker is not None and i in (5, 9) else i / 4},{'uv'[i % 2]},{i % 2}" for i in range(n)]
    return "a,b,y\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("marker", sorted(MISSING - {""}))
def test_every_default_marker_is_a_gap(tmp_path, marker):
    path = tmp_path / "t.csv"
    path.write_text(table_text(marker=marker if marker != "#N/A N/A" else '"#N/A N/A"'))
    t = read_table(path, "y")
    a = t.numbers("a")
    assert np.isnan(a[[5, 9]]).all() and np.isnan(a).sum() == 2
    pre = Preprocessor.fit(t, "classification")
    assert pre.features[0].indicator and "2 gap(s) filled with the median" in pre.notes[0]


def test_pandas_markers_are_all_there():
    parsers = pytest.importorskip("pandas._libs.parsers")
    assert set(parsers.STR_NA_VALUES) <= MISSING and {"?", "-", "na", "#NV"} <= MISSING


def test_na_values_add_markers_and_no_default_na_replaces_them(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(table_text(marker="n.d.").replace("u,", "NA,"))
    assert np.isnan(read_table(path, "y", na_values=["n.d."]).numbers("a")).sum() == 2
    t = read_table(path, "y", na_values=["n.d."], default_na=False)
    assert "NA" in t.texts("b").tolist()  # a category again
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--na-values", "k.A.,n.d.", "--no-default-na", "--save",
                 str(model), *TRAIN]) == 0
    assert "'b': 2 categories" in capsys.readouterr().out  # NA and v: no gap
    assert main(["predict", str(model), str(path)]) == 0  # the markers come from the model
    assert main(["evaluate", str(model), str(path)]) == 0
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    assert "gap markers: the defaults and ['k.A.', 'n.d.'] (replaced)" in capsys.readouterr().out


def test_the_first_bad_line_of_the_file_is_named(tmp_path, capsys):
    """Lines 29 and 41 are bad, as is 74: train names 29, though only 74 may be a training row."""
    lines = ["a,y"] + [f"{'oops' if k in (29, 41, 74) else k},{k % 2}" for k in range(2, 121)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    for seed in range(3):
        with pytest.raises(SystemExit):
            main(["train", str(path), "--target", "y", "--seed", str(seed), *TRAIN])
        err = capsys.readouterr().err
        assert "column 'a', line 29: 'oops' is not a number, though 116 of the column's 119 cells are; fix it, " \
               "give --na-values 'oops' if it marks a gap" in err


def test_hints_in_predict_and_evaluate(tmp_path, capsys):
    path, model = tmp_path / "t.csv", tmp_path / "m.npz"
    path.write_text(table_text())
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    commas = tmp_path / "c.csv"
    commas.write_text(table_text().replace(",", ";").replace(".", ","))
    with pytest.raises(SystemExit):
        main(["evaluate", str(model), str(commas), "--sep", ";"])
    assert "'0,0' is not a number (a decimal comma: give --decimal ,)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", str(model), str(commas), "--sep", "|"])
    assert "lacks the column(s) the model was trained on: a, b (the file was read as one column, 'a;b;y': give " \
           "its delimiter with --sep)" in capsys.readouterr().err


def test_the_model_remembers_how_its_file_was_read(tmp_path, capsys):
    text = "".join(f"{i / 4:.2f};{'uv'[i % 2]};{i % 2}\n".replace(".", ",") for i in range(40))
    path, model = tmp_path / "t.txt", tmp_path / "m.npz"
    path.write_text(text.replace("0,25;", "NULL;"))
    assert main(["train", str(path), "--target", "2", "--no-header", "--sep", ";", "--decimal", ",", "--save",
                 str(model), *TRAIN]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(path)]) == 0  # no flags: the model's
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "row,predicted_2" and len(out) == 41
    assert main(["evaluate", str(model), str(path)]) == 0
    assert "accuracy" in capsys.readouterr().out
    named = tmp_path / "named.txt"
    named.write_text("p;q;r\n" + text)
    with pytest.raises(SystemExit):
        main(["predict", str(model), str(named), "--header"])
    assert "lacks the column(s) the model was trained on: 0, 1 (the model was trained on a file without a header " \
           "row: give --no-header)" in capsys.readouterr().err


def test_reuse_takes_given_options_first():
    saved = {**ReadOptions(";", False, None, "cp1252", ["x"]).to_dict(), "detected": {"decimal": ","}}
    assert reuse({"sep": None, "header": None, "na_values": None}, saved) == ReadOptions(";", False, ",", "cp1252",
                                                                                           ["x"])
    assert reuse({"sep": "|", "header": True, "decimal": ".", "na_values": ["y"]}, saved) == \
        ReadOptions("|", True, ".", "cp1252", ["y"])
    assert reuse({}, {}) == ReadOptions()
    assert ReadOptions.from_dict({"sep": 5, "decimal": None, "na_values": "x"}) == ReadOptions("5", na_values=["x"])
    assert ReadOptions.from_dict(ReadOptions(";", False, ",", "cp1252", ["x"], False).to_dict()) == \
        ReadOptions(";", False, ",", "cp1252", ["x"], False)


def _zip(path, data, names=("t.csv",)):
    with zipfile.ZipFile(path, "w") as z:
        for name in names:
            z.writestr(name, data)


def _zst(path, data):
    zstandard = pytest.importorskip("zstandard", reason="reading .zst needs zstandard (pip install zstandard)")
    path.write_bytes(zstandard.ZstdCompressor().compress(data))


WRITERS = {".gz": lambda p, d: p.write_bytes(gzip.compress(d)), ".bz2": lambda p, d: p.write_bytes(bz2.compress(d)),
           ".xz": lambda p, d: p.write_bytes(lzma.compress(d)), ".zst": _zst, ".zip": _zip}


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_compressed_files_are_read_by_extension(tmp_path, suffix, capsys):
    path = tmp_path / f"data.tsv{suffix}"
    WRITERS[suffix](path, table_text().replace(",", "\t").encode())
    t = read_table(path, "y")
    assert t.columns == ["a", "b"] and t.numbers("a")[:2].tolist() == [0.0, 0.25]
    assert t.layout == f"tab-separated, {suffix[1:]}-compressed"
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    assert main(["predict", str(model), str(path)]) == 0


@pytest.mark.parametrize("name, content, message", [
    ("t.parquet.gz", gzip.compress(b"x"), "unknown format '.parquet.gz'; use one of .csv, .tsv, .txt, .npy, .npz, "
                                          ".parquet, the text formats also compressed (.gz, .bz2, .xz, .zst, .zip) (a "
                                          "delimited text file with another name: rename it to .txt)"),
    ("t.csv.gz", b"not gzip", "not a readable .gz file (Not a gzipped file (b'no'))"),
    ("t.csv.xz", b"not xz", "not a readable .xz file (Input format not supported by decoder)"),
    ("t.csv.zip", None, "a .zip archive must hold one file; this one holds 2"),
], ids=["parquet-gz", "broken-gz", "broken-xz", "zip-of-two"])
def test_compressed_files_that_cannot_be_used(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        _zip(path, b"a,y\n1,2\n", names=("a.csv", "b.csv"))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert str(exc.value) == f"{path}: {message}"


def test_zst_without_zstandard_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    path = tmp_path / "t.csv.zst"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"reading .zst files needs zstandard: pip install zstandard$"):
        read_table(path)


def test_a_windows_1252_file_is_read_with_a_note(tmp_path, capsys):
    text = "Name;Preis;y\n" + "".join(f"M\u00fcller \u20ac{i % 3};{i},5;{i % 2}\n" for i in range(30))
    path = tmp_path / "excel.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    t = read_table(path, "y")
    assert t.texts("Name")[0] == "M\u00fcller \u20ac0" and t.numbers("Preis")[1] == 1.5
    assert t.notes[0] == f"{path}: not UTF-8 (byte 0xfc at byte 15): read as Windows-1252 (cp1252), as Excel " \
                         "writes it; give --encoding if it is another"
    assert t.layout == "';'-separated, decimal comma, cp1252"
    assert read_table(path, "y", encoding="latin-1").texts("Name")[0] == "M\u00fcller \x800"  # as asked
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    assert "note: " + t.notes[0] in capsys.readouterr().out
    assert main(["predict", str(model), str(path)]) == 0
    assert "xpmlp: note: " + t.notes[0] in capsys.readouterr().err  # not in the predictions


def test_utf16_by_its_byte_order_mark_and_unknown_encodings(tmp_path):
    path = tmp_path / "u.txt"
    path.write_bytes(table_text().replace(",", "\t").encode("utf-16"))
    t = read_table(path, "y")
    assert t.columns == ["a", "b"] and t.layout == "tab-separated, utf-16"
    assert t.notes == [f"{path}: UTF-16 text (by its byte-order mark)"]
    with pytest.raises(DataError, match=r"unknown encoding 'klingon' \(e.g. utf-8, cp1252, latin-1, utf-16\)"):
        read_table(path, encoding="klingon")
