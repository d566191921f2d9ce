"""``mpiexec -n P xpmlp train ...`` never hangs: a failure on one rank -- its file missing or
corrupt, an argument refused, its table unlike the others', saving after training --
ends every rank within the bound README states (under 5 s after the failure), with one line
naming the rank.  Each rank gets its own command line (MPMD: ``mpiexec -n 1 A : -n 1 B``), so
that one rank alone can fail; with 2 and 3 ranks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mpirun import MPIEXEC, TIMEOUT

pytest.importorskip("mpi4py", reason="the data-parallel tests need mpi4py and an MPI library (pip install 'xpmlp[mpi]')")
pytest.importorskip("pandas", reason="reading CSV files needs pandas")
SRC = Path(__file__).resolve().parents[2] / "src"
#: Seconds from a rank's error line until every rank has ended (the abort's grace and the launcher's teardown).
AFTER_THE_LINE = 3.0


def _csv(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 3))
    with open(path, "w") as f:
        f.write("a,b,c,y\n")
        for row in X:
            f.write(",".join(f"{v:.4f}" for v in row) + f",{'yes' if row[0] > 0 else 'no'}\n")
    return path


def _launch(tmp_path: Path, good: list[str], bad: list[str], n_ranks: int, bad_rank: int = 1) -> tuple:
    """Run ``xpmlp train`` with ``bad`` on rank ``bad_rank`` and ``good`` on the others; returns
    ``(returncode, stderr, seconds from the first line naming a rank to the end, seconds in all)``."""
    if MPIEXEC is None:
        pytest.skip("no mpiexec on this machine (pip install mpich)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [MPIEXEC]
    for r in range(n_ranks):
        cmd += ([":"] if r else []) + ["-n", "1", sys.executable, "-m", "xpmlp", "train",
                                       *(bad if r == bad_rank else good)]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            start_new_session=True)  # a hang is killed with every rank
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.time(), ln) for ln in proc.stderr))
    reader.start()
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join()
        pytest.fail(f"hung: still running after {TIMEOUT} s; stderr: {''.join(ln for _, ln in lines)[-2000:]}")
    ended = time.time()
    reader.join()
    proc.stdout.read()
    named = [t for t, ln in lines if ln.startswith("xpmlp: error: rank ")]
    return proc.returncode, "".join(ln for _, ln in lines), (ended - named[0]) if named else None, ended - start


GOOD = ["good.csv", "--target", "y", "--epochs", "3", "--no-progress", "--hidden", "4", "--dtype", "float64"]


# Each case once, with 2 or 3 ranks in turn (the MPI launches are what makes these tests slow).
@pytest.mark.parametrize("case,bad,message,n_ranks", [
    ("missing", ["absent.csv", *GOOD[1:]], "no such file", 3),
    ("corrupt", ["corrupt.npz", "--target", "0", *GOOD[3:]], "not a readable .npz archive", 2),
    ("no-target", ["good.csv", "--epochs", "3"], "which column of good.csv is the target?", 3),
    ("bad-target", ["good.csv", "--target", "nope", "--epochs", "3"], "no target column 'nope'", 2),
])
def test_a_rank_failing_before_training_ends_every_rank_naming_it(case, bad, message, n_ranks, tmp_path):
    _csv(tmp_path / "good.csv")
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    code, err, after, _ = _launch(tmp_path, GOOD, bad, n_ranks)
    assert code != 0
    mine = [ln for ln in err.splitlines() if ln.startswith("xpmlp: ")]
    assert len(mine) == 1 and mine[0].startswith(f"xpmlp: error: rank 1 of {n_ranks}: ") and message in mine[0], err
    assert "Traceback" not in err
    assert after is not None and after < AFTER_THE_LINE, after


@pytest.mark.parametrize("n_ranks", [3])
def test_ranks_whose_tables_differ_say_so_in_one_line(n_ranks, tmp_path):
    _csv(tmp_path / "good.csv")
    _csv(tmp_path / "other.csv", seed=1)
    code, err, _, seconds = _launch(tmp_path, GOOD, ["other.csv", *GOOD[1:]], n_ranks)
    assert code == 2 and "Traceback" not in err, err
    mine = [ln for ln in err.splitlines() if ln.startswith("xpmlp: ")]
    assert mine == [f"xpmlp: error: rank 1 read a different table from rank 0's (every rank must read the same "
                    "rows and columns)"], err


@pytest.mark.parametrize("n_ranks", [2])
def test_rank_0_failing_to_save_after_training_ends_every_rank(n_ranks, tmp_path):
    _csv(tmp_path / "good.csv")
    bad = [*GOOD, "--save", "no/such/folder/m.npz"]
    code, err, after, _ = _launch(tmp_path, bad, GOOD, n_ranks, bad_rank=-1)  # every rank gets --save; rank 0 writes
    assert code != 0
    mine = [ln for ln in err.splitlines() if ln.startswith("xpmlp: ")]
    assert len(mine) == 1 and f"rank 0 of {n_ranks}" in mine[0] and "no/such/folder" in mine[0], err
    assert after is not None and after < AFTER_THE_LINE, after


@pytest.mark.parametrize("n_ranks", [3])
def test_a_rank_whose_arguments_argparse_refuses_ends_every_rank(n_ranks, tmp_path):
    _csv(tmp_path / "good.csv")
    code, err, after, _ = _launch(tmp_path, GOOD, ["good.csv", "--target", "y", "--epochs", "many"], n_ranks)
    assert code != 0 and "argument --epochs: invalid int value: 'many'" in err
    assert f"xpmlp: error: rank 1 of {n_ranks}: the arguments were refused (above)" in err
    assert after is not None and after < AFTER_THE_LINE, after


@pytest.mark.parametrize("n_ranks", [2])
def test_an_error_every_rank_raises_together_is_printed_once(n_ranks, tmp_path):
    _csv(tmp_path / "good.csv")
    alike = [*GOOD, "--batch-size", "0"]  # refused inside the fit's guard, on every rank at the same step
    code, err, _, _ = _launch(tmp_path, alike, alike, n_ranks)
    mine = [ln for ln in err.splitlines() if ln.startswith("xpmlp: ")]
    assert code == 2 and mine == ["xpmlp: error: batch_size must be a positive int, 'full' or None, got 0"], err
