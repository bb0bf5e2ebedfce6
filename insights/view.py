"""The view: the viewer's scope, the filters, the week and the reporting calendar; the only filter.

Every layer that reads canonical data for a viewer builds one `View` and asks it: `scope_for_read()`
is the scope the read goes through (the viewer's scope narrowed by the client and vendor filters,
never widened), `apply(frame)` keeps the rows of the site and channel filters.  Filters are checked
once, here: an unknown key is an error naming it and the known ones.

>>> view = View.of(Scope.everything(), {"client": "acme", "channel": "email"}, date(2026, 11, 18))
>>> view.week, view.get("channel"), view.scope_for_read().key
(datetime.date(2026, 11, 16), 'email', 'clients=acme;vendors=*')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

import polars as pl

from connectors.store import Scope
from insights.errors import ViewError

# filter name -> the canonical column it narrows (client and vendor narrow the scope, site and channel the rows)
DIMENSIONS: dict[str, str] = {"client": "client_id", "vendor": "vendor_id", "site": "site_id", "channel": "channel"}
SCOPE_FILTERS: tuple[str, ...] = ("client", "vendor")
ROW_FILTERS: dict[str, str] = {"site": "site_id", "channel": "channel"}

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """The reporting calendar periods are cut in (UTC and ISO weeks until clients declare their own)."""

    timezone: str = "UTC"
    week_start: int = 0  # 0 = Monday … 6 = Sunday

    def week_of(self, day: date) -> date:
        """The first day of the reporting week holding `day`."""
        return day - timedelta(days=(day.weekday() - self.week_start) % 7)


@dataclass(frozen=True, kw_only=True)
class View:
    """What one viewer looks at: scope, checked filters (in DIMENSIONS order), week and calendar."""

    scope: Scope
    filters: tuple[tuple[str, str], ...] = ()
    week: date | None = None
    calendar: Calendar = field(default_factory=Calendar)

    @classmethod
    def of(cls, scope: Scope, filters: Mapping[str, Any] | None = None, week: date | None = None, *,
           calendar: Calendar | None = None) -> View:
        """Check the filters (blank values mean 'all'; an unknown key is an error) and build the view.

        Example: `View.of(viewer.scope, {"client": "acme", "site": "nw-manila"}, date(2026, 11, 16))`.
        """
        given = {k: v for k, v in dict(filters or {}).items() if v not in (None, "", [])}
        unknown = sorted(set(given) - set(DIMENSIONS))
        if unknown:
            raise ViewError(f"unknown view filter(s): {', '.join(unknown)}; use {', '.join(DIMENSIONS)}")
        cal = calendar or Calendar()
        return cls(scope=scope, filters=tuple((k, str(given[k])) for k in DIMENSIONS if k in given),
                   week=None if week is None else cal.week_of(week), calendar=cal)

    @property
    def filter_map(self) -> dict[str, str]:
        """The filters in force as a dict (name -> value)."""
        return dict(self.filters)

    def get(self, name: str) -> str | None:
        """The value of one filter, None when unset."""
        return self.filter_map.get(name)

    @property
    def row_filters(self) -> dict[str, str]:
        """Column -> value of the site and channel filters in force."""
        f = self.filter_map
        return {column: f[name] for name, column in ROW_FILTERS.items() if name in f}

    @property
    def fixed(self) -> tuple[str, ...]:
        """The row-filter columns in force (a segment level always holds them)."""
        return tuple(self.row_filters)

    @property
    def key(self) -> str:
        """A stable string for cache keys: scope, filters, week and calendar."""
        week = self.week.isoformat() if self.week else "latest"
        filters = ",".join(f"{k}={v}" for k, v in self.filters)
        return f"{self.scope.key};{filters};week={week};tz={self.calendar.timezone};ws={self.calendar.week_start}"

    def with_week(self, week: date | None) -> View:
        """The same view on another week."""
        return View.of(self.scope, self.filter_map, week, calendar=self.calendar)

    def scope_for_read(self) -> Scope:
        """The scope every read goes through: the viewer's, narrowed (never widened) by the client/vendor filters."""
        f = self.filter_map
        return self.scope.narrow(clients=f.get("client"), vendors=f.get("vendor"))

    def apply(self, frame: Frame, *, keep_null: bool = False, rows_only: bool = False) -> Frame:
        """Keep the rows matching every filter whose column the frame has.

        `keep_null` keeps rows whose column is null (an event naming no site applies to every
        site); `rows_only` applies the site and channel filters alone (reads already narrowed by
        `scope_for_read()`)."""
        columns = frame.collect_schema().names()
        names = ROW_FILTERS if rows_only else DIMENSIONS
        for name, value in self.filters:
            column = DIMENSIONS[name]
            if name in names and column in columns:
                match = pl.col(column) == value
                frame = frame.filter(pl.col(column).is_null() | match if keep_null else match)
        return frame
