"""Periods: grains, integer period keys for fast grouping, and week helpers.

A period key is an Int32 that orders periods and steps evenly:

| grain   | key                                   | step |
|---------|---------------------------------------|------|
| day     | days since 1970-01-01                 | 1    |
| week    | days since 1970-01-01 of the Monday   | 7    |
| month   | year * 12 + month - 1                 | 1    |
| quarter | year * 4 + quarter - 1                | 1    |
| year    | year                                  | 1    |

A week's key is its first day, the weekday of the reporting calendar's `week_start` (Monday by
default: ISO weeks). Timestamps are stored in UTC; `period_key(..., calendars=...)` cuts each row in
its client's reporting calendar (`insights.view.Calendars`): the instant is converted to the client's
time zone before it is truncated, so a local day is the 23 or 25 hours its clock shows on the days
daylight saving changes, and an hour repeated in the autumn belongs to its one local day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Literal
from zoneinfo import ZoneInfo

import polars as pl

from insights.errors import KpiError
from insights.view import Calendars

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
EPOCH = date(1970, 1, 1)
PieceFn = Callable[[str, int], pl.Expr]


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


def period_key(expr: pl.Expr, grain: str, dtype: pl.DataType, calendars: Calendars | None = None) -> pl.Expr:
    """The Int32 period key of a Date or Datetime expression (of type `dtype`) at `grain`.

    With `calendars`, each row is cut in its client's calendar (the frame must hold `client_id` when
    the clients' calendars differ); without, in UTC with Monday weeks."""
    check_grain(grain)
    if calendars is None or calendars.utc_iso:
        return day_key(_as_date(expr, dtype), grain)
    return day_key(period_date(expr, grain, dtype, calendars), grain, calendars.reference.week_start)


def day_key(d: pl.Expr, grain: str, first: int = 0) -> pl.Expr:
    """The period key of a Date expression, weeks starting on weekday `first` (0 = Monday)."""
    if grain in ("day", "week"):
        days = d.cast(pl.Int32)
        return days if grain == "day" else days - (days + 3 - first) % 7  # 1970-01-01 was a Thursday
    year = d.dt.year().cast(pl.Int32)
    if grain == "year":
        return year
    month0 = d.dt.month().cast(pl.Int32) - 1
    if grain == "month":
        return year * 12 + month0
    return year * 4 + month0 // 3


def _local(expr: pl.Expr, dtype: pl.DataType, zone: str) -> pl.Expr:
    """A Datetime expression as the wall clock of `zone` (a Date stays as it is: it is already a local day)."""
    if not isinstance(dtype, pl.Datetime):
        return expr
    if dtype.time_zone is None:
        expr = expr.dt.replace_time_zone("UTC")
    return expr if zone == "UTC" and dtype.time_zone in (None, "UTC") else expr.dt.convert_time_zone(zone)


def by_client(calendars: Calendars, piece: PieceFn, *, weeks: bool = False) -> pl.Expr:
    """`piece(zone, shift)` for each group of clients cut alike, chosen per row by `client_id`."""
    groups = calendars.groups(weeks=weeks)
    *named, (_, zone, shift) = groups
    out = piece(zone, shift)
    for clients, z, s in named:
        out = pl.when(pl.col("client_id").is_in(list(clients or ()))).then(piece(z, s)).otherwise(out)
    return out


def period_date(expr: pl.Expr, grain: str, dtype: pl.DataType, calendars: Calendars) -> pl.Expr:
    """The local day of each row in its client's calendar (a Date), the day range filters and keys are cut on.

    At week grain a client whose weeks start on another weekday than the reference's has its days moved
    by a fixed number (at most 3) so that its whole week lands in the reference week it overlaps most."""
    def piece(zone: str, shift: int) -> pl.Expr:
        d = _local(expr, dtype, zone)
        d = d.dt.date() if isinstance(dtype, pl.Datetime) else d
        return d + pl.duration(days=shift) if shift else d

    return by_client(calendars, piece, weeks=grain == "week")


def period_first_day(expr: pl.Expr, grain: str, dtype: pl.DataType, calendars: Calendars | None = None) -> pl.Expr:
    """The first day (a Date) of each row's period in its client's calendar: what `compute_kpis` labels it with."""
    return key_to_date(period_key(expr, grain, dtype, calendars), grain)


def in_local_days(expr: pl.Expr, dtype: pl.DataType, calendars: Calendars | None, start: date, end: date) -> pl.Expr:
    """True for rows whose time falls on a local day in [start, end] of their client's calendar."""
    if calendars is None or calendars.utc_iso:
        day = _as_date(expr, dtype)
    else:
        day = period_date(expr, "day", dtype, calendars)
    return day.is_between(start, end)


def local_clock(expr: pl.Expr, dtype: pl.DataType, calendars: Calendars | None, read: Callable[[pl.Expr], pl.Expr]) -> pl.Expr:
    """`read` applied to each row's wall clock in its client's time zone (e.g. `lambda t: t.dt.minute()`)."""
    if calendars is None or calendars.utc_iso:
        return read(_local(expr, dtype, "UTC"))
    return by_client(calendars, lambda zone, shift: read(_local(expr, dtype, zone)))


def local_part(expr: pl.Expr, part: str, dtype: pl.DataType, calendars: Calendars | None) -> pl.Expr:
    """The local hour of day (0-23) or weekday name ("monday"…) of each row in its client's calendar."""
    def piece(zone: str, shift: int) -> pl.Expr:
        t = _local(expr, dtype, zone)
        if part == "hour":
            return t.dt.hour().cast(pl.Int32).cast(pl.String).str.zfill(2)
        return t.dt.weekday().replace_strict(dict(enumerate(WEEKDAY_NAMES, start=1)), return_dtype=pl.String)

    return piece("UTC", 0) if calendars is None else by_client(calendars, piece)


WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


def date_key(d: date, grain: str, first: int = 0) -> int:
    """The period key of one date (the scalar twin of `day_key`), weeks starting on weekday `first`."""
    check_grain(grain)
    if grain in ("day", "week"):
        days = (d - EPOCH).days
        return days if grain == "day" else days - (days + 3 - first) % 7
    if grain == "year":
        return d.year
    if grain == "month":
        return d.year * 12 + d.month - 1
    return d.year * 4 + (d.month - 1) // 3


def key_step(grain: str) -> int:
    """How far apart consecutive period keys are."""
    return 7 if grain == "week" else 1


def period_start(d: date, grain: str, first: int = 0) -> date:
    """The first day of the period containing `d` (weeks start on weekday `first`, 0 = Monday)."""
    check_grain(grain)
    if grain == "day":
        return d
    if grain == "week":
        return week_start(d, first)
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return date(d.year, 1, 1)


def period_end(d: date, grain: str, first: int = 0) -> date:
    """The last day of the period containing `d`."""
    start = period_start(d, grain, first)
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    m = start.month - 1 + months
    return date(start.year + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def periods_between(start: date, end: date, grain: str, first: int = 0) -> list[date]:
    """Start dates of every period that overlaps [start, end], in order."""
    out, d = [], period_start(start, grain, first)
    while d <= end:
        out.append(d)
        d = period_end(d, grain, first) + timedelta(days=1)
    return out


def week_start(d: date, first: int = 0) -> date:
    """The first day (weekday `first`, 0 = Monday) of the week containing `d` (the one place a day is cut into its week)."""
    return d - timedelta(days=(d.weekday() - first) % 7)


def latest_complete_week(last_day: date, first: int = 0) -> date:
    """The first day of the last week whose last day is on or before `last_day` (a week still running is not complete)."""
    done = (last_day.weekday() - first) % 7 == 6
    return week_start(last_day, first) - (timedelta(weeks=0) if done else timedelta(weeks=1))


def utc_bounds(start: date, end: date, zone: str = "UTC") -> tuple[datetime, datetime]:
    """[start, end] local days of `zone` as a UTC range [from, to): the local midnight starting `start` and the
    one ending `end` (for engines that filter UTC timestamps, e.g. SQL; 23 or 25 hours on daylight-saving days).

    >>> utc_bounds(date(2026, 3, 8), date(2026, 3, 8), "America/New_York")[1] - utc_bounds(date(2026, 3, 8), date(2026, 3, 8), "America/New_York")[0]
    datetime.timedelta(seconds=82800)
    """
    tz = ZoneInfo(zone)
    lo = datetime.combine(start, time(), tzinfo=tz).astimezone(timezone.utc)
    hi = datetime.combine(end + timedelta(days=1), time(), tzinfo=tz).astimezone(timezone.utc)
    return lo, hi


def iso_week_label(d: date) -> str:
    """'2026-W07' for any day of that ISO week."""
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"
