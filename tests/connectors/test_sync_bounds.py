"""API syncs and SQL sources refuse the values file imports refuse: dates before 2000, future timestamps, NaN, ±inf.

A bad record is quarantined (named by source, record id and column in the rejected rows); the
good records of the same batch are stored, so a sync never stores a 9999-12-31 ticket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from connectors.store import Scope, Workspace
from connectors.sync import sync_sources
from fake_apis.harness import TENANTS, ZENDESK, FRESHDESK, stored
from fake_apis.server import FakeApi
from test_sql_sources import PG_URL, needs_pg


@pytest.fixture
def zendesk(monkeypatch) -> Iterator[FakeApi]:
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
    api = ZENDESK.make(5)
    yield api
    api.stop()


@pytest.fixture
def freshdesk(monkeypatch) -> Iterator[FakeApi]:
    monkeypatch.setenv(FRESHDESK.env, FRESHDESK.token)
    api = FRESHDESK.make(5)
    yield api
    api.stop()


def rejected_by_record(ws: Workspace) -> dict[str, str]:
    """Rejected rows of the last run: column -> message."""
    rows = ws.rejected()
    return {r["column_name"]: r["message"] for r in rows.iter_rows(named=True)}


def test_a_zendesk_ticket_dated_9999_is_quarantined_and_the_rest_stored(tmp_path, zendesk):
    zendesk.add(6, created_at="9999-12-31T00:00:00Z")
    zendesk.add(7, created_at="1900-01-01T00:00:00Z")
    ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(zendesk.url, ""))
    [report] = sync_sources(ws)
    ids = stored(ws)["ticket_id"].to_list()
    assert (report.exit_code, report.rejected) == (0, 2), str(report)
    assert ids == [1, 2, 3, 4, 5]
    rows = ws.rejected().sort("message").to_dicts()
    assert [r["column_name"] for r in rows] == ["created_at", "created_at"]
    assert "record ticket_id 6" in " ".join(r["message"] for r in rows)
    assert "record ticket_id 7" in " ".join(r["message"] for r in rows)
    assert any("cannot be in the future" in r["message"] for r in rows)
    assert any("before 2000-01-01" in r["message"] for r in rows)
    assert ws.import_history()["source"][0] == "acme-zendesk"
    assert ws.import_history()["status"][0] == "partial"


def test_a_freshdesk_ticket_from_the_future_is_quarantined(tmp_path, freshdesk):
    freshdesk.add(6, created_at="2999-01-01T00:00:00Z")
    ws = Workspace.create(tmp_path / "ws", TENANTS + FRESHDESK.source_toml(freshdesk.url, ""))
    [report] = sync_sources(ws)
    assert report.rejected == 1, str(report)
    assert 6 not in stored(ws)["ticket_id"].to_list()
    assert "record ticket_id 6" in rejected_by_record(ws)["created_at"]


@needs_pg
def test_a_sql_source_quarantines_nan_infinity_and_year_9999(tmp_path):
    engine = sa.create_engine(PG_URL)
    table = f"bpo_{uuid.uuid4().hex[:8]}_tickets"
    with engine.begin() as con:
        con.execute(sa.text(f"CREATE TABLE {table} (ticket_id text, channel text, created_at timestamp, updated_at timestamp, "
                            "handle_seconds double precision)"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES "
                            "('ok', 'email', '2025-03-03 09:00', '2025-03-03 10:00', 300), "
                            "('nan', 'email', '2025-03-03 09:00', '2025-03-03 10:00', 'NaN'), "
                            "('inf', 'email', '2025-03-03 09:00', '2025-03-03 10:00', '-Infinity'), "
                            "('far', 'email', '9999-12-31 00:00', '2025-03-03 10:00', 60)"))
    try:
        ws = Workspace.create(tmp_path / "ws", TENANTS + f"""
[[source]]
name = "dw"
kind = "sql"
url = "{PG_URL}"
table = "{table}"
client = "acme"
vendor = "northwind"
site = "nw-manila"
start = "2025-01-01"
""")
        [report] = sync_sources(ws)
        kept = ws.read("tickets", Scope.everything())["ticket_id"].to_list()
        rejected = ws.rejected().sort("message").to_dicts()
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert (report.exit_code, report.rejected) == (0, 3), str(report)
    assert kept == ["ok"]
    named = {(r["column_name"], r["message"].split(":")[0]) for r in rejected}
    assert named == {("handle_seconds", "record ticket_id nan"), ("handle_seconds", "record ticket_id inf"),
                     ("created_at", "record ticket_id far")}


# --------------------------------------------------------------------------- required values and codes, by record


def test_a_synced_record_missing_a_required_value_is_named_by_its_id(tmp_path, zendesk):
    zendesk.add(6, created_at=None)
    ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(zendesk.url, ""))
    [report] = sync_sources(ws)
    assert (report.exit_code, report.rejected) == (0, 1), str(report)
    assert rejected_by_record(ws)["created_at"] == ("record ticket_id 6: required value 'created_at' is missing in "
                                                    "the source record")


def test_a_synced_channel_outside_the_vocabulary_is_refused_with_the_bpo_toml_fix_which_works(tmp_path, zendesk):
    zendesk.add(6, via={"channel": "pigeon"})
    ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(zendesk.url, ""))
    [report] = sync_sources(ws)
    assert (report.exit_code, report.rejected) == (0, 1), str(report)
    assert 6 not in stored(ws)["ticket_id"].to_list()
    message = rejected_by_record(ws)["channel"]
    assert message.startswith("record ticket_id 6: channel 'pigeon' is not a channel bpo-insights knows (")
    assert ('under this source\'s [[source]] entry (name = "acme-zendesk") add [source.values.channel] with '
            '"pigeon" = "other", then sync again') in message
    fixed = Workspace.create(tmp_path / "fixed", TENANTS + ZENDESK.source_toml(
        zendesk.url, '[source.values.channel]\n"Pigeon" = "other"\n'))
    [report] = sync_sources(fixed)
    assert (report.exit_code, report.rejected) == (0, 0), str(report)
    tickets = stored(fixed)
    assert tickets.filter(tickets["ticket_id"] == 6)["channel"].to_list() == ["other"]


def test_a_value_map_for_a_column_without_a_vocabulary_is_refused(tmp_path, zendesk):
    from connectors.errors import ConfigError

    with pytest.raises(ConfigError, match=r"values.*maps 'queue', which is not one of channel, direction, handled_by, outcome, priority, status"):
        Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(zendesk.url, '[source.values.queue]\n"a" = "b"\n'))


@needs_pg
def test_a_sql_source_refuses_codes_outside_the_vocabulary_until_bpo_toml_maps_them(tmp_path):
    engine = sa.create_engine(PG_URL)
    table = f"bpo_{uuid.uuid4().hex[:8]}_tickets"
    with engine.begin() as con:
        con.execute(sa.text(f"CREATE TABLE {table} (ticket_id text, channel text, status text, created_at timestamp, "
                            "updated_at timestamp)"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES "
                            "('a', 'Email', 'Solved', '2025-03-03 09:00', '2025-03-03 10:00'), "
                            "('b', 'Phone', 'solved', '2025-03-03 09:00', '2025-03-03 10:00'), "
                            "('c', 'email', 'Done', '2025-03-03 09:00', '2025-03-03 10:00')"))
    source = f"""
[[source]]
name = "dw"
kind = "sql"
url = "{PG_URL}"
table = "{table}"
client = "acme"
vendor = "northwind"
site = "nw-manila"
start = "2025-01-01"
"""
    try:
        ws = Workspace.create(tmp_path / "ws", TENANTS + source)
        [report] = sync_sources(ws)
        kept = ws.read("tickets", Scope.everything()).sort("ticket_id").select("ticket_id", "channel", "status").rows()
        rejected = {r["column_name"]: r["message"] for r in ws.rejected().to_dicts()}
        fixed = Workspace.create(tmp_path / "fixed", TENANTS + source + '[source.values.channel]\n"phone" = "voice"\n'
                                 '[source.values.status]\n"Done" = "solved"\n')
        [again] = sync_sources(fixed)
        all_kept = fixed.read("tickets", Scope.everything()).sort("ticket_id").select("ticket_id", "channel", "status").rows()
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert (report.exit_code, report.rejected) == (0, 2), str(report)
    assert kept == [("a", "email", "solved")]  # codes are spelt as files spell them: lower case
    assert rejected["channel"].startswith("record ticket_id b: channel 'phone' is not a channel bpo-insights knows")
    assert '[source.values.channel] with "phone" = "voice"' in rejected["channel"]
    assert rejected["status"].startswith("record ticket_id c: status 'done' is not a status bpo-insights knows")
    assert (again.exit_code, again.rejected) == (0, 0), str(again)
    assert all_kept == [("a", "email", "solved"), ("b", "voice", "solved"), ("c", "email", "solved")]
