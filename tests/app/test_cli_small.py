"""The small things of issue 19 (item 5): help shows each default once, the backend is checked
before any file is read, and selftest says so when nothing it was asked for exists."""

from __future__ import annotations

import pytest

import xpmlp
from xpmlp.app.cli import main


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: True)" not in text
    assert "(default: [])" not in text and "(default: 0)" in text  # --seed 0: a default, though 0 == False
    assert "(default: digits when no data file is given)" in text and text.count("(default: digits") == 1
    assert "(default: 100)" in text and "(default: adam)" in text


@pytest.mark.parametrize("command", [["train", "missing.csv", "--target", "y"], ["predict", "m.npz", "missing.csv"],
                                     ["evaluate", "m.npz", "missing.csv"], ["export", "m.npz", "m.onnx"]])
def test_the_backend_is_checked_before_any_file_is_read(command, capsys):
    for backend, message in (("jax", "unknown backend 'jax'"), ("cupy", "CuPy")):
        if backend == "cupy" and xpmlp.available_backends()["cupy"] == "ok":
            continue  # available here: nothing to refuse
        with pytest.raises(SystemExit) as exc:
            main([*command, "--backend", backend])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "missing.csv" not in err and "m.npz" not in err


def test_selftest_says_when_nothing_asked_for_exists(capsys):
    if xpmlp.available_backends()["cupy"] == "ok":
        pytest.skip("CuPy runs here")
    assert main(["selftest", "--backend", "cupy", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "see the rows above" not in out and "forward" not in out  # no table header above no rows
    assert out.rstrip().endswith("SELFTEST FAILED: nothing was tested: cupy is not available here "
                                 "(see the notes above)")
    assert "note: cupy: asked for, but not available here (the note on cupy above says why)" in out
    assert main(["selftest", "--backend", "cupy", "numpy", "--quick"]) == 1
    assert capsys.readouterr().out.rstrip().endswith(
        "SELFTEST FAILED: cupy asked for but not available here (see the notes above); the backends tested agree "
        "with NumPy float64")
