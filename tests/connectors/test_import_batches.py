"""A file is imported a batch of rows at a time ($BPO_IMPORT_BATCH_ROWS), with the result of reading it whole.

Memory then follows the batch, not the file (benchmarks/import_memory.py measures it).  What looks across
rows still sees the whole file: exact duplicates and duplicate keys in different batches, the date format of
a column, row numbers in messages, the rejected rows of the import log, and a crash leaves the store as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from connectors import importer
from connectors.errors import ImportFileError, SchemaError
from connectors.files import BATCH_ROWS_ENV
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from connectors.store.tables import CRASH_HOOK
from sample_data.operation import bpo_toml

ROOT = Path(__file__).resolve().parents[2]
TOML = bpo_toml("t")
HEADER = "ticket_id,client_id,vendor_id,site_id,channel,status,created_at,resolved_at,first_response_seconds,requester_hash"


def row(i: int, created: str = "2025-03-03 08:00", resolved: str = "", *, channel: str = "email",
        status: str = "solved", frs: str = "60") -> str:
    return f"T{i},acme,northwind,nw-manila,{channel},{status},{created},{resolved},{frs},cust-{i % 3}"


def write(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def months(n: int) -> list[str]:
    """n good rows spread over three months (several partitions), some resolved, a few columns varied."""
    out = []
    for i in range(n):
        day = f"2025-{1 + i % 3:02d}-{1 + i % 27:02d}"
        out.append(row(i, f"{day} {8 + i % 9:02d}:{i % 60:02d}", f"{day} {18 + i % 5:02d}:00" if i % 4 else "",
                       channel=("email", "Chat", "voice", "web form")[i % 4], frs=str(30 * i)))
    return out


def stored(ws: Workspace) -> pl.DataFrame:
    """The table as stored, without the clock's column, in key order."""
    return ws.read("tickets", Scope.everything()).drop("ingested_at").sort("ticket_id")


def log(ws: Workspace) -> list[tuple]:
    return ws.rejected().sort("id").select("row_number", "column_name", "value", "message").rows()


def imported(tmp_path: Path, name: str, file: Path, monkeypatch, batch: int | None, **kw):
    """(workspace, report or the error) of importing `file` into a fresh workspace with `batch` rows per batch."""
    if batch is None:
        monkeypatch.delenv(BATCH_ROWS_ENV, raising=False)
    else:
        monkeypatch.setenv(BATCH_ROWS_ENV, str(batch))
    ws = Workspace.create(tmp_path / name, TOML)
    (ws.path / "hash.key").write_bytes((tmp_path / "hash.key").read_bytes())  # the same key: comparable hashes
    try:
        return ws, import_paths(ws, [file], preset="canonical", **kw)[0]
    except (ImportFileError, SchemaError) as e:
        return ws, e


@pytest.fixture(autouse=True)
def key(tmp_path: Path) -> None:
    (tmp_path / "hash.key").write_text(os.urandom(32).hex(), encoding="ascii")


def test_a_file_read_in_batches_of_two_rows_is_stored_exactly_as_read_whole(tmp_path, monkeypatch):
    file = write(tmp_path / "tickets.csv", *months(23))
    whole, r1 = imported(tmp_path, "whole", file, monkeypatch, None)
    small, r2 = imported(tmp_path, "small", file, monkeypatch, 2)
    assert (r1.rows_read, r1.inserted, r1.status) == (r2.rows_read, r2.inserted, r2.status) == (23, 23, "ok")
    assert stored(small).equals(stored(whole))
    assert len(whole.files("tickets")) == 3  # three monthly partitions, each written once
    again = import_paths(small, [file], preset="canonical")[0]  # idempotent, batch by batch too
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 23)
    assert not (small.path / importer.WORK_DIR).exists()  # the work folder goes with the import


def test_problems_in_later_batches_carry_their_file_row_numbers_and_the_same_message(tmp_path, monkeypatch):
    rows = months(12)
    rows[6] = row(6, "2025-02-31 10:00")  # row 8 of the file (header = 1), in the fourth batch of two
    rows[10] = row(10, "2025-03-03 08:00", channel="pigeon")  # row 12, sixth batch
    file = write(tmp_path / "tickets.csv", *rows)
    _, whole = imported(tmp_path, "whole", file, monkeypatch, None)
    _, small = imported(tmp_path, "small", file, monkeypatch, 2)
    assert isinstance(small, ImportFileError) and str(small) == str(whole)
    assert "tickets.csv row 8, column 'created_at': '2025-02-31 10:00' is not a date" in str(small)
    assert "tickets.csv row 12, column 'channel': 'pigeon' is not a channel" in str(small)


def test_quarantine_in_batches_records_the_same_rejected_rows_and_stores_the_same_good_ones(tmp_path, monkeypatch):
    rows = months(15)
    for i in (0, 5, 13):
        rows[i] = row(i, "not a date", frs="-5")  # two problems on one row: counted as one rejected row
    file = write(tmp_path / "tickets.csv", *rows)
    whole, r1 = imported(tmp_path, "whole", file, monkeypatch, None, quarantine=True)
    small, r2 = imported(tmp_path, "small", file, monkeypatch, 2, quarantine=True)
    assert (r2.status, r2.inserted, r2.rejected_rows, r2.problems) == ("partial", 12, 3, 6)
    assert r2.rejected == r1.rejected and str(r2) == str(r1)
    assert [p["row"] for p in r2.rejected] == [2, 2, 7, 7, 15, 15]
    assert log(small) == log(whole) and len(log(small)) == 6
    assert stored(small).equals(stored(whole))


def test_a_duplicate_key_in_the_first_and_the_last_batch_is_found(tmp_path, monkeypatch):
    rows = months(10)
    rows.append(row(1, "2025-03-09 09:00"))  # T1 again (row 12) with different content; T1 is row 3
    file = write(tmp_path / "tickets.csv", *rows)
    _, whole = imported(tmp_path, "whole", file, monkeypatch, None)
    _, small = imported(tmp_path, "small", file, monkeypatch, 2)
    assert isinstance(small, ImportFileError) and str(small) == str(whole)
    assert "tickets.csv row 3, column 'ticket_id': 'T1' appears again on row(s) 12 with different content" in str(small)
    assert "tickets.csv row 12, column 'ticket_id': 'T1' appears again on row(s) 3" in str(small)


def test_an_exact_duplicate_row_in_a_later_batch_is_merged_without_a_word(tmp_path, monkeypatch):
    rows = months(9)
    file = write(tmp_path / "tickets.csv", *rows, rows[0], rows[4])
    whole, r1 = imported(tmp_path, "whole", file, monkeypatch, None)
    small, r2 = imported(tmp_path, "small", file, monkeypatch, 3)
    assert (r2.rows_read, r2.inserted, r2.rejected) == (r1.rows_read, r1.inserted, r1.rejected) == (11, 9, [])
    assert stored(small).equals(stored(whole))


def test_quarantine_drops_both_rows_of_a_key_split_across_batches_and_names_only_that_problem(tmp_path, monkeypatch):
    rows = months(8)
    rows.append(row(2, "2025-13-40 99:00"))  # T2 again (row 10; T2 is row 4), and its date is bad too
    file = write(tmp_path / "tickets.csv", *rows)
    whole, r1 = imported(tmp_path, "whole", file, monkeypatch, None, quarantine=True)
    small, r2 = imported(tmp_path, "small", file, monkeypatch, 2, quarantine=True)
    assert r2.rejected == r1.rejected and log(small) == log(whole)
    assert [(p["row"], p["column"]) for p in r2.rejected] == [(4, "ticket_id"), (10, "created_at"), (10, "ticket_id")]
    assert stored(small).equals(stored(whole)) and stored(small).height == 7


def test_the_date_format_is_decided_over_the_whole_column_not_per_batch(tmp_path, monkeypatch):
    # the first batch alone reads as both day-first and month-first; row 6 (25/03) settles it: day first
    dates = ["03/04/2025 10:00", "04/03/2025 11:00", "05/03/2025 09:00", "06/03/2025 09:00", "25/03/2025 12:00"]
    file = write(tmp_path / "tickets.csv", *[row(i, d) for i, d in enumerate(dates)])
    whole, _ = imported(tmp_path, "whole", file, monkeypatch, None)
    small, _ = imported(tmp_path, "small", file, monkeypatch, 2)
    assert stored(small).equals(stored(whole))
    assert stored(small).get_column("created_at").dt.strftime("%m-%d").to_list()[:2] == ["04-03", "03-04"]
    ambiguous = write(tmp_path / "ambiguous.csv", *[row(i, d) for i, d in enumerate(dates[:4])])
    _, error = imported(tmp_path, "ambiguous", ambiguous, monkeypatch, 1)
    assert isinstance(error, SchemaError) and "dates such as '03/04/2025 10:00' are ambiguous" in str(error)


def test_a_column_of_mostly_bad_dates_gets_the_whole_files_hint_in_every_batch(tmp_path, monkeypatch):
    rows = [row(i, "31/02/2025 25:00") for i in range(5)] + [row(5, "2025-03-03 08:00")]
    file = write(tmp_path / "tickets.csv", *rows)
    _, whole = imported(tmp_path, "whole", file, monkeypatch, None)
    _, small = imported(tmp_path, "small", file, monkeypatch, 1)
    assert isinstance(small, ImportFileError) and str(small) == str(whole)
    assert "'31/02/2025 25:00' is not a date/time (the other values read as %Y-%m-%d)" in str(small)


def test_text_in_windows_1252_is_read_in_batches_too(tmp_path, monkeypatch):
    rows = months(5)
    rows[3] = rows[3].replace("cust-0", "Müller")
    file = tmp_path / "latin.csv"
    file.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("cp1252"))
    whole, r1 = imported(tmp_path, "whole", file, monkeypatch, None)
    small, r2 = imported(tmp_path, "small", file, monkeypatch, 2)
    assert (r2.encoding, r2.content_hash, r2.inserted) == (r1.encoding, r1.content_hash, 5) and r2.encoding == "cp1252"
    assert stored(small).equals(stored(whole))


def test_the_report_keeps_the_first_problems_and_the_log_keeps_every_one(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_KEPT", 3)
    file = write(tmp_path / "tickets.csv", *[row(i, "never") for i in range(7)], row(7))
    ws, report = imported(tmp_path, "ws", file, monkeypatch, 2, quarantine=True)
    assert (len(report.rejected), report.problems, report.rejected_rows, report.inserted) == (3, 7, 7, 1)
    assert "7 rows rejected" in str(report)
    assert [r[0] for r in log(ws)] == [2, 3, 4, 5, 6, 7, 8]
    assert ws.import_history().get_column("rejected").to_list()[0] == 7


def test_a_batch_size_that_is_not_a_number_is_refused_with_the_fix(tmp_path, monkeypatch):
    file = write(tmp_path / "tickets.csv", *months(2))
    _, error = imported(tmp_path, "ws", file, monkeypatch, None)
    assert not isinstance(error, Exception)
    monkeypatch.setenv(BATCH_ROWS_ENV, "lots")
    with pytest.raises(ImportFileError, match=r"BPO_IMPORT_BATCH_ROWS = 'lots' is not a positive whole number"):
        import_paths(Workspace.create(tmp_path / "other", TOML), [file], preset="canonical")


@pytest.mark.parametrize("step", ["read", "part-renamed", "parts-written", "manifest-tmp"])
def test_kill_9_while_a_batched_import_writes_leaves_the_store_as_it_was(tmp_path, monkeypatch, step):
    first = write(tmp_path / "first.csv", *months(6))
    ws, _ = imported(tmp_path, "ws", first, monkeypatch, None)
    before = stored(ws)
    newer = write(tmp_path / "newer.csv", *months(12))  # six more tickets
    env = {**os.environ, "PYTHONPATH": str(ROOT), BATCH_ROWS_ENV: "2", CRASH_HOOK: step}
    proc = subprocess.run([sys.executable, "-m", "insights.cli", "import", "--workspace", str(ws.path), "--preset",
                           "canonical", str(newer)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr
    assert stored(ws).equals(before)  # the old version, whole
    monkeypatch.setenv(BATCH_ROWS_ENV, "2")
    report = import_paths(ws, [newer], preset="canonical")[0]  # the next run completes and clears the crash's folder
    assert (report.inserted, report.unchanged, report.rejected) == (6, 6, [])
    assert not (ws.path / importer.WORK_DIR).exists()
