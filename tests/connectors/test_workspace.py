"""The workspace store: upsert by primary key, newest version wins, atomic, scoped reads."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import AccessDenied, ConfigError, SchemaError, WorkspaceError
from connectors.store import Scope, Workspace, parse_config

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)

TOML = """
[workspace]
name = "test"
[[client]]
id = "acme"
[[client]]
id = "globex"
[[vendor]]
id = "northwind"
[[user]]
name = "admin"
role = "admin"
[[user]]
name = "acme-manager"
role = "brand"
clients = ["acme"]
[[user]]
name = "nw"
role = "vendor"
clients = ["*"]
vendors = ["northwind"]
"""


def tickets(ids, *, client="acme", vendor="northwind", updated=T0, created=T0, channel="email"):
    n = len(ids)
    return pl.DataFrame({
        "source_system": ["csv"] * n, "source_instance": ["t"] * n, "ticket_id": [str(i) for i in ids],
        "client_id": [client] * n, "vendor_id": [vendor] * n, "site_id": ["s1"] * n, "channel": [channel] * n,
        "created_at": [created + timedelta(days=i) for i in range(n)], "updated_at": [updated] * n,
        "ingested_at": [updated] * n,
    })


def digest(ws: Workspace) -> str:
    h = hashlib.sha256()
    for p in sorted(ws.tables_dir.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(str(p.relative_to(ws.tables_dir)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def test_upserting_the_same_rows_twice_changes_nothing_byte_for_byte(ws):
    first = ws.upsert("tickets", tickets(range(40)))
    before = digest(ws)
    again = ws.upsert("tickets", tickets(range(40)).with_columns(ingested_at=pl.lit(T0 + timedelta(days=9))))
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (40, 0, 0, 40)
    assert digest(ws) == before


def test_a_newer_version_replaces_the_row_and_never_duplicates_it(ws):
    ws.upsert("tickets", tickets(range(10)))
    newer = tickets(range(5, 15), updated=T0 + timedelta(hours=1), channel="chat")
    result = ws.upsert("tickets", newer)
    rows = ws.read("tickets", Scope.everything()).sort("ticket_id")
    assert (result.inserted, result.updated) == (5, 5)
    assert rows.height == 15
    assert rows.filter(pl.col("ticket_id").is_in(["5", "9", "14"]))["channel"].to_list() == ["chat"] * 3
    assert rows.filter(pl.col("ticket_id") == "0")["channel"].item() == "email"


def test_an_older_version_never_overwrites_a_newer_one(ws):
    ws.upsert("tickets", tickets([1], updated=T0 + timedelta(days=1), channel="chat"))
    result = ws.upsert("tickets", tickets([1], updated=T0, channel="email"))
    assert result.unchanged == 1
    assert ws.read("tickets", Scope.everything())["channel"].to_list() == ["chat"]


def test_a_row_that_moves_to_another_month_leaves_no_copy_behind(ws):
    ws.upsert("tickets", tickets([1], created=T0))
    ws.upsert("tickets", tickets([1], created=T0 + timedelta(days=62), updated=T0 + timedelta(days=70)))
    rows = ws.read("tickets", Scope.everything())
    assert rows.height == 1
    assert rows["created_at"].item().month == 5
    assert list(ws.files("tickets")) == ["2025-05"]


def test_an_invalid_frame_lists_every_problem_and_writes_nothing(ws):
    bad = tickets([1, 2]).drop("channel").with_columns(pl.lit(None, pl.String).alias("client_id"))
    with pytest.raises(SchemaError, match=r"missing required column\(s\): channel.*client_id.*2 empty value") as e:
        ws.upsert("tickets", bad)
    assert len(e.value.problems) == 2
    assert ws.files("tickets") == {}


@pytest.mark.parametrize(
    "scope, visible",
    [
        pytest.param(Scope(), set(), id="deny-by-default"),
        pytest.param(Scope.of(["acme"]), {"a1", "a2"}, id="one-client"),
        pytest.param(Scope.of("*", ["northwind"]), {"a1", "g1"}, id="one-vendor-all-clients"),
        pytest.param(Scope.of(["acme"]).narrow(clients=["globex"]), set(), id="a-filter-cannot-widen"),
        pytest.param(Scope.everything(), {"a1", "a2", "g1"}, id="admin"),
    ],
)
def test_reads_are_filtered_by_the_viewers_scope(ws, scope, visible):
    ws.upsert("tickets", pl.concat([
        tickets(["a1"], client="acme", vendor="northwind"),
        tickets(["a2"], client="acme", vendor="southpeak"),
        tickets(["g1"], client="globex", vendor="northwind"),
    ]))
    assert set(ws.read("tickets", scope)["ticket_id"]) == visible


def test_shared_calendar_rows_are_visible_to_every_client(ws):
    ev = pl.DataFrame({
        "source_system": ["x", "x"], "source_instance": ["x", "x"], "event_id": ["h", "l"],
        "client_id": [None, "globex"], "kind": ["holiday", "launch"], "name": ["New Year", "Secret launch"],
        "start_date": [T0.date(), T0.date()],
    })
    ws.upsert("events", ev)
    assert ws.read("events", Scope.of(["acme"]))["event_id"].to_list() == ["h"]


def test_a_read_without_a_scope_is_refused(ws):
    with pytest.raises(AccessDenied, match="Scope"):
        ws.scan("tickets", None)  # type: ignore[arg-type]


def test_users_resolve_to_scopes_and_unknown_users_are_denied(ws):
    assert ws.config.user("acme-manager").scope == Scope.of(["acme"])
    assert ws.config.user("admin").scope == Scope.everything()
    with pytest.raises(AccessDenied, match="user 'mallory' is not declared in bpo.toml"):
        ws.config.user("mallory")


def test_config_problems_are_listed_together(tmp_path):
    p = tmp_path / "bpo.toml"
    p.write_text('[[user]]\nrole = "brand"\n[[user]]\nname = "x"\nrole = "boss"\nclients = ["a"]\n[[client]]\nname = "no id"\n')
    with pytest.raises(ConfigError, match=r"\[\[client\]\] #1: 'id' is missing; .*\[\[user\]\] #1: 'name' is missing; .*role = 'boss' must be one of admin, brand, vendor"):
        parse_config(p)


def test_opening_a_folder_without_a_workspace_says_how_to_make_one(tmp_path):
    with pytest.raises(WorkspaceError, match="bpo-insights sample --out"):
        Workspace.open(tmp_path / "nothing")


WRITER = textwrap.dedent(
    """
    import sys, polars as pl
    from datetime import datetime, timedelta, timezone
    from connectors.store import Workspace
    ws = Workspace(sys.argv[1])
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    n = 200_000
    for version in range(1, 1000):
        f = pl.DataFrame({
            "source_system": "csv", "source_instance": "t", "ticket_id": pl.int_range(n, eager=True).cast(pl.String),
            "client_id": "acme", "vendor_id": "v", "site_id": "s", "channel": "email",
            "created_at": pl.datetime_range(t0, t0 + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC"),
            "updated_at": t0 + timedelta(hours=version), "replies": version,
        })
        ws.upsert("tickets", f)
        print(version, flush=True)
    """
)


def test_a_writer_killed_mid_upsert_leaves_a_consistent_store(ws, tmp_path):
    """kill -9 during writes: the store holds one whole version, never a mix or a duplicate."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(ws.path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "1"  # one version committed
    time.sleep(0.7)  # well inside the next upsert
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows = ws.read("tickets", Scope.everything())
    assert rows.height == 200_000
    assert rows["ticket_id"].n_unique() == 200_000
    versions = rows["replies"].unique().to_list()
    # partitions are replaced together by one manifest swap: a single version everywhere
    assert len(versions) == 1
    ws.upsert("tickets", tickets(["fresh"]))  # the next writer cleans what the crash left
    assert list(ws.tables_dir.rglob("*.tmp")) == []
    manifest = json.loads((ws.tables_dir / "tickets" / "_manifest.json").read_text())
    # what stays is what the manifest lists, plus the version it replaced (kept for readers of that version)
    kept = {ws.tables_dir / "tickets" / f for f in [*manifest["files"].values(), *manifest["retired"]]}
    assert set(ws.tables_dir.joinpath("tickets").rglob("part-*")) == kept
    assert ws.read("tickets", Scope.everything()).height == 200_001
