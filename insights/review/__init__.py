"""The review: the one object pages, exports and the CLI read (DESIGN §2).

`build_review(ws, scope, week=..., filters=...)` computes, for the viewer's scope narrowed by the
filters, the KPI tiles of the `weekly_review` preset (value, vs last week, vs the same ISO week
last year, vs target, and the month-, quarter- and year-to-date totals), each KPI's weekly series
(52 weeks with the prior-year line and the effective-dated target), the events calendar of the
view, the insights (the engine's ranked top list for the same week, see `insights.detection.engine.detect`)
and the data-quality notices.  Everything on screen comes from here, already formatted.

To-date totals: the ISO week's Sunday decides the month, quarter and year, and each total runs
from the first day of that period to the Sunday.  The week of Mon 28 Apr – Sun 4 May 2025 has
MTD = 1–4 May (the April days are in QTD and YTD, not in MTD); the week of Mon 29 Dec 2025 –
Sun 4 Jan 2026 has YTD = 1–4 Jan 2026.  A total is the KPI computed over those days by the KPI
engine (Σnumerator/Σdenominator, exact quantiles), never a mean of weekly values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import polars as pl

from connectors.errors import BpoError
from connectors.store import Scope, Workspace
from insights.detection import narrative
from insights.detection import Findings, Insight, detect, engine_reach
from insights.detection.records import DIMENSIONS, ROOT, WHOLE, part_of, shown_segment
from insights.metrics.cube import KpiCube
# the public API pages use for what people record on an insight (notes, owners, statuses by the viewer's tenant)
from insights.detection import insight_log as insight_log
from insights.review.events import empty_events, read_events
from insights.view import DIMENSIONS as FILTER_COLUMNS
from insights.view import Calendar, Calendars, View
from insights.view import not_split as not_split_sentence
from insights.money import invoiced_through
from insights import contracts
from insights import format
from insights.format import Names
from connectors.schema import TABLES
from insights.metrics.periods import latest_complete_week, period_date, week_start

PRESET = "weekly_review"
SERIES_WEEKS = 52
# tables whose rows the view's date span and dimension choices come from
ACTIVITY_TABLES = {"tickets": "created_at", "contact_intervals": "interval_start", "contacts": "initiated_at"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# to-date periods (the KPI engine's grains) and how a tile names them
TO_DATE = {"month": "MTD", "quarter": "QTD", "year": "YTD"}
TO_DATE_WORDS = {"month": "month to date", "quarter": "quarter to date", "year": "year to date"}
MIN_JUDGED_DAYS = 7  # a to-date total over fewer days is shown but not judged (one day of a month carried ✗ marks)

Status = Literal["good", "bad", "neutral"]
Period = Literal["month", "quarter", "year"]


class ReviewError(BpoError):
    """A review was asked for with settings it does not know."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ToDate:
    """A KPI over its month, quarter or year up to the review week's Sunday (Σ/Σ over the days, not a mean of weeks)."""

    period: Period
    label: str  # MTD | QTD | YTD
    start: date
    end: date
    value: float | None
    formatted: str
    n: int
    target: float | None
    vs_target: float | None
    formatted_vs_target: str
    status: Status
    target_source: contracts.Source | None = None

    @property
    def days(self) -> int:
        """Days the total covers (start to end, both included)."""
        return max((self.end - self.start).days + 1, 0)

    @property
    def span(self) -> str:
        """'month to date, 01 – 09 Mar 2025'; a total too short to judge says its days ('month to date, 1 day, …')."""
        short = f", {self.days} day{'s' if self.days != 1 else ''}" if self.days < MIN_JUDGED_DAYS else ""
        return f"{TO_DATE_WORDS[self.period]}{short}, {self.start:%d %b} – {self.end:%d %b %Y}"


@dataclass(frozen=True)
class Tile:
    """One KPI tile: this week's value, its three comparisons and its to-date totals, formatted for display."""

    kpi: str
    label: str
    value: float | None
    formatted: str
    n: int
    vs_last_week: float | None
    vs_last_year: float | None
    vs_target: float | None
    target: float | None
    direction: str
    status: Status
    unit: str
    format: str
    formatted_vs_last_week: str
    formatted_vs_last_year: str
    formatted_vs_target: str
    formatted_target: str
    low_volume: bool = False
    # a KPI comparable only within one channel, in a view holding several: this week's value per channel
    # (segment, formatted); the pooled value above moves with the mix, so it is shown but never judged
    per_line: tuple[tuple[str, str], ...] = ()
    to_date: tuple[ToDate, ...] = ()
    target_source: contracts.Source | None = None
    # the filters in force this KPI's tables cannot narrow (a roster has no language column): its figures are then
    # for every value of them, and the tile says so (`not_split`)
    unsplit: tuple[tuple[str, str], ...] = ()

    @property
    def not_split(self) -> str:
        """'Service level is not split by language: these figures are for every language, not only language es.'
        ('' when every filter in force applies to it)."""
        return not_split_sentence(self.label, self.unsplit, plural=False)

    @property
    def every(self) -> str:
        """What an unsplit tile's value covers, in a few words: 'every language' ('' when every filter applies)."""
        return " and ".join(f"every {n}" for n, _ in self.unsplit)

    @property
    def target_name(self) -> str:
        """What the target line is called: 'contract target' or 'default target' ('target' when there is none)."""
        return "target" if self.target_source is None else contracts.NOUNS[self.target_source]

    @property
    def target_text(self) -> str:
        """'contract target 90.0%', 'default target 85.0%' (never judged against) or 'no contract target'."""
        if self.target is None or self.target_source is None:
            return contracts.NO_CONTRACT_TARGET
        return f"{contracts.NOUNS[self.target_source]} {self.formatted_target}"

    @property
    def to_date_text(self) -> str:
        """The to-date totals on one line: 'MTD 91.2% · QTD 90.8% · YTD 89.9%' ('' when there are none)."""
        return " · ".join(f"{t.label} {t.formatted}" for t in self.to_date)

    def total(self, label: str) -> ToDate:
        """The to-date total labelled `label` (MTD, QTD or YTD)."""
        for t in self.to_date:
            if t.label == label:
                return t
        raise KeyError(f"no {label} total on tile '{self.kpi}'; totals: {', '.join(t.label for t in self.to_date)}")


@dataclass(frozen=True)
class Notice:
    """A data-quality notice, shown before any insight."""

    kind: Literal["no_data", "empty_table", "missing_days", "week_outside_data", "targets_differ", "short_history",
                  "data_quality", "withheld", "not_split"]
    message: str
    severity: Literal["warning", "info"] = "warning"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Review:
    """The week under review for one scope and set of filters; every number the pages show."""

    week: date
    scope_key: str
    filters: dict[str, str]
    tiles: tuple[Tile, ...]
    insights: tuple[Insight, ...]
    notices: tuple[Notice, ...]
    weeks: tuple[date, ...]
    series_frames: Mapping[str, pl.DataFrame] = field(default_factory=dict, repr=False)
    targets: Mapping[str, contracts.Target | None] = field(default_factory=dict, repr=False)
    events: pl.DataFrame = field(default_factory=lambda: empty_events(), repr=False)
    names: Names = field(default_factory=Names, repr=False)  # display names of the ids in view (bpo.toml, catalog)
    calendar: Calendar = field(default_factory=Calendar)  # the reporting calendar the week is cut in
    part: str = WHOLE  # whose work of each client the review holds: every vendor's ('*'), else the vendors' (`seen_part`)

    @property
    def week_end(self) -> date:
        return self.week + timedelta(days=6)

    @property
    def where(self) -> str:
        """The view in words, as every export heads it: the filters, and whose work it is when only part (`view_words`)."""
        return view_words(self.filters, self.names, self.part)

    @property
    def period_label(self) -> str:
        """The week in words with its calendar: 'week of Sun 1 Nov 2026 (America/New_York)'."""
        return format.period(self.week, "week", self.calendar)

    @property
    def has_data(self) -> bool:
        return not any(n.kind == "no_data" for n in self.notices)

    def tile(self, kpi: str) -> Tile:
        """The tile of `kpi` (KeyError naming the preset's KPIs otherwise)."""
        for t in self.tiles:
            if t.kpi == kpi:
                return t
        raise KeyError(f"no tile '{kpi}' in this review; tiles: {', '.join(t.kpi for t in self.tiles)}")

    def series(self, kpi: str) -> pl.DataFrame:
        """Weekly frame of `kpi`: period, value, n, prior_year (same ISO week a year earlier), target."""
        try:
            return self.series_frames[kpi]
        except KeyError:
            raise KeyError(f"no series '{kpi}' in this review; series: {', '.join(self.series_frames)}") from None

    def target(self, kpi: str) -> float | None:
        """The target's value in the review week (the contract's, else the catalog default; see `target_of`)."""
        t = self.targets.get(kpi)
        return None if t is None else t.value

    def target_of(self, kpi: str) -> contracts.Target | None:
        """The target record in the review week: its value, comparator and source (contract or catalog default)."""
        return self.targets.get(kpi)


def seen_part(scope: Scope, filters: Mapping[str, str], site_vendor: Mapping[str, str]) -> str:
    """Whose work of each client a view holds: `WHOLE` ('*') when all of it, else the vendors the viewer sees
    ('northwind', 'a+b').

    The rule every finding's segment follows (`part_of`, `shown_segment`), applied to the view's filters: a vendor
    account manager's view of a client is its share of that client's work; a view pinned to one vendor (a vendor or
    site filter) is that vendor's work, whole.
    """
    segment = {FILTER_COLUMNS[k]: str(v) for k, v in filters.items() if k in FILTER_COLUMNS}
    part = part_of(segment, scope, site_vendor)
    return WHOLE if shown_segment(segment, part) == segment else part


def view_words(filters: Mapping[str, str], names: Names | None = None, part: str = WHOLE, *,
               everything: str = format.NO_SEGMENT) -> str:
    """The view in words: the filters in force ('Acme Home · channel: email', `everything` when none), and, when the
    viewer sees only part of each client's work (`seen_part`), whose work it is and that the rest is not in view.

    >>> view_words({}, Names(vendor={"northwind": "Northwind BPO"}), "northwind")
    "Northwind BPO's work only: other vendors' work for these clients is not in this view"
    """
    chosen = format.filters(filters, names)
    if part == WHOLE:
        return chosen or everything
    who = " and ".join(format.label("vendor", v, names) for v in part.split("+"))
    clients = "this client" if filters.get("client") else "these clients"
    note = f"{who}'s work only: other vendors' work for {clients} is not in this view"
    return f"{chosen} · {note}" if chosen else note


SPLIT_SEP = ": "  # a series column 'channel: email' holds a KPI comparable only within one channel, for email


def split_lines(series: pl.DataFrame) -> dict[str, str]:
    """{segment: column} of a series' per-segment lines ({'email': 'channel: email'}); {} for a pooled KPI."""
    return {c.split(SPLIT_SEP, 1)[1]: c for c in series.columns if SPLIT_SEP in c}


def split_dimension(series: pl.DataFrame) -> str | None:
    """The dimension a series is split by ('channel'), or None when it is drawn pooled."""
    return next((c.split(SPLIT_SEP, 1)[0] for c in series.columns if SPLIT_SEP in c), None)


# --------------------------------------------------------------------------- calendar helpers


def same_week_last_year(week: date, first: int = 0) -> date | None:
    """The first day of the same week one year earlier: the week (starting on weekday `first`, 0 = Monday)
    holding the Monday of the same ISO week number (None when that year has no week 53)."""
    y, w, _ = (week + timedelta(days=(7 - first) % 7)).isocalendar()  # the week's Monday names its ISO week
    try:
        return week_start(date.fromisocalendar(y - 1, w, 1), first)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the view's rows


def _rows(ws: Workspace, table: str, view: View) -> pl.LazyFrame:
    return view.apply(ws.scan(table, view.scope_for_read()), rows_only=True)


def activity_days(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None) -> pl.Series:
    """Distinct local dates (each client's reporting calendar) with activity (tickets, queue intervals or call records)
    in the view."""
    view = View.of(scope, filters)
    cals = Calendars.of(ws.config, view.scope_for_read().clients)
    days = [
        _rows(ws, t, view).select(period_date(pl.col(c), "day", TABLES[t].columns[c].dtype, cals).alias("day")).unique()
        for t, c in ACTIVITY_TABLES.items()
    ]
    return pl.concat(days).collect().get_column("day").drop_nulls().unique().sort()


def available_weeks(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None) -> tuple[date, ...]:
    """Complete weeks (first to last day of the view's reporting week reached by the data) in the view, newest first."""
    return _complete_weeks(activity_days(ws, scope, filters), View.of(scope, filters, config=ws.config).calendar.week_start)


def _complete_weeks(days: pl.Series, start: int = 0) -> tuple[date, ...]:
    if days.is_empty():
        return ()
    first, last = days.min(), days.max()
    newest = latest_complete_week(last, start)
    count = max(0, (newest - week_start(first, start)).days // 7 + 1)
    return tuple(newest - timedelta(weeks=i) for i in range(count))


def dimension_values(ws: Workspace, scope: Scope) -> dict[str, list[str]]:
    """The client, vendor, site, channel and language values present in the data the scope may see (languages: tickets')."""
    cols = ("client_id", "vendor_id", "site_id", "channel")
    frames = [ws.scan(t, scope).select(cols) for t in ACTIVITY_TABLES]
    data = pl.concat(frames).unique().collect()
    names = {"client_id": "client", "vendor_id": "vendor", "site_id": "site", "channel": "channel"}
    out = {names[c]: sorted(data.get_column(c).drop_nulls().unique().to_list()) for c in cols}
    languages = ws.scan("tickets", scope).select("language").unique().collect().get_column("language")
    return {**out, "language": sorted(languages.drop_nulls().to_list())}


# --------------------------------------------------------------------------- targets


def _target_in_view(terms: contracts.Contracts, kpi: Any, segment: Mapping[str, str], start: date,
                    end: date | None = None) -> tuple[contracts.Target | None, bool]:
    """(the contract target in force for the view, else the catalog default; whether contract terms differ in view)."""
    return terms.target(kpi, segment, start, end), terms.differ(kpi.name, segment, start, end)


# --------------------------------------------------------------------------- to-date totals


def to_date_start(day: date, period: Period) -> date:
    """The first day of the month, quarter or year holding `day`."""
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period == "year":
        return date(day.year, 1, 1)
    raise ReviewError(f"unknown to-date period '{period}'; use one of {', '.join(TO_DATE)}")


def _measures_of(kpi: Any, catalog: Any) -> list[Any]:
    """The catalog measures a KPI's numerator, denominator or measure reads."""
    from insights.catalog import sql_refs

    texts = [t for t in (kpi.numerator, kpi.denominator, kpi.measure) if t]
    return [catalog.measures[m] for t in texts for m in sql_refs(t) if m in catalog.measures]


def _is_level(kpi: Any, catalog: Any) -> bool:
    """True for a KPI that is a level at a moment (open backlog): a total over days means nothing for it."""
    return any(m.agg == "open_at_period_end" for m in _measures_of(kpi, catalog))


def _billed(kpis: list[str], catalog: Any) -> set[str]:
    """The KPIs that read invoices (cost per contact): known only up to the last day an invoice covers."""
    return {name for name in kpis if any(m.table == "cost_invoices" for m in _measures_of(catalog.kpis[name], catalog))}


def _to_date_frames(ws: Workspace, view: View, kpis: list[str], week_end: date, catalog: Any,
                    cube: KpiCube) -> dict[str, tuple[date, pl.DataFrame, dict[str, date]]]:
    """period -> (its first day, the KPIs from that day to `week_end`, the end of the KPIs that stop earlier).

    One KPI-engine query per period, fewer when periods start on the same day (in January YTD is QTD;
    in a quarter's first month QTD is MTD).  KPIs that read invoices stop at the last day an invoice
    covers: November's contacts over October's bill would read as a cost per contact far too low.
    """
    billed = _billed(kpis, catalog)
    rest = [k for k in kpis if k not in billed]
    billed_until = invoiced_through(ws, view.scope_for_read()).get(None) if billed else None
    out: dict[str, tuple[date, pl.DataFrame, dict[str, date]]] = {}
    cache: dict[tuple[date, date, tuple[str, ...]], pl.DataFrame] = {}

    def query(names: list[str], start: date, end: date, grain: str) -> pl.DataFrame:
        key = (start, end, tuple(names))
        if key not in cache:
            cache[key] = _weekly(cube, view, names, start, end, grain=grain)
        return cache[key]

    for period in TO_DATE:
        start = to_date_start(week_end, period)
        frames = [query(rest, start, week_end, period)] if rest else []
        stops: dict[str, date] = {}
        if billed and billed_until is not None and billed_until >= start:
            end = min(week_end, billed_until)
            frames.append(query(sorted(billed), start, end, period))
            stops = {k: end for k in billed}
        out[period] = (start, pl.concat(frames, how="vertical") if frames else pl.DataFrame(), stops)
    return out


def _to_date(kpi: Any, frames: Mapping[str, tuple[date, pl.DataFrame, dict[str, date]]], terms: contracts.Contracts,
             segment: Mapping[str, str], week_end: date) -> tuple[ToDate, ...]:
    """The KPI's MTD, QTD and YTD totals, each with the target in force at the week's end."""
    out = []
    for period, (start, frame, stops) in frames.items():
        row = frame.filter(pl.col("kpi") == kpi.name) if frame.height else frame
        v = row.get_column("value")[0] if row.height else None
        value = None if v is None or math.isnan(v) else float(v)
        n = int(row.get_column("n")[0] or 0) if row.height else 0
        target, _ = _target_in_view(terms, kpi, segment, start, week_end)
        delta = _minus(value, None if target is None else target.value)
        end = stops.get(kpi.name, week_end)
        judged = (end - start).days + 1 >= MIN_JUDGED_DAYS
        out.append(ToDate(
            period=period, label=TO_DATE[period], start=start, end=end, value=value,
            formatted=format.value(kpi, value), n=n, target=None if target is None else target.value,
            vs_target=delta, formatted_vs_target=format.delta(kpi, delta),
            status=_status(value, target, None, kpi.direction, 0.0) if judged else "neutral",
            target_source=None if target is None else target.source,
        ))
    return tuple(out)


def to_date_caption(week: date) -> str:
    """How the to-date totals of the week are counted, in one sentence for the page and the exports."""
    last = week + timedelta(days=6)  # the week's last day: a Sunday for Monday weeks, a Saturday for Sunday weeks
    spans = " · ".join(f"{label} from {to_date_start(last, p):%d %b %Y}" for p, label in TO_DATE.items())
    return (f"{spans}, to {last:%A} {last:%d %b %Y}: the week's {last:%A} decides the month, quarter and year; "
            f"each total is computed over its days (Σ/Σ), not averaged from weeks.")


# --------------------------------------------------------------------------- the review


# units whose materiality is an absolute amount (points of a rate); for the others (counts,
# durations, money) the catalog's values (0.05, 0.1) only make sense as a share of the baseline
ABSOLUTE_MATERIALITY_UNITS = ("percent", "ratio", "score")


def material_amount(materiality: float | None, unit: str, baseline: float | None) -> float:
    """The smallest change worth a colour or a sentence, in the KPI's unit, around `baseline`."""
    m = materiality or 0.0
    if unit in ABSOLUTE_MATERIALITY_UNITS or baseline is None:
        return m
    return m * abs(baseline)


def _status(value: float | None, target: contracts.Target | None, vs_week: float | None,
            direction: str, materiality: float) -> Status:
    """good/bad against a contract target (never a catalog default), else by a material week-on-week move."""
    if value is None or direction not in ("higher_is_better", "lower_is_better"):
        return "neutral"
    verdict = contracts.judge(target, value)
    if verdict is not None:
        return "good" if verdict == "met" else "bad"
    if vs_week is None or vs_week == 0 or abs(vs_week) < materiality:
        return "neutral"
    return "good" if (vs_week > 0) == (direction == "higher_is_better") else "bad"


def _weekly(cube: KpiCube, view: View, kpis: list[str], start: date, end: date, grain: str = "week") -> pl.DataFrame:
    """The KPIs per `grain` period between start and end (inclusive) for the view's rows.

    A KPI reading a table that cannot honour a filter (a roster has no language) is computed without that
    filter, for every language say (`View.for_tables`), never narrowed to nothing; `View.not_split_kpis` names them."""
    frames = []
    for part, names in view.groups(kpis, cube.catalog.tables):
        frame = cube.compute(names, grain=grain, by=part.fixed, start=start, end=end)
        frames.append(part.apply(frame, rows_only=True).select("period", "kpi", "value", "numerator", "denominator", "n"))
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(
        schema={"period": pl.Date, "kpi": pl.String, "value": pl.Float64, "numerator": pl.Float64,
                "denominator": pl.Float64, "n": pl.Int64})


def _within(cube: KpiCube, view: View, kpis: list[str], start: date, end: date, catalog: Any) -> pl.DataFrame:
    """Weekly values of the KPIs comparable only within a dimension (`within` in the catalog), per value of it:
    period, kpi, dimension, segment, value; none when the view already holds one value (a channel filter)."""
    fixed = set(view.fixed)
    out = []
    for dim, part, names in [(dim, part, names)
                             for dim in sorted({catalog.kpis[k].within for k in kpis if catalog.kpis[k].within} - fixed)
                             for part, names in view.groups([k for k in kpis if catalog.kpis[k].within == dim],
                                                            catalog.tables)]:
        frame = cube.compute(names, grain="week", by=(dim, *sorted(part.fixed)), start=start, end=end)
        frame = part.apply(frame, rows_only=True)
        out.append(frame.filter(pl.col(dim).is_not_null() & pl.col("value").is_not_nan())
                   .select("period", "kpi", pl.lit(dim).alias("dimension"), pl.col(dim).cast(pl.String).alias("segment"),
                           "value"))
    return pl.concat(out) if out else pl.DataFrame()


def build_review(ws: Workspace, scope: Scope, *, week: date | None = None, filters: Mapping[str, Any] | None = None,
                 catalog: Any = None, tenant: str | None = None, cube: KpiCube | None = None) -> Review:
    """The review of `week` (a Monday; default: the last complete week in the view) for `scope`.

    Example: `build_review(ws, viewer.scope, filters={"client": "acme", "channel": "chat"})`.
    Filters narrow the scope (client, vendor) or the rows (site, channel); they never widen it.
    `tenant` is the viewer's insight-log tenant (`insight_log.tenant_of(viewer)`): only its notes weigh the
    insights' novelty (default: the tenant of `scope`).  Every KPI of the review (tiles, series, to-date totals and
    the engine's scan) is answered from one `KpiCube` read once (`review_cube`); pass `cube` to count its passes.
    """
    if catalog is None:
        from insights.catalog import load_catalog

        catalog = load_catalog()
    view = View.of(scope, filters, week, config=ws.config)  # weeks are the view's reporting weeks
    filters, eff = view.filter_map, view.scope_for_read()
    first_day = view.calendar.week_start
    kpi_names = catalog.preset(PRESET)
    notices: list[Notice] = []

    days = activity_days(ws, eff, filters)
    weeks = _complete_weeks(days, first_day)
    if days.is_empty():
        only = sorted(eff.clients) if eff.clients is not None and len(eff.clients) == 1 else None
        who = f"client '{only[0]}'" if only else "this view"
        notices.append(Notice("no_data", f"No data for {who} yet: import a file or add a source."))
        week = week_start(week, first_day) if week else week_start(date.today(), first_day) - timedelta(weeks=1)
    else:
        week = week_start(week, first_day) if week else (weeks[0] if weeks else week_start(days.max(), first_day))
        if week > days.max() or week + timedelta(days=6) < days.min():
            notices.append(Notice("week_outside_data", f"The week of {week:%d %b %Y} is outside the data "
                                  f"({days.min():%d %b %Y} – {days.max():%d %b %Y}); pick another week."))
        notices.extend(_table_notices(ws, view))
        notices.extend(_missing_day_notices(days, week))

    first = week - timedelta(weeks=SERIES_WEEKS - 1)
    start = (same_week_last_year(first, first_day) or first - timedelta(weeks=52)) - timedelta(weeks=1)
    week_end = week + timedelta(days=6)
    if (cube is None or cube.scope.key != eff.key or not set(view.fixed) <= set(cube.dims)
            or not (cube.start <= start and engine_reach(week, catalog).end <= cube.end)):
        cube = review_cube(ws, eff, week, catalog, view=view)
    frame = _weekly(cube, view, kpi_names, start, week_end) if kpi_names else None
    to_date = _to_date_frames(ws, view, kpi_names, week_end, catalog, cube) if kpi_names else {}
    within = _within(cube, view, kpi_names, first, week_end, catalog)
    terms = contracts.read(ws, eff)  # read fresh for every review
    segment = contracts.in_view(eff, filters)  # the same segment the engine asks about
    events = read_events(ws, scope, filters, start=first, end=week_end)

    tiles, series, targets, differing = [], {}, {}, []
    periods = [first + timedelta(weeks=i) for i in range(SERIES_WEEKS)]
    for name in kpi_names:
        kpi = catalog.kpis[name]
        rows = frame.filter(pl.col("kpi") == name) if frame is not None else pl.DataFrame()
        by_period = {r["period"]: r for r in rows.iter_rows(named=True)}

        def value_at(p: date | None) -> float | None:
            r = by_period.get(p) if p else None
            v = r["value"] if r else None
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

        target_record, differ = _target_in_view(terms, kpi, segment, week)
        target = None if target_record is None else target_record.value
        if differ:
            differing.append(kpi.label)
        targets[name] = target_record
        series[name] = pl.DataFrame({
            "period": periods,
            "value": [value_at(p) for p in periods],
            "n": [int(by_period[p]["n"] or 0) if p in by_period else 0 for p in periods],
            "prior_year": [value_at(same_week_last_year(p, first_day)) for p in periods],
            "target": [_value(terms.target(kpi, segment, p)) for p in periods],
        }, schema={"period": pl.Date, "value": pl.Float64, "n": pl.Int64, "prior_year": pl.Float64, "target": pl.Float64})
        lines = within.filter(pl.col("kpi") == name) if within.height else within
        for (dim, line), part in sorted(lines.group_by(["dimension", "segment"]), key=lambda g: g[0]) \
                if lines.height else ():  # one line per channel: a pooled median moves with the channel mix
            values = dict(zip(part.get_column("period").to_list(), part.get_column("value").to_list()))
            series[name] = series[name].with_columns(
                pl.Series(f"{dim}{SPLIT_SEP}{line}", [values.get(p) for p in periods], pl.Float64))

        value = value_at(week)
        at_week = series[name].filter(pl.col("period") == week)
        per_line = tuple((segment_name, format.value(kpi, at_week.get_column(column)[0]))
                         for segment_name, column in split_lines(series[name]).items()
                         if at_week.height and at_week.get_column(column)[0] is not None)
        row = by_period.get(week, {})
        n = int(row.get("n") or 0)
        d_week = _minus(value, value_at(week - timedelta(weeks=1)))
        d_year = _minus(value, value_at(same_week_last_year(week, first_day)))
        d_target = _minus(value, target)
        tile = Tile(
            kpi=name, label=kpi.label, value=value, formatted=format.value(kpi, value), n=n,
            vs_last_week=d_week, vs_last_year=d_year, vs_target=d_target, target=target,
            direction=kpi.direction,
            status="neutral" if per_line else _status(
                value, target_record, d_week, kpi.direction,
                material_amount(kpi.materiality, kpi.unit, value_at(week - timedelta(weeks=1)))),
            unit=kpi.unit, format=kpi.format,
            formatted_vs_last_week=format.delta(kpi, d_week),
            formatted_vs_last_year=format.delta(kpi, d_year),
            formatted_vs_target=format.delta(kpi, d_target),
            formatted_target=format.value(kpi, target),
            low_volume=value is not None and n < (kpi.min_volume or 0),
            to_date=() if _is_level(kpi, catalog) else _to_date(kpi, to_date, terms, segment, week_end),
            target_source=None if target_record is None else target_record.source,
            per_line=per_line,
            unsplit=view.unsplit(catalog.tables(name)),
        )
        tiles.append(tile)

    notices.extend(Notice("not_split", sentence, "info")
                   for sentence in view.not_split_kpis(kpi_names, catalog.tables, lambda k: catalog.kpis[k].label))
    if differing:
        notices.append(Notice("targets_differ", f"Contract targets differ across the work in view for "
                              f"{', '.join(differing)}: the catalog's default target is shown (labelled, not judged); "
                              f"filter by client and channel to compare with the contract.", "info"))
    insights: list[Insight] = []
    if not any(n.kind in ("no_data", "week_outside_data") for n in notices):
        findings = _findings(ws, scope, week, filters, catalog, tenant, cube)
        insights = list(findings.top)
        notices.extend(_engine_notices(findings.notices, notices))
        notices.extend(Notice("withheld", why, "info") for why in findings.withheld)  # peers outside the view
        notices.extend(_history_notices(weeks, week))
    names = Names.of_view(ws, scope, catalog)
    return Review(week=week, scope_key=eff.key, filters=filters, tiles=tuple(tiles), insights=tuple(insights),
                  notices=tuple(notices), weeks=weeks, series_frames=series, targets=targets, events=events,
                  names=names, calendar=view.calendar, part=seen_part(eff, filters, names.site_vendor))


def _findings(ws: Workspace, scope: Scope, week: date, filters: Mapping[str, str], catalog: Any,
              tenant: str | None, cube: KpiCube) -> Findings:
    """The engine's run for the review's own week (passed explicitly, so tiles and insights describe one week),
    reading the review's cube."""
    return detect(ws, scope, week=week, filters=dict(filters), catalog=catalog, tenant=tenant, cube=cube)


def review_cube(ws: Workspace, scope: Scope, week: date, catalog: Any, *, view: View | None = None) -> KpiCube:
    """The one cube a review of `week` (its first day in the view's calendar) reads: the tiles' two years of weeks
    (the prior-year line included), the engine's history and the days after the week its outcomes need, by every
    dimension the engine scans."""
    first_day = view.calendar.week_start if view is not None else 0
    first = week - timedelta(weeks=SERIES_WEEKS - 1)
    start = (same_week_last_year(first, first_day) or first - timedelta(weeks=52)) - timedelta(weeks=1)
    reach = engine_reach(week, catalog)
    fixed = view.fixed if view is not None else ()
    dims = tuple(dict.fromkeys((*ROOT, *DIMENSIONS, *fixed)))
    return KpiCube(ws, scope, catalog=reach.catalog, dims=dims, start=min(start, reach.start), end=reach.end,
                   kpis=tuple(dict.fromkeys((*catalog.preset(PRESET), *reach.kpis))))


def _engine_notices(found: Sequence[Insight], already: Sequence[Notice]) -> list[Notice]:
    """The engine's data-quality notices as review notices (missing days only once: the view's own notice says it)."""
    kinds = {n.kind for n in already}
    return [Notice("data_quality", str(i.evidence.get("message") or i.headline)) for i in found
            if not (i.evidence.get("kind") == "missing_days" and "missing_days" in kinds)]


def _history_notices(weeks: Sequence[date], week: date) -> list[Notice]:
    """Say so when the view has too few weeks before `week` for the engine to call a change."""
    needed = narrative.load_rules().thresholds.baseline_weeks + 1
    have = sum(1 for w in weeks if w <= week)
    if have >= needed:
        return []
    return [Notice("short_history", f"Not enough history to call a change: {have} complete week"
                   f"{'' if have == 1 else 's'} up to this one, and a change is judged against the {needed - 1} "
                   f"weeks before it; target misses and data checks still run.", "info")]


def _value(target: contracts.Target | None) -> float | None:
    return None if target is None else target.value


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _table_notices(ws: Workspace, view: View) -> list[Notice]:
    """One notice naming the canonical tables that hold no rows for the view.

    Queue intervals and contact records feed the same interval KPIs (contact_rules.toml derives the one from the
    other), so neither is named while the other holds rows.
    """
    from connectors.schema import TABLES

    empty = []
    for name, spec in TABLES.items():
        if spec.time_column is None:
            continue
        lf = _rows(ws, name, view)
        if lf.select(pl.len()).collect().item() == 0:
            empty.append(name)
    if not {"contact_intervals", "contacts"} <= set(empty):  # one source of the interval KPIs: either is enough
        empty = [name for name in empty if name not in ("contact_intervals", "contacts")]
    if not empty:
        return []
    return [Notice("empty_table", f"No rows yet in {', '.join(empty)} for this view; KPIs that need "
                   f"{'it' if len(empty) == 1 else 'them'} show '–' until a file is imported or a source is added.",
                   "info")]


def _missing_day_notices(days: pl.Series, week: date) -> list[Notice]:
    """A notice when the review week has activity on fewer than 7 days."""
    present = {d for d in days.to_list() if week <= d <= week + timedelta(days=6)}
    if not present or len(present) == 7:
        return []
    missing = [WEEKDAYS[i] for i in range(7) if week + timedelta(days=i) not in present]
    return [Notice("missing_days", f"The week of {week:%d %b %Y} has no data on {', '.join(missing)}: "
                   f"its totals are incomplete; check the imports for those days.")]
