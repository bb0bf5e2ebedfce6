"""Contact-centre interval exports (Amazon Connect, Genesys Cloud, Talkdesk, Five9) into contact_intervals.

The examples hold two queues of Southpeak Austin (America/Chicago) on the spring (2025-03-09)
and autumn (2025-11-02) clock changes, in each vendor's layout.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ConfigError, ImportFileError, SchemaError
from connectors.importer import import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "examples"
TOML = bpo_toml("t")  # the sample's tenants: every id a file names must be declared
VENDORS = ("amazon_connect", "genesys", "talkdesk", "five9")
UTC = timezone.utc
HALF_HOUR = timedelta(minutes=30)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


def local_mapping(tmp_path: Path, preset: str, tz: str = "America/Chicago") -> Path:
    path = tmp_path / f"{preset}_local.toml"
    path.write_text(f'[mapping]\nextends = "{preset}"\ntimezone = "{tz}"\n')
    return path


def load(ws: Workspace, tmp_path: Path, vendor: str, file: Path | None = None) -> pl.DataFrame:
    [report] = import_paths(ws, [file or EXAMPLES / f"{vendor}_intervals.csv"],
                            mapping=local_mapping(tmp_path, f"{vendor}_intervals"),
                            client="acme", vendor="southpeak", site="sp-austin")
    assert report.status == "ok", str(report)
    return ws.read("contact_intervals", Scope.everything()).sort("queue_id", "interval_start")


def starts(frame: pl.DataFrame, queue: str, day: str) -> list[datetime]:
    return frame.filter((pl.col("queue_id") == queue)
                        & (pl.col("interval_start").dt.convert_time_zone("America/Chicago").dt.date().cast(pl.String) == day)
                        )["interval_start"].to_list()


def run(first: datetime, n: int) -> list[datetime]:
    return [first + i * HALF_HOUR for i in range(n)]


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(("day", "expected"), [
    pytest.param("2025-03-09", run(datetime(2025, 3, 9, 7, 0, tzinfo=UTC), 4),
                 id="spring-01:30-CST-then-03:00-CDT-are-consecutive"),
    pytest.param("2025-11-02", run(datetime(2025, 11, 2, 5, 30, tzinfo=UTC), 6),
                 id="autumn-both-01:00-and-01:30-kept-once-each"),
])
def test_clock_changes_lose_and_double_nothing(ws, tmp_path, vendor, day, expected):
    frame = load(ws, tmp_path, vendor)
    assert frame.height == 20
    for queue in ("Austin Billing", "Austin Returns"):
        assert starts(frame, queue, day) == expected


@pytest.mark.parametrize("vendor", VENDORS)
def test_sums_and_counts_land_in_canonical_columns(ws, tmp_path, vendor):
    frame = load(ws, tmp_path, vendor)
    # Austin Billing, the second 01:00 of 2025-11-02 (CST, 07:00 UTC): 27 offered, 25 handled
    row = frame.filter((pl.col("queue_id") == "Austin Billing")
                       & (pl.col("interval_start") == datetime(2025, 11, 2, 7, 0, tzinfo=UTC))).row(0, named=True)
    assert (row["offered"], row["handled"], row["abandoned"], row["answered_within_sl"], row["transfers"]) == (27, 25, 2, 22, 1)
    assert (row["channel"], row["direction"], row["interval_minutes"], row["sl_threshold_seconds"]) == ("voice", "inbound", 30, 20.0)
    assert row["source_system"] == {"amazon_connect": "amazon_connect", "genesys": "genesys_cloud"}.get(vendor, vendor)
    # per-contact 15 s wait, 240 s talk, 20 s hold, 40 s after-call work, stored as sums over 25 contacts
    got = [row[c] for c in ("wait_seconds", "talk_seconds", "hold_seconds", "acw_seconds")]
    assert got == pytest.approx([375.0, 6000.0, 500.0, 1000.0], abs=0.01)
    if vendor != "talkdesk":  # Talkdesk gives no handle total
        assert row["handle_seconds"] == pytest.approx(7500.0)


@pytest.mark.parametrize(("vendor", "refused"), [
    pytest.param("amazon_connect", True, id="amazon-connect-local-times-read-as-utc"),
    pytest.param("talkdesk", True, id="talkdesk-local-times-read-as-utc"),
    pytest.param("five9", True, id="five9-local-times-read-as-utc"),
    pytest.param("genesys", False, id="genesys-times-carry-offsets"),
])
def test_repeated_hour_read_in_the_wrong_zone_is_refused_not_doubled(ws, vendor, refused):
    def go():
        return import_paths(ws, [EXAMPLES / f"{vendor}_intervals.csv"], preset=f"{vendor}_intervals",
                            client="acme", vendor="southpeak", site="sp-austin")
    if refused:
        with pytest.raises(ImportFileError, match=r"row 7, column .*: 'Austin Billing, .*01:00:00.*' appears again on row\(s\) 9 "):
            go()
        assert ws.read("contact_intervals", Scope.everything()).height == 0
    else:
        [report] = go()
        assert report.inserted == 20


def test_reimport_leaves_the_store_byte_identical(ws, tmp_path):
    load(ws, tmp_path, "five9")
    before = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(ws.tables_dir.rglob("*.parquet")))).hexdigest()
    [report] = import_paths(ws, [EXAMPLES / "five9_intervals.csv"], mapping=local_mapping(tmp_path, "five9_intervals"),
                            client="acme", vendor="southpeak", site="sp-austin")
    after = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(ws.tables_dir.rglob("*.parquet")))).hexdigest()
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 20)
    assert after == before


def test_a_time_in_the_skipped_spring_hour_is_a_bad_value(ws, tmp_path):
    src = (EXAMPLES / "five9_intervals.csv").read_text().splitlines()
    bad = tmp_path / "five9_gap.csv"
    bad.write_text("\n".join([src[0], src[2].replace("2025/03/09,01:30", "2025/03/09,02:30")]) + "\n")
    with pytest.raises(ImportFileError, match=r"row 2, column 'DATE HALF HOUR': '2025/03/09 02:30' does not exist in "
                                              r"America/Chicago: clocks went forward"):
        load(ws, tmp_path, "five9", bad)


AVERAGES = """[mapping]
table = "contact_intervals"
[mapping.columns]
queue_id = "q"
interval_start = "at"
offered = "n"
handled = "n"
[mapping.totals.handle_seconds]
average = "aht"
count = "n"
unit = "hh:mm:ss"
[mapping.constants]
channel = "voice"
direction = "inbound"
interval_minutes = 30
"""


@pytest.mark.parametrize(("n", "aht", "expected"), [
    pytest.param("4", "00:05:00", 1200.0, id="average-times-count"),
    pytest.param("0", "", 0.0, id="no-contacts-no-average-is-zero"),
    pytest.param("3", "", None, id="contacts-without-an-average-is-unknown"),
])
def test_totals_from_averages(ws, tmp_path, n, aht, expected):
    mapping = tmp_path / "m.toml"
    mapping.write_text(AVERAGES)
    data = tmp_path / "x.csv"
    data.write_text(f"q,at,n,aht\nsales,2025-03-03 10:00,{n},{aht}\n")
    import_paths(ws, [data], mapping=mapping, client="acme", vendor="southpeak", site="sp-austin")
    assert ws.read("contact_intervals", Scope.everything())["handle_seconds"].to_list() == [expected]


@pytest.mark.parametrize(("mapping", "error", "match"), [
    pytest.param('[mapping]\nextends = "nice_intervals"\n', ConfigError, "extends = 'nice_intervals' is not a built-in preset",
                 id="unknown-preset"),
    pytest.param('[mapping]\ntable = "contact_intervals"\n[mapping.totals.handle_seconds]\naverage = "aht"\n', ConfigError,
                 r"\[mapping.totals.handle_seconds\] needs average", id="total-without-count"),
    pytest.param('[mapping]\nextends = "five9_intervals"\nlenient = false\n', SchemaError,
                 "'HALF HOUR' \\(combined into 'DATE HALF HOUR' under \\[mapping.combine\\]\\)", id="combined-column-missing"),
])
def test_mapping_problems_name_the_fix(ws, tmp_path, mapping, error, match):
    path = tmp_path / "m.toml"
    path.write_text(mapping)
    data = tmp_path / "x.csv"
    data.write_text("DATE,SKILL\n2025/03/03,sales\n")
    with pytest.raises(error, match=match):
        import_paths(ws, [data], mapping=path, client="acme", vendor="southpeak", site="sp-austin")
