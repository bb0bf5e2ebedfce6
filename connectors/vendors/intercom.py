"""Intercom: conversations with their statistics and CSAT, through the search endpoint.

`POST /conversations/search` with `updated_at > since` sorted by `updated_at` ascending, then the
same body with `pagination.starting_after` taken from `pages.next` until there is none.  Each
conversation carries `statistics` (first admin reply, first and last close, reopens; the
`time_to_*` durations already subtract out-of-office hours, so they land in the business-seconds
columns and the calendar seconds are derived from the timestamps) and `conversation_rating`
(1-5).  `source.delivered_as` gives the direction: admin-initiated conversations are outbound,
campaign, series, bot and workflow messages automated.  Documented rate limit: per-app, per-minute; a 429 carries `X-RateLimit-Reset` (epoch
seconds), which the HTTP client waits for.  Team and admin names come from `GET /teams` and `GET /admins`.  Message bodies (`source.body`, parts) are never read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from connectors.base import Endpoint, Field, FieldMap
from connectors.http import HttpSource, Vendor
from connectors.schema import UTC

API_VERSION = "2.11"
REGIONS = {"us": "https://api.intercom.io", "eu": "https://api.eu.intercom.io", "au": "https://api.au.intercom.io"}
MAX_PER_PAGE = 150

ENDPOINTS = {
    "tickets": Endpoint("/conversations/search", data_key="conversations", paginator="search-cursor",
                              method="POST", cursor_param="updated_at", cursor_format="epoch",
                              cursor_field="updated_at", page_size=MAX_PER_PAGE),
}

# names of the ids the conversations store: teams (queue) and admins (agent_id); single-page lists
NAMES = {
    "queue": Endpoint("/teams", data_key="teams", paginator="none"),
    "agent": Endpoint("/admins", data_key="admins", paginator="none"),
}

# conversation.source.type -> canonical channel
CHANNELS = {
    "conversation": "chat", "chat": "chat", "email": "email", "phone_call": "voice", "phone_switch": "voice", "call": "voice",
    "whatsapp": "messaging", "sms": "messaging", "facebook": "social", "instagram": "social",
    "twitter": "social", "push": "other", "admin_initiated": "other",
}
STATES = {"open": "open", "snoozed": "pending", "closed": "closed"}
# ai_agent.resolution_state when the AI agent (Fin) took part: it resolved the conversation, or a person took over
AI_RESOLVED = frozenset({"assumed_resolution", "confirmed_resolution"})
AI_HANDED_OVER = frozenset({"routed_to_team"})
PRIORITIES = {"priority": "high", "not_priority": "normal"}
# conversation.source.delivered_as -> direction: a teammate wrote first (outbound), or a campaign, series, bot or
# workflow did (automated); only customer-initiated conversations are demand
DELIVERED_AS = {"customer_initiated": "inbound", "admin_initiated": "outbound", "automated": "automated",
                "campaigns_initiated": "automated", "operator_initiated": "automated"}

CONVERSATIONS = FieldMap(table="tickets", fields={
    "ticket_id": Field("id", pl.String),
    "channel": Field("source.type", pl.String, values=CHANNELS),
    "status": Field("state", pl.String, values=STATES),
    "priority": Field("priority", pl.String, values=PRIORITIES),
    "queue": Field("team_assignee_id", pl.String),
    "tags": Field("tag_names", pl.String),
    "created_at": Field("created_at", UTC),
    "updated_at": Field("updated_at", UTC),
    "first_response_at": Field("statistics.first_admin_reply_at", UTC),
    "resolved_at": Field("statistics.last_close_at", UTC),
    "closed_at": Field("statistics.last_close_at", UTC),
    "first_response_business_seconds": Field("statistics.time_to_admin_reply", pl.Float64),
    "resolution_business_seconds": Field("statistics.time_to_last_close", pl.Float64),
    "reopens": Field("statistics.count_reopens", pl.Int64),
    "handled_by": Field("handled_by", pl.String),
    "csat_raw": Field("conversation_rating.rating", pl.String),
    "requester_hash": Field("requester_id", pl.String, hashed=True),
    "agent_id": Field("admin_assignee_id", pl.String),
    "direction": Field("bpo_direction", pl.String),
    "_group": Field("team_assignee_id", pl.String),
    "_tags": Field("tag_names", pl.String),
})


class Intercom(HttpSource):
    """Intercom conversations through the search API."""

    system = "intercom"
    endpoints = ENDPOINTS
    mappings = {"tickets": CONVERSATIONS}
    name_endpoints = NAMES

    def params(self, endpoint: Endpoint, since: datetime) -> dict[str, Any]:
        """The search body (the name lists take no parameters)"""
        if endpoint.method != "POST":
            return {}
        return self._search(endpoint, since)

    def _search(self, endpoint: Endpoint, since: datetime) -> dict[str, Any]:
        """The search body: updated after `since` (the API has no >=, hence one second earlier), oldest first."""
        return {
            "query": {"field": "updated_at", "operator": ">", "value": int(since.timestamp()) - 1},
            "sort": {"field": "updated_at", "order": "ascending"},
            "pagination": {"per_page": min(self.page_size or endpoint.page_size, MAX_PER_PAGE)},
        }

    def prepare(self, stream: str, data: Any, records: list[dict]) -> list[dict]:
        """Tag names as a list and the first contact as the requester; nothing else is kept from nested lists."""
        out = []
        for r in records:
            if not isinstance(r, dict):
                continue
            tags = r.get("tags")
            names = [t.get("name") for t in (tags.get("tags") if isinstance(tags, dict) else None) or ()
                     if isinstance(t, dict) and t.get("name")]
            contacts = r.get("contacts")
            people = contacts.get("contacts") if isinstance(contacts, dict) else None
            first = people[0] if isinstance(people, list) and people and isinstance(people[0], dict) else {}
            out.append({**r, "tag_names": [n.replace(" ", "_") for n in names], "requester_id": first.get("id"),
                        "handled_by": handler(r), "bpo_direction": direction(r)})
        return out


def handler(conversation: dict) -> str | None:
    """Who handled a conversation: the AI agent alone, the AI agent then a person, or a person (None: not told).

    `ai_agent_participated` says whether the AI agent took part; its `ai_agent.resolution_state` whether it
    resolved the conversation or routed it to a team.  Without an AI agent, a teammate's reply makes it a person's.
    """
    ai = conversation.get("ai_agent")
    state = ai.get("resolution_state") if isinstance(ai, dict) else None
    replied = (conversation.get("statistics") or {}).get("first_admin_reply_at") is not None
    if conversation.get("ai_agent_participated") is True:
        if state in AI_HANDED_OVER or (state not in AI_RESOLVED and replied):
            return "human_after_ai"
        return "ai_agent"
    if conversation.get("ai_agent_participated") is False and replied:
        return "human"
    return None


def direction(conversation: dict) -> str:
    """inbound, outbound or automated, from `source.delivered_as` (else an admin-initiated source type or author)."""
    source = conversation.get("source")
    source = source if isinstance(source, dict) else {}
    delivered = DELIVERED_AS.get(str(source.get("delivered_as") or ""))
    if delivered:
        return delivered
    author = source.get("author")
    author_type = str(author.get("type") or "") if isinstance(author, dict) else ""
    if source.get("type") == "admin_initiated" or author_type == "admin":
        return "outbound"
    return "automated" if author_type == "bot" else "inbound"


def auth_header(settings: dict, token: str) -> str:
    """Intercom access tokens are bearer tokens."""
    return f"Bearer {token}"


def extra_headers(settings: dict) -> dict[str, str]:
    """Pin the API version the field map was written against."""
    return {"Intercom-Version": str(settings.get("api_version", API_VERSION))}


def base_url(settings: dict) -> str | None:
    return settings.get("base_url") or REGIONS.get(str(settings.get("region", "us")))


def check(settings: dict) -> list[str]:
    """The region picks the API host."""
    region = settings.get("region")
    return [] if region is None or region in REGIONS else [f"region '{region}' is not one of {', '.join(REGIONS)}"]


VENDOR = Vendor(
    kind="intercom",
    keys=frozenset({"region", "base_url", "token_env", "api_version"}),
    auth_header=auth_header,
    base_url=base_url,
    check=check,
    extra_headers=extra_headers,
    build=lambda name, client, settings, page_size: Intercom(name, client, page_size=page_size),
)
