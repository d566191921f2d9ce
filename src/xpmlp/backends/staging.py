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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend

__all__ = ["Staging"]


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
                with stream:
                    out = be.asarray(host, dtype)
                done = cupy.cuda.Event()
                done.record(stream)
                return out, done
            return self._torch_upload(host, dtype)

    def _torch_upload(self, host: np.ndarray, dtype: Any) -> tuple[Any, Any]:
        import torch

        compute = torch.cuda.current_stream(self.backend.device)
        stream = self._stream = self._stream or torch.cuda.Stream(self.backend.device)
        stream.wait_stream(compute)
        with torch.cuda.stream(stream):
            out = torch.from_numpy(host).to(device=self.backend.device, dtype=dtype or self.backend.dtype,
                                            non_blocking=True)
            done = torch.cuda.Event()
            done.record(stream)
        out.record_stream(compute)  # the caching allocator keeps it until the compute stream is past it
        return out, done

    def ready(self, ticket: Any) -> None:
        """The compute stream waits (on the device) for the copy ``ticket`` stands for."""
        if self.kind == "cupy":
            import cupy

            cupy.cuda.get_current_stream().wait_event(ticket)
        elif self.kind == "torch-cuda":
            import torch

            torch.cuda.current_stream(self.backend.device).wait_event(ticket)

    def release(self, ticket: Any) -> None:
        """The host waits until the copy ``ticket`` stands for has read its buffer (the reader's wait)."""
        if ticket is not None:
            ticket.synchronize()
