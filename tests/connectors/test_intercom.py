"""Intercom: the engine suite, the conversation field map, search pagination and X-RateLimit-Reset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from connectors.errors import ConfigError
from connectors.sync import sync_sources
from connectors.store import Workspace
from fake_apis.harness import TENANTS, Vendor, stored
from fake_apis.intercom import INTERCOM, FakeIntercom
from test_sync_vendors import (  # noqa: F401 - the engine suite, collected here against Intercom
    make_ws,
    test_cli_sync_prints_one_line_and_exits_with_the_report_code,
    test_full_sync_stores_every_ticket_once,
    test_incremental_sync_picks_up_exactly_the_changes,
    test_killed_sync_resumes_without_losing_or_duplicating,
    test_malformed_page_is_a_clear_error_and_keeps_the_cursor,
    test_missing_token_variable_is_a_config_error,
    test_rate_limited_and_failing_sync_finishes_and_reports_its_retries,
    test_rerun_is_a_no_op,
    test_retry_budget_caps_retries_across_requests,
    test_token_never_reaches_logs_store_or_state,
)

N = 60
TENANT_RULES = """
[[source.tenants]]
group = "5018"
vendor = "southpeak"
site = "sp-austin"
[[source.tenants]]
tag = "VIP_customer"
site = "nw-bogota"
"""


@pytest.fixture
def vendor(monkeypatch) -> Vendor:
    monkeypatch.setenv(INTERCOM.env, INTERCOM.token)
    return INTERCOM


@pytest.fixture
def api(vendor: Vendor) -> Iterator[FakeIntercom]:
    server = vendor.make(N)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> pl.DataFrame:
    """One sync of 12 conversations, shared by the field-by-field cases."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(INTERCOM.env, INTERCOM.token)
        server = INTERCOM.make(12)
        try:
            ws = make_ws(tmp_path_factory.mktemp("ic"), INTERCOM, server)
            [report] = sync_sources(ws)
            assert report.exit_code == 0, str(report)
        finally:
            server.stop()
    return stored(ws)


@pytest.mark.parametrize(("conversation", "column", "expected"), [
    pytest.param(1, "channel", "email", id="source-email"),
    pytest.param(5, "channel", "chat", id="source-conversation-is-messenger-chat"),
    pytest.param(2, "channel", "messaging", id="source-whatsapp"),
    pytest.param(3, "channel", "voice", id="source-phone-call"),
    pytest.param(4, "channel", "social", id="source-facebook"),
    pytest.param(1, "status", "closed", id="state-closed"),
    pytest.param(3, "status", "pending", id="state-snoozed-is-pending"),
    pytest.param(6, "status", "open", id="state-open"),
    pytest.param(5, "priority", "high", id="priority-flag-is-high"),
    pytest.param(1, "priority", "normal", id="not-priority-is-normal"),
    pytest.param(1, "queue", "5017", id="team-is-queue"),
    pytest.param(1, "tags", "VIP_customer", id="tag-names-space-safe"),
    pytest.param(1, "first_response_seconds", 300.0, id="first-admin-reply-calendar-from-timestamps"),
    pytest.param(1, "first_response_business_seconds", 121.0, id="time-to-admin-reply-is-business"),
    pytest.param(1, "resolution_seconds", 3700.0, id="last-close-calendar"),
    pytest.param(1, "resolution_business_seconds", 3601.0, id="time-to-last-close-is-business"),
    pytest.param(1, "reopens", 1, id="count-reopens"),
    pytest.param(1, "csat_raw", "2", id="conversation-rating-raw"),
    pytest.param(5, "csat_score", 0.0, id="rating-1-of-5-is-0"),
    pytest.param(6, "csat_positive", None, id="no-rating-while-open"),
    pytest.param(2, "csat_positive", False, id="rating-3-is-not-top-box"),
    pytest.param(1, "agent_id", "814861", id="admin-assignee"),
    pytest.param(2, "handled_by", "ai_agent", id="ai-agent-resolved"),
    pytest.param(3, "handled_by", "human_after_ai", id="ai-agent-routed-to-team-is-an-escalation"),
    pytest.param(1, "handled_by", "human", id="no-ai-agent-and-a-teammate-replied"),
])
def test_conversation_fields_land_in_canonical_columns(synced, conversation, column, expected):
    assert synced.filter(pl.col("ticket_id") == conversation)[column].item() == expected


def test_requester_is_hashed_and_no_message_text_is_stored(tmp_path, api):
    ws = make_ws(tmp_path, INTERCOM, api)
    sync_sources(ws)
    hashes = stored(ws)["requester_hash"].to_list()
    blob = b"".join(p.read_bytes() for p in ws.tables_dir.rglob("*.parquet"))
    assert all(re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes) and len(set(hashes)) == N
    assert b"cafe" not in blob and b"private" not in blob and b"jane@example.com" not in blob


def test_tenant_rules_route_by_team_and_tag(tmp_path, api):
    ws = make_ws(tmp_path, INTERCOM, api, TENANT_RULES)
    sync_sources(ws)
    by_id = {r["ticket_id"]: (r["vendor_id"], r["site_id"]) for r in stored(ws).iter_rows(named=True)}
    assert by_id[2] == ("southpeak", "sp-austin")  # team 5018
    assert by_id[1] == ("northwind", "nw-bogota")  # tagged "VIP customer"
    assert by_id[3] == ("northwind", "nw-manila")  # source default


def test_search_pages_with_starting_after_and_asks_from_cursor_minus_lookback(tmp_path, api):
    ws = make_ws(tmp_path, INTERCOM, api, "lookback_minutes = 10")
    [first] = sync_sources(ws)
    cursor = ws.get_cursor(INTERCOM.source, "tickets")
    api.bodies.clear()
    sync_sources(ws)
    asked = datetime.fromtimestamp(api.bodies[0]["query"]["value"], timezone.utc)
    expected = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(minutes=10, seconds=1)
    assert first.pages == 3 and first.requests == 3 + 2  # 60 conversations, 25 a page; the team and admin lists
    assert api.bodies[0]["sort"] == {"field": "updated_at", "order": "ascending"}
    assert abs((asked - expected).total_seconds()) < 1


def test_429_waits_until_the_rate_limit_reset_header(tmp_path, api):
    ws = make_ws(tmp_path, INTERCOM, api)
    api.rate_limited = 2
    [report] = sync_sources(ws)
    assert report.exit_code == 0 and report.inserted == N, str(report)
    assert report.retries == 2
    assert len(api.resets) == 2 and all(came >= reset for reset, came in api.resets)
    assert "429 x2" in ws.import_history().row(0, named=True)["message"]


def test_late_csat_answer_updates_the_conversation(tmp_path, api):
    ws = make_ws(tmp_path, INTERCOM, api)
    sync_sources(ws)
    api.rate(6, 5)
    [report] = sync_sources(ws)
    row = stored(ws).filter(pl.col("ticket_id") == 6)
    assert (report.inserted, report.updated) == (0, 1)
    assert (row["csat_raw"].item(), row["csat_score"].item(), row["csat_positive"].item()) == ("5", 1.0, True)


@pytest.mark.parametrize(("faults", "extra", "message", "code"), [
    pytest.param((), "", "acme-intercom: POST /conversations/search returned 401: check the token in $ACME_INTERCOM_TOKEN",
                 2, id="bad-token"),
    pytest.param(("503",) * 3, "max_retries = 2", "acme-intercom: POST /conversations/search returned 503 after 3 attempts",
                 3, id="retries-exhausted"),
])
def test_failures_name_source_endpoint_status_and_fix(tmp_path, api, monkeypatch, faults, extra, message, code):
    if not faults:
        monkeypatch.setenv(INTERCOM.env, "wrong-token")
    api.inject(*faults)
    ws = make_ws(tmp_path, INTERCOM, api, extra)
    [report] = sync_sources(ws)
    assert (report.exit_code, report.inserted) == (code, 0)
    assert report.error.startswith(message)
    assert ws.get_cursor(INTERCOM.source, "tickets") is None


def test_region_selects_the_regional_api_host(tmp_path):
    from connectors.vendors.intercom import base_url

    assert [base_url({"region": r}) for r in ("us", "eu", "au")] == [
        "https://api.intercom.io", "https://api.eu.intercom.io", "https://api.au.intercom.io"]
    with pytest.raises(ConfigError, match="region 'mars' is not one of us, eu, au"):
        Workspace.create(tmp_path / "ws", TENANTS + INTERCOM.source_toml("http://x", 'region = "mars"'))


@pytest.mark.parametrize(("source", "expected"), [
    pytest.param({"delivered_as": "customer_initiated"}, "inbound", id="customer-initiated"),
    pytest.param({"delivered_as": "admin_initiated", "type": "admin_initiated"}, "outbound", id="admin-initiated"),
    pytest.param({"delivered_as": "automated"}, "automated", id="automated-message"),
    pytest.param({"delivered_as": "campaigns_initiated"}, "automated", id="campaign-or-series"),
    pytest.param({"delivered_as": "operator_initiated"}, "automated", id="bot-operator"),
    pytest.param({"delivered_as": None, "author": {"type": "admin", "id": "1"}}, "outbound", id="no-delivered-as-admin-author"),
])
def test_admin_initiated_and_automated_conversations_are_kept_and_marked(tmp_path, api, source, expected):
    convo = api.conversations["7"]
    api.update(7, source={**convo["source"], **source})
    ws = make_ws(tmp_path, INTERCOM, api)
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    s = stored(ws)
    assert s.height == N
    assert s.filter(pl.col("ticket_id") == 7)["direction"].item() == expected
    assert s.filter(pl.col("ticket_id") != 7)["direction"].unique().to_list() == ["inbound"]
