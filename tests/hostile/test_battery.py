"""The hostile-input battery's quick subset (battery.py --fast, the cases this branch handles:
model-file limits, table limits, deep metadata) ends every case handled; and the battery's
judge tells a clean error, a traceback and a destroyed input apart."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import battery  # noqa: E402
from cases import CLEAN, CORRECT, Case  # noqa: E402

pytest.importorskip("pandas", reason="the battery's tables need pandas")


def test_the_quick_subset_is_handled(capsys):
    cases = [c for c in battery.CASES if c.fast and c.owner == "bounds"]
    assert len(cases) >= 6
    results = battery.run(cases)
    report = capsys.readouterr().out
    assert all(outcome != "FAIL" for _, outcome, _, _ in results), report
    assert report.count(CLEAN) == len(cases), report


def test_the_judge_tells_outcomes_apart(tmp_path):
    case = Case("x", "s", (CLEAN,), lambda d: [], lambda d, o, e: "gone" if "lost" in o else None)
    assert battery.judge(case, tmp_path, 2, "", "xpmlp: error: bad file\n") == (CLEAN, "xpmlp: error: bad file")
    assert battery.judge(case, tmp_path, 1, "", "Traceback (most recent call last):\nKeyError: 1\n")[0] == "FAIL"
    assert battery.judge(case, tmp_path, 2, "lost", "xpmlp: error: bad\n")[0] == "FAIL"
    assert battery.judge(case, tmp_path, 0, "", "")[0] == "FAIL"  # exit 0 where an error was due
    correct = Case("y", "s", (CORRECT,), lambda d: [], lambda d, o, e: 1 / 0)
    assert battery.judge(correct, tmp_path, 0, "", "")[1].startswith("ZeroDivisionError")
