"""SQL sources against the real PostgreSQL and MariaDB: presets over each product's published tables.

Each test creates the product's tables (the columns the preset reads, typed as in the product's
schema) under a unique schema (PostgreSQL) or table prefix (MariaDB), loads fixtures, syncs,
changes rows, syncs again, and drops everything.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

import polars as pl
import pytest
import sqlalchemy as sa

from connectors.errors import ConfigError
from connectors.sync import sync_sources
from connectors.store import Scope, Workspace
from fake_apis.harness import TENANTS, stored

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIA_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


needs_pg = pytest.mark.skipif(not reachable(5432), reason="PostgreSQL is not reachable on 127.0.0.1:5432")
needs_maria = pytest.mark.skipif(not reachable(3306), reason="MariaDB is not reachable on 127.0.0.1:3306")


@dataclass(frozen=True)
class Product:
    preset: str
    url: str
    ddl: tuple[str, ...]
    seed: tuple[str, ...]  # 3 tickets: ids 1, 2, 3
    change: tuple[str, ...]  # ticket 2 updated (later), ticket 4 added
    expect: dict[str, object]  # ticket 1's canonical values


CHATWOOT = Product(
    "chatwoot", PG_URL,
    ddl=(
        "CREATE TABLE {p}inboxes (id serial PRIMARY KEY, account_id integer NOT NULL, name varchar NOT NULL, channel_type varchar, channel_id integer NOT NULL)",
        "CREATE TABLE {p}teams (id bigserial PRIMARY KEY, name varchar NOT NULL, account_id bigint NOT NULL)",
        "CREATE TABLE {p}conversations (id serial PRIMARY KEY, account_id integer NOT NULL, inbox_id integer NOT NULL, status integer DEFAULT 0 NOT NULL, assignee_id integer, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, contact_id bigint, display_id integer NOT NULL, team_id bigint, priority integer, first_reply_created_at timestamp, cached_label_list text)",
        "CREATE TABLE {p}csat_survey_responses (id bigserial PRIMARY KEY, account_id bigint NOT NULL, conversation_id bigint NOT NULL, message_id bigint NOT NULL, rating integer NOT NULL, contact_id bigint NOT NULL, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL)",
        "CREATE TABLE {p}reporting_events (id serial PRIMARY KEY, name varchar, value double precision, account_id integer, inbox_id integer, user_id integer, conversation_id integer, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL, event_start_time timestamp, event_end_time timestamp)",
    ),
    seed=(
        "INSERT INTO {p}inboxes (id, account_id, name, channel_type, channel_id) VALUES (1, 1, 'Email', 'Channel::Email', 1), (2, 1, 'Web', 'Channel::WebWidget', 2)",
        "INSERT INTO {p}teams (id, name, account_id) VALUES (7, 'billing', 1)",
        "INSERT INTO {p}conversations (id, account_id, inbox_id, status, assignee_id, created_at, updated_at, contact_id, display_id, team_id, priority, first_reply_created_at, cached_label_list) VALUES "
        "(1, 1, 1, 1, 42, '2025-02-03 09:00', '2025-02-03 12:00', 900, 1, 7, 2, '2025-02-03 09:15', 'refund,vip'), "
        "(2, 1, 2, 0, NULL, '2025-02-03 10:00', '2025-02-03 10:00', 901, 2, NULL, NULL, NULL, NULL), "
        "(3, 1, 2, 2, 43, '2025-02-03 11:00', '2025-02-03 11:30', 902, 3, 7, 0, NULL, NULL)",
        "INSERT INTO {p}csat_survey_responses (account_id, conversation_id, message_id, rating, contact_id, created_at, updated_at) VALUES (1, 1, 1, 5, 900, '2025-02-03 12:00', '2025-02-03 12:00')",
        "INSERT INTO {p}reporting_events (name, value, conversation_id, created_at, updated_at, event_start_time, event_end_time) VALUES ('conversation_resolved', 10800, 1, '2025-02-03 12:00', '2025-02-03 12:00', '2025-02-03 09:00', '2025-02-03 12:00')",
    ),
    change=(
        "UPDATE {p}conversations SET status = 1, updated_at = '2025-02-04 08:00' WHERE id = 2",
        "INSERT INTO {p}conversations (id, account_id, inbox_id, status, created_at, updated_at, contact_id, display_id) VALUES (4, 1, 1, 0, '2025-02-04 09:00', '2025-02-04 09:00', 903, 4)",
    ),
    expect={"channel": "email", "status": "solved", "priority": "high", "queue": "billing", "tags": "refund vip",
            "csat_raw": "5", "csat_score": 1.0, "first_response_seconds": 900.0, "resolution_seconds": 10800.0,
            "agent_id": "42"},
)

ZAMMAD = Product(
    "zammad", PG_URL,
    ddl=(
        "CREATE TABLE {p}groups (id serial PRIMARY KEY, name varchar(160) NOT NULL)",
        "CREATE TABLE {p}ticket_states (id serial PRIMARY KEY, state_type_id integer NOT NULL, name varchar(250) NOT NULL)",
        "CREATE TABLE {p}ticket_priorities (id serial PRIMARY KEY, name varchar(250) NOT NULL)",
        "CREATE TABLE {p}ticket_article_types (id serial PRIMARY KEY, name varchar(250) NOT NULL)",
        "CREATE TABLE {p}tickets (id serial PRIMARY KEY, group_id integer NOT NULL, priority_id integer NOT NULL, state_id integer NOT NULL, organization_id integer, number varchar(60) NOT NULL, title varchar(250) NOT NULL, owner_id integer NOT NULL, customer_id integer NOT NULL, first_response_at timestamp, first_response_in_min integer, first_response_diff_in_min integer, close_at timestamp, close_in_min integer, close_diff_in_min integer, create_article_type_id integer, created_at timestamp(3) NOT NULL, updated_at timestamp(3) NOT NULL)",
    ),
    seed=(
        "INSERT INTO {p}groups (id, name) VALUES (1, 'Users'), (2, 'Billing')",
        "INSERT INTO {p}ticket_states (id, state_type_id, name) VALUES (1, 1, 'new'), (2, 2, 'open'), (4, 5, 'closed'), (6, 7, 'removed')",
        "INSERT INTO {p}ticket_priorities (id, name) VALUES (1, '1 low'), (2, '2 normal'), (3, '3 high')",
        "INSERT INTO {p}ticket_article_types (id, name) VALUES (1, 'email'), (5, 'phone'), (11, 'web')",
        "INSERT INTO {p}tickets (id, group_id, priority_id, state_id, number, title, owner_id, customer_id, first_response_at, first_response_in_min, first_response_diff_in_min, close_at, close_in_min, close_diff_in_min, create_article_type_id, created_at, updated_at) VALUES "
        "(1, 2, 3, 4, '31001', 'secret', 5, 77, '2025-02-03 09:30', 30, -10, '2025-02-03 13:00', 240, 60, 5, '2025-02-03 09:00', '2025-02-03 13:00'), "
        "(2, 1, 2, 1, '31002', 'secret', 1, 78, NULL, NULL, NULL, NULL, NULL, NULL, 1, '2025-02-03 10:00', '2025-02-03 10:00'), "
        "(3, 1, 1, 2, '31003', 'secret', 6, 79, NULL, NULL, NULL, NULL, NULL, NULL, 11, '2025-02-03 11:00', '2025-02-03 11:05')",
    ),
    change=(
        "UPDATE {p}tickets SET state_id = 6, updated_at = '2025-02-04 08:00' WHERE id = 2",
        "INSERT INTO {p}tickets (id, group_id, priority_id, state_id, number, title, owner_id, customer_id, create_article_type_id, created_at, updated_at) VALUES (4, 1, 2, 1, '31004', 'secret', 1, 80, 1, '2025-02-04 09:00', '2025-02-04 09:00')",
    ),
    expect={"channel": "voice", "status": "closed", "priority": "high", "queue": "Billing",
            "first_response_business_seconds": 1800.0, "first_response_target_seconds": 1200.0,
            "first_response_breached": True, "resolution_breached": False, "resolution_target_seconds": 18000.0,
            "first_response_seconds": 1800.0, "agent_id": "5"},
)

OSTICKET = Product(
    "osticket", MARIA_URL,
    ddl=(
        "CREATE TABLE {p}ticket (ticket_id int(11) unsigned NOT NULL auto_increment PRIMARY KEY, number varchar(20), user_id int(11) unsigned NOT NULL default '0', status_id int(10) unsigned NOT NULL default '0', dept_id int(10) unsigned NOT NULL default '0', topic_id int(10) unsigned NOT NULL default '0', staff_id int(10) unsigned NOT NULL default '0', source enum('Web','Email','Phone','API','Other') NOT NULL default 'Other', isoverdue tinyint(1) unsigned NOT NULL default '0', isanswered tinyint(1) unsigned NOT NULL default '0', duedate datetime default NULL, reopened datetime default NULL, closed datetime default NULL, lastupdate datetime default NULL, created datetime NOT NULL, updated datetime NOT NULL)",
        "CREATE TABLE {p}ticket_status (id int(11) NOT NULL auto_increment PRIMARY KEY, name varchar(60) NOT NULL default '', state varchar(16) default NULL)",
        "CREATE TABLE {p}department (id int(11) unsigned NOT NULL auto_increment PRIMARY KEY, name varchar(128) NOT NULL default '')",
        "CREATE TABLE {p}help_topic (topic_id int(11) unsigned NOT NULL auto_increment PRIMARY KEY, topic varchar(128) NOT NULL default '')",
        "CREATE TABLE {p}ticket__cdata (ticket_id int(11) unsigned NOT NULL PRIMARY KEY, subject mediumtext, priority mediumtext)",
        "CREATE TABLE {p}ticket_priority (priority_id tinyint(4) NOT NULL auto_increment PRIMARY KEY, priority varchar(60) NOT NULL default '', priority_urgency tinyint(1) unsigned NOT NULL default '0')",
        "CREATE TABLE {p}thread (id int(11) unsigned NOT NULL auto_increment PRIMARY KEY, object_id int(11) unsigned NOT NULL, object_type char(1) NOT NULL, created datetime NOT NULL)",
        "CREATE TABLE {p}thread_entry (id int(11) unsigned NOT NULL auto_increment PRIMARY KEY, thread_id int(11) unsigned NOT NULL default '0', staff_id int(11) unsigned NOT NULL default '0', type char(1) NOT NULL default '', body text NOT NULL, created datetime NOT NULL)",
    ),
    seed=(
        "INSERT INTO {p}ticket_status (id, name, state) VALUES (1, 'Open', 'open'), (2, 'Resolved', 'closed'), (3, 'Closed', 'closed')",
        "INSERT INTO {p}department (id, name) VALUES (1, 'Support'), (2, 'Sales')",
        "INSERT INTO {p}help_topic (topic_id, topic) VALUES (1, 'Billing'), (2, 'Delivery')",
        "INSERT INTO {p}ticket_priority (priority_id, priority, priority_urgency) VALUES (1, 'low', 4), (2, 'normal', 3), (3, 'high', 2), (4, 'emergency', 1)",
        "INSERT INTO {p}ticket (ticket_id, number, user_id, status_id, dept_id, topic_id, staff_id, source, closed, lastupdate, created, updated) VALUES "
        "(1, '100001', 31, 3, 1, 1, 4, 'Phone', '2025-02-03 13:00:00', '2025-02-03 13:00:00', '2025-02-03 09:00:00', '2025-02-03 13:00:00'), "
        "(2, '100002', 32, 1, 2, 2, 0, 'Email', NULL, NULL, '2025-02-03 10:00:00', '2025-02-03 10:00:00'), "
        "(3, '100003', 33, 1, 1, 1, 5, 'Web', NULL, '2025-02-03 11:10:00', '2025-02-03 11:00:00', '2025-02-03 11:00:00')",
        "INSERT INTO {p}ticket__cdata (ticket_id, subject, priority) VALUES (1, 'secret', '4'), (2, 'secret', '2'), (3, 'secret', '1')",
        "INSERT INTO {p}thread (id, object_id, object_type, created) VALUES (1, 1, 'T', '2025-02-03 09:00:00')",
        "INSERT INTO {p}thread_entry (thread_id, staff_id, type, body, created) VALUES (1, 0, 'M', 'secret', '2025-02-03 09:00:00'), (1, 4, 'R', 'secret', '2025-02-03 09:20:00'), (1, 4, 'R', 'secret', '2025-02-03 12:00:00')",
    ),
    change=(
        "UPDATE {p}ticket SET status_id = 2, closed = '2025-02-04 08:00:00', updated = '2025-02-04 08:00:00' WHERE ticket_id = 2",
        "INSERT INTO {p}ticket (ticket_id, number, user_id, status_id, dept_id, source, created, updated) VALUES (4, '100004', 34, 1, 1, 'API', '2025-02-04 09:00:00', '2025-02-04 09:00:00')",
    ),
    expect={"channel": "voice", "status": "closed", "priority": "urgent", "queue": "Support", "contact_reason": "Billing",
            "replies": 2, "first_response_seconds": 1200.0, "resolution_seconds": 14400.0, "agent_id": "4"},
)

FREESCOUT = Product(
    "freescout", MARIA_URL,
    ddl=(
        "CREATE TABLE {p}mailboxes (id int unsigned NOT NULL auto_increment PRIMARY KEY, name varchar(40) NOT NULL, email varchar(128) NOT NULL)",
        "CREATE TABLE {p}conversations (id int unsigned NOT NULL auto_increment PRIMARY KEY, number int unsigned NOT NULL, threads_count int unsigned NOT NULL default 0, type tinyint unsigned NOT NULL, folder_id int unsigned NOT NULL, status tinyint unsigned NOT NULL default 1, state tinyint unsigned NOT NULL default 1, subject varchar(998), customer_email varchar(191), mailbox_id int unsigned NOT NULL, user_id int unsigned NULL, customer_id int unsigned NULL, closed_at timestamp NULL, last_reply_at timestamp NULL, created_at timestamp NULL, updated_at timestamp NULL)",
        "CREATE TABLE {p}threads (id int unsigned NOT NULL auto_increment PRIMARY KEY, conversation_id int unsigned NOT NULL, user_id int unsigned NULL, type tinyint unsigned NOT NULL, status tinyint unsigned NOT NULL default 1, state tinyint unsigned NOT NULL default 2, body longtext, created_at timestamp NULL, updated_at timestamp NULL)",
    ),
    seed=(
        "INSERT INTO {p}mailboxes (id, name, email) VALUES (1, 'Support', 'support@acme.example')",
        "INSERT INTO {p}conversations (id, number, type, folder_id, status, state, subject, customer_email, mailbox_id, user_id, customer_id, closed_at, created_at, updated_at) VALUES "
        "(1, 501, 3, 1, 3, 2, 'secret', 'a@x.example', 1, 9, 61, '2025-02-03 12:00:00', '2025-02-03 09:00:00', '2025-02-03 12:00:00'), "
        "(2, 502, 1, 1, 1, 2, 'secret', 'b@x.example', 1, NULL, 62, NULL, '2025-02-03 10:00:00', '2025-02-03 10:00:00'), "
        "(3, 503, 2, 1, 2, 2, 'secret', 'c@x.example', 1, 9, 63, NULL, '2025-02-03 11:00:00', '2025-02-03 11:00:00'), "
        "(5, 505, 1, 1, 1, 1, 'draft', 'd@x.example', 1, 9, 64, NULL, '2025-02-03 11:30:00', '2025-02-03 11:30:00')",
        "INSERT INTO {p}threads (conversation_id, user_id, type, body, created_at, updated_at) VALUES (1, NULL, 1, 'secret', '2025-02-03 09:00:00', '2025-02-03 09:00:00'), (1, 9, 2, 'secret', '2025-02-03 09:05:00', '2025-02-03 09:05:00')",
    ),
    change=(
        "UPDATE {p}conversations SET state = 3, updated_at = '2025-02-04 08:00:00' WHERE id = 2",
        "INSERT INTO {p}conversations (id, number, type, folder_id, status, state, mailbox_id, customer_id, created_at, updated_at) VALUES (4, 504, 1, 1, 1, 2, 1, 64, '2025-02-04 09:00:00', '2025-02-04 09:00:00')",
    ),
    expect={"channel": "chat", "status": "closed", "queue": "Support", "replies": 1, "first_response_seconds": 300.0,
            "resolution_seconds": 10800.0, "agent_id": "9"},
)

PRODUCTS = (
    pytest.param(CHATWOOT, marks=[pytest.mark.postgres, needs_pg], id="chatwoot-postgres"),
    pytest.param(ZAMMAD, marks=[pytest.mark.postgres, needs_pg], id="zammad-postgres"),
    pytest.param(OSTICKET, marks=[pytest.mark.mariadb, needs_maria], id="osticket-mariadb"),
    pytest.param(FREESCOUT, marks=[pytest.mark.mariadb, needs_maria], id="freescout-mariadb"),
)
CHANGED_STATUS = {"chatwoot": "solved", "zammad": "deleted", "osticket": "solved", "freescout": "deleted"}


@pytest.fixture
def database(request):
    """(product, location settings for bpo.toml, run(sql...)) with a unique schema/prefix, dropped afterwards."""
    product: Product = request.param
    engine = sa.create_engine(product.url)
    tag = f"bpo_{uuid.uuid4().hex[:8]}"
    if product.url.startswith("postgresql"):
        prefix, location = f"{tag}.", f'schema = "{tag}"'
        with engine.begin() as con:
            con.execute(sa.text(f"CREATE SCHEMA {tag}"))
    else:
        prefix, location = f"{tag}_", f'table_prefix = "{tag}_"'

    def run(*statements: str) -> None:
        with engine.begin() as con:
            for s in statements:
                con.execute(sa.text(s.replace("{p}", prefix)))

    run(*product.ddl)
    try:
        yield product, location, run
    finally:
        with engine.begin() as con:
            if product.url.startswith("postgresql"):
                con.execute(sa.text(f"DROP SCHEMA {tag} CASCADE"))
            else:
                names = con.execute(sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'test' "
                                            "AND table_name LIKE :p"), {"p": f"{tag}%"}).scalars().all()
                for n in names:
                    con.execute(sa.text(f"DROP TABLE `{n}`"))
        engine.dispose()


def source_toml(product: Product, location: str, extra: str = "") -> str:
    return f"""
[[source]]
name = "acme-{product.preset}"
kind = "sql"
url = "{product.url}"
preset = "{product.preset}"
{location}
start = "2025-01-01"
client = "acme"
vendor = "northwind"
site = "nw-manila"
batch_rows = 2
{extra}
"""


@pytest.mark.parametrize("database", PRODUCTS, indirect=True)
def test_preset_syncs_maps_and_picks_up_changes(tmp_path, database):
    product, location, run = database
    run(*product.seed)
    ws = Workspace.create(tmp_path / "ws", TENANTS + source_toml(product, location))
    [first] = sync_sources(ws)
    assert first.exit_code == 0, str(first)
    assert (first.inserted, first.pages) == (3, 2)
    one = stored(ws).filter(pl.col("ticket_id") == 1).row(0, named=True)
    assert {k: one[k] for k in product.expect} == product.expect
    assert one["source_system"] == product.preset and len(one["requester_hash"]) == 32
    run(*product.change)
    [second] = sync_sources(ws)
    after = stored(ws)
    assert second.exit_code == 0, str(second)
    assert (second.inserted, second.updated) == (1, 1)
    assert after["ticket_id"].to_list() == [1, 2, 3, 4]
    assert after.filter(pl.col("ticket_id") == 2)["status"].item() == CHANGED_STATUS[product.preset]
    [third] = sync_sources(ws)
    assert (third.inserted, third.updated) == (0, 0)


@pytest.mark.parametrize("database", [PRODUCTS[0]], indirect=True)
def test_missing_tables_are_a_config_error_naming_the_fix(tmp_path, database):
    product, location, run = database
    ws = Workspace.create(tmp_path / "ws", TENANTS + source_toml(product, location.replace('"bpo_', '"nope_')))
    [report] = sync_sources(ws)
    assert report.exit_code == 2
    assert "check schema/table_prefix and that the 'chatwoot' tables exist" in report.error


@needs_pg
@pytest.mark.postgres
def test_canonical_shaped_table_needs_no_preset_and_reads_naive_times_in_its_zone(tmp_path):
    engine = sa.create_engine(PG_URL)
    table = f"bpo_{uuid.uuid4().hex[:8]}_tickets"
    with engine.begin() as con:
        con.execute(sa.text(f"CREATE TABLE {table} (number text, channel text, opened timestamp, updated_at timestamp)"))
        con.execute(sa.text(f"INSERT INTO {table} VALUES ('A-1', 'voice', '2025-03-03 09:00', '2025-03-03 10:00')"))
    try:
        toml = f"""
[[source]]
name = "dw"
kind = "sql"
url = "{PG_URL}"
table = "{table}"
timezone = "America/Chicago"
client = "acme"
vendor = "northwind"
site = "nw-manila"
start = "2025-01-01"
[source.columns]
ticket_id = "number"
created_at = "opened"
"""
        ws = Workspace.create(tmp_path / "ws", TENANTS + toml)
        [report] = sync_sources(ws)
        row = ws.read("tickets", Scope.everything()).row(0, named=True)
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert report.exit_code == 0, str(report)
    assert (row["ticket_id"], row["channel"], row["source_system"]) == ("A-1", "voice", "sql")
    assert row["created_at"].isoformat() == "2025-03-03T15:00:00+00:00"


def test_a_password_in_the_url_is_refused(tmp_path):
    toml = """
[[source]]
name = "leaky"
kind = "sql"
url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:5432/test"
preset = "zammad"
client = "acme"
vendor = "northwind"
site = "nw-manila"
"""
    with pytest.raises(ConfigError, match="'url' holds a password; remove it and set password_env"):
        Workspace.create(tmp_path / "ws", TENANTS + toml)
