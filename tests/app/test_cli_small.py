"""The small things of issue 19 (item 5): selftest says so when nothing it was asked for exists."""

from __future__ import annotations

import pytest

import xpmlp
from xpmlp.app.cli import main


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
