"""Contact records -> interval figures, by the rules of insights/catalog/contact_rules.toml.

`derive_intervals(contacts, rules)` turns one row per call/chat (the `contacts` table) into rows
shaped like `contact_intervals` (offered, handled, abandoned, short-abandoned, answered and
abandoned within SL, sums of wait/talk/hold/ACW/handle, transfers), so every interval KPI of the
catalog (service level, ASA, abandonment, AHT) reads contact-level data unchanged.

`intervals(ws, scope)` is what every reader of interval figures uses (the KPI engine, forecasting,
staffing, credits): the interval reports the viewer may see plus the intervals derived from their
contact records, where the two never both count for the same queue and interval
(`precedence`: contacts win by default).

Per contact (inbound; an outbound contact an agent worked is offered and handled, nothing else):

- phantom: not answered and arrival -> hang-up shorter than `phantom_seconds`: not counted at all;
- IVR-only (outcome `ivr`): not offered (`ivr_only = "excluded"`) or offered and abandoned with 0 s wait;
- offered: every other contact; handled: outcome `answered`; abandoned: outcome `abandoned`;
- wait: queue entry -> answer (or hang-up); a contact answered with no queue time waited
  `answered_without_queue_wait_seconds`;
- short abandon: abandoned with wait <= (or <) `short_abandon_seconds`;
- answered within SL: answered with wait <= (or <) `sl_threshold_seconds`;
- interval: queue entry (arrival when it never queued) floored to `interval_minutes`; the contact
  counts whole there, its talk, hold and wrap included, even across midnight.

>>> frame = derive_intervals(ws.scan("contacts", scope), load_contact_rules()).collect()  # doctest: +SKIP
"""

from __future__ import annotations

import polars as pl

from connectors.schema import get_table
from connectors.store import Scope, Workspace
from insights.catalog.contact_rules import NO_QUEUE, ContactRules, load_contact_rules

KEYS = ("client_id", "vendor_id", "site_id", "source_system", "queue_id", "channel", "direction", "interval_start")
MATCH = ("client_id", "vendor_id", "queue_id", "channel", "direction")  # the same queue, whoever's report it is


def _within(wait: pl.Expr, threshold: float, boundary: str) -> pl.Expr:
    return wait <= threshold if boundary == "<=" else wait < threshold


def _secs(a: str, b: str) -> pl.Expr:
    return (pl.col(b) - pl.col(a)).dt.total_microseconds().cast(pl.Float64) / 1e6


def classify(contacts: pl.LazyFrame | pl.DataFrame, rules: ContactRules) -> pl.LazyFrame:
    """Each contact with how the rules count it: interval_start, __offered, __handled, __abandoned,
    __short, __within_sl, __abandoned_within_sl (Int64 0/1) and __wait (seconds, answered or abandoned)."""
    lf = contacts.lazy()
    inbound = pl.col("direction").fill_null("inbound") != "outbound"
    answered = pl.col("outcome") == "answered"
    ivr = pl.col("outcome") == "ivr"
    life = _secs("initiated_at", "ended_at")
    phantom = ~answered & (life < rules.phantom_seconds).fill_null(False)
    ivr_counts = rules.ivr_only == "abandoned"
    offered = pl.when(inbound).then(~phantom & (~ivr | pl.lit(ivr_counts))).otherwise(answered)
    abandoned = inbound & offered & ((pl.col("outcome") == "abandoned") | (ivr & pl.lit(ivr_counts)))
    wait = (pl.when(ivr).then(pl.lit(0.0))
            .when(answered & pl.col("queued_at").is_null()).then(pl.lit(rules.answered_without_queue_wait_seconds))
            .otherwise(pl.col("wait_seconds").fill_null(0.0)))
    arrival = (pl.coalesce("queued_at", "initiated_at") if rules.assign_by == "queue_arrival"
               else pl.col("initiated_at"))
    return lf.with_columns(
        arrival.dt.truncate(f"{rules.interval_minutes}m").alias("interval_start"),
        pl.col("queue_id").fill_null(NO_QUEUE),
        pl.col("direction").fill_null("inbound"),
        offered.cast(pl.Int64).alias("__offered"),
        (offered & answered).cast(pl.Int64).alias("__handled"),
        abandoned.cast(pl.Int64).alias("__abandoned"),
        (abandoned & _within(wait, rules.short_abandon_seconds, rules.short_abandon_boundary)).cast(pl.Int64).alias("__short"),
        (inbound & offered & answered & _within(wait, rules.sl_threshold_seconds, rules.sl_boundary)).cast(pl.Int64)
        .alias("__within_sl"),
        (abandoned & _within(wait, rules.sl_threshold_seconds, rules.sl_boundary)).cast(pl.Int64).alias("__abandoned_within_sl"),
        wait.alias("__wait"),
    )


def derive_intervals(contacts: pl.LazyFrame | pl.DataFrame, rules: ContactRules) -> pl.LazyFrame:
    """`contact_intervals`-shaped rows (canonical columns and dtypes) from contact records, by `rules`."""
    spec = get_table("contact_intervals")
    handled = pl.col("__handled") == 1
    timed = ("talk_seconds", "hold_seconds", "acw_seconds", "handle_seconds")
    agg = (classify(contacts, rules)
           .filter(pl.col("__offered") == 1)
           .with_columns(pl.when(handled).then(pl.col("__wait")).alias("__wait"),
                         *[pl.when(handled).then(pl.col(c)).alias(c) for c in timed])  # times of handled contacts only
           .group_by(list(KEYS))
           .agg(pl.col("source_instance").min(), pl.col("ingested_at").max(), pl.col("updated_at").max(),
                pl.col("__offered").sum().alias("offered"), pl.col("__handled").sum().alias("handled"),
                pl.col("__abandoned").sum().alias("abandoned"), pl.col("__short").sum().alias("short_abandoned"),
                pl.col("__within_sl").sum().alias("answered_within_sl"),
                pl.col("__abandoned_within_sl").sum().alias("abandoned_within_sl"),
                pl.col("__wait").sum().alias("wait_seconds"), *[pl.col(c).sum() for c in timed],
                pl.col("transfers").sum()))
    extra = {"interval_minutes": pl.lit(rules.interval_minutes), "sl_threshold_seconds": pl.lit(rules.sl_threshold_seconds)}
    return agg.select([(extra[c] if c in extra else pl.col(c)).cast(col.dtype).alias(c) for c, col in spec.columns.items()])


def combine(reports: pl.LazyFrame, derived: pl.LazyFrame, rules: ContactRules) -> pl.LazyFrame:
    """Interval reports and contact-derived intervals, never both for the same queue and time (`rules.precedence`)."""
    def ends(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.with_columns((pl.col("interval_start") + pl.duration(minutes=pl.col("interval_minutes"))).alias("__end"))
    winner, loser = (derived, reports) if rules.precedence == "contacts" else (reports, derived)
    cover = ends(winner).select(*MATCH, pl.col("interval_start").alias("__w_start"), pl.col("__end").alias("__w_end")).unique()
    loser = ends(loser).with_row_index("__i")
    beaten = (loser.join(cover, on=list(MATCH), how="inner")
              .filter((pl.col("interval_start") < pl.col("__w_end")) & (pl.col("__w_start") < pl.col("__end")))
              .select("__i").unique())
    kept = loser.join(beaten, on="__i", how="anti").drop("__i", "__end")
    return pl.concat([winner, kept], how="diagonal_relaxed")  # by column name: older stored files may order them differently


def intervals(ws: Workspace, scope: Scope, rules: ContactRules | None = None) -> pl.LazyFrame:
    """The interval figures the viewer may see: reports and contact records combined by the contact rules."""
    reports = ws.scan("contact_intervals", scope)
    if not ws.files("contacts"):
        return reports
    rules = rules or load_contact_rules(ws.config.contact_rules)
    return combine(reports, derive_intervals(ws.scan("contacts", scope), rules), rules)
