"""Gorgias: the engine suite, the ticket field map, the newest-first walk and satisfaction surveys."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import polars as pl
import pytest

from connectors.errors import ConfigError
from connectors.sync import sync_sources
from connectors.store import Workspace
from fake_apis.gorgias import GORGIAS, FakeGorgias
from fake_apis.harness import TENANTS, Vendor, run_cli_sync, stored
from test_sync_vendors import (  # noqa: F401 - the engine suite, collected here against Gorgias
    make_ws,
    test_cli_sync_prints_one_line_and_exits_with_the_report_code,
    test_full_sync_stores_every_ticket_once,
    test_incremental_sync_picks_up_exactly_the_changes,
    test_malformed_page_is_a_clear_error_and_keeps_the_cursor,
    test_missing_token_variable_is_a_config_error,
    test_rate_limited_and_failing_sync_finishes_and_reports_its_retries,
    test_rerun_is_a_no_op,
    test_retry_budget_caps_retries_across_requests,
    test_token_never_reaches_logs_store_or_state,
)

N = 60


@pytest.fixture
def vendor(monkeypatch) -> Vendor:
    monkeypatch.setenv(GORGIAS.env, GORGIAS.token)
    return GORGIAS


@pytest.fixture
def api(vendor: Vendor) -> Iterator[FakeGorgias]:
    server = vendor.make(N)
    yield server
    server.stop()


def ticket_requests(api: FakeGorgias) -> list[dict[str, list[str]]]:
    return [q for _, path, q in api.requests if path == "/api/tickets"]


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> pl.DataFrame:
    """One sync of 12 tickets and three surveys, shared by the field-by-field cases."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(GORGIAS.env, GORGIAS.token)
        server = GORGIAS.make(12)
        server.survey(2, 5)
        server.survey(4, 2)
        server.survey(6, None)
        server.add(13, spam=True)
        try:
            ws = make_ws(tmp_path_factory.mktemp("gg"), GORGIAS, server)
            [report] = sync_sources(ws)
            assert report.exit_code == 0, str(report)
        finally:
            server.stop()
    return stored(ws)


@pytest.mark.parametrize(("ticket", "column", "expected"), [
    pytest.param(1, "channel", "chat", id="chat"),
    pytest.param(2, "channel", "voice", id="phone-is-voice"),
    pytest.param(3, "channel", "messaging", id="facebook-messenger-is-messaging"),
    pytest.param(4, "channel", "web_form", id="contact-form-is-web-form"),
    pytest.param(5, "channel", "email", id="email"),
    pytest.param(1, "status", "open", id="open"),
    pytest.param(2, "status", "closed", id="closed"),
    pytest.param(13, "status", "deleted", id="spam-is-deleted"),
    pytest.param(3, "priority", "urgent", id="critical-is-urgent"),
    pytest.param(1, "priority", "normal", id="normal"),
    pytest.param(1, "queue", "Tier 1", id="team-name-is-queue"),
    pytest.param(3, "tags", "refund", id="tag-names"),
    pytest.param(2, "resolution_seconds", 7200.0, id="resolution-from-closed-datetime"),
    pytest.param(1, "agent_id", "1201", id="assignee-user"),
    pytest.param(1, "language", "en", id="language"),
    pytest.param(2, "csat_raw", "5", id="survey-score-raw"),
    pytest.param(2, "csat_score", 1.0, id="score-5-of-5"),
    pytest.param(4, "csat_positive", False, id="score-2-not-top-box"),
    pytest.param(6, "csat_raw", None, id="unanswered-survey-is-no-rating"),
    pytest.param(1, "client_id", "globex", id="tenant-client"),
    pytest.param(1, "site_id", "sp-austin", id="vendor-with-one-site-needs-no-site"),
])
def test_ticket_fields_land_in_canonical_columns(synced, ticket, column, expected):
    assert synced.filter(pl.col("ticket_id") == ticket)[column].item() == expected


def test_requester_is_hashed_and_no_text_is_stored(tmp_path, api):
    ws = make_ws(tmp_path, GORGIAS, api)
    sync_sources(ws)
    blob = b"".join(p.read_bytes() for p in ws.tables_dir.rglob("*.parquet"))
    assert stored(ws)["requester_hash"].str.len_chars().to_list() == [32] * N
    assert b"88001" not in blob and b"secret subject" not in blob and b"private" not in blob and b"buyer1@" not in blob


def test_walks_newest_first_and_stops_at_the_saved_position(tmp_path, api):
    ws = make_ws(tmp_path, GORGIAS, api, "lookback_minutes = 1")
    [first] = sync_sources(ws)
    api.requests.clear()
    api.update(2, priority="high")
    api.add(1001)
    [second] = sync_sources(ws)
    asked = ticket_requests(api)
    assert asked[0]["order_by"] == ["updated_datetime:desc"] and asked[0]["limit"] == ["25"]
    assert first.pages == 3 + 1  # three ticket pages, one (empty) survey page
    assert len(asked) == 1  # the first page already reaches back past the cursor
    assert (second.inserted, second.updated) == (1, 1)


def test_trashed_ticket_is_kept_as_deleted(tmp_path, api):
    ws = make_ws(tmp_path, GORGIAS, api)
    sync_sources(ws)
    api.trash(9)
    [report] = sync_sources(ws)
    assert report.updated == 1 and stored(ws).filter(pl.col("ticket_id") == 9)["status"].item() == "deleted"


@pytest.mark.parametrize(("sent_days_ago", "patched"), [
    pytest.param(3, True, id="answered-days-after-sending"),
    pytest.param(45, False, id="sent-before-the-survey-window"),
])
def test_late_survey_answers_patch_csat_within_the_window(tmp_path, api, sent_days_ago, patched):
    ws = make_ws(tmp_path, GORGIAS, api)
    sync_sources(ws)
    api.survey(8, 4, sent_days_ago=sent_days_ago)
    sync_sources(ws)
    api.update(8, priority="low")  # a later ticket update keeps the patched rating
    sync_sources(ws)
    row = stored(ws).filter(pl.col("ticket_id") == 8)
    assert row["priority"].item() == "low"
    assert (row["csat_raw"].item(), row["csat_positive"].item()) == (("4", True) if patched else (None, None))


def test_bad_key_fails_fast_and_names_the_variable(tmp_path, api, monkeypatch):
    monkeypatch.setenv(GORGIAS.env, "wrong-key")
    ws = make_ws(tmp_path, GORGIAS, api)
    [report] = sync_sources(ws)
    assert report.exit_code == 2 and len(api.requests) == 1
    assert report.error == "globex-gorgias: GET /api/tickets returned 401: check the token in $GLOBEX_GORGIAS_KEY"


def test_exhausted_retries_name_source_endpoint_status_and_fix(tmp_path, api):
    ws = make_ws(tmp_path, GORGIAS, api, "max_retries = 2")
    api.inject("502", "502", "502")
    [report] = sync_sources(ws)
    assert report.exit_code == 3
    assert report.error.startswith("globex-gorgias: GET /api/tickets returned 502 after 3 attempts")
    assert "run 'bpo-insights sync globex-gorgias' again later" in report.error


def test_missing_email_is_a_config_error_when_the_workspace_opens(tmp_path, api):
    with pytest.raises(ConfigError, match="'email' is missing"):
        Workspace.create(tmp_path / "ws", TENANTS + GORGIAS.source_toml(api.url).replace('email = "ops@globex.example"', ""))


def test_killed_walk_keeps_the_cursor_and_the_next_run_walks_again(tmp_path, vendor):
    api = GORGIAS.make(300, delay=0.03)
    try:
        ws = make_ws(tmp_path, GORGIAS, api, "batch_rows = 10")
        proc = run_cli_sync(ws.path, {GORGIAS.env: GORGIAS.token}, wait=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (api.served_pages < 5 or not list(ws.tables_dir.rglob("*.parquet"))):
            time.sleep(0.02)
        assert proc.poll() is None, "the sync finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        partial = stored(ws).height
        assert 0 < partial < 300
        assert ws.get_cursor(GORGIAS.source, "tickets") is None  # a backwards walk saves its position only at the end
        GORGIAS.change(api)
        [report] = sync_sources(ws)
        after = stored(ws)
    finally:
        api.stop()
    assert report.exit_code == 0, str(report)
    assert after["ticket_id"].to_list() == sorted(api.tickets) and after["ticket_id"].is_unique().all()
    assert ws.get_cursor(GORGIAS.source, "tickets") is not None
