"""Novelty in ranking comes from what people recorded on the Insights page (the action log)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from connectors.store import Scope
from insights.detection import insight_log
from insights.detection.engine import detect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
import tiny  # noqa: E402 - the planted-miss workspace of the dashboard suite


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return tiny.build_planted(tmp_path_factory.mktemp("planted") / "ws")


def _found(ws):
    return [i for i in detect(ws, Scope.everything(), filters={"client": "acme"}).insights if i.type != "data_quality"]


@pytest.mark.parametrize(("status", "factor"), [("not_useful", 0.2), ("acknowledged", 0.5), ("done", 1.0)])
def test_an_insight_the_team_already_handled_ranks_lower_on_the_next_run(planted, status, factor):
    before = {i.id: i for i in _found(planted)}
    assert before, "the planted workspace must raise at least one insight"
    first = max(before.values(), key=lambda i: i.score)
    insight_log.record(planted, first.id, user="admin", tenant=insight_log.ADMIN, status=status)
    try:
        after = {i.id: i for i in _found(planted)}
        assert first.id in after  # stable id: the same finding on a re-run
        assert after[first.id].score == pytest.approx(first.score * factor, abs=1e-3)
        assert after[first.id].evidence["factors"]["novelty"] == pytest.approx(
            first.evidence["factors"]["novelty"] * factor, abs=1e-4)
        assert after[first.id].evidence.get("log_status", "new") in (status, "new")
        others = [i for i in after.values() if i.id != first.id]
        assert all(after[i.id].score == before[i.id].score for i in others)
    finally:
        insight_log.record(planted, first.id, user="admin", tenant=insight_log.ADMIN, status="new")
