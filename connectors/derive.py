"""Derived columns: what a source does not give, computed from what it does (never from the clock).

- durations: `first_response_seconds`, `resolution_seconds` from the timestamps;
- CSAT: `csat_score` (0..1) and `csat_positive` from `csat_raw` (good/bad, 1-5, 0/1-10, labels,
  Freshdesk's 103..-103 codes), the numeric scale read from the WHOLE column;
- SLA: target seconds and breach flags from the effective-dated `sla_targets` term that binds the
  ticket on its day, chosen by `connectors.targets` (the one matcher; the contract pages ask it too;
  null when no term binds or the ticket has not reached the milestone yet);
- `direction`: inbound when the source gives none;
- `updated_at`: the source's last-update column, else the latest timestamp of the row;
- event logs (one row per status change) collapsed to one row per ticket.

Values the source gives are kept; derivations only fill nulls.
"""

from __future__ import annotations

import polars as pl

from connectors import targets as matcher
from connectors.files import ROW
from connectors.mapping import EventLog
from connectors.schema import UTC, get_table

EVENT_STATUS = "__event_status"
EVENT_AT = "__event_at"

# label -> (score 0..1, top-box); matched on the trimmed, lower-cased raw value
CSAT_LABELS: dict[str, tuple[float | None, bool | None]] = {
    "good": (1.0, True), "bad": (0.0, False),
    "extremely satisfied": (1.0, True), "very satisfied": (0.75, True), "satisfied": (0.75, True),
    "neutral": (0.5, False), "neither satisfied nor dissatisfied": (0.5, False),
    "dissatisfied": (0.25, False), "unsatisfied": (0.25, False), "very dissatisfied": (0.0, False),
    "extremely dissatisfied": (0.0, False), "awesome": (1.0, True), "not good": (0.0, False),
    "extremely happy": (1.0, True), "very happy": (0.833, True), "happy": (0.667, True),
    "unhappy": (0.333, False), "very unhappy": (0.167, False), "extremely unhappy": (0.0, False),
    # Freshdesk survey codes
    "103": (1.0, True), "102": (0.833, True), "101": (0.667, True), "100": (0.5, False),
    "-101": (0.333, False), "-102": (0.167, False), "-103": (0.0, False),
    # offered but not answered: no rating
    "offered": (None, None), "unoffered": (None, None), "not offered": (None, None),
}
# numeric scales: (lowest, highest, top-box threshold)
# (a 0-10 survey whose answers are all >= 1 reads as 1-10: set csat_score in the source to avoid it)
CSAT_SCALES = ((1.0, 5.0, 4.0), (1.0, 10.0, 9.0), (0.0, 10.0, 9.0))


def derive_durations(frame: pl.DataFrame) -> pl.DataFrame:
    """Seconds from created_at to first response / resolution, or the timestamp from the seconds."""
    if "created_at" not in frame.columns:
        return frame
    pairs = {"first_response_seconds": "first_response_at", "resolution_seconds": "resolved_at"}
    for secs, at in pairs.items():
        if at in frame.columns:
            computed = (pl.col(at) - pl.col("created_at")).dt.total_microseconds() / 1e6
            frame = frame.with_columns(_fill(frame, secs, computed).alias(secs))
        elif secs in frame.columns:
            stamp = pl.col("created_at") + pl.duration(microseconds=(pl.col(secs) * 1e6).round(0).cast(pl.Int64))
            frame = frame.with_columns(stamp.alias(at))
    return frame


def csat_columns(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(csat_score, csat_positive) for a csat_raw column; numeric scale chosen from the whole column."""
    text = raw.cast(pl.String).str.strip_chars().str.to_lowercase()
    labels = {k: v[0] for k, v in CSAT_LABELS.items()}
    tops = {k: v[1] for k, v in CSAT_LABELS.items()}
    score = text.replace_strict(labels, default=None, return_dtype=pl.Float64)
    positive = text.replace_strict(tops, default=None, return_dtype=pl.Boolean)
    num = text.cast(pl.Float64, strict=False)
    numeric = num.filter(~text.is_in(list(CSAT_LABELS)) & num.is_not_null())
    if numeric.len():
        lo_v, hi_v = float(numeric.min()), float(numeric.max())
        for lo, hi, top in CSAT_SCALES:
            if lo <= lo_v and hi_v <= hi:
                use = ~text.is_in(list(CSAT_LABELS)) & num.is_not_null()
                score = score.zip_with(~use, (num - lo) / (hi - lo))
                positive = positive.zip_with(~use, num >= top)
                break
    return score.alias("csat_score"), positive.alias("csat_positive")


def derive_direction(frame: pl.DataFrame) -> pl.DataFrame:
    """A ticket without a direction is inbound (a customer got in touch): the default of every source."""
    if "direction" in frame.columns:
        return frame.with_columns(pl.col("direction").fill_null("inbound"))
    return frame.with_columns(pl.lit("inbound", pl.String).alias("direction"))


def derive_csat(frame: pl.DataFrame) -> pl.DataFrame:
    if "csat_raw" not in frame.columns:
        return frame
    score, positive = csat_columns(frame.get_column("csat_raw"))
    out = []
    for s in (score, positive):
        out.append(pl.col(s.name).fill_null(s) if s.name in frame.columns else pl.lit(s))
    return frame.with_columns(out)


def derive_updated_at(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The source's last-update time, else the latest timestamp (or date) of the row: from data, not the clock."""
    spec = get_table(table)
    stamps = [c for c, col in spec.columns.items()
              if c in frame.columns and c not in ("ingested_at", "updated_at") and col.dtype in (UTC, pl.Date)]
    if not stamps:
        return frame
    latest = pl.max_horizontal([pl.col(c).cast(UTC) for c in stamps])
    e = pl.col("updated_at").fill_null(latest) if "updated_at" in frame.columns else latest
    return frame.with_columns(e.alias("updated_at"))


def derive_breaches(frame: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Fill target seconds and breach flags from the term that binds each ticket on its day (`connectors.targets.bind`).

    The winning term is the one the contract pages report for the ticket's work and week; when it
    sets no time threshold the ticket carries no target (a less specific term never stands in for it).
    """
    if frame.height == 0 or targets.height == 0 or "client_id" not in frame.columns or "created_at" not in frame.columns:
        return frame
    work = frame.select(
        pl.int_range(pl.len()).alias(matcher.WORK), "client_id",
        *[c for c in (*matcher.CONDITIONS, *matcher.MAP_DIMENSIONS) if c in frame.columns],
        pl.col("created_at").dt.date().alias("__start"), pl.col("created_at").dt.date().alias("__end"))
    best = matcher.bind(work, targets, metrics=list(matcher.MILESTONES.values()))
    out = frame.with_columns(pl.int_range(pl.len()).alias(matcher.WORK))
    for kind, metric in matcher.MILESTONES.items():
        secs, bsecs = f"{kind}_seconds", f"{kind}_business_seconds"
        got = best.filter(pl.col("metric") == metric).select(
            matcher.WORK, pl.col("threshold_seconds").cast(pl.Float64).alias("__thr"),
            (pl.col("business_hours").fill_null(False) if "business_hours" in best.columns
             else pl.lit(False)).alias("__bh"))
        out = out.join(got, on=matcher.WORK, how="left")
        elapsed = pl.when(pl.col("__bh")).then(_col_or_null(out, bsecs)).otherwise(_col_or_null(out, secs))
        # a ticket meets a time target when it is answered within the threshold; sla_targets.comparator
        # says how the KPI (the attainment rate) compares with attainment_target, not the ticket's time
        met = elapsed <= pl.col("__thr")
        target_col, breach_col = f"{kind}_target_seconds", f"{kind}_breached"
        out = out.with_columns(
            _fill(out, target_col, pl.col("__thr")).alias(target_col),
            _fill(out, breach_col, pl.when(pl.col("__thr").is_null()).then(None).otherwise(~met)).alias(breach_col),
        ).drop("__thr", "__bh")
    return out.drop(matcher.WORK)


def _col_or_null(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name) if name in frame.columns else pl.lit(None, pl.Float64)


def _fill(frame: pl.DataFrame, name: str, value: pl.Expr) -> pl.Expr:
    return pl.col(name).fill_null(value) if name in frame.columns else value


def collapse_event_log(frame: pl.DataFrame, ev: EventLog) -> pl.DataFrame:
    """One row per ticket from one row per status change.

    created = first event; first_response = first 'responded' event; resolved = last 'solved'
    event; closed = last 'closed' event; reopens = solved -> any other non-closed status;
    status = the last status; other columns = the ticket's last non-null value.
    """
    done = set(ev.solved) | set(ev.closed)
    st = pl.col(EVENT_STATUS).str.to_lowercase()
    prev = st.shift(1).over("ticket_id")
    frame = frame.sort(["ticket_id", EVENT_AT, ROW]).with_columns(
        (prev.is_in(list(ev.solved)) & ~st.is_in(list(done | set(ev.responded)))).fill_null(False).alias("__reopen"))
    others = [c for c in frame.columns if c not in ("ticket_id", EVENT_STATUS, EVENT_AT, ROW, "__reopen", "status")]
    return frame.group_by("ticket_id", maintain_order=True).agg(
        pl.col(ROW).min(),
        pl.col(EVENT_AT).min().alias("created_at"),
        pl.col(EVENT_AT).filter(st.is_in(list(ev.responded))).min().alias("first_response_at"),
        pl.col(EVENT_AT).filter(st.is_in(list(ev.solved))).max().alias("resolved_at"),
        pl.col(EVENT_AT).filter(st.is_in(list(ev.closed))).max().alias("closed_at"),
        pl.col(EVENT_AT).max().alias("updated_at"),
        pl.col("__reopen").sum().cast(pl.Int64).alias("reopens"),
        pl.col(EVENT_STATUS).filter(~st.is_in(list(ev.responded))).last().alias("status"),
        pl.col(EVENT_STATUS).filter(st.is_in(list(ev.responded))).len().cast(pl.Int64).alias("replies"),
        *[pl.col(c).drop_nulls().last().alias(c) for c in others],
    )
