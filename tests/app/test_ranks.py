"""How an error ends the ``xpmlp`` command's processes (:mod:`xpmlp.app.ranks`), with a stand-in
communicator: the real thing runs under ``mpiexec`` in tests/distributed/test_cli_faults.py
(where an aborted rank records no coverage)."""

from __future__ import annotations

import time

import pytest

from xpmlp.app import ranks as ranks_module
from xpmlp.app.ranks import Ranks
from xpmlp.distributed.mpi import DistributedError


class World:
    """Stands in for an MPICommunicator: its rank, size, which errors were raised together, Abort."""

    def __init__(self, rank: int, together: tuple = ()) -> None:
        self.rank, self.size, self.together, self.aborted = rank, 3, together, []
        self.comm = self

    def raised_together(self, error):
        return error in self.together or isinstance(error, DistributedError)

    def Abort(self, code):
        self.aborted.append((code, time.monotonic()))


def test_alone_the_line_is_printed_and_the_process_exits(capsys):
    with pytest.raises(SystemExit) as ended:
        Ranks().fail("xpmlp: error: bad", ValueError("bad"), 2)
    assert ended.value.code == 2 and capsys.readouterr().err == "xpmlp: error: bad\n"
    assert Ranks().where() == ""


@pytest.mark.parametrize("rank", [0, 2])
def test_an_error_raised_together_is_printed_by_rank_0_and_ends_each_rank_without_abort(rank, capsys):
    world = World(rank)
    with pytest.raises(SystemExit) as ended:
        Ranks(world).fail("xpmlp: error: tables differ", DistributedError("tables differ"), 2)
    assert ended.value.code == 2 and not world.aborted
    assert capsys.readouterr().err == ("xpmlp: error: tables differ\n" if rank == 0 else "")


@pytest.mark.parametrize("rank", [0, 2])
def test_an_error_on_one_rank_names_it_and_aborts_every_rank_after_the_grace(rank, capsys, monkeypatch):
    monkeypatch.setattr(ranks_module, "GRACE", 0.05)
    world = World(rank)
    start = time.monotonic()
    Ranks(world).fail("xpmlp: error: no.csv: no such file", FileNotFoundError("no.csv"), 2)
    assert world.aborted and world.aborted[0][0] == 2
    assert world.aborted[0][1] - start >= 0.05 * (2 if rank else 1)  # rank 0 speaks first
    assert capsys.readouterr().err == f"xpmlp: error: rank {rank} of 3: no.csv: no such file\n"


def test_a_bug_under_mpiexec_shows_its_traceback_and_still_ends_every_rank(capsys, monkeypatch):
    from xpmlp.app import cli

    world = World(1)
    monkeypatch.setattr(ranks_module, "GRACE", 0.0)
    monkeypatch.setattr(cli.Ranks, "start", classmethod(lambda cls: cls(world)))
    monkeypatch.setitem(cli.COMMANDS, "train", lambda args: {}["bug"])
    cli.main(["train", "--dataset", "iris"])
    err = capsys.readouterr().err
    assert "Traceback" in err and "xpmlp: error: rank 1 of 3: KeyError: 'bug'" in err and world.aborted
    monkeypatch.setattr(cli.Ranks, "start", classmethod(lambda cls: cls(None)))
    with pytest.raises(KeyError):
        cli.main(["train", "--dataset", "iris"])


def test_without_mpi4py_under_a_launcher_every_rank_says_so_alike(capsys, monkeypatch):
    from xpmlp.app import cli

    def start(cls):
        raise ImportError("data-parallel training needs mpi4py")

    monkeypatch.setattr(cli.Ranks, "start", classmethod(start))
    with pytest.raises(SystemExit) as ended:
        cli.main(["train", "--dataset", "iris"])
    assert ended.value.code == 2 and capsys.readouterr().err == "xpmlp: error: data-parallel training needs mpi4py\n"


def test_arguments_refused_on_one_rank_end_every_rank(capsys, monkeypatch):
    from xpmlp.app import cli

    world = World(2)
    monkeypatch.setattr(ranks_module, "GRACE", 0.0)
    monkeypatch.setattr(cli.Ranks, "start", classmethod(lambda cls: cls(world)))
    with pytest.raises(SystemExit):
        cli.main(["train", "--epochs", "many"])
    err = capsys.readouterr().err
    assert "invalid int value: 'many'" in err and "xpmlp: error: rank 2 of 3: the arguments were refused (above)" in err
    assert world.aborted
    with pytest.raises(SystemExit) as ended:
        cli.main(["train", "--help"])  # not a failure: no abort
    assert ended.value.code == 0 and len(world.aborted) == 1
