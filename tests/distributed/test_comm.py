"""The MPI communicator's edges (``xpmlp.distributed.mpi``): without mpi4py it says what to install; under
``mpiexec`` it refuses to be pickled or to all-reduce before a fit prepared it, leaves the SIGINT
handler alone when its loop runs in another thread, sums several arrays of any strides in one
all-reduce, lets rank 0 alone write a checkpoint; a divergence raises ``DivergenceError`` on every
rank alike; a second Ctrl-C on one rank ends every rank at once, naming it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed import MPICommunicator

from comm_scenarios import several
from mpirun import TIMEOUT, mpirun, ranks


def test_without_mpi4py_the_communicator_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `from mpi4py import MPI` raises ImportError
    with pytest.raises(ImportError, match=r"data-parallel training needs mpi4py and an MPI library: "
                                          r"pip install 'xpmlp\[mpi\]'"):
        MPICommunicator()


@pytest.fixture
def mpi():
    pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library "
                                         "(pip install 'xpmlp[mpi]')")


def test_the_communicators_edges_on_two_ranks(mpi, tmp_path):
    done = mpirun(2, "comm-edges", "float64", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = ranks(tmp_path, 2)
    for rank in found:
        assert rank["pickle_error"] == "TypeError: an MPICommunicator belongs to its processes and cannot be pickled"
        assert rank["unprepared_error"] == ("DistributedError: the communicator was not prepared for a model "
                                            "(fit calls prepare)")
        assert rank["thread_loop_keeps_handler"] is True
        for i, expected in enumerate(a + b for a, b in zip(several(0), several(1))):
            np.testing.assert_array_equal(rank[f"sum{i}"], expected)  # small integers: exact in any order
    assert (tmp_path / "checkpoint0.npz").exists() and not (tmp_path / "checkpoint1.npz").exists()
    saved = xpmlp.load(tmp_path / "checkpoint0.npz").net.get_weights()
    for a, b in zip(saved[0] + saved[1], found[0]["params"]):
        np.testing.assert_array_equal(a, b)  # the model as the fit returned it
    assert found[0]["history"]["loss"] == found[1]["history"]["loss"]


def test_a_divergence_raises_divergence_error_on_every_rank(mpi, tmp_path):
    """Decided from the numbers every rank shares: each raises it, no rank aborts the others."""
    done = mpirun(2, "diverge", "float64", tmp_path)
    assert done.returncode != 0 and done.seconds < TIMEOUT / 2
    assert "aborting all ranks" not in done.stderr
    for r, rank in enumerate(ranks(tmp_path, 2)):
        assert rank["error"].startswith("DivergenceError: loss became "), f"rank {r}: {rank['error']}"


def test_a_second_ctrl_c_on_one_rank_ends_every_rank_at_once(mpi, tmp_path):
    done = mpirun(2, "double-interrupt", "float64", tmp_path)
    assert done.returncode != 0 and done.seconds < TIMEOUT / 2
    assert "xpmlp: rank 1 of 2 failed: KeyboardInterrupt: ; aborting all ranks" in done.stderr
    assert not any((tmp_path / f"rank{r}.npz").exists() for r in range(2))  # no rank returned from its fit


def test_a_communicator_must_give_its_sum_and_its_share_of_the_data():
    """The seam's two methods without a default: a communicator that gives neither cannot be used."""
    from xpmlp.training.comm import Communicator

    class Unfinished(Communicator):
        pass

    net = xpmlp.MLP([3, 2], seed=0)
    X, T = np.zeros((4, 3)), np.eye(2)[[0, 1, 0, 1]]
    with pytest.raises(NotImplementedError):
        xpmlp.fit(net, X, T, comm=Unfinished(), epochs=1)
    with pytest.raises(NotImplementedError):
        Unfinished().allreduce_([np.zeros(2)])
