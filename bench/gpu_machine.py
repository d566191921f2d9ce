"""The machine, for ``bench/gpu_check.sh``: versions, GPUs with their PCI bus ids, MPI, xpmlp's backends.

    python bench/gpu_machine.py [--dry-run] [--gpus]

``--gpus`` prints only the number of GPUs CUDA shows (torch's count, else CuPy's; 0 when neither
sees one).  ``--dry-run``: the stand-ins' view of a GPU, not a GPU.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import sys
from typing import Any

from gpu_common import dry_run, label


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def gpu_count() -> int:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count()
    except ImportError:
        pass
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() if cupy.is_available() else 0
    except Exception:  # noqa: BLE001 - CuPy without a driver raises CUDARuntimeError
        return 0


def _try(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a fact this build cannot give
        return f"n/a ({type(exc).__name__})"


def cupy_facts() -> None:
    try:
        import cupy
    except ImportError:
        print("cupy: not installed")
        return
    print(f"cupy {cupy.__version__}: available {cupy.is_available()}")
    if not cupy.is_available():
        return
    rt = cupy.cuda.runtime
    print(f"  CUDA runtime {_try(rt.runtimeGetVersion)}, driver {_try(rt.driverGetVersion)}")
    print(f"  NCCL {_try(lambda: __import__('cupy.cuda.nccl', fromlist=['x']).get_version())}")
    for i in range(rt.getDeviceCount()):
        props = _try(lambda: rt.getDeviceProperties(i))
        name = props.get("name", b"?") if isinstance(props, dict) else props
        name = name.decode() if isinstance(name, bytes) else name
        print(f"  cupy device {i}: {name}, PCI bus id {_try(lambda: cupy.cuda.Device(i).pci_bus_id)}")


def torch_facts() -> None:
    try:
        import torch
    except ImportError:
        print("torch: not installed")
        return
    print(f"torch {torch.__version__}: CUDA {torch.version.cuda}, is_available {torch.cuda.is_available()}")
    if not torch.cuda.is_available():
        return
    print(f"  NCCL {_try(torch.cuda.nccl.version)}, cuDNN {_try(torch.backends.cudnn.version)}")
    for i in range(torch.cuda.device_count()):
        p = _try(lambda: torch.cuda.get_device_properties(i))
        bus = (f"{getattr(p, 'pci_domain_id', 0):04x}:{p.pci_bus_id:02x}:{getattr(p, 'pci_device_id', 0):02x}.0"
               if hasattr(p, "pci_bus_id") else "n/a")
        print(f"  torch device {i}: {_try(lambda: torch.cuda.get_device_name(i))}, "
              f"PCI bus id {bus}, capability {_try(lambda: torch.cuda.get_device_capability(i))}")


def mpi_facts() -> None:
    print(f"mpiexec: {shutil.which('mpiexec') or 'not on PATH'}")
    try:
        from mpi4py import MPI
    except ImportError as exc:
        print(f"mpi4py: {exc}")
        return
    print(f"mpi4py {version('mpi4py')}: {MPI.Get_library_version().splitlines()[0].strip()}")


def main(argv: list[str]) -> int:
    dry = dry_run(argv)
    if "--gpus" in argv:
        print(gpu_count())
        return 0
    print(f"machine on {label(dry)}: python {platform.python_version()} ({sys.executable}), "
          f"{platform.machine()}, {platform.platform()}")
    print("packages: " + ", ".join(f"{d} {version(d)}" for d in (
        "numpy", "array-api-compat", "array-api-strict", "array-api-extra", "ml_dtypes", "scipy", "scikit-learn",
        "pytest", "hypothesis", "mpich")))
    cupy_facts()
    torch_facts()
    mpi_facts()
    try:
        import xpmlp
    except ImportError as exc:
        print(f"xpmlp: cannot be imported: {exc}")
        return 1
    print(f"xpmlp {xpmlp.__version__} ({xpmlp.__file__}); backends:")
    for name, why in xpmlp.available_backends().items():
        print(f"  {name:17s} {why}")
    print(f"GPUs: {gpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
