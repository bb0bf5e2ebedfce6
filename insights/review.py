"""The review: the one object pages, exports and the CLI read (DESIGN §2).

`build_review(ws, scope, week=..., filters=...)` computes, for the viewer's scope narrowed by the
filters, the KPI tiles of the `weekly_review` preset (value, vs last week, vs the same ISO week
last year, vs target, and the month-, quarter- and year-to-date totals), each KPI's weekly series
(52 weeks with the prior-year line and the effective-dated target), the events calendar of the
view, the insights (the engine's ranked top list for the same week, see `insights.engine.detect`)
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
from connectors.workspace import Scope, Workspace
from insights import narrative
from insights.engine import Findings, Insight, detect
from insights.events import empty_events, read_events
from insights.view import View

PRESET = "weekly_review"
SERIES_WEEKS = 52
# tables whose rows the view's date span and dimension choices come from
ACTIVITY_TABLES = {"tickets": "created_at", "contact_intervals": "interval_start"}
# an SLA target row binds only the aggregate whose filters match every dimension it names
TARGET_DIMENSIONS = {"vendor_id": "vendor", "site_id": "site", "channel": "channel", "priority": None, "queue": None}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# to-date periods (the KPI engine's grains) and how a tile names them
TO_DATE = {"month": "MTD", "quarter": "QTD", "year": "YTD"}
TO_DATE_WORDS = {"month": "month to date", "quarter": "quarter to date", "year": "year to date"}

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

    @property
    def span(self) -> str:
        """'month to date, 01 – 09 Mar 2025'."""
        return f"{TO_DATE_WORDS[self.period]}, {self.start:%d %b} – {self.end:%d %b %Y}"


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
    to_date: tuple[ToDate, ...] = ()

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
                  "data_quality", "withheld"]
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
    targets: Mapping[str, float | None] = field(default_factory=dict, repr=False)
    events: pl.DataFrame = field(default_factory=lambda: empty_events(), repr=False)

    @property
    def week_end(self) -> date:
        return self.week + timedelta(days=6)

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
        """The target in force in the review week (SLA targets first, else the catalog default)."""
        return self.targets.get(kpi)


# --------------------------------------------------------------------------- formatting


def _duration(seconds: float) -> str:
    s = round(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return "{}m {:02d}s".format(*divmod(s, 60))
    if s < 86400:
        m = round(s / 60)
        return "{}h {:02d}m".format(*divmod(m, 60))
    return f"{abs(seconds) / 86400:.1f}d"


def format_value(value: float | None, unit: str, fmt: str) -> str:
    """A KPI value as people read it: '91.2%', '4m 12s', '1,204'; '–' when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "seconds":
        return _duration(value)
    try:
        return format(value, fmt or ",.2f")
    except ValueError:
        return f"{value:,.2f}"


def format_delta(delta: float | None, unit: str, fmt: str) -> str:
    """A change with its sign: '+1.2 pts' for percentages, '−3m 05s' for durations; '–' when none."""
    if delta is None or math.isnan(delta):
        return "–"
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    if unit == "percent":
        return f"{sign}{abs(delta) * 100:.1f} pts"
    if unit == "seconds":
        return f"{sign}{_duration(delta)}"
    return f"{sign}{format_value(abs(delta), unit, fmt)}"


# --------------------------------------------------------------------------- calendar helpers


def monday(d: date) -> date:
    """The Monday of the week holding `d`."""
    return d - timedelta(days=d.weekday())


def same_week_last_year(week: date) -> date | None:
    """The Monday of the same ISO week one year earlier (None when that year has no week 53)."""
    y, w, _ = week.isocalendar()
    try:
        return date.fromisocalendar(y - 1, w, 1)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the view's rows


def _rows(ws: Workspace, table: str, view: View) -> pl.LazyFrame:
    return view.apply(ws.scan(table, view.scope_for_read()), rows_only=True)


def activity_days(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None) -> pl.Series:
    """Distinct UTC dates with activity (tickets or queue intervals) in the view, sorted."""
    view = View.of(scope, filters)
    days = [
        _rows(ws, t, view).select(pl.col(c).dt.date().alias("day")).unique()
        for t, c in ACTIVITY_TABLES.items()
    ]
    return pl.concat(days).collect().get_column("day").drop_nulls().unique().sort()


def available_weeks(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None) -> tuple[date, ...]:
    """Complete weeks (Monday..Sunday reached by the data) in the view, newest first."""
    return _complete_weeks(activity_days(ws, scope, filters))


def _complete_weeks(days: pl.Series) -> tuple[date, ...]:
    if days.is_empty():
        return ()
    first, last = days.min(), days.max()
    newest = monday(last) if last.weekday() == 6 else monday(last) - timedelta(weeks=1)
    count = max(0, (newest - monday(first)).days // 7 + 1)
    return tuple(newest - timedelta(weeks=i) for i in range(count))


def dimension_values(ws: Workspace, scope: Scope) -> dict[str, list[str]]:
    """The client, vendor, site and channel values present in the data the scope may see."""
    cols = ("client_id", "vendor_id", "site_id", "channel")
    frames = [ws.scan(t, scope).select(cols) for t in ACTIVITY_TABLES]
    data = pl.concat(frames).unique().collect()
    names = {"client_id": "client", "vendor_id": "vendor", "site_id": "site", "channel": "channel"}
    return {names[c]: sorted(data.get_column(c).drop_nulls().unique().to_list()) for c in cols}


# --------------------------------------------------------------------------- targets


def _applicable_targets(targets: pl.DataFrame, kpi: str, filters: Mapping[str, str], start: date, end: date) -> pl.DataFrame:
    """SLA target rows for `kpi` in force between start and end that do not contradict the filters.

    Each filtered dimension must be null (every value) or equal to the filter; `specificity` counts
    the filtered dimensions a row names, so the most specific contract term can win.
    """
    t = targets.filter(
        (pl.col("metric") == kpi)
        & (pl.col("effective_from") <= end)
        & (pl.col("effective_to").is_null() | (pl.col("effective_to") >= start))
    )
    if "client" in filters:
        t = t.filter(pl.col("client_id") == filters["client"])
    specificity = pl.lit(0, pl.Int8)
    for column, name in TARGET_DIMENSIONS.items():
        if name in filters:
            t = t.filter(pl.col(column).is_null() | (pl.col(column) == filters[name]))
            specificity = specificity + pl.col(column).is_not_null().cast(pl.Int8)
    return t.with_columns(specificity.alias("specificity"))


def _target_for(targets: pl.DataFrame, kpi: str, filters: Mapping[str, str], week: date,
                default: float | None, end: date | None = None) -> tuple[float | None, str | None, bool]:
    """(target, comparator, whether several different targets apply) in the week (or from `week` to `end`).

    The contract's target when every applicable term agrees (e.g. one value for every priority of a
    channel); the catalog default when there is none, or when the terms differ across the work in
    view (several clients, or channels with different targets and no channel filter).  Over a longer
    span the newest version of each term wins (the target in force at the span's end).
    """
    rows = _applicable_targets(targets, kpi, filters, week, end or week + timedelta(days=6))
    if rows.is_empty():
        return default, None, False
    best = rows.filter(pl.col("specificity") == pl.col("specificity").max())
    best = best.sort("effective_from").unique(["client_id", "target_id"], keep="last")  # newest version
    values = best.get_column("attainment_target").unique()
    if values.len() > 1:
        return default, None, True
    comparator = best.get_column("comparator").drop_nulls()
    return float(values[0]), (comparator[0] if comparator.len() else None), False


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


def _to_date_frames(ws: Workspace, view: View, kpis: list[str], week_end: date,
                    catalog: Any) -> dict[str, tuple[date, pl.DataFrame, dict[str, date]]]:
    """period -> (its first day, the KPIs from that day to `week_end`, the end of the KPIs that stop earlier).

    One KPI-engine query per period, fewer when periods start on the same day (in January YTD is QTD;
    in a quarter's first month QTD is MTD).  KPIs that read invoices stop at the last day an invoice
    covers: November's contacts over October's bill would read as a cost per contact far too low.
    """
    billed = _billed(kpis, catalog)
    rest = [k for k in kpis if k not in billed]
    billed_until = None
    if billed:
        ends = ws.scan("cost_invoices", view.scope_for_read(), columns=["period_end"]).select(pl.col("period_end").max()).collect()
        billed_until = ends.item() if ends.height else None
    out: dict[str, tuple[date, pl.DataFrame, dict[str, date]]] = {}
    cache: dict[tuple[date, date, tuple[str, ...]], pl.DataFrame] = {}

    def query(names: list[str], start: date, end: date, grain: str) -> pl.DataFrame:
        key = (start, end, tuple(names))
        if key not in cache:
            cache[key] = _weekly(ws, view, names, start, end, catalog, grain=grain)
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


def _to_date(kpi: Any, frames: Mapping[str, tuple[date, pl.DataFrame, dict[str, date]]], targets: pl.DataFrame,
             filters: Mapping[str, str], week_end: date) -> tuple[ToDate, ...]:
    """The KPI's MTD, QTD and YTD totals, each with the target in force at the week's end."""
    out = []
    for period, (start, frame, stops) in frames.items():
        row = frame.filter(pl.col("kpi") == kpi.name) if frame.height else frame
        v = row.get_column("value")[0] if row.height else None
        value = None if v is None or math.isnan(v) else float(v)
        n = int(row.get_column("n")[0] or 0) if row.height else 0
        target, comparator, _ = _target_for(targets, kpi.name, filters, start, kpi.target, end=week_end)
        delta = _minus(value, target)
        out.append(ToDate(
            period=period, label=TO_DATE[period], start=start, end=stops.get(kpi.name, week_end), value=value,
            formatted=format_value(value, kpi.unit, kpi.format), n=n, target=target, vs_target=delta,
            formatted_vs_target=format_delta(delta, kpi.unit, kpi.format),
            status=_status(value, target, comparator, None, kpi.direction, 0.0),
        ))
    return tuple(out)


def to_date_caption(week: date) -> str:
    """How the to-date totals of the week are counted, in one sentence for the page and the exports."""
    sunday = week + timedelta(days=6)
    spans = " · ".join(f"{label} from {to_date_start(sunday, p):%d %b %Y}" for p, label in TO_DATE.items())
    return (f"{spans}, to Sunday {sunday:%d %b %Y}: the week's Sunday decides the month, quarter and year; "
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


def _status(value: float | None, target: float | None, comparator: str | None, vs_week: float | None,
            direction: str, materiality: float) -> Status:
    """good/bad against the target when there is one, else by a material week-on-week move; neutral otherwise."""
    if value is None or direction not in ("higher_is_better", "lower_is_better"):
        return "neutral"
    if target is not None:
        higher = comparator == ">=" if comparator in (">=", "<=") else direction == "higher_is_better"
        return "good" if (value >= target if higher else value <= target) else "bad"
    if vs_week is None or vs_week == 0 or abs(vs_week) < materiality:
        return "neutral"
    return "good" if (vs_week > 0) == (direction == "higher_is_better") else "bad"


def _weekly(ws: Workspace, view: View, kpis: list[str], start: date, end: date,
            catalog: Any, grain: str = "week") -> pl.DataFrame:
    """The KPIs per `grain` period between start and end (inclusive) for the view's rows."""
    from insights.kpis import compute_kpis

    frame = compute_kpis(ws, view.scope_for_read(), kpis, grain=grain, by=view.fixed, start=start, end=end,
                         catalog=catalog)
    frame = view.apply(frame, rows_only=True)
    return frame.select("period", "kpi", "value", "numerator", "denominator", "n")


def build_review(ws: Workspace, scope: Scope, *, week: date | None = None, filters: Mapping[str, Any] | None = None,
                 catalog: Any = None) -> Review:
    """The review of `week` (a Monday; default: the last complete week in the view) for `scope`.

    Example: `build_review(ws, viewer.scope, filters={"client": "acme", "channel": "chat"})`.
    Filters narrow the scope (client, vendor) or the rows (site, channel); they never widen it.
    """
    if catalog is None:
        from insights.catalog import load_catalog

        catalog = load_catalog()
    view = View.of(scope, filters, week)
    filters, eff = view.filter_map, view.scope_for_read()
    kpi_names = catalog.preset(PRESET)
    notices: list[Notice] = []

    days = activity_days(ws, eff, filters)
    weeks = _complete_weeks(days)
    if days.is_empty():
        only = sorted(eff.clients) if eff.clients is not None and len(eff.clients) == 1 else None
        who = f"client '{only[0]}'" if only else "this view"
        notices.append(Notice("no_data", f"No data for {who} yet: import a file or add a source."))
        week = monday(week) if week else monday(date.today()) - timedelta(weeks=1)
    else:
        week = monday(week) if week else (weeks[0] if weeks else monday(days.max()))
        if week > days.max() or week + timedelta(days=6) < days.min():
            notices.append(Notice("week_outside_data", f"The week of {week:%d %b %Y} is outside the data "
                                  f"({days.min():%d %b %Y} – {days.max():%d %b %Y}); pick another week."))
        notices.extend(_table_notices(ws, view))
        notices.extend(_missing_day_notices(days, week))

    first = week - timedelta(weeks=SERIES_WEEKS - 1)
    start = (same_week_last_year(first) or first - timedelta(weeks=52)) - timedelta(weeks=1)
    week_end = week + timedelta(days=6)
    frame = _weekly(ws, view, kpi_names, start, week_end, catalog) if kpi_names else None
    to_date = _to_date_frames(ws, view, kpi_names, week_end, catalog) if kpi_names else {}
    targets_table = ws.read("sla_targets", eff)
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

        target, comparator, differ = _target_for(targets_table, name, filters, week, kpi.target)
        if differ:
            differing.append(kpi.label)
        targets[name] = target
        series[name] = pl.DataFrame({
            "period": periods,
            "value": [value_at(p) for p in periods],
            "n": [int(by_period[p]["n"] or 0) if p in by_period else 0 for p in periods],
            "prior_year": [value_at(same_week_last_year(p)) for p in periods],
            "target": [_target_for(targets_table, name, filters, p, kpi.target)[0] for p in periods],
        }, schema={"period": pl.Date, "value": pl.Float64, "n": pl.Int64, "prior_year": pl.Float64, "target": pl.Float64})

        value = value_at(week)
        row = by_period.get(week, {})
        n = int(row.get("n") or 0)
        d_week = _minus(value, value_at(week - timedelta(weeks=1)))
        d_year = _minus(value, value_at(same_week_last_year(week)))
        d_target = _minus(value, target)
        tile = Tile(
            kpi=name, label=kpi.label, value=value, formatted=format_value(value, kpi.unit, kpi.format), n=n,
            vs_last_week=d_week, vs_last_year=d_year, vs_target=d_target, target=target,
            direction=kpi.direction,
            status=_status(value, target, comparator, d_week, kpi.direction,
                           material_amount(kpi.materiality, kpi.unit, value_at(week - timedelta(weeks=1)))),
            unit=kpi.unit, format=kpi.format,
            formatted_vs_last_week=format_delta(d_week, kpi.unit, kpi.format),
            formatted_vs_last_year=format_delta(d_year, kpi.unit, kpi.format),
            formatted_vs_target=format_delta(d_target, kpi.unit, kpi.format),
            formatted_target=format_value(target, kpi.unit, kpi.format),
            low_volume=value is not None and n < (kpi.min_volume or 0),
            to_date=() if _is_level(kpi, catalog) else _to_date(kpi, to_date, targets_table, filters, week_end),
        )
        tiles.append(tile)

    if differing:
        notices.append(Notice("targets_differ", f"Contract targets differ across the work in view for "
                              f"{', '.join(differing)}: the catalog's default target is shown; filter by client "
                              f"and channel to compare with the contract.", "info"))
    insights: list[Insight] = []
    if not any(n.kind in ("no_data", "week_outside_data") for n in notices):
        findings = _findings(ws, scope, week, filters, catalog)
        insights = list(findings.top)
        notices.extend(_engine_notices(findings.notices, notices))
        notices.extend(Notice("withheld", why, "info") for why in findings.withheld)  # peers outside the view
        notices.extend(_history_notices(weeks, week))
    return Review(week=week, scope_key=eff.key, filters=filters, tiles=tuple(tiles), insights=tuple(insights),
                  notices=tuple(notices), weeks=weeks, series_frames=series, targets=targets, events=events)


def _findings(ws: Workspace, scope: Scope, week: date, filters: Mapping[str, str], catalog: Any) -> Findings:
    """The engine's run for the review's own week (passed explicitly, so tiles and insights describe one week)."""
    return detect(ws, scope, week=week, filters=dict(filters), catalog=catalog)


def _engine_notices(found: Sequence[Insight], already: Sequence[Notice]) -> list[Notice]:
    """The engine's data-quality notices as review notices (missing days only once: the view's own notice says it)."""
    kinds = {n.kind for n in already}
    return [Notice("data_quality", str(i.evidence.get("message") or i.headline)) for i in found
            if not (i.evidence.get("kind") == "missing_days" and "missing_days" in kinds)]


def _history_notices(weeks: Sequence[date], week: date) -> list[Notice]:
    """Say so when the view has too few weeks before `week` for the engine to call a change."""
    needed = int(narrative.load_rules().thresholds.get("baseline_weeks", 8)) + 1
    have = sum(1 for w in weeks if w <= week)
    if have >= needed:
        return []
    return [Notice("short_history", f"Not enough history to call a change: {have} complete week"
                   f"{'' if have == 1 else 's'} up to this one, and a change is judged against the {needed - 1} "
                   f"weeks before it; target misses and data checks still run.", "info")]


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _table_notices(ws: Workspace, view: View) -> list[Notice]:
    """One notice naming the canonical tables that hold no rows for the view."""
    from connectors.schema import TABLES

    empty = []
    for name, spec in TABLES.items():
        if spec.time_column is None:
            continue
        lf = _rows(ws, name, view)
        if lf.select(pl.len()).collect().item() == 0:
            empty.append(name)
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
