"""A stand-in for PyTorch's CUDA devices on a CPU-only build: tensors that say they live on ``cuda:N``.

Inside ``with torch_cuda():`` ``torch.cuda`` reports :data:`DEVICE_COUNT` devices, one of them
current (``torch.cuda.device(i)``, ``set_device``), and a tensor made for ``cuda:i`` (by a
factory's ``device=``, ``.to()``, ``.cuda()``) is a :class:`CudaTensor`: CPU memory whose
``device`` is ``cuda:i`` and ``is_cuda`` True, so every CUDA branch of the code is taken.  It
fails where CUDA tensors fail -- ``.numpy()`` and ``numpy.asarray`` refuse it, an operation
mixing it with a CPU tensor or another device's raises PyTorch's ``Expected all tensors to be
on the same device`` -- and counts what would make the host wait (``.cpu()``, ``.item()``,
``bool()``, ``float()``, ``.tolist()``, boolean-mask indexing, data-dependent shapes such as
``nonzero``) in :data:`SYNCS` and host-to-device copies in :data:`UPLOADS`; streams
(``torch.cuda.Stream``, ``stream``, ``current_stream``) record their device-side waits in :data:`WAITS`,
and ``pin_memory=True`` gives host memory, noted in :data:`PINNED`.  ``torch.Generator(device=
"cuda:i")`` is a CPU generator remembered as that device's; one of the other device type is refused
as PyTorch refuses it.  ``repr``/``str``/``format`` of a CUDA tensor count a sync (PyTorch prints
from a host copy).  ``torch.cuda.get_device_properties(i)`` gives each device's PCI bus id, one per
physical GPU (``XPMLP_STANDIN_VISIBLE``, as in the CuPy stand-in: each MPI rank's visible GPUs).

``torch.distributed``: a process group runs for real on gloo over the CPU memory, whatever backend
it is asked for, but takes only the device types that backend serves in PyTorch (``BackendConfig``,
``torch/distributed/distributed_c10d.py``): in a group made with ``"nccl"`` an all-reduce of a CPU
tensor raises PyTorch's "No backend type associated with device type cpu"; ``"gloo"`` takes both,
``"cpu:gloo,cuda:nccl"`` each named one.  ``dist.get_backend()`` says the backend asked for.

Sparse tensors: a sparse tensor made for or moved to ``cuda:i`` is a :class:`CudaSparse` (see there),
which counts what makes PyTorch's CUDA sparse kernels wait for the device.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from types import SimpleNamespace
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["CudaTensor", "CudaSparse", "torch_cuda", "DEVICE_COUNT", "SYNCS", "UPLOADS", "WAITS", "PINNED"]

DEVICE_COUNT = 2
SYNCS: collections.Counter = collections.Counter()
UPLOADS: collections.Counter = collections.Counter()
WAITS: list = []  #: ``(what, stream, event or stream)``: device-side waits and streams recorded on tensors
PINNED: list = []  #: factories asked for page-locked memory
_current = [0]
_HOST_READS = {"cpu", "item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__complex__", "__format__"}
_REFUSED = {"numpy", "__array__"}
#: Results whose size depends on the data: CUDA reads it back.
_DATA_DEPENDENT = {"nonzero", "argwhere", "unique", "unique_consecutive", "masked_select", "bincount"}


class CudaTensor(torch.Tensor):
    """A CPU tensor that says it lives on ``cuda:<index>`` (see the module docstring)."""

    _index: int

    @staticmethod
    def __new__(cls, data: torch.Tensor, index: int) -> "CudaTensor":
        out = torch.Tensor._make_subclass(cls, data.as_subclass(torch.Tensor) if isinstance(data, cls) else data,
                                          data.requires_grad)
        out._index = index
        return out

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda", self._index)

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        return True

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # torch/_tensor_str.py prints a host copy
        SYNCS["__repr__"] += 1
        return f"CudaTensor({self.as_subclass(torch.Tensor)!r}, device='cuda:{self._index}')"

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _REFUSED:
            raise TypeError(f"can't convert cuda:{_first(args)} device type tensor to numpy. Use Tensor.cpu() to copy "
                            "the tensor to host memory first.")
        index = _device_of(args, kwargs)
        _count_hidden_reads(name, args, kwargs)
        if name in _HOST_READS:
            SYNCS[name] += 1
            with torch._C.DisableTorchFunctionSubclass():
                return func(*_plain(args), **_plain(kwargs))
        target = _target_device(name, args, kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*_plain(args), **_plain(_cpu_kwargs(kwargs)))
        if target is not None:  # .to(...), .cuda(...)
            return out if target.type == "cpu" else _wrap(out, target.index or 0)
        if _in_place(name) and args and isinstance(args[0], CudaTensor) and out is not None:
            return args[0]  # in place: the same tensor
        if isinstance(kwargs.get("out"), CudaTensor):
            return kwargs["out"]  # out=: the tensor it was given, as PyTorch returns it
        return _wrap(out, index)


class CudaSparse(CudaTensor):
    """A sparse tensor (COO, CSR, CSC) on ``cuda:<index>``: its parts (``values()``, ``crow_indices()``,
    ...) are :class:`CudaTensor`; what PyTorch's CUDA sparse kernels read back is counted
    (:func:`_count_sparse_reads`).  It keeps the plain tensor it wraps (sparse tensors have no
    ``as_subclass``)."""

    _plain: torch.Tensor

    @staticmethod
    def __new__(cls, data: torch.Tensor, index: int) -> "CudaSparse":
        out = torch.Tensor._make_subclass(cls, data, data.requires_grad)
        out._index, out._plain = index, data
        return out

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        SYNCS["__repr__"] += 1
        return f"CudaSparse({self._plain!r}, device='cuda:{self._index}')"


def _count_sparse_reads(name: str, args: tuple) -> None:
    """What makes PyTorch's CUDA sparse kernels wait for the device (PyTorch 2.x sources):
    ``index_select`` of a COO tensor ("unavoidable sync", ``index_select_sparse_cuda`` in
    ``aten/src/ATen/native/cuda/Indexing.cu``); ``coalesce()`` of an uncoalesced COO tensor (its
    new ``nnz`` read back, ``aten/src/ATen/native/sparse/cuda/SparseCUDATensor.cu``), which every
    COO product with a dense matrix runs first (``s_addmm_out_sparse_dense_cuda``,
    ``SparseCUDATensorMath.cu``).  A CSR product is cuSPARSE's ``SpMM``, no sync; a CSC product
    converts it to CSR first (``addmm_out_sparse_csr``, ``SparseBlasImpl.cpp``), and that conversion
    copies ``nnz`` to the device with a blocking copy (``at::tensor({nnz}, ...)`` in
    ``sparse_compressed_to_flipped``, ``TensorConversions.cpp``): a sync."""
    with torch._C.DisableTorchFunctionSubclass():  # the tensors' own attributes, uncounted
        coo = [a._plain for a in args if isinstance(a, CudaSparse) and a._plain.layout == torch.sparse_coo]
        uncoalesced = not all(a.is_coalesced() for a in coo)
        csc = any(isinstance(a, CudaSparse) and a._plain.layout == torch.sparse_csc for a in args)
    if csc and name in ("matmul", "mm", "addmm", "__matmul__", "__rmatmul__", "to_sparse_csr"):
        SYNCS[f"sparse CSC to CSR: nnz copied in ({name})"] += 1
    if not coo:
        return
    if name == "index_select":
        SYNCS["sparse COO index_select"] += 1
    elif uncoalesced and name in ("coalesce", "matmul", "mm", "addmm", "__matmul__", "__rmatmul__", "to_sparse_csr"):
        SYNCS[f"sparse COO coalesce ({name})"] += 1


def _count_hidden_reads(name: str, args: tuple, kwargs: dict) -> None:
    """Boolean-mask indexing and data-dependent shapes read a size back from the device."""
    _count_sparse_reads(name, args)
    if name in ("__getitem__", "__setitem__") and len(args) > 1:
        keys = args[1] if isinstance(args[1], tuple) else (args[1],)
        if any(isinstance(k, torch.Tensor) and k.dtype == torch.bool for k in keys):
            SYNCS[f"boolean-mask {name}"] += 1
    if name in _DATA_DEPENDENT or (name == "repeat_interleave" and len(args) > 1 and isinstance(args[1], torch.Tensor)):
        SYNCS[f"data-dependent {name}"] += 1


def _in_place(name: str) -> bool:
    """``add_``, ``__iadd__``, ...: methods that update their tensor and return it."""
    if name.startswith("__"):
        return name in ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
                        "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__")
    return name.endswith("_")


def _first(args: tuple) -> int:
    return next((a._index for a in args if isinstance(a, CudaTensor)), 0)


def _device_of(args: Any, kwargs: dict) -> int:
    """The one CUDA device of the operands; PyTorch's error when they are on several (0-d CPU
    tensors mix, as in PyTorch)."""
    found: set[str] = set()

    def visit(obj: Any) -> None:
        if isinstance(obj, CudaTensor):
            found.add(f"cuda:{obj._index}")
        elif isinstance(obj, torch.Tensor) and obj.dim() > 0:
            found.add("cpu")
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                visit(o)

    visit(args)
    visit(list(kwargs.values()))
    if len(found) > 1:
        first, second = sorted(found)[:2]
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{second} and {first}!")
    return int(found.pop().split(":")[1]) if found and "cpu" not in found else _current[0]


def _target_device(name: str, args: tuple, kwargs: dict) -> torch.device | None:
    if name == "cuda":
        return torch.device("cuda", args[1] if len(args) > 1 and isinstance(args[1], int) else _current[0])
    if name == "to":
        for a in list(args[1:]) + [kwargs.get("device")]:
            if isinstance(a, (str, torch.device)):
                dev = torch.device(a)
                return torch.device("cuda", _current[0]) if dev.type == "cuda" and dev.index is None else dev
    return None


def _plain(obj: Any) -> Any:
    if isinstance(obj, CudaSparse):
        return obj._plain
    if isinstance(obj, CudaTensor):
        return obj.as_subclass(torch.Tensor)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _cpu_kwargs(kwargs: dict) -> dict:
    dev = kwargs.get("device")
    if dev is not None and torch.device(dev).type == "cuda":
        return {**kwargs, "device": "cpu"}
    return kwargs


def _wrap(out: Any, index: int) -> Any:
    if isinstance(out, torch.Tensor) and not isinstance(out, CudaTensor):
        return CudaTensor(out, index) if out.layout == torch.strided else CudaSparse(out, index)
    if isinstance(out, (list, tuple)) and not hasattr(out, "_fields"):
        return type(out)(_wrap(o, index) for o in out)
    return out


#: The generators made for a CUDA device inside the block: ``id -> (generator, device index)``.
_GENERATORS: dict[int, tuple[Any, int]] = {}
_RealGenerator = torch.Generator


def _generator(device: Any = "cpu") -> Any:
    """``torch.Generator(device=...)``: a CPU generator, remembered as ``cuda:i``'s when asked for one."""
    dev = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
    gen = _RealGenerator(device="cpu")
    if dev.type == "cuda":
        _GENERATORS[id(gen)] = (gen, _current[0] if dev.index is None else dev.index)
    return gen


def _check_generator(args: tuple, kwargs: dict) -> None:
    """PyTorch's refusal of a generator of another device type than the tensor's."""
    gen = kwargs.get("generator")
    if gen is None:
        return
    cuda_gen = id(gen) in _GENERATORS
    cuda_tensor = any(isinstance(a, CudaTensor) for a in args)
    if cuda_gen != cuda_tensor:
        want, found = ("cuda", "cpu") if cuda_tensor else ("cpu", "cuda")
        raise RuntimeError(f"Expected a '{want}' device type for generator but found '{found}'")


class _Factories(TorchFunctionMode):
    """Tensors asked for on a CUDA device are made on the CPU and handed out as :class:`CudaTensor`."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        _check_generator(args, kwargs)
        if kwargs.pop("pin_memory", False):
            PINNED.append(getattr(func, "__name__", ""))  # page-locked host memory: plain host memory here
        dev = kwargs.get("device")
        name = getattr(func, "__name__", "")
        if dev is None and name.startswith("sparse_") and any(isinstance(a, CudaTensor) for a in args):
            index = _device_of(args, kwargs)  # a sparse tensor of CUDA parts: on their device, PyTorch's error if mixed
            return _wrap(func(*_plain(args), **kwargs), index)
        if dev is None or torch.device(dev).type != "cuda":
            return func(*args, **kwargs)
        index = torch.device(dev).index
        if getattr(func, "__name__", "") in ("as_tensor", "tensor", "asarray") and args and \
                not isinstance(args[0], torch.Tensor):
            UPLOADS[f"{func.__name__} {tuple(getattr(args[0], 'shape', ()))}"] += 1
        out = func(*args, **_cpu_kwargs(kwargs))
        return _wrap(out, _current[0] if index is None else index)


class _Device:
    """``torch.cuda.device(i)``: makes device ``i`` current for a block."""

    def __init__(self, device: Any) -> None:
        self.index = torch.device(device).index if not isinstance(device, int) else device
        self.saved = 0

    def __enter__(self) -> "_Device":
        self.saved, _current[0] = _current[0], self.index if self.index is not None else _current[0]
        return self

    def __exit__(self, *exc: Any) -> None:
        _current[0] = self.saved


class _Event:
    def __init__(self, enable_timing: bool = False, **kwargs: Any) -> None:
        self.time: float | None = None

    def record(self, stream: Any = None) -> None:
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        thread = threading.current_thread()  # a wait on another thread does not hold up the loop: named
        SYNCS["Event.synchronize" + ("" if thread is threading.main_thread() else f" (thread {thread.name})")] += 1

    def elapsed_time(self, end: "_Event") -> float:
        return 1e3 * (end.time - self.time)


class _Stream:
    """A CUDA stream: work is done at once here; what waits on what is recorded in :data:`WAITS`."""

    def __init__(self, device: Any = None, **kwargs: Any) -> None:
        self.device = device

    def wait_event(self, event: Any) -> None:
        WAITS.append(("wait_event", self, event))

    def wait_stream(self, stream: Any) -> None:
        WAITS.append(("wait_stream", self, stream))

    def synchronize(self) -> None:
        SYNCS["Stream.synchronize"] += 1

    def __enter__(self) -> "_Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


_CURRENT_STREAM = _Stream()


def _visible() -> list[int] | None:
    """The physical GPUs this process sees (``XPMLP_STANDIN_VISIBLE``, per MPI rank, as in the CuPy
    stand-in: ``"0;1"``, each rank sees its own GPU as ``cuda:0``), or None: ``cuda:i`` is GPU ``i``."""
    spec = os.environ.get("XPMLP_STANDIN_VISIBLE")
    return [int(g) for g in spec.split(";")[int(os.environ.get("PMI_RANK", "0"))].split(",")] if spec else None


def _properties(device: Any = None) -> SimpleNamespace:
    """``torch.cuda.get_device_properties``: the PCI address of the physical GPU behind ``cuda:i``
    (PyTorch 2.x has ``pci_domain_id``, ``pci_bus_id``, ``pci_device_id``: torch/numa/binding.py)."""
    index = _current[0] if device is None else device if isinstance(device, int) else torch.device(device).index or 0
    physical = index if _visible() is None else _visible()[index]
    return SimpleNamespace(name="xpmlp torch-CUDA stand-in", major=9, minor=0, total_memory=80 << 30,
                           multi_processor_count=132, uuid=f"GPU-standin-{physical}", pci_domain_id=0,
                           pci_bus_id=0x17 + 0x20 * physical, pci_device_id=0)


def _distributed(dist: Any) -> dict:
    """``torch.distributed`` over gloo for real, refusing tensors of a device type the group's backend
    does not serve (see the module docstring): the patches for :func:`torch_cuda`."""
    from torch.distributed.distributed_c10d import Backend, BackendConfig

    init, all_reduce, get_backend = dist.init_process_group, dist.all_reduce, dist.get_backend
    made: dict[str, Any] = {}

    def init_process_group(backend: Any = None, **kwargs: Any) -> None:
        name = str(backend or "gloo")
        served = set(BackendConfig(Backend(name)).device_backend_map)  # PyTorch's own reading of the string
        init("gloo", **kwargs)
        made.update(name=name, served=served, group=dist.group.WORLD)

    def reduce(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        kind = "cuda" if isinstance(tensor, CudaTensor) else tensor.device.type
        if made.get("group") is dist.group.WORLD and kind not in made["served"]:
            raise RuntimeError(f"No backend type associated with device type {kind}")  # ProcessGroup::getBackend
        return all_reduce(tensor, *args, **kwargs)

    def backend_of(group: Any = None) -> str:
        return made["name"] if made.get("group") is dist.group.WORLD and group is None else get_backend(group)

    return {(dist, "init_process_group"): init_process_group, (dist, "all_reduce"): reduce,
            (dist, "get_backend"): backend_of}


@contextlib.contextmanager
def torch_cuda(devices: int = DEVICE_COUNT) -> Iterator[None]:
    """The stand-in for the block (see the module docstring); counters at zero, device 0 current."""
    import torch.distributed as dist

    SYNCS.clear()
    UPLOADS.clear()
    WAITS.clear()
    PINNED.clear()
    _current[0] = 0
    devices = devices if _visible() is None else len(_visible())
    patches = {
        (torch.cuda, "is_available"): lambda: True,
        (torch.cuda, "device_count"): lambda: devices,
        (torch.cuda, "current_device"): lambda: _current[0],
        (torch.cuda, "set_device"): lambda d: _current.__setitem__(0, torch.device(d).index if not isinstance(d, int) else d),
        (torch.cuda, "device"): _Device,
        (torch.cuda, "Event"): _Event,
        (torch.cuda, "Stream"): _Stream,
        (torch.cuda, "stream"): lambda stream: stream,
        (torch.cuda, "current_stream"): lambda device=None: _CURRENT_STREAM,
        (torch.Tensor, "record_stream"): lambda self, stream: WAITS.append(("record_stream", self, stream)),
        (torch.cuda, "synchronize"): lambda device=None: SYNCS.update(["synchronize"]),
        (torch.cuda, "get_device_name"): lambda device=None: "xpmlp torch-CUDA stand-in",
        (torch.cuda, "get_device_properties"): _properties,
        (dist, "is_nccl_available"): lambda: True,
        (torch, "Generator"): _generator,
    }
    patches.update(_distributed(dist))
    saved = {key: getattr(*key) for key in patches}
    for (owner, name), value in patches.items():
        setattr(owner, name, value)
    try:
        with _Factories():
            yield
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)
        _GENERATORS.clear()
