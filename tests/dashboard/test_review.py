"""The review object: tiles, series, targets, insights and notices, on the tiny workspace's known numbers."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

import tiny
from connectors.workspace import Scope
from insights.catalog import load_catalog
from insights.review import (
    ReviewError, available_weeks, build_review, format_delta, format_value, material_amount, same_week_last_year,
    wilson_interval,
)

ACME = Scope.of(["acme"], "*")
W = tiny.REVIEW_WEEK


def acme_sla(week: date) -> float:
    return (6 - tiny.breaches((week - tiny.FIRST_MONDAY).days // 7)) / 6


@pytest.fixture(scope="module")
def acme_review(tiny_ws):
    return build_review(tiny_ws, ACME)


def test_the_default_week_is_the_last_complete_week(acme_review):
    assert acme_review.week == W == date(2025, 3, 3)


def test_weeks_are_complete_weeks_newest_first(tiny_ws):
    weeks = available_weeks(tiny_ws, ACME)
    assert (weeks[0], weeks[-1], len(weeks)) == (W, tiny.FIRST_MONDAY, tiny.WEEKS)


def test_a_tile_holds_the_value_and_its_three_comparisons(acme_review):
    t = acme_review.tile("sla_first_response")
    assert (t.value, t.n, t.target) == (pytest.approx(28 / 42), 42, 0.9)
    assert t.vs_last_week == pytest.approx(acme_sla(W) - acme_sla(W - timedelta(weeks=1)))
    assert t.vs_last_year == pytest.approx(acme_sla(W) - acme_sla(date(2024, 3, 4)))
    assert t.vs_target == pytest.approx(28 / 42 - 0.9)
    assert (t.formatted, t.formatted_vs_last_week, t.formatted_vs_target, t.status) == (
        "66.7%", "−16.7 pts", "−23.3 pts", "bad")


def test_tiles_follow_the_weekly_review_preset(acme_review):
    assert [t.kpi for t in acme_review.tiles] == load_catalog().preset("weekly_review")


@pytest.mark.parametrize(("filters", "tickets"), [
    pytest.param({}, 42, id="acme"),
    pytest.param({"channel": "email"}, 21, id="channel"),
    pytest.param({"site": "sp-austin"}, 21, id="site"),
    pytest.param({"vendor": "northwind", "channel": "voice"}, None, id="no-work-no-value"),
    pytest.param({"client": "globex"}, None, id="a-filter-never-widens-the-scope"),
])
def test_filters_narrow_the_view(tiny_ws, filters, tickets):
    review = build_review(tiny_ws, ACME, week=W, filters=filters)
    assert review.tile("tickets_created").value == tickets


def test_a_filter_outside_the_scope_shows_no_data_rather_than_someone_elses(tiny_ws):
    review = build_review(tiny_ws, ACME, filters={"client": "globex"})
    assert [n.kind for n in review.notices] == ["no_data"]
    assert all(t.value is None for t in review.tiles)


def test_unknown_filters_are_refused_with_the_valid_names(tiny_ws):
    with pytest.raises(ReviewError, match=r"unknown review filter\(s\): queue; use client, vendor, site, channel"):
        build_review(tiny_ws, ACME, filters={"queue": "x"})


def test_the_series_has_52_weeks_with_the_prior_year_aligned_by_iso_week(acme_review):
    s = acme_review.series("sla_first_response")
    assert s.columns == ["period", "value", "n", "prior_year", "target"]
    assert (s.height, s["period"][0], s["period"][-1]) == (52, W - timedelta(weeks=51), W)
    last = s.row(-1, named=True)
    assert last["prior_year"] == pytest.approx(acme_sla(date(2024, 3, 4)))
    assert last["target"] == 0.9
    before_data = s.filter(pl.col("period") < tiny.FIRST_MONDAY + timedelta(weeks=52))
    assert before_data["prior_year"].null_count() == before_data.height


@pytest.mark.parametrize(("week", "expected"), [
    pytest.param(date(2025, 3, 3), date(2024, 3, 4), id="same-iso-week"),
    pytest.param(date(2021, 1, 4), date(2019, 12, 30), id="iso-week-1-can-start-in-december"),
    pytest.param(date(2026, 12, 28), None, id="week-53-has-no-twin-in-a-52-week-year"),
])
def test_same_week_last_year_is_the_iso_week_a_year_earlier(week, expected):
    assert same_week_last_year(week) == expected


def test_target_misses_are_listed_largest_first(acme_review):
    # first response 66.7 % vs 90 %; CSAT 35/42 = 83.3 % vs the catalog's 85 %
    assert [i.kpi for i in acme_review.insights] == ["sla_first_response", "csat"]
    assert acme_review.insights[0].score > acme_review.insights[1].score


def test_a_target_miss_carries_a_wilson_interval_and_honest_fields(acme_review):
    miss = acme_review.insights[0]
    lo, hi = proportion_confint(28, 42, alpha=0.05, method="wilson")
    assert (miss.type, miss.kpi, miss.observed, miss.expected, miss.n) == (
        "target_miss", "sla_first_response", pytest.approx(28 / 42), 0.9, 42)
    assert miss.ci == (pytest.approx(lo), pytest.approx(hi))
    assert (miss.confidence, miss.test, miss.p_value, miss.impact) == ("high", "wilson_95", None, None)
    record = miss.to_dict()
    assert record["period"] == {"start": "2025-03-03", "end": "2025-03-09"}
    assert record["action"]["verify_kpi"] == "sla_first_response"
    assert record["headline"].startswith("SLA attainment (first response) 66.7% in the week of 03 Mar 2025, "
                                          "23.3 pts below the 90.0% target")


def test_insight_ids_are_stable_across_runs(tiny_ws, acme_review):
    assert build_review(tiny_ws, ACME).insights[0].id == acme_review.insights[0].id


def test_no_target_miss_when_targets_are_met(tiny_ws):
    review = build_review(tiny_ws, ACME, filters={"channel": "chat"})  # chat tickets never breach, all satisfied
    assert review.tile("sla_first_response").status == "good"
    assert review.insights == ()


@pytest.mark.parametrize(("scope", "filters", "target", "differ"), [
    pytest.param(ACME, {}, 0.9, False, id="the-clients-contract"),
    pytest.param(Scope.everything(), {"client": "globex"}, 0.777, False, id="the-other-clients-contract"),
    pytest.param(Scope.everything(), {}, 0.9, True, id="clients-differ-catalog-default"),
])
def test_targets_come_from_the_contract_else_the_catalog(tiny_ws, scope, filters, target, differ):
    review = build_review(tiny_ws, scope, filters=filters)
    assert review.target("sla_first_response") == pytest.approx(target)
    assert any(n.kind == "targets_differ" for n in review.notices) is differ
    assert review.target("csat") == load_catalog().kpis["csat"].target


def test_notices_name_empty_tables_and_missing_days(tmp_path):
    ws = tiny.build(tmp_path / "w", skip_days=(W + timedelta(days=1), W + timedelta(days=3)))
    kinds = {n.kind: n.message for n in build_review(ws, ACME).notices}
    assert "has no data on Tue, Thu" in kinds["missing_days"]
    assert kinds["empty_table"].startswith("No rows yet in contact_intervals, qa_evaluations")


def test_a_client_without_data_is_told_how_to_start(tiny_ws):
    review = build_review(tiny_ws, Scope.of(["initech"], "*"))
    assert [str(n) for n in review.notices] == ["No data for client 'initech' yet: import a file or add a source."]
    assert not review.has_data


@pytest.mark.parametrize(("value", "unit", "fmt", "text"), [
    pytest.param(0.91234, "percent", ".1%", "91.2%", id="percent"),
    pytest.param(1204.0, "count", ",.0f", "1,204", id="count"),
    pytest.param(42.4, "seconds", ",.0f", "42s", id="seconds"),
    pytest.param(3599.6, "seconds", ",.0f", "1h 00m", id="rounds-up-to-an-hour"),
    pytest.param(252.0, "seconds", ",.0f", "4m 12s", id="minutes"),
    pytest.param(None, "percent", ".1%", "–", id="none"),
])
def test_values_are_formatted_as_people_read_them(value, unit, fmt, text):
    assert format_value(value, unit, fmt) == text


@pytest.mark.parametrize(("delta", "unit", "text"), [
    pytest.param(0.012, "percent", "+1.2 pts", id="points"),
    pytest.param(-185.0, "seconds", "−3m 05s", id="duration"),
    pytest.param(0.0, "count", "±0", id="no-change"),
    pytest.param(None, "count", "–", id="nothing-to-compare"),
])
def test_changes_carry_their_sign_and_unit(delta, unit, text):
    assert format_delta(delta, unit, ",.0f") == text


@pytest.mark.parametrize(("k", "n"), [(0, 10), (28, 42), (95, 100), (1, 1)])
def test_wilson_matches_statsmodels(k, n):
    assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"))


def test_wilson_needs_trials():
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(("materiality", "unit", "baseline", "amount"), [
    pytest.param(0.02, "percent", 0.9, 0.02, id="rates-move-in-points"),
    pytest.param(0.1, "seconds", 600.0, 60.0, id="durations-move-by-a-share"),
    pytest.param(0.05, "count", 400.0, 20.0, id="counts-move-by-a-share"),
    pytest.param(0.05, "count", None, 0.05, id="no-baseline"),
])
def test_the_smallest_change_worth_a_colour(materiality, unit, baseline, amount):
    assert material_amount(materiality, unit, baseline) == pytest.approx(amount)
