"""Streamed training on the GPU code paths (the CuPy and torch-CUDA stand-ins): pinned host buffers,
copies on a side stream waited for on the device once per chunk, and no host sync in the step loop."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.optim.optimizers import Adam
from xpmlp.training import fit
from xpmlp.training.sources import ArraySource

from sync_probes import KINDS, Probe, counting

N_ROWS, CHUNK, EPOCHS = 64, 16, 2


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_step_loop_has_no_sync(monkeypatch, kind):
    """The loop's only host-to-device copies are the chunks (X, T, w: three per chunk), and nothing syncs."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(N_ROWS, 3)), rng.integers(0, 3, N_ROWS)
    with counting(kind, monkeypatch) as (backend, syncs, uploads):
        model = xpmlp.MLP([3, 5, 3], "relu", backend=backend, seed=0)
        probe = Probe(syncs, uploads)
        fit(model, ArraySource(X, y, np.linspace(0.5, 1.5, N_ROWS), chunk_rows=CHUNK), None, epochs=EPOCHS,
            batch_size=8, optimizer=Adam(), max_grad_norm=1.0, window=2, validation_data=(X[:16], y[:16]),
            patience=None, callbacks=[probe])
    reader = {k for k in probe.seen if k.endswith("(thread xpmlp-feeder)")}  # the reader's, before it refills
    assert reader <= {"Event.synchronize (thread xpmlp-feeder)"}
    seen = {k: v for k, v in probe.seen.items() if k not in reader}
    assert not seen, f"operations that synchronise on {kind}, inside the step loop: {seen}"
    if kind in ("strict", "torch", "cupy-standin"):  # the torch-CUDA stand-in counts factories' copies only
        assert sum(probe.uploaded.values()) == EPOCHS * 3 * (N_ROWS // CHUNK), dict(probe.uploaded)


def streamed(backend, **kwargs):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(N_ROWS, 3)), rng.integers(0, 3, N_ROWS)
    model = xpmlp.MLP([3, 5, 3], "relu", backend=backend, seed=0)
    return fit(model, ArraySource(X, y, chunk_rows=CHUNK), None, epochs=1, batch_size=8, patience=None, **kwargs)


def test_cupy_copies_pinned_chunks_on_a_side_stream():
    from standins import cupy_standin

    with cupy_standin() as cupy:
        history = streamed(xpmlp.resolve("cupy:1", dtype="float32"))
        standin = cupy._standin
        assert np.isfinite(history.loss[0])
        assert len(standin.PINNED) == 3 * 2  # X and T buffers of each of the reader's 3 slots, made once
        chunks = N_ROWS // CHUNK
        side = {id(stream) for stream, _ in standin.WAITS if stream is not cupy.cuda.Stream.null}
        assert len(side) == 1  # one copy stream, waiting (on the device) for the compute stream before each copy
        assert sum(stream is cupy.cuda.Stream.null for stream, _ in standin.WAITS) == chunks  # one wait a chunk
        assert standin.SYNCS["Event.synchronize"] == 0  # the loop's thread never waits for a copy
        assert standin.SYNCS["Event.synchronize (thread xpmlp-feeder)"] >= 1  # the reader does, to refill a buffer


def test_torch_cuda_copies_pinned_chunks_on_a_side_stream():
    pytest.importorskip("torch")
    from standins import torch_cuda

    with torch_cuda.torch_cuda():
        history = streamed(xpmlp.resolve("torch:cuda:1", dtype="float32"))
        assert np.isfinite(history.loss[0])
        assert torch_cuda.PINNED == ["empty"] * 6
        kinds = [what for what, *_ in torch_cuda.WAITS]
        chunks = N_ROWS // CHUNK
        assert kinds.count("wait_event") == chunks and kinds.count("wait_stream") == 2 * chunks
        assert kinds.count("record_stream") == 2 * chunks  # X and T kept from reuse until the compute stream is past


def _recorded(backend) -> dict:
    from xpmlp.backends import staging

    with staging.recording() as records:
        streamed(backend)
    assert staging._RECORD is None  # recording ends with its block
    return records


def _check_timeline(records, elapsed) -> None:
    from xpmlp.backends import staging

    t = staging.timeline(records, elapsed)
    assert len(t["chunks"]) == N_ROWS // CHUNK  # one entry per chunk copied and used
    for c in t["chunks"]:
        assert 0.0 <= c["copy"][0] <= c["copy"][1] <= c["ready"] and c["asked"] <= c["ready"]
    assert t["copy_ms"] == pytest.approx(sum(c["copy"][1] - c["copy"][0] for c in t["chunks"]))
    assert t["wait_ms"] == pytest.approx(sum(c["ready"] - c["asked"] for c in t["chunks"]))
    assert t["hidden_fraction"] is None or 0.0 <= t["hidden_fraction"] <= 1.0


def test_a_timeline_of_the_copies_on_cupy():
    """``staging.recording`` keeps each chunk's CUDA events; ``timeline`` reads them (host clocks here)."""
    from standins import cupy_standin

    with cupy_standin() as cupy:
        records = _recorded(xpmlp.resolve("cupy:1", dtype="float32"))
        used = [r for r in records if "ready" in r]  # a chunk's X and T copies: the compute stream waits for the last
        assert len(records) == 2 * len(used) and all(set(r) == {"copy_start", "copy_end", "asked", "ready"} for r in used)
        _check_timeline(records, cupy.cuda.get_elapsed_time)


def test_a_timeline_of_the_copies_on_torch_cuda():
    pytest.importorskip("torch")
    from standins import torch_cuda

    with torch_cuda.torch_cuda():
        _check_timeline(_recorded(xpmlp.resolve("torch:cuda:1", dtype="float32")), lambda a, b: a.elapsed_time(b))


def test_no_timeline_on_the_host_and_none_without_copying():
    from xpmlp.backends import staging

    assert _recorded(xpmlp.resolve("numpy", dtype="float32")) == []  # no side stream, no events
    assert staging.timeline([], None)["hidden_fraction"] is None
