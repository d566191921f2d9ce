"""The hostile-input battery of issue 24, rerunnable: ``python tests/hostile/battery.py --help``.

Every case of the review (cases.py, cases_more.py: data loss, hangs, resource exhaustion, silent
garbage, unclear errors) is rebuilt in a fresh temporary folder and run against this checkout's
``xpmlp`` (``src/`` first on the path) with a timeout, in its own process group (a hang is killed
with everything it started).  Each ends as

* ``clean error``: status 2, one line ``xpmlp: error: ...`` on standard error, no traceback;
* ``correct result``: status 0 and the case's check passed (the file kept, no formula cell, ...);
* ``bounded failure``: a non-zero status within the timeout, no traceback (a rank naming itself);
* ``FAIL``: anything else -- a hang past the timeout, a traceback, garbage with status 0, an input
  destroyed -- with why; ``SKIP`` where the case cannot be rebuilt here.

The exit status is 1 if any case FAILs.  ``--fast`` runs the quick subset (tests/hostile/
test_battery.py runs it under pytest); ``-k`` the cases whose name contains TEXT; ``--src DIR``
another checkout's ``src/`` (another branch).
"""

from __future__ import annotations

import argparse
import os
import pty
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
sys.path[:0] = [str(HERE), str(SRC)]

from cases import BOUNDED, CLEAN, CORRECT, DATA_LOSS, HANGS, Case, Skip  # noqa: E402
from cases_more import ALL as MORE  # noqa: E402

CASES: list[Case] = DATA_LOSS + HANGS + MORE


def use_sources(src: Path) -> None:
    """Test the xpmlp in ``src`` (before anything imported xpmlp)."""
    global SRC
    SRC = src.resolve()
    sys.path.insert(0, str(SRC))


def run_case(case: Case, folder: Path) -> tuple[str, str, float]:
    """``(outcome, detail, seconds)`` of one case, its files made in ``folder``."""
    try:
        argv = case.build(folder)
    except Skip as why:
        return "SKIP", str(why), 0.0
    cmd = argv if Path(argv[0]).is_absolute() and not argv[0].startswith("-") else [sys.executable, *argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    start = time.perf_counter()
    terminal = pty.openpty() if case.tty else None  # standard output a terminal, as a user's is
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=terminal[1] if terminal else subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    shown = _TerminalReader(terminal) if terminal else None
    try:
        out, err = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "FAIL", f"still running after {case.timeout:.0f} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    out = shown.text() if shown else out
    return (*judge(case, folder, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")),
            seconds)


class _TerminalReader:
    """Reads what a process shows on a pseudo-terminal, while it runs."""

    def __init__(self, terminal: tuple[int, int]) -> None:
        self.master, slave = terminal
        os.close(slave)
        self.chunks: list[bytes] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the process closed the terminal
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def text(self) -> bytes:
        self.thread.join(timeout=5)
        os.close(self.master)
        return b"".join(self.chunks)


def judge(case: Case, folder: Path, code: int, out: str, err: str) -> tuple[str, str]:
    """What the run counts as (see the module docstring), and a short detail."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    first = lines[0][:160] if lines else ""
    if "Traceback" in err:
        return "FAIL", f"a traceback (status {code}): {lines[-1][:160] if lines else ''}"
    try:
        problem = case.check(folder, out, err) if case.check else None
    except Exception as exc:  # the files are not what the check expects: that is its finding
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        return "FAIL", f"{problem} (status {code}): {first}"
    if CLEAN in case.expect and code == 2 and len(lines) == 1 and lines[0].startswith("xpmlp: error: "):
        return CLEAN, first
    if CORRECT in case.expect and code == 0:
        return CORRECT, (out.strip().splitlines() or [""])[-1][:160]
    if BOUNDED in case.expect and code != 0:
        return BOUNDED, next((ln for ln in lines if ln.startswith("xpmlp: ")), first)[:160]
    return "FAIL", f"status {code}, {len(lines)} line(s) on standard error, expected {' or '.join(case.expect)}: " \
        f"{first or (out.strip().splitlines() or [''])[-1][:160]}"


def run(cases: list[Case], stream=None) -> list[tuple[Case, str, str, float]]:
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="xpmlp-hostile-") as tmp:
            outcome, detail, seconds = run_case(case, Path(tmp))
        results.append((case, outcome, detail, seconds))
        owner = f" [{case.owner}]" if outcome == "FAIL" and case.owner != "bounds" else ""
        print(f"{outcome:16s} {seconds:6.1f} s  {case.section:20s} {case.name}{owner}: {detail}", file=stream or sys.stdout,
              flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="only the quick subset")
    p.add_argument("-k", default="", help="only the cases whose name contains this")
    p.add_argument("--src", type=Path, default=SRC, help="the xpmlp sources to test (default: this checkout's)")
    args = p.parse_args(argv)
    use_sources(args.src)
    cases = [c for c in CASES if (c.fast or not args.fast) and args.k.lower() in c.name.lower()]
    results = run(cases)
    failed = [r for r in results if r[1] == "FAIL"]
    print(f"{len(results)} cases: " + ", ".join(f"{sum(r[1] == o for r in results)} {o}" for o in
                                                (CLEAN, CORRECT, BOUNDED, "SKIP", "FAIL")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
