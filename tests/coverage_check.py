"""Line coverage of ``src/xpmlp`` under the test suite (MPI subprocesses included), held to the house rule.

Run after the suite ran under coverage (``coverage run -m pytest``, or as ``.ci/run`` does,
``COVERAGE_PROCESS_START=pyproject.toml python -m pytest``) and ``coverage combine``::

    python tests/coverage_check.py [--min 99]

It prints the line coverage, then every line of ``src/xpmlp`` no test ran, each with the reason
``tests/uncovered.toml`` gives for it (only a real GPU, driver or cluster can run it).  It fails
(exit status 1) when coverage is below ``--min`` percent, when an uncovered line has no entry
there, or when an entry matches no uncovered line (it is stale: the line moved on or got a test).
Entries name a line by its file and its code (stripped), not its number, so they survive edits
above it.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = Path(__file__).with_name("uncovered.toml")


def uncovered() -> tuple[list[tuple[str, int, str]], int, int]:
    """``([(file, line, code)], statements, missed)`` over every module of src/xpmlp."""
    cov = coverage.Coverage(config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    found, statements, missed = [], 0, 0
    for path in sorted((ROOT / "src" / "xpmlp").rglob("*.py")):
        _, stmts, _, missing, _ = cov.analysis2(str(path))
        source = path.read_text().splitlines()
        rel = str(path.relative_to(ROOT))
        statements, missed = statements + len(stmts), missed + len(missing)
        found += [(rel, n, source[n - 1].strip()) for n in missing]
    return found, statements, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min", type=float, default=99.0, help="least line coverage, percent")
    args = parser.parse_args(argv)
    entries = tomllib.loads(ENTRIES.read_text()).get("line", [])
    reasons = {(e["file"], e["code"]): e["why"] for e in entries}
    lines, statements, missed = uncovered()
    percent = 100.0 * (statements - missed) / max(statements, 1)
    print(f"line coverage of src/xpmlp: {percent:.2f}% ({statements - missed} of {statements} lines run by the tests)")
    unexplained = [(f, n, code) for f, n, code in lines if (f, code) not in reasons]
    for f, n, code in lines:
        print(f"  {f}:{n}: {code}\n      -> {reasons.get((f, code), 'NO REASON GIVEN in tests/uncovered.toml')}")
    stale = sorted(set(reasons) - {(f, code) for f, _, code in lines})
    for f, code in stale:
        print(f"stale entry in tests/uncovered.toml (no such uncovered line): {f}: {code}")
    ok = percent >= args.min and not unexplained and not stale
    if percent < args.min:
        print(f"FAILED: line coverage {percent:.2f}% is below {args.min}%")
    if unexplained:
        print(f"FAILED: {len(unexplained)} uncovered line(s) without a reason in tests/uncovered.toml")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
