"""Values no report can use, found the same way on every path into the store (files, APIs, SQL).

A date before `schema.EARLIEST` (2000-01-01; `EARLIEST_BY_COLUMN` for hire dates), a timestamp
more than `schema.FUTURE_SLACK` after the run, a day more than `schema.PLANNED_YEARS` ahead, and
NaN or an infinity in a number column.  `out_of_range` names the row (0-based position in the
frame), the canonical column, the value and the fix; each caller says where the row came from
(a file's spreadsheet row, an API record's id).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from connectors.schema import EARLIEST, EARLIEST_BY_COLUMN, FUTURE_SLACK, PLANNED_YEARS


@dataclass(frozen=True)
class OutOfRange:
    """One unusable value: its 0-based position in the frame, canonical column, value as text, and the fix."""

    index: int
    column: str
    value: str
    message: str


def out_of_range(frame: pl.DataFrame, dtypes: Mapping[str, pl.DataType], now: datetime) -> list[OutOfRange]:
    """Every value of `frame` (columns in `dtypes`, by canonical dtype) that no report can use, in column order."""
    out: list[OutOfRange] = []
    latest_day = date(min(now.year + PLANNED_YEARS, 9999), now.month, min(now.day, 28))
    for c, dtype in dtypes.items():
        if c not in frame.columns:
            continue
        s = frame.get_column(c)
        earliest = EARLIEST_BY_COLUMN.get(c, EARLIEST)
        if isinstance(dtype, pl.Datetime):
            if not isinstance(s.dtype, pl.Datetime):
                continue
            bound = datetime(earliest.year, earliest.month, earliest.day, tzinfo=now.tzinfo if s.dtype.time_zone else None)
            too_early = s < bound
            too_late = s > (now if s.dtype.time_zone else now.replace(tzinfo=None)) + FUTURE_SLACK
            late = (f"is after this import ({now:%Y-%m-%d %H:%M} UTC): {c} records something that happened, so it "
                    f"cannot be in the future; fix the date (check the year and the time zone)")
        elif dtype == pl.Date:
            if s.dtype != pl.Date:
                continue
            too_early, too_late = s < earliest, s > latest_day
            late = (f"is more than {PLANNED_YEARS} years ahead; fix the year, or leave the cell empty where the "
                    f"column allows it (an open end is empty, not 9999-12-31)")
        elif dtype.is_float():
            if not s.dtype.is_float():
                continue
            for i in (s.is_nan() | s.is_infinite()).fill_null(False).arg_true().to_list():
                word = "not a number (NaN)" if math.isnan(s[i]) else "infinite"
                out.append(OutOfRange(index=i, column=c, value=str(s[i]),
                                      message=f"is {word}; give a finite number, or leave the cell empty if it is unknown"))
            continue
        else:
            continue
        for i in too_early.fill_null(False).arg_true().to_list():
            out.append(OutOfRange(index=i, column=c, value=str(s[i]),
                                  message=f"is before {earliest:%Y-%m-%d}, the earliest date bpo-insights accepts; fix "
                                          f"the date (check the year and the day/month order); if it stands for 'no date' "
                                          f"(a placeholder such as 1900-01-01), leave it empty: in a mapping file, list "
                                          f"it under null_values"))
        for i in too_late.fill_null(False).arg_true().to_list():
            out.append(OutOfRange(index=i, column=c, value=str(s[i]), message=late))
    return out
