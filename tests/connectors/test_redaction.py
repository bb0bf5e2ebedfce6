"""Secrets and personal data: a token never reaches a log, an error or the store in any encoding; requester
ids are hashed on every path; e-mails, phone and card numbers in free text are masked."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import polars as pl
import pytest
import sqlalchemy as sa

from connectors.errors import SchemaError
from connectors.importer import import_paths
from connectors.redact import mask_pii, scrub
from connectors.store import Scope, Workspace
from connectors.sync import sync_sources
from fake_apis.harness import TENANTS, _zendesk_toml
from fake_apis.server import FakeApi, Reply
from test_sql_sources import PG_URL, needs_pg

TOKEN = 'zd/SECRET+7f3a=9c"1e'  # characters that every encoding changes
EMAIL = "ops@acme.example"


def encodings(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {"literal": secret, "url-encoded": quote(secret, safe=""), "url-encoded-lower": quote(secret, safe="").lower(),
            "form-encoded": quote_plus(secret), "base64": base64.b64encode(raw).decode(),
            "base64-url": base64.urlsafe_b64encode(raw).decode().rstrip("="), "json-escaped": json.dumps(secret)[1:-1]}


@pytest.mark.parametrize("form", list(encodings(TOKEN)))
def test_scrub_removes_every_encoding_of_a_secret(form):
    text = f"error: {encodings(TOKEN)[form]} was refused"
    assert scrub(text, [TOKEN]) == "error: *** was refused"


class Echo(FakeApi):
    """An API that answers 400 and echoes the credentials it got, URL-encoded, JSON-escaped and base64."""

    def authorized(self, header: str) -> bool:
        return True

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        return Reply(400, f'{{"error": "bad request for token={quote(TOKEN, safe="").lower()} '
                          f'({json.dumps(TOKEN)[1:-1]}; {base64.b64encode(TOKEN.encode()).decode()})"}}'.encode(), {})


def test_a_token_echoed_by_a_server_in_any_encoding_never_reaches_a_log_an_error_or_the_import_log(
        tmp_path, monkeypatch, caplog):
    api = Echo().start()
    try:
        monkeypatch.setenv("ACME_ZENDESK_TOKEN", TOKEN)
        ws = Workspace.create(tmp_path / "ws", TENANTS + _zendesk_toml(api.url))
        with caplog.at_level(logging.DEBUG):
            [report] = sync_sources(ws)
    finally:
        api.stop()
    assert report.exit_code == 2 and "returned 400 (" in report.error and "***" in report.error
    logged = ws.import_history()["message"].to_list()
    for where, text in {"error": report.error, "import log": " ".join(logged), "log": caplog.text}.items():
        for form, value in encodings(TOKEN).items():
            assert value not in text, f"{form} token in the {where}: {text}"


# --------------------------------------------------------------------------- personal data


@pytest.mark.parametrize(("text", "masked"), [
    pytest.param("vip ops@acme.example", "vip [email]", id="email"),
    pytest.param("callback +44 20 7946 0958", "callback [phone]", id="phone-international"),
    pytest.param("call (555) 123-4567 today", "call [phone] today", id="phone-us"),
    pytest.param("card 4111 1111 1111 1111", "card [card]", id="card-spaced"),
    pytest.param("paid 4111-1111-1111-1111", "paid [card]", id="card-dashed"),
    pytest.param("order 4111111111111112 refund", "order 4111111111111112 refund", id="not-a-card-luhn"),
    pytest.param("created 2025-03-03 09:00:00", "created 2025-03-03 09:00:00", id="a-timestamp-is-kept"),
    pytest.param("ticket 12345678 amount 1234567.50", "ticket 12345678 amount 1234567.50", id="bare-numbers-kept"),
    pytest.param("billing refund_request", "billing refund_request", id="plain-tags"),
])
def test_mask_pii_masks_contacts_and_cards_and_keeps_ordinary_text(text, masked):
    assert mask_pii(text) == masked


CSV = """ticket_id,client_id,vendor_id,site_id,channel,created_at,updated_at,tags,contact_reason,requester_hash,replies
1,acme,northwind,nw-manila,email,2025-03-03T09:00:00Z,2025-03-03T10:00:00Z,vip jane.doe@example.com,billing,jane.doe@example.com,1
2,acme,northwind,nw-manila,email,2025-03-03T09:00:00Z,2025-03-03T10:00:00Z,callback +1 555 123 4567,card 4111 1111 1111 1111,+1 555 123 4567,2
3,acme,northwind,nw-manila,email,2025-03-03T09:00:00Z,2025-03-03T10:00:00Z,x,y,z,bob@example.com
"""


def test_a_file_import_masks_free_text_hashes_requesters_and_masks_rejected_cells(tmp_path):
    ws = Workspace.create(tmp_path / "ws", TENANTS)
    f = tmp_path / "tickets.csv"
    f.write_text(CSV)
    [report] = import_paths(ws, [f], preset="canonical", quarantine=True)
    assert report.inserted == 2 and len(report.rejected) == 1
    t = ws.read("tickets", Scope.everything()).sort("ticket_id")
    assert t["tags"].to_list() == ["vip [email]", "callback [phone]"]
    assert t["contact_reason"].to_list() == ["billing", "card [card]"]
    assert t["requester_hash"].str.contains(r"^[0-9a-f]{32}$").all()
    stored = ws.rejected()
    assert stored["value"].to_list() == ["[email]"]
    everything = " ".join(str(v) for v in [*stored.rows(), *ws.import_history().rows()])
    assert "example.com" not in everything and "555" not in everything


def test_a_contact_value_is_never_stored_as_a_hash(tmp_path):
    ws = Workspace.create(tmp_path / "ws", TENANTS)
    at = datetime(2025, 3, 3, 9, tzinfo=timezone.utc)
    frame = pl.DataFrame({"source_system": ["csv"] * 2, "source_instance": ["t"] * 2, "ticket_id": ["1", "2"],
                          "client_id": ["acme"] * 2, "vendor_id": ["northwind"] * 2, "site_id": ["nw-manila"] * 2,
                          "channel": ["email"] * 2, "created_at": [at, at], "requester_hash": [EMAIL, "+1 (555) 123-4567"]})
    with pytest.raises(SchemaError, match=r"column .requester_hash.: 2 value\(s\) look like an e-mail address or phone number"):
        ws.upsert("tickets", frame)
    assert ws.files("tickets") == {}


@needs_pg
@pytest.mark.postgres
def test_a_sql_source_in_canonical_shape_hashes_requesters_and_masks_free_text(tmp_path):
    engine = sa.create_engine(PG_URL)
    table = f"bpo_{uuid.uuid4().hex[:8]}_tickets"
    with engine.begin() as con:
        con.execute(sa.text(f"CREATE TABLE {table} (ticket_id text, channel text, created_at timestamp, "
                            f"updated_at timestamp, requester_hash text, tags text, contact_reason text)"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES ('A-1', 'email', '2025-03-03 09:00', '2025-03-03 10:00', "
                            f"'{EMAIL}', 'vip {EMAIL}', 'call me on +44 20 7946 0958')"))
    try:
        toml = f"""
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
        ws = Workspace.create(tmp_path / "ws", TENANTS + toml)
        [report] = sync_sources(ws)
        row = ws.read("tickets", Scope.everything()).row(0, named=True)
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert report.exit_code == 0, str(report)
    assert len(row["requester_hash"]) == 32 and row["requester_hash"] != EMAIL
    assert (row["tags"], row["contact_reason"]) == ("vip [email]", "call me on [phone]")
    assert Path(ws.path / "hash.key").exists()


AGENTS_CSV = """ticket_id,client_id,vendor_id,site_id,channel,created_at,updated_at,agent_id
1,acme,northwind,nw-manila,email,2025-03-03T09:00:00Z,2025-03-03T10:00:00Z,alice.smith
2,acme,northwind,nw-manila,email,2025-03-03T09:00:00Z,2025-03-03T10:00:00Z,bob.jones
3,acme,northwind,nw-manila,email,2025-03-04T09:00:00Z,2025-03-04T10:00:00Z,alice.smith
"""


@pytest.mark.parametrize(("setting", "pseudonymised"), [
    pytest.param("", False, id="default-keeps-agent-ids"),
    pytest.param("[settings]\npseudonymise_agents = true\n", True, id="pseudonymise_agents"),
])
def test_agent_ids_are_pseudonymised_when_the_workspace_says_so(tmp_path, setting, pseudonymised):
    ws = Workspace.create(tmp_path / "ws", TENANTS + setting)
    f = tmp_path / "agents.csv"
    f.write_text(AGENTS_CSV)
    import_paths(ws, [f], preset="canonical")
    agents = ws.read("tickets", Scope.everything()).sort("ticket_id")["agent_id"].to_list()
    if pseudonymised:
        assert all(len(a) == 32 and "alice" not in a for a in agents)
        assert agents[0] == agents[2] != agents[1]  # the same agent keeps one pseudonym
    else:
        assert agents == ["alice.smith", "bob.jones", "alice.smith"]


def test_a_sync_pseudonymises_agents_through_the_field_map():
    from connectors.base import Field, FieldMap

    fm = FieldMap(table="tickets", fields={"ticket_id": Field("id"), "agent_id": Field("assignee")})
    batch = fm.apply([{"id": 1, "assignee": "alice"}], hasher=lambda v: f"h({v})", also_hash=frozenset({"agent_id"}))
    assert batch.frame.row(0, named=True) == {"ticket_id": "1", "agent_id": "h(alice)"}
