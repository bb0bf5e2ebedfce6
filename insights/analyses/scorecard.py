"""Vendors and sites under one framework: a scorecard (outcomes first, then efficiency and cost),
a mix-adjusted comparison by direct standardisation, funnel-plot limits against the peer rate,
the onshore/nearshore/offshore grouping, and volume share with its concentration (HHI).

Direct standardisation: each entity's rate per stratum (channel by default) is re-weighted to the
mix of the whole view, `adjusted = Σ_s w_s r_{e,s} / Σ_s w_s` over the strata the entity serves
(`coverage` = Σ w_s of those strata), so a site that takes the hard channels is not punished for
its mix; `adjustment = adjusted − crude` is shown beside it.

>>> card = scorecard(ws, scope, level="vendor", week=date(2026, 10, 26))   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from connectors.store import Scope, Workspace
from insights import contracts
from insights.catalog import Catalog, load_catalog
from insights.errors import KpiError
from insights.analyses.sla import _kpi_frame
from insights.metrics.kpis import WINDOW
from insights.view import View
from insights.money import invoiced_through, unbilled_reason

# the framework, in reading order: what customers get first, then how efficiently, then the price
FRAMEWORK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Outcomes", ("csat", "fcr", "repeat_contact_rate", "sla_first_response", "sla_resolution")),
    ("Efficiency", ("aht", "first_response_time_median")),
    ("Cost", ("cost_per_resolved_contact",)),
)
LEVELS = {"vendor": "vendor_id", "site": "site_id", "tier": "site_tier"}
VOLUME_KPI = "tickets_created"
SCORECARD_WEEKS = 4
Z95, Z998 = 1.959963984540054, 3.090232306167813


class ScorecardError(KpiError):
    """A scorecard asked for at an unknown level or for a KPI that cannot be standardised."""


@dataclass(frozen=True)
class Scorecard:
    """Entities × framework KPIs over `start`..`end`, with the peer (whole view) value of each KPI.

    `frame`: entity, group, kpi, within (the channel a KPI comparable only within one channel is
    compared in; null for the others), label, value, n, peer (in that channel), vs_peer, better (bool: on
    the good side of the peer), unit, format, direction, note (why a cost is '–', or over which weeks it
    runs), target (the contract target in force over the window for the entity's work, in that channel;
    null without one or where terms differ) and verdict ('met' / 'missed' against it by its comparator,
    durations and costs as well as rates; null without a contract target). `volume`: entity, tickets,
    share; `hhi` on 0–10,000.
    """

    level: str
    start: date
    end: date
    frame: pl.DataFrame
    volume: pl.DataFrame
    hhi: float


def _level(level: str) -> str:
    try:
        return LEVELS[level]
    except KeyError:
        raise ScorecardError(f"unknown scorecard level '{level}'; use one of {', '.join(LEVELS)}") from None


def window(week: date, weeks: int = SCORECARD_WEEKS) -> tuple[date, date]:
    """The `weeks` whole weeks ending with the week of `week` (Monday .. Sunday)."""
    return week - timedelta(weeks=weeks - 1), week + timedelta(days=6)


def _whole(ws: Workspace, view: View, kpis: Sequence[str], start: date, end: date,
           by: Sequence[str], catalog: Catalog) -> pl.DataFrame:
    """KPIs over the whole window (year grain would split a window across years, so sum the weeks).

    A money KPI sums only the weeks it has a value for (the fully invoiced ones): cost over invoiced
    days against the contacts of the same days, never a part-billed window over all its contacts.
    """
    frame = _kpi_frame(ws, view, kpis, tuple(by), start, end, "week", catalog)
    billed = [k for k in kpis if catalog.kpis[k].unit == "currency"]
    unbilled = pl.col("kpi").is_in(billed) & pl.col("value").is_null()
    frame = frame.with_columns(pl.when(~unbilled).then(pl.col(c)).alias(c) for c in ("numerator", "denominator", "n"))
    denominator = pl.when(pl.col("denominator").is_not_null().any()).then(pl.col("denominator").sum())
    return (frame.group_by([*by, "kpi"]).agg(pl.col("numerator").sum(), denominator.alias("denominator"), pl.col("n").sum(),
                                             (~unbilled).any().alias("__known"))
                 .with_columns(pl.when(~pl.col("__known")).then(None)
                               .when(pl.col("denominator").is_null()).then(pl.col("numerator"))
                               .when(pl.col("denominator") != 0).then(pl.col("numerator") / pl.col("denominator"))
                               .alias("value"))
                 .drop("__known"))


def scorecard(ws: Workspace, scope: Scope, *, level: str, week: date, weeks: int = SCORECARD_WEEKS,
              filters: Mapping[str, Any] | None = None, catalog: Catalog | None = None) -> Scorecard:
    """The framework's KPIs per vendor, site or tier over the `weeks` ending with `week`.

    Ratio KPIs are Σ/Σ over the window; the others (median first response, ticket counts) are computed
    by the KPI engine over the whole window at once (grain 'window'), so each equals `compute_kpis` for
    the same window: the median of the window's contacts, never an average of weekly medians. A KPI the
    catalog marks `within` a dimension gets one row per value of it (first response median per channel),
    never a pooled one.
    """
    catalog = catalog or load_catalog()
    column = _level(level)
    view = View.of(scope, filters, week, config=ws.config)
    start, end = window(week, weeks)
    kpis = [k for _, names in FRAMEWORK for k in names if k in catalog.kpis]

    def measured(names: list[str], within: str | None) -> pl.DataFrame:
        """`names` per entity (and per value of `within`) over the window, each beside its peer value."""
        extra = (within,) if within else ()
        ratios = [k for k in names if catalog.kpis[k].type == "ratio"]
        per = _whole(ws, view, ratios, start, end, (column, *extra), catalog)
        peer = _whole(ws, view, ratios, start, end, extra, catalog).select("kpi", *extra, pl.col("value").alias("peer"))
        others = [k for k in names if catalog.kpis[k].type != "ratio"]
        if others:
            whole = _kpi_frame(ws, view, others, (column, *extra), start, end, WINDOW, catalog)
            whole_peer = _kpi_frame(ws, view, others, extra, start, end, WINDOW, catalog)
            per = pl.concat([per, whole.select(column, *extra, "kpi", "value", "n")], how="diagonal_relaxed")
            peer = pl.concat([peer, whole_peer.select("kpi", *extra, pl.col("value").alias("peer"))], how="diagonal_relaxed")
        out = per.join(peer, on=["kpi", *extra], how="left")
        if within:
            out = out.filter(pl.col(within).is_not_null()).rename({within: "within"})
        return out.with_columns(pl.col("within").cast(pl.String) if within else pl.lit(None, pl.String).alias("within"))

    # a KPI comparable only within one channel (catalog `within`: a median over chat and email is mix) is compared
    # per channel, each vendor against the peer in that channel; the others over the whole pool
    dims = sorted({w for k in kpis if (w := catalog.kpis[k].within)})
    per = pl.concat([measured([k for k in kpis if not catalog.kpis[k].within] + [VOLUME_KPI], None),
                     *(measured([k for k in kpis if catalog.kpis[k].within == d], d) for d in dims)],
                    how="diagonal_relaxed")
    # a cost with no invoice line (in-house work is not invoiced) is unknown, not free; a window of
    # credit lines only (a channel filter keeps the SLA credits billed per channel) is no unit cost either
    money = [k for k in kpis if catalog.kpis[k].unit == "currency"]
    per = per.with_columns(pl.when(pl.col("kpi").is_in(money) & (pl.col("numerator").fill_null(0) <= 0))
                           .then(None).otherwise(pl.col("value")).alias("value"),
                           pl.when(pl.col("kpi").is_in(money) & (pl.col("peer") <= 0)).then(None)
                           .otherwise(pl.col("peer")).alias("peer"))
    group_of = {k: g for g, names in FRAMEWORK for k in names}
    meta = pl.DataFrame({
        "kpi": kpis, "group": [group_of[k] for k in kpis], "label": [catalog.kpis[k].label for k in kpis],
        "unit": [catalog.kpis[k].unit for k in kpis], "format": [catalog.kpis[k].format for k in kpis],
        "direction": [catalog.kpis[k].direction for k in kpis], "order": list(range(len(kpis))),
    })
    frame = (per.rename({column: "entity"}).filter(pl.col("entity").is_not_null())
                .join(meta, on="kpi")
                .with_columns((pl.col("value") - pl.col("peer")).alias("vs_peer"))
                .with_columns(pl.when(pl.col("direction") == "lower_is_better").then(pl.col("vs_peer") < 0)
                              .otherwise(pl.col("vs_peer") > 0).alias("better"))
                .sort(["order", "within", "entity"], nulls_last=True).drop("order"))
    vol = (per.filter((pl.col("kpi") == VOLUME_KPI) & pl.col(column).is_not_null())
              .select(pl.col(column).alias("entity"), pl.col("value").alias("tickets")))
    total = vol.get_column("tickets").sum() if vol.height else 0
    vol = vol.with_columns((pl.col("tickets") / total if total else pl.lit(None, pl.Float64)).alias("share")) \
             .sort("tickets", descending=True)
    hhi = float((vol.get_column("share").fill_null(0) ** 2).sum() * 10_000) if vol.height else 0.0
    frame = frame.with_columns(_cost_notes(ws, view.scope_for_read(), frame, column, money, start, end))
    return Scorecard(level, start, end, _judged(ws, view, frame, column, start, end), vol, hhi)


def _judged(ws: Workspace, view: View, frame: pl.DataFrame, column: str, start: date, end: date) -> pl.DataFrame:
    """Each cell beside the contract target in force over the window for its entity's work, and the verdict."""
    terms = contracts.read(ws, view.scope_for_read())
    base = contracts.in_view(view.scope_for_read(), view.filter_map)
    targets: list[float | None] = []
    verdicts: list[str | None] = []
    for entity, kpi, within, value in frame.select("entity", "kpi", "within", "value").iter_rows():
        if column not in contracts.CONDITIONS:  # a tier is no party to a contract
            target = None
        else:
            segment = {**base, column: entity, **({"channel": within} if within else {})}
            target = terms.in_force(kpi, segment, start, end)
        targets.append(None if target is None else target.value)
        verdicts.append(contracts.judge(target, None if value is None or math.isnan(value) else value))
    return frame.with_columns(pl.Series("target", targets, dtype=pl.Float64),
                              pl.Series("verdict", verdicts, dtype=pl.String))


def _cost_notes(ws: Workspace, scope: Scope, frame: pl.DataFrame, column: str, money_kpis: Sequence[str],
                start: date, end: date) -> pl.Series:
    """Per row: why a cost cell is '–', or that it covers only the window's fully invoiced weeks."""
    through = invoiced_through(ws, scope, by=column) if column in ("vendor_id", "site_id") else {}
    anyone = invoiced_through(ws, scope).get(None)
    notes: list[str | None] = []
    for entity, kpi, value in frame.select("entity", "kpi", "value").iter_rows():
        last = through.get(entity) if through else anyone
        if kpi not in money_kpis:
            notes.append(None)
        elif value is None:
            notes.append(unbilled_reason(last, start))
        elif last is not None and last < end:
            notes.append(f"fully invoiced weeks only: invoices run to {last:%d %b %Y}")
        else:
            notes.append(None)
    return pl.Series("note", notes, dtype=pl.String)


def standardise(rates: pl.DataFrame, *, entity: str = "entity", stratum: str = "stratum") -> pl.DataFrame:
    """Direct standardisation of per-entity, per-stratum ratios to the pooled mix of all entities.

    `rates` has entity, stratum, numerator, denominator. Returns entity, crude, adjusted,
    adjustment, coverage (share of the standard mix the entity serves), denominator.
    """
    r = rates.filter(pl.col("denominator") > 0)
    weights = r.group_by(stratum).agg(pl.col("denominator").sum().alias("w"))
    weights = weights.with_columns(pl.col("w") / pl.col("w").sum())
    joined = r.join(weights, on=stratum).with_columns((pl.col("numerator") / pl.col("denominator")).alias("rate"))
    return (joined.group_by(entity).agg(
                (pl.col("numerator").sum() / pl.col("denominator").sum()).alias("crude"),
                ((pl.col("rate") * pl.col("w")).sum() / pl.col("w").sum()).alias("adjusted"),
                pl.col("w").sum().alias("coverage"),
                pl.col("denominator").sum())
            .with_columns((pl.col("adjusted") - pl.col("crude")).alias("adjustment"))
            .select(entity, "crude", "adjusted", "adjustment", "coverage", "denominator")
            .sort(entity))


def mix_adjusted(ws: Workspace, scope: Scope, *, kpi: str, level: str, week: date, weeks: int = SCORECARD_WEEKS,
                 stratum: str = "channel", filters: Mapping[str, Any] | None = None,
                 catalog: Catalog | None = None) -> pl.DataFrame:
    """Crude and channel-mix-adjusted `kpi` per vendor/site/tier (see `standardise`), with peer limits.

    Adds `peer` (the pooled rate) and, for proportions, 95 % funnel limits at each entity's n.
    """
    catalog = catalog or load_catalog()
    column = _level(level)
    if kpi not in catalog.kpis or catalog.kpis[kpi].type != "ratio":
        raise ScorecardError(f"'{kpi}' cannot be mix-adjusted: only ratio KPIs (Σ/Σ) can be re-weighted; "
                             f"pick csat, fcr, sla_first_response ...")
    start, end = window(week, weeks)
    rates = _whole(ws, View.of(scope, filters, week, config=ws.config), [kpi], start, end, (column, stratum), catalog)
    rates = rates.filter(pl.col(column).is_not_null()).rename({column: "entity", stratum: "stratum"})
    out = standardise(rates)
    pooled = rates.get_column("numerator").sum() / rates.get_column("denominator").sum() if rates.height else None
    return out.with_columns(pl.lit(pooled, pl.Float64).alias("peer"))


def funnel_limits(peer: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Funnel-plot control limits of a proportion `peer` at sample size `n` (normal approximation, clipped to 0..1)."""
    if n <= 0 or peer is None or math.isnan(peer):
        return (0.0, 1.0)
    half = z * math.sqrt(max(peer * (1 - peer), 0.0) / n)
    return (max(0.0, peer - half), min(1.0, peer + half))


def funnel(points: pl.DataFrame, *, peer: float | None = None) -> pl.DataFrame:
    """Each entity's proportion against 95 % and 99.8 % limits around the pooled `peer` at its own n.

    `points` has entity, numerator, denominator; `status` is 'above', 'below' (outside 99.8 %),
    'watch' (outside 95 % only) or 'within'.
    """
    p = points.filter(pl.col("denominator") > 0)
    if peer is None:
        peer = p.get_column("numerator").sum() / p.get_column("denominator").sum() if p.height else float("nan")
    rows = []
    for e, num, den in p.select("entity", "numerator", "denominator").iter_rows():
        rate = num / den
        lo95, hi95 = funnel_limits(peer, den, Z95)
        lo998, hi998 = funnel_limits(peer, den, Z998)
        status = ("above" if rate > hi998 else "below" if rate < lo998 else
                  "watch" if rate > hi95 or rate < lo95 else "within")
        rows.append({"entity": e, "rate": rate, "n": den, "peer": peer, "lower95": lo95, "upper95": hi95,
                     "lower998": lo998, "upper998": hi998, "status": status})
    return pl.DataFrame(rows, schema={"entity": pl.String, "rate": pl.Float64, "n": pl.Float64, "peer": pl.Float64,
                                      "lower95": pl.Float64, "upper95": pl.Float64, "lower998": pl.Float64,
                                      "upper998": pl.Float64, "status": pl.String})


def funnel_curve(peer: float, n_max: float, points: int = 60) -> pl.DataFrame:
    """The funnel's limit lines from n = 10 to `n_max` (for drawing)."""
    ns = [10 * (max(n_max, 20) / 10) ** (i / (points - 1)) for i in range(points)]
    rows = [(n, *funnel_limits(peer, n, Z95), *funnel_limits(peer, n, Z998)) for n in ns]
    return pl.DataFrame(rows, schema=["n", "lower95", "upper95", "lower998", "upper998"], orient="row")


def site_groups(ws: Workspace) -> pl.DataFrame:
    """site_id, vendor_id, tier (onshore/nearshore/offshore) and name from bpo.toml."""
    sites = ws.config.sites
    return pl.DataFrame({
        "site_id": [s.get("id") for s in sites], "vendor_id": [s.get("vendor") for s in sites],
        "tier": [s.get("tier") for s in sites], "name": [s.get("name") or s.get("id") for s in sites],
    }, schema={"site_id": pl.String, "vendor_id": pl.String, "tier": pl.String, "name": pl.String})
