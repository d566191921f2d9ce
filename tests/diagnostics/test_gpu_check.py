"""The one-shot GPU check (``bench/gpu_check.sh``): here, without a GPU, it records the machine and
says that no GPU was found (exit status 3); with ``--dry-run`` every step runs against the stand-ins
(``tests/standins``) and every section of the summary appears, marked as stand-in results, and
passes; both within the 7 minutes a lent machine gives the whole check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import xpmlp

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 7 * 60
SECTIONS = ("machine", "tests", "selftest", "nosync", "nccl", "mpi", "speed", "stream")


def _no_gpu_here() -> None:
    if xpmlp.available_backends()["cupy"] == "ok":
        pytest.skip("a GPU is here: run bash bench/gpu_check.sh OUTDIR instead")
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is here: run bash bench/gpu_check.sh OUTDIR instead")
    except ImportError:
        pass


def _check(out: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """``bash bench/gpu_check.sh OUT ARGS`` with this Python, its private venv under ``out``."""
    env = {**os.environ, "PYTHON": sys.executable, "XPMLP_GPU_VENV": str(out / "venv"), **(env or {})}
    start = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out / "results"), *args],
                          capture_output=True, text=True, timeout=LIMIT + 30, env=env)
    return done, time.monotonic() - start


def test_the_gpu_check_says_no_gpu_was_found_here(tmp_path):
    _no_gpu_here()
    done, seconds = _check(tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert seconds < LIMIT
    summary = (tmp_path / "results" / "summary.txt").read_text()
    assert "no GPU was found" in summary and "  numpy             ok" in summary
    assert "install   pass" in summary and "machine   pass" in summary, summary
    assert "GPUs: 0" in (tmp_path / "results" / "machine.txt").read_text()
    assert not (tmp_path / "results" / "STAND-IN-RESULTS.txt").exists()


def test_the_dry_run_gives_every_section_on_the_standins(tmp_path):
    _no_gpu_here()
    pytest.importorskip("torch", reason="the torch-CUDA stand-in needs PyTorch")
    pytest.importorskip("mpi4py", reason="the MPI step needs mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
    if not shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])):
        pytest.skip("no mpiexec here (pip install mpich)")
    done, seconds = _check(tmp_path, "--dry-run")
    out = tmp_path / "results"
    summary = (out / "summary.txt").read_text()
    assert seconds < LIMIT, summary
    assert summary.startswith("xpmlp GPU check -- DRY RUN: STAND-IN RESULTS, NOT GPU RESULTS"), summary
    assert (out / "STAND-IN-RESULTS.txt").exists()
    lines = summary.splitlines()
    for section in SECTIONS:
        line = next((ln for ln in lines if ln.startswith(f"[stand-in] {section:9s} ")), None)
        assert line is not None, f"no {section} section:\n{summary}"
        assert f"[stand-in] {section:9s} pass " in line, f"{line}\n{(out / (section + '.txt')).read_text()[-3000:]}"
    results = [json.loads(ln) for name in ("nosync", "nccl", "mpi", "speed", "stream")
               for ln in open(out / f"{name}.jsonl")]
    assert results and all(r["standin"] for r in results)
    assert all("[stand-in]" in ln for ln in lines if ln.startswith("    pass ") or ln.startswith("    fail "))
    failed = {r["what"].split(": ")[0] for r in results if r["outcome"] == "fail"}
    assert not failed, failed
    passed = {r["what"].split(": ")[0] for r in results if r["outcome"] == "pass"}
    assert {"cupy dense float32", "torch:cuda sparse float32", "cupy.cuda.nccl 1-rank all-reduce",
            "torch.distributed nccl 1-rank all-reduce", "cupy float32 on 2 ranks vs 1 process",
            "torch:cuda float32 on 2 ranks vs 1 process", "NCCL communicator of 2 ranks on one GPU", "xpmlp-cupy",
            "xpmlp-torch-cuda-bf16", "cupy streamed", "torch:cuda streamed"} <= passed
    timelines = json.loads((out / "stream-timeline.json").read_text())
    assert set(timelines) == {"cupy", "torch:cuda"} and all(t["chunks"] for t in timelines.values())
    assert "transport HostStaging" in (out / "mpi.txt").read_text()  # one GPU, two ranks: staged, and said
    assert json.loads((out / "selftest.json").read_text())["ok"]
    assert done.returncode == 0, summary
