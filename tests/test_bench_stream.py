"""bench/bench_stream.py runs and reports both epoch times and their ratio (a small run: the numbers
themselves are measured by whoever runs it at size, see README's Speed section)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_stream_writes_the_ratio(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_stream.py"), "--rows", "3000", "--features", "8",
                          "--epochs", "1", "--repeats", "1", "--chunk", "500", "--blas-threads", "1", "--json", str(tmp_path / "s.json")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "s.json").read_text())
    times = result["epoch_seconds"]
    assert times["in_memory"] > 0 and times["streamed"] > 0
    assert result["ratio_streamed_to_in_memory"] == times["streamed"] / times["in_memory"]
    assert "ratio" in out.stdout
