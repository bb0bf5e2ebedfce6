"""Mapping files: parsing, validation (every problem at once), presets, date inference, units."""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ConfigError, SchemaError
from connectors.mapping import PRESETS_DIR, convert, load_mapping, load_preset, parse_datetimes
from connectors.schema import TABLES

UTC = timezone.utc


def test_every_problem_of_a_mapping_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[mapping]\ntable = "tickets"\ntimezone = "Mars/Olympus"\n[mapping.columns]\nticket_nr = "id"\n'
                    '[mapping.units]\nresolution_seconds = "fortnights"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: 3 problem\(s\): .*'ticket_nr' is not a column of tickets.*"
                                          r"'fortnights'.*'Mars/Olympus' is not an IANA time zone"):
        load_mapping(path)


@pytest.mark.parametrize(("text", "match"), [
    pytest.param('[mapping]\ntable = "calls"\n', r"table = 'calls' is not a canonical table", id="unknown-table"),
    pytest.param('[columns]\n', r"no \[mapping\] table", id="no-mapping-table"),
    pytest.param('[mapping\n', r"not valid TOML", id="bad-toml"),
])
def test_mapping_file_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_mapping(path)


def test_unknown_preset_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'gorgias'.*zendesk_tickets"):
        load_preset("gorgias")


@pytest.mark.parametrize("table", sorted(TABLES))
def test_canonical_presets_cover_every_column(table: str) -> None:
    raw = tomllib.loads((PRESETS_DIR / f"canonical_{table}.toml").read_text())
    assert set(raw["mapping"]["columns"]) == set(TABLES[table].columns) - {"ingested_at"}
    assert load_preset(f"canonical_{table}").table == table


@pytest.mark.parametrize(("values", "tz", "expected"), [
    pytest.param(["2025-03-04T10:22:11Z", "2025-03-04 12:00:00.5+02:00"], "UTC",
                 [datetime(2025, 3, 4, 10, 22, 11, tzinfo=UTC), datetime(2025, 3, 4, 10, 0, 0, 500000, tzinfo=UTC)],
                 id="iso-with-offsets"),
    pytest.param(["2025-03-04 10:22:11", None], "America/Chicago", [datetime(2025, 3, 4, 16, 22, 11, tzinfo=UTC), None],
                 id="naive-in-mapping-timezone"),
    pytest.param(["03/04/2025 10:00", "25/04/2025 09:30"], "UTC",
                 [datetime(2025, 4, 3, 10, tzinfo=UTC), datetime(2025, 4, 25, 9, 30, tzinfo=UTC)],
                 id="day-first-disambiguated-by-the-whole-column"),
    pytest.param(["03/04/2025 10:00", "04/25/2025 09:30"], "UTC",
                 [datetime(2025, 3, 4, 10, tzinfo=UTC), datetime(2025, 4, 25, 9, 30, tzinfo=UTC)],
                 id="month-first-disambiguated-by-the-whole-column"),
    pytest.param(["3/14/2025 2:05 PM"], "UTC", [datetime(2025, 3, 14, 14, 5, tzinfo=UTC)], id="us-am-pm"),
    pytest.param(["2025-03-04"], "UTC", [datetime(2025, 3, 4, tzinfo=UTC)], id="date-only"),
])
def test_dates_are_inferred_from_the_whole_column(values: list, tz: str, expected: list) -> None:
    s = pl.Series("c", values, dtype=pl.String)
    got, problems = parse_datetimes(s, rows=pl.Series(range(2, 2 + len(values))), column="c", fmt=None, timezone=tz)
    assert problems == [] and got.to_list() == expected


def test_an_ambiguous_column_asks_for_datetime_format() -> None:
    s = pl.Series("opened", ["03/04/2025", "05/06/2025"])
    with pytest.raises(SchemaError, match=r"x\.csv, column 'opened': dates such as '03/04/2025' are ambiguous"):
        parse_datetimes(s, rows=pl.Series([2, 3]), column="opened", fmt=None, timezone="UTC", file="x.csv")


@pytest.mark.parametrize(("values", "unit", "expected"), [
    pytest.param(["2.5", "01:15:00", "27:00:00"], "hours", [9000.0, 4500.0, 97200.0], id="hours-decimal-and-clock"),
    pytest.param(["36", "0"], "minutes", [2160.0, 0.0], id="minutes"),
    pytest.param(["12.5"], None, [12.5], id="seconds"),
])
def test_durations_are_converted_to_seconds(values: list[str], unit: str | None, expected: list[float]) -> None:
    got, problems = convert(pl.Series("d", values), pl.Float64, rows=pl.Series(range(2, 2 + len(values))),
                            column="d", unit=unit)
    assert problems == [] and got.to_list() == expected


def test_a_non_number_is_a_row_problem_naming_the_value() -> None:
    _, problems = convert(pl.Series("replies", ["2", "two"]), pl.Int64, rows=pl.Series([2, 3]), column="replies")
    assert [(p.row, p.column, p.value) for p in problems] == [(3, "replies", "two")]
    assert problems[0].describe("t.csv") == "t.csv row 3, column 'replies': 'two' is not a number"
