"""Zendesk Support: tickets with their metric sets and CSAT, through the cursor-based incremental export.

`GET /api/v2/incremental/tickets/cursor.json?start_time=...&include=metric_sets` once, then
`cursor=<after_cursor>` until `end_of_stream`.  The export repeats tickets across pages and
includes deleted tickets (status "deleted"); archived tickets stay in it.  Ticket metrics
(reply time, first and full resolution, calendar and business minutes, replies, reopens, group
stations) come sideloaded as `metric_sets`, so one request serves both.  Documented limit:
10 requests per minute on the incremental endpoints, with `Retry-After` on 429.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl

from connectors.base import Endpoint, Field, FieldMap
from connectors.http import HttpSource, basic_auth
from connectors.schema import UTC

ENDPOINTS = {
    "tickets": Endpoint("/api/v2/incremental/tickets/cursor.json", data_key="tickets", paginator="cursor",
                        cursor_param="start_time", cursor_format="epoch", cursor_field="generated_timestamp",
                        params={"include": "metric_sets"}, page_size_param="per_page", page_size=1000),
}

CHANNELS = {
    "email": "email", "web": "web_form", "web_form": "web_form", "help_center": "web_form", "web_widget": "web_form",
    "chat": "chat", "voice": "voice", "phone": "voice", "native_messaging": "messaging", "mobile_sdk": "messaging",
    "sunshine_conversations_api": "messaging", "whatsapp": "messaging", "sms": "messaging", "line": "messaging",
    "wechat": "messaging", "telegram": "messaging", "apple_business_chat": "messaging", "messaging": "messaging",
    "facebook": "social", "twitter": "social", "instagram_dm": "social", "any_channel": "other", "api": "other",
    "rule": "other", "closed_ticket": "other", "sample_ticket": "other", "system": "other",
}
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
    "resolved_at": Field("metric_set.solved_at", UTC),
    "first_response_seconds": Field("metric_set.reply_time_in_minutes.calendar", pl.Float64, scale=MINUTES),
    "first_response_business_seconds": Field("metric_set.reply_time_in_minutes.business", pl.Float64, scale=MINUTES),
    "resolution_seconds": Field("metric_set.full_resolution_time_in_minutes.calendar", pl.Float64, scale=MINUTES),
    "resolution_business_seconds": Field("metric_set.full_resolution_time_in_minutes.business", pl.Float64, scale=MINUTES),
    "replies": Field("metric_set.replies", pl.Int64),
    "reopens": Field("metric_set.reopens", pl.Int64),
    "transfers": Field("metric_set.transfers", pl.Int64),
    "csat_raw": Field("satisfaction_rating.score", pl.String),
    "requester_hash": Field("requester_id", pl.String, hashed=True),
    "agent_id": Field("assignee_id", pl.String),
    "_group": Field("group_id", pl.String),
    "_brand": Field("brand_id", pl.String),
    "_tags": Field("tags", pl.String),
})

# Zendesk refuses a start_time within the last minute ("Too recent start_time")
MIN_AGE = timedelta(seconds=61)


class Zendesk(HttpSource):
    """Zendesk Support through the incremental export."""

    system = "zendesk"
    endpoints = ENDPOINTS
    mappings = {"tickets": TICKETS}

    def params(self, endpoint: Endpoint, since: datetime) -> dict[str, Any]:
        latest = datetime.now(timezone.utc) - MIN_AGE
        return super().params(endpoint, min(since, latest))

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Attach each ticket's sideloaded metric set (transfers = group stations after the first)."""
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
            out.append(r)
        return out


def auth_header(settings: dict, token: str) -> str:
    """API token auth (`{email}/token:{token}`), or an OAuth bearer token when no email is set."""
    email = settings.get("email")
    return basic_auth(f"{email}/token", token) if email else f"Bearer {token}"


def base_url(settings: dict) -> str | None:
    return settings.get("base_url") or (f"https://{settings['subdomain']}.zendesk.com" if settings.get("subdomain") else None)
