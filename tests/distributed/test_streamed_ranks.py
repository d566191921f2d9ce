"""A streamed fit under ``mpiexec``: each rank reads only its share of the chunks (rank, rank + size,
...), the sample weights are normalised over every rank's rows and the validation rows are split
by row number among all rows; full batch, it is one process's in-memory fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.training.stream_ranks import step_rows

from mpirun import MPIEXEC, TIMEOUT

HERE = Path(__file__).resolve().parent
N = 150  # 8 chunks of 20 rows (the last 10)


def test_step_rows_line_the_processes_up():
    per, total = step_rows([50, 30, 0], 16)  # 80 rows: 5 steps of 16 as one process
    assert per == [10, 6, 1] and total == [16] * 5
    per, total = step_rows([7, 2], 4)  # 9 rows: 3 steps
    assert per == [3, 1] and total == [4, 4, 1]


@pytest.mark.parametrize("ranks", [2, 3])
def test_each_rank_reads_its_share_and_the_fit_is_one_process(tmp_path, ranks):
    pytest.importorskip("mpi4py", reason="needs mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    w = rng.uniform(0.5, 2.0, N)
    for name, a in (("X", X), ("y", y), ("w", w)):
        np.save(tmp_path / f"{name}.npy", a)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(HERE / "stream_worker.py"),
                           str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), str(tmp_path / "w.npy"), str(tmp_path)],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    net = xpmlp.MLP([4, 6, 2], "tanh", backend=xpmlp.resolve("numpy", dtype="float64"), seed=0)
    hist = xpmlp.fit(net, X, y, sample_weight=w, epochs=4, batch_size="full", shuffle=False, validation_fraction=0.2,
                     patience=None, optimizer="sgd", learning_rate=0.5)
    expected = net.get_weights()[0] + net.get_weights()[1]
    for r in range(ranks):
        with np.load(tmp_path / f"rank{r}.npz") as z:
            assert list(z["read"]) == list(range(r, 8, ranks))  # its chunks, no other
            h = json.loads(str(z["history"]))
            np.testing.assert_allclose(h["loss"], hist.loss, rtol=1e-12)
            np.testing.assert_allclose(h["validation_score"], hist.validation_score, rtol=1e-12)
            for i, a in enumerate(expected):
                np.testing.assert_allclose(z[f"p{i}"], a, rtol=1e-10, atol=1e-13)
