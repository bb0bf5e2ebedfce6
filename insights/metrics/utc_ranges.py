"""Periods as UTC ranges: what the SQL engine sends to a database instead of time-zone arithmetic.

A period is `[start, end)` in UTC with the integer key of `insights.metrics.periods`; the database
only compares a timestamp with bound parameters (`CASE WHEN t < :end_1 THEN key_1 ...`), so it needs
no time-zone tables and no date functions.  Each client's periods are its own local days, weeks and
months (its bpo.toml `timezone` and `week_start`, `insights.view.Calendars`): their local midnights
are converted to UTC here, in Python, so a day across a daylight-saving change is the 23 or 25 hours
its clock shows.  `calendar_ranges` gives one list of ranges per group of clients cut alike, and
`utc_offsets` the pieces of constant UTC offset a client's local hour and weekday are read with.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from insights.metrics.periods import check_grain, date_key, period_end, periods_between
from insights.view import Calendars

WINDOW = "window"


@dataclass(frozen=True)
class PeriodRange:
    """One period: its key, its first and one-past-last local day (clipped to the query's range), its time zone."""

    key: int
    first: date
    stop: date  # exclusive
    zone: str = "UTC"

    @property
    def start_utc(self) -> datetime:
        """The local midnight starting the first day, as naive UTC (the warehouse stores naive UTC)."""
        return local_midnight_utc(self.first, self.zone)

    @property
    def stop_utc(self) -> datetime:
        return local_midnight_utc(self.stop, self.zone)


@dataclass(frozen=True)
class ClientRanges:
    """The periods of a group of clients cut alike (`clients` None: every client not named in another group)."""

    clients: tuple[str, ...] | None
    zone: str
    ranges: tuple[PeriodRange, ...]


def local_midnight_utc(day: date, zone: str) -> datetime:
    """The instant `day` starts in `zone`, as naive UTC.

    Where midnight is skipped (a spring-forward at 00:00) the day starts at the jump; where the evening
    before is repeated, at the last midnight: the later of the two readings is right in both cases."""
    if zone == "UTC":
        return datetime.combine(day, time())
    tz = ZoneInfo(zone)
    return max(datetime.combine(day, time(), tzinfo=tz).replace(fold=f).astimezone(timezone.utc)
               for f in (0, 1)).replace(tzinfo=None)


def utc_ranges(grain: str, start: date, end: date, *, zone: str = "UTC", shift: int = 0,
               first: int = 0) -> list[PeriodRange]:
    """The periods of `grain` covering the local days [start, end] of `zone` (inclusive), in order, clipped to them.

    Weeks start on weekday `first` (0 = Monday); `shift` moves a client's days that many days before they
    are cut into weeks, filing its own week under the reference week it overlaps most (`Calendars.groups`).
    `grain = "window"` is one period from `start` to `end`, keyed by its first day.

    >>> [r.key for r in utc_ranges("week", date(2026, 1, 7), date(2026, 1, 20))]
    [20458, 20465, 20472]
    >>> r = utc_ranges("day", date(2026, 3, 8), date(2026, 3, 8), zone="America/New_York")[0]
    >>> r.start_utc, r.stop_utc - r.start_utc
    (datetime.datetime(2026, 3, 8, 5, 0), datetime.timedelta(seconds=82800))
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if grain == WINDOW:
        return [PeriodRange(date_key(start, "day"), start, end + timedelta(days=1), zone)]
    check_grain(grain)
    move = timedelta(days=shift)
    return [PeriodRange(date_key(p, grain, first), max(p - move, start),
                        min(period_end(p, grain, first) - move, end) + timedelta(days=1), zone)
            for p in periods_between(start + move, end + move, grain, first)]


def calendar_ranges(grain: str, start: date, end: date, calendars: Calendars | None = None) -> list[ClientRanges]:
    """Each group of clients' periods over its local days [start, end]; the last group is every other client.

    The keys are the Polars engine's (`period_key(..., calendars=...)`), so both engines label a row alike.
    """
    if calendars is None or calendars.utc_iso:
        return [ClientRanges(None, "UTC", tuple(utc_ranges(grain, start, end)))]
    first = calendars.reference.week_start
    return [ClientRanges(clients, zone, tuple(utc_ranges(grain, start, end, zone=zone, shift=shift, first=first)))
            for clients, zone, shift in calendars.groups(weeks=grain == "week")]


def utc_offsets(zone: str, lo: datetime, hi: datetime) -> list[tuple[datetime | None, int]]:
    """The UTC offsets of `zone` between the naive UTC instants lo and hi: (from, seconds), the first from None.

    A local hour or weekday is the UTC timestamp plus the offset of its piece (a few pieces a year: the
    daylight-saving changes), found here rather than with the database's time-zone tables.

    >>> utc_offsets("America/New_York", datetime(2026, 10, 1), datetime(2026, 12, 1))
    [(None, -14400), (datetime.datetime(2026, 11, 1, 6, 0), -18000)]
    """
    if zone == "UTC":
        return [(None, 0)]
    tz = ZoneInfo(zone)

    def offset(t: datetime) -> int:
        delta = t.replace(tzinfo=timezone.utc).astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    pieces: list[tuple[datetime | None, int]] = [(None, offset(lo))]
    day, t = timedelta(days=1), lo
    while t < hi:
        nxt = min(t + day, hi)
        if offset(nxt) != pieces[-1][1]:  # a change within (t, nxt]: bisect to the second it takes effect
            a, b = t, nxt
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if offset(mid) == pieces[-1][1] else (a, mid)
            pieces.append((b.replace(microsecond=0), offset(nxt)))
        t = nxt
    return pieces
