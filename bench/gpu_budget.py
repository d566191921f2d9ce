"""A pytest plugin for ``bench/gpu_check.sh``'s test step: the run ends cleanly once its time is spent.

    XPMLP_TEST_BUDGET=80 python -m pytest -p gpu_budget ...

After each test, once ``XPMLP_TEST_BUDGET`` seconds have passed since pytest started (collection
included), no further test starts; the session ends as after ``-x`` but, with no failure, exits 0,
and its last line says how many of the selected tests ran: a capped run, reported as such.  The
process then ends at once (``os._exit``), without waiting for the libraries' exit handlers.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

_START = time.monotonic()
_state = {"ran": 0, "selected": 0, "capped": False, "status": 0}


def pytest_collection_finish(session: pytest.Session) -> None:
    _state["selected"] = len(session.items)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    _state["ran"] += 1
    budget = float(os.environ.get("XPMLP_TEST_BUDGET", "inf"))
    if time.monotonic() - _START > budget and not item.session.shouldstop:
        _state["capped"] = True
        item.session.shouldstop = f"the test step's {budget:.0f} s are spent"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _state["capped"] and session.testsfailed == 0:
        session.exitstatus = pytest.ExitCode.OK
    _state["status"] = int(session.exitstatus)
    what = "capped: " if _state["capped"] else ""
    print(f"\nxpmlp-gpu-check tests: {what}{_state['ran']} of {_state['selected']} selected tests ran"
          f" in {time.monotonic() - _START:.0f} s, {session.testsfailed} failed")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Out at once, with pytest's status: the libraries' exit handlers (MPI, thread pools) can take
    seconds on a loaded machine, and the step's time limit counts them."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_state["status"])
