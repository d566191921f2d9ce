"""Columns of dates and times become numbers (issue 26, item 2): each form, the day-first /
month-first rule, --date and --no-dates, the form kept in the model, and ONNX export refusing."""

from __future__ import annotations

import numpy as np
import pytest

from xpmlp.app import dates
from xpmlp.app.cli import main
from xpmlp.app.features import Feature, learn_feature
from xpmlp.app.preprocessing import Preprocessor
from xpmlp.app.tables import DataError, Table, read_table

pytest.importorskip("pandas")

TRAIN = ["--no-progress", "--epochs", "2"]
FRI = 19783.0  # 2024-03-01, a Friday: days since 1970-01-01


@pytest.mark.parametrize("cells, form, first", [
    (["2024-03-01", "2024-03-02"], "YYYY-MM-DD", [FRI, 2024, 3, 1, 4]),
    (["2024-03-01T12:00:00", "2024-03-02T00:00:00"], "YYYY-MM-DD time", [FRI + 0.5, 2024, 3, 1, 4, 12]),
    (["2024-03-01 12:00", "2024-03-02"], "YYYY-MM-DD time", [FRI + 0.5, 2024, 3, 1, 4, 12]),
    (["2024-03-01T12:30:00.5Z", None], "YYYY-MM-DD time", [FRI + 45000.5 / 86400, 2024, 3, 1, 4,
                                                           12.5 + 0.5 / 3600]),
    (["2024-03-01T14:00:00+02:00", "2024-03-01T11:00:00-0100"], "YYYY-MM-DD time", [FRI + 0.5, 2024, 3, 1, 4, 12]),
    (["01.03.2024", "31.12.2023"], "DD.MM.YYYY", [FRI, 2024, 3, 1, 4]),
    (["1.3.2024 12:00", "31.12.2023"], "DD.MM.YYYY time", [FRI + 0.5, 2024, 3, 1, 4, 12]),
    (["01-03-2024", "13-03-2024"], "DD-MM-YYYY", [FRI, 2024, 3, 1, 4]),
    (["01/03/2024", "13/03/2024"], "DD/MM/YYYY", [FRI, 2024, 3, 1, 4]),  # a first number over 12: day first
    (["03/01/2024", "03/13/2024"], "MM/DD/YYYY", [FRI, 2024, 3, 1, 4]),  # a second number over 12: month first
    (["03/01/2024", "04/01/2024"], "MM/DD/YYYY", [FRI, 2024, 3, 1, 4]),  # undecided: month first
], ids=["iso", "iso-T", "iso-space-minutes", "iso-Z-fraction", "iso-zones", "dotted", "dotted-time", "dashed",
        "day-first", "month-first", "ambiguous"])
def test_each_form_is_recognised_and_becomes_numbers(cells, form, first):
    assert dates.detect(cells) == form
    days, bad = dates.parse(cells, form)
    assert bad.size == 0
    np.testing.assert_allclose(dates.parts(days[:1], form)[0], first, rtol=0, atol=1e-6)
    assert len(dates.part_names("d", form)) == len(first)


@pytest.mark.parametrize("cells", [["2024-02-31"], ["2024-03-01", "x"], ["2024-03-01", "01.03.2024"],
                                   ["13/13/2024"], ["2024-03-01 25:00"], [None], ["2024"], ["01.03.24"]])
def test_what_is_not_a_date_column(cells):
    assert dates.detect(cells) is None


def _table(cells):
    return Table(np.array(cells, dtype=object).reshape(-1, 1), ["d"], source="t.csv", lines=np.arange(2, len(cells) + 2))


def test_a_date_feature_fills_gaps_and_round_trips():
    t = _table(["2024-03-01", None, "2024-03-03", "2024-03-05"])
    f, note = learn_feature(t, "d")
    assert f.kind == "date" and f.form == "YYYY-MM-DD" and f.fill == FRI + 2 and f.indicator
    assert note == ("dates (YYYY-MM-DD) as numbers: 'd days since 1970', 'd year', 'd month', 'd day', 'd weekday'; "
                    "1 gap(s) filled with the median 19785.0, marked in 'd missing'")
    np.testing.assert_array_equal(f.encode(t)[1], [FRI + 2, 2024, 3, 3, 6, 1])
    assert Feature.from_dict(f.to_dict()) == f
    assert f.describe() == ("'d': date (YYYY-MM-DD) as 5 numbers ('d days since 1970', 'd year', 'd month', 'd day', "
                            "'d weekday'); gaps filled with 19785.0 (days since 1970), marked in 'd missing'")
    with pytest.raises(DataError, match=r"t.csv: column 'd', line 3: '2024-13-01' is not a date in the form YYYY-MM-DD"):
        f.encode(_table(["2024-03-01", "2024-13-01"]))
    with pytest.raises(ValueError, match="feature 'd'"):
        Feature.from_dict({**f.to_dict(), "form": "YY"})


def test_forms_given_found_refused_and_ambiguity_noted():
    t = _table(["03/01/2024", "04/02/2024 10:00"])
    f, note = learn_feature(t, "d")
    assert f.form == "MM/DD/YYYY time" and "(no day is over 12: read month first; give --date d=DD/MM/YYYY if the " \
                                           "day comes first)" in note
    g, _ = learn_feature(t, "d", date="DD/MM/YYYY")
    assert g.form == "DD/MM/YYYY time" and g.encode(t)[0, 2] == 1  # January
    assert learn_feature(t, "d", date=False)[0].kind == "category"
    with pytest.raises(DataError, match=r"--date d=YYYY: unknown form; use one of YYYY-MM-DD, DD.MM.YYYY"):
        learn_feature(t, "d", date="YYYY")
    with pytest.raises(DataError, match=r"t.csv: --date d: the column is not dates in one of the forms YYYY-MM-DD, "):
        learn_feature(_table(["a", "b"]), "d", date=True)
    assert learn_feature(_table([None, "2024-03-01"]), "d", date="YYYY-MM-DD")[0].form == "YYYY-MM-DD"


def test_a_column_of_gaps_given_as_dates_is_dropped():
    t = Table(np.array([[None, 1.0], [None, 2.0]], dtype=object), ["d", "x"])
    assert learn_feature(t, "d", date="YYYY-MM-DD") == (None, "no values")


def write_dated(path, n=60, form="%d.%m.%Y"):
    day = np.datetime64("2023-01-01")
    rows = []
    for i in range(n):
        d = (day + 5 * i).astype(object)
        rows.append(f"{d.strftime(form)},{i % 3},{'ab'[(i // 7) % 2]}")
    path.write_text("when,x,y\n" + "\n".join(rows) + "\n")
    return path


def test_train_predict_info_with_a_date_column(tmp_path, capsys):
    path, model = write_dated(tmp_path / "d.csv"), tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    out = capsys.readouterr().out
    assert "note: column 'when': dates (DD.MM.YYYY) as numbers: 'when days since 1970', 'when year'" in out
    assert out.index("note: column 'when'") < out.index("epochs (")  # before training
    assert main(["predict", str(model), str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 61
    assert main(["info", str(model)]) == 0
    assert "column 'when': date (DD.MM.YYYY) as 5 numbers" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace("01.01.2023", "31.02.2023"))
    with pytest.raises(SystemExit):
        main(["predict", str(model), str(bad)])
    assert "column 'when', line 2: '31.02.2023' is not a date in the form DD.MM.YYYY" in capsys.readouterr().err


def test_no_dates_and_date_options(tmp_path, capsys):
    path = write_dated(tmp_path / "d.csv", form="%m/%d/%Y")
    assert main(["train", str(path), "--target", "y", "--no-dates", *TRAIN]) == 0
    assert "column 'when' dropped: a different text in every row (an ID)" in capsys.readouterr().out
    assert main(["train", str(path), "--target", "y", "--date", "when=MM/DD/YYYY", *TRAIN]) == 0
    assert "column 'when': dates (MM/DD/YYYY)" in capsys.readouterr().out
    assert main(["train", str(path), "--target", "y", "--date", "when", *TRAIN]) == 0
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--date", "x", *TRAIN])
    assert "--date x: the column is not dates" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(path), "--target", "y", "--date", "nope", *TRAIN])
    assert "no column 'nope'" in capsys.readouterr().err


def test_onnx_export_refuses_a_model_with_dates_in_one_line(tmp_path, capsys):
    path, model = write_dated(tmp_path / "d.csv"), tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "y", "--save", str(model), *TRAIN]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["export", str(model), str(tmp_path / "m.onnx")])
    assert exc.value.code == 2 and capsys.readouterr().err.endswith(
        "xpmlp: error: ONNX export does not read dates; the model has date column(s) 'when' (train with --no-dates, "
        "or with those columns' numbers in the file, to export)\n")
    assert not (tmp_path / "m.onnx").exists()


def test_parquet_timestamps_and_dates_are_date_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import datetime

    start = datetime.datetime(2024, 3, 1, 12)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"when": [start + datetime.timedelta(days=i) for i in range(30)],
                             "day": [start.date() + datetime.timedelta(days=i) for i in range(30)],
                             "y": [i % 2 for i in range(30)]}), path)
    pre = Preprocessor.fit(read_table(path, "y"), "classification")
    assert [f.form for f in pre.features] == ["YYYY-MM-DD time", "YYYY-MM-DD"]
    np.testing.assert_array_equal(pre.features[0].encode(read_table(path, "y"))[0], [FRI + 0.5, 2024, 3, 1, 4, 12])
