"""Tables as users have them (issue 19, item 1): the delimiter detected or given, .tsv and .txt,
no header row, quoted fields, a byte-order mark, decimal commas, line numbers in messages,
and one clear line when pandas is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from xpmlp.app.cli import main
from xpmlp.app.tables import DataError, read_table

pytest.importorskip("pandas")

ROWS = [["1.5", "red", "x"], ["2.5", "blue", "y"], ["-3", "red", "x"]]


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("name,sep", [("t.csv", ","), ("t.csv", ";"), ("t.csv", "|"), ("t.tsv", "\t"),
                                      ("t.txt", "\t"), ("t.txt", ";"), ("t.txt", " ")])
def test_the_delimiter_is_detected(tmp_path, name, sep):
    text = sep.join(["size", "color", "label"]) + "\n" + "".join(sep.join(r) + "\n" for r in ROWS)
    t = read_table(write(tmp_path / name, text), "label")
    assert t.columns == ["size", "color"] and t.y.tolist() == ["x", "y", "x"]
    assert t.numbers("size").tolist() == [1.5, 2.5, -3.0] and t.texts("color").tolist() == ["red", "blue", "red"]
    assert t.layout == {"\t": "tab", " ": "space"}.get(sep, repr(sep)) + "-separated"


def test_sep_overrides_detection_and_takes_names(tmp_path):
    path = write(tmp_path / "t.csv", "a;b c\n1,5;2\n3;4\n")  # detected: ';' (',' is not on every line)
    assert read_table(path).columns == ["a", "b c"]
    assert read_table(path, sep="|").columns == ["a;b c"]
    assert read_table(write(tmp_path / "u.csv", "a\tb\n1\t2\n"), sep="tab").columns == ["a", "b"]


def test_quoted_fields_a_bom_and_blank_lines(tmp_path):
    text = '\ufeffname,"note, with comma",y\n"Smith, J.","said ""hi""",1\n\n  Doe ,plain,0\n'
    t = read_table(write(tmp_path / "q.csv", text), "y")
    assert t.columns == ["name", "note, with comma"]  # the BOM is not part of the first name
    assert t.texts("name").tolist() == ["Smith, J.", "Doe"] and t.texts("note, with comma")[0] == 'said "hi"'
    assert t.lines.tolist() == [2, 4]  # the blank line 3 is skipped, and still counted


def test_no_header_names_columns_by_position(tmp_path, capsys):
    path = write(tmp_path / "n.csv", "".join(f"{i / 10 + 1},{3 * i + 7},{i % 2}\n" for i in range(40)))
    t = read_table(path, "2", header=False)
    assert t.columns == ["0", "1"] and t.y.tolist()[:3] == [0, 1, 0] and t.lines[0] == 1
    with pytest.raises(DataError, match="the first line looks like numbers, not names: if the file has no header "
                                        "row, give --no-header"):
        read_table(path, "2")
    assert main(["train", str(path), "--no-header", "--target", "2", "--no-progress", "--epochs", "2"]) == 0
    assert "(','-separated, no header row): 40 rows" in capsys.readouterr().out


def test_decimal_commas_with_semicolons(tmp_path):
    path = write(tmp_path / "d.csv", "a;b;y\n1,5;2;u\n-0,25;3,75;v\n")
    t = read_table(path, "y", decimal=",")
    assert t.numbers("a").tolist() == [1.5, -0.25] and t.numbers("b").tolist() == [2.0, 3.75]
    assert t.layout == "';'-separated, decimal comma"
    with pytest.raises(DataError, match=r"column 'a', line 2: '1,5' is a number with a decimal comma: give "
                                        r"--decimal ,"):
        from xpmlp.app.preprocessing import Preprocessor

        Preprocessor.fit(read_table(path, "y", decimal="."), "classification")
    auto = read_table(path, "y")  # not given: detected (issue 26), with a note
    assert auto.numbers("b").tolist() == [2.0, 3.75] and auto.layout == "';'-separated, decimal comma"
    assert auto.notes == [f"{path}: numbers with a decimal comma (3,14): read as such; give --decimal . if not"]
    with pytest.raises(DataError, match="the delimiter and the decimal mark are both ','"):
        read_table(path, sep=",", decimal=",")


def test_messages_name_the_line_of_the_file(tmp_path):
    path = write(tmp_path / "m.csv", "a,b\n1,2\n\n3,4\n5,oops\n")
    t = read_table(path)
    with pytest.raises(DataError, match=r"m.csv: column 'b', line 5: 'oops' is not a number \(if it marks a gap, "
                                        r"give --na-values 'oops'\)$"):
        t.numbers("b")
    with pytest.raises(DataError, match=r"g.csv: target column 'b', line 3 is missing"):
        read_table(write(tmp_path / "g.csv", "a,b\n1,2\n3,\n"), "b")
    labels = write(tmp_path / "labels.csv", "a,b\n1,None\n3,Mild\n")  # a class named None
    with pytest.raises(DataError, match=r"target column 'b', line 2 is missing \(empty, or a gap marker such as NA, "
                                        r"None; give --no-default-na where such a marker is a label\); drop the rows"):
        read_table(labels, "b")
    assert read_table(labels, "b", default_na=False).y.tolist() == ["None", "Mild"]


def test_unknown_formats_and_undecodable_files(tmp_path):
    with pytest.raises(DataError, match=r"unknown format '.xlsx'; use one of .csv, .tsv, .txt, .npy"):
        read_table(write(tmp_path / "t.xlsx", "x"))
    with pytest.raises(DataError, match=r"l1.csv: not utf-8 text \(invalid continuation byte at byte 10\); give the "
                                        r"file's encoding with --encoding \(e.g. --encoding cp1252"):
        read_table(write(tmp_path / "l1.csv", "name,y\nJos\u00e9,1\n", encoding="latin-1"), encoding="utf-8")


def test_without_pandas_one_line_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    path = write(tmp_path / "t.csv", "a,y\n1,2\n")
    with pytest.raises(SystemExit) as exc:
        main(["train", str(path), "--target", "y"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err == ("xpmlp: error: reading .csv, .tsv and .txt files needs pandas: "
                                           "pip install 'xpmlp[tables]'\n")
    np.save(tmp_path / "t.npy", np.arange(6.0).reshape(3, 2))
    assert read_table(tmp_path / "t.npy", 1).y.tolist() == [1, 3, 5]  # binary formats need no pandas


def test_import_xpmlp_needs_no_pandas():
    import subprocess

    code = "import sys; sys.modules['pandas'] = None\nimport xpmlp, xpmlp.app.cli\nprint('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
