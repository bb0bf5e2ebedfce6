"""Periods: grains, integer period keys for fast grouping, and week helpers.

A period key is an Int32 that orders periods and steps evenly:

| grain   | key                                   | step |
|---------|---------------------------------------|------|
| day     | days since 1970-01-01                 | 1    |
| week    | days since 1970-01-01 of the Monday   | 7    |
| month   | year * 12 + month - 1                 | 1    |
| quarter | year * 4 + quarter - 1                | 1    |
| year    | year                                  | 1    |

Weeks are ISO weeks (Monday start). Every timestamp is UTC, so periods are UTC calendar periods.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import polars as pl

from insights.errors import KpiError

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
EPOCH = date(1970, 1, 1)


def check_grain(grain: str) -> None:
    """Raise a KpiError naming the valid grains when `grain` is not one."""
    if grain not in GRAINS:
        raise KpiError(f"unknown grain '{grain}'; use one of: {', '.join(GRAINS)}")


def _as_date(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime) and dtype.time_zone in (None, "UTC"):
        # integer floor division on the epoch: periods are UTC, and this skips time-zone machinery
        per_day = {"ns": 86_400_000_000_000, "us": 86_400_000_000, "ms": 86_400_000}[dtype.time_unit or "us"]
        return (expr.cast(pl.Int64) // per_day).cast(pl.Int32).cast(pl.Date)
    return expr.dt.date() if isinstance(dtype, pl.Datetime) else expr


def period_key(expr: pl.Expr, grain: str, dtype: pl.DataType) -> pl.Expr:
    """The Int32 period key of a Date or Datetime expression (of type `dtype`) at `grain`."""
    check_grain(grain)
    d = _as_date(expr, dtype)
    if grain in ("day", "week"):
        days = d.cast(pl.Int32)
        return days if grain == "day" else days - (days + 3) % 7  # 1970-01-01 was a Thursday
    year = d.dt.year().cast(pl.Int32)
    if grain == "year":
        return year
    month0 = d.dt.month().cast(pl.Int32) - 1
    if grain == "month":
        return year * 12 + month0
    return year * 4 + month0 // 3


def key_to_date(expr: pl.Expr, grain: str) -> pl.Expr:
    """The first day of the period a key stands for, as a Date expression."""
    check_grain(grain)
    if grain in ("day", "week"):
        return expr.cast(pl.Int32).cast(pl.Date)
    if grain == "year":
        return pl.date(expr, 1, 1)
    if grain == "month":
        return pl.date(expr // 12, expr % 12 + 1, 1)
    return pl.date(expr // 4, (expr % 4) * 3 + 1, 1)


def date_key(d: date, grain: str) -> int:
    """The period key of one date (the scalar twin of `period_key`)."""
    check_grain(grain)
    if grain in ("day", "week"):
        days = (d - EPOCH).days
        return days if grain == "day" else days - (days + 3) % 7
    if grain == "year":
        return d.year
    if grain == "month":
        return d.year * 12 + d.month - 1
    return d.year * 4 + (d.month - 1) // 3


def key_step(grain: str) -> int:
    """How far apart consecutive period keys are."""
    return 7 if grain == "week" else 1


def period_start(d: date, grain: str) -> date:
    """The first day of the period containing `d`."""
    check_grain(grain)
    if grain == "day":
        return d
    if grain == "week":
        return d - timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return date(d.year, 1, 1)


def period_end(d: date, grain: str) -> date:
    """The last day of the period containing `d`."""
    start = period_start(d, grain)
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    m = start.month - 1 + months
    return date(start.year + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def periods_between(start: date, end: date, grain: str) -> list[date]:
    """Start dates of every period that overlaps [start, end], in order."""
    out, d = [], period_start(start, grain)
    while d <= end:
        out.append(d)
        d = period_end(d, grain) + timedelta(days=1)
    return out


def week_start(d: date) -> date:
    """The Monday of the ISO week containing `d` (the one place a day is cut into its week)."""
    return d - timedelta(days=d.weekday())


def latest_complete_week(last_day: date) -> date:
    """The Monday of the last week whose Sunday is on or before `last_day` (a week still running is not complete)."""
    return week_start(last_day) - (timedelta(weeks=0) if last_day.weekday() == 6 else timedelta(weeks=1))


def iso_week_label(d: date) -> str:
    """'2026-W07' for any day of that ISO week."""
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"
