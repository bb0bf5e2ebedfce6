"""The Quality & coaching page in AppTest: the tiny workspace plus planted QA evaluations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

import tiny
from pages import TITLES, USERS, open_page

EVALUATORS = {"qa-1": -0.04, "qa-2": 0.0, "qa-3": 0.04}


def qa_rows() -> pl.DataFrame:
    """12 evaluations a week for 4 weeks of 8 acme agents at nw-manila; 'nw-weak' is 12 points weaker on accuracy."""
    rows = []
    start = datetime(2025, 2, 10, 10, tzinfo=timezone.utc)
    for a in [f"nw-{i}" for i in range(7)] + ["nw-weak"]:
        for k in range(12):
            ev = list(EVALUATORS)[k % 3]
            wiggle = ((k * 7 + len(a)) % 5 - 2) / 100  # deterministic spread of ±2 pts
            acc = 0.9 - (0.12 if a == "nw-weak" else 0.0) + wiggle + EVALUATORS[ev]
            sections = {"accuracy": acc, "empathy": 0.88 + wiggle, "brand_voice": 0.86 - wiggle,
                        "compliance": 0.95 + EVALUATORS[ev]}
            auto = a == "nw-0" and k == 0
            rows.append({"source_system": "csv", "source_instance": "tiny", "evaluation_id": f"{a}-{k}",
                         "client_id": "acme", "vendor_id": "northwind", "site_id": "nw-manila", "agent_id": a,
                         "evaluator_id": ev, "evaluated_at": start + timedelta(days=2 * k, minutes=len(rows)),
                         "score": 0.0 if auto else round(25 * sum(sections.values()), 1), "max_score": 100.0,
                         "passed": not auto, "auto_fail": auto, "auto_fail_reason": "disclosure missed" if auto else None,
                         **{f"section_{s}": v for s, v in sections.items()},
                         "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def qa_ws(tmp_path_factory):
    ws = tiny.build(tmp_path_factory.mktemp("qa") / "ws")
    ws.upsert("qa_evaluations", qa_rows())
    return ws


@pytest.mark.parametrize("user", USERS)
def test_renders_for_every_viewer(monkeypatch, qa_ws, user):
    at = open_page(monkeypatch, qa_ws, user, "quality")
    assert not at.exception
    assert at.title[0].value == TITLES["quality"]


def test_sections_reasons_calibration_and_the_coaching_list(monkeypatch, qa_ws):
    at = open_page(monkeypatch, qa_ws, "admin", "quality", {"client": "acme"})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Agents to coach"] == "1" and metrics["Auto-fails in the window"] == "1"
    coaching = at.dataframe[0].value
    assert coaching[["agent_id", "coach on"]].values.tolist() == [["nw-weak", "Accuracy"]]
    assert coaching["gap (pts)"].iloc[0] == pytest.approx(-12.0, abs=1.0)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("QA score by section" in s for s in titles) and any("Evaluator calibration" in s for s in titles)
    assert any("Widest spread: Manila" in c.value for c in at.caption)


def test_a_view_without_evaluations_says_what_to_do(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "quality", {"client": "acme"})
    assert "No data for QA evaluations in this view yet: import a file" in at.warning[0].value
