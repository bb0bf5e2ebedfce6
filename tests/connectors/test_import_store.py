"""What reaches the store: idempotent re-imports, updates without duplicates, no personal data."""

from __future__ import annotations

import hashlib
import stat
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.hashing import KEY_FILE
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

TOML = bpo_toml("t")  # the sample's tenants: every id a file names must be declared
EXAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "examples"
TENANT = dict(client="acme", vendor="northwind", site="nw-manila")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def snapshot(ws: Workspace) -> dict[str, str]:
    return {str(p.relative_to(ws.tables_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(ws.tables_dir.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_importing_the_same_file_twice_leaves_the_store_byte_for_byte_equal(ws: Workspace) -> None:
    import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    before = snapshot(ws)
    [again] = import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    assert before and snapshot(ws) == before
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)


def test_a_newer_export_updates_tickets_and_never_duplicates_them(ws: Workspace, tmp_path: Path) -> None:
    import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    newer = tmp_path / "zendesk_later.csv"
    text = (EXAMPLES / "zendesk_tickets.csv").read_text()
    old_row = next(line for line in text.splitlines() if line.startswith("1,10235,"))
    new_row = old_row.replace(",Open,", ",Solved,").replace("2025-03-05 09:15:00", "2025-03-06 12:00:00")
    newer.write_text(text.replace(old_row, new_row))
    [report] = import_paths(ws, [newer], preset="zendesk", **TENANT)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 5)
    tickets = ws.read("tickets", Scope.everything())
    assert tickets.height == 6
    assert tickets.filter(pl.col("ticket_id") == "10235").get_column("status").to_list() == ["solved"]


def test_no_requester_identity_or_message_text_reaches_the_store(ws: Workspace) -> None:
    import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    import_paths(ws, [EXAMPLES / "freshdesk_tickets.csv"], preset="freshdesk", **TENANT)
    import_paths(ws, [EXAMPLES / "servicenow_incidents.csv"], mapping=EXAMPLES / "servicenow_mapping.toml")
    secrets = ["dana.whitfield@example.com", "Dana Whitfield", "381001", "cracked screen", "peter.novak@example.com",
               "Peter Novak", "charged a fee", "Fred Luddy", "Laptop will not boot", "example.com"]
    files = [p for p in ws.tables_dir.rglob("*.parquet")]
    assert files
    raw = b"".join(p.read_bytes() for p in files)
    cells = "\n".join(str(v) for p in files for row in pl.read_parquet(p).rows() for v in row)
    for secret in secrets:
        assert secret.encode() not in raw and secret not in cells, secret
    hashes = ws.read("tickets", Scope.everything()).get_column("requester_hash")
    assert hashes.null_count() == 0 and hashes.str.len_chars().unique().to_list() == [32]


def test_the_hash_key_is_private_and_stable(ws: Workspace) -> None:
    import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    key = ws.path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_bytes()
    import_paths(ws, [EXAMPLES / "freshdesk_tickets.csv"], preset="freshdesk", **TENANT)
    assert key.read_bytes() == first


def test_breach_flags_come_from_the_workspace_targets(ws: Workspace, tmp_path: Path) -> None:
    ws.upsert("sla_targets", pl.DataFrame({
        "source_system": ["contract"] * 3, "source_instance": ["acme"] * 3, "client_id": ["acme"] * 3,
        "target_id": ["frt-all", "frt-urgent", "res-email"], "effective_from": [date(2025, 1, 1)] * 3,
        "metric": ["first_response_sla", "first_response_sla", "resolution_sla"],
        "channel": [None, None, "email"], "priority": [None, "urgent", None],
        "threshold_seconds": [3600.0, 600.0, 8 * 3600.0], "attainment_target": [0.9] * 3,
        "updated_at": [datetime(2025, 1, 1, tzinfo=timezone.utc)] * 3,
    }))
    import_paths(ws, [EXAMPLES / "zendesk_tickets.csv"], preset="zendesk", **TENANT)
    got = ws.read("tickets", Scope.everything()).sort("ticket_id").select(
        "ticket_id", "first_response_target_seconds", "first_response_breached", "resolution_target_seconds",
        "resolution_breached").rows()
    assert got == [
        ("10231", 3600.0, False, 8 * 3600.0, False),   # 36 min; email resolved in 446 min
        ("10232", 3600.0, True, None, None),           # 95 min; web form has no resolution target
        ("10233", 3600.0, False, None, None),
        ("10234", 600.0, False, None, None),           # urgent: the more specific target wins; 0 min
        ("10235", 3600.0, True, 8 * 3600.0, None),     # 90 min; not resolved yet: no verdict
        ("10236", 3600.0, False, None, None),
    ]
