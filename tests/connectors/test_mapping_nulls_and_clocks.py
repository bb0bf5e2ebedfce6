"""Errors that point to the real cause, and null values where the export has placeholders.

- A local time the spring change skips, or the autumn change repeats, is named as such (file, row, column,
  value, "does not exist in <zone>: clocks went forward"), with the mapping option that says what it means
  (`nonexistent = "shift"`, `ambiguous = "earliest" | "latest"`).
- A placeholder time (0:00:00, 1900-01-01) gets a null-value hint, not a time-zone one.
- `null_values` per column (`[mapping.columns.<canonical>] from = ..., null_values = [...]`) and the global
  ones reach the parts of a combined column before they are joined; an anonymous caller id is no customer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ConfigError, ImportFileError
from connectors.importer import import_paths
from connectors.mapping import parse_mapping
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

TENANT = {"client": "acme", "vendor": "northwind", "site": "nw-manila"}
BASE = """
[mapping]
table = "tickets"
timezone = "America/Chicago"
{options}
[mapping.columns]
ticket_id = "number"
created_at = "opened"
status = "state"
channel = "via"
{columns}
[mapping.values.status]
"Resolved" = "solved"
"Open" = "open"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("t"))


def run(ws: Workspace, tmp_path: Path, csv: str, *, options: str = "", columns: str = "") -> pl.DataFrame:
    (tmp_path / "m.toml").write_text(BASE.format(options=options, columns=columns))
    (tmp_path / "calls.csv").write_text(csv)
    import_paths(ws, [tmp_path / "calls.csv"], mapping=tmp_path / "m.toml", **TENANT)
    return ws.read("tickets", Scope.of(clients=["acme"])).sort("ticket_id")


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


# ---------------------------------------------------------------- daylight saving


SPRING = "number,opened,state,via\nT1,2026-03-08 01:30,Open,email\nT2,2026-03-08 02:30,Open,email\n"
AUTUMN = "number,opened,state,via\nT1,2026-11-01 00:30,Open,email\nT2,2026-11-01 01:30,Open,email\n"


def test_a_time_the_spring_change_skips_is_named_as_such(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"calls\.csv row 3, column 'opened': '2026-03-08 02:30' does not exist in "
                                              r"America/Chicago: clocks went forward.*nonexistent = \"shift\"") as e:
        run(ws, tmp_path, SPRING)
    assert "datetime_format" not in str(e.value)


def test_a_time_the_autumn_change_repeats_is_named_as_such(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"calls\.csv row 3, column 'opened': '2026-11-01 01:30' is ambiguous in "
                                              r"America/Chicago: clocks went back.*ambiguous = \"earliest\""):
        run(ws, tmp_path, AUTUMN)


@pytest.mark.parametrize(("options", "csv", "expected"), [
    pytest.param('nonexistent = "shift"', SPRING, utc(2026, 3, 8, 8, 30), id="shift: 02:30 CST is 03:30 CDT"),
    pytest.param('ambiguous = "earliest"', AUTUMN, utc(2026, 11, 1, 6, 30), id="earliest: 01:30 CDT"),
    pytest.param('ambiguous = "latest"', AUTUMN, utc(2026, 11, 1, 7, 30), id="latest: 01:30 CST"),
])
def test_the_mapping_says_what_such_a_time_means(ws: Workspace, tmp_path: Path, options: str, csv: str,
                                                 expected: datetime) -> None:
    got = run(ws, tmp_path, csv, options=options)
    assert got.filter(pl.col("ticket_id") == "T2")["created_at"].item() == expected


def test_times_with_an_offset_are_never_questioned(ws: Workspace, tmp_path: Path) -> None:
    got = run(ws, tmp_path, "number,opened,state,via\nT1,2026-03-08 02:30-06:00,Open,email\n")
    assert got["created_at"].item() == utc(2026, 3, 8, 8, 30)


def test_unknown_clock_options_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"ambiguous = 'first'; use one of error, earliest, latest"):
        parse_mapping({"mapping": {"table": "tickets", "ambiguous": "first", "columns": {}}}, name="m.toml")


# ---------------------------------------------------------------- placeholders


def test_a_placeholder_time_gets_a_null_value_hint_not_a_time_zone_one(ws: Workspace, tmp_path: Path) -> None:
    csv = "number,opened,state,via,rdate,rtime\nT1,2026-03-02 09:15,Open,email,2026-03-02,0:00:00\n"
    with pytest.raises(ImportFileError) as e:
        run(ws, tmp_path, csv, columns='resolved_at = "resolved"\n[mapping.combine]\nresolved = ["rdate", "rtime"]')
    message = str(e.value)
    assert "row 2, column 'resolved': '2026-03-02 06:00:00+00:00' ends before it starts" in message
    assert "placeholder" in message and "[mapping.columns.resolved_at] from = \"resolved\", null_values" in message
    assert "combined from 'rdate', 'rtime'" in message and "time zone" not in message


def test_per_column_null_values_reach_the_parts_of_a_combined_column(ws: Workspace, tmp_path: Path) -> None:
    csv = ("number,opened,state,via,rdate,rtime\nT1,2026-03-02 09:15,Open,email,2026-03-02,0:00:00\n"
           "T2,2026-03-02 09:15,Resolved,email,2026-03-02,11:45:00\n")
    columns = ('[mapping.columns.resolved_at]\nfrom = "resolved"\nnull_values = ["0:00:00"]\n'
               '[mapping.combine]\nresolved = ["rdate", "rtime"]')
    got = run(ws, tmp_path, csv, columns=columns)
    assert got["resolved_at"].to_list() == [None, utc(2026, 3, 2, 17, 45)]  # T1: a date without its time is unknown


def test_global_null_values_reach_the_parts_of_a_combined_column(ws: Workspace, tmp_path: Path) -> None:
    csv = ("number,opened,state,via,rdate,rtime\nT1,2026-03-02 09:15,Open,email,?,?\n"
           "T2,2026-03-02 09:15,Resolved,email,2026-03-02,11:45:00\n")
    got = run(ws, tmp_path, csv, options='null_values = ["?", ""]',
              columns='resolved_at = "resolved"\n[mapping.combine]\nresolved = ["rdate", "rtime"]')
    assert got["resolved_at"].to_list() == [None, utc(2026, 3, 2, 17, 45)]


def test_an_anonymous_caller_id_is_no_customer(ws: Workspace, tmp_path: Path) -> None:
    rows = [f"T{i},2026-03-02 09:{i:02d},Open,voice,{c}" for i, c in enumerate(["0", "0", "anonymous", "C7", "C7", "0"])]
    csv = "number,opened,state,via,caller\n" + "\n".join(rows) + "\n"
    columns = '[mapping.columns.requester_hash]\nfrom = "caller"\nnull_values = ["0", "anonymous"]'
    got = run(ws, tmp_path, csv, columns=columns)
    hashes = got["requester_hash"]
    assert hashes.null_count() == 4 and hashes.drop_nulls().n_unique() == 1  # C7 twice; 0 and anonymous are nobody


def test_without_the_column_null_values_zero_is_one_customer(ws: Workspace, tmp_path: Path) -> None:
    rows = [f"T{i},2026-03-02 09:{i:02d},Open,voice,0" for i in range(3)]
    got = run(ws, tmp_path, "number,opened,state,via,caller\n" + "\n".join(rows) + "\n",
              columns='requester_hash = "caller"')
    assert got["requester_hash"].null_count() == 0 and got["requester_hash"].n_unique() == 1


@pytest.mark.parametrize(("columns", "match"), [
    pytest.param({"requester_hash": {"null_values": ["0"]}}, r"\[mapping.columns.requester_hash\] needs from = ",
                 id="no-from"),
    pytest.param({"requester_hash": {"from": "caller", "nulls": ["0"]}}, r"unknown key\(s\): nulls", id="unknown-key"),
    pytest.param({"requester_hash": {"from": "caller", "null_values": "0"}}, r"null_values must be a list of strings",
                 id="not-a-list"),
])
def test_a_column_table_is_checked(columns: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_mapping({"mapping": {"table": "tickets", "columns": columns}}, name="m.toml")


def test_a_placeholder_date_gets_a_null_value_hint(ws: Workspace, tmp_path: Path) -> None:
    csv = "number,opened,state,via,closed\nT1,2026-03-02 09:15,Open,email,1900-01-01 00:00:00\n"
    with pytest.raises(ImportFileError) as e:
        run(ws, tmp_path, csv, columns='closed_at = "closed"')
    message = str(e.value)
    assert "row 2, column 'closed': '1900-01-01 06:00:00+00:00' ends before it starts" in message
    assert '[mapping.columns.closed_at] from = "closed", null_values' in message and "time zone" not in message
    fixed = run(ws, tmp_path, csv, columns='[mapping.columns.closed_at]\nfrom = "closed"\nnull_values = ["1900-01-01 00:00:00"]')
    assert fixed["closed_at"].to_list() == [None]


def test_a_real_end_before_the_start_still_points_to_the_time_zone(ws: Workspace, tmp_path: Path) -> None:
    csv = "number,opened,state,via,closed\nT1,2026-03-02 09:15,Open,email,2026-03-02 08:45\n"
    with pytest.raises(ImportFileError, match=r"ends before it starts.*check the time zone and the day/month order"):
        run(ws, tmp_path, csv, columns='closed_at = "closed"')


def test_column_null_values_match_a_typed_column_as_written(ws: Workspace, tmp_path: Path) -> None:
    # a Parquet (or spreadsheet) export types the caller id: 0 arrives as 0.0 and still means anonymous
    (tmp_path / "m.toml").write_text(BASE.format(
        options="", columns='[mapping.columns.requester_hash]\nfrom = "caller"\nnull_values = ["0"]'))
    pl.DataFrame({"number": ["T1", "T2"], "opened": ["2026-03-02 09:15", "2026-03-02 09:20"], "state": ["Open"] * 2,
                  "via": ["voice"] * 2, "caller": [0.0, 4411.0]}).write_parquet(tmp_path / "calls.parquet")
    import_paths(ws, [tmp_path / "calls.parquet"], mapping=tmp_path / "m.toml", **TENANT)
    got = ws.read("tickets", Scope.of(clients=["acme"])).sort("ticket_id")
    assert got["requester_hash"].is_null().to_list() == [True, False]
