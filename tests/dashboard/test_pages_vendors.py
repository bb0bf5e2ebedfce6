"""The Vendors & sites page in AppTest on the tiny workspace."""

from __future__ import annotations

import json

import pytest

import tiny
from pages import TITLES, USERS, open_page


@pytest.mark.parametrize("user", USERS)
def test_renders_for_every_viewer(monkeypatch, tiny_ws, user):
    at = open_page(monkeypatch, tiny_ws, user, "vendors_sites")
    assert not at.exception
    assert at.title[0].value == TITLES["vendors_sites"]


def test_the_scorecard_puts_outcomes_first_and_shows_the_peer(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "vendors_sites", {"client": "acme"})
    card = at.dataframe[0].value
    assert card["group"].iloc[0] == "Outcomes" and card["KPI"].iloc[0] == "CSAT (top box)"
    csat = card.set_index("KPI").loc["CSAT (top box)"]
    assert csat["peer"] == f"{35 / 42:.1%}"  # over the last 4 weeks the daily pattern is the same
    assert csat["Northwind BPO"].startswith("100.0% (+16.7 pts ✔)")
    assert csat["Southpeak Contact"].startswith("66.7% (−16.7 pts ✖)")


def test_the_mix_adjusted_comparison_shows_the_adjustment(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "vendors_sites", {"client": "acme"})
    at.selectbox(key="vs_kpi").set_value("sla_first_response").run()
    mix = at.dataframe[1].value.set_index("entity")
    assert set(mix.index) == {"Northwind BPO", "Southpeak Contact"}
    assert (mix["adjusted"] - mix["crude"]).to_dict() == pytest.approx(mix["adjustment"].to_dict())
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {"as measured", "mix-adjusted (same channel mix for all)"} <= {t.get("name") for t in spec["data"]}


def test_volume_share_and_concentration(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "vendors_sites", {"client": "acme"})
    assert {m.label: m.value for m in at.metric}["Concentration (HHI)"] == "5,000"


def test_a_vendor_sees_only_itself(monkeypatch, tiny_ws, rendered_text):
    at = open_page(monkeypatch, tiny_ws, "northwind-am", "vendors_sites", {"client": "acme"})
    assert [c for c in at.dataframe[0].value.columns if c not in ("group", "KPI", "peer")] == ["Northwind BPO"]
    assert "Southpeak" not in rendered_text(at)
    assert [m for m in tiny.GLOBEX_MARKERS if m in rendered_text(at)] == []


def test_a_vendor_alone_in_the_view_is_its_own_peer_and_gets_no_better_or_worse_marks(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "northwind-am", "vendors_sites")
    assert any("is its own peer" in i.value for i in at.info)
    card = at.dataframe[0].value
    assert not card.drop(columns=["group", "KPI", "peer"]).apply(lambda c: c.str.contains("✔|✖")).any().any()


def test_first_response_median_is_compared_per_channel_with_a_note(monkeypatch, tiny_ws):
    at = open_page(monkeypatch, tiny_ws, "admin", "vendors_sites", {"client": "acme"})
    card = at.dataframe[0].value.set_index("KPI")
    assert "First response time (median)" not in card.index  # never over a mixed pool of channels
    voice = card.loc["First response time (median) · voice"]
    assert voice["Southpeak Contact"].startswith("30.0 min") and "✔" not in voice["Southpeak Contact"]
    assert voice.isna()["Northwind BPO"]  # Northwind answers no acme voice: nothing to compare
    assert {"First response time (median) · chat", "First response time (median) · email"} <= set(card.index)
    assert any("Compared within one channel" in c.value for c in at.caption)
