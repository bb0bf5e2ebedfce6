"""Derived columns: what a source does not give, computed from what it does (never from the clock).

- durations: `first_response_seconds`, `resolution_seconds` from the timestamps;
- CSAT: `csat_score` (0..1) and `csat_positive` from `csat_raw` (good/bad, 1-5, 0/1-10, labels,
  Freshdesk's 103..-103 codes), the numeric scale read from the WHOLE column; answers of NPS and
  CES surveys (`survey_type`) are never folded into CSAT, and every answer keeps its number and
  scale (`rating_value`, `rating_scale`);
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
from connectors.schema import UNATTENDED, UTC, get_table

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
    """CSAT score and top box from the CSAT answers, then each answer's number and scale (`derive_survey`).

    An NPS or CES answer (survey_type) is never read as CSAT: a 0-10 'likely to recommend' is not
    a satisfaction score, and mixed in it would make a 1-5 CSAT column read as 0-10.
    """
    if "csat_raw" not in frame.columns:
        return frame
    raw = frame.get_column("csat_raw")
    other = _other_survey(frame)
    if other is not None:
        raw = pl.select(pl.when(other).then(None).otherwise(raw)).to_series().alias("csat_raw")
    score, positive = csat_columns(raw)
    out = []
    for s in (score, positive):
        out.append(pl.col(s.name).fill_null(s) if s.name in frame.columns else pl.lit(s))
    if other is not None:  # a source's own csat fields on an NPS/CES answer are dropped the same way
        out = [pl.when(other).then(None).otherwise(e).alias(s.name) for e, s in zip(out, (score, positive))]
    return derive_survey(frame.with_columns(out))


# a survey's usual scale when the source does not say: NPS is 0-10 by definition; CES 2.0 is 1-7 agreement
SURVEY_SCALES = {"nps": "0-10", "ces": "1-7"}


def _other_survey(frame: pl.DataFrame) -> pl.Series | None:
    """True where the answer belongs to an NPS or CES survey (None: no survey_type column)."""
    if "survey_type" not in frame.columns:
        return None
    return frame.get_column("survey_type").cast(pl.String).is_in(["nps", "ces"]).fill_null(False)


def derive_survey(frame: pl.DataFrame) -> pl.DataFrame:
    """survey_type, rating_value and rating_scale for every answer, where the source left them empty.

    An answer without a survey type is a CSAT answer (every source before survey types); its number
    is the raw value when numeric, its scale the one `csat_columns` reads from the whole column
    ('labels' for good/bad and words); NPS and CES answers keep their survey's usual scale.
    """
    if "csat_raw" not in frame.columns:
        return frame
    raw = frame.get_column("csat_raw").cast(pl.String).str.strip_chars()
    answered = raw.is_not_null() & ~raw.str.to_lowercase().is_in(["offered", "unoffered", "not offered"])
    given = frame.get_column("survey_type").cast(pl.String) if "survey_type" in frame.columns else None
    kind = pl.select(pl.when(answered).then(given if given is not None else pl.lit(None, pl.String))
                     .fill_null(pl.when(answered).then(pl.lit("csat")))).to_series()
    if given is not None:
        kind = given.fill_null(kind)
    is_label = raw.str.to_lowercase().is_in(list(CSAT_LABELS))
    num = pl.select(pl.when(~is_label).then(raw.cast(pl.Float64, strict=False))).to_series()
    csat = (kind == "csat").fill_null(False) & ~is_label & num.is_not_null()
    csat_scale = None
    if csat.any():
        lo_v, hi_v = float(num.filter(csat).min()), float(num.filter(csat).max())  # type: ignore[arg-type]
        csat_scale = next((f"{lo:g}-{hi:g}" for lo, hi, _ in CSAT_SCALES if lo <= lo_v and hi_v <= hi), None)
    scale = pl.select(
        pl.when(~answered).then(None)
        .when(is_label & (kind == "csat")).then(pl.lit("labels"))
        .when(kind == "csat").then(pl.lit(csat_scale, pl.String))
        .otherwise(kind.replace_strict(SURVEY_SCALES, default=None, return_dtype=pl.String))).to_series()
    cols = {"survey_type": kind, "rating_value": num, "rating_scale": scale}
    return frame.with_columns([
        (pl.col(c).fill_null(v) if c in frame.columns else pl.lit(v)).alias(c) for c, v in cols.items()])


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

    Terms bind people's work: a ticket an AI agent, a bot, self-service or the IVR handled alone (`UNATTENDED`)
    is bound by none.

    The winning term is the one the contract pages report for the ticket's work and week; when it
    sets no time threshold the ticket carries no target (a less specific term never stands in for it).
    """
    if frame.height == 0 or targets.height == 0 or "client_id" not in frame.columns or "created_at" not in frame.columns:
        return frame
    work = frame.select(
        pl.int_range(pl.len()).alias(matcher.WORK), "client_id",
        *[c for c in (*matcher.CONDITIONS, *matcher.MAP_DIMENSIONS) if c in frame.columns],
        pl.col("created_at").dt.date().alias("__start"), pl.col("created_at").dt.date().alias("__end"))
    if "handled_by" in frame.columns:  # an AI agent's, a bot's, self-service's or the IVR's own work: no term binds it
        work = work.filter(~frame.get_column("handled_by").is_in(list(UNATTENDED)).fill_null(False))
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
    """One row per ticket from one row per event (a status change, a reply, an audit record).

    The status is the ticket's last one (its event status, normalised by [mapping.values.status] like any
    status). The ticket's own times win over the events' times where the log carries them (a mapped
    created_at, resolved_at ... column): created = the first created_at, else the first event;
    first response = the first first_response_at, else the first 'responded' event; a ticket whose last
    status is solved or closed was resolved at its last resolved_at, else its last 'solved' event (closed
    likewise); a ticket that is open again has no resolved_at. Reopens = solved -> a status that is not
    solved or closed; replies = 'responded' events (unknown when the log has none at all); other columns =
    the ticket's last non-null value.
    """
    done = set(ev.solved) | set(ev.closed)
    code = pl.col(EVENT_STATUS).str.strip_chars().str.to_lowercase().str.replace_all(r"[\s\-]+", "_")
    responded = code.is_in(list(ev.responded))
    frame = frame.sort(["ticket_id", EVENT_AT, ROW]).with_columns(code.alias("__code"))
    st = pl.col("__code")
    change = ~st.is_in(list(ev.responded))
    prev = st.filter(change).shift(1)  # within a group: the status before this change
    final = st.filter(change).last()

    def own(column: str, pick: str, events: pl.Expr) -> pl.Expr:
        """The ticket's own `column` (first or last non-null) where the log maps it, else the events' time."""
        if column in frame.columns:
            values = pl.col(column).drop_nulls()
            return (values.min() if pick == "first" else values.last()).fill_null(events)
        return events

    any_replies = bool(frame.select(responded.any()).item()) if frame.height else False
    skip = {"ticket_id", EVENT_STATUS, EVENT_AT, ROW, "__code", "status", "created_at", "first_response_at",
            "resolved_at", "closed_at", "reopens", "replies", "updated_at"}
    others = [c for c in frame.columns if c not in skip]
    return frame.group_by("ticket_id", maintain_order=True).agg(
        pl.col(ROW).min(),
        own("created_at", "first", pl.col(EVENT_AT).min()).alias("created_at"),
        own("first_response_at", "first", pl.col(EVENT_AT).filter(responded).min()).alias("first_response_at"),
        pl.when(final.is_in(list(done)))
          .then(own("resolved_at", "last", pl.col(EVENT_AT).filter(st.is_in(list(ev.solved))).max()))
          .alias("resolved_at"),
        pl.when(final.is_in(list(ev.closed)))
          .then(own("closed_at", "last", pl.col(EVENT_AT).filter(st.is_in(list(ev.closed))).max()))
          .alias("closed_at"),
        pl.col(EVENT_AT).max().alias("updated_at"),
        (prev.is_in(list(ev.solved)) & ~st.filter(change).is_in(list(done))).sum().cast(pl.Int64).alias("reopens"),
        pl.col(EVENT_STATUS).filter(change).last().alias("status"),
        (responded.sum().cast(pl.Int64) if any_replies else pl.lit(None, pl.Int64)).alias("replies"),
        *[pl.col(c).drop_nulls().last().alias(c) for c in others],
    )
