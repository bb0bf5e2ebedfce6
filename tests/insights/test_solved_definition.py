"""One definition of a solved ticket (connectors/solved.py): solved, backlog and resolution time agree.

Every ticket is counted exactly once: solved on one day, or in the backlog; resolution time is measured
over solved tickets only. The week under test is W = Monday 2025-03-03 .. Sunday 2025-03-09; every ticket
was created the week before.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest

from connectors.schema import TABLES
from connectors.solved import solved_at_expr, solved_expr, with_inputs
from insights.catalog import load_catalog
from insights.metrics.kpis import compute_from_frames

W, NEXT = date(2025, 3, 3), date(2025, 3, 10)


def ts(day: int, month: int = 3) -> datetime:
    return datetime(2025, month, day, 10, tzinfo=timezone.utc)


def ticket(tid: str, **kw: Any) -> dict[str, Any]:
    return {"ticket_id": tid, "created_at": ts(26, 2), "updated_at": ts(27, 2), "channel": "email",
            "status": None, "resolved_at": None, "closed_at": None, "resolution_seconds": None, **kw}


TICKETS = [
    ticket("closed-no-resolved_at", status="closed", closed_at=ts(4)),            # solved on 03-04 (closed_at)
    ticket("resolved-no-status", resolved_at=ts(5), resolution_seconds=7200.0),   # solved on 03-05
    ticket("reopened", status="open", reopens=1, resolved_at=ts(4), resolution_seconds=100.0),  # backlog
    ticket("solved", status="solved", resolved_at=ts(6), resolution_seconds=3600.0),  # solved on 03-06
    ticket("closed-no-times", status="closed", updated_at=ts(7)),                 # solved on 03-07 (last update)
    ticket("no-status-no-times"),                                                 # backlog
    ticket("pending", status="pending"),                                          # backlog
    ticket("solved-next-week", status="solved", resolved_at=ts(12), resolution_seconds=50.0),  # backlog in W
]
SOLVED_IN_W = {"closed-no-resolved_at", "resolved-no-status", "solved", "closed-no-times"}
BACKLOG_END_OF_W = {"reopened", "no-status-no-times", "pending", "solved-next-week"}


def frame() -> pl.DataFrame:
    return pl.DataFrame(TICKETS, schema={c: TABLES["tickets"].columns[c].dtype for c in TICKETS[0]} | {"reopens": pl.Int64})


def kpi(name: str, week: date) -> dict[str, Any]:
    out = compute_from_frames({"tickets": frame()}, [name], grain="week", start=week, end=week + timedelta(days=6))
    rows = out.filter(pl.col("period") == week)
    return rows.row(0, named=True) if rows.height else {"value": 0.0, "n": 0}


def test_each_ticket_is_solved_once_or_in_the_backlog() -> None:
    assert kpi("tickets_solved", W)["value"] == len(SOLVED_IN_W)
    assert kpi("backlog", W)["value"] == len(BACKLOG_END_OF_W)
    assert SOLVED_IN_W.isdisjoint(BACKLOG_END_OF_W) and len(SOLVED_IN_W | BACKLOG_END_OF_W) == len(TICKETS)
    # the next week: the late one is solved and leaves the backlog; nothing is counted twice
    assert kpi("tickets_solved", NEXT)["value"] == 1
    assert kpi("backlog", NEXT)["value"] == len(BACKLOG_END_OF_W) - 1


def test_which_tickets_the_definition_calls_solved_and_when() -> None:
    got = with_inputs(frame()).select("ticket_id", solved_expr().alias("solved"), solved_at_expr().alias("at"))
    solved = set(got.filter("solved")["ticket_id"])
    assert solved == SOLVED_IN_W | {"solved-next-week"}
    at = dict(zip(got["ticket_id"], got["at"]))
    assert at["closed-no-resolved_at"] == ts(4)  # resolved_at missing: closed_at
    assert at["closed-no-times"] == ts(7)        # neither: the last update
    assert at["reopened"] is None                # open again: not solved, whatever its old resolved_at says


def test_resolution_time_only_over_solved_tickets() -> None:
    # solved in W with a resolution time: 7200 and 3600; the reopened ticket's stale 100 s is not a resolution
    got = kpi("resolution_time_median", W)
    assert (got["value"], got["n"]) == (5400.0, 2)


def test_the_catalog_reads_the_shared_definition() -> None:
    cols = load_catalog().columns["tickets"]
    from connectors.solved import IS_SOLVED, SOLVED_AT
    assert cols["is_solved"].expression == IS_SOLVED
    assert cols["ended_at"].expression == SOLVED_AT


@pytest.mark.parametrize("status", ["solved", "closed"])
def test_a_file_without_status_column_is_solved_by_its_times(status: str) -> None:
    f = with_inputs(pl.DataFrame({"resolved_at": [ts(4), None]}))
    assert f.select(solved_expr()).to_series().to_list() == [True, False]
    g = with_inputs(pl.DataFrame({"status": [status]}))
    assert g.select(solved_expr()).item() is True
