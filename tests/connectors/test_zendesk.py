"""Zendesk field map: what each ticket field becomes, and what the export throws at us."""

from __future__ import annotations

import re

import polars as pl
import pytest

from connectors.sync import sync_sources
from connectors.store import Scope, Workspace
from fake_apis.harness import TENANTS, ZENDESK

TENANT_RULES = """
[[source.tenants]]
group = "360002"
vendor = "southpeak"
site = "sp-austin"
[[source.tenants]]
tag = "vip"
site = "nw-bogota"
"""


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
    server = ZENDESK.make(12)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> pl.DataFrame:
    """One sync of 12 tickets, shared by the field-by-field cases."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ZENDESK.env, ZENDESK.token)
        server = ZENDESK.make(12)
        try:
            _, stored = sync(tmp_path_factory.mktemp("zd"), server)
        finally:
            server.stop()
    return stored


def sync(tmp_path, api, extra: str = "") -> tuple[Workspace, pl.DataFrame]:
    ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(api.url, extra))
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    return ws, ws.read("tickets", Scope.everything()).with_columns(pl.col("ticket_id").cast(pl.Int64)).sort("ticket_id")


@pytest.mark.parametrize(("ticket", "column", "expected"), [
    pytest.param(1, "channel", "web_form", id="via-web-is-web-form"),
    pytest.param(3, "status", "on_hold", id="hold-is-on-hold"),
    pytest.param(3, "priority", "urgent", id="priority-kept"),
    pytest.param(1, "queue", "360001", id="group-is-queue"),
    pytest.param(1, "tags", "vip t1", id="tags-space-separated"),
    pytest.param(1, "first_response_seconds", 11 * 60.0, id="reply-time-calendar-minutes"),
    pytest.param(1, "first_response_business_seconds", 6 * 60.0, id="reply-time-business-minutes"),
    pytest.param(1, "resolution_seconds", 121 * 60.0, id="full-resolution-calendar"),
    pytest.param(1, "replies", 2, id="replies"),
    pytest.param(1, "reopens", 1, id="reopens"),
    pytest.param(2, "transfers", 2, id="transfers-are-extra-group-stations"),
    pytest.param(1, "csat_raw", "good", id="csat-raw"),
    pytest.param(1, "csat_score", 1.0, id="csat-good-is-1"),
    pytest.param(4, "csat_positive", None, id="csat-offered-is-no-rating"),
    pytest.param(1, "agent_id", "501", id="assignee"),
    pytest.param(1, "client_id", "acme", id="tenant-client"),
])
def test_ticket_fields_land_in_canonical_columns(synced, ticket, column, expected):
    stored = synced
    assert stored.filter(pl.col("ticket_id") == ticket)[column].item() == expected


def test_requester_is_hashed_and_texts_are_not_stored(tmp_path, api):
    ws, stored = sync(tmp_path, api)
    hashes = stored["requester_hash"].to_list()
    assert all(re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes) and len(set(hashes)) == 12
    blob = b"".join(p.read_bytes() for p in ws.tables_dir.rglob("*.parquet"))
    assert b"9000001" not in blob and b"secret subject" not in blob and b"private" not in blob


def test_tenant_rules_route_by_group_and_tag(tmp_path, api):
    _, stored = sync(tmp_path, api, TENANT_RULES)
    by_id = {r["ticket_id"]: (r["vendor_id"], r["site_id"]) for r in stored.iter_rows(named=True)}
    assert by_id[3] == ("southpeak", "sp-austin")  # group 360002 (first rule wins over the vip tag)
    assert by_id[1] == ("northwind", "nw-bogota")  # vip tag
    assert by_id[2] == ("northwind", "nw-manila")  # source default


def test_export_duplicates_across_pages_are_stored_once(tmp_path, monkeypatch):
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
    api = ZENDESK.make(60, duplicate_across_pages=True)
    try:
        ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(api.url, ""))
        [report] = sync_sources(ws)
    finally:
        api.stop()
    assert report.rows_read > 60 and report.inserted == 60
    assert ws.read("tickets", Scope.everything())["ticket_id"].is_unique().all()


def test_fields_that_vanish_or_change_type_do_not_stop_the_sync(tmp_path, api):
    api.add(20, via=None, satisfaction_rating="unoffered", tags="single-string", priority=3, id="20")
    api.metrics.pop(20, None)
    api.add(21, created_at=None)
    ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(api.url, ""))
    [report] = sync_sources(ws)
    stored = ws.read("tickets", Scope.everything())
    assert report.exit_code == 0
    assert report.rejected == 2  # 20 has no channel (via vanished), 21 no created_at
    assert set(stored["ticket_id"]) == {str(i) for i in range(1, 13)}
    rejected = ws.rejected()
    assert set(rejected["column_name"]) == {"channel", "created_at"}
    assert ws.import_history().row(0, named=True)["status"] == "partial"


def test_deleted_tickets_are_kept_with_status_deleted(tmp_path, api):
    ws, _ = sync(tmp_path, api)
    api.delete(3)
    [report] = sync_sources(ws)
    stored = ws.read("tickets", Scope.everything()).filter(pl.col("ticket_id") == "3")
    assert report.updated == 1 and stored["status"].item() == "deleted"


def test_ticket_closed_without_a_metric_set_is_solved_and_leaves_the_backlog(tmp_path, api):
    # closed by a trigger before Zendesk kept its metrics: the export carries no metric set for it
    api.update(4, status="closed")
    closed_at = api.tickets[4]["updated_at"]
    api.metrics.pop(4)
    api.update(8, status="solved")  # solved, its metric set lost too
    solved_at = api.tickets[8]["updated_at"]
    api.metrics.pop(8)
    _, stored = sync(tmp_path, api)
    four = stored.filter(pl.col("ticket_id") == 4).row(0, named=True)
    eight = stored.filter(pl.col("ticket_id") == 8).row(0, named=True)
    assert (four["status"], four["resolved_at"].isoformat(), four["closed_at"].isoformat()) == (
        "closed", closed_at.replace("Z", "+00:00"), closed_at.replace("Z", "+00:00"))
    assert four["resolution_seconds"] == (four["resolved_at"] - four["created_at"]).total_seconds()
    assert (eight["status"], eight["resolved_at"].isoformat(), eight["closed_at"]) == (
        "solved", solved_at.replace("Z", "+00:00"), None)


def test_open_tickets_have_no_solve_time_and_metric_sets_still_give_it(synced):
    open_ = synced.filter(pl.col("status").is_in(["new", "open", "pending", "on_hold"]))
    done = synced.filter(pl.col("status").is_in(["solved", "closed"]))
    assert open_.height and open_["resolved_at"].null_count() == open_.height
    assert done.height and done["resolved_at"].null_count() == 0
    # the metric set's solved_at (two hours after creation) wins over the ticket's updated_at
    assert ((done["resolved_at"] - done["created_at"]).dt.total_seconds() == 7200).all()


@pytest.mark.parametrize(("via", "expected"), [
    pytest.param({"channel": "voice", "source": {"rel": "outbound", "from": {}, "to": {}}}, "outbound", id="outbound-call"),
    pytest.param({"channel": "phone_call_outbound"}, "outbound", id="phone-call-outbound-via"),
    pytest.param({"channel": "rule", "source": {"rel": "trigger"}}, "automated", id="created-by-a-trigger"),
    pytest.param({"channel": "voice", "source": {"rel": "inbound"}}, "inbound", id="inbound-call"),
    pytest.param({"channel": "email", "source": {"rel": None}}, "inbound", id="email"),
])
def test_direction_follows_the_via(tmp_path, api, via, expected):
    api.update(5, via=via)
    _, stored = sync(tmp_path, api)
    assert stored.filter(pl.col("ticket_id") == 5)["direction"].item() == expected
    assert stored.filter(pl.col("ticket_id") != 5)["direction"].unique().to_list() == ["inbound"]
