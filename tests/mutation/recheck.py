"""Rerun mutants that mutmut reported alive against tests it cannot map to them (issue 17).

    python tests/mutation/recheck.py MUTANTS_DIR --sample 16 --seed 0 -- tests/distributed -m "not slow"
    python tests/mutation/recheck.py mutants --match precision -- tests/training/test_precision.py

mutmut runs, for each mutant, the tests that called the mutated function in its own process; the
data-parallel tests call it in ``mpiexec`` ranks, which it never sees.  This script activates one
surviving mutant at a time (mutmut's ``MUTANT_UNDER_TEST``, inherited by the ranks, with the
mutated ``src`` first on ``PYTHONPATH``) and runs the given tests, stopping at the first failure,
after checking that they pass with no mutant active.
A mutant counts as killed only when pytest reports a failing test (exit status 1).  ``--sample``
draws that many of the survivors (seeded), since each run of the MPI tests takes a minute or two;
``--match`` picks survivors by name (e.g. to check tests written after the run; copy them into
the mutants folder's ``tests`` first).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path


def survivors(mutants: Path) -> list[str]:
    """The names ``mutmut results`` lists as survived, run where mutmut ran."""
    out = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "results"], cwd=mutants.parent,
                         capture_output=True, text=True, check=True).stdout
    return [line.split(":")[0].strip() for line in out.splitlines() if line.strip().endswith("survived")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", type=Path, help="mutmut's mutants/ folder")
    parser.add_argument("--sample", type=int, default=0, help="this many survivors, drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--match", default="", help="only survivors whose name contains this")
    parser.add_argument("pytest_args", nargs="+", help="the tests to run (after --)")
    args = parser.parse_args()
    mutants = args.mutants.resolve()
    names = [name for name in survivors(mutants) if args.match in name]
    if args.sample:
        names = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    control = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                             cwd=mutants, env={**os.environ, "PYTHONPATH": str(mutants / "src")},
                             capture_output=True, text=True)
    if control.returncode != 0:  # a test that fails unmutated would "kill" every mutant
        print(control.stdout[-3000:], file=sys.stderr)
        raise SystemExit(f"the tests fail without a mutant (pytest status {control.returncode}); fix them first")
    print(f"| mutant | result | seconds |\n| --- | --- | --- |")
    killed = 0
    for name in names:
        env = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": str(mutants / "src")}
        start = time.time()
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *args.pytest_args], cwd=mutants, env=env, capture_output=True, text=True)
        result = {0: "survived", 1: "killed"}.get(done.returncode, f"error (pytest status {done.returncode})")
        killed += done.returncode == 1
        print(f"| `{name}` | {result} | {time.time() - start:.0f} |", flush=True)
    print(f"\n{killed} of {len(names)} killed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
