"""Contact-level records (`contacts`): what an import fills in when the export leaves it out.

Exports give either times or durations, rarely both; the rules that count contacts into intervals
(insights/catalog/contact_rules.toml) read one complete set, so the importer completes it from the
row itself, never from other rows or the clock:

- `queued_at`   = initiated_at + ivr_seconds, when the export gives the IVR time but not the queue entry
  (and `ivr_seconds` = initiated_at -> queued_at the other way round);
- `answered_at` = queue entry (else arrival + IVR time) + wait, for a contact an agent talked to (talk > 0);
- `wait_seconds` = queued_at -> answered_at (answered) or queued_at -> ended_at (not answered);
- `talk_seconds` = answered_at -> ended_at minus hold, when the export gives times only;
- `ended_at` = answer + talk + hold, or queue entry + wait, or arrival + IVR time, when the export gives durations only;
- `handle_seconds` = talk + hold + after-contact work;
- `outcome`: answered (an agent took it), abandoned (it queued and no agent took it), ivr (it never
  reached a queue or an agent), other (an outbound contact nobody answered); an outcome the export
  states wins.
"""

from __future__ import annotations

import polars as pl

from connectors.schema import UTC


def _secs(a: str, b: str) -> pl.Expr:
    return (pl.col(b) - pl.col(a)).dt.total_microseconds().cast(pl.Float64) / 1e6


def _col(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, dtype=dtype)


def derive_contacts(frame: pl.DataFrame) -> pl.DataFrame:
    """Complete times, durations and the outcome of each contact row (see the module docstring)."""
    f = frame
    for c, dtype in (("queued_at", UTC), ("answered_at", UTC), ("ended_at", UTC), ("wait_seconds", pl.Float64),
                     ("talk_seconds", pl.Float64), ("hold_seconds", pl.Float64), ("acw_seconds", pl.Float64),
                     ("handle_seconds", pl.Float64), ("outcome", pl.String), ("direction", pl.String)):
        if c not in f.columns:
            f = f.with_columns(pl.lit(None, dtype=dtype).alias(c))
    if "ivr_seconds" in f.columns:
        ivr = pl.duration(microseconds=(pl.col("ivr_seconds") * 1e6).round(0).cast(pl.Int64))
        # a contact with a queue queued after its IVR time (a file without queues: one with a queue wait)
        queued = pl.col("queue_id").is_not_null() if "queue_id" in f.columns else pl.col("wait_seconds").is_not_null()
        queued = queued & (pl.col("direction") != "outbound").fill_null(True)  # an outbound call is dialled, not queued
        f = f.with_columns(pl.col("queued_at").fill_null(pl.when(queued).then(pl.col("initiated_at") + ivr)))
    f = f.with_columns(pl.col("ivr_seconds").fill_null(_secs("initiated_at", "queued_at")) if "ivr_seconds" in f.columns
                       else _secs("initiated_at", "queued_at").alias("ivr_seconds"))
    talked = pl.col("talk_seconds").fill_null(0) > 0
    ivr_time = pl.duration(microseconds=(pl.col("ivr_seconds").fill_null(0) * 1e6).round(0).cast(pl.Int64))
    wait = pl.duration(microseconds=(pl.col("wait_seconds").fill_null(0) * 1e6).round(0).cast(pl.Int64))
    base = pl.coalesce(pl.col("queued_at"), pl.col("initiated_at") + ivr_time)
    f = f.with_columns(pl.col("answered_at").fill_null(pl.when(talked).then(base + wait)))
    f = f.with_columns(pl.col("wait_seconds").fill_null(
        pl.when(pl.col("answered_at").is_not_null()).then(_secs("queued_at", "answered_at"))
        .otherwise(_secs("queued_at", "ended_at"))))
    f = f.with_columns(pl.col("talk_seconds").fill_null(pl.when(pl.col("answered_at").is_not_null()).then(
        pl.max_horizontal(_secs("answered_at", "ended_at") - pl.col("hold_seconds").fill_null(0), pl.lit(0.0)))))
    secs = lambda c: pl.duration(microseconds=(pl.col(c).fill_null(0) * 1e6).round(0).cast(pl.Int64))  # noqa: E731
    f = f.with_columns(pl.col("ended_at").fill_null(
        pl.when(pl.col("answered_at").is_not_null()).then(pl.col("answered_at") + secs("talk_seconds") + secs("hold_seconds"))
        .when(pl.col("queued_at").is_not_null() & pl.col("wait_seconds").is_not_null())
        .then(pl.col("queued_at") + secs("wait_seconds"))
        .when(pl.col("ivr_seconds").is_not_null()).then(pl.col("initiated_at") + secs("ivr_seconds"))))
    parts = [pl.col(c) for c in ("talk_seconds", "hold_seconds", "acw_seconds")]
    f = f.with_columns(pl.col("handle_seconds").fill_null(
        pl.when(pl.any_horizontal([p.is_not_null() for p in parts])).then(pl.sum_horizontal(parts))))
    answered = pl.col("answered_at").is_not_null() | (pl.col("talk_seconds").fill_null(0) > 0)
    outbound = pl.col("direction") == "outbound"
    derived = (pl.when(answered).then(pl.lit("answered"))
               .when(outbound.fill_null(False)).then(pl.lit("other"))
               .when(pl.col("queued_at").is_not_null() | _col(f, "queue_id", pl.String()).is_not_null())
               .then(pl.lit("abandoned"))
               .otherwise(pl.lit("ivr")))
    return f.with_columns(pl.col("outcome").fill_null(derived))
