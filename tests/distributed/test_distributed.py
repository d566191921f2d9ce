"""Data-parallel training under ``mpiexec`` with 2 and 3 ranks equals one process training on all
rows (uneven shards, sample weights, validation split, early stopping, Adam and Nesterov, L2,
clipping); faults stop every rank quickly, naming the rank; a model saved by rank 0 loads in a
single process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed import shard
from xpmlp.io import load

from conftest import rel_err
from mpi_worker import SIZES, fit_kwargs, global_data

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
WORKER = Path(__file__).with_name("mpi_worker.py")
#: float64: the ranks' partial gradients are summed in another order than one process's BLAS
#: sums them, ~1e-16 per step, measured 3e-16 after 8 epochs; float32: ~1e-7, measured 1e-7.
TOL = {"float64": 1e-12, "float32": 1e-5}
TIMEOUT = 60  # seconds: a fault must end every rank well within this


def mpirun(ranks: int, scenario: str, dtype: str, out: Path) -> subprocess.CompletedProcess:
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(WORKER), scenario, dtype, str(out)],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=out.parent)


def single_process(scenario: str, dtype: str):
    X, T, y, w = global_data()
    net = xpmlp.MLP(SIZES, "tanh", backend="numpy", dtype=dtype, seed=0)
    return net, xpmlp.fit(net, X, T, **fit_kwargs(scenario, y, w))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scenario", ["adam", "momentum"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_train_as_one_process(ranks, scenario, dtype, tmp_path):
    out = tmp_path / "model.npz"
    done = mpirun(ranks, scenario, dtype, out)
    assert done.returncode == 0, done.stderr[-2000:]
    net, hist = single_process(scenario, dtype)
    ck = load(out)  # written by rank 0 alone, read here in one process
    assert ck.history.epochs == hist.epochs and ck.history.stop_reason == hist.stop_reason
    assert ck.history.validation_score == pytest.approx(hist.validation_score, rel=TOL[dtype])
    assert rel_err(ck.history.loss, hist.loss) <= TOL[dtype]
    for a, b in zip(ck.net.get_weights()[0] + ck.net.get_weights()[1], net.get_weights()[0] + net.get_weights()[1]):
        assert rel_err(a, b) <= TOL[dtype]
    assert hist.epochs > 3  # the runs did train


@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
def test_other_libraries_reduce_through_their_transport(backend, tmp_path):
    """torch on the CPU all-reduces in place through NumPy views; array-api-strict is staged on the host."""
    pytest.importorskip(backend)
    out = tmp_path / "model.npz"
    done = mpirun(2, f"momentum@{backend}", "float64", out)
    assert done.returncode == 0, done.stderr[-2000:]
    net, _ = single_process("momentum", "float64")
    for a, b in zip(load(out).net.get_weights()[0], net.get_weights()[0]):
        assert rel_err(a, b) <= TOL["float64"]


def test_a_bad_shard_stops_every_rank_naming_it(tmp_path):
    done = mpirun(2, "nan", "float64", tmp_path / "x.npz")
    assert done.returncode != 0
    assert "1 of 2 ranks failed (rank 1: ValueError: X contains NaN" in done.stderr


def test_an_error_mid_training_stops_every_rank_naming_it(tmp_path):
    done = mpirun(3, "crash", "float64", tmp_path / "x.npz")  # subprocess.run's timeout bounds it
    assert done.returncode != 0
    assert "rank 1 of 3 failed: RuntimeError: simulated failure on this rank; aborting all ranks" in done.stderr


def test_ranks_that_disagree_are_refused_before_training(tmp_path):
    done = mpirun(2, "mismatch", "float64", tmp_path / "x.npz")
    assert done.returncode != 0 and "rank 1 in weights" in done.stderr
    assert not (tmp_path / "x.npz").exists()


def test_shards_cover_the_rows_once():
    for n, size in ((10, 3), (7, 7), (5, 2)):
        rows = np.concatenate([np.arange(n)[shard(n, r, size)] for r in range(size)])
        np.testing.assert_array_equal(rows, np.arange(n))


def test_the_cli_trains_data_parallel_under_mpiexec(tmp_path):
    pytest.importorskip("sklearn")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    from xpmlp.app.cli import main

    argv = ["train", "--dataset", "wine", "--no-progress", "--dtype", "float64", "--epochs", "30"]
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "xpmlp", *argv, "--save", str(tmp_path / "p.npz")],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("test accuracy") == 1 and "data-parallel over 2 processes" in done.stdout  # rank 0 only
    assert main([*argv, "--save", str(tmp_path / "one.npz")]) == 0
    for a, b in zip(load(tmp_path / "p.npz").net.get_weights()[0], load(tmp_path / "one.npz").net.get_weights()[0]):
        assert rel_err(a, b) <= TOL["float64"]


def test_estimators_train_data_parallel_with_every_ranks_classes(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "clf.npz"
    done = mpirun(2, "estimator", "float64", out)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = np.load(out)
    assert saved["classes"].tolist() == [0, 1, 2] and 1 <= int(saved["n_iter"]) <= 15
    assert saved["W0"].shape == (5, 8)


def test_distributed_estimators_need_mpiexec():
    pytest.importorskip("sklearn")
    from xpmlp.estimators import MLPClassifier

    X, _, y, _ = global_data()
    with pytest.raises(ValueError, match="started by mpiexec"):
        MLPClassifier(distributed=True, max_iter=2).fit(X, y)
