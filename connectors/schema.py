"""The canonical schema: every table the product stores, declared as data.

Every timestamp is UTC, durations are Float64 seconds, sums and counts are stored (never
averages).  Every table carries the lineage columns (`source_system`, `source_instance`,
`ingested_at`, `updated_at`) and the tenant keys (`client_id`, `vendor_id`, `site_id`).

`validate(frame, table)` lists every problem of a frame at once; `conform(frame, table)` casts a
frame to the canonical dtypes, adds missing optional columns as nulls and orders the columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

UTC = pl.Datetime("us", "UTC")
STR = pl.String
F64 = pl.Float64
I64 = pl.Int64
BOOL = pl.Boolean
DATE = pl.Date

# What an import accepts (every other value is a bad row, named with its file, row and column):
EARLIEST = date(2000, 1, 1)  # no operation this product reviews is older; years 1 and 1900 are typos or defaults
EARLIEST_BY_COLUMN = {"hire_date": date(1950, 1, 1)}  # a long-serving agent's hire date is history, not a typo
FUTURE_SLACK = timedelta(days=1)  # a timestamp (something that happened) at most a day after the import (clock skew)
PLANNED_YEARS = 10  # a day (a target's end, a planned event) at most ten years ahead; open-ended is empty, not 9999


@dataclass(frozen=True)
class Column:
    """One canonical column: dtype, whether a row without it is invalid, and what it holds."""

    dtype: pl.DataType
    required: bool = False
    doc: str = ""
    non_negative: bool = False


@dataclass(frozen=True)
class Table:
    """A canonical table: columns, primary key, the time column it is partitioned (by month) on.

    Where ids can collide across suppliers (agents, queues, evaluations), the key begins with the
    tenant (`client_id, vendor_id`): one vendor's file can never replace another vendor's rows.
    """

    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...]
    time_column: str | None
    doc: str = ""
    # rows whose client_id is null are visible to every viewer (shared calendars, e.g. holidays)
    shared_when_client_null: bool = False
    # (start column, end column) pairs whose end must not come before their start
    ordered: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def required(self) -> list[str]:
        return [c for c, col in self.columns.items() if col.required]

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c: col.dtype for c, col in self.columns.items()}


def _c(dtype, required=False, doc="", non_negative=False) -> Column:
    return Column(dtype, required, doc, non_negative)


LINEAGE = {
    "source_system": _c(STR, True, "where the row came from: zendesk, freshdesk, csv, sample ..."),
    "source_instance": _c(STR, True, "which account/file/database of that system"),
    "ingested_at": _c(UTC, True, "when bpo-insights stored this version"),
    "updated_at": _c(UTC, True, "the source's last-modified time; the newest version wins on upsert"),
}
TENANT = {
    "client_id": _c(STR, True, "the brand"),
    "vendor_id": _c(STR, True, "the BPO, or in_house"),
    "site_id": _c(STR, True, "the site (location) that handled the work"),
}
TENANT_OPTIONAL = {k: _c(v.dtype, False, v.doc) for k, v in TENANT.items()}


def _secs(doc: str) -> Column:
    return _c(F64, False, doc, non_negative=True)


def _count(doc: str, required: bool = False) -> Column:
    return _c(I64, required, doc, non_negative=True)


TICKETS = Table(
    name="tickets",
    doc="one row per ticket or conversation",
    primary_key=("source_system", "source_instance", "ticket_id"),
    time_column="created_at",
    ordered=(
        ("created_at", "first_response_at"),
        ("created_at", "resolved_at"),
        ("created_at", "closed_at"),
    ),
    columns={
        **LINEAGE,
        **TENANT,
        "ticket_id": _c(STR, True, "the source's ticket/conversation id"),
        "channel": _c(STR, True, "email | chat | voice | messaging | social | web_form | other"),
        "status": _c(STR, False, "new | open | pending | on_hold | solved | closed | deleted (kept for lineage, never counted)"),
        "priority": _c(STR, False, "low | normal | high | urgent"),
        "queue": _c(STR, False, "queue, group or team"),
        "tags": _c(STR, False, "space-separated tags"),
        "contact_reason": _c(STR, False, "why the customer got in touch"),
        "organisation": _c(STR, False, "the customer's organisation or company in the source (its id)"),
        "direction": _c(STR, False, "inbound | outbound | automated (null: inbound); only inbound work is demand"),
        "language": _c(STR, False, "conversation language"),
        "created_at": _c(UTC, True, "when the customer first got in touch"),
        "first_response_at": _c(UTC, False, "first public agent reply"),
        "resolved_at": _c(UTC, False, "last time the ticket was solved"),
        "closed_at": _c(UTC, False, "when it was closed"),
        "first_response_seconds": _secs("calendar seconds to first response"),
        "first_response_business_seconds": _secs("business-hours seconds to first response"),
        "resolution_seconds": _secs("calendar seconds to (full) resolution"),
        "resolution_business_seconds": _secs("business-hours seconds to resolution"),
        "handle_seconds": _secs("agent handling time (talk+hold+wrap for voice, work time for text)"),
        "replies": _count("public agent replies"),
        "reopens": _count("times reopened after being solved"),
        "transfers": _count("times transferred between queues/agents"),
        "handled_by": _c(STR, False, "who handled it: ai_agent | bot | self_service | ivr | human | human_after_ai "
                                     "(a person after an AI agent or bot; null: unknown)"),
        "csat_raw": _c(STR, False, "the survey answer as the source gave it (good/bad, 1-5, 0-10 ...), whatever the survey"),
        "csat_score": _c(F64, False, "CSAT rating normalised to 0..1 (null for an NPS or CES answer)"),
        "csat_positive": _c(BOOL, False, "CSAT top-box (satisfied) flag (null for an NPS or CES answer)"),
        "survey_type": _c(STR, False, "csat | nps | ces: the survey the answer belongs to (null with an answer: csat)"),
        "rating_value": _c(F64, False, "the answer as a number on its survey's scale (NPS 0-10, CES 1-7 ...)"),
        "rating_scale": _c(STR, False, "the answer's scale: 'low-high' (0-10, 1-5, 1-7) or 'labels' (good/bad, words)"),
        "first_response_target_seconds": _secs("contractual first-response target for this ticket"),
        "resolution_target_seconds": _secs("contractual resolution target for this ticket"),
        "first_response_breached": _c(BOOL, False, "first-response SLA missed (null: no target)"),
        "resolution_breached": _c(BOOL, False, "resolution SLA missed (null: no target)"),
        "requester_hash": _c(STR, False, "keyed hash of the requester (never the raw id)"),
        "agent_id": _c(STR, False, "assignee"),
    },
)

CONTACT_INTERVALS = Table(
    name="contact_intervals",
    doc="voice/chat queue statistics per interval (usually 15 or 30 minutes)",
    primary_key=("client_id", "vendor_id", "source_system", "queue_id", "channel", "direction", "interval_start"),
    time_column="interval_start",
    columns={
        **LINEAGE,
        **TENANT,
        "queue_id": _c(STR, True, "queue / skill"),
        "channel": _c(STR, True, "voice | chat | messaging"),
        "direction": _c(STR, True, "inbound | outbound"),
        "interval_start": _c(UTC, True, "start of the interval"),
        "interval_minutes": _count("interval length in minutes", True),
        "offered": _count("contacts offered", True),
        "handled": _count("contacts answered/handled", True),
        "abandoned": _count("contacts abandoned in queue (including short abandons)"),
        "short_abandoned": _count("abandoned within the short-abandon threshold"),
        "answered_within_sl": _count("answered within the service-level threshold"),
        "abandoned_within_sl": _count("abandoned within the service-level threshold"),
        "sl_threshold_seconds": _secs("service-level threshold (e.g. 20 s)"),
        "wait_seconds": _secs("sum of queue wait of answered contacts (for ASA)"),
        "talk_seconds": _secs("sum of talk time"),
        "hold_seconds": _secs("sum of hold time"),
        "acw_seconds": _secs("sum of after-contact work"),
        "handle_seconds": _secs("sum of handle time (talk + hold + ACW)"),
        "transfers": _count("transfers out"),
    },
)

CONTACTS = Table(
    name="contacts",
    doc="one row per call, chat or other contact from an ACD or contact-centre platform",
    primary_key=("client_id", "vendor_id", "source_system", "source_instance", "contact_id"),
    time_column="initiated_at",
    ordered=(
        ("initiated_at", "queued_at"),
        ("initiated_at", "ended_at"),
        ("queued_at", "answered_at"),
        ("answered_at", "ended_at"),
    ),
    columns={
        **LINEAGE,
        **TENANT,
        "contact_id": _c(STR, True, "the platform's contact/call/conversation id"),
        "channel": _c(STR, True, "voice | chat | messaging | email | other"),
        "direction": _c(STR, True, "inbound | outbound"),
        "queue_id": _c(STR, False, "queue / skill the contact waited in (empty: it never reached a queue)"),
        "initiated_at": _c(UTC, True, "arrival: when the contact reached the platform (IVR start)"),
        "queued_at": _c(UTC, False, "queue entry (end of the IVR); empty when it never queued"),
        "answered_at": _c(UTC, False, "connected to an agent; empty when no agent took it"),
        "ended_at": _c(UTC, False, "disconnect"),
        "ivr_seconds": _secs("time in the IVR/flow before queue entry"),
        "outcome": _c(STR, False, "answered | abandoned | ivr | other (derived from the times when the source gives none)"),
        "wait_seconds": _secs("queue wait: queue entry to answer, or to disconnect when abandoned"),
        "talk_seconds": _secs("agent talk/interaction time, hold excluded"),
        "hold_seconds": _secs("customer hold time"),
        "acw_seconds": _secs("after-contact work (wrap)"),
        "handle_seconds": _secs("talk + hold + after-contact work (derived when the source gives none)"),
        "agent_id": _c(STR, False, "agent who handled it (the last one, when transferred)"),
        "transfers": _count("transfers out of the first queue/agent"),
        "callback": _c(BOOL, False, "the contact is a callback the customer asked for"),
        "handled_by": _c(STR, False, "ai_agent | bot | self_service | ivr | human | human_after_ai"),
    },
)

QA_EVALUATIONS = Table(
    name="qa_evaluations",
    doc="one row per QA evaluation of an interaction",
    primary_key=("client_id", "vendor_id", "source_system", "evaluation_id"),
    time_column="evaluated_at",
    columns={
        **LINEAGE,
        **TENANT,
        "evaluation_id": _c(STR, True, "evaluation id"),
        "agent_id": _c(STR, True, "agent evaluated"),
        "evaluator_id": _c(STR, False, "who scored it"),
        "ticket_id": _c(STR, False, "interaction evaluated"),
        "channel": _c(STR, False, "channel of the interaction"),
        "form": _c(STR, False, "scorecard / form name"),
        "evaluated_at": _c(UTC, True, "when it was scored"),
        "score": _c(F64, True, "points scored", non_negative=True),
        "max_score": _c(F64, True, "points possible", non_negative=True),
        "passed": _c(BOOL, False, "met the pass mark"),
        "auto_fail": _c(BOOL, False, "an auto-fail item was triggered"),
        "auto_fail_reason": _c(STR, False, "which auto-fail item"),
        "section_accuracy": _c(F64, False, "accuracy section, 0..1"),
        "section_empathy": _c(F64, False, "empathy section, 0..1"),
        "section_brand_voice": _c(F64, False, "brand voice section, 0..1"),
        "section_compliance": _c(F64, False, "compliance section, 0..1"),
    },
)

STAFFING_ROSTER = Table(
    name="staffing_roster",
    doc="one row per agent per day",
    primary_key=("client_id", "vendor_id", "agent_id", "date"),
    time_column="date",
    ordered=(("hire_date", "termination_date"),),
    columns={
        **LINEAGE,
        **TENANT,
        "agent_id": _c(STR, True, "agent"),
        "date": _c(DATE, True, "the day"),
        "role": _c(STR, False, "agent | team_lead | qa | trainer"),
        "status": _c(STR, True, "nesting | active | terminated"),
        "channel": _c(STR, False, "primary channel/skill"),
        "hire_date": _c(DATE, False, "date hired"),
        "termination_date": _c(DATE, False, "date left (only on the last day's row onwards)"),
        "termination_reason": _c(STR, False, "why the agent left"),
        "termination_type": _c(STR, False, "voluntary | involuntary"),
        "scheduled_seconds": _secs("scheduled time"),
        "logged_seconds": _secs("logged-in time"),
        "on_queue_seconds": _secs("available + handling time"),
        "handle_seconds": _secs("time handling contacts"),
        "adherent_seconds": _secs("scheduled time spent in the scheduled state"),
        "absence_seconds": _secs("absence (sick, unplanned leave)"),
        "training_seconds": _secs("training and coaching"),
    },
)

COST_INVOICES = Table(
    name="cost_invoices",
    doc="one row per invoice line",
    primary_key=("vendor_id", "invoice_id", "line_no"),
    time_column="period_start",
    columns={
        **LINEAGE,
        **TENANT,
        "invoice_id": _c(STR, True, "invoice number"),
        "line_no": _count("line number on the invoice", True),
        "period_start": _c(DATE, True, "first day billed"),
        "period_end": _c(DATE, True, "last day billed"),
        "channel": _c(STR, False, "channel the line bills, if any"),
        "billing_model": _c(STR, True, "per_hour | per_fte | per_contact | per_minute | fixed | minimum_shortfall | penalty | credit"),
        "description": _c(STR, False, "line text"),
        "quantity": _c(F64, False, "hours, FTE, contacts or minutes billed"),
        "unit_rate": _c(F64, False, "rate per unit"),
        "amount": _c(F64, True, "line amount (credits negative)"),
        "currency": _c(STR, True, "ISO 4217 code"),
        "committed_volume": _c(F64, False, "committed minimum quantity for the period"),
    },
)

SLA_TARGETS = Table(
    name="sla_targets",
    doc="contractual targets, effective-dated",
    primary_key=("target_id", "effective_from"),
    time_column=None,
    columns={
        **LINEAGE,
        "client_id": _c(STR, True, "the brand"),
        "vendor_id": _c(STR, False, "vendor it binds (null: every vendor)"),
        "site_id": _c(STR, False, "site it binds (null: every site)"),
        "target_id": _c(STR, True, "target id"),
        "effective_from": _c(DATE, True, "first day in force"),
        "effective_to": _c(DATE, False, "last day in force (null: open)"),
        "channel": _c(STR, False, "channel (null: every channel)"),
        "priority": _c(STR, False, "priority (null: every priority)"),
        "queue": _c(STR, False, "queue (null: every queue)"),
        "conditions": _c(STR, False, "further conditions as a JSON object, dimension → accepted values, e.g. "
                                     '{"organisation": ["509974"]} (null: none); see connectors/targets.py'),
        "metric": _c(STR, True, "KPI name the target applies to"),
        "threshold_seconds": _secs("time threshold (first response within 3600 s ...)"),
        "comparator": _c(STR, False, "<= | >= (how the KPI must compare with the target)"),
        "attainment_target": _c(F64, True, "target value of the KPI (0.9 = 90 %)"),
        "business_hours": _c(BOOL, False, "threshold counted in business hours"),
        "penalty_per_point": _c(F64, False, "service credit per percentage point below target"),
        "currency": _c(STR, False, "currency of the penalty"),
    },
)

EVENTS = Table(
    name="events",
    doc="the calendar narratives align changes with",
    primary_key=("event_id",),
    time_column=None,
    shared_when_client_null=True,
    ordered=(("start_date", "end_date"),),
    columns={
        **LINEAGE,
        **TENANT_OPTIONAL,
        "event_id": _c(STR, True, "event id"),
        "kind": _c(STR, True, "launch | outage | promotion | holiday | vendor_change | pilot | other"),
        "name": _c(STR, True, "short title"),
        "start_date": _c(DATE, True, "first day"),
        "end_date": _c(DATE, False, "last day (null: one day)"),
        "channel": _c(STR, False, "channel affected, if any"),
        "description": _c(STR, False, "details"),
    },
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (TICKETS, CONTACT_INTERVALS, QA_EVALUATIONS, STAFFING_ROSTER, COST_INVOICES, SLA_TARGETS, EVENTS, CONTACTS)
}

CHANNELS = ("email", "chat", "voice", "messaging", "social", "web_form", "other")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed", "deleted")
PRIORITIES = ("low", "normal", "high", "urgent")
DIRECTIONS = ("inbound", "outbound", "automated")  # who started a ticket: the customer, the team, a rule or bot
CONTACT_DIRECTIONS = ("inbound", "outbound")  # a call or chat: the customer rang, or the team dialled
OUTCOMES = ("answered", "abandoned", "ivr", "other")  # of a contact (insights/catalog/contact_rules.toml counts them)
# who handled a contact (DESIGN ruling "Blended-ops KPIs": ai_agent, bot and human_after_ai are AI-involved,
# measures.toml is_ai_involved)
HANDLED_BY = ("ai_agent", "bot", "self_service", "ivr", "human", "human_after_ai")
# work no person handled: a contract term (an SLA with a BPO or the in-house team) binds people's work, so no term
# binds these at import (their target and breach columns stay as the source gave them: usually empty)
UNATTENDED = ("ai_agent", "bot", "self_service", "ivr")
SURVEY_TYPES = ("csat", "nps", "ces")
# The closed sets a stored value must belong to (any other value is a bad row naming the mapping fix).
VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "tickets": {"channel": CHANNELS, "status": STATUSES, "priority": PRIORITIES, "handled_by": HANDLED_BY,
                "survey_type": SURVEY_TYPES, "direction": DIRECTIONS},
    "contacts": {"channel": CHANNELS, "direction": CONTACT_DIRECTIONS, "outcome": OUTCOMES, "handled_by": HANDLED_BY},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a frame, precise enough to fix."""

    table: str
    column: str | None
    message: str
    row: int | None = None  # 0-based row index in the frame, when one row is at fault

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f" row {self.row + 1}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


def get_table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table '{name}'; canonical tables are: {', '.join(TABLES)}") from None


def _castable(src: pl.DataType, dst: pl.DataType) -> bool:
    if src == dst or src == pl.Null:
        return True
    if dst == pl.String:
        return True
    if dst.is_numeric():
        return src.is_numeric() or src == pl.Boolean
    if dst == pl.Boolean:
        return src == pl.Boolean
    if isinstance(dst, pl.Datetime):
        return isinstance(src, pl.Datetime)
    if dst == pl.Date:
        return src == pl.Date or isinstance(src, pl.Datetime)
    return False


def validate(frame: pl.DataFrame, table: str, *, max_rows_per_problem: int = 5) -> list[Problem]:
    """Every problem of `frame` against the canonical `table`, all at once (empty list: valid)."""
    spec = get_table(table)
    problems: list[Problem] = []
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        problems.append(Problem(table, None, f"missing required column(s): {', '.join(missing)}"))
    unknown = [c for c in frame.columns if c not in spec.columns]
    if unknown:
        problems.append(Problem(table, None, f"unknown column(s): {', '.join(unknown)}"))
    for name, col in spec.columns.items():
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if not _castable(dtype, col.dtype):
            problems.append(Problem(table, name, f"has type {dtype}, expected {col.dtype}"))
            continue
        s = frame.get_column(name)
        if col.required:
            idx = _first_rows(s.is_null(), max_rows_per_problem)
            if idx:
                n = int(s.null_count())
                problems.append(Problem(table, name, f"{n} empty value(s) in a required column (rows {_rows(idx)})", idx[0]))
        if col.non_negative and s.dtype.is_numeric():
            bad = s < 0
            idx = _first_rows(bad, max_rows_per_problem)
            if idx:
                problems.append(Problem(table, name, f"negative value {s[idx[0]]} (rows {_rows(idx)}); durations and counts cannot be negative", idx[0]))
    for start, end in spec.ordered:
        if start in frame.columns and end in frame.columns:
            a, b = frame.get_column(start), frame.get_column(end)
            if _castable(a.dtype, spec.columns[start].dtype) and _castable(b.dtype, spec.columns[end].dtype) and a.dtype == b.dtype:
                idx = _first_rows(b < a, max_rows_per_problem)
                if idx:
                    problems.append(Problem(table, end, f"{end} {b[idx[0]]} is before {start} {a[idx[0]]} (rows {_rows(idx)})", idx[0]))
    pk = [c for c in spec.primary_key if c in frame.columns]
    if len(pk) == len(spec.primary_key) and frame.height:
        dup = frame.select(pk).is_duplicated()
        idx = _first_rows(dup, max_rows_per_problem)
        if idx:
            problems.append(Problem(table, None, f"duplicate primary key ({', '.join(pk)}) (rows {_rows(idx)})", idx[0]))
    return problems


def _first_rows(mask: pl.Series, k: int) -> list[int]:
    return mask.fill_null(False).arg_true().head(k).to_list()


def _rows(idx: list[int]) -> str:
    return ", ".join(str(i + 1) for i in idx)


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Cast to canonical dtypes, add absent optional columns as nulls, canonical column order."""
    spec = get_table(table)
    exprs = []
    for name, col in spec.columns.items():
        if name in frame.columns:
            e = pl.col(name)
            src = frame.schema[name]
            if isinstance(col.dtype, pl.Datetime) and isinstance(src, pl.Datetime):
                e = e.dt.replace_time_zone("UTC") if src.time_zone is None else e.dt.convert_time_zone("UTC")
                e = e.dt.cast_time_unit("us")
            elif src != col.dtype:
                e = e.cast(col.dtype)
            exprs.append(e.alias(name))
        else:
            exprs.append(pl.lit(None, dtype=col.dtype).alias(name))
    return frame.select(exprs)


def empty(table: str) -> pl.DataFrame:
    """An empty frame with the canonical schema of `table`."""
    return pl.DataFrame(schema=get_table(table).schema)
