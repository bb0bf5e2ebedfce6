"""SLA trends: every contractual target of `sla_targets`, its attainment week by week, breach
streaks, penalty exposure, attainment split by a dimension, and the tickets behind one point.

Attainment is Σmet/Σwith-target of the catalog KPI the target names (`metric`), computed over
exactly the work the target binds (client, and each of vendor, site, channel, priority, queue the
target row names), in the weeks the target was in force (effective-dated; the newest version wins
in a week where it changed).  Credits at stake are `insights.metrics.credits.credits_at_stake`, the one
definition the invoice check uses (per site and channel lane, per month), for the month of the
review week's Sunday: labelled month to date until the month is complete, and not shown in its
first days; a site or channel filter keeps the lanes of that site or channel, each computed whole.

>>> view = sla_view(ws, scope, week=date(2026, 10, 26), filters={"client": "acme"})  # doctest: +SKIP
>>> view.targets.select("target_id", "value", "status", "streak", "value_mtd")         # doctest: +SKIP
>>> view.credits.text                                                                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from connectors.store import Scope, Workspace
from insights import contracts
from insights import format
from insights.catalog import Catalog, load_catalog
from insights.errors import KpiError
from insights.metrics.kpis import compute_in_view
from insights.metrics.periods import period_first_day
from insights.view import DIMENSIONS, Calendars, View
from insights.metrics.credits import CreditsAtStake, credits_at_stake

# target row column -> the dimension compute_kpis splits by
TARGET_DIMENSIONS = contracts.CONDITIONS
# dimensions a target's conditions map may name that the attainment is computed by (ticket columns)
MAP_DIMENSIONS = contracts.MAP_DIMENSIONS
SPLITS = {"vendor": "vendor_id", "site": "site_id", "channel": "channel", "priority": "priority"}
HISTORY_WEEKS = 26
# which tickets a metric's drill-down reads, and how a breach is explained
DRILL = {
    "sla_first_response": ("first_response_breached", "first_response_seconds", "first_response_target_seconds",
                           "first_response_at", "first reply"),
    "sla_resolution": ("resolution_breached", "resolution_seconds", "resolution_target_seconds",
                       "resolved_at", "resolution"),
}
TARGET_SCHEMA = contracts.COLUMNS


class SlaError(KpiError):
    """An SLA question that cannot be answered as asked (unknown metric or dimension)."""


@dataclass(frozen=True)
class SlaView:
    """The SLA page's numbers for one view and week.

    `targets`: one row per contractual target in force in the week (value, n, status, streak,
    weeks missed of the history, tickets short of the target, month-to-date attainment), misses
    first, the most tickets short first.  A target on a rate (attainment, abandonment) counts points and
    tickets short; one on a duration or an amount (AHT, ASA: lower is better) is judged by its
    comparator alike, with `gap` in the KPI's unit and no points.  `value_text` and `target_text` are
    each read in its KPI's format ('91.2%', '5.0 min').
    `weekly`: one row per target and week of the history (period, value, n, attainment_target, met).
    """

    week: date
    targets: pl.DataFrame
    weekly: pl.DataFrame
    history_start: date
    credits: CreditsAtStake | None = None  # service credits owed for the month of the week's Sunday, in view


    @property
    def missed(self) -> int:
        """Targets missed in the review week."""
        return int((self.targets.get_column("status") == "missed").sum()) if self.targets.height else 0


def contract_targets(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """The `sla_targets` rows that bind work in the view (a target naming another vendor, site or channel is dropped)."""
    view = View.of(scope, filters)
    return contracts.read(ws, view.scope_for_read()).binding(view.filter_map)


def _kpi_frame(ws: Workspace, view: View, metrics: Sequence[str], by: Sequence[str],
               start: date, end: date, grain: str, catalog: Catalog) -> pl.DataFrame:
    """`metrics` per period and `by` over the rows the row filters keep (split by them, then kept); a metric whose
    tables cannot honour a filter (no language on interval reports) is for every value of it (`compute_in_view`)."""
    return compute_in_view(ws, view, list(metrics), grain=grain, by=tuple(by), start=start, end=end, catalog=catalog)


def _shape(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(c for c in (*TARGET_DIMENSIONS, *MAP_DIMENSIONS) if row.get(c) is not None)


def _measurable(targets: pl.DataFrame) -> pl.DataFrame:
    """Targets whose work the attainment can be cut to: each condition one value of a column of the work.

    A `conditions` map's single values become columns (organisation 509974 is measured like a queue); a term
    accepting several values of one dimension, or naming a dimension the tickets do not store, has no
    attainment row (a figure over other work would be wrong)."""
    extra = [pl.lit(None, pl.String).alias(c) for c in MAP_DIMENSIONS if c not in targets.columns]
    targets = targets.with_columns(extra) if extra else targets
    if "conditions" not in targets.columns or targets.get_column("conditions").is_null().all():
        return targets
    keep, rows = [], []
    for r in targets.iter_rows(named=True):
        values = {k: v for k, v in r.items()}
        ok = True
        for dim, accepted in contracts.parse_conditions(r["conditions"]):
            one = next(iter(accepted)) if len(accepted) == 1 else None
            if one is None or dim not in (*TARGET_DIMENSIONS, *MAP_DIMENSIONS) or r.get(dim) not in (None, one):
                ok = False
                break
            values[dim] = one
        keep.append(ok)
        rows.append(values)
    return pl.DataFrame([r for r, k in zip(rows, keep) if k], schema=targets.schema)


def _attainment(ws: Workspace, view: View, targets: pl.DataFrame, start: date,
                end: date, grain: str, catalog: Catalog) -> pl.DataFrame:
    """Each target row joined to the attainment of the work it binds, per period."""
    out = []
    ratio = {k for k, v in catalog.kpis.items() if v.type == "ratio"}
    shaped = _measurable(targets.filter(pl.col("metric").is_in(sorted(ratio)))).with_columns(
        pl.concat_str([pl.col(c).is_not_null().cast(pl.Int8).cast(pl.String)
                       for c in (*TARGET_DIMENSIONS, *MAP_DIMENSIONS)]).alias("_shape"))
    for (_, ), group in shaped.group_by(["_shape"], maintain_order=True):
        dims = _shape(group.row(0, named=True))
        by = ("client_id", *dims)
        values = _kpi_frame(ws, view, sorted(set(group["metric"])), by, start, end, grain, catalog)
        joined = group.drop("_shape").join(values.rename({"kpi": "metric"}), on=["metric", *by], how="inner")
        out.append(joined)
    if not out:
        return pl.DataFrame()
    frame = pl.concat(out, how="diagonal_relaxed")
    period_end = pl.col("period").dt.offset_by("1mo" if grain == "month" else "1w").dt.offset_by("-1d")
    return contracts.newest(frame.filter(contracts.effective(pl.col("period"), period_end)), ["target_id", "period"])


def _met(value: pl.Expr, target: pl.Expr, comparator: pl.Expr) -> pl.Expr:
    return pl.when(value.is_null()).then(None).when(comparator == "<=").then(value <= target).otherwise(value >= target)


def _points_short(value: pl.Expr, target: pl.Expr, comparator: pl.Expr) -> pl.Expr:
    gap = pl.when(comparator == "<=").then(value - target).otherwise(target - value)
    return (pl.max_horizontal(gap, pl.lit(0.0)) * 100).round(2)


def _gap(value: pl.Expr, target: pl.Expr, comparator: pl.Expr) -> pl.Expr:
    """How far on the wrong side of the target, in the KPI's unit (0 when met)."""
    return pl.max_horizontal(pl.when(comparator == "<=").then(value - target).otherwise(target - value), pl.lit(0.0))


def _texts(frame: pl.DataFrame, catalog: Catalog) -> list[pl.Series]:
    """value_text and target_text: each row's attainment and target as its KPI reads them."""
    rows = frame.select("metric", "value", "attainment_target").iter_rows()
    kpis = catalog.kpis
    pairs = [(format.value(kpis[m], v), format.value(kpis[m], t)) if m in kpis else (format.EMPTY, format.EMPTY)
             for m, v, t in rows]
    return [pl.Series("value_text", [p[0] for p in pairs], dtype=pl.String),
            pl.Series("target_text", [p[1] for p in pairs], dtype=pl.String)]


def _streaks(weekly: pl.DataFrame, week: date) -> pl.DataFrame:
    """Per target: consecutive missed weeks ending at `week`, and weeks missed in the history."""
    rows = []
    for (tid,), g in weekly.filter(pl.col("period") <= week).sort("period").group_by(["target_id"], maintain_order=True):
        met = g.get_column("met").to_list()
        streak = 0
        for m in reversed(met):
            if m is False:
                streak += 1
            else:
                break
        rows.append({"target_id": tid, "streak": streak, "weeks_missed": sum(m is False for m in met),
                     "weeks_measured": sum(m is not None for m in met)})
    return pl.DataFrame(rows, schema={"target_id": pl.String, "streak": pl.Int64, "weeks_missed": pl.Int64,
                                      "weeks_measured": pl.Int64})


def sla_view(ws: Workspace, scope: Scope, *, week: date, filters: Mapping[str, Any] | None = None,
             history_weeks: int = HISTORY_WEEKS, catalog: Catalog | None = None) -> SlaView:
    """Every target in force in `week` (a Monday) with its attainment, streak and penalty exposure.

    Example: `sla_view(ws, viewer.scope, week=date(2026, 10, 26), filters={"client": "acme"})`.
    """
    catalog = catalog or load_catalog()
    view = View.of(scope, filters, week, config=ws.config)
    start = week - timedelta(weeks=history_weeks - 1)
    targets = contract_targets(ws, scope, view.filter_map)
    weekly = _attainment(ws, view, targets, start, week + timedelta(days=6), "week", catalog)
    if weekly.is_empty():
        empty = pl.DataFrame(schema={**TARGET_SCHEMA, "period": pl.Date, "value": pl.Float64})
        return SlaView(week, empty, empty, start)
    value, target, comp = pl.col("value"), pl.col("attainment_target"), pl.col("comparator")  # filled by contracts
    rate = pl.col("metric").is_in([k for k, v in catalog.kpis.items() if v.unit == "percent"])
    weekly = weekly.with_columns(_met(value, target, comp).alias("met"),
                                 pl.when(rate).then(_points_short(value, target, comp)).alias("points_short"),
                                 _gap(value, target, comp).alias("gap"))
    weekly = weekly.with_columns((pl.col("points_short") / 100 * pl.col("denominator")).ceil().alias("tickets_short"))
    month_start = week.replace(day=1) if (week + timedelta(days=6)).month == week.month else (week + timedelta(days=6)).replace(day=1)
    # credits are owed on the work the contract binds, not on the slice in view: a site or channel filter
    # narrows which targets are listed, never the attainment their credit is computed on
    monthly = _attainment(ws, View.of(scope, config=ws.config), targets, month_start, week + timedelta(days=6), "month", catalog)
    if monthly.height:
        monthly = monthly.with_columns(pl.when(rate).then(_points_short(value, target, comp)).alias("points_short_mtd"))
        monthly = monthly.select("target_id", pl.col("value").alias("value_mtd"), pl.col("n").alias("n_mtd"),
                                 "points_short_mtd")
    else:
        monthly = pl.DataFrame(schema={"target_id": pl.String, "value_mtd": pl.Float64, "n_mtd": pl.Int64,
                                       "points_short_mtd": pl.Float64})
    this_week = weekly.filter(pl.col("period") == week)
    current = (this_week.join(_streaks(weekly, week), on="target_id", how="left")
                        .join(monthly, on="target_id", how="left")
                        .with_columns(pl.when(pl.col("met").is_null()).then(pl.lit("no data"))
                                      .when(pl.col("met")).then(pl.lit("met")).otherwise(pl.lit("missed"))
                                      .alias("status"))
                        .sort(["met", "tickets_short", "n"], descending=[False, True, True], nulls_last=True))
    current = current.with_columns(*_texts(current, catalog))
    credits = credits_at_stake(ws, view.scope_for_read(), month=week + timedelta(days=6), through=week + timedelta(days=6))
    lanes = credits.lanes
    for name in ("site", "channel"):
        if name in view.filter_map:
            lanes = lanes.filter(pl.col(DIMENSIONS[name]) == view.filter_map[name])
    return SlaView(week, current, weekly.sort(["target_id", "period"]), start, replace(credits, lanes=lanes))


def attainment_by(ws: Workspace, scope: Scope, *, metric: str, split: str, start: date, end: date,
                  filters: Mapping[str, Any] | None = None, catalog: Catalog | None = None) -> pl.DataFrame:
    """Weekly attainment of `metric` per value of `split` (vendor, site, channel or priority).

    Returns period, `split`, value, numerator, denominator, n (Σ/Σ over the filtered work).
    """
    catalog = catalog or load_catalog()
    if split not in SPLITS:
        raise SlaError(f"cannot split SLA attainment by '{split}'; use one of {', '.join(SPLITS)}")
    if metric not in catalog.kpis or catalog.kpis[metric].type != "ratio":
        raise SlaError(f"'{metric}' is not a ratio KPI of the catalog; SLA attainment needs one "
                       f"(e.g. sla_first_response, sla_resolution, service_level)")
    column = SPLITS[split]
    frame = _kpi_frame(ws, View.of(scope, filters), [metric], (column,), start, end, "week", catalog)
    return frame.drop("kpi").rename({column: split}).sort(["period", split])


def target_line(targets: pl.DataFrame, metric: str, segment: Mapping[str, str], periods: Sequence[date]) -> list[float | None]:
    """Per week, the one contract target binding every work of `segment` (None where terms differ or none binds)."""
    return contracts.Contracts.of(targets).line(metric, segment, periods)


def tickets_behind(ws: Workspace, scope: Scope, *, metric: str, week: date, filters: Mapping[str, Any] | None = None,
                   segment: Mapping[str, str] | None = None, breached_only: bool = False, limit: int = 500) -> pl.DataFrame:
    """The tickets behind one point of an SLA chart: ids, times, target, breach and its reason (never bodies).

    `segment` adds split values (vendor, site, channel, priority) to the filters; breached tickets first.
    """
    lf = _behind(ws, scope, metric, week, filters, segment)  # (checks the metric first)
    breached, actual, target, at, what = DRILL[metric]
    if breached_only:
        lf = lf.filter(pl.col(breached))
    cols = ["ticket_id", "client_id", "vendor_id", "site_id", "channel", "priority", "queue", "created_at", at,
            actual, target, breached]
    frame = lf.select(cols).sort([breached, "created_at"], descending=[True, False]).head(limit).collect()
    reasons = [
        ("met" if not b else
         f"no {what} yet" if a is None else
         f"{what} after {format.duration(a)} against a {format.duration(t)} target")
        for b, a, t in zip(frame[breached].to_list(), frame[actual].to_list(), frame[target].to_list())
    ]
    return frame.with_columns(pl.Series("breach_reason", reasons, dtype=pl.String))


def counts_behind(ws: Workspace, scope: Scope, *, metric: str, week: date, filters: Mapping[str, Any] | None = None,
                  segment: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(tickets, breached) behind one point of an SLA chart: the whole count, however many rows are listed."""
    lf = _behind(ws, scope, metric, week, filters, segment)
    row = lf.select(pl.len().alias("n"), pl.col(DRILL[metric][0]).cast(pl.Int64).sum().alias("b")).collect()
    return int(row["n"][0]), int(row["b"][0] or 0)


def _behind(ws: Workspace, scope: Scope, metric: str, week: date, filters: Mapping[str, Any] | None,
            segment: Mapping[str, str] | None) -> pl.LazyFrame:
    """The tickets of one chart point (the view's filters, the split value, the week) that carry the target."""
    if metric not in DRILL:
        raise SlaError(f"no ticket drill-down for '{metric}'; tickets carry {', '.join(DRILL)} "
                       f"(service level is measured on queue intervals)")
    breached = DRILL[metric][0]
    view = View.of(scope, {**dict(filters or {}), **{k: v for k, v in dict(segment or {}).items() if k in DIMENSIONS}}, config=ws.config)
    lf = view.apply(ws.scan("tickets", view.scope_for_read()), rows_only=True)
    if segment and "priority" in segment:
        lf = lf.filter(pl.col("priority") == segment["priority"])
    cals = Calendars.of(ws.config, view.scope_for_read().clients)  # the week the chart point's KPI cut, in local days
    in_week = period_first_day(pl.col("created_at"), "week", pl.Datetime("us", "UTC"), cals) == week
    return lf.filter(pl.col("created_at").is_not_null() & in_week
                     & pl.col(breached).is_not_null() & (pl.col("status").fill_null("") != "deleted"))
