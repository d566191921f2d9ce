"""The preprocessing a model carries: its columns' encodings, the scaling, and how targets are encoded.

A :class:`Preprocessor` is fitted on the training rows and saved inside the model file (as JSON
in its metadata, no pickle), so that predicting on raw data does exactly what training did:

* features: each column taken **by name** (extra columns are ignored, missing ones are an
  error) and encoded by its :class:`~xpmlp.app.features.Feature` -- a number (gaps filled with
  the median) or a category (one-hot, gaps filled with the most frequent category), plus a
  ``"<name> missing"`` indicator for a column that had gaps -- then every input standardised
  with the training mean and standard deviation (a constant input keeps scale 1); a model's
  inputs come every number first (a number column's value, a date's parts), then the one-hot
  and gap columns (:attr:`Preprocessor.numbers_first`; before 0.4, in column order);
* dates: a column of dates becomes days since 1970, year, month, day, weekday (and hour)
  (:mod:`xpmlp.app.dates`), in the form found in training;
* dropped: ID columns (``ids``, given or found: a different text in every row), which
  ``xpmlp predict`` writes beside its predictions instead, columns given to drop, and columns
  without values;
* classification: labels (strings or numbers) become one-hot rows in the order of
  :attr:`classes`; outputs (probabilities) decode to labels;
* regression: the target is standardised too, and outputs are mapped back
  (``y = mean + std * output``), so the network trains on unit-scale numbers.

The record also keeps how the training file was read (:attr:`reading`, the
:class:`~xpmlp.app.reading.ReadOptions` given and what was detected), which ``predict`` and
``evaluate`` reuse.  Model files of xpmlp 0.2 (a record of ``task, columns, mean, scale, target, classes, y_mean,
y_scale``) still load: all their columns are numbers, and they refuse gaps as they did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .features import CATEGORY, ID_LIKE, Feature, learn_feature
from .features import _kind as column_kind
from .tables import DataError, Table
from ..nn.targets import one_hot

__all__ = ["Preprocessor", "RECORD_VERSION", "MAX_TARGET", "check_cells", "SCALINGS", "robust_scale"]

#: The preprocessing record's version: 2 since xpmlp 0.3 (0.2's record has none).
RECORD_VERSION = 2
#: Targets (and a loaded record's target mean and scale) lie within +-this: their squares stay finite.
MAX_TARGET = 1e150
#: How the inputs may be scaled (:meth:`Preprocessor.fit`).
SCALINGS = ("standard", "robust", "clip")


@dataclass
class Preprocessor:
    """Fitted by :meth:`fit`; see the module docstring.  ``mean`` and ``scale`` are over the
    encoded inputs (:attr:`encoded`); ``notes`` say what fitting decided."""

    task: str
    features: list[Feature]
    mean: np.ndarray
    scale: np.ndarray
    target: str | None = None
    classes: list[Any] = field(default_factory=list)
    y_mean: float = 0.0
    y_scale: float = 1.0
    ids: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reading: dict = field(default_factory=dict)  # how the training file was read (reading.ReadOptions)
    clip: float = 0.0  # > 0: each scaled input x becomes x / sqrt(1 + (x / clip)^2) (smooth clipping)
    scaling: str = "standard"  # how mean and scale were learnt: one of SCALINGS
    numbers_first: bool = False  # inputs ordered every number first (models since 0.4; before: column order)

    @classmethod
    def fit(cls, table: Table, task: str, *, ids: Sequence[str] = (), drop: Sequence[str] = (),
            categories: Sequence[str] = (), dates: bool = True,
            date_forms: "Mapping[str, bool | str] | None" = None, scaling: str = "standard",
            numbers_first: bool = True) -> "Preprocessor":
        """Learn the columns' encodings from ``table`` and the encoding of ``table.y`` for ``task``
        (``"classification"`` or ``"regression"``).  ``ids`` are ID columns (kept out of the
        inputs; ``predict`` writes them), ``drop`` columns to leave out, ``categories`` columns of
        numbers to encode as categories; columns of dates are found unless ``dates`` is False,
        and ``date_forms`` makes columns dates (True: their form found; or a form, ``DD/MM/YYYY``).
        ``scaling``: ``"standard"`` (mean, standard deviation), ``"robust"`` (median, quartiles:
        :func:`robust_scale`) or ``"clip"`` (robust, then clipped smoothly at 3: :attr:`clip`).
        ``numbers_first``: the inputs in :attr:`encoded` order every number (a number column's value,
        a date's parts) before the one-hot and gap columns, so that the first :attr:`n_numbers`
        inputs are the ones an embedding of numbers takes (``periodic:columns=n_numbers``)."""
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        date_forms = dict(date_forms or {})
        for option, names in (("--id", ids), ("--drop", drop), ("--category", categories), ("--date", date_forms)):
            for name in names:
                if name == table.target:
                    raise DataError(f"{option} {name}: that is the target column")
                table.column(name)  # a DataError naming the columns there are
        pre = cls(task, [], np.zeros(0), np.ones(0), table.target, ids=list(ids),
                  dropped={name: "given with --drop" for name in drop}, reading=dict(table.reading),
                  numbers_first=numbers_first)
        given, as_category = {*ids, *drop}, set(categories)  # sets: the work stays linear in the columns
        for name in table.columns:
            if name in given:
                continue
            feature, note = learn_feature(table, name, category=name in as_category,
                                          date=date_forms.get(name, None if dates else False))
            if feature is None:
                pre.dropped[name] = note
                pre.ids += [name] if note == ID_LIKE else []
                pre.notes.append(f"column {name!r} dropped: {note}")
            else:
                pre.features.append(feature)
                pre.notes += [f"column {name!r}: {note}"] if note else []
        if not pre.features:
            raise DataError(f"{table.source}: no feature columns left to learn from (dropped: "
                            f"{', '.join(f'{k} ({v})' for k, v in pre.dropped.items())})")
        X = pre._encode_features(table)
        pre.mean, pre.scale = (X.mean(axis=0), X.std(axis=0)) if scaling == "standard" else robust_scale(X)
        pre.scale[pre.scale == 0] = 1.0
        pre.clip, pre.scaling = (3.0 if scaling == "clip" else 0.0), scaling
        pre._fit_target(table)
        return pre

    def _fit_target(self, table: Table) -> None:
        if table.y is not None and self.task == "classification":
            self.classes = np.unique(table.y).tolist()
            if len(self.classes) < 2:
                raise DataError(f"target {table.target!r} has a single class {self.classes[0]!r}: nothing to learn")
        elif table.y is not None:
            y = _as_numbers(table.y, table.target)
            self.y_mean, self.y_scale = float(y.mean()), float(y.std()) or 1.0

    @property
    def columns(self) -> list[str]:
        """The raw feature columns the model reads, in order."""
        return [f.name for f in self.features]

    @property
    def encoded(self) -> list[str]:
        """The network's inputs, in order: a number column's name, ``"color=blue"``, ``"age missing"``."""
        names = [name for f in self.features for name in f.encoded]
        return [names[i] for i in self.order]

    @property
    def n_numbers(self) -> int:
        """How many inputs are numbers (a number column's value, a date's parts), not one-hot or gap flags."""
        return sum(len(f.encoded) - f.indicator for f in self.features if f.kind != CATEGORY)

    @property
    def order(self) -> np.ndarray:
        """``(len(encoded),)`` int: the features' encoded columns (:meth:`Feature.encode`, in column
        order) taken in the inputs' order; with :attr:`numbers_first`, every number first."""
        numbers, rest, start = [], [], 0
        for f in self.features:
            width = len(f.encoded)
            values = width - f.indicator if f.kind != CATEGORY else 0
            numbers += range(start, start + values)
            rest += range(start + values, start + width)
            start += width
        return np.array(numbers + rest, dtype=np.int64) if self.numbers_first else np.arange(start)

    @property
    def n_outputs(self) -> int:
        """Output units: one per class, or one value."""
        return len(self.classes) if self.task == "classification" else 1

    def _encode_features(self, table: Table) -> np.ndarray:
        missing = [c for c in self.columns if table.position(c) is None]
        if missing:
            raise DataError(f"{table.source}: lacks the column(s) the model was trained on: {', '.join(missing)}"
                            + _missing_hint(missing, table))
        X = np.concatenate([f.encode(table) for f in self.features], axis=1)
        return X[:, self.order] if self.numbers_first else X

    def transform(self, table: Table) -> np.ndarray:
        """``(n, len(encoded))`` float64: the training columns, by name, encoded and standardised.
        Unseen categories warn (:class:`~xpmlp.app.features.UnseenCategoryWarning`)."""
        x = (self._encode_features(table) - self.mean) / self.scale
        return x / np.sqrt(1.0 + (x / self.clip) ** 2) if self.clip else x

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

    def describe(self) -> list[str]:
        """What the model does to a row, line by line (``xpmlp info``)."""
        lines = [f"task: {self.task}, target {self.target!r}" + (
            f", classes {', '.join(map(repr, self.classes))}" if self.task == "classification" else
            f", predicted as {self.y_mean:.6g} + {self.y_scale:.6g} * output")]
        lines += [f"column {f.describe()}" for f in self.features]
        lines += [f"ID column {name!r}: not an input; predict writes it beside the predictions" for name in self.ids]
        lines += [f"dropped {name!r}: {why}" for name, why in self.dropped.items() if name not in self.ids]
        if self.reading:
            shown = {k: v for k, v in self.reading.get("detected", {}).items() if v is not None}
            lines.append("training file read as: " + ", ".join(f"{k} {v!r}" for k, v in shown.items()) +
                         f", header {self.reading.get('header', True)}, gap markers: the defaults"
                         f"{' and ' + repr(self.reading['na_values']) if self.reading.get('na_values') else ''}"
                         f"{'' if self.reading.get('default_na', True) else ' (replaced)'}")
        lines.append(f"inputs: {len(self.encoded)}, each standardised with the training rows' mean and standard "
                     "deviation" if self.scaling == "standard" else f"inputs: {len(self.encoded)}, each centered on "
                     "the training rows' median and scaled by their quartiles" +
                     (f", clipped smoothly at +-{self.clip:g}" if self.clip else ""))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; :meth:`from_dict` reads it back exactly (floats round-trip through JSON)."""
        return {"version": RECORD_VERSION, "task": self.task, "columns": self.columns, "encoded": self.encoded,
                "features": [f.to_dict() for f in self.features], "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "target": self.target, "classes": [_plain(c) for c in self.classes],
                "y_mean": self.y_mean, "y_scale": self.y_scale, "ids": list(self.ids), "dropped": dict(self.dropped),
                "notes": list(self.notes), "reading": dict(self.reading),
                "clip": self.clip, "scaling": self.scaling, "numbers_first": self.numbers_first}

    @classmethod
    def from_dict(cls, d: Any) -> "Preprocessor":
        """Inverse of :meth:`to_dict` (and reads 0.2's record); raises ``ValueError`` naming what is malformed."""
        try:
            features = [Feature.from_dict(f) for f in d["features"]] if "features" in d else \
                [Feature(str(c)) for c in d["columns"]]  # xpmlp 0.2: numbers, no fills
            pre = cls(str(d["task"]), features, np.asarray(d["mean"], dtype=np.float64),
                      np.asarray(d["scale"], dtype=np.float64), d.get("target"), list(d.get("classes", [])),
                      float(d.get("y_mean", 0.0)), float(d.get("y_scale", 1.0)), [str(c) for c in d.get("ids", [])],
                      {str(k): str(v) for k, v in d.get("dropped", {}).items()}, [str(n) for n in d.get("notes", [])],
                      dict(d.get("reading", {})), float(d.get("clip", 0.0)), str(d.get("scaling", "standard")),
                      d.get("numbers_first", False))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed preprocessing record: {exc!r}") from exc
        ok = (pre.task in ("classification", "regression") and pre.mean.shape == pre.scale.shape == (len(pre.encoded),)
              and np.all(np.isfinite(pre.mean)) and np.all(np.isfinite(pre.scale)) and np.all(pre.scale > 0)
              and 0 < pre.y_scale <= MAX_TARGET and abs(pre.y_mean) <= MAX_TARGET and pre.clip >= 0
              and pre.scaling in SCALINGS and isinstance(pre.numbers_first, bool)
              and (pre.task == "regression" or len(pre.classes) >= 2))
        if not ok:
            raise ValueError("malformed preprocessing record: inconsistent task, columns, scales or classes")
        return pre


def robust_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` per column of ``X`` ``(n, d)``: the median, and the spread between the
    quartiles over 1.349 (a normal column's standard deviation, unmoved by outliers); where the
    quartiles meet (a rare category's indicator), half the range; 0 where that is 0 too."""
    q1, center, q3 = np.quantile(X, [0.25, 0.5, 0.75], axis=0)
    spread = (q3 - q1) / 1.349
    half_range = (X.max(axis=0) - X.min(axis=0)) / 2.0
    return center, np.where(spread > 0, spread, half_range)


def check_cells(table: Table, skip: Sequence[str] = ()) -> None:
    """Raise at the first cell of the whole ``table`` (not only its training rows) that is not a
    number in a column of numbers (the columns ``skip`` aside), so that its line is the first."""
    for name in table.columns:
        if name not in skip:
            column_kind(table, name, table.column(name))


def _missing_hint(missing: list[str], table: Table) -> str:
    if all(name.isdigit() for name in missing) and table.lines is not None:
        return " (the model was trained on a file without a header row: give --no-header)"
    if len(table.columns) == 1 and table.lines is not None:
        return f" (the file was read as one column, {table.columns[0]!r}: give its delimiter with --sep)"
    return ""


def _as_numbers(y: Any, name: str | None) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise DataError(f"target {name!r} is not numeric (e.g. {_plain(y.flat[0])!r}); use the classification task")
    return y.astype(np.float64)


def _plain(value: Any) -> Any:
    """A class label as a JSON value (NumPy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value
