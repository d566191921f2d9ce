"""The hostile-input review's cases (issue 24), rebuilt: each makes its files in a fresh folder and
says what to run and what counts as handled.  battery.py runs them."""

from __future__ import annotations

import csv
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import craft

#: What a case must end in: a clean error (status 2, one ``xpmlp: error:`` line), a correct result
#: (status 0 and its check), or a bounded failure (non-zero status within the bound, no traceback).
CLEAN, CORRECT, BOUNDED = "clean error", "correct result", "bounded failure"


@dataclass
class Case:
    name: str
    section: str
    expect: tuple  # the outcomes that count as handled
    build: Callable[[Path], list]  # makes the files in the folder; returns the command (argv after python)
    check: Callable[[Path, str, str], "str | None"] | None = None  # (folder, stdout, stderr) -> a problem, or None
    fast: bool = True  # in the quick subset tests/hostile/test_battery.py runs
    timeout: float = 60.0
    owner: str = "bounds"  # the branch whose change handles it
    tty: bool = False  # standard output a terminal


def xpmlp(*args) -> list:
    return ["-m", "xpmlp", *map(str, args)]


def iris_like(path: Path, n: int = 150, labels=("setosa", "versicolor", "virginica"), target=None) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    k = np.argmax(X @ rng.normal(size=(3, len(labels))), axis=1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "y"])
        for row, c in zip(X, k):
            w.writerow([f"{v:.4f}" for v in row] + [labels[c] if target is None else target(row)])
    return path


def trained(folder: Path, *extra, name: str = "m.npz", data: "Path | None" = None) -> Path:
    """A model trained by the CLI in this process's Python (the battery's base model)."""
    from xpmlp.app.cli import main

    data = data or iris_like(folder / "data.csv")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        main(["train", str(data), "--target", "y", "--epochs", "3", "--no-progress", "--hidden", "4", *map(str, extra),
              "--save", str(folder / name)])
    return folder / name


def edit_model(path: Path, change: Callable[[dict], None]) -> Path:
    meta, members = craft.model_parts(path)
    change(meta)
    return craft.write_model(path, meta, members)


def unchanged(name: str, before: bytes) -> Callable:
    return lambda d, out, err: None if (d / name).read_bytes() == before else f"{name} was changed"


# -- data loss ----------------------------------------------------------------------------------

def _predict_over_data(d: Path) -> list:
    m = trained(d)
    _predict_over_data.before = (d / "data.csv").read_bytes()
    return xpmlp("predict", m, d / "data.csv", "-o", d / "data.csv")


def _save_over_data(d: Path) -> list:
    iris_like(d / "data.csv")
    return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "2", "--no-progress", "--save", d / "data.csv")


def _export_over_model(d: Path) -> list:
    return xpmlp("export", trained(d), d / "m.npz")


def _mode_kept(d: Path) -> list:
    iris_like(d / "data.csv")
    (d / "m.npz").write_bytes(b"old")
    os.chmod(d / "m.npz", 0o600)
    return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "2", "--no-progress", "--save", d / "m.npz")


def _through_symlink(d: Path) -> list:
    iris_like(d / "data.csv")
    (d / "real.npz").write_bytes(b"old")
    (d / "m.npz").symlink_to(d / "real.npz")
    return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "2", "--no-progress", "--save", d / "m.npz")


def _stale_temp(d: Path) -> list:
    iris_like(d / "data.csv")
    stale = d / ".m.npz.k1ll3d0x.tmp"  # what a SIGKILL during a save leaves (mkstemp's 8 characters)
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 86400,) * 2)  # a day old: no save in progress
    return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "2", "--no-progress", "--save", d / "m.npz")


def _missing_dir(d: Path) -> list:
    iris_like(d / "data.csv", n=3000)
    return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "200", "--patience", "1000", "--no-progress",
                 "--save", d / "no" / "such" / "m.npz")


def _dev_full(d: Path) -> list:
    """A full disk, as the device that is always full: a node of its own in the folder where this
    may make one (as root), so that a writer that renames over its output replaces only that."""
    full = Path("/dev/full")
    if os.geteuid() == 0:
        full = d / "full"
        os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return xpmlp("predict", trained(d), d / "data.csv", "-o", full)


DATA_LOSS = [
    Case("predict -o onto its input", "data loss", (CLEAN,), _predict_over_data,
         lambda d, o, e: None if (d / "data.csv").read_bytes() == _predict_over_data.before else "data.csv replaced",
         owner="files"),
    Case("train --save onto its data", "data loss", (CLEAN,), _save_over_data,
         lambda d, o, e: None if (d / "data.csv").read_bytes().startswith(b"a,b,c,y") else "data.csv replaced",
         owner="files"),
    Case("export onto its model", "data loss", (CLEAN,), _export_over_model,
         lambda d, o, e: None if (d / "m.npz").read_bytes()[:2] == b"PK" else "m.npz replaced", owner="files"),
    Case("saving keeps a 0600 file's mode", "data loss", (CORRECT,), _mode_kept,
         lambda d, o, e: None if stat.S_IMODE(os.stat(d / "m.npz").st_mode) == 0o600 else
         f"mode {oct(stat.S_IMODE(os.stat(d / 'm.npz').st_mode))}", owner="files"),
    Case("saving through a symlink", "data loss", (CORRECT,), _through_symlink,
         lambda d, o, e: None if (d / "m.npz").is_symlink() and (d / "real.npz").read_bytes()[:2] == b"PK" else
         "the link was replaced by a file, its target left stale", owner="files"),
    Case("a killed save's temp file", "data loss", (CORRECT,), _stale_temp,
         lambda d, o, e: None if not (d / ".m.npz.k1ll3d0x.tmp").exists() or "k1ll3d0x" in o + e else
         "the stale temp file is neither removed nor reported", owner="files"),
    Case("--save into a missing folder", "data loss", (CLEAN,), _missing_dir,
         lambda d, o, e: ("the message names a temp file" if ".tmp" in e else
                          "refused only after training" if "epochs" in o else None), owner="files", timeout=120),
    Case("predict -o onto a full disk (/dev/full)", "data loss", (CLEAN,), _dev_full,
         lambda d, o, e: "the device was replaced by a file" if not (d / "full").is_char_device() and
         (d / "full").exists() else None, owner="files"),
]


# -- hangs --------------------------------------------------------------------------------------

def _fifo(d: Path) -> list:
    os.mkfifo(d / "m.npz")
    return xpmlp("info", d / "m.npz")


def _mpi_missing(d: Path) -> list:
    import shutil
    import sys

    iris_like(d / "good.csv")
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise Skip("no mpiexec here (pip install mpich)")
    args = ["--target", "y", "--epochs", "3", "--no-progress"]
    return [mpiexec, "-n", "1", sys.executable, *xpmlp("train", d / "good.csv", *args), ":",
            "-n", "1", sys.executable, *xpmlp("train", d / "absent.csv", *args)]


def _mpi_tables_differ(d: Path) -> list:
    cmd = _mpi_missing(d)
    iris_like(d / "absent.csv", n=140)
    return cmd


class Skip(Exception):
    """The case cannot be rebuilt here (the reason says why)."""


def _named_rank(d: Path, out: str, err: str) -> "str | None":
    return None if "xpmlp: error: rank 1 of 2: " in err else "no line names the failing rank"


HANGS = [
    Case("mpiexec -n 2: rank 1's file missing", "hangs", (BOUNDED,), _mpi_missing, _named_rank, fast=False),
    Case("a model path that is a FIFO", "hangs", (CLEAN,), _fifo, timeout=15, owner="files"),
    Case("a model path that is /dev/zero", "hangs", (CLEAN,), lambda d: xpmlp("info", "/dev/zero"), timeout=15,
         owner="files"),
]
