"""Service credits owed under the contract: one definition, per lane and month, for the invoice check and the narrative.

A credit is owed per lane (client × vendor × site × channel) and credit-bearing contract metric over a
period: (attainment target − attainment) in points × penalty per point, on at least MIN_CREDIT_BASE
measured contacts. `credits_at_stake` gives a month's credits (or its days so far, labelled as a month
to date and withheld until MTD_MIN_DAYS days mean something); `analyses.pricing.sla_credits` compares
the same lanes with the credits invoiced.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from connectors.store import Scope, Workspace
from insights import contracts
from insights.errors import InsightsError
from insights.metrics.contacts import intervals as contact_intervals
from insights.metrics.periods import period_date, period_end
from insights.view import Calendars

MIN_CREDIT_BASE = 30  # no credit is owed on fewer measured contacts than this in a period
CREDIT_METRICS = ("sla_first_response", "service_level")
OWED_SCHEMA = {"vendor_id": pl.String, "client_id": pl.String, "invoice_id": pl.String, "site_id": pl.String,
               "channel": pl.String, "period_start": pl.Date, "metric": pl.String, "attained": pl.Float64,
               "target": pl.Float64, "points_below": pl.Float64, "owed": pl.Float64, "base": pl.Float64}


class CreditsError(InsightsError):
    """A month's credits were asked for over days outside it."""


def credits_owed(ws: Workspace, scope: Scope, periods: pl.DataFrame) -> pl.DataFrame:
    """The one definition of a service credit: per lane (client, vendor, site, channel) and contract metric over a period,
    (attainment target − attainment) in points × penalty_per_point, on at least MIN_CREDIT_BASE measured contacts.

    `periods` has vendor_id, client_id, invoice_id (may be null), period_start, period_end.
    """
    terms = contracts.read(ws, scope)
    cals = Calendars.of(ws.config, scope.clients)  # a contract's month is the client's local month
    utc = pl.Datetime("us", "UTC")
    # only the periods' days are read (a local day lies within a day of its UTC date either way)
    lo, hi = _utc_span(periods)
    tickets = (ws.scan("tickets", scope).filter(pl.col("first_response_breached").is_not_null()
                                                & pl.col("created_at").is_between(lo, hi, closed="left"))
               .select("client_id", "vendor_id", "site_id", "channel", "priority",
                       period_date(pl.col("created_at"), "day", utc, cals).alias("date"),
                       (~pl.col("first_response_breached")).cast(pl.Int64).alias("met"))
               .collect())
    intervals = (contact_intervals(ws, scope).filter(pl.col("interval_start").is_between(lo, hi, closed="left"))
                 .group_by("client_id", "vendor_id", "site_id", "channel",
                           period_date(pl.col("interval_start"), "day", utc, cals).alias("date"))
                 .agg(pl.col("answered_within_sl").sum().alias("met"), pl.col("handled").sum().alias("base"))
                 .collect())
    rows = []
    for p in periods.iter_rows(named=True):
        for t in _credit_terms(terms, p["client_id"], p["vendor_id"], p["period_start"], p["period_end"]):
            src = tickets if t.kpi == "sla_first_response" else intervals
            f = src.filter((pl.col("client_id") == p["client_id"]) & (pl.col("vendor_id") == p["vendor_id"])
                           & pl.col("date").is_between(p["period_start"], p["period_end"]))
            for k, v in t.conditions.items():
                if k in f.columns:
                    f = f.filter(pl.col(k) == v)
            agg = (f.group_by("site_id", "channel").agg(pl.col("met").sum(), pl.len().alias("base"))
                   if t.kpi == "sla_first_response" else
                   f.group_by("site_id", "channel").agg(pl.col("met").sum(), pl.col("base").sum()))
            for a in agg.iter_rows(named=True):
                if a["base"] < MIN_CREDIT_BASE:
                    continue
                attained = a["met"] / a["base"]
                points = round(t.points_short(attained), 2)
                rows.append({"vendor_id": p["vendor_id"], "client_id": p["client_id"], "invoice_id": p["invoice_id"],
                             "site_id": a["site_id"], "channel": a["channel"], "period_start": p["period_start"],
                             "metric": t.kpi, "attained": attained, "target": t.value,
                             "points_below": points, "owed": round(points * (t.penalty_per_point or 0.0), 2),
                             "base": float(a["base"])})
    return pl.DataFrame(rows, schema=OWED_SCHEMA)


def _utc_span(periods: pl.DataFrame) -> tuple[datetime, datetime]:
    """UTC instants surely holding every local day of `periods` (whatever the clients' time zones: ±14 h)."""
    if periods.is_empty():
        return datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(1970, 1, 1, tzinfo=timezone.utc)
    first, last = periods.get_column("period_start").min(), periods.get_column("period_end").max()
    assert isinstance(first, date) and isinstance(last, date)
    return (datetime.combine(first - timedelta(days=1), time(), tzinfo=timezone.utc),
            datetime.combine(last + timedelta(days=2), time(), tzinfo=timezone.utc))


MTD_MIN_DAYS = 7  # a month to date younger than a week swings on a day's work: not shown


@dataclass(frozen=True, kw_only=True)
class CreditsAtStake:
    """Service credits owed for one month (`credits_owed` per lane), or for its days so far, labelled as such."""

    month: date  # first day of the month
    start: date
    end: date  # last day measured: the month's last day when `complete`
    complete: bool
    lanes: pl.DataFrame  # OWED_SCHEMA rows with owed > 0
    currency: str
    reason: str | None = None  # why no total is shown (a month to date too young to mean something)

    @property
    def total(self) -> float | None:
        """Σ owed over the lanes; None while the month to date is too young to show."""
        return None if self.reason else round(float(self.lanes.get_column("owed").sum()), 2)

    @property
    def label(self) -> str:
        """'Oct 2026' for a complete month, 'month to date, 01 – 08 Nov 2026' otherwise."""
        return f"{self.month:%b %Y}" if self.complete else f"month to date, {self.start:%d} – {self.end:%d %b %Y}"

    @property
    def text(self) -> str:
        """'USD 2,242 (Oct 2026)', or '–' with the reason."""
        return f"– ({self.reason})" if self.total is None else f"{self.currency} {self.total:,.0f} ({self.label})".strip()


def credits_at_stake(ws: Workspace, scope: Scope, *, month: date, through: date | None = None) -> CreditsAtStake:
    """Credits owed for the calendar month of `month` over its days up to `through` (default: the whole month).

    The same `credits_owed` lanes the invoice check uses, so a complete month here equals the credit
    the vendor should invoice for it; a viewer sees the lanes in its scope, each computed whole.
    """
    first = month.replace(day=1)
    last = period_end(first, "month")
    end = min(last, through) if through is not None else last
    if end < first:
        raise CreditsError(f"through {through} is before {first:%b %Y} starts; pass a day of that month or later")
    lo, hi = _utc_span(pl.DataFrame({"period_start": [first], "period_end": [end]}))
    work = pl.concat([ws.scan(t, scope).filter(pl.col(col).is_between(lo, hi, closed="left"))
                      .select("client_id", "vendor_id").unique().collect()
                      for t, col in (("tickets", "created_at"), ("contact_intervals", "interval_start"))])
    periods = work.unique().drop_nulls().with_columns(
        pl.lit(None, dtype=pl.String).alias("invoice_id"), pl.lit(first).alias("period_start"), pl.lit(end).alias("period_end"))
    lanes = credits_owed(ws, scope, periods).filter(pl.col("owed") > 0).sort("client_id", "vendor_id", "site_id", "channel", "metric")
    days = (end - first).days + 1
    young = end < last and days < MTD_MIN_DAYS
    return CreditsAtStake(month=first, start=first, end=end, complete=end >= last, lanes=lanes, currency=ws.config.currency,
                          reason=f"{days} day(s) of {first:%b %Y} so far; shown from day {MTD_MIN_DAYS}" if young else None)


def _credit_terms(terms: contracts.Contracts, client: str, vendor: str, start: date, end: date) -> list[contracts.Target]:
    """The contract terms with a service credit binding `vendor`'s work for `client` in the period.

    A channel's attainment is contractual over all its priorities: one term per channel and terms.
    """
    out: dict[tuple, contracts.Target] = {}
    for metric in CREDIT_METRICS:
        for t in terms.terms(metric, {"client_id": client, "vendor_id": vendor}, start, end):
            if not t.penalty_per_point or t.penalty_per_point <= 0:
                continue
            conditions = {k: v for k, v in t.conditions.items() if k != "priority"}
            key = (metric, tuple(sorted(conditions.items())), t.value, t.penalty_per_point)
            out.setdefault(key, replace(t, conditions=conditions))
    return list(out.values())
