"""Faults never hang, with 2 and 3 ranks: an error on one rank before, during or after training
ends every rank within the stated bound (``xpmlp.distributed.mpi.ABORT_GRACE`` plus teardown:
under 3 s after the fault), naming the rank and its message; an interrupt on one rank ends the
fit on every rank at the same epoch with ``"interrupted"``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mpirun import HERE, MPIEXEC, TIMEOUT, mpirun, ranks

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
#: Seconds from a fault inside the loop until every rank has ended (the module docstring's bound).
BOUND = 3.0


def every_rank_failed_naming(out, n: int, message: str) -> None:
    for r, rank in enumerate(ranks(out, n)):
        assert message in rank.get("error", ""), f"rank {r}: {rank.get('error')}"


@pytest.mark.parametrize("n_ranks", [2, 3])
@pytest.mark.parametrize("scenario,message", [
    ("nan", "ranks failed (rank 1: ValueError: X contains NaN values"),
    ("bad-optimizer", "ranks failed (rank 1: ValueError: unknown optimizer 'adamx'"),
    ("mismatch", "the ranks disagree with rank 0 (rank 1 in weights)"),
    ("validation-some", "validation_data was given on rank(s) [0] only"),
])
def test_an_error_before_training_is_raised_on_every_rank_naming_it(scenario, message, n_ranks, tmp_path):
    done = mpirun(n_ranks, scenario, "float64", tmp_path)
    assert done.returncode != 0 and done.seconds < TIMEOUT / 2
    every_rank_failed_naming(tmp_path, n_ranks, message)
    assert not any(rank.get("history") for rank in ranks(tmp_path, n_ranks))


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_an_error_mid_training_ends_every_rank_within_the_bound_naming_it(n_ranks, tmp_path):
    done = mpirun(n_ranks, "crash", "float64", tmp_path)
    ended = time.time()
    assert done.returncode != 0
    assert f"rank 1 of {n_ranks} failed: RuntimeError: simulated failure on this rank; aborting all ranks" in done.stderr
    assert ended - float((tmp_path / "failed_at").read_text()) < BOUND


@pytest.mark.parametrize("n_ranks", [2, 3])
def test_an_interrupt_on_one_rank_stops_every_rank_at_the_same_epoch(n_ranks, tmp_path):
    """Rank 1 alone gets SIGINT after epoch 2: every rank rolls epoch 3 back and returns "interrupted"."""
    done = mpirun(n_ranks, "interrupt", "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = ranks(tmp_path, n_ranks)
    for rank in found:
        assert rank["history"]["stop_reason"] == "interrupted" and len(rank["history"]["loss"]) == 2
    for p, q in zip(found[0]["params"], found[-1]["params"]):
        np.testing.assert_array_equal(p, q)


def _start(n_ranks: int, out) -> subprocess.Popen:
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([MPIEXEC, "-n", str(n_ranks), sys.executable, str(HERE / "mpi_worker.py"), "slow",
                             "float64", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path, timeout: float = 30.0) -> int:
    end = time.time() + timeout
    while not path.exists() and time.time() < end:
        time.sleep(0.05)
    return int(path.read_text())


@pytest.mark.parametrize("target", ["one rank", "mpiexec"])
def test_ctrl_c_from_outside_ends_the_fit_on_every_rank(target, tmp_path):
    """``kill -INT`` to one rank, or Ctrl-C to mpiexec (which passes it on to every rank, each at its
    own moment): every rank ends at the same epoch with "interrupted", within a few epochs."""
    proc = _start(3, tmp_path)
    pid = _wait_for(tmp_path / "pid1")
    os.kill(pid if target == "one rank" else proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    found = ranks(tmp_path, 3)
    epochs = {len(rank["history"]["loss"]) for rank in found}
    assert {rank["history"]["stop_reason"] for rank in found} == {"interrupted"} and len(epochs) == 1
    assert epochs.pop() < 60
