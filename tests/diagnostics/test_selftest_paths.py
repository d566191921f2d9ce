"""``xpmlp selftest`` on GPUs (the CuPy and torch-CUDA stand-ins: the devices found, their names, CUDA
events timing the run), what it says when a library is missing or has no CUDA, and how a backend
that cannot run or that crashes is reported (a note, a FAILED row, exit status 1)."""

from __future__ import annotations

import importlib
import sys

import pytest

from standins import cupy_standin

selftest_module = importlib.import_module("xpmlp.diagnostics.selftest")  # the package exports the function


def test_the_selftest_finds_times_and_names_the_gpus_of_the_standins():
    pytest.importorskip("torch")
    from standins import torch_cuda

    with cupy_standin() as cupy, torch_cuda.torch_cuda():
        found, notes = selftest_module.discover()
        report = selftest_module.selftest(["cupy:1", "torch:cuda:1"], quick=True, echo=False)
        cupy_waits = cupy._standin.SYNCS["Event.synchronize"]
        torch_waits = torch_cuda.SYNCS["Event.synchronize"]
    assert {("cupy", "0"), ("cupy", "1"), ("torch", "cuda:0"), ("torch", "cuda:1")} <= set(found)
    assert not any(n.startswith(("torch", "cupy")) for n in notes)  # both have CUDA here
    cases = {c["backend"]: c for c in report["cases"]}
    assert set(cases) == {"cupy:1 float32", "torch:cuda:1 float32"}
    assert cases["cupy:1 float32"]["device_name"] == "xpmlp CuPy stand-in GPU 1"  # the runtime's bytes, decoded
    assert cases["torch:cuda:1 float32"]["device_name"] == "xpmlp torch-CUDA stand-in"
    for case in cases.values():
        assert case["ok"] and case["seconds_per_epoch"] > 0
    # each timer waits on its end event: twice per timed run (start and end), once per library
    assert cupy_waits == 2 and torch_waits == 2
    assert report["gpu_found"] and report["ok"]
    assert {m["backend"] for m in report["mixed_precision"]} == {
        "cupy:1 float32 + bfloat16", "cupy:1 float32 + float16", "torch:cuda:1 float32 + bfloat16",
        "torch:cuda:1 float32 + float16"}
    assert all(m["ok"] for m in report["mixed_precision"]), report["mixed_precision"]
    assert not any("no GPU was found" in n for n in report["notes"])


def test_the_selftest_leaves_out_bfloat16_on_a_cupy_before_14(monkeypatch):
    with cupy_standin() as cupy:
        monkeypatch.setattr(cupy, "__version__", "13.6.0")
        report = selftest_module.selftest(["cupy:1"], quick=True, echo=False)
    assert [m["backend"] for m in report["mixed_precision"]] == ["cupy:1 float32 + float16"]


def test_discover_says_why_torch_has_no_cuda(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    found, notes = selftest_module.discover()
    assert ("torch", "cpu") in found and not any(lib == "torch" and dev != "cpu" for lib, dev in found)
    assert f"torch {torch.__version__}: built for CUDA 12.4, but torch.cuda.is_available() is False " \
           "(no driver or no device)" in notes


def test_discover_says_which_libraries_are_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    monkeypatch.setitem(sys.modules, "array_api_strict", None)
    found, notes = selftest_module.discover()
    assert {lib for lib, _ in found} <= {"numpy", "cupy"}
    assert "torch: not installed" in notes and "array_api_strict: not installed" in notes


def test_a_device_without_float64_is_noted_and_a_crashing_backend_is_a_failed_row(monkeypatch, capsys):
    """``xpmlp selftest`` (its own ``main``): float64 on array-api-strict's ``no_float64`` device cannot
    be made (a note, not a row); a backend whose check raises is a FAILED row, and the exit status is 1."""
    pytest.importorskip("array_api_strict")

    def crash(be, refs, quick=False):
        raise RuntimeError(f"{be.describe()} lost its device")

    monkeypatch.setattr(selftest_module, "_check_case", crash)
    assert selftest_module.main(["--backend", "array_api_strict:no_float64"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("array_api_strict:no_float64 float32"))
    assert row.endswith("FAILED: RuntimeError: array_api_strict:no_float64 float32 lost its device")
    assert "note: array_api_strict:no_float64 float64: float64 is not supported on array_api_strict device" in out
    assert out.rstrip().endswith("SELFTEST FAILED: see the rows above")
