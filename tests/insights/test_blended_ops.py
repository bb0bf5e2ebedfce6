"""AI and people: `handled_by` as a KPI dimension and an insights segment.

A CSAT drop carried by the conversations an AI agent handed to a person is found and told in those words, and an
AI containment fall is found with the playbook that reviews the intents the AI failed on.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.detection.engine import detect
from insights.metrics.kpis import compute_from_frames, compute_kpis

FIRST_MONDAY = date(2024, 9, 2)
WEEKS = 27
REVIEW_WEEK = FIRST_MONDAY + timedelta(weeks=WEEKS - 3)  # a week later complete too: 7 days for repeats to show
T_INGEST = datetime(2025, 3, 20, tzinfo=timezone.utc)
TOML = """
[workspace]
name = "blended"
currency = "USD"
[[client]]
id = "acme"
name = "Acme Home"
[[vendor]]
id = "northwind"
name = "Northwind BPO"
[[site]]
id = "nw-manila"
name = "Manila"
vendor = "northwind"
[[user]]
name = "admin"
role = "admin"
"""
# per day: who handled how many chats, and the share of their surveys that were satisfied
DAILY = {"ai_agent": 40, "human_after_ai": 20, "human": 40}
CSAT = {"ai_agent": 0.85, "human_after_ai": 0.85, "human": 0.85}


def _tickets(*, escalated_csat_in_review: float = 0.85, handed_over_in_review: int = 0) -> pl.DataFrame:
    """DAILY's chats; in the review week `handed_over_in_review` of the AI agent's chats a day go to a person, and
    the escalated chats' CSAT is `escalated_csat_in_review`.  1 in 5 AI resolutions comes back the next day."""
    rng = np.random.default_rng(7)
    rows = []
    for day_no in range(WEEKS * 7 - 6):
        day = FIRST_MONDAY + timedelta(days=day_no)
        review = REVIEW_WEEK <= day < REVIEW_WEEK + timedelta(days=7)
        for who, count in DAILY.items():
            for i in range(count):
                created = datetime(day.year, day.month, day.day, 8, tzinfo=timezone.utc) + timedelta(minutes=5 * i)
                p = escalated_csat_in_review if (review and who == "human_after_ai") else CSAT[who]
                handler = "human_after_ai" if review and who == "ai_agent" and i < handed_over_in_review else who
                back = handler == "ai_agent" and rng.random() > 0.8
                tid = f"{who}-{day:%Y%m%d}-{i}"
                rows.append({
                    "source_system": "csv", "source_instance": "blended", "ticket_id": tid, "client_id": "acme",
                    "vendor_id": "northwind", "site_id": "nw-manila", "channel": "chat", "status": "solved",
                    "created_at": created, "resolved_at": created + timedelta(minutes=20), "handled_by": handler,
                    "csat_positive": bool(rng.random() < p), "requester_hash": tid,
                    "updated_at": T_INGEST, "ingested_at": T_INGEST})
                if back:  # the customer came back the next day about what the AI agent 'solved'
                    rows.append({**rows[-1], "ticket_id": f"{tid}-again", "created_at": created + timedelta(days=1),
                                 "resolved_at": created + timedelta(days=1, minutes=30), "handled_by": "human",
                                 "csat_positive": None})
    return pl.DataFrame(rows)


def _workspace(path: Path, **kw: float | int) -> Workspace:
    ws = Workspace.create(path, TOML)
    ws.upsert("tickets", _tickets(**kw))
    return ws


@pytest.fixture(scope="module")
def escalations_drop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return _workspace(tmp_path_factory.mktemp("esc") / "ws", escalated_csat_in_review=0.45)


def test_kpis_split_by_who_handled_it() -> None:
    frames = {"tickets": pl.DataFrame({
        "created_at": [datetime(2025, 3, 4, tzinfo=timezone.utc)] * 5, "channel": ["chat"] * 5,
        "handled_by": ["ai_agent", "ai_agent", "human_after_ai", "human_after_ai", None],
        "csat_positive": [True, True, True, False, False]})}
    out = compute_from_frames(frames, ["csat"], grain="week", by=("handled_by",))
    assert {r["handled_by"]: r["value"] for r in out.iter_rows(named=True)} == {
        "ai_agent": 1.0, "human_after_ai": 0.5, None: 0.0}


def test_csat_drop_carried_by_escalated_conversations_is_found_in_that_segment(escalations_drop: Workspace) -> None:
    found = detect(escalations_drop, Scope.everything(), week=REVIEW_WEEK)
    csat = [i for i in found.insights if i.kpi == "csat" and i.type == "rate_change"]
    segments = [i.segment for i in csat]
    assert {"client_id": "acme", "handled_by": "human_after_ai"} in segments, segments
    escalated = next(i for i in csat if i.segment.get("handled_by") == "human_after_ai")
    assert "handled by a person after AI" in escalated.meaning  # told in words, not as the code human_after_ai
    assert not any(i.segment.get("handled_by") in ("ai_agent", "human") for i in csat)


def test_containment_fall_is_told_with_the_review_of_the_intents_the_ai_failed_on(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws", handed_over_in_review=20)  # the AI agent hands half its chats to a person
    weekly = compute_kpis(ws, Scope.everything(), ["ai_containment_rate", "ai_escalation_rate"], grain="week",
                          start=REVIEW_WEEK - timedelta(weeks=1), end=REVIEW_WEEK + timedelta(days=6))
    values = {(r["kpi"], r["period"] == REVIEW_WEEK): r["value"] for r in weekly.iter_rows(named=True)}
    # 60 AI-involved chats a day: 40 the AI agent's, 4 in 5 of them contained (sampled) -> 2/3 x 0.8; then 20 -> 1/3 x 0.8
    assert values["ai_containment_rate", False] == pytest.approx(2 / 3 * 0.8, abs=0.04)
    assert values["ai_containment_rate", True] == pytest.approx(1 / 3 * 0.8, abs=0.04)
    assert (values["ai_escalation_rate", False], values["ai_escalation_rate", True]) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    found = detect(ws, Scope.everything(), week=REVIEW_WEEK)
    ai = [i for i in found.insights if i.kpi in ("ai_containment_rate", "ai_escalation_rate")
          and i.segment == {"client_id": "acme"} and i.type == "rate_change"]
    assert ai, [(i.kpi, i.segment) for i in found.insights]
    told = " ".join(i.headline + " " + i.meaning for i in ai)
    assert "AI resolution (containment) rate fell" in told and "Escalation rate, AI to a person rose" in told
    assert all(i.action.owner == "AI and knowledge owner" for i in ai)
    assert any("intents the AI agent failed on" in i.action.text or "Review the hand-off" in i.action.text for i in ai)


def test_cli_kpis_by_handled_by_gives_csat_per_handler(escalations_drop: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from insights.cli import main

    week = REVIEW_WEEK.isoformat()
    assert main(["kpis", "--workspace", str(escalations_drop.path), "--kpi", "csat,ai_escalation_rate", "--by", "handled_by",
                 "--from", week, "--to", (REVIEW_WEEK + timedelta(days=6)).isoformat(), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    csat = {r["handled_by"]: r for r in rows if r["kpi"] == "csat"}
    assert set(csat) == {"ai_agent", "human_after_ai", "human"}
    assert csat["human_after_ai"]["n"] == 140 and csat["human_after_ai"]["value"] < csat["human"]["value"]
    escalation = {r["handled_by"]: r["value"] for r in rows if r["kpi"] == "ai_escalation_rate"}
    assert escalation == {"ai_agent": 0.0, "human_after_ai": 1.0, "human": None}  # within a handler, by definition


# ---------------------------------------------------------------- NPS: a difference of two shares, not a proportion


def _nps_workspace(path: Path, *, review_detractors: float) -> Workspace:
    """60 NPS answers a day: 50 % promoters and 20 % detractors (NPS +30); in the review week `review_detractors`."""
    rng = np.random.default_rng(11)
    rows = []
    for day_no in range(WEEKS * 7 - 6):
        day = FIRST_MONDAY + timedelta(days=day_no)
        detractors = review_detractors if REVIEW_WEEK <= day < REVIEW_WEEK + timedelta(days=7) else 0.2
        for i in range(60):
            u = rng.random()
            score = 10.0 if u < 0.5 else (3.0 if u < 0.5 + detractors else 8.0)
            created = datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc) + timedelta(minutes=i)
            rows.append({"source_system": "csv", "source_instance": "nps", "ticket_id": f"{day:%Y%m%d}-{i}",
                         "client_id": "acme", "vendor_id": "northwind", "site_id": "nw-manila", "channel": "email",
                         "status": "solved", "created_at": created, "resolved_at": created + timedelta(hours=1),
                         "survey_type": "nps", "rating_value": score, "updated_at": T_INGEST, "ingested_at": T_INGEST})
    ws = Workspace.create(path, TOML)
    ws.upsert("tickets", pl.DataFrame(rows))
    return ws


def test_an_nps_fall_is_judged_by_the_multinomial_test_and_a_steady_nps_stays_quiet(tmp_path: Path) -> None:
    fell = _nps_workspace(tmp_path / "fell", review_detractors=0.4)  # NPS +30 -> +10
    found = [i for i in detect(fell, Scope.everything(), week=REVIEW_WEEK).insights if i.kpi == "nps"]
    assert found and found[0].type == "rate_change" and found[0].delta < -10
    assert "binomial" not in found[0].test  # promoters minus detractors is not one share of the answers
    assert "multinomial z test of NPS" in found[0].test  # but a difference of two (tests/insights/test_nps_change.py)
    assert found[0].headline.startswith("NPS fell to +")
    steady = _nps_workspace(tmp_path / "steady", review_detractors=0.2)
    assert not [i for i in detect(steady, Scope.everything(), week=REVIEW_WEEK).insights if i.kpi == "nps"]
