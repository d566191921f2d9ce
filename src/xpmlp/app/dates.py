"""Columns of dates and times, recognised by their form and turned into numbers.

A column is a date column when every cell that is not a gap has one of these forms (a time
``hh:mm`` or ``hh:mm:ss`` may follow the date, after a space or, in ISO 8601, a ``T``):

==============  ==========================================================================
``YYYY-MM-DD``  ISO 8601 (``2024-03-01``, ``2024-03-01T12:00:00``, ``2024-03-01 12:00``,
                fractions of a second and a time zone, which is converted to UTC)
``DD.MM.YYYY``  day first (``01.03.2024``), as German and other European tables write it
``DD-MM-YYYY``  day first with dashes
``DD/MM/YYYY``  day first with slashes, where some first number is over 12 (``13/03/2024``)
``MM/DD/YYYY``  month first with slashes (``03/01/2024``): where some second number is over
                12, and where no number decides (every one is at most 12)
==============  ==========================================================================

and every cell is a real date (no 31 February).  A date becomes numbers (:data:`PARTS`): the
days since 1970-01-01 (a float, with the time of day as its fraction), the year, the month, the
day of the month and the day of the week (0 for Monday), and for a column with times also the
hour of the day (a float).  The form is kept in the model, so ``predict`` reads the same.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["FORMS", "PARTS", "detect", "parse", "parts", "part_names"]

_TIME = r"(?:[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?"
#: Form -> the pattern of its cells (groups: the date's three numbers, the time).
FORMS = {
    "YYYY-MM-DD": re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + r"(Z|[+-]\d{2}:?\d{2})?"),
    "DD.MM.YYYY": re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME),
    "DD-MM-YYYY": re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})" + _TIME),
    "DD/MM/YYYY": re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME),
    "MM/DD/YYYY": re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME),
}
#: The numbers a date becomes, in order; ``hour`` only for a column with times.
PARTS = ("days since 1970", "year", "month", "day", "weekday", "hour")
_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def part_names(name: str, form: str) -> list[str]:
    """The inputs of date column ``name`` read in ``form`` (``" time"`` appended: with times)."""
    return [f"{name} {p}" for p in PARTS[:6 if form.endswith(" time") else 5]]


def detect(texts: list[Any]) -> str | None:
    """The form of a column whose cells (strings, ``None`` for a gap) are all dates, with ``" time"``
    appended where some cell has a time; ``None`` where they are not all dates."""
    present = [t for t in texts if t is not None]
    if not present:
        return None
    for form in ("YYYY-MM-DD", "DD.MM.YYYY", "DD-MM-YYYY", "MM/DD/YYYY"):
        matches = []
        for text in present:
            matches.append(FORMS[form].fullmatch(text))
            if matches[-1] is None:
                break
        if matches[-1] is None:
            continue
        if form == "MM/DD/YYYY" and any(int(m.group(1)) > 12 for m in matches):
            form = "DD/MM/YYYY"  # a first number over 12 is a day
        timed = form + (" time" if any(m.group(4) for m in matches) else "")
        return timed if not parse(present, timed)[1].size else None
    return None


def parse(texts: Any, form: str) -> tuple[np.ndarray, np.ndarray]:
    """``(days, bad)``: each cell's days since 1970-01-01 as float64 (NaN for a gap) and the
    indices of the cells that are not a date in ``form``."""
    pattern = FORMS[form.removesuffix(" time")]
    order = {"YYYY-MM-DD": (0, 1, 2), "DD.MM.YYYY": (2, 1, 0), "DD-MM-YYYY": (2, 1, 0), "DD/MM/YYYY": (2, 1, 0),
             "MM/DD/YYYY": (2, 0, 1)}[form.removesuffix(" time")]
    days, bad = np.full(len(texts), np.nan), []
    for i, text in enumerate(list(texts)):
        if text is None:
            continue
        match = pattern.fullmatch(str(text))
        stamp = _stamp(match, order) if match else None
        if stamp is None:
            bad.append(i)
        else:
            days[i] = (stamp - _EPOCH) / np.timedelta64(1, "D")
    return days, np.asarray(bad, dtype=np.int64)


def _stamp(match: "re.Match[str]", order: tuple[int, int, int]) -> np.datetime64 | None:
    year, month, day = (int(match.group(k + 1)) for k in order)
    clock = (match.group(4) or "0:00").split(":")
    hours, minutes, seconds = int(clock[0]), int(clock[1]), float(clock[2]) if len(clock) > 2 else 0.0
    try:
        date = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")
    except ValueError:  # 2024-02-31
        return None
    if hours > 23 or minutes > 59 or seconds >= 60:
        return None
    micros = int(round((hours * 60 + minutes) * 60e6 + seconds * 1e6))
    stamp = date.astype("datetime64[us]") + np.timedelta64(micros, "us")
    zone = match.group(5) if match.re is FORMS["YYYY-MM-DD"] else None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        stamp -= sign * np.timedelta64(int(zone[1:3]) * 60 + int(zone[-2:]), "m")
    return stamp


def parts(days: np.ndarray, form: str) -> np.ndarray:
    """``(n, len(part_names))`` float64: :data:`PARTS` of each date given as days since 1970 (no NaN)."""
    whole = np.floor(days)
    stamp = _EPOCH.astype("datetime64[D]") + whole.astype(np.int64)
    year = stamp.astype("datetime64[Y]").astype(np.int64) + 1970
    month = stamp.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (stamp - stamp.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = (whole.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    columns = [days, year, month, day, weekday] + ([24.0 * (days - whole)] if form.endswith(" time") else [])
    return np.column_stack(columns).astype(np.float64)
