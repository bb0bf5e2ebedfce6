"""Where ids can collide across suppliers, the primary key begins with the tenant (DESIGN "Keys").

Two BPOs number their agents, queues and QA evaluations independently; one supplier's file that
reuses another's ids must add its own rows, never move or overwrite the other supplier's.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.importer import import_paths
from connectors.schema import TABLES
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

ROSTER = ("agent_id,date,status,logged_seconds,updated_at\n"
          "A1,2026-03-02,active,{s},{u}\nA2,2026-03-02,active,{s},{u}\n")
T0 = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("keys test"))


@pytest.mark.parametrize("table", ["staffing_roster", "contact_intervals", "qa_evaluations"])
def test_keys_of_tables_whose_ids_collide_across_suppliers_begin_with_the_tenant(table: str) -> None:
    assert TABLES[table].primary_key[:2] == ("client_id", "vendor_id")


def test_one_suppliers_roster_with_another_suppliers_agent_ids_moves_none_of_their_rows(ws: Workspace, tmp_path: Path) -> None:
    northwind = tmp_path / "northwind_roster.csv"
    northwind.write_text(ROSTER.format(s=28800, u="2026-03-03T00:00:00Z"))
    southpeak = tmp_path / "southpeak_roster.csv"
    southpeak.write_text(ROSTER.format(s=14400, u="2026-03-04T00:00:00Z"))  # the same agent ids: Southpeak's own agents
    import_paths(ws, [northwind], preset="canonical", client="acme", vendor="northwind", site="nw-manila")
    before = ws.read("staffing_roster", Scope.of(["acme"], ["northwind"]))
    [report] = import_paths(ws, [southpeak], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    assert (report.inserted, report.updated) == (2, 0)
    after = ws.read("staffing_roster", Scope.of(["acme"], ["northwind"]))
    assert after.drop("ingested_at").equals(before.drop("ingested_at"))
    rows = ws.read("staffing_roster", Scope.everything()).sort("vendor_id", "agent_id")
    assert rows.select("vendor_id", "site_id", "agent_id", "logged_seconds").rows() == [
        ("northwind", "nw-manila", "A1", 28800.0), ("northwind", "nw-manila", "A2", 28800.0),
        ("southpeak", "sp-austin", "A1", 14400.0), ("southpeak", "sp-austin", "A2", 14400.0)]
    assert ws.read("staffing_roster", Scope.of(["acme"], ["southpeak"])).height == 2


def _intervals(vendor: str, site: str, offered: int) -> pl.DataFrame:
    return pl.DataFrame({"source_system": "genesys", "source_instance": "g", "client_id": "acme", "vendor_id": vendor,
                         "site_id": site, "queue_id": "Billing", "channel": "voice", "direction": "inbound",
                         "interval_start": T0, "interval_minutes": 30, "offered": offered, "handled": offered,
                         "updated_at": T0})


def _evaluation(vendor: str, site: str, score: float) -> pl.DataFrame:
    return pl.DataFrame({"source_system": "qa_tool", "source_instance": "q", "client_id": "acme", "vendor_id": vendor,
                         "site_id": site, "evaluation_id": "EV-1", "agent_id": "A1", "evaluated_at": T0,
                         "score": score, "max_score": 100.0, "updated_at": T0})


@pytest.mark.parametrize(("table", "make"), [
    pytest.param("contact_intervals", _intervals, id="same-queue-name-same-interval"),
    pytest.param("qa_evaluations", _evaluation, id="same-evaluation-id"),
])
def test_the_same_ids_from_two_suppliers_are_two_rows(ws: Workspace, table: str, make) -> None:
    ws.upsert(table, make("northwind", "nw-manila", 40))
    result = ws.upsert(table, make("southpeak", "sp-austin", 90))
    assert (result.inserted, result.updated) == (1, 0)
    assert sorted(ws.read(table, Scope.everything())["vendor_id"].to_list()) == ["northwind", "southpeak"]


def test_a_roster_stored_before_the_key_change_reads_and_updates_in_place(ws: Workspace, tmp_path: Path) -> None:
    """The key is not stored with the files: rows written under the old key are found by the new one."""
    path = tmp_path / "r.csv"
    path.write_text(ROSTER.format(s=28800, u="2026-03-02T12:00:00Z"))
    import_paths(ws, [path], preset="canonical", client="acme", vendor="northwind", site="nw-manila")
    newer = tmp_path / "r2.csv"
    newer.write_text("agent_id,date,status,logged_seconds,updated_at\nA1,2026-03-02,active,30000,2026-03-03T00:00:00Z\n")
    [report] = import_paths(ws, [newer], preset="canonical", client="acme", vendor="northwind", site="nw-manila")
    assert (report.inserted, report.updated) == (0, 1)
    rows = ws.read("staffing_roster", Scope.everything()).sort("agent_id")
    assert rows.select("agent_id", "date", "logged_seconds").rows() == [("A1", date(2026, 3, 2), 30000.0),
                                                                       ("A2", date(2026, 3, 2), 28800.0)]
