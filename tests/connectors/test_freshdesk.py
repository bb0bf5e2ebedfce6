"""Freshdesk: code tables, stats, updated_since windows past the page limit, CSAT ratings patched onto tickets."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.sync import sync_sources
from connectors.store import Workspace
from fake_apis.harness import FRESHDESK, TENANTS, stored


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv(FRESHDESK.env, FRESHDESK.token)
    server = FRESHDESK.make(12)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> pl.DataFrame:
    """One sync of 12 tickets, shared by the field-by-field cases."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FRESHDESK.env, FRESHDESK.token)
        server = FRESHDESK.make(12)
        try:
            ws = workspace(tmp_path_factory.mktemp("fd"), server)
            [report] = sync_sources(ws)
            assert report.exit_code == 0, str(report)
        finally:
            server.stop()
    return stored(ws)


def workspace(tmp_path, api, extra: str = "") -> Workspace:
    return Workspace.create(tmp_path / "ws", TENANTS + FRESHDESK.source_toml(api.url, extra))


@pytest.mark.parametrize(("ticket", "column", "expected"), [
    pytest.param(1, "status", "pending", id="status-3-pending"),
    pytest.param(3, "status", "closed", id="status-5-closed"),
    pytest.param(2, "status", "solved", id="status-4-resolved-is-solved"),
    pytest.param(1, "priority", "normal", id="priority-2-medium-is-normal"),
    pytest.param(4, "priority", "low", id="priority-1-low"),
    pytest.param(1, "channel", "web_form", id="source-2-portal"),
    pytest.param(2, "channel", "voice", id="source-3-phone"),
    pytest.param(3, "channel", "chat", id="source-7-chat"),
    pytest.param(5, "channel", "email", id="source-1-email"),
    pytest.param(1, "first_response_seconds", 1800.0, id="first-response-from-stats"),
    pytest.param(3, "tags", "refund", id="tags"),
    pytest.param(1, "queue", "4001", id="group-is-queue"),
    pytest.param(1, "site_id", "sp-austin", id="vendor-with-one-site-needs-no-site"),
])
def test_ticket_fields_land_in_canonical_columns(synced, ticket, column, expected):
    assert synced.filter(pl.col("ticket_id") == ticket)[column].item() == expected


def test_windows_walk_past_the_page_limit_without_losing_a_ticket(tmp_path, monkeypatch):
    monkeypatch.setenv(FRESHDESK.env, FRESHDESK.token)
    api = FRESHDESK.make(95)  # 10 per page, 3 pages per window: four windows
    try:
        ws = workspace(tmp_path, api)
        [report] = sync_sources(ws)
        pages = [q.get("page", ["1"])[0] for _, path, q in api.requests if path == "/api/v2/tickets"]
    finally:
        api.stop()
    assert report.exit_code == 0, str(report)
    assert stored(ws)["ticket_id"].to_list() == list(range(1, 96))
    assert max(int(p) for p in pages) == 3  # never asked for a page the API refuses
    assert pages.count("1") >= 4


def test_page_beyond_the_limit_is_refused_by_the_fake_as_documented(tmp_path, api):
    api.max_page = 1
    ws = workspace(tmp_path, api, "")
    ws_cfg = ws.path / "bpo.toml"
    ws_cfg.write_text(ws_cfg.read_text().replace("max_page = 3", "max_page = 5"))
    [report] = sync_sources(Workspace.open(ws.path))
    assert report.exit_code == 2
    assert "returned 400" in report.error and "beyond the 1th page" in report.error


def test_satisfaction_ratings_patch_their_tickets_and_survive_later_updates(tmp_path, api):
    ws = workspace(tmp_path, api)
    sync_sources(ws)
    api.rate(1, 103)
    api.rate(2, -103)
    [report] = sync_sources(ws)
    after_rating = stored(ws).filter(pl.col("ticket_id").is_in([1, 2]))
    assert after_rating["csat_raw"].to_list() == ["103", "-103"]
    assert after_rating["csat_score"].to_list() == [1.0, 0.0]
    assert after_rating["csat_positive"].to_list() == [True, False]
    api.update(1, priority=4)
    sync_sources(ws)
    later = stored(ws).filter(pl.col("ticket_id") == 1)
    assert (later["priority"].item(), later["csat_raw"].item(), later["csat_score"].item()) == ("urgent", "103", 1.0)
    assert report.cursors["satisfaction_ratings"] is not None


def test_freshdesk_sla_verdicts_and_due_times_are_read_and_win_over_derived_ones(tmp_path, api):
    """fr_escalated / is_escalated are Freshdesk's verdicts; fr_due_by / due_by its targets."""
    from datetime import date, datetime, timedelta, timezone

    def at(ticket: dict, **delta: float) -> str:
        created = datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00"))
        return (created + timedelta(**delta)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    t = api.tickets
    # 1: escalated for its first response although the stats say it was answered in time (vendor wins)
    api.update(1, fr_escalated=True)
    # 2: resolved 3 h after creation, due after 2 h, never flagged: breached by its due time
    api.update(2, due_by=at(t[2], hours=2))
    # 3: flagged overdue for resolution
    api.update(3, is_escalated=True)
    # 4: open, not answered yet, not flagged: no verdict yet
    api.update(4, status=2, stats={**t[4]["stats"], "first_responded_at": None, "resolved_at": None})
    # a contract target that every first response of 1800 s would miss: it must not overrule Freshdesk
    ws = workspace(tmp_path, api)
    ws.upsert("sla_targets", pl.DataFrame([dict(
        target_id="strict", client_id="globex", effective_from=date(2025, 1, 1), metric="sla_first_response",
        threshold_seconds=60.0, attainment_target=0.9, source_system="csv", source_instance="targets.csv",
        updated_at=datetime(2025, 1, 1, tzinfo=timezone.utc))]))
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    s = stored(ws).sort("ticket_id")
    row = {r["ticket_id"]: r for r in s.iter_rows(named=True)}
    assert (row[1]["first_response_breached"], row[1]["first_response_target_seconds"]) == (True, 4 * 3600.0)
    assert (row[2]["resolution_breached"], row[2]["resolution_target_seconds"]) == (True, 2 * 3600.0)
    assert row[3]["resolution_breached"] is True
    assert (row[4]["first_response_breached"], row[4]["resolution_breached"]) == (None, None)
    # answered 30 min after creation, due after 4 h, not flagged: met, whatever the 60 s contract term says
    assert (row[5]["first_response_breached"], row[5]["first_response_target_seconds"]) == (False, 4 * 3600.0)
    assert (row[6]["resolution_breached"], row[6]["resolution_target_seconds"]) == (False, 2 * 86400.0)


def test_outbound_email_is_kept_with_direction_outbound(synced):
    # source 10 (outbound email): tickets 4 and 9 of the fake
    directions = dict(synced.select("ticket_id", "direction").iter_rows())
    assert (directions[4], directions[9]) == ("outbound", "outbound")
    assert synced.filter(pl.col("direction") == "inbound").height == 10
    assert synced.filter(pl.col("ticket_id") == 4)["channel"].item() == "email"
