"""No command destroys its inputs or leaves a partial file: every output that is (or links to) an
input is refused before any work, outputs are checked before training, model and table paths
that are not regular files are refused, and ``predict -o`` writes whole or not at all."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from xpmlp.app import commands
from xpmlp.app.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(directory, data.csv, model.npz)``: a small classification table and a model trained on it."""
    d = tmp_path_factory.mktemp("outputs")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    rows = [f"{a:.6f},{b:.6f},{'yes' if a > 0 else 'no'}" for a, b in X]
    (d / "data.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    assert main(["train", str(d / "data.csv"), "--target", "label", "--hidden", "4", "--epochs", "2", "--no-progress",
                 "--save", str(d / "m.npz")]) == 0
    return d, d / "data.csv", d / "m.npz"


def refused(argv, capsys, message):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and err == f"xpmlp: error: {message}\n"
    return out


def contents(*paths):
    return [p.read_bytes() for p in paths]


def test_predict_refuses_to_write_onto_its_data_or_model(trained, tmp_path, capsys):
    d, data, model = trained
    before = contents(data, model)
    refused(["predict", model, data, "-o", data], capsys, f"-o {data} would overwrite the input {data}; give another "
            "output path")
    refused(["predict", model, data, "-o", model], capsys, f"-o {model} would overwrite the input {model}; give "
            "another output path")
    (tmp_path / "link.csv").symlink_to(data)
    refused(["predict", model, data, "-o", tmp_path / "link.csv"], capsys, f"-o {tmp_path / 'link.csv'} would "
            f"overwrite the input {data}; give another output path")
    assert contents(data, model) == before


def test_train_refuses_save_or_plot_onto_its_data_before_training(trained, capsys):
    d, data, _ = trained
    before = contents(data)
    for option in ("--save", "--plot"):
        out = refused(["train", data, "--target", "label", "--epochs", "1", option, data], capsys,
                      f"{option} {data} would overwrite the input {data}; give another output path")
        assert "epochs" not in out  # refused before training
    assert contents(data) == before


def test_train_checks_the_save_directory_before_training(trained, tmp_path, capsys):
    d, data, _ = trained
    out = refused(["train", data, "--target", "label", "--epochs", "1", "--save", tmp_path / "no" / "m.npz"], capsys,
                  f"--save {tmp_path / 'no' / 'm.npz'}: the directory {tmp_path / 'no'} does not exist")
    assert "epochs" not in out


def test_export_refuses_to_write_over_its_model(trained, capsys):
    d, _, model = trained
    before = contents(model)
    refused(["export", model, model], capsys, f"output {model} would overwrite the input {model}; give another "
            "output path")
    assert contents(model) == before


def test_selftest_checks_its_report_path_first(tmp_path, capsys):
    refused(["selftest", "--quick", "--backend", "numpy", "--json", tmp_path / "no" / "r.json"], capsys,
            f"--json {tmp_path / 'no' / 'r.json'}: the directory {tmp_path / 'no'} does not exist")


def test_model_and_table_paths_that_are_not_regular_files_are_refused(trained, tmp_path, capsys):
    d, data, model = trained
    os.mkfifo(tmp_path / "pipe")
    refused(["predict", tmp_path / "pipe", data], capsys, f"{tmp_path / 'pipe'}: is a named pipe (FIFO), not a "
            "model file")
    refused(["predict", model, tmp_path / "pipe"], capsys, f"{tmp_path / 'pipe'}: is a named pipe (FIFO), not a "
            "data file")
    refused(["evaluate", model, "/dev/zero"], capsys, "/dev/zero: is a character device, not a data file")
    refused(["train", tmp_path, "--target", "y"], capsys, f"{tmp_path}: is a directory, not a data file")
    refused(["info", tmp_path], capsys, f"{tmp_path}: is a directory, not a model file")


def test_predict_onto_a_full_disk_leaves_no_file(trained, tmp_path, capsys, monkeypatch):
    d, data, model = trained

    def full_disk(f, header, rows):
        f.write(b"row,predicted\n1,")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(commands, "_write_csv", full_disk)
    out = tmp_path / "p.csv"
    refused(["predict", model, data, "-o", out], capsys, f"[Errno {errno.ENOSPC}] cannot write {out}: No space left "
            "on device")
    assert os.listdir(tmp_path) == []  # neither a partial file nor a temporary one
    out.write_text("earlier predictions\n")
    refused(["predict", model, data, "-o", out], capsys, f"[Errno {errno.ENOSPC}] cannot write {out}: No space left "
            "on device")
    assert out.read_text() == "earlier predictions\n" and os.listdir(tmp_path) == ["p.csv"]


def test_predict_keeps_the_permissions_of_the_file_it_replaces(trained, tmp_path, capsys):
    d, data, model = trained
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    os.chmod(out, 0o600)
    assert main(["predict", str(model), str(data), "-o", str(out)]) == 0
    assert out.read_text().startswith("row,predicted_label\n1,") and os.stat(out).st_mode & 0o777 == 0o600


def test_training_curves_are_written_in_the_format_their_name_gives(trained, tmp_path):
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib: pip install 'xpmlp[plot]'")
    from xpmlp.app import plotting
    from xpmlp.history import History

    d, data, _ = trained
    assert main(["train", str(data), "--target", "label", "--hidden", "4", "--epochs", "2", "--no-progress",
                 "--plot", str(tmp_path / "c.svg")]) == 0
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()
    history = History()
    history.loss, history.learning_rate = [1.0, 0.5], [0.1, 0.1]
    plotting.plot_history(history, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_selftest_writes_its_json_report_whole(tmp_path, capsys):
    import json

    from xpmlp.diagnostics.selftest import selftest

    assert main(["selftest", "--quick", "--backend", "numpy", "--json", str(tmp_path / "r.json")]) in (0, 1)
    assert os.listdir(tmp_path) == ["r.json"] and "cases" in json.loads((tmp_path / "r.json").read_text())
    report = selftest(["numpy"], str(tmp_path / "lib.json"), quick=True, echo=False)  # the library writes it too
    assert json.loads((tmp_path / "lib.json").read_text())["ok"] == report["ok"]
