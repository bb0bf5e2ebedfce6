"""Fake Freshdesk: `/api/v2/tickets` with `updated_since`, `include=stats`, `order_by=updated_at`,
Link-header pages and the refusal of pages beyond the last allowed one; satisfaction ratings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from .server import FakeApi, Reply, basic

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)


def iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


class FakeFreshdesk(FakeApi):
    def __init__(self, *, api_key: str, tickets: int = 0, max_page: int = 300, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.auth = basic(api_key, "X")
        self.tickets: dict[int, dict] = {}
        self.ratings: dict[int, dict] = {}
        self.max_page = max_page
        # names of the groups and agents (responders) the tickets point at
        self.groups = [{"id": 4000, "name": "Refunds", "updated_at": iso(T0)},
                       {"id": 4001, "name": "Orders", "updated_at": iso(T0)}]
        self.agents = [{"id": aid, "available": True, "contact": {"name": f"Agent {aid - 67_099}", "email": f"a{aid}@globex.example"},
                        "updated_at": iso(T0)} for aid in range(67_100, 67_105)]
        self.clock = T0
        for i in range(1, tickets + 1):
            self.add(i)

    def authorized(self, header: str) -> bool:
        return header == self.auth

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=20)
        return self.clock

    def add(self, i: int, **overrides: Any) -> dict:
        """A ticket in the documented shape (see shared/reference/freshdesk_tickets_include_stats.json)."""
        with self.lock:
            now = self._tick()
            status = (2, 3, 4, 5)[i % 4]
            t = {
                "id": i, "subject": f"secret subject {i}", "description_text": "private words", "spam": False,
                "priority": 1 + i % 4, "source": (1, 2, 3, 7, 10)[i % 5], "status": status,
                "requester_id": 67_000_000 + i, "responder_id": 67_100 + i % 5, "group_id": 4000 + i % 2,
                "product_id": None, "company_id": None, "type": "Question", "tags": ["refund"] if i % 3 == 0 else [],
                "created_at": iso(now), "updated_at": iso(now), "due_by": iso(now + timedelta(days=2)),
                "fr_due_by": iso(now + timedelta(hours=4)), "is_escalated": False, "custom_fields": {},
                "stats": {"agent_responded_at": iso(now + timedelta(minutes=30)),
                          "first_responded_at": iso(now + timedelta(minutes=30)),
                          "resolved_at": iso(now + timedelta(hours=3)) if status in (4, 5) else None,
                          "closed_at": iso(now + timedelta(hours=4)) if status == 5 else None,
                          "reopened_at": None, "status_updated_at": iso(now), "pending_since": None},
            }
            t.update(overrides)
            self.tickets[i] = t
            return t

    def update(self, i: int, **changes: Any) -> dict:
        with self.lock:
            t = self.tickets[i]
            t.update(changes)
            t["updated_at"] = iso(self._tick())
            return t

    def rate(self, ticket_id: int, code: int) -> dict:
        """A CSAT response (see shared/reference/freshdesk_satisfaction_ratings.json)."""
        with self.lock:
            now = iso(self._tick())
            r = {"id": 100 + len(self.ratings), "survey_id": 1, "user_id": 2, "agent_id": 1, "feedback": "private",
                 "group_id": None, "ticket_id": ticket_id, "ratings": {"default_question": code},
                 "created_at": now, "updated_at": now}
            self.ratings[r["id"]] = r
            return r

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        q = {k: v[0] for k, v in query.items()}
        per_page = min(int(q.get("per_page", 30)), 100)
        page = int(q.get("page", 1))
        if path == "/api/v2/tickets":
            if page > self.max_page:
                return Reply(400, {"description": "Validation failed", "errors": [
                    {"field": "page", "message": f"You cannot access tickets beyond the {self.max_page}th page. "
                     "Please provide a smaller page number.", "code": "invalid_value"}]}, {})
            if "updated_since" in q:
                since = parse(q["updated_since"])
                rows = [t for t in self.tickets.values() if parse(t["updated_at"]) >= since]
            else:  # documented: without updated_since, only tickets created in the past 30 days
                rows = [t for t in self.tickets.values() if parse(t["created_at"]) >= self.clock - timedelta(days=30)]
            key = q.get("order_by", "created_at")
            rows.sort(key=lambda t: (t[key], t["id"]), reverse=q.get("order_type", "desc") == "desc")
            if "stats" not in q.get("include", ""):
                rows = [{k: v for k, v in t.items() if k != "stats"} for t in rows]
        elif path in ("/api/v2/groups", "/api/v2/agents"):
            rows = list(self.groups if path.endswith("groups") else self.agents)
        elif path == "/api/v2/surveys/satisfaction_ratings":
            since = parse(q["created_since"]) if "created_since" in q else self.clock - timedelta(days=30)
            rows = sorted((r for r in self.ratings.values() if parse(r["created_at"]) >= since), key=lambda r: r["id"])
        else:
            return Reply(404, {"code": "invalid_url"}, {})
        chunk = rows[(page - 1) * per_page: page * per_page]
        headers = {}
        if len(rows) > page * per_page:
            nxt = {**q, "page": page + 1}
            headers["Link"] = f'<{self.url}{path}?{urlencode(nxt)}>; rel="next"'
        return Reply(200, [dict(r) for r in chunk], headers)
