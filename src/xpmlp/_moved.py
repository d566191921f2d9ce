"""Module paths of xpmlp 0.2 that moved in 0.3: they keep working, with a DeprecationWarning, until 0.4.

:func:`install` puts a stand-in module in ``sys.modules`` under each old name
(``xpmlp.callbacks``, ...); the first attribute read from it imports the module's
new home, warns once, naming the new path, and hands over the attribute.  So
``from xpmlp.callbacks import Callback`` still works, and ``import xpmlp`` itself
imports nothing more.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any

__all__ = ["MOVED", "install"]

#: Old module path (0.2) -> new module path (0.3).
MOVED = {
    "xpmlp.backend": "xpmlp.backends.backend",
    "xpmlp.xputil": "xpmlp.backends.arrays",
    "xpmlp.sparse": "xpmlp.backends.sparse",
    "xpmlp.validation": "xpmlp.backends.boundary",
    "xpmlp.fastpaths": "xpmlp.backends.fastpaths",
    "xpmlp.cuda_kernels": "xpmlp.backends.cuda_kernels",
    "xpmlp.activations": "xpmlp.nn.activations",
    "xpmlp.losses": "xpmlp.nn.losses",
    "xpmlp.targets": "xpmlp.nn.targets",
    "xpmlp.init": "xpmlp.nn.init",
    "xpmlp.network": "xpmlp.nn.network",
    "xpmlp.objective": "xpmlp.nn.objective",
    "xpmlp.metrics": "xpmlp.nn.metrics",
    "xpmlp.updates": "xpmlp.optim.updates",
    "xpmlp.optimizers": "xpmlp.optim.optimizers",
    "xpmlp.schedules": "xpmlp.optim.schedules",
    "xpmlp.data": "xpmlp.training.data",
    "xpmlp.comm": "xpmlp.training.comm",
    "xpmlp.run": "xpmlp.training.state",
    "xpmlp.callbacks": "xpmlp.training.callbacks",
    "xpmlp.stopping": "xpmlp.training.stopping",
    "xpmlp.progress": "xpmlp.training.progress",
    "xpmlp.lbfgs": "xpmlp.training.lbfgs",
    "xpmlp.sharded": "xpmlp.distributed.sharded",
    "xpmlp.selftest": "xpmlp.diagnostics.selftest",
    "xpmlp.opcount": "xpmlp.diagnostics.opcount",
    "xpmlp.tabular": "xpmlp.app.tables",
    "xpmlp.preprocessing": "xpmlp.app.preprocessing",
    "xpmlp.workflows": "xpmlp.app.workflows",
    "xpmlp.export": "xpmlp.app.export",
    "xpmlp.plotting": "xpmlp.app.plotting",
    "xpmlp.cli": "xpmlp.app.cli",
}


class MovedModule(types.ModuleType):
    """Stands in for a moved module: reads go to the new module, with a DeprecationWarning."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(old, f"Moved to {new}; this path works until xpmlp 0.4.")
        self.__dict__["_new"] = new

    def _target(self) -> types.ModuleType:
        warnings.warn(f"{self.__name__} moved to {self._new} in xpmlp 0.3; the old path works until 0.4",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(self._new)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # introspection (__file__, __path__, ...): not a use of the module
            raise AttributeError(name)
        return getattr(self._target(), name)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self._new))


def install() -> None:
    """Register a :class:`MovedModule` for every old path not imported yet."""
    for old, new in MOVED.items():
        sys.modules.setdefault(old, MovedModule(old, new))
