"""Fake Zendesk: the cursor-based incremental ticket export with sideloaded metric sets.

Tickets are ordered by (generated_timestamp, id); `start_time` selects generated_timestamp >=
start_time; `after_cursor` encodes the last position; `end_of_stream` is true on the last page.
With `duplicate_across_pages`, each page repeats the previous page's last ticket, as the real
export may.

The list endpoints (satisfaction ratings, SLA policies, ticket metric events) use cursor
pagination: `page[size]` (at most 100), `page[after]` from `meta.after_cursor` while
`meta.has_more`; ratings and metric events filter on `start_time` (epoch seconds; the metric
events refuse a request without it).  They start empty: `rate`, `add_policy`/`update_policy` and
`sla_event` fill them.  With `csat_in_export=False` the ticket export carries no
`satisfaction_rating` (only the ratings endpoint knows the CSAT).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from .server import FakeApi, Reply, basic

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
PATH = "/api/v2/incremental/tickets/cursor.json"
RATINGS_PATH = "/api/v2/satisfaction_ratings"
POLICIES_PATH = "/api/v2/slas/policies"
EVENTS_PATH = "/api/v2/incremental/ticket_metric_events"
CHANNELS = ("email", "web", "chat", "voice", "native_messaging")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


def iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeZendesk(FakeApi):
    def __init__(self, *, email: str, token: str, tickets: int = 0, delay: float = 0.0,
                 duplicate_across_pages: bool = False, csat_in_export: bool = True) -> None:
        super().__init__(delay=delay)
        self.csat_in_export = csat_in_export
        self.ratings: dict[int, dict] = {}
        self.policies: dict[int, dict] = {}
        self.events: list[dict] = []
        self.auth = basic(f"{email}/token", token)
        # names of the groups and agents the tickets point at (ids 360001/360002 and 500..506)
        self.groups: dict[int, dict] = {gid: {"id": gid, "name": name, "updated_at": iso(T0)}
                                        for gid, name in ((360001, "Billing"), (360002, "Tier 2 support"))}
        self.users: dict[int, dict] = {uid: {"id": uid, "name": f"Agent {uid - 499}", "role": "agent",
                                             "email": f"agent{uid}@acme.example", "updated_at": iso(T0)}
                                       for uid in range(500, 507)}
        self.forbid_users = False
        self.users[9_000_001] = {"id": 9_000_001, "name": "Jane Customer", "role": "end-user", "updated_at": iso(T0)}
        self.tickets: dict[int, dict] = {}
        self.metrics: dict[int, dict] = {}
        self.clock = T0
        self.duplicate_across_pages = duplicate_across_pages
        for i in range(1, tickets + 1):
            self.add(i)

    def authorized(self, header: str) -> bool:
        return header == self.auth

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=30)
        return self.clock

    def add(self, i: int, **overrides: Any) -> dict:
        """A ticket in the documented shape (see shared/reference/zendesk_incremental_tickets_cursor.json)."""
        with self.lock:
            now = self._tick()
            t = {
                "id": i, "url": f"https://acme.zendesk.com/api/v2/tickets/{i}.json", "external_id": None,
                "via": {"channel": CHANNELS[i % len(CHANNELS)]}, "created_at": iso(now), "updated_at": iso(now),
                "generated_timestamp": int(now.timestamp()), "type": "question", "subject": f"secret subject {i}",
                "raw_subject": f"secret subject {i}", "description": "customer wrote something private",
                "priority": ("low", "normal", "high", "urgent")[i % 4], "status": STATUSES[i % len(STATUSES)],
                "recipient": "support@acme.example", "requester_id": 9_000_000 + i, "submitter_id": 9_000_000 + i,
                "assignee_id": 500 + i % 7, "organization_id": 509974, "group_id": 360001 if i % 3 else 360002,
                "brand_id": 77, "tags": ["vip", f"t{i % 5}"] if i % 2 else [], "custom_fields": [],
                "satisfaction_rating": {"score": "good" if i % 4 else "bad", "id": i} if i % 2 else {"score": "offered"},
                "has_incidents": False, "is_public": True, "due_at": None,
            }
            t.update(overrides)
            self.tickets[i] = t
            self.metrics[i] = {
                "id": 10_000 + i, "ticket_id": i, "group_stations": 1 + i % 3, "assignee_stations": 1, "reopens": i % 2,
                "replies": 1 + i % 4, "solved_at": iso(now + timedelta(hours=2)) if t["status"] in ("solved", "closed") else None,
                "reply_time_in_minutes": {"calendar": 10 + i % 50, "business": 5 + i % 20},
                "first_resolution_time_in_minutes": {"calendar": 120, "business": 60},
                "full_resolution_time_in_minutes": {"calendar": 120 + i % 30, "business": 60 + i % 30},
                "created_at": iso(now), "updated_at": iso(now),
            }
            return t

    def update(self, i: int, **changes: Any) -> dict:
        """A late update: the ticket moves to the end of the export with a new updated_at."""
        with self.lock:
            now = self._tick()
            t = self.tickets[i]
            t.update(changes)
            t["updated_at"] = iso(now)
            t["generated_timestamp"] = int(now.timestamp())
            return t

    def delete(self, i: int) -> None:
        """Deleted tickets stay in the export with status "deleted"."""
        self.update(i, status="deleted")

    def rate(self, ticket_id: int, score: str, **overrides: Any) -> dict:
        """A satisfaction rating (shared/reference/zendesk_satisfaction_ratings.json); rating again updates it."""
        with self.lock:
            now = self._tick()
            r = self.ratings.get(ticket_id) or {
                "id": 70_000 + ticket_id, "url": f"https://acme.zendesk.com/api/v2/satisfaction_ratings/{70_000 + ticket_id}.json",
                "assignee_id": 501, "group_id": 360001, "requester_id": 9_000_000 + ticket_id, "ticket_id": ticket_id,
                "comment": "private words of the customer", "reason": None, "reason_id": 0, "created_at": iso(now)}
            r.update(score=score, updated_at=iso(now), **overrides)
            self.ratings[ticket_id] = r
            return r

    def add_policy(self, pid: int, title: str, metrics: list[dict], *, filter: dict | None = None,
                   created: datetime | None = None) -> dict:
        """An SLA policy with its policy_metrics ({priority, metric, target (minutes), business_hours}) and
        filter ({all: [...], any: [...]} of {field, operator, value}); `created`: an earlier creation time."""
        with self.lock:
            now = self._tick()
            p = {"url": f"https://acme.zendesk.com/api/v2/slas/policies/{pid}.json", "id": pid, "title": title,
                 "description": "", "position": len(self.policies) + 1,
                 "filter": filter or {"all": [{"field": "type", "operator": "is", "value": "question"}], "any": []},
                 "policy_metrics": metrics, "created_at": iso(created or now), "updated_at": iso(now)}
            self.policies[pid] = p
            return p

    def update_policy(self, pid: int, metrics: list[dict], *, at: datetime | None = None) -> dict:
        """A changed policy: new metrics and a new updated_at (`at`, to land on another day)."""
        with self.lock:
            now = at or self._tick()
            self.clock = max(self.clock, now)
            p = self.policies[pid]
            p.update(policy_metrics=metrics, updated_at=iso(now))
            return p

    def sla_event(self, ticket_id: int, metric: str, kind: str, *, instance_id: int = 1, **extra: Any) -> dict:
        """A ticket metric event (apply_sla carries `sla`, breach may carry `deleted`)."""
        with self.lock:
            now = self._tick()
            e = {"id": 80_000 + len(self.events), "ticket_id": ticket_id, "metric": metric,
                 "instance_id": instance_id, "type": kind, "time": iso(now), **extra}
            self.events.append(e)
            return e

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if path == RATINGS_PATH:
            since = int(query.get("start_time", ["0"])[0])
            rows = [r for r in self.ratings.values() if _epoch(r["updated_at"]) >= since]
            return _cursor_page("satisfaction_ratings", rows, lambda r: (r["updated_at"], r["id"]), query)
        if path == "/api/v2/groups":
            return _cursor_page("groups", list(self.groups.values()), lambda g: ("", g["id"]), query)
        if path == "/api/v2/users":
            if self.forbid_users:  # a token of an agent without the permission to list people
                return Reply(403, {"error": "Forbidden", "description": "You do not have access to this page."}, {})
            roles = set(query.get("role[]", [])) or {"end-user", "agent", "admin"}
            rows = [u for u in self.users.values() if u["role"] in roles]
            return _cursor_page("users", rows, lambda u: ("", u["id"]), query)
        if path == POLICIES_PATH:
            return _cursor_page("sla_policies", list(self.policies.values()), lambda p: ("", p["position"]), query)
        if path == EVENTS_PATH:
            if "start_time" not in query:
                return Reply(400, {"error": "InvalidPaginationParameter", "description": "start_time is required"}, {})
            since = int(query["start_time"][0])
            rows = [e for e in self.events if _epoch(e["time"]) >= since]
            return _cursor_page("ticket_metric_events", rows, lambda e: (e["time"], e["id"]), query)
        if path != PATH:
            return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"}, {})
        per_page = min(int(query.get("per_page", ["1000"])[0]), 1000)
        order = sorted(self.tickets.values(), key=lambda t: (t["generated_timestamp"], t["id"]))
        if "cursor" in query:
            ts, tid = base64.b64decode(query["cursor"][0]).decode().split("|")
            pos = (int(ts), int(tid))
            rest = [t for t in order if (t["generated_timestamp"], t["id"]) > pos]
            prev = [t for t in order if (t["generated_timestamp"], t["id"]) == pos]
        elif "start_time" in query:
            start = int(query["start_time"][0])
            rest = [t for t in order if t["generated_timestamp"] >= start]
            prev = []
        else:
            return Reply(400, {"error": "InvalidPaginationParameter", "description": "start_time or cursor is required"}, {})
        page = rest[:per_page]
        if self.duplicate_across_pages and prev:
            page = prev + page
        last = page[-1] if page else (prev[-1] if prev else None)
        cursor = base64.b64encode(f"{last['generated_timestamp']}|{last['id']}".encode()).decode() if last else \
            base64.b64encode(f"{query.get('start_time', ['0'])[0]}|0".encode()).decode()
        data = {
            "tickets": [dict(t) if self.csat_in_export else {**t, "satisfaction_rating": None} for t in page],
            "after_cursor": cursor, "after_url": f"https://acme.zendesk.com{PATH}?cursor={cursor}",
            "before_cursor": None, "before_url": None,
            "end_of_stream": len(rest) <= per_page,
        }
        if "metric_sets" in query.get("include", [""])[0]:
            data["metric_sets"] = [self.metrics[t["id"]] for t in page if t["id"] in self.metrics]
        return Reply(200, data, {})


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _cursor_page(key: str, rows: list[dict], order: Any, query: dict[str, list[str]]) -> Reply:
    """Zendesk cursor pagination over `rows` sorted by `order`: page[size] (max 100), page[after]."""
    size = min(int(query.get("page[size]", ["100"])[0]), 100)
    rows = sorted(rows, key=order)
    if "page[after]" in query:
        after = tuple(base64.b64decode(query["page[after]"][0]).decode().split("|", 1))
        rows = [r for r in rows if (str(order(r)[0]), f"{order(r)[1]:012d}") > after]
    page = rows[:size]
    more = len(rows) > size
    cursor = base64.b64encode(f"{order(page[-1])[0]}|{order(page[-1])[1]:012d}".encode()).decode() if page else None
    return Reply(200, {key: [dict(r) for r in page],
                       "meta": {"has_more": more, "after_cursor": cursor, "before_cursor": None},
                       "links": {"next": f"https://acme.zendesk.com/api/v2/{key}?page[after]={cursor}" if more else None,
                                 "prev": None}}, {})
