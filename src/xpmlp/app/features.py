"""How one raw column becomes the network's inputs: a number or a category, its fill, its gap marker.

A :class:`Feature` is learnt from the training rows (:func:`learn_feature`) and then encodes
any table's column the same way (:meth:`Feature.encode`):

* a **number** column (every cell that is not a gap reads as a number) gives one input; a gap
  is filled with the training rows' median;
* a **category** column (text) gives one input per category, 1 for the row's category and 0
  for the others (one-hot); a gap is filled with the most frequent category; a category that
  training never saw gives all zeros (and :class:`UnseenCategoryWarning` counts such rows);
* a **date** column (every cell a date, :mod:`xpmlp.app.dates`) gives its days since 1970, year,
  month, day and weekday (and hour); a gap is filled with the median date;
* a column that had gaps in training also gives an indicator input, ``"<name> missing"``,
  1 where the cell was a gap, so the network can tell a filled value from a real one.

What is dropped instead (:func:`learn_feature` returns the reason): a column with no values,
and an ID-like text column -- a different text in every row, from at least
:data:`MIN_ROWS_FOR_ID` rows -- which can only be memorised.  At most :data:`MAX_CATEGORIES`
categories are kept, the most frequent; the rest encode like unseen ones.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dates
from .tables import DataError, Table, parse_numbers

__all__ = ["Feature", "learn_feature", "UnseenCategoryWarning", "MAX_CATEGORIES", "MIN_ROWS_FOR_ID", "ID_LIKE"]

NUMBER, CATEGORY, DATE = "number", "category", "date"
#: A text column keeps at most this many categories (the most frequent).
MAX_CATEGORIES = 50
#: A text column is ID-like when every one of at least this many rows has its own value.
MIN_ROWS_FOR_ID = 20
#: Why an ID-like column is dropped.
ID_LIKE = "a different text in every row (an ID)"


class UnseenCategoryWarning(UserWarning):
    """Rows whose category the model never saw in training: they are encoded as none of the known ones."""


@dataclass
class Feature:
    """One raw column's encoding; ``fill`` is the median (numbers) or the most frequent category,
    ``None`` for a model of xpmlp 0.2, which refuses gaps."""

    name: str
    kind: str = NUMBER
    fill: Any = None
    indicator: bool = False
    categories: list[str] = field(default_factory=list)
    form: str = ""  # a date column's form (:mod:`xpmlp.app.dates`)

    @property
    def encoded(self) -> list[str]:
        """The names of the inputs this column gives, in order."""
        names = [self.name] if self.kind == NUMBER else dates.part_names(self.name, self.form) if self.kind == DATE \
            else [f"{self.name}={c}" for c in self.categories]
        return names + ([f"{self.name} missing"] if self.indicator else [])

    def encode(self, table: Table) -> np.ndarray:
        """``(n, len(encoded))`` float64 for this column of ``table``."""
        if self.kind == NUMBER:
            values = table.numbers(self.name)
            gaps = np.isnan(values)
            self._check_fill(table, gaps)
            out = [np.where(gaps, self.fill if self.fill is not None else 0.0, values)[:, None]]
        elif self.kind == DATE:
            values, gaps = self._dates(table)
            out = [dates.parts(np.where(gaps, self.fill, values), self.form)]
        else:
            texts = table.texts(self.name)
            gaps = np.array([t is None for t in texts.tolist()], dtype=bool)
            self._check_fill(table, gaps)
            texts[gaps] = self.fill
            out = [np.column_stack([texts == c for c in self.categories]).astype(np.float64)
                   if self.categories else np.zeros((len(texts), 0))]
            unseen = np.flatnonzero(~gaps & (out[0].sum(axis=1) == 0))
            if unseen.size:
                warnings.warn(f"{table.source}: column {self.name!r}: {unseen.size} row(s) with a category the model "
                              f"never saw (first {texts[unseen[0]]!r}, {table.where(unseen[0])}), encoded as none "
                              "of the known ones", UnseenCategoryWarning, stacklevel=2)
        if self.indicator:
            out.append(gaps[:, None].astype(np.float64))
        return np.concatenate(out, axis=1)

    def _dates(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """``(days since 1970, gaps)`` of this date column; a cell that is not a date in its form is refused."""
        texts = table.texts(self.name)
        values, bad = dates.parse(texts, self.form)
        if bad.size:
            raise DataError(f"{table.source}: column {self.name!r}, {table.where(bad[0])}: {texts[bad[0]]!r} is not a "
                            f"date in the form {self.form.removesuffix(' time')}")
        return values, np.isnan(values)

    def _check_fill(self, table: Table, gaps: np.ndarray) -> None:
        if self.fill is None and gaps.any():
            where = table.where(int(np.flatnonzero(gaps)[0]))
            raise DataError(f"{table.source}: column {self.name!r}, {where} is missing; this model (saved by xpmlp "
                            "0.2) cannot fill gaps: fill in or drop such rows, or train the model again")

    def describe(self) -> str:
        """One line for ``xpmlp info``."""
        gap = f"; gaps filled with {self.fill!r}" if self.fill is not None else "; gaps refused"
        marker = f", marked in {self.name + ' missing'!r}" if self.indicator else ""
        if self.kind == NUMBER:
            return f"{self.name!r}: number{gap}{marker}"
        if self.kind == DATE:
            names = dates.part_names(self.name, self.form)
            return f"{self.name!r}: date ({self.form.replace(' time', ' hh:mm')}) as {len(names)} numbers " \
                f"({', '.join(map(repr, names))}){gap} (days since 1970){marker}"
        shown = ", ".join(repr(c) for c in self.categories[:8]) + (", ..." if len(self.categories) > 8 else "")
        return f"{self.name!r}: category, one-hot over {len(self.categories)} ({shown}){gap}{marker}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "fill": self.fill, "indicator": self.indicator,
                "categories": list(self.categories), **({"form": self.form} if self.kind == DATE else {})}

    @classmethod
    def from_dict(cls, d: Any) -> "Feature":
        feature = cls(str(d["name"]), str(d["kind"]), d.get("fill"), bool(d.get("indicator", False)),
                      [str(c) for c in d.get("categories", [])], str(d.get("form", "")))
        if feature.kind in (NUMBER, DATE) and feature.fill is not None:
            feature.fill = float(feature.fill)
        elif feature.kind == CATEGORY and feature.fill is not None:
            feature.fill = str(feature.fill)
        if feature.kind not in (NUMBER, CATEGORY, DATE) or (feature.kind == DATE and (
                feature.fill is None or feature.form.removesuffix(" time") not in dates.FORMS)) or (
                feature.kind == NUMBER and feature.fill is not None and not np.isfinite(feature.fill)):
            raise ValueError(f"feature {feature.name!r}: kind {feature.kind!r}, fill {feature.fill!r}")
        return feature


def learn_feature(table: Table, name: str, category: bool = False,
                  date: "bool | str | None" = None) -> "tuple[Feature | None, str]":
    """``(feature, note)`` learnt from ``table``'s column ``name``, or ``(None, why)`` when the column is
    dropped; ``category`` makes a column of numbers a category column; ``date`` None finds a
    column of dates (:mod:`xpmlp.app.dates`), False does not, True or a form makes it one."""
    cells = table.column(name)
    if date is True or isinstance(date, str):
        return _date_feature(table, name, date)
    kind, values = (CATEGORY, None) if category else _kind(table, name, cells)
    if kind == CATEGORY and not category and date is None and dates.detect(table.texts(name).tolist()):
        return _date_feature(table, name, True)
    if kind == NUMBER:
        gaps = np.isnan(values)
        if gaps.all():
            return None, "no values"
        feature = Feature(name, NUMBER, float(np.median(values[~gaps])), bool(gaps.any()))
        return feature, _gap_note(feature, int(gaps.sum()), "median")
    texts = table.texts(name)
    present = [t for t in texts.tolist() if t is not None]
    if not present:
        return None, "no values"
    counts = Counter(present)
    if len(counts) == len(texts) >= MIN_ROWS_FOR_ID:
        return None, ID_LIKE
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    feature = Feature(name, CATEGORY, ranked[0], len(present) < len(texts), sorted(ranked[:MAX_CATEGORIES]))
    note = f"{len(counts)} categories, one-hot encoded" if len(counts) <= MAX_CATEGORIES else \
        f"{len(counts)} categories: the {MAX_CATEGORIES} most frequent one-hot encoded, the rest as none of them"
    return feature, "; ".join(filter(None, [note, _gap_note(feature, len(texts) - len(present), "most frequent")]))


def _date_feature(table: Table, name: str, form: "bool | str") -> "tuple[Feature | None, str]":
    """A date column: ``form`` given, or found (True)."""
    texts = table.texts(name).tolist()
    found = dates.detect(texts)
    if form is True and found is None:
        raise DataError(f"{table.source}: --date {name}: the column is not dates in one of the forms "
                        f"{', '.join(dates.FORMS)} (give the form: --date {name}=DD.MM.YYYY)")
    if form is not True and form not in dates.FORMS:
        raise DataError(f"--date {name}={form}: unknown form; use one of {', '.join(dates.FORMS)}")
    if form is not True:
        form = form + (" time" if found and found.endswith(" time") else "")
    else:
        form = found
    feature = Feature(name, DATE, 0.0, False, form=str(form))
    values, gaps = feature._dates(table)
    if gaps.all():
        return None, "no values"
    feature.fill, feature.indicator = float(np.median(values[~gaps])), bool(gaps.any())
    ambiguous = form.startswith("MM/DD") and not (dates.parts(values[~gaps], form)[:, 3] > 12).any()
    note = f"dates ({form.replace(' time', ' hh:mm')}) as numbers: " + \
        ", ".join(repr(n) for n in dates.part_names(name, form)) + (
        f" (no day is over 12: read month first; give --date {name}=DD/MM/YYYY if the day comes first)"
        if ambiguous else "")
    return feature, "; ".join(filter(None, [note, _gap_note(feature, int(gaps.sum()), "median")]))


def _kind(table: Table, name: str, cells: np.ndarray) -> tuple[str, np.ndarray]:
    values, bad = table.parse(name)
    if not bad.size:
        return NUMBER, values
    present = sum(c is not None for c in cells.tolist())
    if table.decimal == "." and not parse_numbers(cells[bad], ",")[1].size:
        raise DataError(f"{table.source}: column {name!r}, {table.where(bad[0])}: {cells[bad[0]]!r} is a number with "
                        "a decimal comma: give --decimal , (and --sep if the delimiter is not detected)")
    if 2 * bad.size < present:  # mostly numbers: a typo, not a category
        raise DataError(f"{table.source}: column {name!r}, {table.where(bad[0])}: {cells[bad[0]]!r} is not a number, "
                        f"though {present - bad.size} of the column's {present} cells are; fix it, give --na-values "
                        f"{cells[bad[0]]!r} if it marks a gap, or --category {name} to treat the column as text")
    return CATEGORY, values


def _gap_note(feature: Feature, gaps: int, what: str) -> str:
    if not gaps:
        return ""
    return f"{gaps} gap(s) filled with the {what} {feature.fill!r}, marked in {feature.name + ' missing'!r}"
