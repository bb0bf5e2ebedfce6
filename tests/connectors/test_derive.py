"""Derived columns: durations, CSAT, updated_at, SLA breaches and event-log collapse."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors import derive
from connectors.importer import import_paths
from connectors.mapping import EventLog
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

UTC = timezone.utc
T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "score", "positive"), [
    pytest.param(["good", "Bad", "offered"], [1.0, 0.0, None], [True, False, None], id="zendesk-good-bad"),
    pytest.param(["5", "4", "3", "1"], [1.0, 0.75, 0.5, 0.0], [True, True, False, False], id="one-to-five"),
    pytest.param(["10", "9", "1", "7"], [1.0, 8 / 9, 0.0, 6 / 9], [True, True, False, False], id="one-to-ten"),
    pytest.param(["Very satisfied", "Dissatisfied", "Neutral"], [0.75, 0.25, 0.5], [True, False, False], id="labels"),
    pytest.param(["103", "-103", "100"], [1.0, 0.0, 0.5], [True, False, False], id="freshdesk-codes"),
])
def test_csat_is_normalised_from_the_whole_column(raw: list[str], score: list, positive: list) -> None:
    s, p = derive.csat_columns(pl.Series("csat_raw", raw))
    rounded = lambda xs: [None if x is None else round(x, 3) for x in xs]  # noqa: E731
    assert rounded(s.to_list()) == rounded(score)
    assert p.to_list() == positive


def test_durations_and_updated_at_come_from_the_row() -> None:
    frame = pl.DataFrame({"__row": [2], "created_at": [T0], "first_response_at": [datetime(2025, 3, 3, 8, 30, tzinfo=UTC)],
                          "resolved_at": [datetime(2025, 3, 3, 12, 0, tzinfo=UTC)]})
    out = derive.derive_updated_at(derive.derive_durations(frame), "tickets")
    assert out.select("first_response_seconds", "resolution_seconds", "updated_at").row(0) == (
        1800.0, 14400.0, datetime(2025, 3, 3, 12, 0, tzinfo=UTC))


def test_breaches_use_the_effective_dated_target() -> None:
    targets = pl.DataFrame({
        "client_id": ["acme", "acme"], "vendor_id": [None, None], "site_id": [None, None], "channel": ["chat", "chat"],
        "priority": [None, None], "queue": [None, None], "metric": ["first_response_sla"] * 2,
        "effective_from": [date(2025, 1, 1), date(2025, 3, 1)], "effective_to": [date(2025, 2, 28), None],
        "threshold_seconds": [60.0, 30.0], "comparator": ["<=", "<="], "business_hours": [False, False],
    }, schema_overrides={c: pl.String for c in ("vendor_id", "site_id", "priority", "queue")})
    tickets = pl.DataFrame({"__row": [2, 3], "client_id": ["acme", "acme"], "channel": ["chat", "chat"],
                            "created_at": [datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC)],
                            "first_response_seconds": [45.0, 45.0]})
    out = derive.derive_breaches(tickets, targets)
    assert out.select("first_response_target_seconds", "first_response_breached").rows() == [(60.0, False), (30.0, True)]
    # comparator ">=" is about the attainment rate vs its target: it never inverts a ticket's breach
    flipped = derive.derive_breaches(tickets, targets.with_columns(pl.lit(">=").alias("comparator")))
    assert flipped.select("first_response_breached").to_series().to_list() == [False, True]


def test_contract_terms_bind_peoples_work_never_an_ai_agents_own() -> None:
    """An SLA term binds the work people handle (a BPO's, the in-house team's, a hand-off from the AI agent); a
    conversation the AI agent, a bot, self-service or the IVR handled alone is bound by none: it keeps no target
    and no breach, so it never counts for or against a first-response SLA."""
    targets = pl.DataFrame({
        "client_id": ["acme"], "vendor_id": [None], "site_id": [None], "channel": ["chat"], "priority": [None],
        "queue": [None], "metric": ["sla_first_response"], "effective_from": [date(2025, 1, 1)], "effective_to": [None],
        "threshold_seconds": [60.0], "comparator": [">="], "business_hours": [False],
    }, schema_overrides={c: pl.String for c in ("vendor_id", "site_id", "priority", "queue")})
    handlers = ["human", "human_after_ai", "ai_agent", "bot", "self_service", "ivr", None]
    tickets = pl.DataFrame({"client_id": ["acme"] * 7, "channel": ["chat"] * 7, "handled_by": handlers,
                            "created_at": [datetime(2025, 2, 10, tzinfo=UTC)] * 7,
                            "first_response_seconds": [45.0, 90.0, None, None, None, None, 30.0]})
    out = derive.derive_breaches(tickets, targets)
    assert out.select("handled_by", "first_response_target_seconds", "first_response_breached").rows() == [
        ("human", 60.0, False), ("human_after_ai", 60.0, True), ("ai_agent", None, None), ("bot", None, None),
        ("self_service", None, None), ("ivr", None, None), (None, 60.0, False)]


def test_event_log_collapses_to_one_row_per_ticket() -> None:
    at = lambda h: datetime(2025, 3, 3, h, tzinfo=UTC)  # noqa: E731
    events = pl.DataFrame({
        "__row": [2, 3, 4, 5, 6, 7, 8],
        "ticket_id": ["A", "A", "A", "A", "A", "A", "B"],
        derive.EVENT_STATUS: ["new", "responded", "solved", "open", "responded", "solved", "new"],
        derive.EVENT_AT: [at(8), at(9), at(10), at(11), at(12), at(13), at(9)],
        "channel": ["email"] * 7,
    })
    out = derive.collapse_event_log(events, EventLog(id="t", status="s", at="a")).sort("ticket_id")
    a = out.row(0, named=True)
    assert (a["created_at"], a["first_response_at"], a["resolved_at"], a["reopens"], a["status"], a["replies"]) == (
        at(8), at(9), at(13), 1, "solved", 2)
    assert out.get_column("status").to_list() == ["solved", "new"] and out.height == 2


def test_event_log_import_end_to_end(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", bpo_toml("t"))
    mapping = tmp_path / "events.toml"
    mapping.write_text('[mapping]\ntable = "tickets"\nsource_system = "helpdesk"\n'
                       'event_log = {id = "case", status = "event", at = "when", responded = ["agent reply"]}\n'
                       '[mapping.columns]\nchannel = "channel"\n'
                       '[mapping.values.status]\n"Closed - resolved" = "solved"\n')
    log = tmp_path / "log.csv"
    log.write_text("case,event,when,channel\n"
                   "C1,new,2025-03-03 08:00,email\nC1,agent reply,2025-03-03 08:45,email\n"
                   "C1,Closed - resolved,2025-03-03 10:00,email\nC1,open,2025-03-04 09:00,email\n"
                   "C1,Closed - resolved,2025-03-04 11:00,email\nC2,new,2025-03-04 12:00,chat\n")
    [report] = import_paths(ws, [log], mapping=mapping, client="acme", vendor="northwind", site="nw-manila")
    assert (report.rows_read, report.inserted) == (6, 2)
    c1 = ws.read("tickets", Scope.everything()).filter(pl.col("ticket_id") == "C1").row(0, named=True)
    assert (c1["first_response_seconds"], c1["resolution_seconds"], c1["reopens"], c1["status"]) == (
        2700.0, 97200.0, 1, "solved")
    assert c1["updated_at"] == datetime(2025, 3, 4, 11, 0, tzinfo=UTC)
