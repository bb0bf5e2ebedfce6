"""Data quality comes first: a week whose tickets arrived twice (two sources, one id) says so before any insight."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope
from insights.detection.engine import detect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402 - the planted-miss workspace of the dashboard suite


def _twice(ws, share: float) -> int:
    """Import `share` of acme's review-week tickets again under another source name; returns how many."""
    start = datetime.combine(tiny.REVIEW_WEEK, datetime.min.time(), tzinfo=timezone.utc)
    week = tiny.planted_tickets().filter((pl.col("client_id") == "acme") & (pl.col("created_at") >= start))
    again = week.head(round(week.height * share)).with_columns(pl.lit("csv_export").alias("source_system"))
    ws.upsert("tickets", again)
    return again.height


@pytest.mark.parametrize(("share", "withheld"), [pytest.param(0.01, False, id="1%-noted"),
                                                 pytest.param(0.10, True, id="10%-withheld")])
def test_tickets_seen_under_two_sources_are_a_notice_and_many_withhold_the_clients_insights(tmp_path, share, withheld):
    ws = tiny.build_planted(tmp_path / "ws")
    before = detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK)
    assert not [n for n in before.notices if n.evidence.get("kind") == "duplicates"]
    assert any(i.segment.get("client_id") == "acme" and i.type != "data_quality" for i in before.insights)

    dup = _twice(ws, share)
    after = detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK)
    notes = [n for n in after.notices if n.evidence.get("kind") == "duplicates"]
    assert len(notes) == 1 and notes[0].segment == {"client_id": "acme"}
    assert notes[0].evidence["count"] == dup and f"{dup:,} of the" in notes[0].headline
    assert after.top[0].type == "data_quality"  # notices first
    acme = [i for i in after.insights if i.segment.get("client_id") == "acme" and i.type != "data_quality"]
    assert (not acme) == withheld



def test_an_incomplete_week_notice_names_its_client_so_two_clients_never_read_as_one_repeated_line():
    from datetime import date

    from insights.catalog import load_catalog
    from insights.catalog.rules import load_rules
    from insights.detection.data_quality import data_quality

    week = date(2026, 11, 16)
    daily = pl.DataFrame({"client_id": ["acme", "globex"], "period": [week, week], "value": [5.0, 7.0]})
    root = pl.DataFrame(schema={"client_id": pl.String, "kpi": pl.String, "period": pl.Date, "value": pl.Float64})
    notices = data_quality(daily, root, week=week, last_day=date(2026, 11, 20), specs={},
                           catalog=load_catalog(), rules=load_rules())
    headlines = [n.headline for n in notices]
    assert len(headlines) == 2 and len(set(headlines)) == 2  # a vendor serving both read one line twice
    assert "acme" in headlines[0].lower() and "globex" in headlines[1].lower()
