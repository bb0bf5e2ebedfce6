"""The view: filters checked once (unknown keys refused everywhere), the scope narrowed never widened, rows kept."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import polars as pl
import pytest

from connectors.workspace import Scope
from insights.errors import ViewError
from insights.view import Calendar, View

BRAND = Scope.of(clients=["acme"])
VENDOR = Scope.of(clients="*", vendors=["northwind"])


class Narrow(NamedTuple):
    scope: Scope
    filters: dict[str, str]
    key: str


@pytest.mark.parametrize("case", [
    pytest.param(Narrow(Scope.everything(), {}, "clients=*;vendors=*"), id="admin-unfiltered"),
    pytest.param(Narrow(Scope.everything(), {"client": "acme"}, "clients=acme;vendors=*"), id="admin-client"),
    pytest.param(Narrow(BRAND, {"client": "globex"}, "clients=;vendors=*"), id="brand-cannot-widen"),
    pytest.param(Narrow(VENDOR, {"vendor": "southpeak"}, "clients=*;vendors="), id="vendor-cannot-widen"),
    pytest.param(Narrow(VENDOR, {"client": "acme", "site": "nw-bogota"}, "clients=acme;vendors=northwind"),
                 id="site-narrows-rows-not-scope"),
])
def test_scope_for_read_narrows_and_never_widens(case):
    assert View.of(case.scope, case.filters).scope_for_read().key == case.key


@pytest.mark.parametrize(("filters", "unknown"), [
    pytest.param({"queue": "billing"}, "queue", id="one"),
    pytest.param({"region": "emea", "client": "acme", "agent": "a1"}, "agent, region", id="several-sorted"),
])
def test_unknown_filters_are_refused_naming_them_and_the_known_ones(filters, unknown):
    with pytest.raises(ViewError, match=rf"unknown view filter\(s\): {unknown}; use client, vendor, site, channel"):
        View.of(Scope.everything(), filters)


def test_blank_values_mean_all_and_filters_are_kept_in_dimension_order():
    view = View.of(Scope.everything(), {"channel": "email", "site": "", "vendor": None, "client": "acme"})
    assert view.filters == (("client", "acme"), ("channel", "email"))
    assert view.row_filters == {"channel": "email"} and view.fixed == ("channel",)


@pytest.mark.parametrize(("calendar", "day", "week"), [
    pytest.param(Calendar(), date(2026, 11, 22), date(2026, 11, 16), id="iso-sunday"),
    pytest.param(Calendar(), date(2026, 11, 16), date(2026, 11, 16), id="iso-monday"),
    pytest.param(Calendar(week_start=6), date(2026, 11, 21), date(2026, 11, 15), id="sunday-start"),
])
def test_the_week_is_the_first_day_of_the_calendars_week(calendar, day, week):
    assert View.of(Scope.everything(), {}, day, calendar=calendar).week == week


FRAME = pl.DataFrame({"client_id": ["acme", "acme", "globex", "acme"], "site_id": ["nw-manila", None, "nw-manila", "hq"],
                      "channel": ["email", "email", "email", "chat"]})


@pytest.mark.parametrize(("filters", "options", "rows"), [
    pytest.param({"site": "nw-manila"}, {}, 2, id="site"),
    pytest.param({"site": "nw-manila"}, {"keep_null": True}, 3, id="site-null-applies-everywhere"),
    pytest.param({"client": "acme", "channel": "email"}, {}, 2, id="client-and-channel"),
    pytest.param({"client": "acme", "channel": "email"}, {"rows_only": True}, 3, id="rows-only"),
    pytest.param({"vendor": "northwind"}, {}, 4, id="column-absent-left-alone"),
])
def test_apply_keeps_the_rows_of_the_filters(filters, options, rows):
    view = View.of(Scope.everything(), filters)
    assert view.apply(FRAME, **options).height == rows
    assert view.apply(FRAME.lazy(), **options).collect().height == rows


def test_the_key_tells_views_apart():
    a = View.of(BRAND, {"channel": "email"}, date(2026, 11, 16))
    assert a.key != View.of(VENDOR, {"channel": "email"}, date(2026, 11, 16)).key
    assert a.key != a.with_week(date(2026, 11, 9)).key
    assert a.key == View.of(BRAND, {"channel": "email"}, date(2026, 11, 18)).key


@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory):
    """The tiny workspace (read-only here)."""
    from _tiny import tiny

    return tiny.build(tmp_path_factory.mktemp("view") / "ws")


def _surfaces():
    """Every layer that filters data for a viewer, each called with the same filters."""
    from _tiny import tiny

    from insights import engine, events, quality, review, scorecard, sla

    week = tiny.REVIEW_WEEK
    return {
        "review": lambda ws, f: review.build_review(ws, Scope.everything(), week=week, filters=f),
        "weeks": lambda ws, f: review.available_weeks(ws, Scope.everything(), f),
        "events": lambda ws, f: events.read_events(ws, Scope.everything(), f),
        "insights": lambda ws, f: engine.detect(ws, Scope.everything(), week=week, filters=f),
        "sla_view": lambda ws, f: sla.sla_view(ws, Scope.everything(), week=week, filters=f),
        "sla_split": lambda ws, f: sla.attainment_by(ws, Scope.everything(), metric="sla_first_response",
                                                     split="site", start=week, end=week, filters=f),
        "sla_targets": lambda ws, f: sla.contract_targets(ws, Scope.everything(), f),
        "sla_drill": lambda ws, f: sla.tickets_behind(ws, Scope.everything(), metric="sla_first_response",
                                                      week=week, filters=f),
        "scorecard": lambda ws, f: scorecard.scorecard(ws, Scope.everything(), level="vendor", week=week, filters=f),
        "mix_adjusted": lambda ws, f: scorecard.mix_adjusted(ws, Scope.everything(), kpi="csat", level="vendor",
                                                             week=week, filters=f),
        "qa": lambda ws, f: quality.evaluations(ws, Scope.everything(), week=week, filters=f),
        "csat_by_agent": lambda ws, f: quality.csat_by_agent(ws, Scope.everything(), week=week, filters=f),
    }


@pytest.mark.parametrize("surface", list(_surfaces()))
def test_every_surface_refuses_an_unknown_filter(tiny_ws, surface):
    # before View the SLA, scorecard and quality analyses dropped {"queue": ...} silently and showed everything
    with pytest.raises(ViewError, match=r"unknown view filter\(s\): queue; use client, vendor, site, channel"):
        _surfaces()[surface](tiny_ws, {"client": "acme", "queue": "billing"})
