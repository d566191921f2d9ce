"""Host buffers a reader fills and their asynchronous copies to the device (streamed training).

:class:`Staging` is the seam between a background reader and the training loop:
:meth:`~Staging.host_buffer` gives a host array to read rows into (page-locked on CUDA, so the
copy can run asynchronously: CuPy's ``alloc_pinned_memory``, torch's ``pin_memory``);
:meth:`~Staging.upload` starts its copy to the device on a side stream, after the compute
stream's work so far (the device memory of an earlier chunk may then be reused), and returns
the device array with a ticket; :meth:`~Staging.ready` makes the compute stream wait for the
copy (on the device: no host wait), :meth:`~Staging.release` makes the host wait for it (the
reader does this before it refills the buffer).  On the CPU (NumPy, torch on the CPU,
array-api-strict) the copy is ``Backend.asarray`` and the waits are nothing.

:func:`recording` keeps a timeline of CUDA events while it runs (``bench/bench_stream.py
--timeline``, ``bench/gpu_stream.py``): per chunk, the copy's start and end on the side stream, and on
the compute stream the moments it asks for the chunk (its earlier work done) and gets it;
:func:`timeline` turns them into milliseconds and says how long the compute stream waited for
copies against how long they took (the overlap the side stream is for).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from .backend import Backend

__all__ = ["Staging", "recording", "timeline"]

#: While :func:`recording` runs: one dict of CUDA events per chunk uploaded (``copy_start``, ``copy_end``,
#: ``ready``), else None.
_RECORD: "list[dict] | None" = None


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Record the CUDA events of every chunk uploaded meanwhile (on the host: nothing); yields their list."""
    global _RECORD
    saved, _RECORD = _RECORD, []
    try:
        yield _RECORD
    finally:
        _RECORD = saved


def timeline(records: list, elapsed: Any) -> dict:
    """``records`` (from :func:`recording`) in milliseconds from the first copy's start, by
    ``elapsed(start_event, end_event)`` (CuPy's ``get_elapsed_time``, torch's ``elapsed_time``):
    ``{"chunks": [{"copy": [start, end], "asked": t, "ready": t}], "copy_ms", "wait_ms", "hidden_fraction"}``.
    A chunk's copies (``X``, ``T``, ``w``) run from the first's start to the last's end; the compute stream
    waited ``ready - asked`` for them; ``hidden_fraction`` is the share of the copying it did not wait for
    (1: every copy overlapped earlier compute)."""
    for r in records:
        for event in r.values():
            event.synchronize()
    chunks, first, t0 = [], None, records[0]["copy_start"] if records else None
    for r in records:
        first = first or r
        if "ready" in r:  # the chunk's last copy, the one the compute stream waits for
            chunks.append({"copy": [elapsed(t0, first["copy_start"]), elapsed(t0, r["copy_end"])],
                           "asked": elapsed(t0, r["asked"]), "ready": elapsed(t0, r["ready"])})
            first = None
    copy_ms = sum(c["copy"][1] - c["copy"][0] for c in chunks)
    wait_ms = sum(max(0.0, c["ready"] - c["asked"]) for c in chunks)
    hidden = min(1.0, max(0.0, 1.0 - wait_ms / copy_ms)) if copy_ms > 0 else None
    return {"chunks": chunks, "copy_ms": copy_ms, "wait_ms": wait_ms, "hidden_fraction": hidden}


class Staging:
    """Pinned host buffers and side-stream copies for ``backend`` (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.kind = "host"
        if backend.name == "cupy":
            self.kind = "cupy"
        elif backend.name == "torch" and getattr(backend.device, "type", "cpu") == "cuda":
            self.kind = "torch-cuda"
        self._stream: Any = None

    def host_buffer(self, shape: tuple, dtype: Any) -> np.ndarray:
        """An uninitialised host array of ``shape`` and NumPy ``dtype``; page-locked on CUDA."""
        if self.kind == "cupy":
            import cupy

            count = int(np.prod(shape))
            memory = cupy.cuda.alloc_pinned_memory(max(count * np.dtype(dtype).itemsize, 1))
            return np.frombuffer(memory, dtype=dtype, count=count).reshape(shape)
        if self.kind == "torch-cuda":
            import torch

            return torch.empty(shape, dtype=getattr(torch, np.dtype(dtype).name), pin_memory=True).numpy()
        return np.empty(shape, dtype=dtype)

    def upload(self, host: np.ndarray, dtype: Any = None) -> tuple[Any, Any]:
        """``(device array, ticket)``: ``host`` copied to the device, on a side stream on CUDA."""
        be = self.backend
        if self.kind == "host":
            return be.asarray(host, dtype), None
        with be.activate():
            if self.kind == "cupy":
                import cupy

                stream = self._stream = self._stream or cupy.cuda.Stream(non_blocking=True)
                after = cupy.cuda.Event()
                after.record(cupy.cuda.get_current_stream())
                stream.wait_event(after)  # an earlier chunk's memory is free once the compute stream is past it
                start = cupy.cuda.Event()
                start.record(stream)
                with stream:
                    out = be.asarray(host, dtype)
                done = cupy.cuda.Event()
                done.record(stream)
                self._note(start, done)
                return out, done
            return self._torch_upload(host, dtype)

    def _torch_upload(self, host: np.ndarray, dtype: Any) -> tuple[Any, Any]:
        import torch

        compute = torch.cuda.current_stream(self.backend.device)
        stream = self._stream = self._stream or torch.cuda.Stream(self.backend.device)
        stream.wait_stream(compute)
        timed = _RECORD is not None
        with torch.cuda.stream(stream):
            start = torch.cuda.Event(enable_timing=timed)
            start.record(stream)
            out = torch.from_numpy(host).to(device=self.backend.device, dtype=dtype or self.backend.dtype,
                                            non_blocking=True)
            done = torch.cuda.Event(enable_timing=timed)
            done.record(stream)
        self._note(start, done)
        out.record_stream(compute)  # the caching allocator keeps it until the compute stream is past it
        return out, done

    def _note(self, start: Any, done: Any) -> None:
        if _RECORD is not None:
            _RECORD.append({"copy_start": start, "copy_end": done})

    def ready(self, ticket: Any) -> None:
        """The compute stream waits (on the device) for the copy ``ticket`` stands for."""
        if self.kind == "cupy":
            import cupy

            compute, event = cupy.cuda.get_current_stream(), cupy.cuda.Event
        elif self.kind == "torch-cuda":
            import torch

            compute, event = torch.cuda.current_stream(self.backend.device), torch.cuda.Event
        else:
            return
        entry = next((r for r in reversed(_RECORD) if r["copy_end"] is ticket), None) if _RECORD else None
        if entry is not None:
            entry["asked"] = self._mark(event, compute)  # the compute stream's earlier work is done
        compute.wait_event(ticket)
        if entry is not None:
            entry["ready"] = self._mark(event, compute)  # ... and this chunk's copy too

    def _mark(self, event: Any, stream: Any) -> Any:
        mark = event() if self.kind == "cupy" else event(enable_timing=True)
        mark.record(stream)
        return mark

    def release(self, ticket: Any) -> None:
        """The host waits until the copy ``ticket`` stands for has read its buffer (the reader's wait)."""
        if ticket is not None:
            ticket.synchronize()
