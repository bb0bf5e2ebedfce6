"""Periods as UTC ranges: what the SQL engine sends to a database instead of time-zone arithmetic.

A period is `[start, end)` in UTC with the integer key of `insights.metrics.periods`; the database
only compares a timestamp with bound parameters (`CASE WHEN t < :end_1 THEN key_1 ...`), so it needs
no time-zone tables and no date functions.  Today every period is a UTC calendar period (the engine's
rule); when periods are cut in a client's calendar, this module is the one to change: return that
client's local period boundaries converted to UTC, and the SQL engine follows unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from insights.metrics.periods import check_grain, date_key, period_end, periods_between

WINDOW = "window"


@dataclass(frozen=True)
class PeriodRange:
    """One period: its key, and its first and one-past-last UTC day (clipped to the query's range)."""

    key: int
    first: date
    stop: date  # exclusive

    @property
    def start_utc(self) -> datetime:
        """Midnight UTC of the first day, naive (the warehouse stores naive UTC)."""
        return datetime.combine(self.first, time())

    @property
    def stop_utc(self) -> datetime:
        return datetime.combine(self.stop, time())


def utc_ranges(grain: str, start: date, end: date) -> list[PeriodRange]:
    """The periods of `grain` covering [start, end] (inclusive dates), in order, clipped to them.

    `grain = "window"` is one period from `start` to `end`, keyed by its first day.

    >>> [r.key for r in utc_ranges("week", date(2026, 1, 7), date(2026, 1, 20))]
    [20458, 20465, 20472]
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if grain == WINDOW:
        return [PeriodRange(date_key(start, "day"), start, end + timedelta(days=1))]
    check_grain(grain)
    return [PeriodRange(date_key(p, grain), max(p, start), min(period_end(p, grain), end) + timedelta(days=1))
            for p in periods_between(start, end, grain)]
