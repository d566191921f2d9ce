"""Tables as R, Excel and a database write them train, predict and evaluate with no flags beyond
--target (issue 26, "done when"): R's write.csv (row names, quoted text, NA), an Excel export
(';', decimal commas, #N/A, Windows-1252, dd.mm.yyyy dates, CRLF, a row number sorted by class),
a database dump (NULL, ISO timestamps, an integer ID, gzip-compressed)."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from xpmlp.app.cli import main

pytest.importorskip("pandas")

N = 160


def _data():
    rng = np.random.default_rng(0)
    x, group = rng.normal(size=N), rng.choice(["a", "b", "c"], N)
    y = np.where(x + (group == "a") > 0.3, "yes", "no")
    days = rng.integers(0, 700, N)
    return x, group, y, days


def r_csv(path):
    x, group, y, _ = _data()
    rows = ['"","x","group","y"']
    rows += [f'"{i + 1}",{"NA" if i % 17 == 5 else f"{x[i]:.4f}"},{"NA" if i % 29 == 7 else chr(34) + group[i] + chr(34)},'
             f'"{y[i]}"' for i in range(N)]
    path.write_text("\n".join(rows) + "\n")
    return path, "y"


def excel_csv(path):
    x, group, y, days = _data()
    rows = ["Probe_Nr;Name;Gewicht;Datum;Klasse"]
    for k, i in enumerate(np.argsort(y, kind="stable")):  # numbered after sorting by class
        date = (np.datetime64("2023-01-01") + int(days[i])).astype(object).strftime("%d.%m.%Y")
        weight = "#N/A" if i % 13 == 2 else f"{x[i] * 10 + 50:.2f}".replace(".", ",")
        rows.append(f"{k + 1};{['Müller', 'Straße', 'Zoë'][i % 3]};{weight};{date};{y[i]}")
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    return path, "Klasse"


def db_dump(path):
    x, group, y, days = _data()
    rows = ["id,created_at,amount,status,label"]
    for i in range(N):
        stamp = str(np.datetime64("2024-01-01T00:00") + int(days[i]) * 1440 + 37 * i).replace("T", " ")
        rows.append(f"{1000 + 7 * i},{stamp}:00,{'NULL' if i % 11 == 4 else f'{x[i] * 100:.2f}'},"
                    f"{'NULL' if i % 19 == 1 else group[i]},{y[i]}")
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path, "label"


@pytest.mark.parametrize("make, name, expected", [  # expected: regular expressions
    (r_csv, "r.csv", ["column 'Unnamed: 0' looks like row numbers", r"column 'x': \d+ gap\(s\) filled",
                      r"column 'group': 3 categories, one-hot encoded; \d+ gap"]),
    (excel_csv, "excel.csv", [r"read as Windows-1252 \(cp1252\)", "numbers with a decimal comma",
                              "column 'Probe_Nr' looks like row numbers", r"column 'Datum': dates \(DD\.MM\.YYYY\)",
                              r"column 'Gewicht': \d+ gap"]),
    (db_dump, "db.csv.gz", ["column 'id' looks like row numbers", r"column 'created_at': dates \(YYYY-MM-DD hh:mm\)",
                            r"column 'amount': \d+ gap",
                            r"column 'status': 3 categories, one-hot encoded; \d+ gap"]),
], ids=["R", "Excel", "database"])
def test_tables_as_they_come_train_predict_and_evaluate(tmp_path, capsys, make, name, expected):
    path, target = make(tmp_path / name)
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", target, "--save", str(model), "--no-progress", "--epochs", "30"]) == 0
    out = capsys.readouterr().out
    start = out.index("model: MLP")  # the decisions come before training
    for note in [r"note: task: classification \(2 distinct text labels -> classes\)", *expected]:
        assert re.search(note, out[:start]), note
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.7
    assert main(["predict", str(model), str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == N + 1 and lines[0].endswith(f",predicted_{target}")
    assert lines[0].split(",")[0] != "row"  # the ID column (row names, Probe_Nr, id) is kept
    assert main(["evaluate", str(model), str(path)]) == 0
    assert float(capsys.readouterr().out.split("accuracy: ")[1].split()[0]) > 0.7
