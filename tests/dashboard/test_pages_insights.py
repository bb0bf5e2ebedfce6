"""The Insights page in AppTest: every insight of the week, filters, and the action log in the metadata db."""

from __future__ import annotations

import re

import pytest

from insights.detection import insight_log
from pages import TITLES, USERS, open_page


@pytest.mark.parametrize("user", USERS)
def test_renders_for_every_viewer(monkeypatch, tiny_ws, user):
    at = open_page(monkeypatch, tiny_ws, user, "insights")
    assert not at.exception
    assert at.title[0].value == TITLES["insights"]


def test_lists_the_weeks_insights_with_what_means_and_do(monkeypatch, planted_ws):
    from connectors.store import Scope
    from insights.detection.engine import detect

    at = open_page(monkeypatch, planted_ws, "admin", "insights", {"client": "acme"})
    top = detect(planted_ws, Scope.of(["acme"], "*"), filters={"client": "acme"}).top
    text = " ".join(m.value for m in at.markdown)
    assert [f"**{r}. {i.headline}**" in text for r, i in enumerate(top, 1)] == [True] * len(top)
    assert "against the 90.0% target" in text
    assert "*What it means:*" in text and "*What to do:*" in text
    assert any(re.match(rf"^{len(top)} of {len(top)} insights", c.value) for c in at.caption)  # no filter hides any
    assert {s.key.removeprefix("status_") for s in at.selectbox if s.key and s.key.startswith("status_")} == {
        i.id for i in top}  # the action log is keyed by the engine's stable ids


def test_thin_weeks_show_no_insight(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "insights", {"client": "acme"})
    assert [s.value for s in at.success] == [
        "No insights this week: no target missed and nothing changed enough to report."]


def test_acknowledge_assign_and_record_the_action(monkeypatch, tmp_path):
    import tiny

    ws = tiny.build_planted(tmp_path / "ws")
    at = open_page(monkeypatch, ws, "acme-manager", "insights")
    status = next(s for s in at.selectbox if s.key and s.key.startswith("status_"))
    iid = status.key.removeprefix("status_")
    status.set_value("in_progress")
    at.text_input(key=f"owner_{iid}").input("Northwind AM")
    at.text_area(key=f"action_{iid}").input("Two agents moved to email for 3 weeks")
    next(b for b in at.button if "Save" in b.label).click().run()
    assert not at.exception
    state = insight_log.get(ws, iid, tenant="brand:acme")
    assert (state.status, state.owner, state.action_taken, state.updated_by) == (
        "in_progress", "Northwind AM", "Two agents moved to email for 3 weeks", "acme-manager")
    assert any("Action in progress" in c.value and "Northwind AM" in c.value for c in at.caption)
    at.multiselect(key="ins_status").set_value(["done"]).run()
    assert any(c.value.startswith("0 of ") for c in at.caption)


def test_a_client_without_data_is_told_how_to_start(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "initech-manager", "insights")
    assert [w.value for w in at.warning] == ["No data for client 'initech' yet: import a file or add a source."]
