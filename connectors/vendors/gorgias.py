"""Gorgias: tickets and satisfaction surveys through cursor-paginated lists.

The list endpoints have no "updated since" filter, so the source reads them newest first
(`order_by=updated_datetime:desc` for tickets, `created_datetime:desc` for surveys), follows
`meta.next_cursor` (sent back as `cursor`) and stops at the first record older than the saved
position minus the lookback.  Because the walk runs backwards in time, the stream position is
reported only with the walk's last page: a sync killed half-way keeps the old cursor and the next
run walks the same range again (the upsert makes the re-read harmless).

A survey is created when it is sent and scored later, so the survey walk reaches back a further
`survey_window_days` (default 30) to catch late answers; unanswered surveys are skipped and
answered ones patch the CSAT columns of their tickets.  Trashed and spam tickets are kept with
status "deleted".  Auth: HTTP Basic with the account email and the REST API key.  Documented
rate limit: a leaky bucket per account; a 429 carries `Retry-After` (seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from connectors.base import Endpoint, Field, FieldMap, Page
from connectors.http import HttpClient, HttpSource, Vendor, basic_auth, position_of, records_of
from connectors.schema import UTC

MAX_LIMIT = 100
SURVEY_WINDOW_DAYS = 30

ENDPOINTS = {
    "tickets": Endpoint("/api/tickets", data_key="data", paginator="none", cursor_field="updated_datetime",
                        params={"order_by": "updated_datetime:desc"}, page_size_param="limit", page_size=MAX_LIMIT),
    "satisfaction_surveys": Endpoint("/api/satisfaction-surveys", data_key="data", paginator="none",
                                     cursor_field="created_datetime", params={"order_by": "created_datetime:desc"},
                                     page_size_param="limit", page_size=MAX_LIMIT),
}

CHANNELS = {
    "email": "email", "contact_form": "web_form", "help-center": "web_form", "chat": "chat", "phone": "voice",
    "sms": "messaging", "whatsapp": "messaging", "facebook-messenger": "messaging",
    "instagram-direct-message": "messaging", "facebook": "social", "facebook-mention": "social",
    "instagram-comment": "social", "instagram-ad-comment": "social", "twitter": "social",
    "twitter-direct-message": "messaging", "api": "other", "internal-note": "other",
}
PRIORITIES = {"low": "low", "normal": "normal", "high": "high", "critical": "urgent"}

TICKETS = FieldMap(table="tickets", fields={
    "ticket_id": Field("id", pl.String),
    "channel": Field("channel", pl.String, values=CHANNELS),
    "status": Field("state", pl.String),
    "priority": Field("priority", pl.String, values=PRIORITIES),
    "queue": Field("assignee_team.name", pl.String),
    "tags": Field("tag_names", pl.String),
    "language": Field("language", pl.String),
    "created_at": Field("created_datetime", UTC),
    "updated_at": Field("updated_datetime", UTC),
    "resolved_at": Field("closed_datetime", UTC),
    "closed_at": Field("closed_datetime", UTC),
    "requester_hash": Field("customer.id", pl.String, hashed=True),
    "agent_id": Field("assignee_user.id", pl.String),
    "_group": Field("assignee_team.id", pl.String),
    "_tags": Field("tag_names", pl.String),
})

SURVEYS = FieldMap(table="tickets", fields={
    "ticket_id": Field("ticket_id", pl.String),
    "csat_raw": Field("score", pl.String),
    "updated_at": Field("scored_datetime", UTC),
})


class Gorgias(HttpSource):
    """Gorgias tickets and satisfaction surveys, read newest first down to the saved position."""

    system = "gorgias"
    endpoints = ENDPOINTS
    mappings = {"tickets": TICKETS, "satisfaction_surveys": SURVEYS}
    patches = frozenset({"satisfaction_surveys"})

    def __init__(self, name: str, client: HttpClient, *, page_size: int | None = None,
                 survey_window: timedelta = timedelta(days=SURVEY_WINDOW_DAYS)) -> None:
        super().__init__(name, client, page_size=page_size)
        self.survey_window = survey_window

    def read(self, stream: str, since: datetime) -> Iterator[Page]:
        """Newest first until a record is older than `since`; the position rides on the last page only."""
        ep = self.endpoints[stream]
        stop = since - self.survey_window if stream == "satisfaction_surveys" else since
        params: dict[str, Any] = {**ep.params, "limit": min(self.page_size or ep.page_size, MAX_LIMIT)}
        newest: datetime | None = None
        held: Page | None = None
        while True:
            resp = self.client.request("GET", ep.path, params)
            records = records_of(ep, resp.data, resp.label)
            fresh = [r for r in records if not _older(r, ep.cursor_field, stop)]
            seen = position_of(fresh, ep.cursor_field)
            newest = seen if newest is None or (seen is not None and seen > newest) else newest
            if held is not None:
                yield held
            held = Page(self.prepare(stream, resp.data, fresh), None, resp.label)
            meta = resp.data.get("meta") if isinstance(resp.data, dict) else None
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if len(fresh) < len(records) or not cursor:
                break
            params = {**params, "cursor": cursor}
        yield Page(held.records, newest, held.label)

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Tickets: tag names, and "deleted" for trashed or spam; surveys: only the answered ones."""
        if stream == "satisfaction_surveys":
            return [r for r in records if isinstance(r, dict) and r.get("score") is not None]
        out = []
        for r in records:
            if not isinstance(r, dict):
                continue
            tags = [t.get("name") for t in r.get("tags") or () if isinstance(t, dict) and t.get("name")]
            state = "deleted" if r.get("trashed_datetime") or r.get("spam") else r.get("status")
            out.append({**r, "tag_names": [t.replace(" ", "_") for t in tags], "state": state})
        return out


def _older(record: dict, field: str, stop: datetime) -> bool:
    """True when the record's position is before `stop` (records without one are kept)."""
    pos = position_of([record], field)
    return pos is not None and pos < stop


def auth_header(settings: dict, token: str) -> str:
    """HTTP Basic: the account email as user, the REST API key as password."""
    return basic_auth(str(settings.get("email", "")), token)


def base_url(settings: dict) -> str | None:
    if settings.get("base_url"):
        return settings["base_url"]
    domain = settings.get("domain") or settings.get("subdomain")
    if not domain:
        return None
    return f"https://{domain}" if "." in domain else f"https://{domain}.gorgias.com"


def check(settings: dict) -> list[str]:
    """Where the account lives, and whose REST API key it is."""
    problems = [] if base_url(settings) else ["set 'domain' (acme for acme.gorgias.com) or 'base_url'"]
    if not settings.get("email"):
        problems.append("'email' is missing (the Gorgias user the REST API key belongs to)")
    return problems


VENDOR = Vendor(
    kind="gorgias",
    keys=frozenset({"domain", "subdomain", "base_url", "email", "token_env", "survey_window_days"}),
    auth_header=auth_header,
    base_url=base_url,
    check=check,
    build=lambda name, client, settings, page_size: Gorgias(
        name, client, page_size=page_size,
        survey_window=timedelta(days=float(settings.get("survey_window_days", SURVEY_WINDOW_DAYS)))),
)
