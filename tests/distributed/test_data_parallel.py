"""Data-parallel training under ``mpiexec`` with 2 and 3 ranks equals one process training on all
rows: uneven shards, sample weights, a validation split, early stopping, Adam and Nesterov, L2,
clipping; on NumPy (MPI), torch (torch.distributed over gloo, for real) and array-api-strict (host
staging); ranks without rows; the command line; a model saved by rank 0 loads in one process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed import shard

from conftest import rel_err
from scenario_data import N, SIZES, fit_kwargs, global_data
from mpirun import MPIEXEC, TIMEOUT, mpirun, ranks

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
#: float64: the ranks' partial gradients are summed in another order than one process's BLAS
#: sums them, ~1e-16 per step, measured 3e-16 after 8 epochs; float32: ~1e-7, measured 1e-7.
TOL = {"float64": 1e-12, "float32": 1e-5}


def single_process(scenario: str, dtype: str, backend: str = "numpy", n: int = N):
    X, T, y, w = global_data(n=n)
    net = xpmlp.MLP(SIZES, "tanh", backend=backend, dtype=dtype, seed=0)
    return net, xpmlp.fit(net, X, T, **fit_kwargs(scenario, y, w))


def assert_like_one_process(found: list[dict], net, hist, dtype: str) -> None:
    """Every rank holds one process's weights and history."""
    expected = net.get_weights()[0] + net.get_weights()[1]
    for r, rank in enumerate(found):
        assert "error" not in rank, rank.get("error")
        h = rank["history"]
        assert len(h["loss"]) == hist.epochs and h["stop_reason"] == hist.stop_reason, f"rank {r}"
        assert rel_err(h["loss"], hist.loss) <= TOL[dtype], f"rank {r} loss"
        assert h["validation_score"] == pytest.approx(hist.validation_score, rel=TOL[dtype])
        for a, b in zip(rank["params"], expected):
            assert rel_err(a, b) <= TOL[dtype], f"rank {r}"
    for a, b in zip(found[0]["params"], found[-1]["params"]):
        np.testing.assert_array_equal(a, b)  # the ranks take the same steps: bitwise equal to each other


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scenario", ["adam", "momentum"])
@pytest.mark.parametrize("n_ranks", [2, 3])
def test_ranks_train_as_one_process(n_ranks, scenario, dtype, tmp_path):
    done = mpirun(n_ranks, scenario, dtype, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    net, hist = single_process(scenario, dtype)
    assert_like_one_process(ranks(tmp_path, n_ranks), net, hist, dtype)
    assert hist.epochs > 3  # the runs did train


def test_class_weights_count_every_ranks_rows(tmp_path):
    done = mpirun(3, "balanced", "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    net, hist = single_process("balanced", "float64")
    assert_like_one_process(ranks(tmp_path, 3), net, hist, "float64")


def test_class_weights_given_on_some_ranks_only_fail_on_every_rank(tmp_path):
    done = mpirun(2, "balanced-some", "float64", tmp_path)
    assert done.returncode != 0
    for rank in ranks(tmp_path, 2):
        assert "class_weight differs between processes" in rank["error"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
def test_other_libraries_reduce_through_their_transport(backend, dtype, tmp_path):
    """torch all-reduces through torch.distributed (its gloo backend, for real); array-api-strict is
    staged through the host (and says so once); in either dtype, every weight and bias compared."""
    pytest.importorskip(backend)
    done = mpirun(3, f"momentum@{backend}", dtype, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    net, hist = single_process("momentum", dtype)
    assert_like_one_process(ranks(tmp_path, 3), net, hist, dtype)
    staged = "staged through host memory"
    assert (done.stderr.count(staged) == 1) if backend == "array_api_strict" else staged not in done.stderr


def test_ranks_without_rows_train_too(tmp_path):
    """Two rows on three ranks: rank 2 holds none and takes the same steps."""
    done = mpirun(3, "few-rows", "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    X, T, _, _ = global_data(n=2)
    net = xpmlp.MLP(SIZES, "tanh", dtype="float64", seed=0)
    hist = xpmlp.fit(net, X, T, epochs=5, batch_size=2, optimizer="sgd", learning_rate=0.1, patience=None, seed=3)
    assert_like_one_process(ranks(tmp_path, 3), net, hist, "float64")


def test_shards_cover_the_rows_once():
    for n, size in ((10, 3), (7, 7), (5, 2), (2, 3)):
        rows = np.concatenate([np.arange(n)[shard(n, r, size)] for r in range(size)])
        np.testing.assert_array_equal(rows, np.arange(n))


def test_the_cli_trains_data_parallel_under_mpiexec(tmp_path):
    pytest.importorskip("sklearn")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    from xpmlp.app.cli import main
    from xpmlp.io import load

    argv = ["train", "--dataset", "wine", "--no-progress", "--dtype", "float64", "--epochs", "30"]
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "xpmlp", *argv, "--save", str(tmp_path / "p.npz")],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("test accuracy") == 1 and "data-parallel over 2 processes" in done.stdout  # rank 0 only
    assert main([*argv, "--save", str(tmp_path / "one.npz")]) == 0
    for a, b in zip(load(tmp_path / "p.npz").net.get_weights()[0], load(tmp_path / "one.npz").net.get_weights()[0]):
        assert rel_err(a, b) <= TOL["float64"]
