"""One bad row never breaks a client: dates before 2000, timestamps in the future, NaN and infinities are refused at
import with file, row, column and the fix, or quarantined as rejected rows while the rest imports (issue 12)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402
from connectors.errors import ImportFileError  # noqa: E402
from connectors.importer import import_paths  # noqa: E402
from connectors.store import Scope, Workspace  # noqa: E402
from insights.export import render  # noqa: E402
from insights.review import available_weeks, build_review  # noqa: E402

HEADER = "ticket_id,client_id,vendor_id,site_id,channel,created_at,resolved_at,handle_seconds"
IN_WEEK = "2025-03-04T09:00:00Z"  # inside tiny's review week


def row(i: int, created: str = IN_WEEK, resolved: str = "", handle: str = "300") -> str:
    return f"NEW-{i},acme,northwind,nw-manila,email,{created},{resolved},{handle}"


def csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


class Bad(NamedTuple):
    row: str
    message: str  # what the error says about spreadsheet row 3 (row 2 is a good row)


TOMORROW_PLUS = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
CASES = [
    pytest.param(Bad(row(2, created="9999-12-31T00:00:00Z"), r"row 3, column 'created_at': '9999-12-31 00:00:00\+00:00' "
                     r"is after this import .* cannot be in the future; fix the date"), id="year-9999"),
    pytest.param(Bad(row(2, created=TOMORROW_PLUS), r"row 3, column 'created_at': .* is after this import"), id="in-3-days"),
    pytest.param(Bad(row(2, created="0001-01-01T00:00:00Z"), r"row 3, column 'created_at': '0001-01-01 00:00:00\+00:00' "
                     r"is before 2000-01-01, the earliest date bpo-insights accepts; fix the date"), id="year-1"),
    pytest.param(Bad(row(2, created="1900-01-01T00:00:00Z"), r"row 3, column 'created_at': '1900-01-01.*is before "
                     r"2000-01-01"), id="year-1900"),
    pytest.param(Bad(row(2, resolved="1999-12-31T23:59:00Z"), r"row 3, column 'resolved_at': .*is before 2000-01-01"),
                 id="resolved-in-1999"),
    pytest.param(Bad(row(2, handle="NaN"), r"row 3, column 'handle_seconds': 'nan' is not a number \(NaN\); give a "
                     r"finite number, or leave the cell empty"), id="nan"),
    pytest.param(Bad(row(2, handle="inf"), r"row 3, column 'handle_seconds': 'inf' is infinite"), id="infinity"),
    pytest.param(Bad(row(2, handle="1e400"), r"row 3, column 'handle_seconds': 'inf' is infinite"), id="overflow"),
]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return tiny.build(tmp_path / "ws")


@pytest.mark.parametrize("case", CASES)
def test_a_value_no_report_can_use_rejects_the_file_naming_row_column_and_fix(ws, tmp_path, case: Bad):
    path = tmp_path / "tickets.csv"
    path.write_bytes(csv(row(1), case.row))
    before = ws.read("tickets", Scope.everything()).height
    with pytest.raises(ImportFileError, match=r"tickets\.csv " + case.message):
        import_paths(ws, [path], preset="canonical_tickets")
    assert ws.read("tickets", Scope.everything()).height == before  # nothing of the file was written


def test_quarantine_keeps_the_good_rows_and_the_review_still_works(ws, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_bytes(csv(row(1), row(2, created="9999-12-31T00:00:00Z"), row(3, created="0001-01-01T00:00:00Z"),
                         row(4, created="1900-01-01T00:00:00Z"), row(5, handle="NaN"), row(6, handle="120")))
    [report] = import_paths(ws, [path], preset="canonical_tickets", quarantine=True)
    assert (report.status, report.inserted, [r["row"] for r in report.rejected]) == ("partial", 2, [3, 4, 5, 6])
    rejected = ws.rejected().sort("row_number").select("row_number", "column_name").rows()
    assert rejected == [(3, "created_at"), (4, "created_at"), (5, "created_at"), (6, "handle_seconds")]
    tickets = ws.read("tickets", Scope.everything())
    assert {"NEW-1", "NEW-6"} <= set(tickets.get_column("ticket_id")) and "NEW-2" not in set(tickets.get_column("ticket_id"))
    acme = Scope.everything().narrow(clients=["acme"])
    weeks = available_weeks(ws, acme)
    assert weeks[0] == tiny.REVIEW_WEEK and len(weeks) <= tiny.WEEKS + 1  # no week from year 1 or 9999
    review = build_review(ws, acme, week=tiny.REVIEW_WEEK)
    aht = review.tile("aht")
    assert aht.value is not None and aht.value == aht.value  # a number, not NaN
    assert b"Weekly review" in render(review, "md")
