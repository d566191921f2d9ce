"""Running ``mpi_worker.py`` under ``mpiexec`` and reading what every rank wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
STANDINS = HERE.parent / "standins" / "site"
#: Seconds: a fault must end every rank well within this (the stated bound is 3 s after the fault).
TIMEOUT = 60


def mpirun(ranks: int, scenario: str, dtype: str, out: Path, env: dict | None = None,
           standins: bool = False) -> subprocess.CompletedProcess:
    """Run a scenario on ``ranks`` processes, writing into the folder ``out``; ``standins`` puts the
    CuPy stand-in first on the path."""
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    paths = [str(HERE), str(HERE.parent)] + ([str(STANDINS)] if standins else []) + [os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(paths)}
    out.mkdir(exist_ok=True)
    start = time.time()
    done = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(HERE / "mpi_worker.py"), scenario, dtype,
                           str(out)], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=out)
    done.seconds = time.time() - start  # type: ignore[attr-defined]
    return done


def ranks(out: Path, n: int) -> list[dict]:
    """What each rank wrote: ``history`` (a dict), ``error`` (text), ``params`` (arrays), extras."""
    found = []
    for r in range(n):
        with np.load(out / f"rank{r}.npz", allow_pickle=False) as z:
            record = {k: z[k] for k in z.files}
        params = [record.pop(f"p{i}") for i in range(sum(k.startswith("p") and k[1:].isdigit() for k in record))]
        record = {k: (v.item() if v.ndim == 0 else v) for k, v in record.items()}
        if "history" in record:
            record["history"] = json.loads(record["history"])
        found.append({**record, "params": params})
    return found
