"""KPIs from the store's daily aggregates: thousands of (client, vendor, site, local day, dimension) rows
instead of a pass over every ticket.

The store keeps the aggregates (connectors/store/aggregates.py, committed with the rows in one manifest
swap); this module says WHAT is kept — `aggregate_spec(catalog)` turns the catalog into plain data the store
evaluates without importing `insights/` — and reads them back into the KPI formulas of `compute_kpis`
(`kpis._kpis_from_aggregates`, the one place KPI formulas run), so a KPI from the aggregates is the same
formula over the same measures.

Kept: every `count` and `sum` measure of `tickets` whose rows decide alone (no window over other rows),
per client × vendor × site × the client's LOCAL day, and × one of the catalog's segment dimensions at a
time (channel, priority, contact_reason, handled_by). Not kept, so `compute_kpis` answers them from the rows:
quantiles (a median of medians is not the median; their exact inputs are the rows), distinct counts,
open-at-period-end backlogs, measures over a window of other rows (is_repeat_7d: a later ticket, possibly
in the next month's partition, changes an earlier ticket's flag), hour and weekday splits, and the other
tables (intervals combine with contact records by rules; invoices spread over date ranges in a currency).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping, Sequence

import polars as pl

from connectors.schema import TABLES
from connectors.store import Scope, Workspace
from connectors.store.aggregates import DAY, DIM, REBUILD, ROWS, TENANT, VALUE, AggregatesUnavailable, fingerprint
from insights.catalog import Catalog, derived_refs, load_catalog, sql_refs
from insights.catalog.rules import SEGMENT_DIMENSIONS
from insights.errors import KpiError
from insights.metrics.kpis import (COUNTED, PERIOD, _check_query, _derived_closure, _key_grain, _kpis_from_aggregates,
                                   _period_key, _plan, _range_filter)
from insights.metrics.periods import by_client
from insights.view import Calendars

TABLE = "tickets"
KEPT_AGGS = ("count", "sum")
WHERE = COUNTED  # rows a KPI never counts (kept for lineage) are left out: the same rule as compute_from_frames


def aggregate_spec(catalog: Catalog | None = None, table: str = TABLE) -> dict[str, Any]:
    """The aggregates the store keeps for `table`, as data (derived columns, measures, dimensions, fingerprint)."""
    catalog = catalog or load_catalog()
    measures: list[dict[str, Any]] = []
    columns: list[dict[str, Any]] = []
    for m in catalog.measures.values():
        if m.table != table or m.agg not in KEPT_AGGS or m.spread or m.until:
            continue
        closure = _derived_closure(list(m.inputs), table, catalog)
        if any(c.window for c in closure):
            continue
        measures.append({"name": m.name, "agg": m.agg, "value": m.expression or m.column, "filter": m.filter,
                         "time": m.time})
        for c in closure:
            if c.name not in [x["name"] for x in columns]:
                columns.append({"name": c.name, "expression": c.expression})
    dims = [d for d in SEGMENT_DIMENSIONS if d not in TENANT and d in TABLES[table].columns]
    spec: dict[str, Any] = {"version": 1, "table": table, "where": WHERE.get(table), "columns": columns,
                            "measures": measures, "dims": dims}
    spec["fingerprint"] = fingerprint(spec)
    return spec


def kept_kpis(catalog: Catalog, spec: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> dict[str, str]:
    """KPI name -> '' when the aggregates answer it, else why not."""
    kept = {m["name"] for m in spec["measures"]}
    out: dict[str, str] = {}

    def why(name: str) -> str:
        if name in out:
            return out[name]
        kpi = catalog.kpis[name]
        if kpi.type == "quantile":
            reason = "a quantile is exact only from the rows (a median of daily medians is not the median)"
        elif kpi.type == "derived":
            lost = [d for d in [*derived_refs(kpi), *([kpi.n] if kpi.n else [])] if why(d)]
            reason = f"it is built from {lost[0]}, which is not kept" if lost else ""
        else:
            num, den = kpi.formula(settings) if kpi.type == "ratio" else (kpi.numerator, None)
            refs = [r for text in (num, den, kpi.n) if text for r in sql_refs(text)]
            lost = [r for r in refs if r not in kept]
            reason = (f"its measure {lost[0]} is not kept (a distinct count, a backlog, a window over other rows "
                      f"or another table)") if lost else ""
        out[name] = reason
        return reason

    for name in catalog.kpis:
        why(name)
    return out


def kpis_from_aggregates(ws: Workspace, scope: Scope, kpis: Sequence[str] | None = None, *, grain: str = "week",
                         by: Sequence[str] = (), start: date | None = None, end: date | None = None,
                         catalog: Catalog | None = None) -> pl.DataFrame:
    """`compute_kpis` for the KPIs the aggregates keep, read from the stored daily aggregates (same frame shape).

    `kpis` None means every kept KPI; `by` is any of client_id, vendor_id, site_id plus at most one of the
    kept dimensions. Raises `AggregatesUnavailable` (rebuild them) when they are missing, stale or cut from
    another definition or calendar, and `KpiError` for a KPI or split they do not keep."""
    catalog = catalog or load_catalog()
    _check_query(grain, start, end)
    by = tuple(by)
    settings = ws.config.settings
    want = aggregate_spec(catalog)
    spec, rows = ws.aggregates(TABLE, scope)
    if spec.get("fingerprint") != want["fingerprint"]:
        raise AggregatesUnavailable(f"{ws.path}: the daily aggregates of '{TABLE}' were built from another catalog "
                                    f"definition; run '{REBUILD} --workspace {ws.path}'")
    reasons = kept_kpis(catalog, spec, settings)
    requested = list(kpis) if kpis is not None else [k for k, r in reasons.items() if not r]
    unknown = [k for k in requested if k not in reasons]
    if unknown:
        raise KpiError(f"unknown KPI(s): {', '.join(unknown)}; known KPIs: {', '.join(catalog.kpis)}")
    lost = [k for k in requested if reasons[k]]
    if lost:
        raise KpiError(f"{lost[0]} is not kept in the daily aggregates: {reasons[lost[0]]}; compute it from the rows "
                       f"(compute_kpis)")
    extra = [d for d in by if d not in TENANT]
    if len(extra) > 1 or any(d not in spec["dims"] for d in extra):
        raise KpiError(f"the daily aggregates split by {', '.join(TENANT)} and at most one of "
                       f"{', '.join(spec['dims'])} (asked: {', '.join(by)}); compute other splits from the rows")
    plan = _plan(catalog, requested, by, settings)
    cals = Calendars.of(ws.config, scope.clients)
    calendars = None if cals.utc_iso else cals
    first = calendars.reference.week_start if calendars else 0
    dim = extra[0] if extra else None
    rows = rows.filter(pl.col(DIM) == dim) if dim else rows.filter(pl.col(DIM).is_null())
    if dim:
        rows = rows.with_columns(pl.col(VALUE).alias(dim))
    local = pl.col(DAY)
    day = local
    if calendars is not None and _key_grain(grain) == "week":  # a client's own week filed under the reference week
        day = by_client(calendars, lambda zone, shift: local + pl.duration(days=shift) if shift else local, weeks=True)
    rows = (rows.with_columns(day.alias("__d")).filter(_range_filter("__d", pl.Date(), start, end))
                .with_columns(_period_key(pl.col("__d"), grain, pl.Date(), start, first).alias(PERIOD)))
    names = list(plan.sources)
    queries = []
    for source in names:
        measures = [m.name for m in plan.sources[source]]
        queries.append(rows.group_by([PERIOD, *by])
                           .agg(pl.col(ROWS + source.time).sum().alias("__n"),
                                *[pl.col(m).sum().cast(pl.Float64) for m in measures])
                           .filter(pl.col("__n") > 0).drop("__n"))
    results = dict(zip(names, pl.collect_all(queries))) if queries else {}
    return _kpis_from_aggregates(plan, results, catalog, grain, by, start, end, first)
