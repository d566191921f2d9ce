"""The benchmark scripts run where torch is not installed (bench/README.md calls it optional): its
contenders are skipped with a line saying so, and the results are still written as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Installed as sitecustomize on PYTHONPATH, so that every process the script starts (its contenders'
#: workers too) finds no torch, as where it was never installed.
NO_TORCH = '''import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
'''


def _without_torch(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(NO_TORCH)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "block"), str(ROOT / "src")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_torch_blocker_blocks(tmp_path):
    done = _without_torch(tmp_path, "-c", "import torch")
    assert done.returncode == 1 and "No module named 'torch'" in done.stderr


def test_bench_train_without_torch_skips_its_contenders_and_writes_json(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("threadpoolctl")
    out = tmp_path / "out.json"
    done = _without_torch(tmp_path, str(ROOT / "bench" / "bench_train.py"), "--samples", "300", "--layers", "4,8,3",
                          "--batch", "50", "--repeats", "1", "--min-turn", "0", "--threads", "1", "--device", "cpu",
                          "--only", "floor,xpmlp-numpy,xpmlp-torch,torch,torch-bf16", "--json", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for line in ("skip torch: torch not installed", "skip torch-bf16: torch not installed",
                 "skip xpmlp-torch: PyTorch is not installed",
                 "skip torch's array operation count: PyTorch is not installed"):
        assert line in done.stdout, done.stdout
    (config,) = json.loads(out.read_text())["configs"]
    assert [r["name"] for r in config["results"]] == ["floor", "xpmlp-numpy"]
    assert {s["name"] for s in config["skipped"]} == {"xpmlp-torch", "torch", "torch-bf16"}
    assert config["layers"] == [4, 8, 3] and config["failed"] == []
    assert set(config["xpmlp_array_operations_per_step"]) == {"array_api_strict"}


def test_quality_without_torch_refuses_the_torch_backend_in_one_line(tmp_path):
    pytest.importorskip("sklearn")
    done = _without_torch(tmp_path, str(ROOT / "bench" / "quality.py"), "--backend", "torch")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "quality.py: error: --backend torch: PyTorch is not installed: pip install torch"
