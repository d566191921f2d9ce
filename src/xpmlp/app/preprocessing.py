"""The preprocessing a model carries: feature scaling, column order, and how targets are encoded.

A :class:`Preprocessor` is fitted on the training rows and saved inside the
model file (as JSON in its metadata), so that predicting on raw data does
exactly what training did:

* features: taken **by column name** in the training order (extra columns are
  ignored, missing ones are an error), then standardised with the training
  mean and standard deviation (a constant column keeps scale 1);
* classification: labels (strings or numbers) become one-hot rows in the
  order of :attr:`classes`; outputs (probabilities) decode to labels;
* regression: the target is standardised too, and outputs are mapped back
  (``y = mean + std * output``), so the network trains on unit-scale numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tables import DataError, Table
from ..nn.targets import one_hot

__all__ = ["Preprocessor"]


@dataclass
class Preprocessor:
    """Fitted by :meth:`fit`; see the module docstring."""

    task: str
    columns: list[str]
    mean: np.ndarray
    scale: np.ndarray
    target: str | None = None
    classes: list[Any] = field(default_factory=list)
    y_mean: float = 0.0
    y_scale: float = 1.0

    @classmethod
    def fit(cls, table: Table, task: str) -> "Preprocessor":
        """Learn the scaling of ``table.X`` and the encoding of ``table.y`` for ``task``
        (``"classification"`` or ``"regression"``)."""
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        mean, scale = table.X.mean(axis=0), table.X.std(axis=0)
        scale[scale == 0] = 1.0
        pre = cls(task, list(table.columns), mean, scale, table.target)
        if table.y is not None and task == "classification":
            pre.classes = np.unique(table.y).tolist()
            if len(pre.classes) < 2:
                raise DataError(f"target {table.target!r} has a single class {pre.classes[0]!r}: nothing to learn")
        elif table.y is not None:
            y = _as_numbers(table.y, table.target)
            pre.y_mean, pre.y_scale = float(y.mean()), float(y.std()) or 1.0
        return pre

    @property
    def n_outputs(self) -> int:
        """Output units: one per class, or one value."""
        return len(self.classes) if self.task == "classification" else 1

    def transform(self, table: Table) -> np.ndarray:
        """``(n, len(columns))`` float64: the training columns, by name, standardised."""
        where = {c: j for j, c in enumerate(table.columns)}
        missing = [c for c in self.columns if c not in where]
        if missing:
            raise DataError(f"the data lacks the column(s) the model was trained on: {', '.join(missing)}")
        X = table.X[:, [where[c] for c in self.columns]]
        return (X - self.mean) / self.scale

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Targets for training: one-hot ``(n, k)`` or standardised ``(n, 1)``, float64."""
        if self.task == "classification":
            return one_hot(np.asarray(y), classes=np.asarray(self.classes))[0]
        return ((_as_numbers(y, self.target) - self.y_mean) / self.y_scale)[:, None]

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs ``(n, k)`` back to labels (the most probable class) or target values ``(n,)``."""
        if self.task == "classification":
            return np.asarray(self.classes)[np.argmax(outputs, axis=1)]
        return self.y_mean + self.y_scale * np.asarray(outputs, dtype=np.float64)[:, 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; :meth:`from_dict` reads it back exactly (floats round-trip through JSON)."""
        return {"task": self.task, "columns": list(self.columns), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "target": self.target, "classes": [_plain(c) for c in self.classes],
                "y_mean": self.y_mean, "y_scale": self.y_scale}

    @classmethod
    def from_dict(cls, d: Any) -> "Preprocessor":
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming what is malformed."""
        try:
            pre = cls(str(d["task"]), [str(c) for c in d["columns"]], np.asarray(d["mean"], dtype=np.float64),
                      np.asarray(d["scale"], dtype=np.float64), d.get("target"), list(d.get("classes", [])),
                      float(d.get("y_mean", 0.0)), float(d.get("y_scale", 1.0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed preprocessing record: {exc!r}") from exc
        ok = (pre.task in ("classification", "regression") and pre.mean.shape == pre.scale.shape == (len(pre.columns),)
              and np.all(np.isfinite(pre.mean)) and np.all(pre.scale > 0) and pre.y_scale > 0
              and (pre.task == "regression" or len(pre.classes) >= 2))
        if not ok:
            raise ValueError("malformed preprocessing record: inconsistent task, columns, scales or classes")
        return pre


def _as_numbers(y: Any, name: str | None) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"target {name!r} is not numeric (e.g. {y.flat[0]!r}); use the classification task")
    return y.astype(np.float64)


def _plain(value: Any) -> Any:
    """A class label as a JSON value (NumPy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value
