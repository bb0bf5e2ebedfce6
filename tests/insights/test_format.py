"""One formatter: values, changes, intervals, durations, money and labels read the same on every surface."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from insights import format
from insights.catalog import load_catalog

KPIS = load_catalog().kpis
NAMES = format.Names(client={"acme": "Acme Home"}, vendor={"northwind": "Northwind BPO"},
                     site={"nw-manila": "Northwind Manila"}, kpi={"csat": "CSAT (top box)"})


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(0.0, "0 s", id="nothing"),
    pytest.param(42.4, "42 s", id="seconds"),
    pytest.param(59.6, "1.0 min", id="rounds-up-to-a-minute"),
    pytest.param(252.0, "4.2 min", id="minutes"),
    pytest.param(3599.6, "1.0 h", id="rounds-up-to-an-hour"),
    pytest.param(9000.0, "2.5 h", id="hours"),
    pytest.param(86_399.0, "1.0 d", id="rounds-up-to-a-day"),
    pytest.param(302_400.0, "3.5 d", id="days"),
    pytest.param(-185.0, "−3.1 min", id="negative"),
    pytest.param(None, "–", id="missing"),
    pytest.param(math.nan, "–", id="nan"),
])
def test_a_duration_is_one_number_and_one_unit_at_every_magnitude(seconds, text):
    assert format.duration(seconds) == text


@pytest.mark.parametrize(("kpi", "value", "text"), [
    pytest.param(KPIS["csat"], 0.91234, "91.2%", id="percent"),
    pytest.param(KPIS["attrition_annualised"], 0.347, "35%", id="percent-in-the-kpis-own-format"),
    pytest.param(KPIS["aht"], 252.0, "4.2 min", id="duration"),
    pytest.param(KPIS["tickets_created"], 1204.0, "1,204", id="count"),
    pytest.param(KPIS["net_ticket_flow"], -58.0, "−58", id="signed-count-with-a-minus-sign"),
    pytest.param(KPIS["cost_per_contact"], 4.436, "4.44", id="currency"),
    pytest.param(KPIS["contacts_per_customer"], 1.234, "1.23", id="ratio"),
    pytest.param("percent", 0.8123, "81.2%", id="unit-alone"),
    pytest.param(KPIS["csat"], None, "–", id="none"),
    pytest.param(KPIS["csat"], math.nan, "–", id="nan"),
    pytest.param(KPIS["aht"], math.inf, "–", id="infinite"),
    pytest.param("percent", np.float32("nan"), "–", id="numpy-nan"),
])
def test_values(kpi, value, text):
    assert format.value(kpi, value) == text


@pytest.mark.parametrize(("kpi", "change", "text"), [
    pytest.param(KPIS["csat"], 0.012, "+1.2 pts", id="points"),
    pytest.param(KPIS["csat"], -0.137, "−13.7 pts", id="points-down"),
    pytest.param(KPIS["attrition_annualised"], 0.034, "+3 pts", id="points-in-the-kpis-precision"),
    pytest.param(KPIS["aht"], -185.0, "−3.1 min", id="duration"),
    pytest.param(KPIS["tickets_created"], 58.0, "+58", id="count"),
    pytest.param(KPIS["net_ticket_flow"], 58.0, "+58", id="a-signed-format-signs-once"),
    pytest.param(KPIS["tickets_created"], 0.0, "±0", id="no-change"),
    pytest.param(KPIS["csat"], -0.00004, "±0.0 pts", id="rounds-to-nothing"),
    pytest.param(KPIS["csat"], None, "–", id="nothing-to-compare"),
])
def test_changes_carry_their_sign_and_unit(kpi, change, text):
    assert format.delta(kpi, change) == text


@pytest.mark.parametrize(("kpi", "lo", "hi", "change", "text"), [
    pytest.param("percent", 0.801, 0.839, False, "80.1% to 83.9%", id="values"),
    pytest.param("percent", -0.021, 0.004, True, "−2.1 pts to +0.4 pts", id="changes"),
    pytest.param("seconds", 246.0, 276.0, False, "4.1 min to 4.6 min", id="durations"),
    pytest.param("percent", None, 0.8, False, "–", id="open-ended"),
    pytest.param("percent", math.nan, math.nan, True, "–", id="no-interval"),
])
def test_intervals(kpi, lo, hi, change, text):
    assert format.interval(kpi, lo, hi, change=change) == text


@pytest.mark.parametrize(("call", "text"), [
    pytest.param(lambda: format.count(1204), "1,204", id="count"),
    pytest.param(lambda: format.count(None), "–", id="count-missing"),
    pytest.param(lambda: format.money(2582.5, "USD"), "USD 2,582.50", id="money"),
    pytest.param(lambda: format.money(1038.4, "USD", cents=False), "USD 1,038", id="money-whole"),
    pytest.param(lambda: format.money(-12.0, "EUR"), "EUR −12.00", id="money-negative"),
    pytest.param(lambda: format.money(None, "USD"), "–", id="money-missing"),
    pytest.param(lambda: format.share(0.4201), "42.0%", id="share"),
    pytest.param(lambda: format.magnitude("percent", -0.145), "14.5 pts", id="magnitude"),
    pytest.param(lambda: format.p_value(0.012345), "0.0123", id="p-value"),
    pytest.param(lambda: format.p_value(math.nan), "–", id="p-value-nan"),
    pytest.param(lambda: format.text(None), "–", id="text-none"),
    pytest.param(lambda: format.text("Erlang C"), "Erlang C", id="text"),
])
def test_numbers_and_text(call, text):
    assert call() == text


@pytest.mark.parametrize(("kind", "ident", "text"), [
    pytest.param("client", "acme", "Acme Home", id="client-by-name"),
    pytest.param("site", "nw-manila", "Northwind Manila", id="site-by-name"),
    pytest.param("vendor", "eastbay", "eastbay", id="undeclared-falls-back-to-the-id"),
    pytest.param("kpi", "csat", "CSAT (top box)", id="kpi-label"),
    pytest.param("kpi", "first_response_time_median", "First response time (median)", id="kpi-label-from-the-catalog"),
    pytest.param("contact reason", "technical_issue", "technical issue", id="codes-in-words"),
    pytest.param("channel", None, "–", id="missing"),
])
def test_labels_are_names_not_ids(kind, ident, text):
    names = NAMES if kind != "kpi" or ident == "csat" else format.Names()
    assert format.label(kind, ident, names) == text


@pytest.mark.parametrize(("segment", "text"), [
    pytest.param({"client_id": "acme", "site_id": "nw-manila", "channel": "email"},
                 "Acme Home · site Northwind Manila · channel email", id="named"),
    pytest.param({"vendor_id": "northwind", "contact_reason": "technical_issue"},
                 "vendor Northwind BPO · contact reason technical issue", id="dimensions-in-words"),
    pytest.param({}, "all work in view", id="everything"),
])
def test_segments(segment, text):
    assert format.segment(segment, NAMES) == text


def test_names_come_from_bpo_toml():
    config = SimpleNamespace(clients=[{"id": "acme", "name": "Acme Home"}], vendors=[{"id": "northwind"}],
                             sites=[{"id": "nw-manila", "name": "Northwind Manila"}],
                             raw={"queue": [{"id": "acme-chat", "name": "Acme chat"}]})
    names = format.Names.of(config)
    assert (names.client, names.vendor, names.site, names.queue) == (
        {"acme": "Acme Home"}, {"northwind": "northwind"}, {"nw-manila": "Northwind Manila"}, {"acme-chat": "Acme chat"})
    assert names.kpi["sla_first_response"] == "SLA attainment (first response)"


def test_filters_read_as_names():
    assert format.filters({"client": "acme", "channel": "email"}, NAMES) == "client: Acme Home · channel: email"
    assert format.filters({}, NAMES) == ""


QUEUE_ROW = {"queue_id": "acme-voice-nw-manila", "client_id": "acme", "vendor_id": "northwind", "site_id": "nw-manila",
             "channel": "voice"}


@pytest.mark.parametrize(("row", "names", "text"), [
    pytest.param(QUEUE_ROW, format.Names(queue={"acme-voice-nw-manila": "Acme voice, Manila"}), "Acme voice, Manila",
                 id="a-named-queue-by-its-name"),
    pytest.param(QUEUE_ROW, NAMES, "Acme Home · site Northwind Manila · channel voice",
                 id="an-unnamed-queue-by-the-work-it-holds-the-site-bringing-its-vendor"),
    pytest.param({k: v for k, v in QUEUE_ROW.items() if k not in ("queue_id", "site_id")}, NAMES,
                 "Acme Home · vendor Northwind BPO · channel voice", id="a-forecast-queue-without-a-site-names-its-vendor"),
    pytest.param({"queue_id": "q-17"}, NAMES, "q-17", id="its-id-when-nothing-else-is-known"),
])
def test_a_queue_is_shown_by_its_name_else_by_the_work_it_holds(row, names, text):
    assert format.queue(row, names) == text
