"""The SQL engine: catalog measures compiled to SQLAlchemy Core and run inside the warehouse.

Only measures go to the database (DESIGN, "Scale"): one `SELECT period, *by, <every measure of the
source> ... GROUP BY period, *by` per source (table x time column), exactly the aggregates the Polars
engine computes; KPI formulas, money, targets and to-date rules then run once, in Polars, through the
same code as the Polars engine (`kpis._kpis_from_aggregates`).  What crosses the connection:

* sums and counts (`count`, filtered counts, `sum`, `count_distinct`) per period x segment;
* quantiles, exactly: for each group the one or two values the linear interpolation needs (ranked
  with `ROW_NUMBER() OVER (PARTITION BY period, *by ORDER BY value)`), then interpolated in Polars as
  `percentile_cont` / Polars' "linear" would: no PERCENTILE_CONT (MariaDB has no aggregate form);
* backlog (`open_at_period_end`): opened and closed counts per period, cumulated in Polars;
* invoice lines (`spread` measures: amounts spread over the days a line bills) come back as rows,
  scoped and cut to the range, and go through the Polars pass with money conversion: a workspace has
  thousands of invoice lines, not millions, and spreading days is not worth a dialect per database.

Periods reach the database as UTC ranges (`insights.metrics.utc_ranges`): bound parameters in a
CASE, never a time-zone function.  Each client's periods are its own local days, weeks and months
(bpo.toml `timezone`, `week_start`): the clients cut alike share one CASE of their ranges, chosen by
`client_id`; a local hour or weekday is the UTC timestamp plus its client's offset, piece by piece
between the daylight-saving changes (computed here, so MariaDB needs no time-zone tables).

Catalog expressions (filters, derived columns) are SQL text: the derived ones are inlined, the window
ones (`next_within`, `days_between`) compiled per dialect below.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from connectors.schema import TABLES
from connectors.store import Scope
from connectors.store.warehouse import Warehouse, scope_clause
from insights import money
from insights.catalog import Catalog, Kpi, Measure, columns_param, load_catalog, window_gate
from insights.metrics.kpis import (CALENDAR_MARGIN, LOCAL_PARTS, PERIOD, _agg_pass, _base_columns, _check_query,
                                   _kpis_from_aggregates, _lookahead, _plan, _Source)
from insights.metrics.periods import WEEKDAY_NAMES
from insights.metrics.utc_ranges import ClientRanges, PeriodRange, calendar_ranges, utc_offsets
from insights.view import Calendars

Cut = Sequence[ClientRanges]  # the query's periods: one list of UTC ranges per group of clients cut alike
MONDAY = date(1900, 1, 1)  # weekdays are counted from a Monday: no dialect's day-of-week numbering is needed


# --------------------------------------------------------------------------- dialect entries


class add_seconds(sa.sql.expression.FunctionElement):  # noqa: N801 - a SQL function
    """`timestamp + n seconds` (n a catalog constant)."""

    type = sa.DateTime()
    inherit_cache = True
    name = "add_seconds"


class days_between(sa.sql.expression.FunctionElement):  # noqa: N801 - a SQL function
    """Whole days from the first date to the second."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "days_between"


# Each entry's SQL per dialect, `{0}` and `{1}` its compiled arguments; the first (None) is every other dialect's.
DIALECT_SQL: dict[type[sa.sql.expression.FunctionElement], dict[str | None, str]] = {
    add_seconds: {
        None: "({0} + INTERVAL '{1}' SECOND)",
        "postgresql": "({0} + make_interval(secs => {1}))",
        "duckdb": "({0} + to_seconds({1}))",
        **dict.fromkeys(("mysql", "mariadb"), "DATE_ADD({0}, INTERVAL {1} SECOND)"),
        **dict.fromkeys(("mssql", "snowflake", "redshift"), "DATEADD(second, {1}, {0})"),
        "bigquery": "TIMESTAMP_ADD({0}, INTERVAL {1} SECOND)",
    },
    days_between: {
        None: "({1} - {0})",  # PostgreSQL, Trino and SQLite-free ANSI: date - date is whole days
        "duckdb": "date_diff('day', {0}, {1})",
        **dict.fromkeys(("mysql", "mariadb"), "DATEDIFF({1}, {0})"),
        **dict.fromkeys(("mssql", "snowflake", "redshift"), "DATEDIFF(day, {0}, {1})"),
        "bigquery": "DATE_DIFF({1}, {0}, DAY)",
    },
}


def _register(entries: Mapping[type[sa.sql.expression.FunctionElement], Mapping[str | None, str]]) -> None:
    """Give each entry its SQL per dialect: one SQLAlchemy `@compiles` a dialect."""
    def compile_as(text: str) -> Any:
        def compile_entry(element: Any, compiler: Any, **kw: Any) -> str:
            return text.format(*[compiler.process(a, **kw) for a in element.clauses])
        return compile_entry

    for entry, texts in entries.items():
        for dialect, text in texts.items():
            compiles(entry, *([dialect] if dialect else []))(compile_as(text))


_register(DIALECT_SQL)


# --------------------------------------------------------------------------- public API


def compute_in_warehouse(
    warehouse: Warehouse,
    scope: Scope,
    kpis: Sequence[str] | None = None,
    *,
    grain: str = "week",
    by: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    catalog: Catalog | None = None,
    settings: Mapping[str, Any] | None = None,
    site_tiers: Mapping[str, str | None] | None = None,
    fx_rates: Sequence[Any] = (),
    currency: str = "USD",
    calendars: Calendars | None = None,
) -> pl.DataFrame:
    """`compute_kpis` with the measures aggregated inside the warehouse: same arguments, same frame.

    `calendars` cuts each client's rows in its reporting calendar, as the Polars engine does (None: UTC
    days, Monday weeks).

    >>> frame = compute_in_warehouse(ws.warehouse, Scope.everything(), ["csat"], grain="week",
    ...                              by=("vendor_id",))  # doctest: +SKIP
    """
    _check_query(grain, start, end)
    catalog = catalog or load_catalog()
    by = tuple(by)
    plan = _plan(catalog, kpis, by, settings)
    tiers = dict(site_tiers or {})
    cals = calendars if calendars is not None and not calendars.utc_iso else None
    results: dict[_Source, pl.DataFrame] = {}
    for source, measures in plan.sources.items():
        quantiles = plan.quantiles.get(source, [])
        if source.spread:
            results[source] = _spread_pass(warehouse, scope, source, measures, quantiles, catalog, grain, by, start, end,
                                           tiers, fx_rates, currency, cals)
            continue
        q = SourceQuery(warehouse, scope, source, catalog, by, tiers, cals)
        bounds = q.bounds(start, end, grain)
        if source.until:
            results[source] = q.open_deltas(measures[0], bounds)
        else:
            results[source] = q.aggregates(measures, quantiles, bounds)
    return _kpis_from_aggregates(plan, results, catalog, grain, by, start, end, cals.reference.week_start if cals else 0)


def compile_measures(warehouse: Warehouse, scope: Scope, table: str, *, grain: str, by: Sequence[str], start: date,
                     end: date, catalog: Catalog | None = None, time: str | None = None,
                     calendars: Calendars | None = None) -> sa.Select:
    """The one SELECT that aggregates every (non-spread, non-backlog) measure of `table` on `time` (snapshots)."""
    catalog = catalog or load_catalog()
    tcol = time or TABLES[table].time_column or ""
    measures = [m for m in catalog.measures.values() if m.table == table and m.time == tcol
                and not m.spread and m.agg != "open_at_period_end"]
    q = SourceQuery(warehouse, scope, _Source(table, tcol), catalog, tuple(by), {}, calendars)
    return q.aggregate_select(measures, calendar_ranges(grain, start, end, q.calendars))


# --------------------------------------------------------------------------- one source

# Dialects whose exact `percentile_cont(q) WITHIN GROUP (ORDER BY v)` runs in the GROUP BY pass; the others
# (MariaDB: no aggregate form) rank values with ROW_NUMBER and send back the one or two values a group needs.
ORDERED_SET_QUANTILES = frozenset({"postgresql", "duckdb", "snowflake", "redshift", "oracle"})


_IDENT = re.compile(r"\b[a-z_][a-z0-9_]*\b")


@dataclass(frozen=True)
class Grouping:
    """A source's rows with each row's period key and dimension columns: what every SELECT of a source groups by."""

    rows: sa.Subquery
    period: sa.ColumnElement[Any]
    dims: list[Any]

    @property
    def keys(self) -> list[Any]:
        """The GROUP BY (or a window's PARTITION BY): the period, then the dimensions."""
        return [self.period, *[d.element for d in self.dims]]

    def select(self, *cols: Any) -> sa.Select:
        """SELECT period, dimensions, `cols` FROM the rows."""
        return sa.select(self.period.label(PERIOD), *self.dims, *cols).select_from(self.rows)

    def aggregate(self, *aggs: Any, where: Sequence[Any]) -> sa.Select:
        """`aggs` per period and dimension values, over the rows `where` keeps."""
        return self.select(*aggs).where(*where).group_by(*self.keys)


class SourceQuery:
    """Compiles the queries of one source: the scoped rows with derived columns, bucketed by period."""

    def __init__(self, warehouse: Warehouse, scope: Scope, source: _Source, catalog: Catalog, by: tuple[str, ...],
                 tiers: dict[str, str | None], calendars: Calendars | None = None):
        self.wh, self.scope, self.source, self.catalog, self.by, self.tiers = warehouse, scope, source, catalog, by, tiers
        self.calendars = calendars if calendars is not None and not calendars.utc_iso else None
        self.table = warehouse.table(source.table)
        self.columns = catalog.columns.get(source.table, {})
        spec = TABLES[source.table].columns
        # a measure may be put in its period by a derived column (when a ticket was solved): computed per row, then cut
        self.derived_time = source.time not in spec
        self.is_date = not self.derived_time and spec[source.time].dtype == pl.Date

    # ---- SQL text of the catalog
    def inline(self, text: str) -> str:
        """Catalog SQL with derived expression columns replaced by their (parenthesised) definitions."""
        for _ in range(10):  # derived columns nest a few levels at most
            new = _IDENT.sub(lambda m: f"({self.columns[m.group(0)].expression})"
                             if m.group(0) in self.columns and self.columns[m.group(0)].expression else m.group(0), text)
            if new == text:
                return text
            text = new
        return text

    def sql(self, text: str) -> sa.ColumnElement[Any]:
        return sa.literal_column(f"({self.inline(text)})")

    # ---- rows
    def rows(self, names: Sequence[str], lo: Any, hi: Any) -> sa.Subquery:
        """The source's rows in [lo, hi + lookahead) with the columns `names` need and the window columns computed.

        A window over customers (next contact within 7 days) runs over the viewer's clients across
        vendors, like the Polars engine; the viewer's own rows are kept by the outer query.
        """
        table, t = self.source.table, self.table
        base, derived = _base_columns(table, [*names, self.source.time, "client_id", "vendor_id", "site_id"], self.by,
                                      self.catalog)
        windows = [c for c in derived if c.window]
        windowed = any(c.window == "next_within" for c in windows)
        rows_scope = Scope(clients=self.scope.clients, vendors=None) if windowed else self.scope
        extra = _lookahead(derived, self.source.time)
        time_col = self.sql(self.source.time) if self.derived_time else t.c[self.source.time]
        where = [scope_clause(table, rows_scope, t), time_col.is_not(None)]
        if lo is not None:
            where.append(time_col >= lo)
        if hi is not None:
            where.append(time_col < (hi + extra if extra else hi))
        if table == "tickets":
            where.append(sa.or_(t.c.status.is_(None), t.c.status != "deleted"))  # kept for lineage, never counted
        cols: list[Any] = [t.c[c] for c in base] + ([time_col.label(self.source.time)] if self.derived_time else [])
        for c in windows:
            p = c.params
            if c.window == "next_within":
                # a derived column (the requester of inbound tickets only) is inlined like any derived expression
                column = {k: t.c[k] if k in t.c else self.sql(k) for k in columns_param(p["partition_by"])}
                parts = list(column.values())
                order = t.c[p["order_by"]] if p["order_by"] in t.c else self.sql(p["order_by"])
                nxt = sa.func.lead(order).over(partition_by=parts, order_by=order)
                seconds: sa.ColumnElement[Any] = sa.literal_column(str(int(round(float(p["days"]) * 86400))))
                known = [column[k].is_not(None) for k in window_gate(p["partition_by"])]
                cols.append(sa.case((sa.and_(*known, nxt <= add_seconds(order, seconds)), sa.true()),
                                    else_=sa.false()).label(c.name))
            else:  # days_between
                cols.append(days_between(t.c[p["start"]], t.c[p["end"]]).label(c.name))
        return sa.select(*cols).where(*where).subquery("src")

    def bucket(self, col: Any, client: Any, cut: Cut, *, earlier: bool = False) -> sa.ColumnElement[Any]:
        """The period key of `col` in its client's ranges (a binary search over them), NULL outside them.

        `earlier` puts rows before a client's first range in it (a backlog's opened and closed rows); one
        group of clients (every client cut alike: UTC) leaves the range's start to the query's WHERE."""
        first = (lambda r: r.first) if self.is_date else (lambda r: r.start_utc)
        stop = (lambda r: r.stop) if self.is_date else (lambda r: r.stop_utc)

        def split(rs: Sequence[PeriodRange]) -> sa.ColumnElement[Any]:  # log2(periods) tests a row
            if len(rs) == 1:
                return sa.literal_column(str(rs[0].key))
            mid = len(rs) // 2
            return sa.case((col < stop(rs[mid - 1]), split(rs[:mid])), else_=split(rs[mid:]))

        def one(rs: Sequence[PeriodRange], from_start: bool) -> sa.ColumnElement[Any]:
            inside = sa.and_(col >= first(rs[0]), col < stop(rs[-1])) if from_start else col < stop(rs[-1])
            return sa.case((inside, split(rs)))

        if len(cut) == 1:
            return one(cut[0].ranges, False)
        *named, rest = cut
        return sa.case(*[(client.in_(list(g.clients or ())), one(g.ranges, not earlier)) for g in named],
                       else_=one(rest.ranges, not earlier))

    def kept(self, period: sa.ColumnElement[Any], cut: Cut) -> list[sa.ColumnElement[Any]]:
        """The WHERE terms keeping rows inside their own client's ranges (the query's bounds cover every client's)."""
        return [period.is_not(None)] if len(cut) > 1 else []

    def local_time(self, col: Any, client: Any, lo: datetime, hi: datetime) -> sa.ColumnElement[Any]:
        """Each row's wall clock: the UTC time plus its client's UTC offset, piece by piece between offset changes."""
        def shifted(zone: str) -> sa.ColumnElement[Any]:
            pieces = utc_offsets(zone, lo - timedelta(days=1), hi + timedelta(days=1))
            exprs = [add_seconds(col, sa.literal_column(str(off))) if off else col for _, off in pieces]
            if len(pieces) == 1:
                return exprs[0]
            return sa.case(*[(col < since, e) for (since, _), e in zip(pieces[1:], exprs)], else_=exprs[-1])

        if self.calendars is None:
            return col
        *named, (_, rest, _) = self.calendars.groups(weeks=False)
        if not named:
            return shifted(rest)
        return sa.case(*[(client.in_(list(clients or ())), shifted(zone)) for clients, zone, _ in named],
                       else_=shifted(rest))

    def local_part(self, part: str, rows: sa.Subquery, lo: datetime, hi: datetime) -> sa.ColumnElement[Any]:
        """The local hour ("00".."23") or weekday ("monday"..) of each row's time in its client's calendar."""
        col = rows.c[self.source.time]
        t = col if self.is_date else self.local_time(col, rows.c.client_id, lo, hi)
        if part == "hour":
            return sa.case({h: f"{h:02d}" for h in range(24)}, value=sa.extract("hour", t))
        days = days_between(sa.cast(sa.literal(MONDAY, sa.Date()), sa.Date()), sa.cast(t, sa.Date()))
        return sa.case(dict(enumerate(WEEKDAY_NAMES)), value=days % 7)

    def dims(self, rows: sa.Subquery, lo: datetime | None = None, hi: datetime | None = None) -> list[Any]:
        out = []
        for d in self.by:
            if d in LOCAL_PARTS:
                assert lo is not None and hi is not None
                out.append(self.local_part(d, rows, lo, hi).label(d))
            elif d == "site_tier":
                tiers = {k: v for k, v in self.tiers.items() if v is not None}
                out.append((sa.case(tiers, value=rows.c.site_id) if tiers else sa.null()).label(d))
            else:
                out.append(rows.c[self.catalog.dimension_column(self.source.table, d) or d].label(d))
        return out

    def grouping(self, names: Sequence[str], cut: Cut) -> tuple[Grouping, list[sa.ColumnElement[Any]]]:
        """The rows `names` need inside the cut's bounds, grouped by period and dimension, and the WHERE terms keeping
        the viewer's rows inside those bounds (each query adds its own, then `kept`)."""
        lo, hi = self._lo_hi(cut)
        rows = self.rows(names, lo, hi)
        g = Grouping(rows, self.bucket(rows.c[self.source.time], rows.c.client_id, cut),
                     self.dims(rows, *self._utc_lo_hi(cut)))
        at = rows.c[self.source.time]
        return g, [scope_clause(self.source.table, self.scope, rows), at >= lo, at < hi]

    def _lo_hi(self, cut: Cut) -> tuple[Any, Any]:
        if self.is_date:
            return min(g.ranges[0].first for g in cut), max(g.ranges[-1].stop for g in cut)
        return min(g.ranges[0].start_utc for g in cut), max(g.ranges[-1].stop_utc for g in cut)

    def _utc_lo_hi(self, cut: Cut) -> tuple[datetime, datetime]:
        """The query's bounds as UTC instants (what the offsets of local hours are looked up for)."""
        return (min(g.ranges[0].start_utc for g in cut), max(g.ranges[-1].stop_utc for g in cut))

    def bounds(self, start: date | None, end: date | None, grain: str) -> list[ClientRanges]:
        """Each client group's UTC ranges of the query; an open end is the data's first or last day (one small query).

        Local days differ from UTC days by a day at most: with clients in other time zones an open end reaches a
        day further, so every row is in some period (the periods without rows are never returned)."""
        if start is None or end is None:
            t = self.table
            if self.source.until or self.derived_time:  # a backlog's last period is its last close (the Polars rule)
                rows = self.rows([self.source.until] if self.source.until else [], None, None)
                ends = [sa.func.max(rows.c[self.source.time])]
                if self.source.until:
                    ends.append(sa.func.max(self.sql(self.source.until)))
                lo_hi = sa.select(sa.func.min(rows.c[self.source.time]), *ends).select_from(rows)
            else:
                tcol = t.c[self.source.time]
                lo_hi = sa.select(sa.func.min(tcol), sa.func.max(tcol)).where(scope_clause(self.source.table, self.scope, t))
            first, *lasts = self.wh.fetch(lo_hi)[0]
            days = [_day(v) for v in (first, *lasts) if v is not None]
            if not days:
                return []
            margin = timedelta(days=1 if self.calendars is not None else 0)
            start = start or _day(first) - margin
            end = end or max(days[1:] or days) + margin
        return calendar_ranges(grain, start, end, self.calendars)

    # ---- sums and counts
    @property
    def ordered_set_quantiles(self) -> bool:
        """Whether the dialect has an exact `percentile_cont(q) WITHIN GROUP (ORDER BY v)` aggregate (MariaDB has not)."""
        return self.wh.dialect.name in ORDERED_SET_QUANTILES

    def aggregate_select(self, measures: Sequence[Measure], cut: Cut, quantiles: Sequence[Kpi] = ()) -> sa.Select:
        qms = [self.catalog.measures[k.measure or ""] for k in quantiles]
        g, where = self.grouping([c for m in [*measures, *qms] for c in m.inputs], cut)
        aggs = [self.agg(m).label(m.name) for m in measures]
        for k, m in zip(quantiles, qms):
            v: sa.ColumnElement[Any] = sa.type_coerce(self.sql(m.expression or m.column or ""), sa.Double())
            if m.filter:
                v = sa.case((self.sql(m.filter), v))
            pct = sa.func.percentile_cont(sa.literal_column(repr(float(k.quantile or 0.5)))).within_group(v)
            aggs.append(pct.label(f"__q:{k.name}"))
        return g.aggregate(*aggs, where=[*where, *self.kept(g.period, cut)])

    def agg(self, m: Measure) -> sa.ColumnElement[Any]:
        f = self.sql(m.filter) if m.filter else None
        v = self.sql(m.expression) if m.expression else (self.sql(m.column) if m.column else None)
        if m.agg == "count":
            cond = [c for c in (f, v.is_not(None) if v is not None else None) if c is not None]
            return sa.func.count(sa.case((sa.and_(*cond), sa.literal_column("1")))) if cond else sa.func.count()
        assert v is not None
        if m.agg == "sum":
            return sa.func.sum(sa.case((f, v)) if f is not None else v)
        return sa.func.count(sa.distinct(sa.case((f, v)) if f is not None else v))  # count_distinct

    def aggregates(self, measures: Sequence[Measure], quantiles: Sequence[Kpi],
                   cut: Cut) -> pl.DataFrame:
        names = [m.name for m in measures]
        if not cut:  # no rows the viewer may see
            return _frame([], self.by, [*names, *(f"__q:{k.name}" for k in quantiles)])
        if self.ordered_set_quantiles:  # exact quantiles in the same pass
            cols = [*names, *(f"__q:{k.name}" for k in quantiles)]
            return _frame(self.wh.fetch(self.aggregate_select(measures, cut, quantiles)), self.by, cols)
        frame = _frame(self.wh.fetch(self.aggregate_select(measures, cut)), self.by, names)
        keys = [PERIOD, *self.by]
        by_measure: dict[str, list[Kpi]] = {}
        for k in quantiles:
            by_measure.setdefault(k.measure or "", []).append(k)
        for measure, kpis in by_measure.items():
            values = self.quantiles(self.catalog.measures[measure], kpis, cut)
            frame = frame.join(values, on=keys, how="left", nulls_equal=True)
        return frame

    # ---- exact quantiles
    def quantile_select(self, m: Measure, qs: Sequence[float], cut: Cut) -> sa.Select:
        g, where = self.grouping(list(m.inputs), cut)
        value: sa.ColumnElement[Any] = sa.type_coerce(self.sql(m.expression or m.column or ""), sa.Double())
        where += [value.is_not(None), *self.kept(g.period, cut)]
        if m.filter:
            where.append(self.sql(m.filter))
        ranked = g.select(
            value.label("v"),
            sa.func.row_number().over(partition_by=g.keys, order_by=value).label("rn"),
            sa.func.count().over(partition_by=g.keys).label("cnt"),
        ).where(*where).subquery("ranked")
        # the ranks linear interpolation reads: floor and ceil of q * (n - 1), zero-based
        near = [sa.and_(ranked.c.rn - 1 > sa.literal(q, sa.Double()) * (ranked.c.cnt - 1) - 1,
                        ranked.c.rn - 1 < sa.literal(q, sa.Double()) * (ranked.c.cnt - 1) + 1) for q in qs]
        return sa.select(ranked).where(sa.or_(*near))

    def quantiles(self, m: Measure, kpis: Sequence[Kpi], cut: Cut) -> pl.DataFrame:
        qs = [float(k.quantile or 0.5) for k in kpis]
        got = self.wh.fetch(self.quantile_select(m, sorted(set(qs)), cut))
        keys = [PERIOD, *self.by]
        ranked = pl.DataFrame(
            {PERIOD: pl.Series([r[0] for r in got], dtype=pl.Int32),
             **{d: pl.Series([_text(r[1 + i]) for r in got], dtype=pl.String) for i, d in enumerate(self.by)},
             "v": pl.Series([_num(r[-3]) for r in got], dtype=pl.Float64),
             "rn": pl.Series([int(r[-2]) for r in got], dtype=pl.Int64),
             "cnt": pl.Series([int(r[-1]) for r in got], dtype=pl.Int64)})
        out = ranked.select(keys).unique()
        for k, q in zip(kpis, qs):
            pos = pl.lit(q) * (pl.col("cnt") - 1).cast(pl.Float64)
            at = ranked.with_columns(pos.alias("pos"), pos.floor().cast(pl.Int64).alias("lo"))
            lower = at.filter(pl.col("rn") - 1 == pl.col("lo")).select(*keys, "pos", "lo", pl.col("v").alias("v_lo"))
            upper = at.filter(pl.col("rn") - 1 == pl.min_horizontal(pl.col("lo") + 1, pl.col("cnt") - 1)).select(
                *keys, pl.col("v").alias("v_hi"))
            # at a whole position the upper rank is not fetched (nor needed): the value is the lower one
            v_hi = pl.col("v_hi").fill_null(pl.col("v_lo"))
            value = pl.col("v_lo") + (v_hi - pl.col("v_lo")) * (pl.col("pos") - pl.col("lo"))
            one = lower.join(upper, on=keys, how="left", nulls_equal=True).select(*keys, value.alias(f"__q:{k.name}"))
            out = out.join(one, on=keys, how="left", nulls_equal=True)
        return out

    # ---- backlog
    def open_deltas(self, m: Measure, cut: Cut) -> pl.DataFrame:
        """+1 per row opened and -1 per row ended, per period (earlier ones in the first): cumulated by the caller."""
        if not cut:
            return pl.DataFrame(schema={PERIOD: pl.Int32, **{d: pl.String for d in self.by}, "__delta": pl.Int64})
        _, hi = self._lo_hi(cut)
        until = self.source.until or ""
        rows = self.rows(list(m.inputs), None, hi)
        since, until_utc = self._utc_lo_hi(cut)
        if self.calendars is not None and set(self.by) & set(LOCAL_PARTS):  # rows opened long before the range
            oldest = self.wh.fetch(sa.select(sa.func.min(rows.c[self.source.time])))[0][0]
            since = min(since, _instant(oldest)) if oldest is not None else since
        dims = self.dims(rows, since, until_utc)
        where = [scope_clause(self.source.table, self.scope, rows)]
        if m.filter:
            where.append(self.sql(m.filter))
        frames = []
        for col, sign, extra in ((rows.c[self.source.time], 1, []),
                                 (self.sql(until), -1, [self.sql(until).is_not(None), self.sql(until) < hi])):
            g = Grouping(rows, self.bucket(col, rows.c.client_id, cut, earlier=True), dims)
            stmt = g.aggregate(sa.func.count().label("n"), where=[*where, *extra, *self.kept(g.period, cut)])
            f = _frame(self.wh.fetch(stmt), self.by, ["n"])
            frames.append(f.select(PERIOD, *self.by, (pl.col("n") * sign).cast(pl.Int64).alias("__delta")))
        deltas = pl.concat(frames)
        return deltas.group_by([PERIOD, *self.by]).agg(pl.col("__delta").sum())


# --------------------------------------------------------------------------- invoice lines


def _spread_pass(wh: Warehouse, scope: Scope, source: _Source, measures: list[Measure], quantiles: list[Kpi],
                 catalog: Catalog, grain: str, by: tuple[str, ...], start: date | None, end: date | None,
                 tiers: dict[str, str | None], fx_rates: Sequence[Any], currency: str,
                 calendars: Calendars | None = None) -> pl.DataFrame:
    """Lines that overlap the range come back as rows and take the Polars pass (with money conversion).

    With local calendars a few more days either side are read, as the Polars engine reads them; its pass cuts them."""
    t = wh.table(source.table)
    where = [scope_clause(source.table, scope, t), t.c[source.time].is_not(None)]
    margin = CALENDAR_MARGIN if calendars is not None else timedelta()
    if end is not None:
        where.append(t.c[source.time] < end + timedelta(days=1) + margin)
    if start is not None:
        where.append(sa.func.coalesce(t.c[source.spread or source.time], t.c[source.time]) >= start - margin)
    got = wh.fetch(sa.select(*t.columns).where(*where))
    schema = TABLES[source.table].schema
    frame = pl.DataFrame({c: pl.Series(c, [r[i] for r in got], dtype=_py_dtype(dt), strict=False)
                          for i, (c, dt) in enumerate(schema.items())})
    frame = frame.with_columns(pl.col(c).dt.replace_time_zone("UTC") for c, dt in schema.items()
                               if isinstance(dt, pl.Datetime))
    if frame.height:
        frame = money.convert(frame, fx_rates, currency)
    return _agg_pass(frame.lazy(), source, measures, quantiles, catalog, grain, by, start, end, tiers,
                     calendars=calendars).collect()


# --------------------------------------------------------------------------- rows to frames


def _py_dtype(dt: pl.DataType) -> pl.DataType:
    return pl.Datetime("us") if isinstance(dt, pl.Datetime) else dt


def _instant(v: Any) -> datetime:
    return v.replace(tzinfo=None) if isinstance(v, datetime) else datetime.combine(_day(v), datetime.min.time())


def _day(v: Any) -> date:
    return v.date() if isinstance(v, datetime) else v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _frame(rows: list[tuple], by: Sequence[str], names: Sequence[str]) -> pl.DataFrame:
    """Aggregate rows (period key, *by, *measures) as the Polars engine's aggregate frame."""
    n = len(by)
    return pl.DataFrame({
        PERIOD: pl.Series([int(r[0]) for r in rows], dtype=pl.Int32),
        **{d: pl.Series([_text(r[1 + i]) for r in rows], dtype=pl.String) for i, d in enumerate(by)},
        **{m: pl.Series([_num(r[1 + n + j]) for r in rows], dtype=pl.Float64) for j, m in enumerate(names)},
    })


__all__ = ["SourceQuery", "compile_measures", "compute_in_warehouse"]
