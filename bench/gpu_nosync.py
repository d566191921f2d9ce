"""No host sync in xpmlp's step loop, on the GPU itself: a few epochs of each case with the libraries'
own sync detectors on around the steps (a step of ``bench/gpu_check.sh``).

    python bench/gpu_nosync.py [--dry-run] [--json PATH]

Cases: CuPy and torch CUDA, dense and sparse inputs, float32 and mixed precision in float16 and
bfloat16, dropout on (hidden layers; the inputs too where dense).  Around every step of every epoch, CuPy runs under
``cupyx.allow_synchronize(False)`` (a synchronising call raises ``DeviceSynchronized``) and torch
under ``torch.cuda.set_sync_debug_mode("error")`` (a synchronising CUDA call raises).  The window
opens once each epoch's row order is on the device (the loop's one host-to-device copy: from pageable
memory torch waits for it, pytorch/pytorch#120996) and closes after the epoch's last step, before the
epoch's one read.  A case xpmlp refuses (its own ``raise``: e.g. mixed precision needs dense inputs,
bfloat16 where the library has none) is reported as such (could not run, with the reason), not as a
failure; anything else that stops a case is one.

``--dry-run``: the stand-ins, whose own counters (``SYNCS``) are the detector; not a GPU result.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from gpu_common import CouldNotRun, Results, dry_run, gpu_backends, label, usable

import xpmlp

EPOCHS, ROWS, BATCH = 3, 512, 64
DTYPES = ("float32", "float16", "bfloat16")


class SyncError(RuntimeError):
    """The stand-in's counters moved inside the window."""


@contextlib.contextmanager
def detector(backend: str, dry: bool) -> Iterator[None]:
    """The library's sync detector for the block (see the module docstring)."""
    if dry:
        counter = _standin_counter(backend)
        before = collections.Counter(counter)
        yield
        moved = collections.Counter(counter) - before
        if moved:
            raise SyncError(f"operations that synchronise, counted by the stand-in: {dict(moved)}")
    elif backend == "cupy":
        import cupyx

        with cupyx.allow_synchronize(False):
            yield
    else:
        import torch

        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")


def _standin_counter(backend: str) -> collections.Counter:
    if backend == "cupy":
        import cupy

        return cupy._standin.SYNCS
    from standins import torch_cuda

    return torch_cuda.SYNCS


class Guard(xpmlp.Callback):
    """Puts every epoch's steps (after its row order is on the device) inside :func:`detector`."""

    def __init__(self, backend: str, dry: bool) -> None:
        self.backend, self.dry = backend, dry
        self.steps = 0

    def on_fit_begin(self, run: Any) -> None:
        draw = run.data.minibatches
        run.data.minibatches = lambda rng: self._guarded(draw(rng))

    def _guarded(self, batches: Iterator) -> Iterator:
        first = next(batches, None)  # the row order goes to the device here, outside the window
        if first is None:
            return
        with detector(self.backend, self.dry):
            for batch in itertools.chain([first], batches):
                self.steps += 1
                yield batch

    def on_fit_end(self, run: Any) -> None:
        if not self.dry and self.backend != "cupy":
            import torch

            torch.cuda.set_sync_debug_mode("default")


def inputs(backend: str, sparse: bool) -> tuple[Any, np.ndarray]:
    """``(X, T)``: 512 rows, 64 features (a sparse ``X`` about 80% zeros), 10 classes."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 64)).astype(np.float32)
    T = np.eye(10, dtype=np.float32)[rng.integers(0, 10, ROWS)]
    if not sparse:
        return X, T
    X[X < 0.85] = 0.0
    try:
        from scipy import sparse as sp

        return sp.csr_matrix(X), T
    except ImportError:  # the library's own sparse format
        if backend == "cupy":
            import cupy
            import cupyx.scipy.sparse

            return cupyx.scipy.sparse.csr_matrix(cupy.asarray(X)), T
        import torch

        return torch.as_tensor(X, device="cuda").to_sparse(), T


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is xpmlp saying no to the combination (a ``raise`` statement of its own, e.g.
    mixed precision on sparse inputs), rather than a failure (a sync detected, a library error, a bug)."""
    from xpmlp.backends.backend import BackendError

    last = traceback.extract_tb(exc.__traceback__)[-1]
    own = Path(last.filename).resolve().is_relative_to(Path(xpmlp.__file__).resolve().parent)
    return isinstance(exc, (TypeError, ValueError, NotImplementedError, BackendError)) and own and \
        (last.line or "").startswith("raise ")


def case(backend: str, sparse: bool, dtype: str, dry: bool) -> str:
    """One fit with the detector on; the note says what ran."""
    usable(backend)
    guard = Guard(backend, dry)
    try:
        X, T = inputs(backend, sparse)
        net = xpmlp.MLP([64, 128, 10], "relu", backend=backend, dtype="float32", seed=0, dropout=[0.2],
                        input_dropout=0.0 if sparse else 0.1,  # sparse inputs take no input dropout
                        compute_dtype=None if dtype == "float32" else dtype)
        xpmlp.fit(net, X, T, epochs=EPOCHS, batch_size=BATCH, optimizer="adam", patience=None, callbacks=[guard])
    except Exception as exc:
        if refused(exc):  # xpmlp said no: unsupported here
            raise CouldNotRun(f"unsupported: {type(exc).__name__}: {exc}") from None
        raise
    if guard.steps != EPOCHS * ROWS // BATCH:
        raise AssertionError(f"{guard.steps} steps ran under the detector, expected {EPOCHS * ROWS // BATCH}")
    return f"{EPOCHS} epochs, {guard.steps} steps under the detector, no sync"


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="append each case's result to this file (JSON lines)")
    args = parser.parse_args(argv)
    results = Results(args.json, "nosync", dry)
    print(f"no-sync run on {label(dry)}: {EPOCHS} epochs of {ROWS} rows, batches of {BATCH}, dropout on", flush=True)
    for backend in gpu_backends():
        for sparse in (False, True):
            for dtype in DTYPES:
                what = f"{backend} {'sparse' if sparse else 'dense'} {dtype}"
                results.run(what, lambda: case(backend, sparse, dtype, dry))
    return results.exit_status()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
