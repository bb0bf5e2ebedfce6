"""The sync engine against each fake vendor: lossless, incremental, idempotent, resumable, honest about faults."""

from __future__ import annotations

import base64
import hashlib
import logging
import signal
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from connectors.sync import sync_sources
from connectors.store import Scope, Workspace
from fake_apis.harness import TENANTS, VENDORS, Vendor, run_cli_sync
from fake_apis.server import FakeApi

N = 60


@pytest.fixture(params=VENDORS, ids=lambda v: v.kind)
def vendor(request, monkeypatch) -> Vendor:
    v: Vendor = request.param
    monkeypatch.setenv(v.env, v.token)
    return v


@pytest.fixture
def api(vendor: Vendor) -> Iterator[FakeApi]:
    server = vendor.make(N)
    yield server
    server.stop()


def make_ws(tmp_path: Path, vendor: Vendor, api: FakeApi, extra: str = "") -> Workspace:
    return Workspace.create(tmp_path / "ws", TENANTS + vendor.source_toml(api.url, extra))


def tickets(ws: Workspace) -> pl.DataFrame:
    return ws.read("tickets", Scope.everything()).sort("ticket_id")


def digest(ws: Workspace) -> str:
    h = hashlib.sha256()
    for p in sorted(ws.tables_dir.rglob("*.parquet")):
        h.update(p.read_bytes())
    return h.hexdigest()


def test_full_sync_stores_every_ticket_once(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    [report] = sync_sources(ws)
    stored = tickets(ws)
    assert report.exit_code == 0, str(report)
    assert (report.inserted, report.updated, report.rejected) == (N, 0, 0)
    assert sorted(stored["ticket_id"].to_list(), key=int) == [str(i) for i in range(1, N + 1)]
    assert stored["source_system"].unique().to_list() == [vendor.kind]
    assert stored["source_instance"].unique().to_list() == [vendor.source]
    assert ws.get_cursor(vendor.source, "tickets") == report.cursors["tickets"] is not None


def test_incremental_sync_picks_up_exactly_the_changes(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync_sources(ws)
    before = tickets(ws)
    changed = vendor.change(api)
    [report] = sync_sources(ws)
    after = tickets(ws)
    new_ids = set(after["ticket_id"]) - set(before["ticket_id"])
    moved = after.join(before, on="ticket_id", how="inner", suffix="_old").filter(
        pl.col("updated_at") != pl.col("updated_at_old"))
    assert report.exit_code == 0, str(report)
    assert new_ids | set(moved["ticket_id"]) == changed
    assert (report.inserted, report.updated) == (len(new_ids), moved.height)
    assert after.height == N + len(new_ids)


def test_rerun_is_a_no_op(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync_sources(ws)
    cursor, files = ws.get_cursor(vendor.source, "tickets"), digest(ws)
    [report] = sync_sources(ws)
    assert (report.inserted, report.updated, report.exit_code) == (0, 0, 0)
    assert digest(ws) == files
    assert ws.get_cursor(vendor.source, "tickets") == cursor


def test_next_sync_asks_from_the_cursor_minus_the_lookback(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api, "lookback_minutes = 10")
    sync_sources(ws)
    cursor = ws.get_cursor(vendor.source, "tickets")
    api.requests.clear()
    sync_sources(ws)
    first = api.requests[0][2]
    since = first.get("start_time", first.get("updated_since"))[0]
    expected = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(minutes=10)
    asked = (datetime.fromtimestamp(int(since), timezone.utc) if since.isdigit()
             else datetime.fromisoformat(since.replace("Z", "+00:00")))
    assert abs((asked - expected).total_seconds()) < 1


def test_rate_limited_and_failing_sync_finishes_and_reports_its_retries(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    api.inject("429", "503", "drop", "502")
    t0 = time.perf_counter()
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    assert report.inserted == N
    assert report.retries == 4
    assert time.perf_counter() - t0 >= 1.0  # Retry-After: 1 was honoured
    log = ws.import_history().row(0, named=True)
    assert "4 retries" in log["message"] and "429 x1" in log["message"]
    status = ws.source_status().row(0, named=True)  # what `status` and the Data health page show
    assert (status["status"], status["inserted"]) == ("ok", N)
    assert "tickets=" in status["cursors"] and "4 retries" in status["message"]


def test_bad_token_fails_fast_and_names_the_variable(tmp_path, vendor, api, monkeypatch):
    monkeypatch.setenv(vendor.env, "wrong-token")
    ws = make_ws(tmp_path, vendor, api)
    [report] = sync_sources(ws)
    assert report.exit_code == 2
    assert f"returned 401: check the token in ${vendor.env}" in report.error
    assert report.error.startswith(f"{vendor.source}: GET /api/v2/")
    assert len(api.requests) == 1
    assert ws.get_cursor(vendor.source, "tickets") is None


def test_missing_token_variable_is_a_config_error(tmp_path, vendor, api, monkeypatch):
    monkeypatch.delenv(vendor.env)
    ws = make_ws(tmp_path, vendor, api)
    [report] = sync_sources(ws)
    assert report.exit_code == 2
    assert f"${vendor.env} is not set" in report.error
    assert api.requests == []


def test_exhausted_retries_name_source_endpoint_status_and_fix(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api, "max_retries = 2")
    api.inject("503", "503", "503")
    [report] = sync_sources(ws)
    assert report.exit_code == 3
    assert report.error.startswith(f"{vendor.source}: GET /api/v2/")
    assert "returned 503 after 3 attempts" in report.error
    assert f"run 'bpo-insights sync {vendor.source}' again later" in report.error


def test_retry_budget_caps_retries_across_requests(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api, "retry_budget = 3")
    api.inject("503", "503", "ok", "503", "503")
    [report] = sync_sources(ws)
    assert report.exit_code == 3
    assert "retry budget of 3 retries for this run is used up" in report.error


def test_malformed_page_is_a_clear_error_and_keeps_the_cursor(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync_sources(ws)
    cursor, files = ws.get_cursor(vendor.source, "tickets"), digest(ws)
    vendor.change(api)
    api.inject("malformed", "malformed", "malformed")
    [report] = sync_sources(ws)
    assert report.exit_code == 3
    assert "returned a malformed page" in report.error
    assert ws.get_cursor(vendor.source, "tickets") == cursor
    assert digest(ws) == files
    [healed] = sync_sources(ws)
    assert healed.exit_code == 0 and healed.inserted == 2


def test_token_never_reaches_logs_store_or_state(tmp_path, vendor, api, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    ws = make_ws(tmp_path, vendor, api, "max_retries = 1")
    api.inject("429", "503")
    sync_sources(ws)
    api.inject("503", "503")
    sync_sources(ws)
    monkeypatch.setenv(vendor.env, vendor.token + "-revoked")
    sync_sources(ws)
    secrets = [vendor.token.encode(), base64.b64encode(vendor.token.encode())[:16]]
    for path in ws.path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    assert vendor.token not in caplog.text
    assert "SECRET" not in caplog.text
    assert len(caplog.records) > 0


def test_killed_sync_resumes_without_losing_or_duplicating(tmp_path, vendor):
    api = vendor.make(300, delay=0.03)
    try:
        ws = make_ws(tmp_path, vendor, api, "batch_rows = 10")
        proc = run_cli_sync(ws.path, {vendor.env: vendor.token}, wait=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (api.served_pages < 8 or ws.get_cursor(vendor.source, "tickets") is None):
            time.sleep(0.02)
        assert proc.poll() is None, "the sync finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        partial = tickets(ws)
        assert 0 < partial.height < 300
        vendor.change(api)
        [report] = sync_sources(ws)
        stored = tickets(ws)
        assert report.exit_code == 0, str(report)
        assert sorted(stored["ticket_id"].to_list(), key=int) == sorted((str(t) for t in api.tickets), key=int)
        assert stored["ticket_id"].is_unique().all()
    finally:
        api.stop()


def test_cli_sync_prints_one_line_and_exits_with_the_report_code(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    ok = run_cli_sync(ws.path, {vendor.env: vendor.token})
    bad = run_cli_sync(ws.path, {vendor.env: "nope"})
    line = ok.stdout.read()
    assert ok.returncode == 0 and line.startswith(f"{vendor.source} ({vendor.kind}): ") and f"+{N} new" in line
    assert bad.returncode == 2 and "check the token in" in bad.stdout.read()
