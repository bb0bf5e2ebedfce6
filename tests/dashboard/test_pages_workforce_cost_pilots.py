"""Workforce, Cost and Pilots as viewers use them (AppTest): the library's numbers, scoped, with empty states that say what to do."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from connectors.store import Scope, Workspace
from insights import format
from insights.format import week_number
from insights.analyses.forecast import sla_at_risk
from insights.analyses.pilots import evaluate_pilot
from insights.analyses.pricing import move_volume, reconcile_invoices
from insights.review import available_weeks
from insights.analyses.staffing import StaffingTarget, plan_staffing
from insights.view import Calendars

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TITLES = {"workforce": "Workforce", "cost": "Cost", "pilots": "Pilots"}
VIEWERS = ("admin", "acme-manager", "northwind-am")
MARKER_INVOICE, MARKER_PILOT = "GLOBEX-MARKER-INVOICE", "GLOBEX-MARKER-PILOT"
NOT_FOR = {  # what each viewer must never see on these pages
    "acme-manager": ("globex", "Globex", "GLOBEX", "eb-cebu", "eastbay"),
    "northwind-am": ("GLOBEX-MARKER", "eastbay", "Eastbay", "southpeak", "sp-austin", "eb-cebu"),
}
STAMP = datetime(2026, 11, 1, tzinfo=timezone.utc)
LINEAGE = dict(source_system="test", source_instance="marker", ingested_at=STAMP, updated_at=STAMP)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    """The sample operation (40 weeks, small), plus a globex invoice that mis-adds and a globex pilot: the markers."""
    from sample_data.generator import generate

    path = tmp_path_factory.mktemp("wcp") / "ws"
    generate(path, weeks=40, scale=0.05, seed=7)
    ws = Workspace.open(path)
    ws.upsert("cost_invoices", pl.DataFrame([dict(
        LINEAGE, client_id="globex", vendor_id="eastbay", site_id="eb-cebu", invoice_id=MARKER_INVOICE, line_no=1,
        period_start=date(2026, 6, 1), period_end=date(2026, 6, 30), channel="email", billing_model="per_contact",
        quantity=10.0, unit_rate=2.0, amount=999.0, currency="USD")]))
    ws.upsert("events", pl.DataFrame([dict(
        LINEAGE, client_id="globex", vendor_id="eastbay", site_id="eb-cebu", event_id="marker-pilot", kind="pilot",
        name=MARKER_PILOT, start_date=date(2026, 6, 1), end_date=date(2026, 7, 12))]))
    return ws


@pytest.fixture(scope="module")
def tickets_only(tmp_path_factory) -> Workspace:
    """A workspace with tickets and SLA targets only: no intervals, roster, invoices or pilots."""
    import tiny

    return tiny.build(tmp_path_factory.mktemp("tickets-only") / "ws")


def open_page(monkeypatch, ws: Workspace, user: str, page: str, query: dict[str, str] | None = None) -> AppTest:
    """Run the dashboard as `user` on `page`, with the URL's query parameters."""
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", user)
    at = AppTest.from_file(str(APP), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    """Everything the run put on screen (every element's message and every table's cells)."""
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)  # noqa: SLF001 - the whole tree, so nothing rendered escapes the check
    return "\n".join(parts + [df.value.to_csv() for df in at.dataframe])


def metrics(at: AppTest) -> dict[str, str]:
    """label -> value of every st.metric."""
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str):
    """The first dataframe on screen that has `column`."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def scope_of(ws: Workspace, user: str) -> Scope:
    return ws.config.user(user).scope


@pytest.mark.parametrize("page", list(TITLES))
@pytest.mark.parametrize("user", VIEWERS)
def test_each_page_renders_for_each_viewer_and_shows_nothing_outside_their_scope(monkeypatch, sample, user, page):
    at = open_page(monkeypatch, sample, user, page)
    assert at.title[0].value == TITLES[page]
    text = shown(at)
    leaked = [m for m in NOT_FOR.get(user, ()) if m in text]
    assert leaked == []
    if user == "admin" and page != "workforce":
        assert (MARKER_INVOICE if page == "cost" else MARKER_PILOT) in text


def test_workforce_shows_every_section_and_the_sla_risk_of_the_library(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "acme-manager", "workforce")
    assert [s.value for s in at.subheader][:1] == ["Volume: forecast vs actual"]
    assert {"Staffing gap by weekday and interval", "Occupancy and burnout risk", "Attrition",
            "Speed to competency and nesting cohorts", "What-if: agents for one interval"} <= {s.value for s in at.subheader}
    scope = scope_of(sample, "acme-manager")
    week = available_weeks(sample, scope)[0]
    risk = sla_at_risk(sample, scope, end=week + timedelta(days=6), paths=300).frame
    table = table_with(at, "P(miss)")
    assert table["queue_id"].tolist() == risk["queue_id"].to_list()
    assert table["P(miss)"].tolist() == pytest.approx(risk["p_miss"].to_list())
    assert table[[c for c in table.columns if c.startswith("FTE")][0]].tolist() == pytest.approx(risk["fte_needed"].to_list())
    assert any(s.value.startswith(f"SLA at risk in the week of {week + timedelta(days=7):%d %b %Y}") for s in at.subheader)


def test_a_channel_filter_keeps_only_that_channels_queues(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "admin", "workforce", {"channel": "voice"})
    queues = table_with(at, "P(miss)")["queue_id"].tolist()
    assert queues and all("-voice-" in q for q in queues)


@pytest.mark.parametrize(("inputs", "expected"), [
    pytest.param({}, dict(calls=100, aht=180, interval_minutes=30, target=StaffingTarget(0.8, 20), shrinkage=0.3),
                 id="classic-80-20-needs-14"),
    pytest.param({"wi_calls": 240.0, "wi_aht": 300.0, "wi_patience": 90.0, "wi_shrinkage": 35.0},
                 dict(calls=240, aht=300, interval_minutes=30, target=StaffingTarget(0.8, 20), patience=90, shrinkage=0.35),
                 id="erlang-a-with-patience"),
])
def test_the_staffing_what_if_shows_plan_staffing(monkeypatch, sample, inputs, expected):
    at = open_page(monkeypatch, sample, "admin", "workforce")
    for key, value in inputs.items():
        at.number_input(key=key).set_value(value)
    if inputs:
        at.button[0].click().run()
    plan = plan_staffing(**expected)
    shown_metrics = metrics(at)
    assert shown_metrics["Agents on the phones"] == f"{plan.agents:,}"
    assert shown_metrics["FTE to schedule"] == f"{plan.fte:,.1f}"
    assert shown_metrics["Service level"] == f"{plan.service_level:.1%}"
    assert shown_metrics["ASA"] == format.duration(plan.asa)
    assert shown_metrics["Abandonment"] == format.value("percent", plan.abandonment)  # '–' under Erlang C
    assert any(c.value.startswith(f"{plan.model}: {plan.load:,.2f} Erlangs") for c in at.main.caption)


@pytest.mark.parametrize("user", ["admin", "acme-manager"])
def test_cost_reconciliation_counts_and_flags_are_the_librarys(monkeypatch, sample, user):
    at = open_page(monkeypatch, sample, user, "cost")
    rec = reconcile_invoices(sample, scope_of(sample, user))
    shown_metrics = metrics(at)
    assert shown_metrics["Invoice lines checked"] == f"{rec.lines.height:,}"
    assert shown_metrics["Lines flagged"] == f"{rec.flagged.height:,}"
    if user == "admin":
        flagged = table_with(at, "flags").set_index("invoice_id")
        assert "amount_mismatch" in flagged.loc[MARKER_INVOICE, "flags"]


def test_the_move_what_if_shows_move_volume(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "acme-manager", "cost")
    choice = {k: at.selectbox(key=k).value for k in ("move_client", "move_channel", "move_from", "move_to")}
    share = at.slider(key="move_share").value / 100
    move = move_volume(sample, scope_of(sample, "acme-manager"), client=choice["move_client"],
                       channel=choice["move_channel"], from_site=choice["move_from"], to_site=choice["move_to"], share=share)
    assert metrics(at)["Monthly cost change (USD)"] == format.delta("currency", move.cost_change)
    assert metrics(at)[f"Contacts moved in {move.month:%b %Y}"] == f"{move.contacts_moved:,.0f}"


@pytest.mark.parametrize("user", ["admin", "acme-manager"])
def test_pilots_show_the_did_verdict_of_the_library(monkeypatch, sample, user):
    at = open_page(monkeypatch, sample, user, "pilots")
    name = at.selectbox(key="pilot_name").value
    report = evaluate_pilot(sample, scope_of(sample, user), name)
    verdicts = [m.value for m in at.markdown if m.value.startswith("**")]
    assert verdicts == [f"**{e.verdict}**" for e in report.effects]
    assert table_with(at, "verdict")["verdict"].tolist() == [e.verdict for e in report.effects]


def test_the_pilots_page_tells_a_vendor_it_sees_part_of_the_control_group(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "northwind-am", "pilots")
    at.selectbox(key="pilot_name").set_value("nw-bogota coaching pilot").run()
    report = evaluate_pilot(sample, scope_of(sample, "northwind-am"), "nw-bogota coaching pilot")
    assert report.control_note and [i.value for i in at.info] == [report.control_note]


def test_the_pilots_page_says_a_site_filter_does_not_narrow_a_pilot(monkeypatch, sample):
    """A pilot is its own segment against its control group: a site, channel or language filter cannot narrow it,
    and the page says so instead of silently showing the same figures under the filter."""
    at = open_page(monkeypatch, sample, "admin", "pilots", {"site": "nw-manila", "channel": "email"})
    said = [i.value for i in at.info]
    assert ("Each pilot is measured on its own segment and control group: the filters site nw-manila and channel "
            "email do not narrow it.") in said
    plain = open_page(monkeypatch, sample, "admin", "pilots")
    assert not any("do not narrow" in i.value or "does not narrow" in i.value for i in plain.info)


@pytest.mark.parametrize(("page", "query", "says"), [
    pytest.param("cost", {}, "No invoices for your view yet: import cost_invoices with "
                             "`bpo-insights import FILE --preset canonical_cost_invoices`.", id="cost-no-invoices"),
    pytest.param("cost", {"vendor": "northwind"}, "No invoices for vendor 'northwind' yet", id="cost-vendor-filter"),
    pytest.param("workforce", {}, "`bpo-insights import FILE --preset canonical_contact_intervals`", id="workforce-no-intervals"),
    pytest.param("workforce", {}, "call logs (one row per call) with `bpo-insights import FILE --preset acd_calls`",
                 id="workforce-no-intervals-call-logs"),
    pytest.param("workforce", {}, "`bpo-insights import FILE --preset canonical_staffing_roster`", id="workforce-no-roster"),
    pytest.param("pilots", {}, "No pilots in your view yet.", id="pilots-none-defined"),
])
def test_empty_states_say_what_to_do_next(monkeypatch, tickets_only, page, query, says):
    at = open_page(monkeypatch, tickets_only, "admin", page, query)
    assert any(says in i.value for i in at.info)


def test_a_site_filter_keeps_the_measured_levels_behind_the_staffing_gap(sample):
    """The filtered gap was rebuilt by position and lost its per-queue measured levels (the heatmap's caption)."""
    from dashboard import data

    whole = data.staffing_gap(sample, Scope.everything(), (), None, None, ("v",))
    manila = data.staffing_gap(sample, Scope.everything(), (("site", "nw-manila"),), None, None, ("v",))
    assert whole.queues.height > manila.queues.height > 0
    assert set(manila.queues.get_column("site_id")) == {"nw-manila"}


def test_workforce_names_its_queues_and_the_calendar_its_weeks_are_cut_in(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "acme-manager", "workforce")
    config = sample.config
    ids = {str(e["id"]) for kind in (config.clients, config.vendors, config.sites) for e in kind}
    selectors = [at.selectbox(key="wf_forecast_queue"), at.selectbox(key="wf_gap_queue")]
    for selector in selectors:  # each queue by its name, else by the names of the client and site it serves
        assert selector.options and all(o.startswith("Acme Home · site ") for o in selector.options)
        assert [o for o in selector.options if ids & set(o.replace(" · ", " ").split())] == []
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    chosen = [s.options[s.index] for s in selectors]  # the queue on screen, as the selector names it
    assert any(t.startswith(f"Weekly contacts, {chosen[0]}:") for t in titles)
    assert any(t.startswith(f"Required − scheduled agents, {chosen[1]}:") for t in titles)
    scope = scope_of(sample, "acme-manager")
    week = available_weeks(sample, scope)[0]
    calendar = Calendars.of(config, scope.clients).reference.name
    assert f"({week_number(week)}, {calendar})" in at.caption[0].value
