"""The view: filters checked once (unknown keys refused everywhere), the scope narrowed never widened, rows kept."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import polars as pl
import pytest

from connectors.store import Scope
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

    from insights.detection import engine

    from insights.review import events

    from insights.analyses import quality, scorecard, sla

    from insights import review

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


# --------------------------------------------------------------------------- one segment, one number, every viewer


VIEWERS = ("admin", "acme-manager", "northwind-am")
WEEK_TYPES = ("rate_change", "target_miss")  # `observed` is the review week's value of the segment


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    """The default sample and the engine's findings for the admin, the acme brand manager and Northwind's AM."""
    from datetime import timedelta

    from connectors.store import Workspace
    from insights.detection.engine import detect
    from sample_data.generator import generate
    from sample_data.operation import DEFAULT_END

    out = tmp_path_factory.mktemp("viewers")
    generate(out, weeks=52, scale=1.0, seed=7)
    ws = Workspace.open(out)
    users = {u.name: u for u in ws.config.users}
    latest = DEFAULT_END - timedelta(days=6)
    weeks = (latest - timedelta(weeks=1), latest - timedelta(weeks=3))
    runs = {(name, w): detect(ws, users[name].scope, week=w) for name in VIEWERS for w in weeks}
    return ws, weeks, runs


def _by_id(runs, viewer, week):
    return {i.id: i for i in runs[(viewer, week)].insights if i.type != "data_quality"}


def _numbers(i):
    # every figure to 12 significant digits: a BH family summed in another order differs in the 14th digit
    # (1.6735459730805675e-05 vs ...5814e-05), never in a figure a person reads
    def sig(x):
        return None if x is None else float(f"{x:.12g}")
    return (i.segment, sig(i.observed), sig(i.expected), sig(i.delta), sig(i.q_value), i.tier, i.headline)


@pytest.mark.slow
def test_the_admin_and_the_brand_get_one_verdict_and_one_number_per_acme_finding(sample_runs):
    # before: BH ran over every client in the run, so the acme manager's q-values (tested on acme alone) differed
    # from the admin's and the same id could carry another number; now a client's family is fixed by the data
    _, weeks, runs = sample_runs
    for week in weeks:
        admin = {k: v for k, v in _by_id(runs, "admin", week).items() if v.segment.get("client_id") == "acme"}
        brand = _by_id(runs, "acme-manager", week)
        assert admin and set(admin) == set(brand), week
        assert {k: _numbers(v) for k, v in admin.items()} == {k: _numbers(v) for k, v in brand.items()}


def _site_vendor(ws):
    return {s["id"]: s["vendor"] for s in ws.config.sites}


@pytest.mark.slow
def test_a_vendor_reads_its_share_of_a_client_labelled_and_under_its_own_id(sample_runs):
    # before: Northwind's AM read "acme · channel email CSAT 71.4%" (its share) under the id and label of the
    # brand's 73.3% (the whole client's email)
    from insights import format

    ws, weeks, runs = sample_runs
    names = format.Names.of(ws.config)
    sites = _site_vendor(ws)
    shares = 0
    for week in weeks:
        admin = _by_id(runs, "admin", week)
        for i in _by_id(runs, "northwind-am", week).values():
            pinned = i.segment.get("vendor_id") or sites.get(i.segment.get("site_id", ""))
            assert pinned == "northwind", (i.segment, i.headline)
            if "share_of" in i.evidence:
                shares += 1
                label = format.segment(i.segment, names)
                assert f"In {label}" in i.meaning and "vendor Northwind BPO" in label, (label, i.meaning)
                assert i.id not in admin
    assert shares


@pytest.mark.slow
@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_finding_has_the_value_of_the_segment_it_names(sample_runs, viewer):
    """The week's value in a record is the segment's value as anyone who sees that segment computes it."""
    from connectors.store import Scope
    from insights.metrics.kpis import compute_kpis

    ws, weeks, runs = sample_runs
    checked = 0
    for week in weeks:
        for i in _by_id(runs, viewer, week).values():
            if i.type not in WEEK_TYPES:
                continue
            frame = compute_kpis(ws, Scope.everything(), [i.kpi], grain="week", by=tuple(i.segment), start=week,
                                 end=i.period.end)
            for k, v in i.segment.items():
                frame = frame.filter(pl.col(k) == v)
            assert frame.get_column("value").to_list() == [pytest.approx(i.observed)], (i.segment, i.headline)
            checked += 1
    assert checked


@pytest.mark.slow
def test_a_site_the_vendor_sees_whole_has_one_repeat_rate_for_every_viewer(sample_runs):
    # before: a repeat contact was looked for among the viewer's tickets only, so a customer of nw-bogota who
    # came back through another vendor was no repeat for Northwind (nw-bogota's repeat rate read 7.5% for
    # Northwind's AM, 9.7% for the admin, before the pilot) and the pilot's findings differed by viewer
    from datetime import timedelta

    from connectors.store import Scope
    from insights.metrics.kpis import compute_kpis

    ws, weeks, runs = sample_runs
    users = {u.name: u.scope for u in ws.config.users}
    kpis, span = ["fcr", "repeat_contact_rate"], {"start": weeks[-1], "end": weeks[0] + timedelta(days=6)}
    admin = compute_kpis(ws, Scope.everything(), kpis, by=("site_id",), **span).filter(pl.col("site_id") == "nw-bogota")
    vendor = compute_kpis(ws, users["northwind-am"], kpis, by=("site_id",), **span).filter(
        pl.col("site_id") == "nw-bogota")
    assert admin.height == 2 * 3 and vendor.sort("period", "kpi").equals(admin.sort("period", "kpi"))
    # the findings about the site carry the same numbers; their q-values come from each viewer's family of data
    # (the client's week for the admin, Northwind's share of it for its AM), as DESIGN's FDR ruling sets
    for week in weeks:
        admin_ids, vendor_ids = _by_id(runs, "admin", week), _by_id(runs, "northwind-am", week)
        common = set(admin_ids) & set(vendor_ids)
        assert common

        def values(i):
            return i.segment, i.observed, i.expected, i.delta, i.headline
        assert {k: values(admin_ids[k]) for k in common} == {k: values(vendor_ids[k]) for k in common}


@pytest.mark.parametrize(("scope", "withheld"), [
    pytest.param(Scope.everything(), False, id="admin"),
    pytest.param(BRAND, False, id="brand-sees-its-client-whole"),
    pytest.param(VENDOR, True, id="vendor-sees-its-share"),
])
def test_the_review_says_when_peers_are_outside_the_view(tiny_ws, scope, withheld):
    from _tiny import tiny

    from insights.review import build_review

    notices = [n for n in build_review(tiny_ws, scope, week=tiny.REVIEW_WEEK).notices if n.kind == "withheld"]
    assert bool(notices) is withheld
    assert all(n.message.startswith("Routing shifts and peer outliers compare a site with every site") for n in notices)


@pytest.mark.parametrize(("scope", "fcr"), [
    pytest.param(None, [0.5], id="frames-already-the-viewers"),
    pytest.param(VENDOR, [0.0], id="northwinds-ticket-came-back-through-southpeak"),
    pytest.param(Scope.of(clients="*", vendors=["southpeak"]), [1.0], id="southpeaks-ticket-was-the-last"),
])
def test_a_repeat_contact_counts_wherever_the_customer_came_back(scope, fcr):
    # the window reads every ticket of the frames; the viewer's rows are kept after it
    from datetime import UTC, datetime

    from insights.metrics.kpis import compute_from_frames

    def solved(day: int, vendor: str) -> dict:
        at = datetime(2025, 3, day, 10, tzinfo=UTC)
        return {"client_id": "acme", "vendor_id": vendor, "site_id": f"{vendor[:2]}-1", "channel": "email",
                "created_at": at, "status": "solved", "resolved_at": at, "requester_hash": "r1", "reopens": 0}

    frames = {"tickets": pl.DataFrame([solved(3, "northwind"), solved(5, "southpeak")])}
    out = compute_from_frames(frames, ["fcr"], start=date(2025, 3, 3), end=date(2025, 3, 9), scope=scope)
    assert out.get_column("value").to_list() == fcr
