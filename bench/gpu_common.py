"""What the steps of ``bench/gpu_check.sh`` share: the stand-ins for ``--dry-run``, result lines, timing.

``--dry-run`` (:func:`use_standins`): ``import cupy`` gives the CuPy stand-in (``tests/standins/site``,
host memory) and torch's CUDA is the torch-CUDA stand-in (``tests/standins/torch_cuda.py``) for the
whole process, so every step runs its GPU code paths here; nothing it reports is a GPU result.

Each step prints one ``RESULT <pass|fail|could-not-run> <what>`` line per check as the check ends
(:class:`Results`) and appends it to a JSON-lines file, so a step cut off by its time limit keeps
what it finished; its exit status is 1 if a check failed, 3 if none could run, else 0.

Run a module with the stand-ins held: ``python bench/gpu_common.py --dry-run -m xpmlp selftest``.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
_HELD: list = []


def use_standins() -> None:
    """The CuPy and torch-CUDA stand-ins for the rest of this process (before cupy or torch is used)."""
    os.environ["XPMLP_GPU_CHECK_STANDINS"] = "1"
    os.environ.setdefault("XPMLP_STANDIN_GPUS", "1")  # one simulated GPU, as on the lent machine
    sys.path[:0] = [str(ROOT / "tests" / "standins" / "site"), str(ROOT / "tests")]
    try:
        from standins.torch_cuda import torch_cuda
    except ImportError:  # no torch here: the CuPy stand-in alone
        return
    _HELD.append(torch_cuda(devices=int(os.environ["XPMLP_STANDIN_GPUS"])))
    _HELD[-1].__enter__()


def dry_run(argv: list[str]) -> bool:
    """Whether ``--dry-run`` is asked for (removed from ``argv``); the stand-ins are then in place."""
    if "--dry-run" not in argv:
        return False
    argv.remove("--dry-run")
    use_standins()
    return True


def label(dry: bool) -> str:
    return "the stand-ins (CPU, no GPU: not GPU results)" if dry else "the real libraries"


class Results:
    """A step's checks: printed and appended to ``path`` (JSON lines) as each ends."""

    def __init__(self, path: "str | os.PathLike | None", step: str, dry: bool, quiet: bool = False) -> None:
        self.path, self.step, self.dry, self.quiet = path, step, dry, quiet
        self.outcomes: list[str] = []

    def add(self, outcome: str, what: str, **data: Any) -> None:
        self.outcomes.append(outcome)
        if not self.quiet:
            print(f"RESULT {outcome} {what}" + (" [stand-in]" if self.dry else ""), flush=True)
        if self.path:
            record = {"step": self.step, "outcome": outcome, "what": what, "standin": self.dry, **data}
            with open(self.path, "a") as f:
                f.write(json.dumps(record, default=str) + "\n")

    def run(self, what: str, check: Callable[[], "str | None"], **data: Any) -> None:
        """``check()`` passes (returns a note or None), fails (raises), or could not run (raises
        :class:`CouldNotRun`)."""
        start = time.perf_counter()
        try:
            note = check()
        except CouldNotRun as exc:
            self.add("could-not-run", f"{what}: {exc}", **data)
        except Exception as exc:  # a failure of the check: said, and the step goes on
            self.add("fail", f"{what}: {type(exc).__name__}: {str(exc)[:300]}", **data)
        else:
            self.add("pass", what + (f": {note}" if note else ""), seconds=time.perf_counter() - start, **data)

    def exit_status(self) -> int:
        if "fail" in self.outcomes:
            return 1
        return 3 if self.outcomes and set(self.outcomes) == {"could-not-run"} else 0


class CouldNotRun(Exception):
    """A check this machine cannot run (a library or a second GPU missing), with the reason."""


def gpu_backends() -> list[str]:
    """The xpmlp GPU backends to check: ``cupy`` and ``torch:cuda``."""
    return ["cupy", "torch:cuda"]


def usable(backend: str) -> None:
    """Raise :class:`CouldNotRun` unless ``backend`` runs here."""
    import xpmlp

    name = backend.split(":")[0]
    if name == "cupy":
        why = xpmlp.available_backends().get("cupy", "")
        if why != "ok":
            raise CouldNotRun(f"cupy: {why}")
        return
    try:
        import torch
    except ImportError:
        raise CouldNotRun("torch is not installed") from None
    if not torch.cuda.is_available():
        raise CouldNotRun("torch.cuda.is_available() is False")


def main(argv: list[str]) -> None:
    """``[--dry-run] -m MODULE ARGS...``: run a module (``python -m``) with the stand-ins held."""
    dry_run(argv)
    if len(argv) < 2 or argv[0] != "-m":
        raise SystemExit("usage: python bench/gpu_common.py [--dry-run] -m MODULE [ARGS...]")
    sys.argv = [argv[1], *argv[2:]]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
