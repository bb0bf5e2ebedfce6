"""Built-in presets and the example mapping, on the example exports under sample_data/examples."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

TOML = bpo_toml("t")  # the sample's tenants: every id a file names must be declared
EXAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "examples"
UTC = timezone.utc


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def ticket(ws: Workspace, ticket_id: str) -> dict:
    rows = ws.read("tickets", Scope.everything()).filter(pl.col("ticket_id") == ticket_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_zendesk_export(ws: Workspace) -> None:
    [report] = import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk",
                            client="acme", vendor="northwind", site="nw-manila")
    assert (report.table, report.rows_read, report.inserted, report.status) == ("tickets", 6, 6, "ok")
    t = ticket(ws, "10232")
    assert {k: t[k] for k in ("source_system", "source_instance", "channel", "status", "priority", "queue")} == {
        "source_system": "zendesk", "source_instance": "acme", "channel": "web_form", "status": "solved",
        "priority": "normal", "queue": "Tier 1 Manila"}
    assert t["created_at"] == datetime(2025, 3, 3, 9, 1, 45, tzinfo=UTC)
    assert t["first_response_seconds"] == 95 * 60 and t["resolution_business_seconds"] == 1203 * 60
    assert t["first_response_at"] == datetime(2025, 3, 3, 10, 36, 45, tzinfo=UTC)
    assert (t["csat_raw"], t["csat_score"], t["csat_positive"], t["reopens"]) == ("Bad", 0.0, False, 1)
    channels = ws.read("tickets", Scope.everything()).sort("ticket_id").get_column("channel").to_list()
    assert channels == ["email", "web_form", "chat", "voice", "email", "chat"]


def test_freshdesk_export(ws: Workspace) -> None:
    [report] = import_paths(ws, [EXAMPLES / "freshdesk_tickets.csv"], preset="freshdesk",
                            client="globex", vendor="northwind", site="nw-bogota")
    assert (report.inserted, report.status) == (5, "ok")
    t = ticket(ws, "5102")
    assert (t["status"], t["priority"], t["channel"]) == ("solved", "low", "web_form")
    assert t["first_response_business_seconds"] == 2.5 * 3600  # decimal hours
    assert t["first_response_seconds"] == 2.5 * 3600  # from the timestamps
    assert (t["first_response_breached"], t["resolution_breached"]) == (True, False)
    assert (t["csat_score"], t["csat_positive"]) == (0.5, False)
    assert ticket(ws, "5105")["resolution_business_seconds"] == 27 * 3600  # HH:MM:SS
    assert ticket(ws, "5104")["status"] == "pending"  # "Waiting on Customer"


def test_servicenow_example_mapping_day_first_in_chicago(ws: Workspace) -> None:
    [report] = import_paths(ws, [EXAMPLES / "servicenow_incidents.csv"], mapping=EXAMPLES / "servicenow_mapping.toml")
    assert (report.inserted, report.status) == (4, "ok")
    t = ticket(ws, "INC0010001")
    assert t["created_at"] == datetime(2025, 3, 3, 14, 15, tzinfo=UTC)  # 08:15 CST
    assert (t["channel"], t["priority"], t["status"], t["client_id"], t["site_id"]) == (
        "voice", "normal", "closed", "acme", "hq-denver")
    assert t["resolution_seconds"] == (3 * 60 + 25) * 60


def test_canonical_example(ws: Workspace) -> None:
    [report] = import_paths(ws, [EXAMPLES / "canonical_tickets.csv"], preset="canonical")
    assert (report.table, report.inserted) == ("tickets", 5)
    t = ticket(ws, "A-1003")
    assert t["created_at"] == datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    assert (t["first_response_seconds"], t["csat_score"], t["csat_positive"]) == (40.0, 0.25, False)
