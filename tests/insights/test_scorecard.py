"""Scorecard, direct standardisation, funnel limits and concentration, against hand-worked numbers."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from _tiny import tiny
from connectors.store import Scope, Workspace
from insights.metrics.kpis import compute_kpis
from insights.analyses.pricing import cost_per_contact
from insights.analyses.scorecard import (Scorecard, ScorecardError, funnel, funnel_limits, mix_adjusted, scorecard, site_groups,
                                standardise)

WEEK = tiny.REVIEW_WEEK

@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return tiny.build(tmp_path_factory.mktemp("scorecard") / "ws")

def test_standardisation_reweights_each_entity_to_the_pooled_mix():
    # A serves the easy stratum mostly, B the hard one: equal crude rates, different adjusted ones
    rates = pl.DataFrame({"entity": ["A", "A", "B", "B"], "stratum": ["easy", "hard", "easy", "hard"],
                          "numerator": [90.0, 5.0, 10.0, 85.0], "denominator": [100.0, 10.0, 10.0, 100.0]})
    out = {r["entity"]: r for r in standardise(rates).iter_rows(named=True)}
    assert out["A"]["crude"] == pytest.approx(95 / 110)
    assert out["B"]["crude"] == pytest.approx(95 / 110)
    # pooled mix: easy 110/220, hard 110/220
    assert out["A"]["adjusted"] == pytest.approx(0.5 * 0.9 + 0.5 * 0.5)
    assert out["B"]["adjusted"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.85)
    assert out["A"]["adjustment"] == pytest.approx(0.7 - 95 / 110)
    assert out["A"]["coverage"] == pytest.approx(1.0)

def test_an_entity_missing_a_stratum_is_standardised_over_what_it_serves():
    rates = pl.DataFrame({"entity": ["A", "B", "B"], "stratum": ["x", "x", "y"],
                          "numerator": [8.0, 6.0, 10.0], "denominator": [10.0, 10.0, 20.0]})
    a = standardise(rates).filter(pl.col("entity") == "A").row(0, named=True)
    assert (a["adjusted"], a["coverage"]) == (pytest.approx(0.8), pytest.approx(0.5))

@pytest.mark.parametrize(("peer", "n", "z", "expected"), [
    pytest.param(0.5, 100, 1.959963984540054, (0.5 - 0.0979982, 0.5 + 0.0979982), id="95-at-100"),
    pytest.param(0.9, 10_000, 3.090232306167813, (0.9 - 0.00927070, 0.9 + 0.00927070), id="99.8-at-10k"),
    pytest.param(0.99, 4, 1.959963984540054, (0.99 - 0.0975064, 1.0), id="clipped-at-one"),
])
def test_funnel_limits_are_the_binomial_normal_limits(peer, n, z, expected):
    assert funnel_limits(peer, n, z) == pytest.approx(expected, abs=1e-6)

def test_funnel_status_says_which_side_of_the_limits():
    points = pl.DataFrame({"entity": ["low", "mid", "high", "watch"], "numerator": [300.0, 500.0, 700.0, 112.0],
                           "denominator": [1000.0, 1000.0, 1000.0, 200.0]})
    out = dict(funnel(points, peer=0.5).select("entity", "status").iter_rows())
    # 200 at 0.56: outside 95 % (0.5 ± 0.069) is not, at 112/200 = 0.56 it is inside; 0.3/0.7 at n 1000 are far out
    assert out == {"low": "below", "mid": "within", "high": "above", "watch": "within"}

def test_the_scorecard_puts_outcomes_first_and_compares_with_the_peer(ws):
    card = scorecard(ws, Scope.everything(), level="vendor", week=WEEK, weeks=1, filters={"client": "acme"})
    assert card.frame["group"].unique(maintain_order=True).to_list()[0] == "Outcomes"
    csat = {r["entity"]: r for r in card.frame.filter(pl.col("kpi") == "csat").iter_rows(named=True)}
    assert csat["northwind"]["value"] == pytest.approx(1.0)  # tickets 0, 2, 4: all satisfied
    assert csat["southpeak"]["value"] == pytest.approx(14 / 21)  # ticket 5 is the unhappy one
    assert csat["southpeak"]["peer"] == pytest.approx(35 / 42)
    assert (csat["northwind"]["better"], csat["southpeak"]["better"]) == (True, False)
    assert dict(card.volume.select("entity", "share").iter_rows()) == {"northwind": 0.5, "southpeak": 0.5}
    assert card.hhi == pytest.approx(5000)

def test_mix_adjustment_separates_equal_crude_rates(ws):
    out = mix_adjusted(ws, Scope.everything(), kpi="sla_first_response", level="vendor", week=WEEK, weeks=1,
                       filters={"client": "acme"})
    got = {r["entity"]: r for r in out.iter_rows(named=True)}
    # pooled channel mix: email 1/2, chat 1/3, voice 1/6; northwind email 7/14 chat 7/7; southpeak email 0/7, chat, voice 7/7
    assert got["northwind"]["crude"] == pytest.approx(2 / 3) and got["southpeak"]["crude"] == pytest.approx(2 / 3)
    assert got["northwind"]["adjusted"] == pytest.approx((0.5 * 0.5 + 1 / 3) / (5 / 6))
    assert got["southpeak"]["adjusted"] == pytest.approx(0.5)
    assert got["northwind"]["coverage"] == pytest.approx(5 / 6)
    assert out["peer"][0] == pytest.approx(2 / 3)

@pytest.mark.parametrize(("call", "message"), [
    pytest.param(lambda ws: scorecard(ws, Scope.everything(), level="queue", week=WEEK), "unknown scorecard level 'queue'",
                 id="level"),
    pytest.param(lambda ws: mix_adjusted(ws, Scope.everything(), kpi="first_response_time_median", level="site", week=WEEK),
                 "only ratio KPIs", id="quantile"),
])
def test_bad_requests_name_the_fix(ws, call, message):
    with pytest.raises(ScorecardError, match=message):
        call(ws)

def test_a_brand_scorecard_holds_only_its_own_work(ws):
    card = scorecard(ws, Scope.of(clients=["acme"]), level="site", week=WEEK, weeks=4)
    assert set(card.frame["entity"]) == {"nw-manila", "sp-austin"}  # never globex's zz-globex-only-site

def test_site_groups_come_from_bpo_toml(ws):
    groups = site_groups(ws)
    assert dict(groups.select("site_id", "tier").iter_rows()) == {"nw-manila": "offshore", "sp-austin": "onshore"}

def test_a_kpi_comparable_only_within_a_channel_is_compared_per_channel_never_pooled(ws):
    """Southpeak's acme work includes voice (answered in minutes) where Northwind has none: a pooled first-response
    median made Southpeak look fast; each channel is now compared with the peer in that channel."""
    card = scorecard(ws, Scope.everything(), level="vendor", week=WEEK, weeks=4, filters={"client": "acme"})
    frt = card.frame.filter(pl.col("kpi") == "first_response_time_median")
    cells = {(r["within"], r["entity"]): r for r in frt.iter_rows(named=True)}
    assert set(cells) == {("chat", "northwind"), ("chat", "southpeak"), ("email", "northwind"),
                          ("email", "southpeak"), ("voice", "southpeak")}
    assert cells[("voice", "southpeak")]["peer"] == cells[("voice", "southpeak")]["value"]  # the only one there
    assert frt.filter(pl.col("within").is_null()).is_empty()
    assert card.frame.filter(pl.col("kpi") == "csat").get_column("within").null_count() == 2  # ratios stay pooled


def test_a_median_and_a_count_over_the_window_are_the_kpi_engines_over_that_window(ws):
    """Northwind's acme email over three weeks: 28 first replies in 30 min and 14 in 5 h (the breaching weeks
    hold 7 of each).  The window's median is 30 min; the volume-weighted mean of weekly medians read 2 h."""
    start, end = WEEK - timedelta(weeks=2), WEEK + timedelta(days=6)
    card = scorecard(ws, Scope.everything(), level="vendor", week=WEEK, weeks=3, filters={"client": "acme"})
    frt = card.frame.filter(pl.col("kpi") == "first_response_time_median")
    engine = compute_kpis(ws, Scope.of(["acme"]), ["first_response_time_median"], grain="window",
                          by=("vendor_id", "channel"), start=start, end=end)
    want = {(r["vendor_id"], r["channel"]): r["value"] for r in engine.iter_rows(named=True)}
    got = {(r["entity"], r["within"]): r["value"] for r in frt.iter_rows(named=True)}
    assert got == want and got[("northwind", "email")] == 1800.0
    peer = compute_kpis(ws, Scope.of(["acme"]), ["first_response_time_median"], grain="window", by=("channel",),
                        start=start, end=end)
    assert dict(frt.select("within", "peer").unique().iter_rows()) == dict(peer.select("channel", "value").iter_rows())
    tickets = ws.read("tickets", Scope.of(["acme"])).filter(pl.col("created_at").dt.date().is_between(start, end))
    assert dict(card.volume.select("entity", "tickets").iter_rows()) == {
        v: float(n) for v, n in tickets.group_by("vendor_id").len().iter_rows()}  # 63 each (was a mean of weeks)


# --------------------------------------------------------------------------- cost: one definition, invoiced days only

COST_TOML = """[workspace]
name = "cost test"
currency = "USD"
[[client]]
id = "acme"
"""
OCT = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture(scope="module")
def billed(tmp_path_factory) -> Workspace:
    """Oct–Nov 2026: 10 tickets solved a day at northwind and at in_house; northwind billed 3,100 for October only."""
    from datetime import datetime, timezone

    ws = Workspace.create(tmp_path_factory.mktemp("cost") / "ws", COST_TOML)
    rows = []
    for vendor in ("northwind", "in_house"):
        for day in range(61):
            for i in range(10):
                at = datetime(2026, 10, 1, 9, tzinfo=timezone.utc) + timedelta(days=day, minutes=i)
                rows.append(dict(source_system="test", source_instance="t", client_id="acme", vendor_id=vendor,
                                 site_id=f"{vendor}-1", ticket_id=f"{vendor}-{day}-{i}", channel="email", status="solved",
                                 created_at=at, resolved_at=at + timedelta(minutes=30)))
    ws.upsert("tickets", pl.DataFrame(rows))
    ws.upsert("cost_invoices", pl.DataFrame([dict(
        source_system="test", source_instance="t", client_id="acme", vendor_id="northwind", site_id="northwind-1",
        invoice_id="NW-10", line_no=1, period_start=OCT[0], period_end=OCT[1], channel=None, billing_model="per_hour",
        quantity=206.67, unit_rate=15.0, amount=3100.0, currency="USD", committed_volume=None)]))
    return ws


def cost_cell(card: Scorecard, entity: str) -> dict:
    return card.frame.filter((pl.col("kpi") == "cost_per_resolved_contact") & (pl.col("entity") == entity)).row(0, named=True)


def test_cost_per_resolved_contact_runs_over_fully_invoiced_weeks_and_agrees_with_the_cost_page_and_kpis(billed):
    admin = Scope.everything()
    # window 12 Oct – 8 Nov: weeks of 12 and 19 Oct are billed whole (14 days × 100 / 14 days × 10 solved = 10.00);
    # 26 Oct – 1 Nov is billed 6 days of 7 and 2 – 8 Nov not at all, so neither counts (before: 2,000 / 280 = 7.14)
    card = scorecard(billed, admin, level="vendor", week=date(2026, 11, 2))
    cell = cost_cell(card, "northwind")
    assert cell["value"] == pytest.approx(10.0)
    assert cell["note"] == "fully invoiced weeks only: invoices run to 31 Oct 2026"
    assert cost_cell(card, "in_house")["value"] is None
    assert cost_cell(card, "in_house")["note"] == "not invoiced (no invoice line bills this work)"
    # the Cost page and `kpis` read the same definition: October 3,100 / 310 solved
    page = cost_per_contact(billed, admin, by=("vendor_id",)).filter(pl.col("vendor_id") == "northwind")
    assert page.select("month", "cost_per_resolved").rows() == [(date(2026, 10, 1), pytest.approx(10.0))]
    weekly = compute_kpis(billed, admin, ["cost_per_resolved_contact"], grain="week", by=("vendor_id",),
                          start=date(2026, 10, 12), end=date(2026, 11, 8)).filter(pl.col("vendor_id") == "northwind")
    assert weekly.select("period", "value").rows() == [
        (date(2026, 10, 12), pytest.approx(10.0)), (date(2026, 10, 19), pytest.approx(10.0)),
        (date(2026, 10, 26), None), (date(2026, 11, 2), None)]


def test_a_window_with_no_fully_invoiced_week_has_no_cost_and_says_why(billed):
    card = scorecard(billed, Scope.everything(), level="vendor", week=date(2026, 11, 16))
    cell = cost_cell(card, "northwind")
    assert (cell["value"], cell["note"]) == (None, "not fully invoiced: invoices run to 31 Oct 2026")


@pytest.mark.parametrize(("week", "value", "status"), [
    pytest.param(date(2026, 10, 19), 10.0, "neutral", id="fully-invoiced-week"),  # 700 / 70 solved
    pytest.param(date(2026, 10, 26), None, "neutral", id="billed-6-of-7-days"),  # before: 600 / 70 = 8.57
    pytest.param(date(2026, 11, 2), None, "neutral", id="not-billed-yet"),
])
def test_a_week_tile_shows_cost_only_for_a_fully_invoiced_week(billed, week, value, status):
    from insights.review import build_review

    tile = build_review(billed, Scope.everything(), week=week, filters={"vendor": "northwind"}).tile("cost_per_contact")
    assert tile.value == (None if value is None else pytest.approx(value))
    assert tile.status == status
