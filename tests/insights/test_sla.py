"""SLA trends on the tiny workspace, whose every number is known (see tests/dashboard/tiny.py)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from _tiny import tiny
from connectors.store import Scope, Workspace
from insights.metrics.credits import credits_at_stake
from insights.analyses.sla import (SlaError, attainment_by, contract_targets, counts_behind, sla_view, target_line,
                          tickets_behind)

WEEK = tiny.REVIEW_WEEK  # week index 53: 2 of acme's 6 daily tickets breach
PENALTY = 100.0


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """The tiny workspace with a service credit of 100 per point on acme's target."""
    w = tiny.build(tmp_path_factory.mktemp("sla") / "ws")
    w.upsert("sla_targets", tiny.sla_targets().with_columns(
        pl.when(pl.col("client_id") == "acme").then(PENALTY).otherwise(None).alias("penalty_per_point"),
        pl.lit("USD").alias("currency"), pl.col("updated_at") + timedelta(days=1)))  # a newer version wins
    return w


def test_every_target_in_force_is_listed_with_this_weeks_attainment_streak_and_exposure(ws):
    view = sla_view(ws, Scope.everything(), week=WEEK, filters={"client": "acme"})
    row = view.targets.row(0, named=True)
    assert view.targets.height == 1
    assert (row["target_id"], row["status"], row["n"]) == ("acme-frt", "missed", 42)
    assert row["value"] == pytest.approx(28 / 42)
    assert row["streak"] == 2  # week 51 met (no breach), 52 and 53 missed
    assert (row["weeks_missed"], row["weeks_measured"]) == (18, 26)  # weeks 28..53, met when w % 3 == 0
    # month to date: 1-2 March (week 52, 1 breach a day) and 3-9 March (2 a day) -> 38 of 54 met
    assert row["value_mtd"] == pytest.approx(38 / 54)
    # credits at stake are the one monthly definition (metrics.credits.credits_at_stake), labelled month to date
    sunday = WEEK + timedelta(days=6)
    credits = credits_at_stake(ws, Scope.of(clients=["acme"]), month=sunday, through=sunday)
    assert view.credits.label == f"month to date, 01 – {sunday:%d %b %Y}"
    assert view.credits.lanes.equals(credits.lanes) and view.credits.total == credits.total
    assert view.missed == 1


def test_a_site_filter_lists_the_target_and_keeps_that_sites_credit_lanes_whole(ws):
    whole = sla_view(ws, Scope.everything(), week=WEEK, filters={"client": "acme"})
    sites = ws.read("tickets", Scope.of(clients=["acme"])).get_column("site_id").unique().drop_nulls().to_list()
    assert len(sites) >= 2
    for site in sites:
        part = sla_view(ws, Scope.everything(), week=WEEK, filters={"client": "acme", "site": site})
        assert part.targets.get_column("target_id").to_list() == ["acme-frt"]
        assert part.credits.lanes.equals(whole.credits.lanes.filter(pl.col("site_id") == site))


@pytest.mark.parametrize(("scope", "filters", "targets"), [
    pytest.param(Scope.everything(), {}, {"acme-frt", "globex-frt"}, id="admin-sees-both-contracts"),
    pytest.param(Scope.of(clients=["acme"]), {}, {"acme-frt"}, id="brand-sees-its-own"),
    pytest.param(Scope.of(clients=["acme"]), {"client": "globex"}, set(), id="a-filter-never-widens"),
])
def test_targets_follow_the_viewers_scope(ws, scope, filters, targets):
    assert set(contract_targets(ws, scope, filters).get_column("target_id")) == targets
    assert set(sla_view(ws, scope, week=WEEK, filters=filters).targets.get_column("target_id")) == targets


@pytest.mark.parametrize(("split", "expected"), [
    pytest.param("channel", {"email": 7 / 21, "chat": 1.0, "voice": 1.0}, id="channel"),  # tickets 0 and 1 breach
    pytest.param("vendor", {"northwind": 14 / 21, "southpeak": 14 / 21}, id="vendor"),
    pytest.param("site", {"nw-manila": 14 / 21, "sp-austin": 14 / 21}, id="site"),
])
def test_attainment_splits_by_a_dimension(ws, split, expected):
    frame = attainment_by(ws, Scope.everything(), metric="sla_first_response", split=split, start=WEEK,
                          end=WEEK + timedelta(days=6), filters={"client": "acme"})
    assert dict(zip(frame[split], frame["value"])) == pytest.approx(expected)


def test_a_filter_narrows_the_split(ws):
    frame = attainment_by(ws, Scope.everything(), metric="sla_first_response", split="channel", start=WEEK,
                          end=WEEK + timedelta(days=6), filters={"client": "acme", "site": "nw-manila"})
    # nw-manila takes tickets 0 (email, breached), 2 (email) and 4 (chat)
    assert dict(zip(frame["channel"], frame["value"])) == pytest.approx({"email": 0.5, "chat": 1.0})


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"metric": "sla_first_response", "split": "queue"}, "cannot split SLA attainment by 'queue'", id="split"),
    pytest.param({"metric": "first_response_time_median", "split": "channel"}, "not a ratio KPI", id="quantile"),
])
def test_unanswerable_questions_say_what_to_ask(ws, kwargs, message):
    with pytest.raises(SlaError, match=message):
        attainment_by(ws, Scope.everything(), start=WEEK, end=WEEK, **kwargs)


def test_the_tickets_behind_a_point_carry_ids_times_and_the_breach_reason(ws):
    tickets = tickets_behind(ws, Scope.everything(), metric="sla_first_response", week=WEEK,
                             filters={"client": "acme"}, segment={"channel": "email"})
    assert tickets.height == 21
    assert tickets["first_response_breached"].sum() == 14
    first = tickets.row(0, named=True)
    assert first["ticket_id"] == "acme-20250303-0"
    assert first["breach_reason"] == "first reply after 5.0 h against a 1.0 h target"
    assert set(tickets.filter(~pl.col("first_response_breached"))["breach_reason"]) == {"met"}
    assert not {"subject", "description", "body", "tags"} & set(tickets.columns)


@pytest.mark.parametrize("limit", [5, 500])
def test_the_point_counts_are_whole_however_few_tickets_are_listed(ws, limit):
    args = dict(metric="sla_first_response", week=WEEK, filters={"client": "acme"}, segment={"channel": "email"})
    listed = tickets_behind(ws, Scope.everything(), limit=limit, **args)
    assert counts_behind(ws, Scope.everything(), **args) == (21, 14)
    assert listed.height == min(limit, 21) and listed["first_response_breached"].all() == (limit <= 14)


def test_no_ticket_drilldown_for_interval_metrics(ws):
    with pytest.raises(SlaError, match="service level is measured on queue intervals"):
        tickets_behind(ws, Scope.everything(), metric="service_level", week=WEEK)


def test_a_brand_never_gets_another_brands_tickets(ws):
    tickets = tickets_behind(ws, Scope.of(clients=["acme"]), metric="sla_first_response", week=WEEK,
                             filters={"client": "globex"})
    assert set(tickets["client_id"]) <= {"acme"}


def test_the_target_line_is_the_contracts_in_each_week(ws):
    targets = contract_targets(ws, Scope.everything(), {})
    weeks = [WEEK - timedelta(weeks=1), WEEK]
    assert target_line(targets, "sla_first_response", {"client": "acme"}, weeks) == [0.9, 0.9]
    assert target_line(targets, "sla_first_response", {}, weeks) == [None, None]  # acme 90 % and globex 77.7 % differ
    assert target_line(targets, "sla_first_response", {"client": "acme"}, [date(2023, 1, 2)]) == [None]
