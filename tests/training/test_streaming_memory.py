"""A fit on a file at least 4 times larger than the peak resident memory of the process that trains
on it: the peak measured in a fresh interpreter, not assumed.  The peak is Linux's ``VmHWM`` (the
high-water mark of this process's resident memory): ``resource.getrusage``'s ``ru_maxrss`` keeps the
forking parent's peak across ``exec`` (it read pytest's 112 MB before the child did anything)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS, FEATURES = 180_000, 500  # float32: 343 MiB
CAP_MB = 80  # MiB: the peak RSS the training process allows itself

TRAIN = """
import json, sys
import numpy as np
import xpmlp
from xpmlp.training import fit
from xpmlp.training.sources import as_source
def peak_mb():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # kB
before = peak_mb()
net = xpmlp.MLP([%d, 8, 2], "relu", seed=0, backend=xpmlp.resolve("numpy", dtype="float32"))
source = as_source(sys.argv[1], sys.argv[2], chunk_rows=512)
history = fit(net, source, None, epochs=1, batch_size=512, window=2, patience=None)
print(json.dumps({"peak_mb": peak_mb(), "before_mb": before, "loss": history.loss[0]}))
""" % FEATURES


def write_npy(path: Path, rows: int, features: int) -> None:
    """A float32 ``(rows, features)`` .npy written a block at a time (this process never holds it)."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, features)})
        for start in range(0, rows, 10_000):
            f.write(rng.normal(size=(min(10_000, rows - start), features)).astype(np.float32).tobytes())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the peak RSS is read from /proc (Linux)")
def test_trains_on_a_file_four_times_its_peak_memory(tmp_path):
    X, y = tmp_path / "X.npy", tmp_path / "y.npy"
    write_npy(X, ROWS, FEATURES)
    np.save(y, np.random.default_rng(1).integers(0, 2, ROWS))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", TRAIN, str(X), str(y)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    size_mb = X.stat().st_size / 2 ** 20  # MiB
    assert np.isfinite(result["loss"])
    print(f"file {size_mb:.0f} MiB, peak RSS {result['peak_mb']:.1f} MiB ({result['before_mb']:.1f} after imports)")
    assert result["peak_mb"] <= CAP_MB, result
    assert size_mb >= 4 * CAP_MB, (size_mb, result)
