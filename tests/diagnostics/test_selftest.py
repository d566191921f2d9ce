"""``xpmlp selftest``: it runs here, reports NumPy, torch and array-api-strict, agrees, writes its
JSON report, states its tolerances, says that no GPU was found, and fails loudly when a fast path
disagrees (blaming that backend alone) or when asked for a backend that is not there."""

from __future__ import annotations

import json

import numpy as np
import pytest

import xpmlp
from xpmlp.backends import fastpaths
from xpmlp.app.cli import main as cli_main
from xpmlp.diagnostics.parity import compare_fast_path
from xpmlp.diagnostics.selftest import TOLERANCE, selftest

from conftest import RTOL, RTOL_TRAJECTORY


def test_selftest_reports_every_backend_here_and_agrees(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("array_api_strict")
    path = tmp_path / "report.json"
    assert cli_main(["selftest", "--quick", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "all backends agree" in out
    assert "float32 1e-05 one pass, 1e-04 after 50 steps" in out  # the tolerances, stated
    report = json.loads(path.read_text())
    names = {c["backend"].split(":")[0] for c in report["cases"]}
    assert {"numpy", "torch", "array_api_strict"} <= names
    assert report["ok"] is True and report["versions"]["numpy"] == np.__version__
    assert report["tolerance"]["float32"] == {"one_pass": RTOL["float32"], "trajectory": RTOL_TRAJECTORY["float32"]}
    for case in report["cases"]:
        assert case["ok"] and set(case["errors"]) == {"forward", "delta", "gradient", "trajectory"}
        assert case["seconds_per_epoch"] > 0
    if not report["gpu_found"]:
        assert "no GPU was found" in out and any("cupy" in n for n in report["notes"])


def test_a_disagreeing_fast_path_fails_the_selftest(monkeypatch):
    fp = fastpaths._REGISTRY[("relu.delta", "numpy")]

    def broken(xp, g, z, a, scratch=None):
        return g * 1.001  # off by 0.1%: far beyond float32's 1e-5

    monkeypatch.setitem(fastpaths._REGISTRY, ("relu.delta", "numpy"),
                        fastpaths.FastPath(fp.name, fp.backend, broken))
    report = selftest(["numpy"], quick=True, echo=False)
    assert not report["ok"]
    assert report["cases"][0]["fast_paths"]["relu.delta"] > 1e-5
    assert cli_main(["selftest", "--quick", "--backend", "numpy"]) == 1


def test_compare_fast_path_notices_an_update_that_moves_nothing(monkeypatch):
    be = xpmlp.resolve("numpy", dtype="float64")
    lazy = fastpaths.FastPath("sgd.update", "numpy", lambda params, grads, lr: None)
    with pytest.raises(AssertionError, match="left an array unchanged"):
        compare_fast_path(lazy, be)
    assert np.isfinite(compare_fast_path(fastpaths._REGISTRY[("softmax.forward", "numpy")], be))


def test_the_tolerances_are_the_test_suites():
    assert TOLERANCE == {k: (RTOL[k], RTOL_TRAJECTORY[k]) for k in RTOL}


def test_a_broken_numpy_fast_path_is_blamed_on_numpy_alone(monkeypatch):
    """The reference runs the generic code, so the other backends still agree with it."""
    pytest.importorskip("array_api_strict")
    fp = fastpaths._REGISTRY[("relu.delta", "numpy")]
    monkeypatch.setitem(fastpaths._REGISTRY, ("relu.delta", "numpy"), fastpaths.FastPath(
        fp.name, fp.backend, lambda xp, g, z, a, scratch=None: g * 1.001 * (a > 0)))
    report = selftest(["numpy", "array_api_strict:device1"], quick=True, echo=False)
    verdict = {c["backend"]: c["ok"] for c in report["cases"]}
    assert verdict == {"numpy:cpu float32": False, "array_api_strict:device1 float32": True}
    assert report["cases"][0]["errors"]["gradient"] > 1e-5  # the network uses it: its gradients are off too


def test_backend_names_are_checked(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["selftest", "--backend", "troch"])
    assert exit_.value.code == 2
    assert "unknown backend troch" in capsys.readouterr().err
    if xpmlp.available_backends()["cupy"] != "ok":  # asked for, not here: a failure, with the reason
        report = selftest(["numpy", "cupy"], quick=True, echo=False)
        assert not report["ok"] and any(n.startswith("cupy: asked for") for n in report["notes"])


def test_xpmlp_selftest_is_the_function():
    assert xpmlp.selftest is selftest and "selftest" in xpmlp.__all__


def test_readme_selftest_command_parses():
    import re
    from pathlib import Path

    from xpmlp.app.cli import build_parser

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## GPU users: run `xpmlp selftest` first", 1)[1].split("\n## ", 1)[0]
    args = build_parser().parse_args(re.search(r"```bash\n(?:\.venv/bin/)?xpmlp (.+?)\n```", section).group(1).split())
    assert args.command == "selftest" and args.json == "selftest.json"


def test_mixed_precision_is_checked_where_torch_offers_it():
    pytest.importorskip("torch")
    from xpmlp.diagnostics.selftest import MIXED_TOLERANCE, format_report, selftest

    report = selftest(["torch"], quick=True, echo=False)
    mixed = {m["backend"]: m for m in report["mixed_precision"]}
    assert set(mixed) == {"torch:cpu float32 + bfloat16", "torch:cpu float32 + float16"}
    for m in mixed.values():
        assert 0 < m["gradient"] <= m["tolerance"] == MIXED_TOLERANCE[m["backend"].split(" + ")[1]]
    assert "mixed precision torch:cpu float32 + float16: gradient off float32's by" in format_report(report)


def test_a_mixed_precision_failure_fails_the_selftest(monkeypatch):
    pytest.importorskip("torch")
    import importlib

    module = importlib.import_module("xpmlp.diagnostics.selftest")  # the module (the package exports the function)

    def broken(be, compute_dtype):
        raise RuntimeError(f"no {compute_dtype} GEMM on this device")

    monkeypatch.setattr(module, "_check_mixed", broken)
    report = module.selftest(["torch"], quick=True, echo=False)
    assert not report["ok"]
    text = module.format_report(report)
    assert "mixed precision torch:cpu + bfloat16: FAILED: RuntimeError: no bfloat16 GEMM on this device" in text
    assert text.endswith("SELFTEST FAILED: see the rows above")
