"""A tiny, hand-made workspace whose every number is known (54 weeks of tickets, two clients).

acme: 6 tickets a day (email, email, email, chat, chat, voice; northwind on even i, southpeak on
odd); in week number w (0 = the week of 26 Feb 2024) the first `w % 3` tickets of each day breach
the first-response SLA.  globex: 3 tickets a day at a site and queue no other client uses, and
its own SLA target (77.7 %), so any leak of globex data is visible as a unique marker.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from connectors.store import Workspace

FIRST_MONDAY = date(2024, 2, 26)
WEEKS = 54
REVIEW_WEEK = date(2025, 3, 3)  # the last complete week: 2025-W10
GLOBEX_MARKERS = ("zz-globex-only-site", "GLOBEX-MARKER-QUEUE", "77.7%", "globex", "Globex")
ACME_CHANNELS = ("email", "email", "email", "chat", "chat", "voice")

TOML = """
[workspace]
name = "tiny"
currency = "USD"
[[client]]
id = "acme"
name = "Acme Home"
[[client]]
id = "globex"
name = "Globex Travel"
[[client]]
id = "initech"
name = "Initech"
[[vendor]]
id = "northwind"
name = "Northwind BPO"
[[vendor]]
id = "southpeak"
name = "Southpeak Contact"
[[vendor]]
id = "eastbay"
name = "Eastbay Support"
[[site]]
id = "nw-manila"
name = "Manila"
vendor = "northwind"
tier = "offshore"
country = "PH"
timezone = "Asia/Manila"
[[site]]
id = "sp-austin"
name = "Austin"
vendor = "southpeak"
tier = "onshore"
country = "US"
timezone = "America/Chicago"
[[user]]
name = "admin"
role = "admin"
[[user]]
name = "acme-manager"
role = "brand"
clients = ["acme"]
[[user]]
name = "globex-manager"
role = "brand"
clients = ["globex"]
[[user]]
name = "northwind-am"
role = "vendor"
clients = ["*"]
vendors = ["northwind"]
[[user]]
name = "initech-manager"
role = "brand"
clients = ["initech"]
"""

T_INGEST = datetime(2025, 3, 10, 6, 0, tzinfo=timezone.utc)


def breaches(week_index: int) -> int:
    """acme tickets per day that breach the first-response SLA in week `week_index`."""
    return week_index % 3


def _ticket(client: str, day: date, i: int, *, vendor: str, site: str, channel: str, breached: bool,
            queue: str) -> dict:
    created = datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc) + timedelta(minutes=90 * i)
    return {
        "source_system": "csv", "source_instance": "tiny", "ticket_id": f"{client}-{day:%Y%m%d}-{i}",
        "client_id": client, "vendor_id": vendor, "site_id": site, "channel": channel, "status": "solved",
        "priority": "normal", "queue": queue, "created_at": created,
        "first_response_at": created + timedelta(minutes=30 if not breached else 300),
        "resolved_at": created + timedelta(hours=4),
        "first_response_seconds": 1800.0 if not breached else 18000.0, "resolution_seconds": 14400.0,
        "first_response_target_seconds": 3600.0, "first_response_breached": breached,
        "resolution_target_seconds": 86400.0, "resolution_breached": False,
        "csat_positive": i != 5, "csat_score": 0.0 if i == 5 else 1.0, "reopens": 0,
        "requester_hash": f"{client}-r{day:%j}{i}", "updated_at": T_INGEST, "ingested_at": T_INGEST,
    }


def tickets(skip_days: tuple[date, ...] = ()) -> pl.DataFrame:
    """Every ticket of the tiny workspace (both clients)."""
    rows = []
    for w in range(WEEKS):
        for d in range(7):
            day = FIRST_MONDAY + timedelta(weeks=w, days=d)
            if day in skip_days:
                continue
            for i, channel in enumerate(ACME_CHANNELS):
                vendor, site = ("northwind", "nw-manila") if i % 2 == 0 else ("southpeak", "sp-austin")
                rows.append(_ticket("acme", day, i, vendor=vendor, site=site, channel=channel,
                                    breached=i < breaches(w), queue="acme-support"))
            for i in range(3):
                rows.append(_ticket("globex", day, i, vendor="eastbay", site="zz-globex-only-site", channel="email",
                                    breached=False, queue="GLOBEX-MARKER-QUEUE"))
    return pl.DataFrame(rows)


def sla_targets() -> pl.DataFrame:
    """acme's contract: 90 % first response (any vendor); globex's: 77.7 % (the marker)."""
    base = {"source_system": "csv", "source_instance": "tiny", "effective_from": date(2024, 1, 1),
            "metric": "sla_first_response", "comparator": ">=", "threshold_seconds": 3600.0,
            "updated_at": T_INGEST, "ingested_at": T_INGEST}
    return pl.DataFrame([
        {**base, "target_id": "acme-frt", "client_id": "acme", "attainment_target": 0.9},
        {**base, "target_id": "globex-frt", "client_id": "globex", "attainment_target": 0.777},
    ])


def build(path: Path, *, skip_days: tuple[date, ...] = ()) -> Workspace:
    """Create the tiny workspace at `path`."""
    ws = Workspace.create(path, TOML)
    ws.upsert("tickets", tickets(skip_days))
    ws.upsert("sla_targets", sla_targets())
    return ws


PLANTED_COPIES = 5  # each acme ticket of tiny's day plan, five times: ≥ 30 tickets per channel a week


def planted_tickets() -> pl.DataFrame:
    """A busier acme with a planted miss: ~5 % breaches every week, then 3 of 5 email copies breach in the review week.

    acme email meets its 90 % first-response target at about 95 % for 53 weeks and falls to 40 %
    (42 of 105) in the review week; globex is tiny's (3 tickets a day at its marker site).
    """
    rows = []
    for w in range(WEEKS):
        for d in range(7):
            day = FIRST_MONDAY + timedelta(weeks=w, days=d)
            for i, channel in enumerate(ACME_CHANNELS):
                vendor, site = ("northwind", "nw-manila") if i % 2 == 0 else ("southpeak", "sp-austin")
                for k in range(PLANTED_COPIES):
                    planted = day >= REVIEW_WEEK and channel == "email" and k < 3
                    row = _ticket("acme", day, i, vendor=vendor, site=site, channel=channel,
                                  breached=planted or (day.toordinal() + 3 * i + k) % 20 == 0, queue="acme-support")
                    rows.append({**row, "ticket_id": f"{row['ticket_id']}-{k}",
                                 "requester_hash": f"{row['requester_hash']}-{k}"})
            for i in range(3):
                rows.append(_ticket("globex", day, i, vendor="eastbay", site="zz-globex-only-site", channel="email",
                                    breached=False, queue="GLOBEX-MARKER-QUEUE"))
    return pl.DataFrame(rows)


def build_planted(path: Path) -> Workspace:
    """Create the planted-miss workspace at `path` (tiny's clients, users and contracts)."""
    ws = Workspace.create(path, TOML)
    ws.upsert("tickets", planted_tickets())
    ws.upsert("sla_targets", sla_targets())
    return ws
