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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, TypeVar

import polars as pl

from connectors.schema import TABLES
from connectors.store import Scope
from insights.errors import ViewError

# filter name -> the canonical column it narrows (client and vendor narrow the scope, site, channel and language
# the rows; a table without the column, such as contact intervals for language, cannot be narrowed by it)
DIMENSIONS: dict[str, str] = {"client": "client_id", "vendor": "vendor_id", "site": "site_id", "channel": "channel",
                              "language": "language"}
SCOPE_FILTERS: tuple[str, ...] = ("client", "vendor")
ROW_FILTERS: dict[str, str] = {"site": "site_id", "channel": "channel", "language": "language"}

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def honoured(table: str) -> tuple[str, ...]:
    """The filters `table` can narrow: those whose column connectors/schema.py gives it (scope filters always).

    >>> honoured("tickets"), honoured("staffing_roster")
    (('client', 'vendor', 'site', 'channel', 'language'), ('client', 'vendor', 'site', 'channel'))
    """
    columns = TABLES[table].columns
    return tuple(n for n, c in DIMENSIONS.items() if n in SCOPE_FILTERS or c in columns)


def _and(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def not_split(what: str, unsplit: Sequence[tuple[str, str]], *, plural: bool = True) -> str:
    """The sentence a section shows when filters in force cannot narrow its figures ('' when none).

    >>> not_split("Staffing and cost", [("language", "es")])
    'Staffing and cost are not split by language: these figures are for every language, not only language es.'
    """
    if not unsplit:
        return ""
    names = " or ".join(n for n, _ in unsplit)
    every = " and ".join(f"every {n}" for n, _ in unsplit)
    only = " and ".join(f"{n} {v}" for n, v in unsplit)
    return (f"{what} {'are' if plural else 'is'} not split by {names}: these figures are for {every}, "
            f"not only {only}.")


WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """A reporting calendar: the time zone days are cut in and the weekday weeks start on (0 = Monday).

    `note` names a view whose clients keep different calendars (each client's rows are cut in its own
    calendar, see `Calendars`); it is shown instead of the zone on period labels."""

    timezone: str = "UTC"
    week_start: int = 0  # 0 = Monday … 6 = Sunday
    note: str = ""

    def week_of(self, day: date) -> date:
        """The first day of the reporting week holding `day`."""
        return day - timedelta(days=(day.weekday() - self.week_start) % 7)

    @property
    def name(self) -> str:
        """What period labels show: the time zone (or the note of a view of several calendars)."""
        return self.note or self.timezone

    @property
    def cut(self) -> str:
        """How periods are cut, in words: 'periods are cut in the reporting calendar: America/New_York (Sunday weeks)'."""
        return f"periods are cut in the reporting calendar: {self.name} ({WEEKDAYS[self.week_start].title()} weeks)"

    @classmethod
    def of(cls, config: Any, client: str | None = None) -> Calendar:
        """The calendar of `client` in a parsed bpo.toml: its own keys, else [settings], else UTC with Monday weeks."""
        settings = dict(getattr(config, "settings", None) or {})
        own: Mapping[str, Any] = next((c for c in getattr(config, "clients", ()) if client is not None and c.get("id") == client), {})
        zone = own.get("timezone") or settings.get("timezone") or "UTC"
        first = own.get("week_start") or settings.get("week_start") or "monday"
        return cls(timezone=str(zone), week_start=WEEKDAYS.index(str(first)))


@dataclass(frozen=True, kw_only=True)
class Calendars:
    """How the rows of several clients are cut into periods: each client's rows in its own calendar.

    A client's hours, days, weekdays and months are its local ones. Weeks are keyed by the `reference`
    week start: a client whose weeks start on another day has each of its own weeks (whole) filed under
    the reference week it overlaps most (a Sunday-to-Saturday week under the Monday of its Monday), so
    every client's KPI equals its own view and a total over clients is the sum of the clients' own weeks.
    Rows of a client bpo.toml does not declare use `fallback` ([settings])."""

    reference: Calendar = field(default_factory=Calendar)
    clients: tuple[tuple[str, Calendar], ...] = ()
    fallback: Calendar = field(default_factory=Calendar)

    @classmethod
    def of(cls, config: Any, clients: Iterable[str] | None = None) -> Calendars:
        """The calendars of the clients a read covers (`clients` None: every declared client)."""
        declared = [str(c["id"]) for c in getattr(config, "clients", ()) if c.get("id")]
        fallback = Calendar.of(config)
        own = tuple((c, Calendar.of(config, c)) for c in declared)
        seen = [cal for c, cal in own if clients is None or c in set(clients)] or [fallback]
        zones = sorted({c.timezone for c in seen})
        starts = sorted({c.week_start for c in seen})
        zone = zones[0] if len(zones) == 1 else fallback.timezone
        first = starts[0] if len(starts) == 1 else fallback.week_start
        note = ""
        if len(zones) > 1 or len(starts) > 1:
            parts = [f"{c} {cal.timezone}" + ("" if cal.week_start == first else f", {WEEKDAYS[cal.week_start].title()} weeks")
                     for c, cal in own if (clients is None or c in set(clients))]
            note = "each client in its own calendar: " + "; ".join(parts)
        return cls(reference=Calendar(timezone=zone, week_start=first, note=note), clients=own, fallback=fallback)

    @property
    def utc_iso(self) -> bool:
        """True when every row is cut in UTC with Monday weeks (the fast path: no time-zone work)."""
        return all(c.timezone == "UTC" and c.week_start == 0 for c in (self.reference, self.fallback, *dict(self.clients).values()))

    def groups(self, *, weeks: bool) -> list[tuple[tuple[str, ...] | None, str, int]]:
        """(clients, time zone, days to shift) per group of rows cut alike; clients None is every other row.

        The shift files a client's own week under the reference week it overlaps most (`weeks` only)."""
        def shift(cal: Calendar) -> int:
            return 3 - (cal.week_start + 3 - self.reference.week_start) % 7 if weeks else 0

        def key(cal: Calendar) -> tuple[str, int]:
            return cal.timezone, shift(cal)

        rest = key(self.fallback)
        grouped: dict[tuple[str, int], list[str]] = {}
        for client, cal in self.clients:
            if key(cal) != rest:
                grouped.setdefault(key(cal), []).append(client)
        return [*((tuple(cs), z, s) for (z, s), cs in grouped.items()), (None, *rest)]


@dataclass(frozen=True, kw_only=True)
class View:
    """What one viewer looks at: scope, checked filters (in DIMENSIONS order), week and calendar."""

    scope: Scope
    filters: tuple[tuple[str, str], ...] = ()
    week: date | None = None
    calendar: Calendar = field(default_factory=Calendar)

    @classmethod
    def of(cls, scope: Scope, filters: Mapping[str, Any] | None = None, week: date | None = None, *,
           calendar: Calendar | None = None, config: Any = None) -> View:
        """Check the filters (blank values mean 'all'; an unknown key is an error) and build the view.

        The calendar is `calendar`, else the reporting calendar of the clients the view reads in
        `config` (the parsed bpo.toml: `Calendars.of(...).reference`), else UTC with Monday weeks;
        `week` is any day of the week wanted, cut into that calendar's week.

        Example: `View.of(viewer.scope, {"client": "acme", "site": "nw-manila"}, date(2026, 11, 16), config=ws.config)`.
        """
        given = {k: v for k, v in dict(filters or {}).items() if v not in (None, "", [])}
        unknown = sorted(set(given) - set(DIMENSIONS))
        if unknown:
            raise ViewError(f"unknown view filter(s): {', '.join(unknown)}; use {', '.join(DIMENSIONS)}")
        if calendar is None and config is not None:
            read = scope.narrow(clients=given.get("client"), vendors=given.get("vendor"))
            calendar = Calendars.of(config, read.clients).reference
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
        """Column -> value of the site, channel and language filters in force."""
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

    def unsplit(self, tables: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """The filters in force (name, value) that one of `tables` cannot narrow: it has no column for them."""
        tables = tuple(tables)
        return tuple((n, v) for n, v in self.filters if any(n not in honoured(t) for t in tables))

    def for_tables(self, tables: Iterable[str]) -> View:
        """The view figures read from `tables` are computed in: without the filters one of them cannot narrow
        (so those figures are for every language, say, and `not_split_note` says so), never narrowed to nothing."""
        dropped = {n for n, _ in self.unsplit(tables)}
        return replace(self, filters=tuple((n, v) for n, v in self.filters if n not in dropped)) if dropped else self

    def groups(self, kpis: Iterable[str], tables_of: Callable[[str], Iterable[str]]) -> list[tuple[View, list[str]]]:
        """The KPIs grouped by the view they are computed in (`for_tables` of the tables each reads, `tables_of`:
        `Catalog.tables`), the view itself first when some KPI honours every filter."""
        out: dict[View, list[str]] = {}
        for name in kpis:
            out.setdefault(self.for_tables(tables_of(name)), []).append(name)
        return sorted(out.items(), key=lambda g: g[0] != self)

    def not_split_kpis(self, kpis: Iterable[str], tables_of: Callable[[str], Iterable[str]],
                       label_of: Callable[[str], str] = str) -> list[str]:
        """One sentence per set of filters some of `kpis` cannot honour, naming those KPIs (`label_of`); [] when
        every filter applies to every KPI: 'Service level and QA score are not split by language: …'."""
        lost: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for name in kpis:
            unsplit = self.unsplit(tables_of(name))
            if unsplit:
                lost.setdefault(unsplit, []).append(label_of(name))
        return [not_split(_and(labels), unsplit, plural=len(labels) > 1) for unsplit, labels in lost.items()]

    def not_split_note(self, what: str, tables: Iterable[str], *, plural: bool = True) -> str:
        """The sentence a section reading `tables` shows under this view ('' when every filter applies).

        >>> View.of(Scope.everything(), {"language": "es"}).not_split_note("Staffing", ["staffing_roster"], plural=False)
        'Staffing is not split by language: these figures are for every language, not only language es.'
        """
        return not_split(what, self.unsplit(tables), plural=plural)

    def own_segments_note(self, what: str) -> str:
        """The sentence a section measured on segments of its own (a pilot and its control group) shows while row
        filters are in force ('' when none): those filters do not narrow it, and it says so rather than ignore them.

        >>> View.of(Scope.everything(), {"site": "nw-manila"}).own_segments_note("Each pilot is measured on its own segment and control group")
        'Each pilot is measured on its own segment and control group: the filter site nw-manila does not narrow it.'
        """
        rows = [(n, v) for n, v in self.filters if n in ROW_FILTERS]
        if not rows:
            return ""
        only = " and ".join(f"{n} {v}" for n, v in rows)
        return f"{what}: the filter{'s' if len(rows) > 1 else ''} {only} {'do' if len(rows) > 1 else 'does'} not narrow it."

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
