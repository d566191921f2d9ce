"""Guesses ``train`` makes about a table before it learns, each with the reason it prints.

* **The task** (:func:`explain_task`): text labels are classes; numbers that are not all
  integers are a quantity (regression); integers are classes where there are at most
  :data:`MAX_CLASSES` distinct values, fewer than half the rows -- unless they look like a
  score on an ordered scale: at least :data:`MIN_SCALE` consecutive integers whose counts rise
  to one peak and fall again, with each end level at most a third as common as the peak (a
  1-10 rating, wine quality 3-9), which is a quantity too.  ``--task`` overrides it.
* **Row numbers** (:func:`row_numbers`): a column of distinct integers without gaps that is
  sorted (up or down) or consecutive (``max - min + 1`` rows), from at least
  :data:`MIN_ROWS` rows, numbers the rows; used as an input it can leak how the file was
  ordered (by class, by date), so it is left out like an ID unless kept (``--keep``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["explain_task", "infer_task", "row_numbers", "MAX_CLASSES", "MIN_SCALE", "MIN_ROWS"]

#: Integer targets with at most this many distinct values (and fewer than half the rows) may be classes.
MAX_CLASSES = 20
#: An ordered scale has at least this many levels.
MIN_SCALE = 5
#: Row numbers are looked for in tables of at least this many rows.
MIN_ROWS = 20


def explain_task(y: np.ndarray) -> tuple[str, str]:
    """``(task, why)``: ``"classification"`` or ``"regression"`` for target values ``y`` ``(n,)``,
    and the reason in a few words (see the module docstring)."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        return "classification", f"{np.unique(y.astype(str)).size} distinct text labels -> classes"
    distinct, counts = np.unique(y, return_counts=True)
    if not (y.dtype.kind in "biu" or bool(np.all(distinct == np.round(distinct)))):
        return "regression", "numbers that are not all integers -> a quantity"
    levels = f"{distinct.size} distinct integers {distinct[0]:g}-{distinct[-1]:g}"
    if distinct.size > MAX_CLASSES or distinct.size >= max(len(y) / 2, 3):
        return "regression", f"{levels}: too many for classes -> a quantity; give --task classification"
    if _ordered_scale(distinct, counts):
        return "regression", (f"{levels}, consecutive, most rows in the middle and few at the ends: a score on a "
                               "scale -> a quantity; give --task classification")
    return "classification", f"{levels} -> classes" + ("; give --task regression" if distinct.size > 2 else "")


def infer_task(y: np.ndarray) -> str:
    """The task of :func:`explain_task`."""
    return explain_task(y)[0]


def _ordered_scale(distinct: np.ndarray, counts: np.ndarray) -> bool:
    if distinct.size < MIN_SCALE or distinct[-1] - distinct[0] != distinct.size - 1:
        return False
    peak = int(np.argmax(counts))
    rises, falls = np.diff(counts[:peak + 1]), np.diff(counts[peak:])
    return bool((rises >= 0).all() and (falls <= 0).all() and 3 * max(counts[0], counts[-1]) <= counts[peak])


def row_numbers(table: Any, skip: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``[(column, why), ...]``: the columns of ``table`` (a :class:`~xpmlp.app.tables.Table`),
    other than ``skip``, that look like row numbers (see the module docstring)."""
    if len(table.X) < MIN_ROWS:
        return []
    found = []
    for name in table.columns:
        if name in skip:
            continue
        values, bad = table.parse(name)
        if bad.size or np.isnan(values).any() or np.any(values != np.round(values)):
            continue
        steps = np.diff(values)
        if np.unique(values).size != values.size:
            continue
        if (steps > 0).all() or (steps < 0).all():
            found.append((name, "distinct integers in order"))
        elif values.max() - values.min() == values.size - 1:
            found.append((name, f"the integers {values.min():g}-{values.max():g}, each once"))
    return found
