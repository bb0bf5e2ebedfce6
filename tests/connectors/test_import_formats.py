"""Every supported format and encoding round-trips the same tickets into the store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import openpyxl
import polars as pl
import pytest

from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

TOML = bpo_toml("t")  # the sample's tenants: every id a file names must be declared
UTC = timezone.utc
HEADER = ["ticket_id", "client_id", "vendor_id", "site_id", "channel", "queue", "created_at", "resolved_at", "replies"]
ROWS = [
    ["T1", "acme", "northwind", "nw-manila", "email", "Café Müller", "2025-03-03T08:00:00Z", "2025-03-03T10:30:00Z", "2"],
    ["T2", "acme", "southpeak", "sp-austin", "voice", "Señal", "2025-03-04T09:15:00-06:00", "", "0"],
]
EXPECTED = [
    ("T1", "Café Müller", datetime(2025, 3, 3, 8, 0, tzinfo=UTC), datetime(2025, 3, 3, 10, 30, tzinfo=UTC), 2, 9000.0),
    ("T2", "Señal", datetime(2025, 3, 4, 15, 15, tzinfo=UTC), None, 0, None),
]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def delimited(sep: str, encoding: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        text = "\r\n".join(sep.join(r) for r in [HEADER, *ROWS]) + "\r\n"
        path.write_bytes(text.encode(encoding))
    return write


def typed_frame() -> pl.DataFrame:
    frame = pl.DataFrame([dict(zip(HEADER, r)) for r in ROWS])
    return frame.with_columns(
        pl.col("created_at").str.to_datetime(time_zone="UTC"),
        pl.col("resolved_at").replace("", None).str.to_datetime(time_zone="UTC"),
        pl.col("replies").cast(pl.Int64),
    )


def write_xlsx(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in ROWS:
        sheet.append([int(v) if c == "replies" else (v or None) for c, v in zip(HEADER, r)])
    book.save(path)


def write_jsonl(path: Path) -> None:
    typed_frame().with_columns(pl.col("created_at", "resolved_at").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).write_ndjson(path)


@pytest.mark.parametrize(("name", "write", "encoding"), [
    pytest.param("t.csv", delimited(",", "utf-8"), "utf-8", id="csv-utf8"),
    pytest.param("t.csv", delimited(",", "utf-8-sig"), "utf-8-sig", id="csv-utf8-bom"),
    pytest.param("t.csv", delimited(",", "cp1252"), "cp1252", id="csv-cp1252"),
    pytest.param("t.tsv", delimited("\t", "utf-8"), "utf-8", id="tsv"),
    pytest.param("t.txt", delimited("|", "utf-8"), "utf-8", id="txt-pipe-sniffed"),
    pytest.param("t.xlsx", write_xlsx, None, id="xlsx"),
    pytest.param("t.parquet", lambda p: typed_frame().write_parquet(p), None, id="parquet"),
    pytest.param("t.jsonl", write_jsonl, "utf-8", id="jsonl"),
])
def test_every_format_round_trips(ws: Workspace, tmp_path: Path, name: str, write, encoding: str | None) -> None:
    path = tmp_path / name
    write(path)
    [report] = import_paths(ws, [path], preset="canonical")
    assert (report.table, report.inserted, report.encoding) == ("tickets", 2, encoding)
    got = ws.read("tickets", Scope.everything()).sort("ticket_id").select(
        "ticket_id", "queue", "created_at", "resolved_at", "replies", "resolution_seconds")
    assert got.rows() == EXPECTED


def test_canonical_preset_detects_the_table_from_its_key_columns(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_id,kind,name,start_date,end_date\nE1,outage,Payment outage,2025-03-04,2025-03-05\n")
    [report] = import_paths(ws, [path], preset="canonical", client="acme")
    assert report.table == "events"
    assert ws.read("events", Scope.everything()).select("event_id", "client_id").rows() == [("E1", "acme")]
