"""Fake Gorgias: `/api/tickets` and `/api/satisfaction-surveys` with `order_by`, `limit` and opaque
`cursor` / `meta.next_cursor` pages, HTTP Basic (email + API key), trashed and spam tickets."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from .harness import Vendor
from .server import FakeApi, Reply, basic

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
CHANNELS = ("email", "chat", "phone", "facebook-messenger", "contact_form")
LISTS = {"/api/tickets": "tickets", "/api/satisfaction-surveys": "surveys"}
ORDERS = {"tickets": ("updated_datetime", "created_datetime"), "surveys": ("created_datetime",)}


def stamp(d: datetime) -> str:
    """Gorgias datetimes: ISO 8601 with microseconds and no offset (UTC)."""
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f")


class FakeGorgias(FakeApi):
    def __init__(self, *, email: str, api_key: str, tickets: int = 0, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.auth = basic(email, api_key)
        self.tickets: dict[int, dict] = {}
        self.surveys: dict[int, dict] = {}
        self.clock = T0
        for i in range(1, tickets + 1):
            self.add(i)

    def authorized(self, header: str) -> bool:
        return header == self.auth

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=20, microseconds=1500)
        return self.clock

    def add(self, i: int, **overrides: Any) -> dict:
        """A ticket in the documented shape (the Ticket object)."""
        with self.lock:
            now = self._tick()
            closed = i % 2 == 0
            t = {
                "id": i, "uri": f"/api/tickets/{i}/", "external_id": None, "language": "en",
                "status": "closed" if closed else "open", "priority": ("low", "normal", "high", "critical")[i % 4],
                "channel": CHANNELS[i % len(CHANNELS)], "via": "helpdesk", "from_agent": False, "spam": False,
                "customer": {"id": 88_000 + i, "email": f"buyer{i}@example.com", "name": "Private Buyer"},
                "assignee_user": {"id": 1200 + i % 3, "email": "agent@acme.example", "name": "Agent"},
                "assignee_team": {"id": 31 if i % 3 else 32, "name": "Tier 1" if i % 3 else "Returns"},
                "subject": f"secret subject {i}", "excerpt": "private words",
                "tags": [{"id": 5, "name": "refund"}] if i % 3 == 0 else [],
                "created_datetime": stamp(now), "opened_datetime": stamp(now), "updated_datetime": stamp(now),
                "last_message_datetime": stamp(now), "closed_datetime": stamp(now + timedelta(hours=2)) if closed else None,
                "trashed_datetime": None, "snooze_datetime": None, "messages_count": 3, "meta": None,
            }
            t.update(overrides)
            self.tickets[i] = t
            return t

    def update(self, i: int, **changes: Any) -> dict:
        with self.lock:
            t = self.tickets[i]
            t.update(changes)
            t["updated_datetime"] = stamp(self._tick())
            return t

    def trash(self, i: int) -> dict:
        return self.update(i, trashed_datetime=stamp(self.clock))

    def survey(self, ticket_id: int, score: int | None, *, sent_days_ago: float = 0) -> dict:
        """A survey sent `sent_days_ago` (created then), answered now (score None: not answered yet)."""
        with self.lock:
            now = self._tick()
            sid = 900 + len(self.surveys)
            s = {"id": sid, "ticket_id": ticket_id, "customer_id": 88_000 + ticket_id, "body_text": "private comment",
                 "created_datetime": stamp(now - timedelta(days=sent_days_ago)),
                 "sent_datetime": stamp(now - timedelta(days=sent_days_ago)),
                 "scored_datetime": stamp(now) if score is not None else None, "score": score,
                 "should_send_datetime": None, "meta": None, "uri": f"/api/satisfaction-surveys/{sid}/"}
            self.surveys[sid] = s
            return s

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if path not in LISTS:
            return Reply(404, {"error": {"msg": "Not found"}}, {})
        kind = LISTS[path]
        q = {k: v[0] for k, v in query.items()}
        field, _, direction = q.get("order_by", f"{ORDERS[kind][0]}:desc").partition(":")
        if field not in ORDERS[kind] or direction not in ("asc", "desc"):
            return Reply(400, {"error": {"msg": f"order_by: invalid value {q.get('order_by')!r}"}}, {})
        limit = int(q.get("limit", 30))
        if not 1 <= limit <= 100:
            return Reply(400, {"error": {"msg": "limit: must be between 1 and 100"}}, {})
        rows = sorted((self.tickets if kind == "tickets" else self.surveys).values(),
                      key=lambda r: (r[field], r["id"]), reverse=direction == "desc")
        if "cursor" in q:
            at, rid = base64.b64decode(q["cursor"]).decode().split("|")
            pos = (at, int(rid))
            rows = [r for r in rows if ((r[field], r["id"]) < pos if direction == "desc" else (r[field], r["id"]) > pos)]
        chunk = rows[:limit]
        nxt = None
        if len(rows) > limit:
            nxt = base64.b64encode(f"{chunk[-1][field]}|{chunk[-1]['id']}".encode()).decode()
        return Reply(200, {"data": [dict(r) for r in chunk], "object": "list", "uri": path,
                           "meta": {"prev_cursor": q.get("cursor"), "next_cursor": nxt}}, {})


class GorgiasVendor(Vendor):
    """Gorgias as the engine suite sees it."""

    def change(self, api: FakeApi) -> set[str]:
        """A late close, a new tag, a trashed ticket and two new tickets."""
        assert isinstance(api, FakeGorgias)
        api.update(3, status="closed", closed_datetime=stamp(api.clock))
        api.update(5, tags=[{"id": 9, "name": "escalated"}])
        api.trash(7)
        new = [api.add(i) for i in (1001, 1002)]
        return {"3", "5", "7", *(str(t["id"]) for t in new)}


def _toml(url: str, extra: str = "") -> str:
    return f"""
[[source]]
name = "globex-gorgias"
kind = "gorgias"
base_url = "{url}"
email = "ops@globex.example"
token_env = "GLOBEX_GORGIAS_KEY"
start = "2025-01-01"
client = "globex"
vendor = "southpeak"
page_size = 25
backoff_seconds = 0.01
{extra}
"""


API_KEY = "gg-SECRET-91ab77c3d2"
GORGIAS = GorgiasVendor("gorgias", "globex-gorgias", "GLOBEX_GORGIAS_KEY", API_KEY,
                        lambda tickets=0, **kw: FakeGorgias(email="ops@globex.example", api_key=API_KEY,
                                                            tickets=tickets, **kw).start(), _toml)
