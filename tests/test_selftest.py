"""``xpmlp selftest``: it runs here, reports NumPy, torch and array-api-strict, agrees, writes its
JSON report, says that no GPU was found, and fails loudly when a fast path disagrees."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xpmlp
from xpmlp import fastpaths
from xpmlp.cli import main as cli_main
from xpmlp.selftest import compare_fast_path, selftest


def test_selftest_reports_every_backend_here_and_agrees(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("array_api_strict")
    path = tmp_path / "report.json"
    assert cli_main(["selftest", "--quick", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all backends agree" in out
    report = json.loads(path.read_text())
    names = {c["backend"].split(":")[0] for c in report["cases"]}
    assert {"numpy", "torch", "array_api_strict"} <= names
    for case in report["cases"]:
        assert case["ok"] and set(case["errors"]) == {"forward", "delta", "gradient", "trajectory"}
        assert case["seconds_per_epoch"] > 0
    if not report["gpu_found"]:
        assert "no GPU was found" in out and any("cupy" in n for n in report["notes"])


def test_a_disagreeing_fast_path_fails_the_selftest(monkeypatch):
    fp = fastpaths._REGISTRY[("relu.delta", "numpy")]

    def broken(xp, g, z, a):
        return g * 1.001  # off by 0.1%: far beyond float32's 1e-5

    monkeypatch.setitem(fastpaths._REGISTRY, ("relu.delta", "numpy"),
                        fastpaths.FastPath(fp.name, fp.backend, broken, fp.generic, fp.example))
    report = selftest(["numpy"], quick=True, echo=False)
    assert not report["ok"]
    assert report["cases"][0]["fast_paths"]["relu.delta"] > 1e-5
    assert cli_main(["selftest", "--quick", "--backend", "numpy"]) == 1


def test_compare_fast_path_notices_an_update_that_moves_nothing(monkeypatch):
    fp = fastpaths._REGISTRY[("sgd.update", "torch")] if ("sgd.update", "torch") in fastpaths._REGISTRY else None
    be = xpmlp.resolve("numpy", dtype="float64")
    lazy = fastpaths.FastPath("sgd.update", "numpy", lambda params, grads, lr: None,
                              lambda params, grads, lr: None, fp.example if fp else None,
                              lambda args, returned: args[0])
    if fp is None:
        pytest.skip("needs the registered torch SGD example")
    with pytest.raises(AssertionError, match="left an array unchanged"):
        compare_fast_path(lazy, be)
    assert np.isfinite(compare_fast_path(fastpaths._REGISTRY[("softmax.forward", "numpy")], be))
