"""Zendesk Support: tickets with their metric sets and CSAT, through the cursor-based incremental export.

`GET /api/v2/incremental/tickets/cursor.json?start_time=...&include=metric_sets` once, then
`cursor=<after_cursor>` until `end_of_stream`.  The export repeats tickets across pages and
includes deleted tickets (status "deleted"); archived tickets stay in it.  Ticket metrics
(reply time, first and full resolution, calendar and business minutes, replies, reopens, group
stations) come sideloaded as `metric_sets`, so one request serves both.  Documented limit:
10 requests per minute on the incremental endpoints, with `Retry-After` on 429.

Group and agent names (`GET /api/v2/groups`, `GET /api/v2/users?role[]=agent&role[]=admin`) are read
on every sync into the workspace's names (never agent names when agents are pseudonymised).

Three more streams, all with cursor pagination (`page[size]`, then `page[after]` from
`meta.after_cursor` while `meta.has_more`; `start_time` is kept on every page):

- `satisfaction_ratings` (`GET /api/v2/satisfaction_ratings?start_time=`) patch the CSAT columns of
  their tickets; "offered"/"unoffered" ratings (no answer) are skipped.
- `sla_policies` (`GET /api/v2/slas/policies`) become effective-dated `sla_targets` rows: one per
  policy, KPI and priority (see `SLA_METRICS`), bound by the policy's filter (`policy_conditions`:
  organisation, group, brand, priority, channel, ticket type), so two policies for different
  organisations are two terms for different work, not two competing client-wide targets.  Policy
  history starts at the first sync: the version found then is in force from the policy's
  `created_at`; a version seen later (a newer `updated_at`) is in force from its `updated_at` and
  ends the one before, so an edit never moves older tickets' targets (the sync engine dates them).
- `ticket_metric_events` (`GET /api/v2/incremental/ticket_metric_events?start_time=`) patch each
  ticket's SLA target (`apply_sla`) and breach flag (`breach`, `fulfill`) per KPI.  These are the
  vendor's own verdicts: stored, they win over flags the engine derives from `sla_targets`, and a
  breach stays a breach when the metric is fulfilled later.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from connectors.base import Endpoint, Field, FieldMap, Page, Stream
from connectors.http import HttpSource, Vendor, Response, basic_auth, position_of, records_of
from connectors.schema import UTC
from connectors.targets import encode

ENDPOINTS = {
    "tickets": Endpoint("/api/v2/incremental/tickets/cursor.json", data_key="tickets", paginator="cursor",
                        cursor_param="start_time", cursor_format="epoch", cursor_field="generated_timestamp",
                        params={"include": "metric_sets"}, page_size_param="per_page", page_size=1000),
    "satisfaction_ratings": Endpoint("/api/v2/satisfaction_ratings", data_key="satisfaction_ratings",
                                     paginator="cursor", cursor_field="updated_at",
                                     page_size_param="page[size]", page_size=100),
    "sla_policies": Endpoint("/api/v2/slas/policies", data_key="sla_policies", paginator="cursor",
                             cursor_field="updated_at", page_size_param="page[size]", page_size=100),
    "ticket_metric_events": Endpoint("/api/v2/incremental/ticket_metric_events", data_key="ticket_metric_events",
                                     paginator="cursor", cursor_field="time",
                                     page_size_param="page[size]", page_size=100),
}
# names of the ids the tickets store: groups (queue) and agents and admins (agent_id); cursor-paginated lists
NAMES = {
    "queue": Endpoint("/api/v2/groups", data_key="groups", paginator="cursor", page_size_param="page[size]", page_size=100),
    "agent": Endpoint("/api/v2/users", data_key="users", paginator="cursor", page_size_param="page[size]", page_size=100,
                      params={"role[]": ["agent", "admin"]}),
}
# list endpoints filtered by `start_time` (epoch seconds) on every page, unlike the export's cursor
START_TIME_FILTERED = frozenset({"/api/v2/satisfaction_ratings", "/api/v2/incremental/ticket_metric_events"})

CHANNELS = {
    "email": "email", "web": "web_form", "web_form": "web_form", "help_center": "web_form", "web_widget": "web_form",
    "chat": "chat", "voice": "voice", "phone": "voice", "native_messaging": "messaging", "mobile_sdk": "messaging",
    "sunshine_conversations_api": "messaging", "whatsapp": "messaging", "sms": "messaging", "line": "messaging",
    "wechat": "messaging", "telegram": "messaging", "apple_business_chat": "messaging", "messaging": "messaging",
    "facebook": "social", "twitter": "social", "instagram_dm": "social", "any_channel": "other", "api": "other",
    "rule": "other", "closed_ticket": "other", "sample_ticket": "other", "system": "other",
    # the other via types Zendesk documents (its via object reference): every one has a channel, so a sync never
    # refuses a ticket for the way it arrived
    "phone_call_inbound": "voice", "phone_call_outbound": "voice", "api_phone_call_inbound": "voice",
    "api_phone_call_outbound": "voice", "voicemail": "voice", "api_voicemail": "voice", "text": "messaging",
    "mobile": "messaging", "chat_transcript": "chat", "chat_offline": "chat", "chat_transcript_async": "chat",
    "twitter_dm": "social", "twitter_favorite": "social", "twitter_like": "social", "facebook_post": "social",
    "facebook_message": "social", "forum": "web_form", "topic": "web_form", "web_service": "other", "blog": "other",
    "ticket_sharing": "other", "merge": "other", "linked_problem": "other", "side_conversation": "other",
    "recovered_from_suspended_tickets": "other", "get_satisfaction": "other", "logmein_rescue": "other",
}
# Zendesk bots ("Answer Bot", now autoreplies) create tickets through their own via types (ids 65-67): the bot took part
# first; a ticket a person then replied to publicly was handed over (human_after_ai).  Other via types say nothing.
BOT_VIAS = {"answer_bot_for_web_widget": "web_form", "answer_bot_for_sdk": "messaging", "answer_bot_api": "other"}
CHANNELS.update(BOT_VIAS)


def handler(ticket: dict) -> str | None:
    """Who handled a ticket, where its via type tells: a bot alone, or a bot then a person (None: not told)."""
    via = ticket.get("via")
    if not isinstance(via, dict) or via.get("channel") not in BOT_VIAS:
        return None
    replies = (ticket.get("metric_set") or {}).get("replies")
    return "human_after_ai" if isinstance(replies, int) and replies > 0 else "bot"


STATUSES = {"new": "new", "open": "open", "pending": "pending", "hold": "on_hold", "solved": "solved",
            "closed": "closed", "deleted": "deleted"}
MINUTES = 60.0

TICKETS = FieldMap(table="tickets", fields={
    "ticket_id": Field("id", pl.String),
    "channel": Field("via.channel", pl.String, values=CHANNELS),
    "status": Field("status", pl.String, values=STATUSES),
    "priority": Field("priority", pl.String),
    "queue": Field("group_id", pl.String),
    "tags": Field("tags", pl.String),
    "contact_reason": Field("type", pl.String),
    "created_at": Field("created_at", UTC),
    "updated_at": Field("updated_at", UTC),
    "resolved_at": Field("bpo_resolved_at", UTC),
    "closed_at": Field("bpo_closed_at", UTC),
    "first_response_seconds": Field("metric_set.reply_time_in_minutes.calendar", pl.Float64, scale=MINUTES),
    "first_response_business_seconds": Field("metric_set.reply_time_in_minutes.business", pl.Float64, scale=MINUTES),
    "resolution_seconds": Field("metric_set.full_resolution_time_in_minutes.calendar", pl.Float64, scale=MINUTES),
    "resolution_business_seconds": Field("metric_set.full_resolution_time_in_minutes.business", pl.Float64, scale=MINUTES),
    "replies": Field("metric_set.replies", pl.Int64),
    "reopens": Field("metric_set.reopens", pl.Int64),
    "transfers": Field("metric_set.transfers", pl.Int64),
    "handled_by": Field("handled_by", pl.String),
    "csat_raw": Field("satisfaction_rating.score", pl.String),
    "requester_hash": Field("requester_id", pl.String, hashed=True),
    "agent_id": Field("assignee_id", pl.String),
    "organisation": Field("organization_id", pl.String),
    "direction": Field("bpo_direction", pl.String),
    "_group": Field("group_id", pl.String),
    "_brand": Field("brand_id", pl.String),
    "_tags": Field("tags", pl.String),
})

# satisfaction rating scores that carry an answer; "offered" / "unoffered" are surveys nobody answered
ANSWERED_SCORES = frozenset({"good", "bad"})

RATINGS = FieldMap(table="tickets", fields={
    "ticket_id": Field("ticket_id", pl.String),
    "csat_raw": Field("score", pl.String),
})

# SLA policy metric -> our KPI (one target per policy, KPI and priority).  No KPI, skipped:
# next_reply_time, periodic_update_time, pausable_update_time, group_ownership_time; agent_work_time
# is an internal clock (it stops while on hold), so requester_wait_time is the resolution target.
SLA_METRICS: dict[str, str] = {
    "first_reply_time": "sla_first_response",
    "requester_wait_time": "sla_resolution",
}
# via_id (SLA policy and trigger conditions) -> the via type the ticket export names (`CHANNELS` keys);
# from Zendesk's via types reference
VIA_IDS: dict[str, str] = {
    "0": "web_form", "4": "email", "5": "api", "8": "rule", "16": "any_channel", "17": "web_form", "23": "twitter",
    "26": "twitter", "27": "closed_ticket", "29": "chat", "30": "twitter", "33": "voice", "34": "voice",
    "35": "voice", "38": "facebook", "41": "facebook", "44": "voice", "45": "voice", "46": "voice",
    "48": "web_widget", "49": "mobile_sdk", "50": "help_center", "55": "any_channel", "56": "mobile_sdk",
    "57": "sms",
}
# policy filter field -> the canonical dimension it conditions (channel through VIA_IDS; brand routes the client)
POLICY_FIELDS: dict[str, str] = {
    "organization_id": "organisation", "group_id": "queue", "priority": "priority", "ticket_priority": "priority",
    "via_id": "channel", "current_via_id": "channel", "type": "contact_reason", "ticket_type_id": "contact_reason",
    "brand_id": "brand",
}
# ticket type ids (ticket_type_id conditions) -> the type names the export gives
TICKET_TYPES = {"1": "question", "2": "incident", "3": "problem", "4": "task"}
# dimensions with a closed vocabulary, where "is_not" can be written as the values left
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "priority": ("low", "normal", "high", "urgent"),
    "channel": ("email", "chat", "voice", "messaging", "social", "web_form", "other"),
    "contact_reason": ("question", "incident", "problem", "task"),
}
# outbound: the team started it (an outbound call); automated: a trigger or automation created it
OUTBOUND_VIA = frozenset({"phone_call_outbound", "api_phone_call_outbound"})
AUTOMATED_VIA = frozenset({"rule"})
OUTBOUND_REL = frozenset({"outbound", "outbound_call"})
# metric event metric -> the ticket columns it sets (reply_time only for its first instance)
EVENT_METRICS: dict[str, str] = {"reply_time": "first_response", "requester_wait_time": "resolution"}

SLA_TARGETS = FieldMap(table="sla_targets", fields={
    "target_id": Field("target_id", pl.String),
    "effective_from": Field("created_at", UTC),  # the first version's; later versions: see the module docstring
    "priority": Field("priority", pl.String),
    "channel": Field("channel", pl.String),
    "queue": Field("queue", pl.String),
    "conditions": Field("conditions", pl.String),
    "_brand": Field("brand_id", pl.String),
    "metric": Field("kpi", pl.String),
    "threshold_seconds": Field("target_seconds", pl.Float64),
    "business_hours": Field("business_hours", pl.Boolean),
    "updated_at": Field("updated_at", UTC),
})

METRIC_EVENTS = FieldMap(table="tickets", fields={
    "ticket_id": Field("ticket_id", pl.String),
    "first_response_target_seconds": Field("first_response.target", pl.Float64),
    "first_response_breached": Field("first_response.breached", pl.Boolean),
    "resolution_target_seconds": Field("resolution.target", pl.Float64),
    "resolution_breached": Field("resolution.breached", pl.Boolean),
})
BREACH_FLAGS = ("first_response_breached", "resolution_breached")

# stream -> options of the patch streams (the others own their rows)
PATCHES: dict[str, dict[str, Any]] = {
    "satisfaction_ratings": {},
    "ticket_metric_events": {"vendor_truth": True, "once_true": BREACH_FLAGS},
}

# Zendesk refuses a start_time within the last minute ("Too recent start_time")
MIN_AGE = timedelta(seconds=61)


class Zendesk(HttpSource):
    """Zendesk Support: the incremental ticket export, CSAT ratings, SLA policies and SLA metric events."""

    system = "zendesk"
    endpoints = ENDPOINTS
    mappings = {"tickets": TICKETS, "satisfaction_ratings": RATINGS, "sla_policies": SLA_TARGETS,
                "ticket_metric_events": METRIC_EVENTS}
    name_endpoints = NAMES

    def streams(self) -> tuple[Stream, ...]:
        return tuple(Stream(n, self.mappings[n], patch=n in PATCHES, **PATCHES.get(n, {})) for n in self.endpoints)

    def params(self, endpoint: Endpoint, since: datetime) -> dict[str, Any]:
        since = min(since, datetime.now(timezone.utc) - MIN_AGE)
        p = super().params(endpoint, since)
        if endpoint.path in START_TIME_FILTERED:
            p["start_time"] = int(since.timestamp())
        return p

    def page(self, stream: str, resp: Response, data: Any) -> Page:
        """Records reshaped by `prepare`; the position from the raw records (skipped ones still count)."""
        ep = self.endpoints[stream]
        raw = [r for r in records_of(ep, data, resp.label) if isinstance(r, dict)]
        return Page(self.prepare(stream, data, raw), position_of(raw, ep.cursor_field), resp.label)

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Reshape each stream's records into the rows its field map reads."""
        if stream == "satisfaction_ratings":
            return [r for r in records if str(r.get("score") or "").lower() in ANSWERED_SCORES]
        if stream == "sla_policies":
            return [row for p in records for row in policy_targets(self.name, p)]
        if stream == "ticket_metric_events":
            return ticket_sla_verdicts(records)
        return [{**r, "handled_by": handler(r)} for r in self._attach_metric_sets(data, records)]

    def _attach_metric_sets(self, data: Any, records: list[dict]) -> list[dict]:
        """Attach each ticket's sideloaded metric set (transfers = group stations after the first), and its
        solved and closed times (`solve_times`)."""
        sets = data.get("metric_sets") if isinstance(data, dict) else None
        by_ticket = {m.get("ticket_id"): m for m in sets or () if isinstance(m, dict)}
        out = []
        for r in records:
            if not isinstance(r, dict):
                continue
            m = by_ticket.get(r.get("id"))
            if m is not None:
                stations = m.get("group_stations")
                m = {**m, "transfers": max(0, stations - 1) if isinstance(stations, int) else None}
                r = {**r, "metric_set": m}
            out.append({**r, **solve_times(r), "bpo_direction": ticket_direction(r)})
        return out


def solve_times(ticket: dict) -> dict[str, Any]:
    """When a ticket was solved and closed (`bpo_resolved_at`, `bpo_closed_at`).

    Solved: the metric set's `solved_at`.  A solved or closed ticket without one (closed by a
    trigger or merged before metrics were kept, archived, or exported without its metric set)
    takes its last status change (`status_updated_at`), else its `updated_at`: it is solved, so it
    leaves the backlog.  Closed: a closed ticket's last status change, else its `updated_at` (a
    closed ticket is never edited again).
    """
    status = ticket.get("status")
    m = _obj(ticket.get("metric_set"))
    last_change = m.get("status_updated_at") or ticket.get("updated_at")
    solved = m.get("solved_at") or (last_change if status in ("solved", "closed") else None)
    return {"bpo_resolved_at": solved, "bpo_closed_at": last_change if status == "closed" else None}


def policy_conditions(policy: dict) -> list[dict[str, frozenset[str]]]:
    """The work a policy's filter binds, as alternatives: each a map of dimension -> accepted values.

    `filter.all` conditions must all hold; `filter.any` conditions on one field add up to one set of
    accepted values, on several fields they are alternatives (one term each).  "is" accepts its value,
    "is_not" the rest of a closed vocabulary (priority, channel, type).  A condition on a field the
    product does not store (ticket form, tags, custom fields ...) or with another operator is kept
    under its own name ("ticket_form_id", "tags includes"): no ticket carries it, so the term binds
    no ticket at import (its tickets get their target from their `apply_sla` events) and the
    contract pages name the condition.
    """
    flt = _obj(policy.get("filter"))

    def one(c: Any) -> tuple[str, frozenset[str]] | None:
        if not isinstance(c, dict) or c.get("field") is None:
            return None
        field, op, raw = str(c["field"]), str(c.get("operator") or "is"), c.get("value")
        values = [str(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
        dim = POLICY_FIELDS.get(field)
        if dim == "channel":
            values = [CHANNELS.get(VIA_IDS.get(v, v), "other") for v in values]
        elif dim == "contact_reason":
            values = [TICKET_TYPES.get(v, v).lower() for v in values]
        elif dim == "priority":
            values = [v.lower() for v in values]
        if dim is None or op not in ("is", "is_not") or (op == "is_not" and dim not in VOCABULARIES):
            return (field if op == "is" else f"{field} {op}", frozenset(values))
        if op == "is_not":
            return dim, frozenset(VOCABULARIES[dim]) - set(values)
        return dim, frozenset(values)

    base: dict[str, frozenset[str]] = {}
    for c in flt.get("all") or ():
        got = one(c)
        if got:
            base[got[0]] = base[got[0]] & got[1] if got[0] in base else got[1]
    anys: dict[str, frozenset[str]] = {}
    for c in flt.get("any") or ():
        got = one(c)
        if got:
            anys[got[0]] = anys.get(got[0], frozenset()) | got[1]
    if not anys:
        return [base]
    return [{**base, key: base[key] & accepted if key in base else accepted} for key, accepted in sorted(anys.items())]


def policy_targets(source: str, policy: dict) -> list[dict]:
    """One row per KPI, priority and alternative of the policy's filter (minutes -> seconds; `target_in_seconds` when given).

    A single accepted queue or channel sits in its column, every other condition in the `conditions`
    map; a brand routes the row to the brand's client (`[[source.tenants]] brand`), one row per brand.
    A metric for a priority the filter excludes, or an alternative no ticket can meet (chat and voice
    at once), binds nothing and is left out.
    """
    alternatives = [alt for alt in policy_conditions(policy) if all(alt.values())]
    rows: dict[tuple, dict] = {}
    for m in policy.get("policy_metrics") or ():
        if not isinstance(m, dict) or m.get("metric") not in SLA_METRICS or not m.get("priority"):
            continue
        kpi = SLA_METRICS[m["metric"]]
        priority = str(m["priority"]).lower()
        seconds = m.get("target_in_seconds")
        if seconds is None and isinstance(m.get("target"), (int, float)):
            seconds = m["target"] * MINUTES
        for n, alt in enumerate(alternatives):
            if priority not in alt.get("priority", frozenset({priority})):
                continue
            conds = {k: v for k, v in alt.items() if k not in ("priority", "brand")}
            columns = {c: next(iter(conds.pop(c))) for c in ("queue", "channel") if len(conds.get(c, ())) == 1}
            brands: list[str | None] = [*sorted(alt["brand"])] if alt.get("brand") else [None]
            for brand in brands:
                suffix = (f"/any-{n + 1}" if len(alternatives) > 1 else "") + (f"/brand-{brand}" if brand else "")
                key = (kpi, priority, n, brand)
                rows.setdefault(key, {
                    "target_id": f"{source}/sla-policy-{policy.get('id')}/{kpi}/{priority}{suffix}",
                    "kpi": kpi, "priority": priority, "target_seconds": seconds,
                    "business_hours": m.get("business_hours"), "conditions": encode(conds), "brand_id": brand,
                    "created_at": policy.get("created_at") or policy.get("updated_at"),
                    "updated_at": policy.get("updated_at"), **columns,
                })
    return list(rows.values())


def ticket_direction(ticket: dict) -> str:
    """inbound, outbound (an outbound call the team placed) or automated (a trigger or automation created it)."""
    via = _obj(ticket.get("via"))
    channel = str(via.get("channel") or "")
    source = _obj(via.get("source"))
    if channel in OUTBOUND_VIA or str(source.get("rel") or "") in OUTBOUND_REL:
        return "outbound"
    if channel in AUTOMATED_VIA:
        return "automated"
    return "inbound"


def ticket_sla_verdicts(events: list[dict]) -> list[dict]:
    """Per ticket, the SLA target and breach verdict its metric events give (in the events' order).

    `apply_sla` sets the target; `breach` sets breached (a deleted breach clears it); `fulfill`
    without a breach means met.  First response is the first instance of `reply_time`.
    """
    out: dict[Any, dict] = {}
    for e in sorted(events, key=lambda e: (str(e.get("time") or ""), e.get("id") or 0)):
        kind = EVENT_METRICS.get(e.get("metric"))
        if kind is None or e.get("ticket_id") is None or (kind == "first_response" and e.get("instance_id", 1) != 1):
            continue
        row = out.setdefault(e["ticket_id"], {"ticket_id": e["ticket_id"]})
        state = row.setdefault(kind, {"target": None, "breached": None})
        kind_of_event = e.get("type")
        if kind_of_event == "apply_sla":
            sla = _obj(e.get("sla"))
            seconds = sla.get("target_in_seconds")
            if seconds is None and isinstance(sla.get("target"), (int, float)):
                seconds = sla["target"] * MINUTES
            state["target"] = seconds
        elif kind_of_event == "breach":
            state["breached"] = None if e.get("deleted") else True
        elif kind_of_event == "fulfill" and state["breached"] is None:
            state["breached"] = False
    return list(out.values())


def _obj(v: Any) -> dict:
    """A nested object of a record, or an empty one when it is missing or not an object."""
    return v if isinstance(v, dict) else {}


def auth_header(settings: dict, token: str) -> str:
    """API token auth (`{email}/token:{token}`), or an OAuth bearer token when no email is set."""
    email = settings.get("email")
    return basic_auth(f"{email}/token", token) if email else f"Bearer {token}"


def base_url(settings: dict) -> str | None:
    return settings.get("base_url") or (f"https://{settings['subdomain']}.zendesk.com" if settings.get("subdomain") else None)


def check(settings: dict) -> list[str]:
    """Where the account lives must be said."""
    return [] if base_url(settings) else ["set 'subdomain' (acme for acme.zendesk.com) or 'base_url'"]


VENDOR = Vendor(
    kind="zendesk",
    keys=frozenset({"subdomain", "base_url", "email", "token_env", "sla_attainment_target"}),
    auth_header=auth_header,
    base_url=base_url,
    check=check,
    build=lambda name, client, settings, page_size: Zendesk(name, client, page_size=page_size),
)
