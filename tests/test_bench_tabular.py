"""bench/tabular.py on one small table: the same splits for every contender, one JSON line per fit,
a rerun skips what is done, and the report ranks the contenders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_tabular_benchmark_on_iris(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "r.jsonl"
    argv = [sys.executable, str(ROOT / "bench" / "tabular.py"), "--tables", "iris", "--seeds", "2",
            "--contenders", "xpmlp-cli,sklearn-mlp", "--out", str(out), "--recipe", '{"epochs": 5}']
    env = {"PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    first = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["seed"], r["contender"]) for r in rows] == [(0, "xpmlp-cli"), (0, "sklearn-mlp"),
                                                           (1, "xpmlp-cli"), (1, "sklearn-mlp")]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["log_loss"] > 0 and r["fit_s"] > 0 for r in rows)
    assert "average rank (1 is best)" in first.stdout and "| xpmlp-cli |" in first.stdout
    again = subprocess.run(argv + ["--plot", str(tmp_path / "p.png")], capture_output=True, text=True, env=env,
                           check=True)
    assert len(out.read_text().splitlines()) == 4 and (tmp_path / "p.png").stat().st_size > 0  # nothing rerun
    assert '"contender"' not in again.stdout


def test_tabular_tables_split_the_same_for_everyone():
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from tabular_data import load, splits
    finally:
        sys.path.remove(str(ROOT / "bench"))
    X, y, task = load("wine")
    a, b = splits(y, task, 3), splits(y, task, 3)
    assert task == "classification" and len(a) == 3
    for (tr, te), (tr2, te2) in zip(a, b):
        assert (tr == tr2).all() and (te == te2).all() and len(te) == 45  # ceil(0.25 * 178), as scikit-learn rounds
        assert sorted([*tr, *te]) == list(range(len(y)))
