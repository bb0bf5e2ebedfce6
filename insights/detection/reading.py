"""What one detect run reads, once: the run's context (`Run`), its weekly KPI frames by segment level, the daily
volumes, and the calendar of events; every read goes through the viewer's scope and the view's row filters."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Mapping, Sequence

import polars as pl

from connectors.store import Scope, Workspace
from insights import contracts
from insights.catalog import Catalog
from insights.catalog.rules import Rules, Thresholds
from insights.detection import detectors as det
from insights.detection.records import PAIR, ROOT
from insights.format import Names
from insights.metrics.credits import CreditsAtStake
from insights.metrics.cube import KpiCube
from insights.metrics.kpis import compute_kpis
from insights.view import View

CreditKey = tuple[str, str, date]  # (workspace, scope key, the Sunday whose month is billed)


@dataclass(frozen=True, kw_only=True)
class Run:
    """One detect run: the workspace as the viewer reads it, the review week, the rules and the KPIs they judge.

    Built once per `detect` call and passed by keyword to every step; what a run caches (`credits`) lives here, so
    runs for several viewers at once never share state. `thin` collects, as the scan goes, the material changes of
    segments too thin to test.
    """

    ws: Workspace
    scope: Scope  # the scope data is read through (the viewer's, narrowed by the view's client and vendor filters)
    view: View
    week: date  # the review week's first day
    catalog: Catalog
    rules: Rules
    names: Names  # ids as people know them, in every sentence
    specs: Mapping[str, Mapping[str, Any]]  # KPI -> its rules.toml [[detect]] entry
    periods: tuple[date, ...]  # the weeks of history scanned, the review week last
    client_volume: Mapping[tuple[str, str], float]  # (client, KPI) -> the review week's denominator
    data_end: date | None  # the last day with tickets after the review week (how far outcomes can be known)
    credits: dict[CreditKey, CreditsAtStake] = field(default_factory=dict)  # this run's credits, read once a month
    thin: list[dict[str, Any]] = field(default_factory=list)  # changes too thin to test, told under their parent
    cube: KpiCube | None = None  # the run's KPIs, read once (None: each read is its own pass)
    _read_once: dict[str, Any] = field(default_factory=dict, repr=False)  # what the run reads once (the frozen run's cache)

    @property
    def terms(self) -> contracts.Contracts:
        """The contract terms the run's scope may see, read once per run (a run is one request: never kept longer)."""
        if "terms" not in self._read_once:
            self._read_once["terms"] = contracts.read(self.ws, self.scope)
        terms: contracts.Contracts = self._read_once["terms"]
        return terms

    def kpis(self, kpis: list[str], *, grain: str, by: tuple[str, ...], start: date, end: date) -> pl.DataFrame:
        """`compute_kpis` for the run's scope, answered from the run's cube when it has one."""
        return _kpis(self.ws, self.scope, self.catalog, self.cube, kpis, grain=grain, by=by, start=start, end=end)

    @property
    def th(self) -> Thresholds:
        """rules.toml [thresholds]."""
        return self.rules.thresholds

    @property
    def week_end(self) -> date:
        """The review week's last day."""
        return self.week + timedelta(days=6)

    def matures(self, spec: Mapping[str, Any]) -> bool:
        """Whether the review week's outcome of a KPI is known (a repeat contact can still come back for a while)."""
        return self.data_end is None or self.week + timedelta(days=6 + spec["mature_days"]) <= self.data_end


@dataclass(frozen=True, kw_only=True)
class LevelReader:
    """Reads the run's weekly KPI frame at one segment level (the view's row filters applied).

    A net score's answers for and against (`parts`: KPI -> the counts of its two measures, `Rules.net_parts`) are
    read with it and folded into its rows as the columns `positive` and `negative` (null on every other KPI's rows).
    """

    ws: Workspace
    scope: Scope
    kpis: tuple[str, ...]
    start: date
    end: date
    view: View
    catalog: Catalog  # the catalog with the net scores' part counts (`insights.catalog.rules.reading_catalog`)
    cube: KpiCube | None = None
    parts: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, level: tuple[str, ...], kpis: Sequence[str] | None = None) -> pl.DataFrame:
        """Every KPI of the run (or only `kpis`, with their net parts) by `level` and week."""
        wanted = self.kpis if kpis is None else tuple(k for k in self.kpis if k in kpis)
        parts = {k: pair for k, pair in self.parts.items() if k in wanted}
        names = list(dict.fromkeys((*wanted, *(p for pair in parts.values() for p in pair))))
        f = _kpis(self.ws, self.scope, self.catalog, self.cube, names, grain="week", by=level,
                  start=self.start, end=self.end)
        return self.view.apply(fold_parts(f, level, parts), rows_only=True)


NET_COLUMNS = ("positive", "negative")


def fold_parts(frame: pl.DataFrame, level: tuple[str, ...], parts: Mapping[str, tuple[str, str]]) -> pl.DataFrame:
    """The net scores' part counts (rows of their count KPIs) as the columns `positive` and `negative` of the net
    score's own rows, matched on period and segment; the part rows leave the frame."""
    if not parts:
        return frame
    keys = ["period", *level]
    counts = {p for pair in parts.values() for p in pair}
    out = frame.filter(~pl.col("kpi").is_in(sorted(counts))).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(c) for c in NET_COLUMNS)
    for kpi, pair in parts.items():
        rows = out.filter(pl.col("kpi") == kpi).drop(*NET_COLUMNS)
        if rows.is_empty():
            continue
        for column, part in zip(NET_COLUMNS, pair):
            found = frame.filter(pl.col("kpi") == part).select(*keys, pl.col("numerator").alias(column))
            rows = rows.join(found, on=keys, how="left", nulls_equal=True)
        rows = rows.with_columns(pl.col(c).fill_null(0.0) for c in NET_COLUMNS).select(out.columns)
        out = pl.concat([out.filter(pl.col("kpi") != kpi), rows], how="vertical")
    return out


@dataclass(frozen=True, kw_only=True)
class Frames:
    """The run's KPI frames by level: the levels scanned, and any other level the driver search asks for (read once)."""

    read: LevelReader
    levels: dict[tuple[str, ...], pl.DataFrame]
    # (level, KPI) -> that KPI's frame at a level no scan read: the driver search of one insight explains one KPI, and a
    # quantile KPI's level costs a pass over raw values, so only the KPI asked for is read
    single: dict[tuple[tuple[str, ...], str], pl.DataFrame] = field(default_factory=dict)

    def at(self, dims: tuple[str, ...], kpi: str | None = None) -> pl.DataFrame:
        """The frame of the level made of `dims` (in any order): every KPI of the run, or only `kpi`'s rows."""
        key = next((level for level in self.levels if sorted(level) == sorted(dims)), None)
        if key is not None:
            frame = self.levels[key]
            return frame if kpi is None else frame.filter(pl.col("kpi") == kpi)
        if kpi is None:
            self.levels[tuple(dims)] = self.read(tuple(dims))
            return self.levels[tuple(dims)]
        ordered = tuple(sorted(dims))
        if (ordered, kpi) not in self.single:
            self.single[(ordered, kpi)] = self.read(tuple(dims), (kpi,)).filter(pl.col("kpi") == kpi)
        return self.single[(ordered, kpi)]


def last_period(frame: pl.DataFrame) -> date | None:
    """The latest `period` of a frame (None when it is empty)."""
    last = frame.get_column("period").max() if frame.height else None
    assert last is None or isinstance(last, date)
    return last


def _kpis(ws: Workspace, scope: Scope, catalog: Catalog, cube: KpiCube | None, kpis: list[str], *, grain: str,
          by: tuple[str, ...], start: date | None, end: date | None) -> pl.DataFrame:
    if cube is not None:
        return cube.compute(kpis, grain=grain, by=by, start=start, end=end)
    return compute_kpis(ws, scope, kpis, grain=grain, by=by, start=start, end=end, catalog=catalog)


def daily_volumes(ws: Workspace, scope: Scope, view: View, *, week: date | None, history_days: int,
                  catalog: Catalog, cube: KpiCube | None = None) -> pl.DataFrame:
    """Daily tickets created per client × site × channel over the volume history."""
    end = week + timedelta(days=6) if week else None
    begin = week - timedelta(days=history_days + 7) if week else None
    # a row filter outside the lane (language) is split by, then kept: its column stays, as the root level holds it
    by = ROOT + PAIR + tuple(c for c in view.fixed if c not in ROOT + PAIR)
    f = _kpis(ws, scope, catalog, cube, ["tickets_created"], grain="day", by=by, start=begin, end=end)
    f = view.apply(f, rows_only=True).filter(pl.col("value") > 0)
    last = last_period(f)
    if week is None and last is not None:
        f = f.filter(pl.col("period") >= last - timedelta(days=history_days + 14))
    return f


def data_end(ws: Workspace, scope: Scope, *, week_end: date, days: int, catalog: Catalog,
             cube: KpiCube | None = None) -> date:
    """The last day with tickets up to `days` after the review week (how far outcomes can be known)."""
    f = _kpis(ws, scope, catalog, cube, ["tickets_created"], grain="day", by=(), start=week_end,
              end=week_end + timedelta(days=days)).filter(pl.col("value") > 0)
    return last_period(f) or week_end


def client_volume(frame: pl.DataFrame, week: date) -> dict[tuple[str, str], float]:
    """(client, kpi) -> the week's denominator, to weigh a segment's reach."""
    rows = frame.filter(pl.col("period") == week)
    return {(r["client_id"], r["kpi"]): float(r["denominator"] or r["n"] or 0) for r in rows.iter_rows(named=True)}


def series_of(rows: pl.DataFrame, periods: tuple[date, ...], kind: str, *, points: float = 1.0) -> det.WeeklySeries:
    """One segment's rows of one KPI as the weekly series the detectors read (an empty week holds no value); a net
    score's with its answers for and against (the columns `fold_parts` adds) and its `points`."""
    net = kind == "net_score" and all(c in rows.columns for c in NET_COLUMNS)
    extra = NET_COLUMNS if net else ()
    by_p = {r[0]: r for r in rows.select("period", "value", "numerator", "denominator", "n", *extra).iter_rows()}
    vals, nums, dens, ns, pos, neg = [], [], [], [], [], []
    for p in periods:
        r = by_p.get(p)
        v = r[1] if r else None
        vals.append(v if v is not None and math.isfinite(v) else None)
        n = float(r[4] or 0) if r else 0.0
        den = r[3] if r and r[3] is not None else (n if v is not None else 0.0)
        nums.append((r[2] if r[2] is not None else (v or 0.0) * den) if r else 0.0)
        dens.append(den)
        ns.append(n)
        pos.append(r[5] if net and r else 0.0)
        neg.append(r[6] if net and r else 0.0)
    if net:
        return det.WeeklySeries.of(periods, vals, nums, dens, ns, kind="net_score", positive=pos, negative=neg,
                                   points=points)
    return det.WeeklySeries.of(periods, vals, nums, dens, ns, kind="proportion" if kind == "proportion" else "mean")


def read_events(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """The calendar of events in the scope (empty for a workspace without one)."""
    try:
        return ws.read("events", scope)
    except Exception:  # a workspace without an events table has no calendar to align with
        return pl.DataFrame()


def declared_days(events: pl.DataFrame, kinds: set[str]) -> dict[str | None, frozenset[date]]:
    """Client (None: every client) -> the days of declared demand events (holidays, promotions, launches)."""
    out: dict[str | None, set[date]] = defaultdict(set)
    if events.is_empty():
        return {}
    for e in events.filter(pl.col("kind").is_in(sorted(kinds))).iter_rows(named=True):
        start = e["start_date"]
        end = e.get("end_date") or start
        out[e.get("client_id")].update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return {k: frozenset(v) for k, v in out.items()}
