"""Fake Intercom: `POST /conversations/search` (updated_at filter, ascending sort, `starting_after`
cursor in `pages.next`), conversations with statistics and ratings, and the documented 429 that
carries `X-RateLimit-Reset` (epoch seconds) instead of Retry-After."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .harness import Vendor
from .server import FakeApi, Reply

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
PATH = "/conversations/search"
SOURCES = ("conversation", "email", "whatsapp", "phone_call", "facebook")
OPERATORS = {">": lambda a, b: a > b, "<": lambda a, b: a < b, "=": lambda a, b: a == b}


class FakeIntercom(FakeApi):
    def __init__(self, *, token: str, tickets: int = 0, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.auth = f"Bearer {token}"
        self.conversations: dict[str, dict] = {}
        self.clock = T0
        self.rate_limited = 0  # the next N requests answer 429
        self.resets: list[tuple[int, float]] = []  # (reset epoch announced, when the next request came)
        self._pending_reset: int | None = None
        self.bodies: list[Any] = []  # every search body, in order
        # names of the teams and admins the conversations point at
        self.teams = [{"type": "team", "id": "5017", "name": "Front line", "admin_ids": [814860, 814861]},
                      {"type": "team", "id": "5018", "name": "Escalations", "admin_ids": [814862, 814863]}]
        self.admins = [{"type": "admin", "id": str(aid), "name": f"Admin {aid - 814_859}", "email": f"{aid}@acme.example",
                        "away_mode_enabled": False} for aid in range(814_860, 814_864)]
        for i in range(1, tickets + 1):
            self.add(i)

    @property
    def tickets(self) -> dict[str, dict]:
        return self.conversations

    def authorized(self, header: str) -> bool:
        return header == self.auth

    def _tick(self) -> int:
        self.clock += timedelta(seconds=30)
        return int(self.clock.timestamp())

    def add(self, i: int, **overrides: Any) -> dict:
        """A conversation in the documented shape (Conversation model, API 2.11)."""
        with self.lock:
            now = self._tick()
            closed = i % 3 != 0
            c = {
                "type": "conversation", "id": str(i), "title": None, "created_at": now, "updated_at": now,
                "waiting_since": None, "snoozed_until": None, "open": not closed,
                "state": "closed" if closed else ("open", "snoozed")[i % 2], "read": True,
                "priority": "priority" if i % 5 == 0 else "not_priority",
                "admin_assignee_id": 814_860 + i % 4, "team_assignee_id": 5017 if i % 2 else 5018,
                "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "7", "name": "VIP customer"}] if i % 4 == 1 else []},
                "source": {"type": SOURCES[i % len(SOURCES)], "id": f"9{i}", "delivered_as": "customer_initiated",
                           "subject": "", "body": f"<p>private message {i}</p>",
                           "author": {"type": "user", "id": f"author{i}", "name": "Jane Customer", "email": "jane@example.com"}},
                "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": f"6{i:05d}cafe"}]},
                "statistics": {
                    "type": "conversation_statistics", "time_to_assignment": 0, "time_to_admin_reply": 120 + i,
                    "time_to_first_close": 3600 if closed else None, "time_to_last_close": 3600 + i if closed else None,
                    "median_time_to_reply": 100, "first_contact_reply_at": now, "first_assignment_at": now,
                    "first_admin_reply_at": now + 300, "first_close_at": now + 3600 if closed else None,
                    "last_close_at": now + 3700 if closed else None, "last_contact_reply_at": now,
                    "last_admin_reply_at": now + 300, "count_reopens": i % 2, "count_assignments": 1,
                    "count_conversation_parts": 4,
                },
                # the AI agent (Fin) takes part in every 4k+2nd and 4k+3rd: resolves the first, routes the second to a team
                "ai_agent_participated": i % 4 in (2, 3),
                "ai_agent": ({"source_type": "workflow", "source_title": "Fin for chat", "last_answer_type": "ai_answer",
                              "resolution_state": "assumed_resolution" if i % 4 == 2 else "routed_to_team",
                              "rating": None, "rating_remark": None} if i % 4 in (2, 3) else None),
                "conversation_rating": ({"rating": 1 + i % 5, "remark": "private remark", "created_at": now + 4000,
                                         "contact": {"type": "contact", "id": f"6{i:05d}cafe"}} if closed else None),
            }
            c.update(overrides)
            self.conversations[c["id"]] = c
            return c

    def update(self, i: int, **changes: Any) -> dict:
        with self.lock:
            c = self.conversations[str(i)]
            c.update(changes)
            c["updated_at"] = self._tick()
            return c

    def rate(self, i: int, rating: int) -> dict:
        """A late CSAT answer: the rating lands on the conversation and moves its updated_at."""
        return self.update(i, conversation_rating={"rating": rating, "remark": None, "created_at": self._tick()})

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        now = time.time()
        if path == PATH:
            self.bodies.append(body)
        if self._pending_reset is not None:
            self.resets.append((self._pending_reset, now))
            self._pending_reset = None
        if self.rate_limited > 0:
            self.rate_limited -= 1
            self._pending_reset = int(now) + 1
            return Reply(429, {"type": "error.list", "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit"}]},
                         {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(self._pending_reset)})
        if method == "GET" and path in ("/teams", "/admins"):
            key = path.strip("/")
            return Reply(200, {"type": f"{key[:-1]}.list", key: [dict(r) for r in getattr(self, key)]}, {})
        if path != PATH or method != "POST":
            return Reply(404, {"type": "error.list", "errors": [{"code": "not_found", "message": "Resource Not Found"}]}, {})
        q = (body or {}).get("query") or {}
        if q.get("field") != "updated_at" or q.get("operator") not in OPERATORS:
            return Reply(400, {"type": "error.list", "errors": [{"code": "parameter_invalid", "message": "query"}]}, {})
        sort = (body or {}).get("sort") or {}
        page = (body or {}).get("pagination") or {}
        per_page = min(int(page.get("per_page", 20)), 150)
        test = OPERATORS[q["operator"]]
        rows = sorted((c for c in self.conversations.values() if test(c["updated_at"], int(q["value"]))),
                      key=lambda c: (c["updated_at"], int(c["id"])), reverse=sort.get("order") == "descending")
        if page.get("starting_after"):
            ts, cid = base64.b64decode(page["starting_after"]).decode().split("|")
            rows = [c for c in rows if (c["updated_at"], int(c["id"])) > (int(ts), int(cid))]
        chunk = rows[:per_page]
        pages: dict[str, Any] = {"type": "pages", "per_page": per_page}
        if len(rows) > per_page:
            last = chunk[-1]
            pages["next"] = {"page": 2, "starting_after": base64.b64encode(f"{last['updated_at']}|{last['id']}".encode()).decode()}
        return Reply(200, {"type": "conversation.list", "conversations": [dict(c) for c in chunk],
                           "total_count": len(rows), "pages": pages}, {})


class IntercomVendor(Vendor):
    """Intercom as the engine suite sees it."""

    def change(self, api: FakeApi) -> set[str]:
        """A late close, a new tag, a late CSAT answer and two new conversations."""
        assert isinstance(api, FakeIntercom)
        api.update(2, state="closed", open=False)
        api.update(5, tags={"type": "tag.list", "tags": [{"type": "tag", "id": "9", "name": "escalated"}]})
        api.rate(3, 5)
        new = [api.add(i) for i in (1001, 1002)]
        return {"2", "5", "3", *(c["id"] for c in new)}


def _toml(url: str, extra: str = "") -> str:
    return f"""
[[source]]
name = "acme-intercom"
kind = "intercom"
base_url = "{url}"
token_env = "ACME_INTERCOM_TOKEN"
start = "2025-01-01"
client = "acme"
vendor = "northwind"
site = "nw-manila"
page_size = 25
backoff_seconds = 0.01
{extra}
"""


TOKEN = "ic-SECRET-d4e5f60718"
INTERCOM = IntercomVendor("intercom", "acme-intercom", "ACME_INTERCOM_TOKEN", TOKEN,
                          lambda tickets=0, **kw: FakeIntercom(token=TOKEN, tickets=tickets, **kw).start(), _toml)
