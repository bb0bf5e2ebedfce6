"""Freshdesk: tickets with `include=stats` in `updated_since` windows, Link-header pages, CSAT ratings.

Without `updated_since` the list returns only the last 30 days, and it refuses pages beyond 300,
so the source walks windows: ordered by `updated_at` ascending, and when a window reaches its
last allowed page the next window starts at the newest `updated_at` seen (inclusive: the
overlap is deduplicated by the upsert).  Status, source and priority codes are mapped to
canonical values (group and agent names are read from `/api/v2/groups` and `/api/v2/agents`);
source 10 (outbound email) gives direction "outbound".  Satisfaction ratings (`/api/v2/surveys/satisfaction_ratings`) patch the CSAT
columns of their tickets.

Freshdesk's own SLA verdicts are read from each ticket: `fr_escalated` (first response overdue)
and `is_escalated` (resolution overdue), with the due times `fr_due_by` and `due_by` as the
targets (seconds from creation to the due time).  A ticket answered (or resolved) after its due
time is breached even when the escalation flag was never raised; one answered in time and never
escalated met it; one not yet answered and not escalated has no verdict yet.  These vendor
verdicts are stored as given, so they win over flags derived from `sla_targets` (which only fill
tickets without them), as Zendesk's metric events do.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl

from connectors.base import Endpoint, Field, FieldMap, Page, to_utc
from connectors.http import (_LINK_NEXT, HttpClient, HttpSource, Vendor, SourceUnreachable, basic_auth, id_and_name,
                             iso_seconds)

MAX_PAGE = 300

ENDPOINTS = {
    "tickets": Endpoint("/api/v2/tickets", data_key=None, paginator="link-header", cursor_param="updated_since",
                        cursor_field="updated_at", page_size_param="per_page", page_size=100,
                        params={"include": "stats", "order_by": "updated_at", "order_type": "asc"}),
    "satisfaction_ratings": Endpoint("/api/v2/surveys/satisfaction_ratings", data_key=None, paginator="link-header",
                                     cursor_param="created_since", cursor_field="updated_at",
                                     page_size_param="per_page", page_size=100),
}

# names of the ids the tickets store: groups (queue) and agents (agent_id: the responder)
NAMES = {
    "queue": Endpoint("/api/v2/groups", data_key=None, paginator="link-header", page_size_param="per_page", page_size=100),
    "agent": Endpoint("/api/v2/agents", data_key=None, paginator="link-header", page_size_param="per_page", page_size=100),
}

SOURCES = {"1": "email", "2": "web_form", "3": "voice", "4": "web_form", "5": "social", "6": "social",
           "7": "chat", "8": "messaging", "9": "web_form", "10": "email", "11": "messaging", "12": "messaging"}
STATUSES = {"2": "open", "3": "pending", "4": "solved", "5": "closed", "6": "pending", "7": "pending"}
PRIORITIES = {"1": "low", "2": "normal", "3": "high", "4": "urgent"}
# source 10 is an outbound email (the team wrote first): kept, but not customer demand
DIRECTIONS = {"10": "outbound"}
UTC = pl.Datetime("us", "UTC")

TICKETS = FieldMap(table="tickets", fields={
    "ticket_id": Field("id", pl.String),
    "channel": Field("source", pl.String, values=SOURCES),
    "status": Field("status", pl.String, values=STATUSES),
    "priority": Field("priority", pl.String, values=PRIORITIES),
    "queue": Field("group_id", pl.String),
    "tags": Field("tags", pl.String),
    "contact_reason": Field("type", pl.String),
    "created_at": Field("created_at", UTC),
    "updated_at": Field("updated_at", UTC),
    "first_response_at": Field("stats.first_responded_at", UTC),
    "resolved_at": Field("stats.resolved_at", UTC),
    "closed_at": Field("stats.closed_at", UTC),
    "requester_hash": Field("requester_id", pl.String, hashed=True),
    "agent_id": Field("responder_id", pl.String),
    "organisation": Field("company_id", pl.String),
    "direction": Field("bpo_direction", pl.String),
    "first_response_target_seconds": Field("bpo_sla.first_response_target", pl.Float64),
    "first_response_breached": Field("bpo_sla.first_response_breached", pl.Boolean),
    "resolution_target_seconds": Field("bpo_sla.resolution_target", pl.Float64),
    "resolution_breached": Field("bpo_sla.resolution_breached", pl.Boolean),
    "_group": Field("group_id", pl.String),
    "_brand": Field("product_id", pl.String),
    "_tags": Field("tags", pl.String),
})

RATINGS = FieldMap(table="tickets", fields={
    "ticket_id": Field("ticket_id", pl.String),
    "csat_raw": Field("ratings.default_question", pl.String),
    "updated_at": Field("updated_at", UTC),
})


class Freshdesk(HttpSource):
    """Freshdesk tickets (with stats) and satisfaction ratings."""

    system = "freshdesk"
    endpoints = ENDPOINTS
    mappings = {"tickets": TICKETS, "satisfaction_ratings": RATINGS}
    patches = frozenset({"satisfaction_ratings"})
    name_endpoints = NAMES

    def __init__(self, name: str, client: HttpClient, *, page_size: int | None = None, max_page: int = MAX_PAGE) -> None:
        super().__init__(name, client, page_size=page_size)
        self.max_page = max_page

    def name_of(self, kind: str, record: dict) -> tuple[str, str] | None:
        """An agent's name is its contact's; a group's its own."""
        if kind == "agent":
            contact = record.get("contact")
            return id_and_name(record.get("id"), contact.get("name") if isinstance(contact, dict) else None)
        return id_and_name(record.get("id"), record.get("name"))

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Tickets get their SLA verdicts (`sla_verdicts`) and direction (`DIRECTIONS`, else inbound); ratings
        are kept as they are."""
        if stream != "tickets":
            return records
        return [{**r, "bpo_sla": sla_verdicts(r), "bpo_direction": DIRECTIONS.get(str(r.get("source")), "inbound")}
                for r in records if isinstance(r, dict)]

    def read(self, stream: str, since: datetime) -> Iterator[Page]:
        """Walk `updated_since` windows so no window needs a page beyond the API's last allowed one."""
        ep = self.endpoints[stream]
        window = since
        while True:
            newest: datetime | None = None
            pages = 0
            more = False
            for resp, data in self.client.pages(ep, self.params(ep, window)):
                page = self.page(stream, resp, data)
                pages += 1
                if page.position is not None and (newest is None or page.position > newest):
                    newest = page.position
                yield page
                if pages >= self.max_page:
                    more = bool(_LINK_NEXT.search(resp.headers.get("link", "")))
                    break
            if not more:
                return
            if newest is None or iso_seconds(newest) <= iso_seconds(window):
                raise SourceUnreachable(
                    f"{self.name}: GET {ep.path} has more than {self.max_page} pages of records updated at "
                    f"{iso_seconds(window)}; the window cannot advance: lower the sync start or ask Freshdesk support")
            window = newest


def _at(v: Any) -> datetime | None:
    try:
        return to_utc(v) if v not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def sla_verdicts(ticket: dict) -> dict[str, Any]:
    """Targets (seconds from creation to `fr_due_by` / `due_by`) and breach verdicts of one Freshdesk ticket.

    Breached: the escalation flag (`fr_escalated` / `is_escalated`) is set, or the milestone came
    after its due time.  Met: the milestone came by its due time and no flag is set.  No verdict
    (null) while the milestone has not been reached and no flag is set.
    """
    stats = _obj(ticket.get("stats"))
    created = _at(ticket.get("created_at"))
    out: dict[str, Any] = {}
    for kind, flag, due_key, done_key in (("first_response", "fr_escalated", "fr_due_by", "first_responded_at"),
                                          ("resolution", "is_escalated", "due_by", "resolved_at")):
        due, done = _at(ticket.get(due_key)), _at(stats.get(done_key))
        seconds = (due - created).total_seconds() if due is not None and created is not None else None
        out[f"{kind}_target"] = seconds if seconds is None or seconds >= 0 else None
        if ticket.get(flag) is True:
            out[f"{kind}_breached"] = True
        elif done is not None and due is not None:
            out[f"{kind}_breached"] = done > due
        else:
            out[f"{kind}_breached"] = None
    return out


def _obj(v: Any) -> dict:
    """A nested object of a record, or an empty one when it is missing or not an object."""
    return v if isinstance(v, dict) else {}


def auth_header(settings: dict, token: str) -> str:
    """Freshdesk API key as the basic-auth user, with the conventional password "X"."""
    return basic_auth(token, "X")


def base_url(settings: dict) -> str | None:
    if settings.get("base_url"):
        return settings["base_url"]
    domain = settings.get("domain") or settings.get("subdomain")
    if not domain:
        return None
    return f"https://{domain}" if "." in domain else f"https://{domain}.freshdesk.com"


def check(settings: dict) -> list[str]:
    """Where the account lives must be said."""
    return [] if base_url(settings) else ["set 'domain' (acme.freshdesk.com) or 'base_url'"]


VENDOR = Vendor(
    kind="freshdesk",
    keys=frozenset({"domain", "subdomain", "base_url", "token_env", "max_page"}),
    auth_header=auth_header,
    base_url=base_url,
    check=check,
    build=lambda name, client, settings, page_size: Freshdesk(
        name, client, page_size=page_size, max_page=int(settings.get("max_page", MAX_PAGE))),
)
