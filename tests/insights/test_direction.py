"""Who started a ticket: outbound and automated tickets are kept, solved and in the backlog like any work,
but they are not customer demand and nobody waited for a first response on them (measures.toml `is_inbound`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest

from insights.metrics.kpis import compute_from_frames

W = date(2025, 3, 3)


def ticket(n: int, direction: str | None, *, first_response: float, breached: bool, requester: str) -> dict[str, Any]:
    created = datetime(2025, 3, 4, 9, tzinfo=timezone.utc) + timedelta(minutes=n)
    return {"ticket_id": str(n), "created_at": created, "channel": "email", "direction": direction, "status": "solved",
            "resolved_at": created + timedelta(hours=2), "first_response_seconds": first_response,
            "first_response_breached": breached, "requester_hash": requester}


TICKETS = pl.DataFrame([
    ticket(1, "inbound", first_response=60.0, breached=False, requester="a"),
    ticket(2, None, first_response=180.0, breached=True, requester="b"),         # no direction given: inbound
    ticket(3, "outbound", first_response=0.0, breached=False, requester="a"),    # the team wrote first
    ticket(4, "automated", first_response=5.0, breached=False, requester="c"),   # a rule or a campaign did
], schema_overrides={"direction": pl.String})


@pytest.mark.parametrize(("kpi", "value", "n"), [
    pytest.param("tickets_created", 2.0, 2, id="volume-counts-inbound-only"),
    pytest.param("first_response_time_median", 120.0, 2, id="first-response-over-inbound-only"),
    pytest.param("sla_first_response", 0.5, 2, id="first-response-sla-over-inbound-only"),
    pytest.param("tickets_solved", 4.0, 4, id="outbound-work-is-still-solved"),
])
def test_outbound_and_automated_tickets_are_not_demand(kpi, value, n):
    out = compute_from_frames({"tickets": TICKETS}, [kpi], grain="week")
    row = out.filter(pl.col("period") == W)
    assert (row["value"][0], row["n"][0]) == (pytest.approx(value), n)


def test_a_follow_up_the_team_sent_is_not_the_customer_coming_back():
    base = datetime(2025, 3, 4, 9, tzinfo=timezone.utc)
    rows = [{"ticket_id": "1", "created_at": base, "channel": "email", "direction": "inbound", "requester_hash": "a"},
            {"ticket_id": "2", "created_at": base + timedelta(days=1), "channel": "email", "direction": "outbound",
             "requester_hash": "a"},
            {"ticket_id": "3", "created_at": base, "channel": "email", "direction": "inbound", "requester_hash": "b"},
            {"ticket_id": "4", "created_at": base + timedelta(days=2), "channel": "chat", "direction": None,
             "requester_hash": "b"}]
    out = compute_from_frames({"tickets": pl.DataFrame(rows, schema_overrides={"direction": pl.String})},
                              ["repeat_contact_rate"], grain="week")
    row = out.filter(pl.col("period") == W)
    # b came back (ticket 4); a did not: ticket 2 is the team's follow-up, and is not demand itself
    assert (row["value"][0], row["n"][0]) == (pytest.approx(1 / 3), 3)
