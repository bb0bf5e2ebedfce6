"""The KPI engine: catalog measures aggregated in one pass per table, KPIs as Σnumerator/Σdenominator.

`compute_kpis(ws, scope, ...)` reads the canonical tables the viewer may see and returns KPIs in
long format: `period` (Date, first day), one column per `by` dimension, `kpi`, `value`,
`numerator`, `denominator` (Float64) and `n` (Int64, the records the value rests on).

How it works, and why it is fast:

* measures are grouped by their source (table, time column, spread); each source is scanned once,
  reading only the columns its measures need, with the date range pushed into the scan, and
  aggregated in ONE `group_by(period key, *by)` computing every measure (and every exact
  quantile) of that source together; all sources are collected in parallel (`pl.collect_all`);
* period keys are integers (see `insights.metrics.periods`);
* a ratio is computed from the summed measures of each group, so it is Σnumerator/Σdenominator at
  every grain, never an average of rates; quantiles are exact (from the raw values of the group);
* a KPI whose measures come from several tables (cost per contact) joins the per-table aggregates
  on (period, *by); if one of its tables cannot be split by a `by` dimension, the KPI is left out
  of that query, and `explain(...)` says why.

>>> from datetime import date
>>> frame = compute_kpis(ws, scope, ["csat", "fcr"], grain="week", by=("vendor_id",),
...                      start=date(2026, 1, 5), end=date(2026, 3, 29))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import reduce
from typing import Any, Mapping, Sequence

import polars as pl

from connectors.schema import TABLES
from connectors.store import Scope, Workspace
from connectors.store import windows as kept_windows
from insights.catalog import (Catalog, DerivedColumn, Kpi, Measure, columns_param, derived_refs, load_catalog, sql_refs,
                              window_gate)
from insights import money
from insights.errors import KpiError
from insights.metrics.contacts import intervals as contact_intervals
from insights.metrics.periods import (check_grain, date_key, day_key, key_step, key_to_date, local_part, period_date,
                                      period_key)
from insights.view import Calendars, View

PERIOD = "__period"
WINDOW = "window"  # the grain of one period from start to end
DAYS = "__days"  # of a spread source (invoice lines): the distinct days its rows cover in the group
SINCE = "__since"  # ... and the first of them
OUTPUT_COLUMNS = ("kpi", "value", "numerator", "denominator", "n")
RESERVED = {"period", *OUTPUT_COLUMNS}
# dimensions read off a row's time in its client's calendar: local hour of day ("00".."23") and weekday ("monday"..)
LOCAL_PARTS = ("hour", "weekday")
COUNTED = {"tickets": "coalesce(status, '') <> 'deleted'"}  # rows a KPI counts (deleted ones are kept for lineage)


@dataclass(frozen=True)
class KpiQueryNotes:
    """What a query will return: the KPIs computed, and the ones left out with the reason."""

    computed: tuple[str, ...]
    omitted: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    """One scan + group_by: measures of one table sharing a time column (and spread / until)."""

    table: str
    time: str
    spread: str | None = None
    until: str | None = None  # set for open_at_period_end (its own pass)


@dataclass
class _Plan:
    requested: list[str]
    order: list[str]  # every KPI to compute (dependencies first)
    omitted: dict[str, str]
    formulas: dict[str, tuple[str | None, str | None, str | None]]  # kpi -> (numerator, denominator, n)
    sources: dict[_Source, list[Measure]]
    quantiles: dict[_Source, list[Kpi]]


Source = _Source  # what `insights.metrics.cube` names them by
Plan = _Plan

# --------------------------------------------------------------------------- public API


def compute_kpis(
    ws: Workspace,
    scope: Scope,
    kpis: list[str] | None = None,
    *,
    grain: str = "week",
    by: tuple[str, ...] = (),
    start: date | None = None,
    end: date | None = None,
    catalog: Catalog | None = None,
) -> pl.DataFrame:
    """KPIs of the workspace as the viewer (`scope`) may see them, per period and `by` dimensions.

    With a `[store] url` in bpo.toml the measures are aggregated inside that warehouse
    (`insights.metrics.warehouse`) and the KPIs computed from them here, by the same formulas.
    `kpis` None means every catalog KPI; `start`/`end` are inclusive dates; `grain` is one of
    day, week, month, quarter, year, or `window`: one period from `start` to `end` (both required), so a
    median over four weeks is the median of their contacts, not of weekly medians.

    Periods and `start`/`end` are days of each client's reporting calendar (bpo.toml: the client's
    `timezone` and `week_start`, else [settings], else UTC and Monday), see `Calendars.of`.
    """
    catalog = catalog or load_catalog()
    tiers = site_tiers(ws)
    warehouse = ws.warehouse
    if warehouse is not None:  # [store] url: the measures run inside the warehouse, the KPI formulas here
        from insights.metrics.warehouse import compute_in_warehouse

        return compute_in_warehouse(warehouse, scope, kpis, grain=grain, by=by, start=start, end=end, catalog=catalog,
                                    settings=ws.config.settings, site_tiers=tiers, fx_rates=ws.config.fx_rates,
                                    currency=ws.config.currency, calendars=Calendars.of(ws.config, scope.clients))
    plan = _plan(catalog, kpis, by, ws.config.settings)
    frames, viewer = read_frames(ws, scope, {s.table for s in plan.sources}, catalog)
    return compute_from_frames(frames, kpis, grain=grain, by=by, start=start, end=end, catalog=catalog,
                               settings=ws.config.settings, site_tiers=tiers, scope=viewer,
                               calendars=Calendars.of(ws.config, scope.clients))


def compute_in_view(ws: Workspace, view: View, kpis: Sequence[str], *, grain: str = "week", by: Sequence[str] = (),
                    start: date | None = None, end: date | None = None, catalog: Catalog | None = None) -> pl.DataFrame:
    """`compute_kpis` for the rows the view keeps (split by its row filters, then kept), columns as `compute_kpis`.

    A KPI reading a table that cannot honour a filter (interval reports, the roster, invoices and QA record no
    language) is computed without that filter, so its figures are for every language: never narrowed to nothing;
    `View.not_split_note` is the sentence that says so."""
    catalog = catalog or load_catalog()
    frames = []
    for part, names in view.groups(kpis, catalog.tables):
        extra = tuple(c for c in part.fixed if c not in by)
        frame = compute_kpis(ws, part.scope_for_read(), names, grain=grain, by=(*by, *extra), start=start, end=end,
                             catalog=catalog)
        frames.append(part.apply(frame, rows_only=True).drop(list(extra)))
    if not frames:
        return compute_kpis(ws, view.scope_for_read(), [], grain=grain, by=tuple(by), start=start, end=end,
                            catalog=catalog)
    if len(frames) == 1:
        return frames[0]
    order = {name: i for i, name in enumerate(kpis)}
    return (pl.concat(frames, how="vertical_relaxed")
              .sort(["period", pl.col("kpi").replace_strict(order, default=len(order))], maintain_order=True))


def read_frames(ws: Workspace, scope: Scope, tables: set[str],
                catalog: Catalog) -> tuple[dict[str, pl.LazyFrame], Scope | None]:
    """The viewer's canonical tables as lazy scans, and the scope to cut rows with after the derived columns.

    A customer's next contact counts wherever it went: a window over customers (is_repeat_7d) is read from the
    rows when the store keeps it (computed over the brand's rows at every upsert); else its table is read for the
    viewer's clients across vendors, and cut to the viewer's rows after the window, so a vendor's FCR of its
    tickets is the brand's FCR of the same tickets either way (nothing else of the other rows is kept).
    The scope returned is None when the frames already hold only the viewer's rows.
    """
    frames = {t: ws.scan(t, scope, windows=True) for t in tables}  # window columns the rows hold are read, not computed
    windowed = {t for t in tables if scope.vendors is not None and _computed_windows(frames[t], t, catalog)}
    clients = Scope(clients=scope.clients, vendors=None)
    frames.update({t: ws.scan(t, clients, windows=True) for t in windowed})
    if "contact_intervals" in frames:  # interval reports and contact records, combined by the contact rules
        frames["contact_intervals"] = contact_intervals(ws, clients if "contact_intervals" in windowed else scope)
    if "cost_invoices" in frames:  # amounts in the reporting currency, or a MoneyError naming the line
        frames["cost_invoices"] = money.convert(frames["cost_invoices"], ws.config.fx_rates, ws.config.currency)
    return frames, scope if windowed else None


def site_tiers(ws: Workspace) -> dict[str, str | None]:
    """site_id -> onshore/nearshore/offshore (bpo.toml), for `by=("site_tier",)`."""
    return {s["id"]: s.get("tier") for s in ws.config.sites if s.get("id")}


def compute_from_frames(
    frames: Mapping[str, pl.LazyFrame | pl.DataFrame],
    kpis: Sequence[str] | None = None,
    *,
    grain: str = "week",
    by: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    catalog: Catalog | None = None,
    settings: Mapping[str, Any] | None = None,
    site_tiers: Mapping[str, str | None] | None = None,
    scope: Scope | None = None,
    calendars: Calendars | None = None,
) -> pl.DataFrame:
    """`compute_kpis` over in-memory (or lazily scanned) canonical frames, keyed by table name.

    Frames may hold a subset of the canonical columns (the others count as empty); a table
    absent from `frames` counts as empty. `scope` None means the frames already hold only what
    the viewer may see (else its rows are kept after the derived columns, windows included);
    `settings` is bpo.toml's [settings] (e.g. `service_level_formula`);
    `site_tiers` maps site_id to onshore/nearshore/offshore for `by=("site_tier",)`;
    `calendars` cuts each client's rows in its reporting calendar (None: UTC days, Monday weeks).
    """
    _check_query(grain, start, end)
    catalog = catalog or load_catalog()
    by = tuple(by)
    plan = _plan(catalog, kpis, by, settings)
    cals = calendars if calendars is not None and not calendars.utc_iso else None
    first = cals.reference.week_start if cals else 0
    results = source_results(frames, plan, list(plan.sources), catalog=catalog, grain=grain, by=by, start=start,
                             end=end, site_tiers=site_tiers, scope=scope, calendars=cals)
    return _kpis_from_aggregates(plan, results, catalog, grain, by, start, end, first)


def source_results(frames: Mapping[str, pl.LazyFrame | pl.DataFrame], plan: _Plan, sources: Sequence[_Source], *,
                   catalog: Catalog, grain: str, by: Sequence[str], start: date | None, end: date | None,
                   site_tiers: Mapping[str, str | None] | None, scope: Scope | None,
                   calendars: Calendars | None = None, cells: bool = False) -> dict[_Source, pl.DataFrame]:
    """One pass per source: its measures (and exact quantiles) per (period key, *by), collected in parallel.

    `calendars` (None or not all UTC/Monday: as `compute_from_frames` resolves them) cuts each client's rows in
    its calendar. `cells` keeps, instead of each count_distinct and quantile, the group's distinct values / raw
    values as a list, so a coarser grain can be re-aggregated from the groups exactly (`insights.metrics.cube`)."""
    by = tuple(by)
    cals = calendars if calendars is not None and not calendars.utc_iso else None

    def build(source: _Source, packed: bool) -> pl.LazyFrame:
        lf = _as_lazy(frames.get(source.table), source.table)
        viewer = scope.filter_expr(source.table) if scope is not None else None
        if source.table == "tickets" and "status" in lf.collect_schema():
            lf = lf.filter(pl.col("status").fill_null("") != "deleted")  # kept for lineage, never counted
        if source.until:
            return _open_pass(lf, source, plan.sources[source], plan.quantiles.get(source, []), catalog, grain, by,
                              start, end, dict(site_tiers or {}), packed, viewer=viewer, calendars=cals)
        return _agg_pass(lf, source, plan.sources[source], plan.quantiles.get(source, []), catalog, grain, by, start,
                         end, dict(site_tiers or {}), packed, viewer=viewer, calendars=cals, cells=cells)

    packed = 0 < len(by) <= MAX_PACKED_DIMS
    names = list(sources)
    results = dict(zip(names, pl.collect_all([build(s, packed) for s in names]))) if names else {}
    if packed and not _codes_fit(by):  # a dimension with ~1M distinct values: group on the columns instead
        results = dict(zip(names, pl.collect_all([build(s, False) for s in names])))
    return results


def plan_of(catalog: Catalog, kpis: Sequence[str] | None, by: Sequence[str], settings: Mapping[str, Any] | None) -> _Plan:
    """The query plan: the KPIs in dependency order, their measures grouped by source (one pass each)."""
    return _plan(catalog, kpis, tuple(by), settings)


def assemble(plan: _Plan, results: Mapping[_Source, pl.DataFrame], *, catalog: Catalog, grain: str, by: Sequence[str],
             start: date | None, end: date | None, first: int = 0) -> pl.DataFrame:
    """The KPIs of the plan from its sources' aggregates (`_kpis_from_aggregates`), for `insights.metrics.cube`."""
    return _kpis_from_aggregates(plan, dict(results), catalog, grain, tuple(by), start, end, first)


def check_request(grain: str, start: date | None, end: date | None) -> None:
    """A KpiError saying what to change when the grain or the date range cannot be computed."""
    _check_query(grain, start, end)


def _kpis_from_aggregates(plan: _Plan, results: dict[_Source, pl.DataFrame], catalog: Catalog, grain: str,
                          by: tuple[str, ...], start: date | None, end: date | None, first: int = 0) -> pl.DataFrame:
    """KPIs from the per-source aggregates (PERIOD key, *by, one column per measure): the one place KPI formulas run.

    Both engines end here: the Polars passes above and the SQL engine (`insights.metrics.warehouse`),
    whose aggregates have the same shape, so a KPI is the same formula over the same measures.
    """
    for source in list(results):
        if source.table in WHOLE_LINE_TABLES and by:
            results[source] = _drop_unattributable(results[source], by)
        if source.until:
            results[source] = _fill_backlog(results[source], source, plan.sources[source], grain, by, start, end, first)

    keys = [PERIOD, *by]
    per_kpi: dict[str, pl.DataFrame] = {}
    for name in plan.order:
        if name in plan.omitted:
            continue
        kpi = catalog.kpis[name]
        if kpi.type == "derived":
            per_kpi[name] = _derived_frame(kpi, per_kpi, catalog, keys)
        else:
            per_kpi[name] = _base_frame(kpi, plan, results, keys, _period_bounds(grain, start, end))
    out = [
        per_kpi[name].select(
            key_to_date(pl.col(PERIOD), _key_grain(grain)).alias("period"), *by, pl.lit(name).alias("kpi"),
            pl.col("value").cast(pl.Float64), pl.col("numerator").cast(pl.Float64),
            pl.col("denominator").cast(pl.Float64), pl.col("n").cast(pl.Int64),
        ).sort(["period", *by], nulls_last=True)
        for name in plan.requested
        if name in per_kpi
    ]
    if not out:
        return pl.DataFrame(schema=_output_schema(by))
    return pl.concat([f.cast(_output_schema(by)) for f in out], how="vertical")


def _check_query(grain: str, start: date | None, end: date | None) -> None:
    if grain == WINDOW:
        if start is None or end is None:
            raise KpiError("grain 'window' is one period from start to end: give both (--from and --to)")
    else:
        check_grain(grain)
    if start and end and end < start:
        raise KpiError(f"end {end} is before start {start}; swap --from and --to")


# Tables whose rows bill a whole contract or site (an invoice's agent hours, a service credit): a row
# that does not name a `by` dimension cannot be split across its values, so the segments it would
# belong to are unknown ('-') rather than wrong (a channel's cost of only the credit line, negative).
WHOLE_LINE_TABLES = ("cost_invoices",)


def _drop_unattributable(frame: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    """Remove the (period, other dimensions) groups in which some row leaves a `by` dimension unnamed."""
    for d in by:
        rest = [PERIOD, *(x for x in by if x != d)]
        blind = frame.filter(pl.col(d).is_null()).select(rest).unique()
        if blind.height:
            frame = frame.join(blind, on=rest, how="anti", nulls_equal=True)
    return frame


def explain(kpis: Sequence[str] | None = None, *, by: Sequence[str] = (), catalog: Catalog | None = None) -> KpiQueryNotes:
    """Which KPIs a query with these `by` dimensions returns, and why any are left out."""
    plan = _plan(catalog or load_catalog(), kpis, tuple(by), None)
    return KpiQueryNotes(tuple(k for k in plan.requested if k not in plan.omitted),
                         {k: v for k, v in plan.omitted.items() if k in plan.requested})


# --------------------------------------------------------------------------- planning


def _output_schema(by: Sequence[str]) -> dict[str, pl.DataType]:
    return {"period": pl.Date, **{d: pl.String for d in by}, "kpi": pl.String, "value": pl.Float64,
            "numerator": pl.Float64, "denominator": pl.Float64, "n": pl.Int64}


def _plan(catalog: Catalog, kpis: Sequence[str] | None, by: tuple[str, ...], settings: Mapping[str, Any] | None) -> _Plan:
    requested = list(dict.fromkeys(kpis)) if kpis is not None else list(catalog.kpis)
    unknown = [k for k in requested if k not in catalog.kpis]
    if unknown:
        raise KpiError(f"unknown KPI(s): {', '.join(unknown)}; known KPIs: {', '.join(catalog.kpis)}")
    bad_dims = [d for d in by if d in RESERVED or (d not in LOCAL_PARTS and not any(catalog.dimension_column(t, d) for t in TABLES))]
    if bad_dims:
        dims = sorted({d for t in TABLES for d in (*TABLES[t].columns, *catalog.aliases.get(t, {}))} | {"site_tier"})
        raise KpiError(f"cannot split by {', '.join(bad_dims)}: no canonical table has that dimension; "
                       f"use e.g. client_id, vendor_id, site_id, site_tier, channel, priority, queue, contact_reason, "
                       f"hour, weekday "
                       f"(all: {', '.join(dims)})")
    if len(set(by)) != len(by):
        raise KpiError(f"by lists a dimension twice: {', '.join(by)}")

    order: list[str] = []

    def add(name: str) -> None:
        if name in order:
            return
        kpi = catalog.kpis[name]
        if kpi.type == "derived":
            for dep in derived_refs(kpi) + ([kpi.n] if kpi.n else []):
                add(dep)
        order.append(name)

    for name in requested:
        add(name)

    omitted: dict[str, str] = {}
    formulas: dict[str, tuple[str | None, str | None, str | None]] = {}
    sources: dict[_Source, list[Measure]] = {}
    quantiles: dict[_Source, list[Kpi]] = {}
    for name in order:
        kpi = catalog.kpis[name]
        if kpi.type == "derived":
            lost = [d for d in derived_refs(kpi) if d in omitted]
            if lost:
                omitted[name] = f"{name} is built from {lost[0]}, which is left out: {omitted[lost[0]]}"
            continue
        num, den = kpi.formula(settings) if kpi.type == "ratio" else (kpi.numerator, None)
        n_expr = kpi.n or (den if kpi.type == "ratio" else (kpi.measure if kpi.type == "quantile" else num))
        formulas[name] = (num, den, n_expr)
        measures = [catalog.measures[m] for text in (num, den, n_expr, kpi.measure) if text for m in sql_refs(text)]
        for m in measures:
            timeless = [d for d in by if d in LOCAL_PARTS and not _has_local_part(m, d)]
            if timeless:
                omitted[name] = (f"{name} cannot be split by {timeless[0]}: its measure {m.name} is kept by "
                                 f"{'day' if timeless[0] == 'hour' and not m.spread else 'date range'} in {m.table}")
                break
            missing = [d for d in by if d not in LOCAL_PARTS and catalog.dimension_column(m.table, d) is None]
            if missing:
                omitted[name] = (f"{name} cannot be split by {missing[0]}: its measure {m.name} comes from "
                                 f"{m.table}, which has no {missing[0]} column")
                break
        if name in omitted:
            continue
        for m in measures:
            src = _Source(m.table, m.time, m.spread, m.until if m.agg == "open_at_period_end" else None)
            bucket = sources.setdefault(src, [])
            if m not in bucket:
                bucket.append(m)
        if kpi.type == "quantile":
            m = catalog.measures[kpi.measure or ""]
            quantiles.setdefault(_Source(m.table, m.time, m.spread, None), []).append(kpi)
    return _Plan(requested, order, omitted, formulas, sources, quantiles)


def _has_local_part(m: Measure, part: str) -> bool:
    """Whether a measure's rows have an hour (a timestamp) or a weekday (a timestamp or a day) to split by."""
    if m.spread:
        return False
    spec = TABLES[m.table].columns
    # a derived time (when a ticket was solved, `ended_at`) is an instant like the columns it is derived from
    dtype = spec[m.time].dtype if m.time in spec else pl.Datetime("us", "UTC")
    return isinstance(dtype, pl.Datetime) or (part == "weekday" and dtype == pl.Date)


# --------------------------------------------------------------------------- one pass per source


def _as_lazy(frame: pl.LazyFrame | pl.DataFrame | None, table: str) -> pl.LazyFrame:
    if frame is None:
        return pl.LazyFrame(schema=TABLES[table].schema)
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _conform(lf: pl.LazyFrame, table: str, columns: Sequence[str],
             stored: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """Select `columns` with their canonical dtypes; absent columns become nulls; a window column the rows hold
    (`stored`: name -> its column in the files) is read under its name."""
    have = lf.collect_schema()
    spec = TABLES[table].columns
    exprs = []
    for c in columns:
        if stored and c in stored:
            exprs.append(pl.col(stored[c]).alias(c))
            continue
        dtype = spec[c].dtype
        if c not in have:
            exprs.append(pl.lit(None, dtype=dtype).alias(c))
        elif have[c] == dtype:
            exprs.append(pl.col(c))
        elif isinstance(dtype, pl.Datetime) and isinstance(have[c], pl.Datetime):
            e = pl.col(c).dt.replace_time_zone("UTC") if have[c].time_zone is None else pl.col(c).dt.convert_time_zone("UTC")
            exprs.append(e.dt.cast_time_unit("us").alias(c))
        else:
            exprs.append(pl.col(c).cast(dtype).alias(c))
    return lf.select(exprs)


def _with_viewer(base: list[str], viewer: pl.Expr | None) -> list[str]:
    """The base columns plus those the viewer's row filter reads (tenant keys)."""
    return base if viewer is None else list(dict.fromkeys([*base, *viewer.meta.root_names()]))


def _derived_closure(names: Sequence[str], table: str, catalog: Catalog,
                     given: Mapping[str, str] | None = None) -> list[DerivedColumn]:
    """The derived columns `names` need, dependencies first (`given`: window columns the rows hold, not derived)."""
    cols = catalog.columns.get(table, {})
    out: list[DerivedColumn] = []

    def visit(n: str) -> None:
        if n in cols and cols[n] not in out and n not in (given or {}):
            for dep in cols[n].inputs:
                visit(dep)
            out.append(cols[n])

    for n in names:
        visit(n)
    return out


def _add_derived(lf: pl.LazyFrame, col: DerivedColumn) -> pl.LazyFrame:
    """`lf` with the derived column added (an SQL expression, or a named window)."""
    if col.expression is not None:
        return lf.with_columns(pl.sql_expr(col.expression).alias(col.name))
    p = col.params
    if col.window == "next_within":  # the one implementation, shared with the store that keeps it in the rows
        parts = list(columns_param(p["partition_by"]))
        flag = kept_windows.next_within(parts, p["order_by"], float(p["days"]), window_gate(parts))
        return lf.with_columns(flag.alias(col.name))
    if col.window == "days_between":
        days = (pl.col(p["end"]).cast(pl.Date) - pl.col(p["start"]).cast(pl.Date)).dt.total_days()
        return lf.with_columns(days.alias(col.name))
    raise KpiError(f"derived column '{col.name}': unknown window '{col.window}'")  # the catalog validator prevents it


def _lookahead(cols: Sequence[DerivedColumn], time_col: str) -> timedelta:
    """How far past `end` rows must be read so forward-looking windows see the whole window."""
    days = [float(c.params["days"]) for c in cols if c.window == "next_within" and c.params["order_by"] == time_col]
    return timedelta(days=max(days, default=0.0))


def _bounds(dtype: pl.DataType, start: date | None, end: date | None, extra: timedelta = timedelta()) -> tuple[Any, Any]:
    """Inclusive-start, exclusive-end literals for comparing a Date/Datetime column with [start, end]."""
    if isinstance(dtype, pl.Datetime):
        lo = datetime.combine(start, time(), tzinfo=timezone.utc) if start else None
        hi = datetime.combine(end + timedelta(days=1), time(), tzinfo=timezone.utc) + extra if end else None
        return lo, hi
    return start, (end + timedelta(days=1) + timedelta(days=extra.days)) if end else None


def _range_filter(col: str, dtype: pl.DataType, start: date | None, end: date | None, extra: timedelta = timedelta()) -> pl.Expr:
    lo, hi = _bounds(dtype, start, end, extra)
    e = pl.col(col).is_not_null()
    if lo is not None:
        e = e & (pl.col(col) >= lo)
    if hi is not None:
        e = e & (pl.col(col) < hi)
    return e


def _dimension_exprs(table: str, by: Sequence[str], catalog: Catalog, tiers: dict[str, str | None],
                     *, coded: bool = False, when: tuple[pl.Expr, pl.DataType, Calendars | None] | None = None) -> list[pl.Expr]:
    """The `by` columns as strings, or (coded) as categoricals of one named category set per dimension.

    `when` is the row's time (expression, dtype, calendars) that hour and weekday are read from."""
    exprs = []
    for d in by:
        col = catalog.dimension_column(table, d)
        if d in LOCAL_PARTS:
            e = local_part(when[0], d, when[1], when[2]) if when else pl.lit(None, dtype=pl.String)
        elif d == "site_tier":
            e = pl.col("site_id").replace_strict(tiers, default=None, return_dtype=pl.String)
        else:
            e = pl.col(col).cast(pl.String)
        exprs.append((e.cast(pl.Categorical(_dim_categories(d))) if coded else e).alias(d))
    return exprs


# Grouping on one packed Int64 key (period, dimension codes) is 2-3x faster than hashing several
# columns.  Codes come from one named category set per dimension, so they stay small (the number
# of distinct values seen for that dimension); `_codes_fit` checks that after the fact.
CODE_BITS = 20
NULL_CODE = (1 << CODE_BITS) - 1
MAX_PACKED_DIMS = 2


def _dim_categories(dim: str) -> pl.Categories:
    return pl.Categories(f"bpo-insights-dim-{dim}")


def _codes_fit(by: Sequence[str]) -> bool:
    return all(_dim_categories(d).to_series().len() < NULL_CODE for d in by)


def _packed_group_by(lf: pl.LazyFrame, by: Sequence[str], aggs: list[pl.Expr]) -> pl.LazyFrame:
    key = pl.col(PERIOD).cast(pl.Int64) * (1 << (CODE_BITS * len(by)))
    for i, d in enumerate(by):
        code = pl.col(d).to_physical().cast(pl.Int64).fill_null(NULL_CODE)
        key = key + code * (1 << (CODE_BITS * (len(by) - 1 - i)))
    return (lf.with_columns(key.alias("__key"))
              .group_by("__key").agg(pl.col(PERIOD).first(), *[pl.col(d).first() for d in by], *aggs)
              .drop("__key")
              .with_columns(pl.col(d).cast(pl.String) for d in by))


def _base_columns(table: str, names: Sequence[str], by: Sequence[str], catalog: Catalog,
                  stored: Mapping[str, str] | None = None) -> tuple[list[str], list[DerivedColumn]]:
    """The columns to read and the derived columns to compute (`stored`: window columns the rows hold: read)."""
    derived = _derived_closure(names, table, catalog, stored)
    derived_names = {c.name for c in derived}
    wanted = list(names) + [i for c in derived for i in c.inputs] + [catalog.dimension_column(table, d) or "" for d in by]
    base = [c for c in dict.fromkeys(wanted)
            if c and c not in derived_names and (c in TABLES[table].columns or c in (stored or {}))]
    return base, derived


def window_spec(catalog: Catalog, table: str = "tickets") -> dict[str, Any]:
    """The window columns the store may keep in `table`'s rows, as data (`connectors/store/windows.py`): every
    `next_within` column partitioned by client (a flag that does not depend on the viewer), with the rows a KPI
    counts and the derived columns it reads. `bpo-insights store rebuild-aggregates` installs it."""
    wins: list[dict[str, Any]] = []
    columns: list[dict[str, Any]] = []
    for c in catalog.columns.get(table, {}).values():
        if c.window != "next_within":
            continue
        parts = list(columns_param(c.params["partition_by"]))
        closure = _derived_closure(list(c.inputs), table, catalog)
        if "client_id" not in parts or any(d.window for d in closure if d is not c):
            continue
        wins.append({"name": c.name, "kind": "next_within", "partition_by": parts, "order_by": c.params["order_by"],
                     "days": float(c.params["days"]), "gate": list(window_gate(parts))})
        for d in closure:
            if d is not c and d.name not in [x["name"] for x in columns]:
                columns.append({"name": d.name, "expression": d.expression})
    return {"version": 1, "table": table, "where": COUNTED.get(table), "columns": columns, "windows": wins}


def _stored_windows(lf: pl.LazyFrame, table: str, catalog: Catalog) -> dict[str, str]:
    """Window column -> the column of `lf` holding it, for the windows the rows keep under the catalog's very
    definition (a column cut from another definition has another name, so it is never read)."""
    have = [c for c in lf.collect_schema().names() if c.startswith(kept_windows.PREFIX)]
    if not have:
        return {}
    spec = window_spec(catalog, table)
    named = {w["name"]: kept_windows.stored_name(spec, w) for w in spec["windows"]}
    return {name: col for name, col in named.items() if col in have}


def _computed_windows(lf: pl.LazyFrame, table: str, catalog: Catalog) -> list[str]:
    """The `next_within` columns of `table` the rows of `lf` do not keep (they are computed from the rows)."""
    stored = _stored_windows(lf, table, catalog)
    return [c.name for c in catalog.columns.get(table, {}).values()
            if c.window == "next_within" and c.name not in stored]


def _measure_value(m: Measure) -> pl.Expr | None:
    if m.expression:
        return pl.sql_expr(m.expression)
    return pl.col(m.column) if m.column else None


def _measure_filter(m: Measure) -> pl.Expr | None:
    return pl.sql_expr(m.filter) if m.filter else None


def _agg_expr(m: Measure, spread: bool, cells: bool = False) -> pl.Expr:
    """The aggregation of one measure inside the source's group_by (filters are SQL: null is false).

    `cells`: a count_distinct keeps the group's distinct values (a list) for an exact re-aggregation."""
    f, v = _measure_filter(m), _measure_value(m)
    cond = f
    if m.agg == "count" and v is not None:
        cond = v.is_not_null() if cond is None else (cond & v.is_not_null())
    if m.agg == "count":
        if spread:  # a line counts once in every period it overlaps
            rows = pl.col("__row") if cond is None else pl.col("__row").filter(cond.fill_null(False))
            return rows.n_unique().cast(pl.Float64).alias(m.name)
        return (pl.len() if cond is None else cond.sum()).cast(pl.Float64).alias(m.name)
    assert v is not None
    if m.agg == "sum":
        if spread:
            v = v * pl.col("__w")
        return (v if f is None else pl.when(f).then(v)).sum().cast(pl.Float64).alias(m.name)
    # count_distinct
    vals = v if f is None else v.filter(f.fill_null(False))
    if cells:
        return vals.drop_nulls().unique().alias(m.name)
    return vals.drop_nulls().n_unique().cast(pl.Float64).alias(m.name)


def quantile_column(kpi: str) -> str:
    """The column of a source's aggregate holding the quantile KPI's value."""
    return f"__q:{kpi}"


def values_column(measure: str) -> str:
    """The column of a source's cells holding a quantile measure's values (a list per cell)."""
    return f"__v:{measure}"


def _quantile_expr(kpi: Kpi, m: Measure, cells: bool = False) -> pl.Expr:
    """The exact quantile of the group's values (`cells`: the values themselves, a list per group, once per measure)."""
    v, f = _measure_value(m), _measure_filter(m)
    assert v is not None
    vals = v if f is None else v.filter(f.fill_null(False))
    if cells:
        return vals.cast(pl.Float64).alias(values_column(m.name))
    return vals.cast(pl.Float64).quantile(float(kpi.quantile or 0.5), "linear").alias(quantile_column(kpi.name))


def _agg_pass(lf: pl.LazyFrame, source: _Source, measures: list[Measure], quantile_kpis: list[Kpi], catalog: Catalog,
              grain: str, by: Sequence[str], start: date | None, end: date | None, tiers: dict[str, str | None],
              packed: bool = False, *, viewer: pl.Expr | None = None, calendars: Calendars | None = None,
              cells: bool = False) -> pl.LazyFrame:
    """Scan → date range → derived columns → the viewer's rows → one group_by(period, *by) with every measure.

    With `calendars` (not all UTC), rows are read a few days either side of the range (cheap, pushed
    into the scan), then kept and keyed by their local day in their client's calendar."""
    table = source.table
    names = [c for m in measures for c in m.inputs]
    stored = _stored_windows(lf, table, catalog)
    base, derived = _base_columns(table, names, by, catalog, stored)
    lf = _conform(lf, table, _with_viewer(_with_client(base, calendars), viewer), stored)
    if source.time not in TABLES[table].columns:  # a derived time (when a ticket was solved): derive, then cut
        for c in derived:
            lf = _add_derived(lf, c)
        derived = []
    tdtype = lf.collect_schema()[source.time]
    lo_d, hi_d = _widened(start, end, calendars)
    kg, first = _key_grain(grain), calendars.reference.week_start if calendars else 0
    if source.spread:
        # rows cover [time, spread]: keep those overlapping the range, spread each over its days
        lo, hi = _bounds(tdtype, lo_d, hi_d)
        keep = pl.col(source.time).is_not_null()
        if hi is not None:
            keep = keep & (pl.col(source.time) < hi)
        if lo is not None:
            keep = keep & (pl.col(source.spread).fill_null(pl.col(source.time)) >= lo)
        lf = lf.filter(keep)
        for c in derived:
            lf = _add_derived(lf, c)
        if viewer is not None:
            lf = lf.filter(viewer)
        lf = lf.with_row_index("__row")
        day0, day1 = pl.col(source.time).cast(pl.Date), pl.col(source.spread).fill_null(pl.col(source.time)).cast(pl.Date)
        lf = (lf.with_columns(pl.date_ranges(day0, day1).alias("__day"))
                .with_columns((1.0 / pl.col("__day").list.len()).alias("__w"))
                .explode("__day"))
        if calendars is not None:  # a billed day is a local day already; only a week's alignment moves it
            lf = lf.with_columns(period_date(pl.col("__day"), kg, pl.Date(), calendars).alias("__day"))
        lf = lf.filter(_range_filter("__day", pl.Date, start, end))
        key = _period_key(pl.col("__day"), grain, pl.Date, start, first)
    else:
        extra = _lookahead(derived, source.time)
        lf = lf.filter(_range_filter(source.time, tdtype, lo_d, hi_d, extra))
        for c in derived:
            lf = _add_derived(lf, c)
        if viewer is not None:
            lf = lf.filter(viewer)
        if calendars is not None:
            # the range is the local days asked for; the key is the day aligned to the reference week (a client's
            # own week filed whole under the reference week it overlaps most)
            lf = lf.with_columns(period_date(pl.col(source.time), "day", tdtype, calendars).alias(TRUE_DAY),
                                 period_date(pl.col(source.time), kg, tdtype, calendars).alias(LOCAL_DAY))
            lf = lf.filter(_range_filter(TRUE_DAY, pl.Date(), start, end))
            key = _period_key(pl.col(LOCAL_DAY), grain, pl.Date(), start, first)
        else:
            if extra:
                lf = lf.filter(_range_filter(source.time, tdtype, start, end))
            key = _period_key(pl.col(source.time), grain, tdtype, start)
    aggs = [_agg_expr(m, bool(source.spread), cells) for m in measures]
    if source.spread:
        aggs += [pl.col("__day").n_unique().cast(pl.Int64).alias(DAYS), pl.col("__day").min().alias(SINCE)]
    quantiles = [_quantile_expr(k, catalog.measures[k.measure or ""], cells) for k in quantile_kpis]
    aggs += list({e.meta.output_name(): e for e in quantiles}.values())  # cells: one list per measure
    when = None if source.spread else (pl.col(source.time), tdtype, calendars)
    lf = lf.with_columns(key.alias(PERIOD), *_dimension_exprs(table, by, catalog, tiers, coded=packed, when=when))
    if packed:
        return _packed_group_by(lf, by, aggs)
    return lf.group_by([PERIOD, *by]).agg(aggs)


def _open_pass(lf: pl.LazyFrame, source: _Source, measures: list[Measure], quantile_kpis: list[Kpi], catalog: Catalog,
               grain: str, by: Sequence[str], start: date | None, end: date | None, tiers: dict[str, str | None],
               packed: bool = False, *, viewer: pl.Expr | None = None, calendars: Calendars | None = None) -> pl.LazyFrame:
    """Open-at-period-end: +1 when a row opens, -1 when it ends, summed per period (cumulated later)."""
    (m,) = measures
    table, until = source.table, source.until or ""
    stored = _stored_windows(lf, table, catalog)
    base, derived = _base_columns(table, list(m.inputs), by, catalog, stored)
    lf = _conform(lf, table, _with_viewer(_with_client(base, calendars), viewer), stored)
    tdtype = TABLES[table].columns[source.time].dtype
    lf = lf.filter(_range_filter(source.time, tdtype, None, _widened(start, end, calendars)[1]))
    for c in derived:
        lf = _add_derived(lf, c)
    if viewer is not None:
        lf = lf.filter(viewer)
    if m.filter:
        lf = lf.filter(pl.sql_expr(m.filter).fill_null(False))
    lf = lf.with_columns(*_dimension_exprs(table, by, catalog, tiers, when=(pl.col(source.time), tdtype, calendars)))
    udtype = lf.collect_schema()[until]
    kg = _key_grain(grain)  # a window's events are placed by day, then the window's days become its one period
    first = calendars.reference.week_start if calendars else 0
    # a row closed after `end` is still open at the (clipped) last period's end, even if closed within its week
    if calendars is None:
        opened = lf.select(period_key(pl.col(source.time), kg, tdtype).alias(PERIOD), *by, pl.lit(1).alias("__delta"))
        closed = lf.filter(_range_filter(until, udtype, None, end)).select(
            period_key(pl.col(until), kg, udtype).alias(PERIOD), *by, pl.lit(-1).alias("__delta"))
    else:  # opened and ended on their local days (read a few days past `end`, so cut at the local end here)
        day = period_date(pl.col(source.time), kg, tdtype, calendars)  # aligned to the reference week: the key
        ended = period_date(pl.col(until), kg, udtype, calendars)
        opened_on = period_date(pl.col(source.time), "day", tdtype, calendars)  # the local day itself: the range
        ended_on = period_date(pl.col(until), "day", udtype, calendars)
        opened = (lf.filter(opened_on <= end) if end is not None else lf).select(
            day_key(day, kg, first).alias(PERIOD), *by, pl.lit(1).alias("__delta"))
        closed = lf.filter(pl.col(until).is_not_null() & ((ended_on <= end) if end is not None else pl.lit(True))).select(
            day_key(ended, kg, first).alias(PERIOD), *by, pl.lit(-1).alias("__delta"))
    events = pl.concat([opened, closed], how="vertical")
    if start is not None:  # everything that happened before the range lands in its first period
        events = events.with_columns(pl.max_horizontal(pl.col(PERIOD), pl.lit(date_key(start, kg, first))).alias(PERIOD))
    if end is not None:
        events = events.filter(pl.col(PERIOD) <= date_key(end, kg, first))
    if grain == WINDOW and start is not None:
        events = events.with_columns(pl.lit(date_key(start, kg), pl.Int32).alias(PERIOD))
    return events.group_by([PERIOD, *by]).agg(pl.col("__delta").sum().alias("__delta"))


def _fill_backlog(deltas: pl.DataFrame, source: _Source, measures: list[Measure], grain: str, by: Sequence[str],
                  start: date | None, end: date | None, first: int = 0) -> pl.DataFrame:
    """Cumulate open/close events over every period (a level carries through quiet periods)."""
    (m,) = measures
    if deltas.height == 0:
        return pl.DataFrame(schema={PERIOD: pl.Int32, **{d: pl.String for d in by}, m.name: pl.Float64})
    kg = _key_grain(grain)
    lo = date_key(start, kg, first) if start else int(deltas[PERIOD].min())
    hi = lo if grain == WINDOW else date_key(end, kg, first) if end else int(deltas[PERIOD].max())
    keys = pl.DataFrame({PERIOD: pl.Series(range(lo, hi + 1, key_step(kg)), dtype=pl.Int32)})
    combos = deltas.select(by).unique() if by else pl.DataFrame({"__all": [0]})
    grid = combos.join(keys, how="cross")
    if not by:
        grid = grid.drop("__all")
    filled = grid.join(deltas.with_columns(pl.col(PERIOD).cast(pl.Int32)), on=[PERIOD, *by], how="left", nulls_equal=True)
    filled = filled.with_columns(pl.col("__delta").fill_null(0)).sort(PERIOD)
    level = pl.col("__delta").cum_sum()
    if by:
        level = level.over(list(by))
    return filled.select(PERIOD, *by, level.cast(pl.Float64).alias(m.name))


# --------------------------------------------------------------------------- KPIs from aggregates


def _join_all(frames: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    return reduce(lambda a, b: a.join(b, on=keys, how="full", coalesce=True, nulls_equal=True), frames)


def _safe_ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den != 0).then(num / den).otherwise(None)


def _key_grain(grain: str) -> str:
    """The grain period keys are cut at: a window is keyed by its first day."""
    return "day" if grain == WINDOW else grain


def _period_key(expr: pl.Expr, grain: str, dtype: pl.DataType, start: date | None, first: int = 0) -> pl.Expr:
    """The period key of each row (rows already inside [start, end]): a window's rows all share its first day's.

    `expr` is a UTC timestamp or a day; a local day (already in its client's calendar) comes as a Date with
    the reference week's `first` weekday."""
    if grain == WINDOW and start is not None:
        return pl.lit(date_key(start, "day"), pl.Int32)
    return day_key(expr, grain, first) if first else period_key(expr, grain, dtype)


LOCAL_DAY = "__local_day"
TRUE_DAY = "__true_day"  # the local day before a week's alignment moves it (what --from/--to mean)
CALENDAR_MARGIN = timedelta(days=4)  # ±14 h of time zones and ±3 days of a week's alignment, rounded up


def _widened(start: date | None, end: date | None, calendars: Calendars | None) -> tuple[date | None, date | None]:
    """The UTC days to read for the local days [start, end]: a few more either side when periods are local."""
    if calendars is None:
        return start, end
    return (start - CALENDAR_MARGIN if start else None), (end + CALENDAR_MARGIN if end else None)


def _with_client(base: list[str], calendars: Calendars | None) -> list[str]:
    """The base columns plus client_id when rows of different clients are cut in different calendars."""
    many = calendars is not None and len(calendars.groups(weeks=True)) > 1
    return list(dict.fromkeys([*base, "client_id"])) if many else base


def _period_bounds(grain: str, start: date | None, end: date | None) -> tuple[pl.Expr, pl.Expr]:
    """The first and last day of each period (PERIOD key) inside [start, end]."""
    if grain == WINDOW and start is not None and end is not None:
        return pl.lit(start), pl.lit(end)
    first = key_to_date(pl.col(PERIOD), grain)
    last = key_to_date(pl.col(PERIOD) + key_step(grain), grain) - pl.duration(days=1)
    if start is not None:
        first = pl.max_horizontal(first, pl.lit(start))
    if end is not None:
        last = pl.min_horizontal(last, pl.lit(end))
    return first, last


def _base_frame(kpi: Kpi, plan: _Plan, results: dict[_Source, pl.DataFrame], keys: list[str],
                bounds: tuple[pl.Expr, pl.Expr]) -> pl.DataFrame:
    num, den, n_expr = plan.formulas[kpi.name]
    names = list(dict.fromkeys(m for text in (num, den, n_expr, kpi.measure) if text for m in sql_refs(text)))
    pieces, present, billed = [], {}, []
    for i, (source, measures) in enumerate(plan.sources.items()):
        cols = [m.name for m in measures if m.name in names]
        if kpi.type == "quantile" and any(k.name == kpi.name for k in plan.quantiles.get(source, [])):
            cols.append(quantile_column(kpi.name))
        if cols:
            flag = f"__has{i}"
            present.update({c: flag for c in cols})
            days = [pl.col(DAYS).alias(f"{DAYS}{i}"), pl.col(SINCE).alias(f"{SINCE}{i}")] if source.spread else []
            billed += [i] if source.spread else []
            pieces.append(results[source].select(pl.col(PERIOD).cast(pl.Int32), *keys[1:], *cols, *days,
                                                 pl.lit(True).alias(flag)))
    frame = _join_all(pieces, keys).with_columns(pl.col(names).fill_null(0.0))

    def side(text: str) -> pl.Expr:
        # a side none of whose tables has a row for this period/segment is unknown, not zero
        # (no invoice for the week: cost unknown); a table with rows elsewhere counts as 0
        flags = sorted({present[m] for m in sql_refs(text)})
        return pl.when(pl.any_horizontal(pl.col(flags).is_not_null())).then(pl.sql_expr(text).cast(pl.Float64))

    n = side(n_expr).fill_null(0).round().cast(pl.Int64) if n_expr else pl.lit(None, dtype=pl.Int64)
    if kpi.type == "quantile":
        value, numerator, denominator = pl.col(quantile_column(kpi.name)), pl.lit(None), pl.lit(None)
    elif kpi.type == "ratio":
        numerator, denominator = side(num or ""), side(den or "")
        value = _safe_ratio(numerator, denominator)
    else:
        numerator, denominator = side(num or ""), pl.lit(None)
        value = numerator
    if billed:  # money over a period only some of whose days are billed is a partial sum: unknown, not low
        first, last = bounds
        segment = keys[1:]
        whole = pl.all_horizontal([  # days before the segment's first billed day are before its contract, not unbilled
            pl.col(f"{DAYS}{i}").fill_null(0) >= (last - pl.max_horizontal(
                first, pl.col(f"{SINCE}{i}").min().over(segment) if segment else pl.col(f"{SINCE}{i}").min())
            ).dt.total_days() + 1
            for i in billed])
        value, numerator = pl.when(whole).then(value), pl.when(whole).then(numerator)
    return frame.select(*keys, value.alias("value"), numerator.alias("numerator"),
                        denominator.alias("denominator"), n.alias("n"))


def _derived_frame(kpi: Kpi, per_kpi: dict[str, pl.DataFrame], catalog: Catalog, keys: list[str]) -> pl.DataFrame:
    deps = derived_refs(kpi)
    n_from = kpi.n or deps[0]
    pieces = [per_kpi[d].select(*keys, pl.col("value").alias(d)) for d in deps]
    pieces.append(per_kpi[n_from].select(*keys, pl.col("n").alias("__n")))
    frame = _join_all(pieces, keys)
    simple = [d for d in deps if catalog.kpis[d].type == "simple"]
    frame = frame.with_columns(pl.col(simple).fill_null(0.0), pl.col("__n").fill_null(0))
    if kpi.expression:
        value = pl.sql_expr(kpi.expression).cast(pl.Float64)
        numerator, denominator = value, pl.lit(None, dtype=pl.Float64)
    else:
        numerator, denominator = pl.sql_expr(kpi.numerator or ""), pl.sql_expr(kpi.denominator or "")
        value = _safe_ratio(numerator, denominator)
    value = pl.when(value.is_finite()).then(value).otherwise(None)
    return frame.select(*keys, value.alias("value"), numerator.alias("numerator"),
                        denominator.alias("denominator"), pl.col("__n").alias("n"))
