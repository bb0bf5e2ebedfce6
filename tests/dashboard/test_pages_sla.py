"""The SLA trends page in AppTest on the tiny workspace (acme: 90 % first-response contract)."""

from __future__ import annotations

import json

import pytest

import tiny
from pages import TITLES, USERS, open_page


@pytest.mark.parametrize("user", USERS)
def test_renders_for_every_viewer(monkeypatch, tiny_ws, user):
    at = open_page(monkeypatch, tiny_ws, user, "sla_trends")
    assert not at.exception
    assert at.title[0].value == TITLES["sla_trends"]


def test_the_contract_table_and_the_headline_numbers(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "sla_trends", {"client": "acme"})
    targets = at.dataframe[0].value
    row = targets.set_index("target").loc["acme-frt"]
    assert (row["attainment"], row["target value"]) == ("66.7%", "90.0%")  # 28 of 42, each KPI in its own format
    assert (row["status"], row["streak (weeks)"], row["weeks missed"]) == ("▼ missed", 2, 18)
    assert {m.label: m.value for m in at.metric}["Missed this week"] == "1"


def test_attainment_by_channel_with_the_contract_line(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "sla_trends", {"client": "acme"})
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"]: t for t in spec["data"]}
    assert {"email", "chat", "voice", "contract target"} <= set(lines)
    assert lines["email"]["y"][-1] == pytest.approx(7 / 21)
    assert set(lines["contract target"]["y"]) == {0.9}


def test_the_drilldown_lists_the_tickets_behind_the_worst_point(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "sla_trends", {"client": "acme"})
    tickets = at.dataframe[1].value
    assert at.selectbox(key="sla_drill_segment").value == "email"  # the worst line this week
    assert len(tickets) == 21 and tickets["first_response_breached"].sum() == 14
    assert tickets["ticket_id"].iloc[0] == "acme-20250303-0"
    assert "first reply after 5.0 h against a 1.0 h target" in set(tickets["breach_reason"])
    at.selectbox(key="sla_drill_segment").set_value("chat").run()
    assert at.dataframe[1].value["first_response_breached"].sum() == 0


def test_a_brand_never_sees_another_brands_contract_or_tickets(monkeypatch, tiny_ws, rendered_text):
    at = open_page(monkeypatch, tiny_ws, "acme-manager", "sla_trends")
    text = rendered_text(at)
    assert [m for m in tiny.GLOBEX_MARKERS if m in text] == []
    assert not at.exception


def test_no_data_says_what_to_do(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "initech-manager", "sla_trends")
    assert "import a file" in at.warning[0].value


@pytest.mark.parametrize("page", ["sla_trends", "vendors_sites", "quality", "insights"])
def test_the_week_line_names_the_reporting_calendar_like_the_weekly_review(monkeypatch, tiny_ws, page):
    at = open_page(monkeypatch, tiny_ws, "admin", page, {"client": "acme"})
    assert not at.exception
    assert any("(2025-W" in c.value and ", UTC)" in c.value for c in at.caption), [c.value for c in at.caption]
