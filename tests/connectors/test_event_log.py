"""Event logs as a mapping mode: one row per change of each ticket in, one canonical ticket out.

The example (sample_data/examples/servicenow_incident_events.csv with servicenow_events_mapping.toml) is a
ServiceNow incident audit export in America/Chicago (CST, UTC-6, in the first week of March 2025):

- INC0020001: New 03-03 08:15, In Progress 08:40, Resolved 11:40, Closed 03-06 11:40.
- INC0020002: its log starts at In Progress 03-03 09:30 (opened_at says 09:00); Resolved 03-04 10:00, reopened
  15:00, Resolved again 03-05 09:00, then a later update at 12:00 while still Resolved (moved to Network).
- INC0020003: New 03-04 13:30, In Progress 14:00, still open.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ImportFileError
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "examples"
LOG = EXAMPLES / "servicenow_incident_events.csv"


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour + 6, minute, tzinfo=timezone.utc)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("t"))


@pytest.fixture
def tickets(ws: Workspace) -> dict[str, dict]:
    [report] = import_paths(ws, [LOG], mapping=EXAMPLES / "servicenow_events_mapping.toml")
    assert (report.rows_read, report.inserted, report.status) == (11, 3, "ok")
    rows = ws.read("tickets", Scope.everything()).to_dicts()
    return {r["ticket_id"]: r for r in rows}


def test_one_row_per_ticket_with_its_status_normalised(tickets: dict[str, dict]) -> None:
    assert {t: r["status"] for t, r in tickets.items()} == {
        "INC0020001": "closed", "INC0020002": "solved", "INC0020003": "open"}  # by [mapping.values.status]


def test_each_ticket_keeps_its_own_times(tickets: dict[str, dict]) -> None:
    one, two, three = tickets["INC0020001"], tickets["INC0020002"], tickets["INC0020003"]
    assert (one["created_at"], one["resolved_at"], one["closed_at"]) == (cst(3, 8, 15), cst(3, 11, 40), cst(6, 11, 40))
    # opened_at, not the first event of the log (09:30); resolved_at of the last resolution, not the later update
    assert (two["created_at"], two["resolved_at"], two["closed_at"]) == (cst(3, 9), cst(5, 9), None)
    assert two["resolution_seconds"] == 48 * 3600.0 and two["reopens"] == 1
    assert (three["resolved_at"], three["resolution_seconds"]) == (None, None)


def test_other_columns_take_the_tickets_last_value(tickets: dict[str, dict]) -> None:
    two = tickets["INC0020002"]
    assert (two["priority"], two["queue"], two["channel"]) == ("high", "Network", "email")
    assert two["updated_at"] == cst(5, 12) and two["replies"] is None  # the log has no reply events: unknown


def test_a_reopened_ticket_that_is_open_again_has_no_resolved_at(ws: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "reopened.csv"
    lines = LOG.read_text().splitlines()
    log.write_text("\n".join([*lines[:9], lines[9].replace("Resolved", "In Progress")]) + "\n")  # last state: open
    import_paths(ws, [log], mapping=EXAMPLES / "servicenow_events_mapping.toml")
    two = ws.read("tickets", Scope.everything()).filter(pl.col("ticket_id") == "INC0020002").row(0, named=True)
    assert (two["status"], two["resolved_at"], two["reopens"]) == ("open", None, 2)  # reopened twice


def test_an_unmapped_state_is_refused_like_any_status(ws: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text((EXAMPLES / "servicenow_events_mapping.toml").read_text().replace('"In Progress" = "open"\n', ""))
    with pytest.raises(ImportFileError, match=r"column 'state': 'in_progress' is not a status bpo-insights knows.*"
                                              r"\[mapping.values.status\] \"in_progress\" = \"open\""):
        import_paths(ws, [LOG], mapping=mapping)


def test_the_duplicate_row_error_on_an_event_log_points_to_event_log(ws: Workspace, tmp_path: Path) -> None:
    # the example mapping for one row per incident, without the two columns the event export lacks
    text = (EXAMPLES / "servicenow_mapping.toml").read_text()
    mapping = tmp_path / "incidents.toml"
    mapping.write_text(text.replace('agent_id = "assigned_to"\n', "").replace('transfers = "reassignment_count"\n', ""))
    with pytest.raises(ImportFileError) as e:
        import_paths(ws, [LOG], mapping=mapping)
    message = str(e.value)
    assert "column 'number': 'INC0020001' appears again on row(s)" in message
    assert 'add under [mapping]: event_log = { id = "number", status = "state", at = "sys_updated_on" }' in message
