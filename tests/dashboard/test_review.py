"""The review object: tiles, series, targets and notices on the tiny workspace's known numbers; the engine's
ranked insights on the planted-miss workspace."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

import tiny
from connectors.store import Scope
from insights.detection import stats
from insights.catalog import load_catalog
from insights.detection import Insight, detect
from insights.errors import ViewError
from insights.review import (
    available_weeks, build_review, material_amount, same_week_last_year,
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
    with pytest.raises(ViewError, match=r"unknown view filter\(s\): queue; use client, vendor, site, channel"):
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


def planted_email_week(ws) -> tuple[int, int]:
    """(met, tickets) of acme email first responses in the review week, counted from the tickets themselves."""
    t = ws.read("tickets", ACME).filter((pl.col("channel") == "email") & (pl.col("created_at").dt.date() >= W)
                                        & (pl.col("created_at").dt.date() <= W + timedelta(days=6)))
    return int((~t["first_response_breached"]).sum()), t.height


@pytest.fixture(scope="module")
def planted_review(planted_ws):
    return build_review(planted_ws, ACME)


def test_the_review_lists_the_engines_top_insights_for_the_same_week(planted_ws, planted_review):
    findings = detect(planted_ws, ACME)
    assert findings.week == planted_review.week == W  # both default to the last complete week
    assert [i.id for i in planted_review.insights] == [i.id for i in findings.top]
    assert all(isinstance(i, Insight) for i in planted_review.insights)
    assert 1 <= len(planted_review.insights) <= 7


def test_a_planted_miss_is_a_target_miss_with_its_wilson_interval(planted_ws, planted_review):
    miss = next(i for i in planted_review.insights if i.type == "target_miss")
    met, n = planted_email_week(planted_ws)
    assert (miss.kpi, miss.segment, miss.n, miss.expected) == (
        "sla_first_response", {"client_id": "acme", "channel": "email"}, n, 0.9)
    assert miss.observed == pytest.approx(met / n)
    sigma = miss.evidence["sigma_z"]
    assert miss.ci == pytest.approx(stats.wilson_interval(met, n, z=stats.Z95 * max(sigma, 1.0)))
    assert miss.ci[1] < 0.9 and miss.evidence["certain"]  # the whole interval misses the target
    assert (miss.tier, miss.confidence_label) == ("headline", "high")
    record = miss.to_dict()
    assert record["period"] == {"start": "2025-03-03", "end": "2025-03-09"}
    assert (miss.period_start, miss.period_end) == (W, W + timedelta(days=6))
    assert record["action"]["verify_kpi"] == "sla_first_response"
    assert "against the 90.0% target" in record["headline"]


def test_insight_ids_are_stable_across_runs(planted_ws, planted_review):
    assert [i.id for i in build_review(planted_ws, ACME).insights] == [i.id for i in planted_review.insights]


@pytest.mark.parametrize(("filters", "missed"), [
    pytest.param({"channel": "email"}, True, id="the-missing-channel"),
    pytest.param({"channel": "chat"}, False, id="a-channel-that-met-its-target"),
    # the planted email miss is at every acme site, so sp-austin's own email lane shows it too
    pytest.param({"site": "sp-austin"}, True, id="a-site-filter-lists-the-sites-own-email-miss"),
    pytest.param({"site": "nw-manila", "channel": "email"}, True, id="site-and-channel-list-the-channels-miss"),
])
def test_filtered_reviews_keep_insights_about_the_filtered_rows(planted_ws, filters, missed):
    review = build_review(planted_ws, ACME, filters=filters)
    told = [i.type for i in review.insights] + [r["type"] for i in review.insights for r in i.evidence.get("related", [])]
    assert ("target_miss" in told) is missed  # a card or one of its sub-points (issue 11, defect 7)
    columns = {"channel": "channel", "site": "site_id"}
    for ins in review.insights:  # never an insight on another site or channel
        assert all(ins.segment.get(columns[k]) in (None, v) for k, v in filters.items()), ins.segment


def test_an_acme_managers_review_never_contains_globex(planted_ws):
    scope = planted_ws.config.user("acme-manager").scope
    for filters in ({}, {"client": "globex"}, {"channel": "email"}):
        review = build_review(planted_ws, scope, filters=filters)
        text = repr([i.to_dict() for i in review.insights]) + repr(review.notices)
        assert [m for m in tiny.GLOBEX_MARKERS if m in text] == []
        assert {i.segment.get("client_id") for i in review.insights} <= {"acme"}


def test_thin_volume_gives_no_insight_rather_than_a_false_alarm(acme_review):
    # tiny's acme email has 21 tickets a week, below the 30 the first-response KPI needs to be judged
    assert acme_review.tile("sla_first_response").status == "bad"
    assert acme_review.insights == ()


def test_a_week_with_little_history_says_so_instead_of_raising_an_alarm(tiny_ws):
    review = build_review(tiny_ws, ACME, week=tiny.FIRST_MONDAY + timedelta(weeks=3))
    notice = next(n for n in review.notices if n.kind == "short_history")
    assert notice.message.startswith("Not enough history to call a change: 4 complete weeks up to this one")
    assert review.insights == ()


def test_a_day_missing_for_one_client_is_a_data_quality_notice_listed_first(tmp_path):
    from connectors.store import Workspace

    gap = W + timedelta(days=1)
    ws = Workspace.create(tmp_path / "w", tiny.TOML)
    ws.upsert("tickets", tiny.tickets().filter(~((pl.col("client_id") == "globex")
                                                 & (pl.col("created_at").dt.date() == gap))))
    review = build_review(ws, Scope.everything(), week=W)
    assert "missing_days" not in [n.kind for n in review.notices]  # the view as a whole has every day
    assert [n.message for n in review.notices if n.kind == "data_quality"] == [
        "No tickets for Globex Travel on 2025-03-04: 1 of the week's days are missing."]
    assert (review.insights[0].type, review.insights[0].segment) == ("data_quality", {"client_id": "globex"})
    assert build_review(ws, ACME, week=W).insights == ()  # acme's own view has nothing to say


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


def test_queue_intervals_or_contact_records_are_one_source_for_the_empty_table_notice(tmp_path):
    """Interval KPIs come from contact_intervals or from contacts: either one holding rows is enough."""
    ws = tiny.build(tmp_path / "w")
    starts = [datetime(W.year, W.month, W.day, 14, tzinfo=timezone.utc) + timedelta(days=d) for d in range(7)]
    ws.upsert("contact_intervals", pl.DataFrame({
        "source_system": ["test"] * 7, "source_instance": ["t"] * 7, "client_id": ["acme"] * 7,
        "vendor_id": ["northwind"] * 7, "site_id": ["nw-manila"] * 7, "queue_id": ["acme-voice"] * 7,
        "channel": ["voice"] * 7, "direction": ["inbound"] * 7, "interval_start": starts, "interval_minutes": [30] * 7,
        "offered": [20] * 7, "handled": [20] * 7, "handle_seconds": [6000.0] * 7,
        "answered_within_sl": [15] * 7, "sl_threshold_seconds": [20.0] * 7}))
    message = {n.kind: n.message for n in build_review(ws, ACME).notices}["empty_table"]
    assert message.startswith("No rows yet in qa_evaluations")
    assert "contacts" not in message and "contact_intervals" not in message


def test_a_client_without_data_is_told_how_to_start(tiny_ws):
    review = build_review(tiny_ws, Scope.of(["initech"], "*"))
    assert [str(n) for n in review.notices] == ["No data for client 'initech' yet: import a file or add a source."]
    assert not review.has_data


@pytest.mark.parametrize(("materiality", "unit", "baseline", "amount"), [
    pytest.param(0.02, "percent", 0.9, 0.02, id="rates-move-in-points"),
    pytest.param(0.1, "seconds", 600.0, 60.0, id="durations-move-by-a-share"),
    pytest.param(0.05, "count", 400.0, 20.0, id="counts-move-by-a-share"),
    pytest.param(0.05, "count", None, 0.05, id="no-baseline"),
])
def test_the_smallest_change_worth_a_colour(materiality, unit, baseline, amount):
    assert material_amount(materiality, unit, baseline) == pytest.approx(amount)


def test_a_kpi_comparable_only_within_a_channel_is_shown_per_channel_on_its_tile_and_not_judged_pooled(tiny_ws):
    """The pooled first-response median moves with the channel mix (53 s one week, a QTD of 4.2 min on the demo):
    its tile lists each channel's value and carries no status; a view of one channel judges it as before."""
    from dashboard.components import tile_html

    tile = build_review(tiny_ws, ACME, week=W).tile("first_response_time_median")
    assert tile.status == "neutral" and {seg for seg, _ in tile.per_line} >= {"chat", "email"}
    assert all(text != "–" for _, text in tile.per_line)
    assert "email " in tile_html(tile) and "bpo-tile-lines" in tile_html(tile)
    one = build_review(tiny_ws, ACME, week=W, filters={"channel": "email"}).tile("first_response_time_median")
    assert one.per_line == ()
