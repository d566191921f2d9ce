"""Each contender in a process of its own, driven round by round from the parent.

Why: in one process, PyTorch's OpenMP threads and OpenBLAS's threads each keep spinning for a
while after their own work, and on a 2-core machine they take the cores from the other library:
measured here, the NumPy floor of `small` took 2x longer with torch loaded and used in the same
process, and torch eager ~3x longer than alone (bench/README.md, "Isolation").  A worker process
holds only its own contender's libraries and thread pools; while another worker runs, it waits
on its pipe (its pools go idle), so every contender is timed as if it ran alone, yet the rounds
stay interleaved, so slow drifts of the machine hit every contender alike.

Short epochs (``small``: a few ms) run several times back to back in each turn (the same number
for every contender, so they all train the same epochs), the median reported: after a second of
settling the cores are cold, and one short epoch would time the wake-up.

A thread pool does not go idle the moment its work ends: OpenBLAS's threads spin for about
2^28 cycles and OpenMP's (torch) for a spin count before they sleep.  So after each timed epoch
a worker sleeps for ``SETTLE_S`` before it reports, and the next contender starts on quiet cores.

The worker times ``run_epoch`` itself (with ``_common.time_call``: CUDA events on GPUs), so the
pipe's latency and the settling are not counted.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
import traceback

#: Seconds a worker waits after each timed epoch, so its thread pools stop spinning (see above).
SETTLE_S = 1.0


def _worker(conn, name: str, cfg, lr: float, seed: int, threads: int) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _common as C
    import _contenders
    from threadpoolctl import threadpool_limits

    try:
        limiter = threadpool_limits(limits=threads)  # noqa: F841  (kept alive for the process)
        if "torch" in name:
            import torch

            torch.set_num_threads(threads)
        X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=seed)
        Ws, bs = C.init_weights(cfg.layers, seed=seed)
        c = _contenders.build(name, cfg, lr, (X, T, y, Ws, bs))
        conn.send(("ready", (c.trains, c.clock, c.device_kind)))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        command, arg = conn.recv()
        try:
            if command == "epochs":  # arg = (first epoch number, how many): their median time
                seconds = [C.time_call(lambda e=e: c.run_epoch(e), c.clock) for e in range(arg[0], arg[0] + arg[1])]
                time.sleep(SETTLE_S)  # let this process's spinning thread pools go idle before the next one runs
                conn.send(("ok", C.median(seconds)))
            elif command == "weights":
                conn.send(("ok", c.weights()))
            elif command == "profile":
                conn.send(("ok", _profile(c, arg, C)))
            else:
                return
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


def _profile(c, top: int, C) -> str:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    C.time_call(lambda: c.run_epoch(10_000), c.clock)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return "\n".join(out.getvalue().splitlines()[:top + 12])


class Remote:
    """A contender living in its own process; the same interface as a local one."""

    def __init__(self, name: str, cfg, lr: float, seed: int, threads: int) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no thread pool inherited
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, name, cfg, lr, seed, threads), daemon=True)
        self.process.start()
        kind, value = self.conn.recv()
        if kind == "error":
            self.close()
            raise RuntimeError(value)
        self.trains, self.clock, self.device_kind = value

    def _ask(self, command: str, arg=None):
        self.conn.send((command, arg))
        kind, value = self.conn.recv()
        if kind == "error":
            raise RuntimeError(value)
        return value

    def timed_epochs(self, first: int, count: int = 1) -> float:
        """Median seconds of ``count`` epochs run back to back."""
        return self._ask("epochs", (first, count))

    def weights(self):
        return self._ask("weights")

    def profile(self, top: int) -> str:
        return self._ask("profile", top)

    def close(self) -> None:
        try:
            self.conn.send(("stop", None))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


class Local:
    """A contender in this process (``--in-process``: how the distortion shows)."""

    def __init__(self, name: str, cfg, lr: float, seed: int, threads: int) -> None:
        import _common as C
        import _contenders

        self.C, self.name = C, name
        X, T, y = C.make_data(cfg.n_samples, cfg.layers[0], cfg.layers[-1], seed=seed)
        Ws, bs = C.init_weights(cfg.layers, seed=seed)
        self.c = _contenders.build(name, cfg, lr, (X, T, y, Ws, bs))
        self.trains, self.clock, self.device_kind = self.c.trains, self.c.clock, self.c.device_kind

    def timed_epochs(self, first: int, count: int = 1) -> float:
        return self.C.median([self.C.time_call(lambda e=e: self.c.run_epoch(e), self.clock)
                              for e in range(first, first + count)])

    def weights(self):
        return self.c.weights()

    def profile(self, top: int) -> str:
        return _profile(self.c, top, self.C)

    def close(self) -> None:
        pass
