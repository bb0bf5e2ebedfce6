"""Each vendor issues its own agent ids: two vendors' agent 'a1' are two people in every talent and QA figure."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.analyses.talent import attrition, occupancy, speed_to_competency, tenure_mix

TOML = """[workspace]
name = "two vendors"
[[client]]
id = "acme"
[[vendor]]
id = "northwind"
[[vendor]]
id = "southpeak"
[[site]]
id = "nw-manila"
vendor = "northwind"
[[site]]
id = "sp-austin"
vendor = "southpeak"
"""
START, END = date(2026, 1, 5), date(2026, 3, 1)  # nine weeks, from a Monday
SITE = {"northwind": "nw-manila", "southpeak": "sp-austin"}
# (vendor, agent, hire date, termination date): both vendors have an 'a1'; only Northwind's leaves
AGENTS = [("northwind", "a1", START, date(2026, 2, 13)), ("southpeak", "a1", date(2024, 6, 3), None),
          ("northwind", "t1", date(2024, 1, 1), None), ("southpeak", "t1", date(2024, 1, 1), None),
          ("southpeak", "new", START, None)]


def roster() -> pl.DataFrame:
    rows = []
    for vendor, agent, hire, term in AGENTS:
        d = max(hire, START)
        while d <= min(term or END, END):
            left = d == term
            rows.append(dict(source_system="test", source_instance="t", client_id="acme", vendor_id=vendor,
                             site_id=SITE[vendor], agent_id=agent, date=d, status="terminated" if left else "active",
                             channel="voice", hire_date=hire, termination_date=term if left else None,
                             termination_type="voluntary" if left else None, scheduled_seconds=28800.0,
                             on_queue_seconds=21600.0, handle_seconds=16200.0, adherent_seconds=26000.0,
                             logged_seconds=28000.0))
            d += timedelta(days=1)
    return pl.DataFrame(rows, infer_schema_length=None)


def qa(vendor: str, agent: str, scores: list[float]) -> list[dict]:
    return [dict(source_system="test", source_instance="t", client_id="acme", vendor_id=vendor, site_id=SITE[vendor],
                 evaluation_id=f"{vendor}-{agent}-{w}", agent_id=agent, evaluator_id="e1",
                 evaluated_at=datetime.combine(START + timedelta(weeks=w, days=1), datetime.min.time(), timezone.utc),
                 score=s, max_score=100.0) for w, s in enumerate(scores)]


@pytest.fixture()
def ws(tmp_path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws", TOML)
    ws.upsert("staffing_roster", roster())
    evals = (qa("northwind", "t1", [80.0] * 6) + qa("northwind", "a1", [90.0] * 6)  # at the site's median from week 0
             + qa("southpeak", "t1", [80.0] * 6) + qa("southpeak", "a1", [70.0] * 6)  # tenured: site median 75 %
             + qa("southpeak", "new", [50.0] * 3 + [100.0] * 3))  # rolling 4 weeks reach 75 % in week 4
    ws.upsert("qa_evaluations", pl.DataFrame(evals))
    return ws


def test_attrition_counts_the_leaver_at_her_own_vendor(ws):
    monthly = attrition(ws, Scope.everything(), by=("vendor_id",)).monthly
    february = monthly.filter(pl.col("month") == date(2026, 2, 1))
    assert dict(zip(february["vendor_id"], february["terminations"])) == {"northwind": 1, "southpeak": 0}


def test_tenure_mix_keeps_each_vendors_a1_with_its_own_hire_date(ws):
    mix = tenure_mix(ws, Scope.everything(), by=("vendor_id",), on=date(2026, 2, 1))
    bands = {(r["vendor_id"], r["tenure_band"]): r["agents"] for r in mix.iter_rows(named=True)}
    assert bands == {("northwind", "0-90 days"): 1, ("northwind", "2+ years"): 1,
                     ("southpeak", "0-90 days"): 1, ("southpeak", "1-2 years"): 1, ("southpeak", "2+ years"): 1}


def test_occupancy_counts_two_agents_named_a1(ws):
    week = occupancy(ws, Scope.everything(), by=()).row(0, named=True)
    assert week["agents"] == 5


def test_speed_to_competency_reads_each_vendors_own_qa(ws):
    got = speed_to_competency(ws, Scope.everything(), tenured_days=180).filter(pl.col("kpi") == "qa_score")
    weeks = {(r["vendor_id"], r["agent_id"]): r["weeks_to_competency"] for r in got.iter_rows(named=True)}
    assert weeks == {("northwind", "a1"): 0, ("southpeak", "new"): 4}
