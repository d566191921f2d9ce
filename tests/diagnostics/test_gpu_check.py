"""The one-shot GPU check (``bench/gpu_check.sh``) runs here far enough to say that no GPU was found,
after recording the machine; on a GPU machine it goes on (and is not run by the suite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import xpmlp

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_says_no_gpu_was_found_here(tmp_path):
    if xpmlp.available_backends()["cupy"] == "ok":
        pytest.skip("a GPU is here: run bash bench/gpu_check.sh OUTDIR instead")
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is here: run bash bench/gpu_check.sh OUTDIR instead")
    except ImportError:
        pass
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 3, done.stdout + done.stderr
    summary = (tmp_path / "summary.txt").read_text()
    assert "no GPU was found" in summary and "numpy             ok" in summary
    assert (tmp_path / "machine.txt").exists()
