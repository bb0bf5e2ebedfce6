"""Faults that must never lose data: after each one, everything committed before is still there, whole,
and the next run either succeeds or stops with an error that says what to do (never a silent loss).

Fault → outcome (the table the closing note reports) is the list of tests below, one per fault.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import StoreBusy, StoreDamaged, WorkspaceError
from connectors.hashing import KEY_FILE, workspace_key
from connectors.store import Scope, Workspace
from connectors.store import tables as store_tables
from connectors.sync import sync_sources
from fake_apis.harness import TENANTS, ZENDESK, run_cli_sync
from insights.cli import main as cli

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
N = 3_000  # rows spread over three months: three partitions, three files per version
EVERYONE = Scope.everything()
TOML = '[workspace]\nname = "faults"\n[[client]]\nid = "acme"\n[[user]]\nname = "admin"\nrole = "admin"\n'


def version(v: int, ids: range = range(N)) -> pl.DataFrame:
    """Every ticket of `ids` at version `v` (replies = v, updated v hours after T0)."""
    n = len(ids)
    return pl.DataFrame({
        "source_system": ["csv"] * n, "source_instance": ["t"] * n, "ticket_id": [str(i) for i in ids],
        "client_id": ["acme"] * n, "vendor_id": ["northwind"] * n, "site_id": ["s1"] * n, "channel": ["email"] * n,
        "created_at": [T0 + timedelta(hours=i * 24 * 80 // N) for i in ids],
        "updated_at": [T0 + timedelta(hours=v)] * n, "replies": [v] * n,
    })


def versions(ws: Workspace) -> dict[int, int]:
    """replies (the version) -> rows holding it."""
    t = ws.read("tickets", EVERYONE)
    assert t["ticket_id"].n_unique() == t.height, "a ticket is stored twice"
    return dict(t.group_by("replies").len().iter_rows())


def digest(ws: Workspace) -> str:
    h = hashlib.sha256()
    for p in sorted(ws.tables_dir.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(str(p.relative_to(ws.tables_dir)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.create(tmp_path / "ws", TOML)
    w.upsert("tickets", version(1))
    assert len(w.files("tickets")) == 3
    return w


def run(*args: str) -> int:
    return cli([*args])


# --------------------------------------------------------------------------- manifests


def test_a_missing_manifest_stops_the_next_write_and_read_and_repair_brings_every_row_back(ws, capsys):
    parts = {p: p.read_bytes() for p in ws.tables_dir.rglob("part-*")}
    (ws.tables_dir / "tickets" / "_manifest.json").unlink()
    with pytest.raises(StoreDamaged, match=r"_manifest.json is missing but 3 data file\(s\) of 'tickets' are there; "
                                           r"nothing was changed. Rebuild .*'bpo-insights store repair"):
        ws.upsert("tickets", version(2, range(5)))
    assert run("status", "--workspace", str(ws.path)) == 2
    assert "store repair" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in ws.tables_dir.rglob("part-*")} == parts  # not one data file touched

    assert run("store", "repair", "--workspace", str(ws.path)) == 0
    assert "tickets: rebuilt from 3 file(s), 3,000 rows" in capsys.readouterr().out
    assert versions(ws) == {1: N}
    ws.upsert("tickets", version(2, range(5)))
    assert versions(ws) == {1: N - 5, 2: 5}


def test_a_manifest_with_bad_json_is_a_loud_error_and_repair_rebuilds_it(ws):
    (ws.tables_dir / "tickets" / "_manifest.json").write_text('{"table": "tickets", "files": {"2025-01": ')
    with pytest.raises(StoreDamaged, match=r"_manifest.json is corrupt \(JSONDecodeError.*store repair"):
        ws.read("tickets", EVERYONE)
    assert ws.repair("tickets").status == "rebuilt"
    assert versions(ws) == {1: N}
    assert ws.repair("tickets").status == "ok"


def test_a_manifest_listing_a_lost_file_says_what_is_lost_and_repair_keeps_the_rest(ws):
    files = ws.files("tickets")
    (ws.tables_dir / "tickets" / files["2025-02"]).unlink()
    with pytest.raises(StoreDamaged, match=r"lists 1 file\(s\) that are gone \(month=2025-02/part-.*imported or synced again"):
        ws.upsert("tickets", version(2, range(5)))
    ws.repair("tickets")
    rows = ws.read("tickets", EVERYONE)
    assert rows.height == N - (rows_in_feb := sum(1 for i in range(N) if (T0 + timedelta(hours=i * 24 * 80 // N)).month == 2))
    assert rows_in_feb > 0 and set(rows["replies"]) == {1}


def test_repair_merges_leftover_versions_keeping_the_newest_row_once(ws):
    """A lost manifest next to files of two versions (a crash between writing and retiring): no duplicates."""
    ws.upsert("tickets", version(2, range(0, N, 2)))  # a second version of half the rows, in new files
    (ws.tables_dir / "tickets" / "_manifest.json").unlink()
    assert len(list(ws.tables_dir.rglob("part-*"))) == 6  # old and new files both there (old ones retired)
    ws.repair("tickets")
    assert versions(ws) == {1: N // 2, 2: N // 2}


def test_a_truncated_data_file_is_named_on_read_and_write_and_never_overwritten(ws):
    f = ws.tables_dir / "tickets" / ws.files("tickets")["2025-01"]
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    damaged = f.read_bytes()
    for attempt in (lambda: ws.read("tickets", EVERYONE), lambda: ws.upsert("tickets", version(2, range(5)))):
        with pytest.raises(StoreDamaged, match=rf"{f.name} is damaged .*Restore that file from a backup"):
            attempt()
    (ws.tables_dir / "tickets" / "_manifest.json").unlink()
    with pytest.raises(StoreDamaged, match=rf"cannot repair 'tickets': 1 file\(s\) are unreadable: .*{f.name}"):
        ws.repair("tickets")
    assert f.read_bytes() == damaged


# --------------------------------------------------------------------------- state.db


def test_an_empty_state_db_stops_with_the_restore_steps_and_is_never_recreated(ws, capsys):
    ws.log_import(source="a.csv", kind="file", table="tickets", status="ok", started_at=T0)
    db = ws.path / "state.db"
    db.write_bytes(b"")
    fresh = Workspace.open(ws.path)
    with pytest.raises(StoreDamaged, match=r"state.db is empty \(0 bytes\).*To restore: mv .*state.db.damaged'; "
                                           r"then cp .*backups/state-\d{4}-\d\d-\d\d.db"):
        fresh.import_history()
    assert run("status", "--workspace", str(ws.path)) == 2
    assert "state.db is empty" in capsys.readouterr().err
    assert db.stat().st_size == 0
    # the documented restore path works: the daily copy holds the import log
    backup = sorted((ws.path / "backups").glob("state-*.db"))[-1]
    db.rename(db.with_name("state.db.damaged"))
    db.write_bytes(backup.read_bytes())
    assert Workspace.open(ws.path).import_history()["source"].to_list() == ["a.csv"]


@pytest.mark.parametrize("content", [
    pytest.param(b"not a database at all, just text" * 10, id="not-sqlite"),
    pytest.param(b"SQLite format 3\x00" + b"\xff" * 4000, id="sqlite-header-garbage-body"),
])
def test_a_corrupt_state_db_stops_with_the_restore_steps(ws, content):
    db = ws.path / "state.db"
    db.write_bytes(content)
    with pytest.raises(StoreDamaged, match=r"state.db (is not a SQLite database|is damaged|fails SQLite).*To restore"):
        Workspace.open(ws.path).get_cursor("src", "tickets")
    assert db.read_bytes() == content


def test_a_locked_state_db_waits_then_says_who_holds_it(ws):
    ws.set_cursor("src", "tickets", "2025-01-01T00:00:00Z")
    holder = sqlite3.connect(ws.path / "state.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        w = Workspace.open(ws.path)
        w.db_wait_seconds = 0.3
        with pytest.raises(StoreBusy, match=r"is locked by another process \(waited 0.3 s\).*run the command again"):
            w.set_cursor("src", "tickets", "2025-02-01T00:00:00Z")
    finally:
        holder.rollback()
        holder.close()
    assert ws.get_cursor("src", "tickets") == "2025-01-01T00:00:00Z"


def test_state_db_is_created_only_where_none_exists(tmp_path):
    w = Workspace.create(tmp_path / "new", TOML)
    assert not (w.path / "state.db").exists()
    assert w.import_history().height == 0
    assert (w.path / "state.db").read_bytes()[:16] == b"SQLite format 3\x00"


# --------------------------------------------------------------------------- hash key


@pytest.mark.parametrize(("content", "error"), [
    pytest.param("", "is empty", id="empty"),
    pytest.param("zz-not-hex", r"does not hold a key \(64 hex digits expected\)", id="not-hex"),
    pytest.param("ab" * 8, r"does not hold a key \(64 hex digits expected\)", id="too-short"),
])
def test_a_damaged_hash_key_stops_the_import_with_the_fix(tmp_path, content, error):
    (tmp_path / KEY_FILE).write_text(content)
    with pytest.raises(WorkspaceError, match=rf"{error}; nothing was imported: restore .* from a backup"):
        workspace_key(tmp_path)
    assert (tmp_path / KEY_FILE).read_text() == content  # never replaced by a new key


def test_an_unreadable_hash_key_stops_the_import(tmp_path):
    if os.geteuid() == 0:
        (tmp_path / KEY_FILE).mkdir()  # root reads any file: a directory is unreadable as a key for everyone
    else:
        (tmp_path / KEY_FILE).write_text("ab" * 32)
        (tmp_path / KEY_FILE).chmod(0)
    with pytest.raises(WorkspaceError, match=r"cannot be read .*nothing was imported"):
        workspace_key(tmp_path)


# --------------------------------------------------------------------------- disk full


@pytest.mark.parametrize("where", ["second-part-file", "second-part-file-as-polars-says-it", "manifest"])
def test_a_full_disk_mid_write_changes_nothing_and_says_so(ws, monkeypatch, where):
    before = digest(ws)
    real_write = pl.DataFrame.write_parquet
    calls = {"n": 0}

    def full_write(self, file, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            Path(file).write_bytes(b"PAR1 half a file")
            if where.endswith("polars-says-it"):  # what polars raises on a real full disk (seen on a 3 MB tmpfs)
                monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(3 << 20, 3 << 20, 0))
                raise pl.exceptions.ComputeError("parquet: File out of specification: Invalid thrift: transport error")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, file, *a, **k)

    def full_manifest(path, data):
        Path(str(path) + ".x.tmp").write_bytes(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "manifest":
        monkeypatch.setattr(store_tables, "_atomic_write", full_manifest)
    else:
        monkeypatch.setattr(pl.DataFrame, "write_parquet", full_write)
    with pytest.raises(WorkspaceError, match=r"the disk is full; nothing was changed"):
        ws.upsert("tickets", version(2))
    assert digest(ws) == before
    monkeypatch.undo()
    ws.upsert("tickets", version(2))
    assert versions(ws) == {2: N}


# --------------------------------------------------------------------------- kill -9 and concurrent writers

WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_store_faults import version
    from connectors.store import Workspace
    ws = Workspace(sys.argv[1])
    for v in sys.argv[3].split(","):
        lo, hi, ver = (int(x) for x in v.split(":"))
        ws.upsert("tickets", version(ver, range(lo, hi)))
""")


def writer(ws: Workspace, tmp_path: Path, plan: str, crash_at: str | None = None) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    env.pop(store_tables.CRASH_HOOK, None)
    if crash_at:
        env[store_tables.CRASH_HOOK] = crash_at
    return subprocess.Popen([sys.executable, str(script), str(ws.path), str(Path(__file__).parent), plan], env=env)


@pytest.mark.parametrize(("step", "committed"), [
    pytest.param("read", 1, id="after-reading-the-keys"),
    pytest.param("part-tmp", 1, id="first-part-file-half-placed"),
    pytest.param("part-renamed", 1, id="first-part-file-placed"),
    pytest.param("parts-written", 1, id="all-part-files-placed"),
    pytest.param("manifest-tmp", 1, id="new-manifest-written-not-swapped"),
    pytest.param("manifest-swapped", 2, id="manifest-swapped-before-clean-up"),
])
def test_kill_9_at_each_step_of_an_upsert_leaves_one_whole_version(ws, tmp_path, step, committed):
    proc = writer(ws, tmp_path, f"0:{N}:2", crash_at=step)
    assert proc.wait(timeout=120) == 137  # died at the injected step, like kill -9
    assert versions(ws) == {committed: N}  # one whole version: the old one, or the new one once swapped
    ws.upsert("tickets", version(3))  # the next run succeeds and cleans up what the crash left
    assert versions(ws) == {3: N}
    manifest = json.loads((ws.tables_dir / "tickets" / "_manifest.json").read_text())
    kept = {*manifest["files"].values(), *manifest["retired"]}
    on_disk = {p.relative_to(ws.tables_dir / "tickets").as_posix() for p in ws.tables_dir.rglob("part-*")}
    assert on_disk == kept and not list(ws.tables_dir.rglob("*.tmp"))


@pytest.mark.parametrize("step", ["parts-written", "manifest-swapped", "sync-stored"])
def test_kill_9_at_each_step_of_a_sync_resumes_without_losing_or_duplicating(tmp_path, monkeypatch, step):
    api = ZENDESK.make(60)
    try:
        ws = Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(api.url, "batch_rows = 10"))
        proc = run_cli_sync(ws.path, {ZENDESK.env: ZENDESK.token, store_tables.CRASH_HOOK: step})
        assert proc.returncode == 137
        assert ws.read("tickets", EVERYONE).height == (0 if step == "parts-written" else 25)  # first batch (a page)
        assert ws.get_cursor(ZENDESK.source, "tickets") is None
        monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
        [report] = sync_sources(ws)
    finally:
        api.stop()
    stored = ws.read("tickets", EVERYONE)
    assert report.exit_code == 0, str(report)
    assert sorted(stored["ticket_id"].to_list(), key=int) == sorted((str(t) for t in api.tickets), key=int)
    assert stored["ticket_id"].is_unique().all() and ws.get_cursor(ZENDESK.source, "tickets") is not None


def test_two_writers_at_once_lose_nothing(ws, tmp_path):
    half = N // 2
    plans = [",".join(f"{lo}:{lo + 50}:{v}" for v in range(2, 12) for lo in range(start, start + 500, 50))
             for start in (0, half)]
    procs = [writer(ws, tmp_path, plan) for plan in plans]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert versions(ws) == {11: 1000, 1: N - 1000}


def test_readers_keep_a_whole_snapshot_while_a_writer_replaces_files(ws):
    errors: list[str] = []
    torn: list[dict] = []
    reads = 0
    done = threading.Event()

    def read_loop() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                t = ws.read("tickets", EVERYONE)
            except Exception as e:  # noqa: BLE001 - any failure is what this test counts
                errors.append(f"{type(e).__name__}: {e}")
            else:
                if t.height != N or t["replies"].n_unique() != 1:
                    torn.append(dict(t.group_by("replies").len().iter_rows()))
            reads += 1

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for r in readers:
        r.start()
    for v in range(2, 42):
        ws.upsert("tickets", version(v))
    done.set()
    for r in readers:
        r.join()
    assert reads > 100
    assert errors == [] and torn == []
    assert versions(ws) == {41: N}
