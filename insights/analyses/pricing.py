"""Pricing transparency: cost per (resolved) contact, invoice reconciliation, unused minimums, SLA credits, rates, what-if.

Invoices (`cost_invoices`) are checked line by line against what was measured: billed hours
against roster logged hours, billed contacts against tickets handled, amounts against quantity ×
rate, rates against the rate card, shortfall lines against the committed minimum, and credits
invoiced against the credits owed under `sla_targets.penalty_per_point`.  Each check is a named
rule in `RULES` (data, not branching code), so a flag says which rule fired and why.

The rate card comes from `[[rate_card]]` tables in bpo.toml (vendor, site, billing_model,
channel, rate); where none is declared, the rate a vendor bills most often for that line kind
stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from connectors.solved import solved_expr
from connectors.store import Scope, Workspace
from insights.errors import InsightsError
from insights.metrics.kpis import compute_kpis
from insights.metrics.periods import period_date, period_first_day
from insights.view import Calendars
from insights.money import invoiced_through, unbilled_reason
from insights.money import invoices as read_invoices
from insights.metrics.credits import (credits_owed)

LINE_KEYS = ("vendor_id", "invoice_id", "line_no")



class PricingError(InsightsError):
    """A pricing question cannot be answered (no invoices in scope, unknown site, bad share)."""


@dataclass(frozen=True)
class Rule:
    """One reconciliation check: its name, what it means, and the condition (over a line frame) that fires it."""

    name: str
    meaning: str
    fires: pl.Expr


def _rel(a: str, b: str) -> pl.Expr:
    return (pl.col(a) - pl.col(b)) / pl.max_horizontal(pl.col(b).abs(), pl.lit(1.0))


def rules(tolerance: float = 0.02, money: float = 1.0) -> tuple[Rule, ...]:
    """The reconciliation rules at a relative `tolerance` (quantities) and an absolute `money` tolerance."""
    hours = pl.col("billing_model").is_in(["per_hour", "per_fte"])
    contacts = pl.col("billing_model") == "per_contact"
    return (
        Rule("hours_over_billed", "billed hours exceed the roster's logged hours",
             hours & (_rel("quantity", "measured") > tolerance)),
        Rule("hours_under_billed", "billed hours fall short of the roster's logged hours",
             hours & (_rel("quantity", "measured") < -tolerance)),
        Rule("contacts_over_billed", "billed contacts exceed the contacts handled",
             contacts & (_rel("quantity", "measured") > tolerance)),
        Rule("contacts_under_billed", "billed contacts fall short of the contacts handled",
             contacts & (_rel("quantity", "measured") < -tolerance)),
        Rule("amount_mismatch", "the amount is not quantity × unit rate",
             pl.col("unit_rate").is_not_null() & pl.col("quantity").is_not_null()
             & (pl.col("billing_model") != "credit")
             & ((pl.col("amount") - pl.col("quantity") * pl.col("unit_rate")).abs() > money)),
        Rule("rate_above_card", "the unit rate is above the rate card",
             pl.col("card_rate").is_not_null() & (pl.col("unit_rate") > pl.col("card_rate") * (1 + 1e-6))),
        Rule("shortfall_not_owed", "a minimum-shortfall line bills more than the committed minimum minus contacts handled",
             (pl.col("billing_model") == "minimum_shortfall")
             & (pl.col("quantity") - pl.col("measured") > pl.max_horizontal(pl.col("measured") * tolerance, pl.lit(1.0)))),
    )


# --------------------------------------------------------------------------- measured quantities


def _logged_hours(ws: Workspace, scope: Scope) -> pl.LazyFrame:
    return (ws.scan("staffing_roster", scope)
            .group_by("client_id", "vendor_id", "site_id", "date").agg((pl.col("logged_seconds").sum() / 3600).alias("hours")))


def _handled(ws: Workspace, scope: Scope) -> pl.LazyFrame:
    day = period_date(pl.col("created_at"), "day", pl.Datetime("us", "UTC"), Calendars.of(ws.config, scope.clients))
    return (ws.scan("tickets", scope)
            .group_by("client_id", "vendor_id", "site_id", "channel", day.alias("date"))  # the client's local day
            .agg(pl.len().alias("contacts"), solved_expr().sum().alias("resolved"),  # connectors/solved.py
                 pl.col("handle_seconds").sum().alias("handle_seconds")))


def _in_period(measured: pl.DataFrame, lines: pl.DataFrame, keys: list[str], value: str) -> pl.Series:
    """Sum of `value` over measured rows matching each line's keys (null key: any) and period."""
    out = []
    for line in lines.iter_rows(named=True):
        f = measured.filter(pl.col("date").is_between(line["period_start"], line["period_end"]))
        for k in keys:
            if line.get(k) is not None:
                f = f.filter(pl.col(k) == line[k])
        out.append(float(f[value].sum()) if f.height else 0.0)
    return pl.Series(out, dtype=pl.Float64)


def rate_card(ws: Workspace, invoices: pl.DataFrame) -> pl.DataFrame:
    """(vendor, site, billing_model, channel) → card rate: bpo.toml `[[rate_card]]`, else the modal billed rate.

    Only the cards of vendors whose invoices the viewer sees (`invoices` is read through its scope): a
    competitor's rates never reach another vendor's page."""
    declared = ws.config.rate_cards
    if declared:
        return pl.DataFrame([{"vendor_id": r.vendor, "site_id": r.site, "billing_model": r.billing_model,
                              "channel": r.channel, "card_rate": r.rate} for r in declared],
                            schema={"vendor_id": pl.String, "site_id": pl.String, "billing_model": pl.String,
                                    "channel": pl.String, "card_rate": pl.Float64}
                            ).join(invoices.select("vendor_id").unique(), on="vendor_id", how="semi")
    return (invoices.filter(pl.col("billing_model").is_in(["per_hour", "per_fte", "per_contact", "per_minute"])
                            & pl.col("unit_rate").is_not_null())
            .group_by("vendor_id", "site_id", "billing_model", "channel")
            .agg(pl.col("unit_rate").mode().min().alias("card_rate")))


# --------------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Reconciliation:
    """Every invoice line with its measured quantity and the rules it fires; credits owed vs invoiced."""

    lines: pl.DataFrame  # line keys, billing_model, quantity, measured, difference, unit_rate, card_rate, amount, flags
    credits: pl.DataFrame  # vendor, client, site, channel, period, owed, invoiced, difference, flag
    rules: tuple[Rule, ...]

    @property
    def flagged(self) -> pl.DataFrame:
        """Lines that fired at least one rule."""
        return self.lines.filter(pl.col("flags").list.len() > 0)


def reconcile_invoices(ws: Workspace, scope: Scope, *, tolerance: float = 0.02, money: float = 1.0) -> Reconciliation:
    """Reconcile every invoice line in scope against measured hours and contacts, rates and contractual credits."""
    inv = read_invoices(ws, scope)
    if inv.height == 0:
        raise PricingError("no cost_invoices in scope; import the vendors' invoices (one row per line) first")
    hours = _logged_hours(ws, scope).collect()
    handled = _handled(ws, scope).collect()
    card = rate_card(ws, inv)
    inv = inv.join(card, on=["vendor_id", "site_id", "billing_model", "channel"], how="left", nulls_equal=True)
    measured = pl.Series("measured", [None] * inv.height, dtype=pl.Float64)
    hour_lines = inv["billing_model"].is_in(["per_hour", "per_fte"])
    contact_lines = inv["billing_model"].is_in(["per_contact"])
    h = _in_period(hours, inv, ["client_id", "vendor_id", "site_id"], "hours")
    c = _in_period(handled, inv, ["client_id", "vendor_id", "site_id", "channel"], "contacts")
    shortfall = (inv["committed_volume"].fill_null(0.0) - c).clip(lower_bound=0.0)
    measured = (pl.when(pl.lit(hour_lines)).then(pl.lit(h)).when(pl.lit(contact_lines)).then(pl.lit(c))
                .when(pl.col("billing_model") == "minimum_shortfall").then(pl.lit(shortfall)).otherwise(None))
    lines = inv.with_columns(measured.alias("measured")).with_columns(
        (pl.col("quantity") - pl.col("measured")).alias("difference"))
    rs = rules(tolerance, money)
    lines = lines.with_columns(
        pl.concat_list([pl.when(r.fires.fill_null(False)).then(pl.lit(r.name)).otherwise(pl.lit(None, dtype=pl.String))
                        for r in rs]).list.drop_nulls().alias("flags"))
    lines = lines.select(*LINE_KEYS, "client_id", "site_id", "channel", "period_start", "period_end", "billing_model",
                         "quantity", "measured", "difference", "unit_rate", "card_rate", "amount", "currency",
                         "committed_volume", "flags").sort(*LINE_KEYS)
    return Reconciliation(lines, sla_credits(ws, scope, invoices=inv, money=money), rs)


def sla_credits(ws: Workspace, scope: Scope, *, invoices: pl.DataFrame | None = None, money: float = 1.0) -> pl.DataFrame:
    """Service credits owed per invoice period (`credits_owed` over the period) vs credits invoiced."""
    inv = read_invoices(ws, scope) if invoices is None else invoices
    periods = inv.select("vendor_id", "client_id", "invoice_id", "period_start", "period_end").unique()
    owed = credits_owed(ws, scope, periods)
    keys = ["vendor_id", "client_id", "invoice_id", "site_id", "channel"]
    owed_sum = owed.group_by(keys).agg(pl.col("owed").sum(), pl.col("metric").filter(pl.col("owed") > 0).unique().sort().alias("metrics"))
    invoiced = (inv.filter(pl.col("billing_model") == "credit").group_by(keys)
                .agg((-pl.col("amount")).sum().alias("invoiced")))
    out = owed_sum.join(invoiced, on=keys, how="full", coalesce=True).with_columns(
        pl.col("owed").fill_null(0.0), pl.col("invoiced").fill_null(0.0))
    out = out.with_columns((pl.col("owed") - pl.col("invoiced")).alias("difference")).with_columns(
        pl.when(pl.col("difference") > money).then(pl.lit("credit_short"))
        .when(pl.col("difference") < -money).then(pl.lit("credit_over")).otherwise(None).alias("flag"))
    return out.filter((pl.col("owed") > 0) | (pl.col("invoiced") > 0)).sort(keys)


# --------------------------------------------------------------------------- cost views


def _month(col: str) -> pl.Expr:
    return pl.col(col).dt.truncate("1mo")


COST_KPIS = {"invoice_amount": "cost", "cost_per_contact": "cost_per_contact",
             "cost_per_resolved_contact": "cost_per_resolved"}


def cost_per_contact(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = ("vendor_id", "site_id")) -> pl.DataFrame:
    """Monthly cost, cost per contact and per resolved contact: the catalog KPIs, the one definition every surface reads.

    A month only partly invoiced for a segment has no value (`reason` says why), never a partial
    sum; lines billed without a channel cannot be split by channel, so a channel split shows only
    the work priced per channel.  `contacts` and `resolved` are the KPIs' denominators.
    """
    allowed = {"client_id", "vendor_id", "site_id", "channel"}
    if set(by) - allowed:
        raise PricingError(f"cannot split cost by {', '.join(sorted(set(by) - allowed))}; use {', '.join(sorted(allowed))}")
    frame = compute_kpis(ws, scope, list(COST_KPIS), grain="month", by=by)
    keys = ["period", *by]

    def column(kpi: str, field: str, name: str) -> pl.DataFrame:
        return frame.filter(pl.col("kpi") == kpi).select(*keys, pl.col(field).alias(name))

    out = frame.filter((pl.col("kpi") == "invoice_amount") & (pl.col("n") > 0)).select(keys)  # months with a line
    for kpi, field, name in (("invoice_amount", "value", "cost"), ("cost_per_contact", "denominator", "contacts"),
                             ("cost_per_resolved_contact", "denominator", "resolved"),
                             ("cost_per_contact", "value", "cost_per_contact"),
                             ("cost_per_resolved_contact", "value", "cost_per_resolved")):
        out = out.join(column(kpi, field, name), on=keys, how="left", nulls_equal=True)
    last = invoiced_through(ws, scope).get(None)
    return (out.rename({"period": "month"})
            .with_columns(pl.when(pl.col("cost").is_null()).then(pl.lit(unbilled_reason(last, date.min))).alias("reason"))
            .sort("month", *by, nulls_last=True))


def lanes(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """Per month, client, site and channel: contacts handled and the lane's cost per contact, where it is known.

    A lane's price is its channel's cost per contact when the site is billed per channel, else the
    site's (a site billed by the agent hour has one price for every channel it serves); `basis`
    says which.  Months not fully invoiced have no price, as everywhere else.
    """
    keys = ["month", "client_id", "site_id"]
    handled = (compute_kpis(ws, scope, ["cost_per_contact"], grain="month", by=("client_id", "site_id", "channel"))
               .filter(pl.col("denominator") > 0)
               .select(pl.col("period").alias("month"), "client_id", "site_id", "channel",
                       pl.col("denominator").alias("contacts"), pl.col("value").alias("channel_price")))
    site = cost_per_contact(ws, scope, by=("client_id", "site_id")).select(*keys, pl.col("cost_per_contact").alias("site_price"))
    return (handled.join(site, on=keys, how="left", nulls_equal=True)
            .with_columns(pl.coalesce("channel_price", "site_price").alias("cost_per_contact"),
                          pl.when(pl.col("channel_price").is_not_null()).then(pl.lit("channel"))
                          .when(pl.col("site_price").is_not_null()).then(pl.lit("site")).alias("basis"))
            .filter(pl.col("cost_per_contact").is_not_null())
            .select(*keys, "channel", "contacts", "cost_per_contact", "basis")
            .sort(*keys, "channel"))


def unused_minimums(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """Per committed per-contact line: committed vs billed contacts, unused volume and what it costs at the line's rate."""
    inv = read_invoices(ws, scope)
    lines = inv.filter((pl.col("billing_model") == "per_contact") & pl.col("committed_volume").is_not_null())
    billed_shortfall = (inv.filter(pl.col("billing_model") == "minimum_shortfall")
                        .group_by("vendor_id", "invoice_id", "site_id", "channel").agg(pl.col("amount").sum().alias("shortfall_billed")))
    return (lines.with_columns((pl.col("committed_volume") - pl.col("quantity")).clip(lower_bound=0).alias("unused"))
            .with_columns((pl.col("unused") * pl.col("unit_rate")).alias("unused_cost"))
            .join(billed_shortfall, on=["vendor_id", "invoice_id", "site_id", "channel"], how="left")
            .with_columns(pl.col("shortfall_billed").fill_null(0.0))
            .select("vendor_id", "client_id", "site_id", "channel", "invoice_id", "period_start", "committed_volume",
                    "quantity", "unused", "unit_rate", "unused_cost", "shortfall_billed")
            .sort("vendor_id", "period_start", "site_id", "channel"))


def effective_hourly_rate(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """Monthly invoiced charges (credits excluded) per logged hour, per vendor and site, against the hourly card rate."""
    inv = read_invoices(ws, scope).with_columns(_month("period_start").alias("month"))
    charges = (inv.filter(pl.col("billing_model") != "credit").group_by("vendor_id", "site_id", "month")
               .agg(pl.col("amount").sum().alias("charges")))
    hours = (_logged_hours(ws, scope).with_columns(_month("date").alias("month"))
             .group_by("vendor_id", "site_id", "month").agg(pl.col("hours").sum()).collect())
    card = rate_card(ws, inv).filter(pl.col("billing_model") == "per_hour").group_by("vendor_id", "site_id").agg(
        pl.col("card_rate").max().alias("card_hourly_rate"))
    return (charges.join(hours, on=["vendor_id", "site_id", "month"], how="left").join(card, on=["vendor_id", "site_id"], how="left")
            .with_columns((pl.col("charges") / pl.col("hours")).alias("effective_hourly_rate"))
            .with_columns((pl.col("effective_hourly_rate") / pl.col("card_hourly_rate") - 1).alias("vs_card"))
            .sort("vendor_id", "site_id", "month"))


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class VolumeMove:
    """What moving a share of one lane's contacts to another site would cost and do to first-response attainment."""

    client_id: str
    channel: str
    from_site: str
    to_site: str
    share: float
    month: date
    contacts_moved: float
    cost_per_contact_from: float
    cost_per_contact_to: float
    cost_change: float  # per month, negative is a saving
    attainment_from: float | None
    attainment_to: float | None
    attainment_before: float | None  # the lane pair's blended first-response attainment
    attainment_after: float | None  # assuming each site keeps its own attainment

    def to_dict(self) -> dict:
        """JSON-friendly fields."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def move_volume(ws: Workspace, scope: Scope, *, client: str, channel: str, from_site: str, to_site: str,
                share: float, month: date | None = None) -> VolumeMove:
    """What-if: move `share` of a client's channel volume from one site to another, at each site's cost per contact."""
    if not 0 < share <= 1:
        raise PricingError(f"share {share} must be in (0, 1]; 0.25 moves a quarter of the volume")
    lane = lanes(ws, scope).filter((pl.col("client_id") == client) & (pl.col("channel") == channel))
    if month is None:
        months = lane.filter(pl.col("site_id") == from_site)["month"]
        if months.len() == 0:
            raise PricingError(f"no invoiced cost for {client} {channel} at {from_site}; check the site id and scope")
        month = months.max()
    at = lane.filter(pl.col("month") == month)
    rows = {r["site_id"]: r for r in at.iter_rows(named=True)}
    for s in (from_site, to_site):
        if s not in rows:
            raise PricingError(f"no invoiced cost for {client} {channel} at {s} in {month:%Y-%m}; pick sites that "
                               f"serve this lane ({', '.join(sorted(rows)) or 'none'})")
    moved = rows[from_site]["contacts"] * share
    cf, ct = rows[from_site]["cost_per_contact"], rows[to_site]["cost_per_contact"]
    att = (ws.scan("tickets", scope)
           .filter((pl.col("client_id") == client) & (pl.col("channel") == channel)
                   & pl.col("site_id").is_in([from_site, to_site]) & pl.col("first_response_breached").is_not_null()
                   & (period_first_day(pl.col("created_at"), "month", pl.Datetime("us", "UTC"),
                                       Calendars.of(ws.config, scope.clients)) == month))
           .group_by("site_id").agg((~pl.col("first_response_breached")).mean().alias("att"), pl.len().alias("n")).collect())
    a = {r["site_id"]: r for r in att.iter_rows(named=True)}
    af, at_ = (a.get(from_site) or {}).get("att"), (a.get(to_site) or {}).get("att")
    vf, vt = rows[from_site]["contacts"], rows[to_site]["contacts"]
    before = after = None
    if af is not None and at_ is not None:
        before = (af * vf + at_ * vt) / (vf + vt)
        after = (af * (vf - moved) + at_ * (vt + moved)) / (vf + vt)
    return VolumeMove(client, channel, from_site, to_site, share, month, moved, cf, ct, moved * (ct - cf),
                      af, at_, before, after)
