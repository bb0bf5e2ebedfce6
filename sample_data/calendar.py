"""The sample's calendar: days, UTC offsets, public holidays, seasonality and the operation's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

DAY = 86_400
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Calendar:
    """`weeks` whole ISO weeks ending on `end` (a Sunday); day 0 is the first Monday."""

    end: date
    weeks: int

    @property
    def start(self) -> date:
        return self.end - timedelta(days=7 * self.weeks - 1)

    @property
    def n_days(self) -> int:
        return 7 * self.weeks

    @cached_property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.n_days)]

    @cached_property
    def day_epoch(self) -> np.ndarray:
        """Seconds since the Unix epoch of each day's midnight (as if UTC)."""
        return (np.arange(self.n_days, dtype=np.int64) + (self.start - EPOCH).days) * DAY

    @cached_property
    def dow(self) -> np.ndarray:
        return np.arange(self.n_days) % 7

    @cached_property
    def day_of_year(self) -> np.ndarray:
        return np.array([d.timetuple().tm_yday for d in self.dates])

    @property
    def end_epoch(self) -> int:
        """Seconds since the epoch at the end of the last day (the data's 'now')."""
        return int(self.day_epoch[-1]) + DAY

    def week_index(self, weeks_before_end: int) -> int:
        """Index (0 = first week) of the week `weeks_before_end` weeks before the latest one."""
        return self.weeks - 1 - weeks_before_end

    def utc_offset(self, tz: str) -> np.ndarray:
        """Seconds to add to UTC to get local time, per day (taken at local noon)."""
        zone = ZoneInfo(tz)
        return np.array(
            [int(datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset().total_seconds()) for d in self.dates],
            dtype=np.int64,
        )

    @cached_property
    def holidays(self) -> dict[date, str]:
        """US public holidays inside the calendar."""
        out: dict[date, str] = {}
        for year in range(self.start.year, self.end.year + 1):
            for d, name in us_holidays(year).items():
                if self.start <= d <= self.end:
                    out[d] = name
        return out

    @cached_property
    def holiday_mask(self) -> np.ndarray:
        return np.array([d in self.holidays for d in self.dates])

    def day_of(self, d: date) -> int:
        """Day index of a date (may fall outside 0..n_days-1)."""
        return (d - self.start).days


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based; -1 = last) given weekday of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def us_holidays(year: int) -> dict[date, str]:
    """The US federal holidays the sample's customers observe (lower contact volume)."""
    return {
        date(year, 1, 1): "New Year's Day",
        _nth_weekday(year, 1, 0, 3): "Martin Luther King Jr. Day",
        _nth_weekday(year, 5, 0, -1): "Memorial Day",
        date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        _nth_weekday(year, 11, 3, 4): "Thanksgiving Day",
        date(year, 12, 25): "Christmas Day",
    }


def thanksgiving(year: int) -> date:
    return _nth_weekday(year, 11, 3, 4)


def _bump(doy: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth yearly bump (wraps around the new year)."""
    dist = np.minimum(np.abs(doy - centre), 365 - np.abs(doy - centre))
    return np.exp(-0.5 * (dist / width) ** 2)


def seasonality(cal: Calendar, client: str) -> np.ndarray:
    """Yearly volume factor per day: holiday peak in Nov-Dec for acme, summer peak for globex."""
    doy = cal.day_of_year.astype(float)
    if client == "acme":
        return 1.0 + 0.45 * _bump(doy, 345, 18) + 0.12 * _bump(doy, 240, 12)  # holidays, back to school
    return 1.0 + 0.38 * _bump(doy, 190, 32) + 0.10 * _bump(doy, 355, 8)  # summer travel, year end


def iso_week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"

