"""Pricing: each reconciliation rule on a hand-built invoice, credits owed vs invoiced, minimums, cost per contact, what-if."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.metrics.periods import period_end
from insights.metrics.credits import credits_at_stake
from insights.analyses.pricing import (PricingError, cost_per_contact, effective_hourly_rate, move_volume,
                              reconcile_invoices, unused_minimums)

TOML = """[workspace]
name = "pricing test"
[[client]]
id = "acme"
[[vendor]]
id = "northwind"
[[vendor]]
id = "southpeak"
[[site]]
id = "s1"
vendor = "northwind"
[[site]]
id = "s2"
vendor = "southpeak"
[[rate_card]]
vendor = "northwind"
site = "s1"
billing_model = "per_hour"
rate = 15.0
[[rate_card]]
vendor = "southpeak"
site = "s2"
billing_model = "per_contact"
channel = "email"
rate = 3.0
"""
JAN = (date(2026, 1, 1), date(2026, 1, 31))
LINEAGE = dict(source_system="test", source_instance="t", client_id="acme")


def line(vendor: str, invoice: str, no: int, site: str, model: str, qty: float | None, rate: float | None,
         amount: float, channel: str | None = None, committed: float | None = None) -> dict:
    return dict(LINEAGE, vendor_id=vendor, site_id=site, invoice_id=invoice, line_no=no, period_start=JAN[0],
                period_end=JAN[1], channel=channel, billing_model=model, quantity=qty, unit_rate=rate, amount=amount,
                currency="USD", committed_volume=committed)


BASE = [
    line("northwind", "NW-1", 1, "s1", "per_hour", 100.0, 15.0, 1500.0),
    line("southpeak", "SP-1", 1, "s2", "per_contact", 50.0, 3.0, 150.0, "email", 60.0),
    line("southpeak", "SP-1", 2, "s2", "minimum_shortfall", 10.0, 3.0, 30.0, "email", 60.0),
    line("southpeak", "SP-1", 3, "s2", "credit", 15.0, 100.0, -1500.0, "email"),
]


def build(tmp: Path, lines: list[dict]) -> Workspace:
    """100 logged hours at s1; 50 email tickets at s2 (35 within first-response target); a 85 % target at $100/point."""
    ws = Workspace.create(tmp, TOML)
    ws.upsert("staffing_roster", pl.DataFrame([
        dict(LINEAGE, vendor_id="northwind", site_id="s1", agent_id="a1", date=date(2026, 1, d), status="active",
             logged_seconds=36000.0) for d in range(5, 15)]))
    t0 = datetime(2026, 1, 10, 12, tzinfo=timezone.utc)
    ws.upsert("tickets", pl.DataFrame([
        dict(LINEAGE, vendor_id="southpeak", site_id="s2", ticket_id=f"t{i}", channel="email",
             created_at=t0 + timedelta(hours=i), resolved_at=t0 + timedelta(hours=i + 5) if i < 40 else None,
             status="solved" if i < 40 else "open",
             first_response_breached=i >= 35, handle_seconds=400.0) for i in range(50)]))
    ws.upsert("sla_targets", pl.DataFrame([dict(
        source_system="test", source_instance="t", client_id="acme", target_id="acme-fr-email", effective_from=date(2025, 1, 1),
        channel="email", metric="sla_first_response", threshold_seconds=3600.0, attainment_target=0.85,
        penalty_per_point=100.0, currency="USD")]))
    ws.upsert("cost_invoices", pl.DataFrame(lines, infer_schema_length=None))
    return ws


def with_change(index: int, **changes) -> list[dict]:
    return [dict(line, **changes) if i == index else line for i, line in enumerate(BASE)]


@pytest.mark.parametrize(("lines", "where", "flags"), [
    pytest.param(BASE, None, [], id="clean-invoice"),
    pytest.param(with_change(0, quantity=110.0, amount=1650.0), ("NW-1", 1), ["hours_over_billed"], id="hours-over-billed"),
    pytest.param(with_change(0, quantity=90.0, amount=1350.0), ("NW-1", 1), ["hours_under_billed"], id="hours-under-billed"),
    pytest.param(with_change(1, quantity=55.0, amount=165.0), ("SP-1", 1), ["contacts_over_billed"], id="contacts-over-billed"),
    pytest.param(with_change(1, quantity=45.0, amount=135.0), ("SP-1", 1), ["contacts_under_billed"], id="contacts-under-billed"),
    pytest.param(with_change(0, amount=1600.0), ("NW-1", 1), ["amount_mismatch"], id="amount-not-quantity-times-rate"),
    pytest.param(with_change(0, unit_rate=16.0, amount=1600.0), ("NW-1", 1), ["rate_above_card"], id="rate-above-card"),
    pytest.param(with_change(2, quantity=20.0, amount=60.0), ("SP-1", 2), ["shortfall_not_owed"], id="shortfall-not-owed"),
])
def test_reconciliation_rules(tmp_path, lines, where, flags):
    rec = reconcile_invoices(build(tmp_path / "ws", lines), Scope.everything())
    flagged = {(r["invoice_id"], r["line_no"]): r["flags"] for r in rec.flagged.iter_rows(named=True)}
    assert flagged == ({} if where is None else {where: flags})


def test_measured_quantities_are_the_roster_hours_and_handled_contacts(tmp_path):
    rec = reconcile_invoices(build(tmp_path / "ws", BASE), Scope.everything())
    measured = dict(zip(zip(rec.lines["invoice_id"], rec.lines["line_no"]), rec.lines["measured"]))
    assert measured[("NW-1", 1)] == pytest.approx(100.0)
    assert measured[("SP-1", 1)] == 50.0
    assert measured[("SP-1", 2)] == 10.0  # committed 60 - handled 50


@pytest.mark.parametrize(("credit", "flag"), [
    pytest.param(-1500.0, None, id="credit-as-owed"),
    pytest.param(-500.0, "credit_short", id="credit-short"),
    pytest.param(-2000.0, "credit_over", id="credit-over"),
    pytest.param(None, "credit_short", id="credit-missing"),
])
def test_sla_credits_owed_vs_invoiced(tmp_path, credit, flag):
    lines = BASE[:3] + ([] if credit is None else [dict(BASE[3], amount=credit)])
    credits = reconcile_invoices(build(tmp_path / "ws", lines), Scope.everything()).credits
    row = credits.row(0, named=True)
    assert row["owed"] == pytest.approx(1500.0)  # (85 % - 70 %) x 100 points x $100
    assert row["flag"] == flag


def test_unused_minimum_and_cost_per_contact(tmp_path):
    ws = build(tmp_path / "ws", BASE)
    unused = unused_minimums(ws, Scope.everything()).row(0, named=True)
    assert (unused["unused"], unused["unused_cost"], unused["shortfall_billed"]) == (10.0, 30.0, 30.0)
    cpc = cost_per_contact(ws, Scope.everything(), by=("vendor_id", "site_id")).filter(pl.col("site_id") == "s2").row(0, named=True)
    assert cpc["cost"] == pytest.approx(150.0 + 30.0 - 1500.0)
    # the catalog's definitions: per handled contact (a text ticket is handled when solved) and per ticket solved
    assert (cpc["contacts"], cpc["resolved"]) == (40.0, 40.0)
    assert cpc["cost_per_contact"] == pytest.approx((150.0 + 30.0 - 1500.0) / 40)
    assert cpc["cost_per_resolved"] == pytest.approx((150.0 + 30.0 - 1500.0) / 40)
    rate = effective_hourly_rate(ws, Scope.everything()).filter(pl.col("site_id") == "s1").row(0, named=True)
    assert rate["effective_hourly_rate"] == pytest.approx(15.0) and rate["vs_card"] == pytest.approx(0.0)


def test_invoices_are_scoped_and_required(tmp_path):
    ws = build(tmp_path / "ws", BASE)
    with pytest.raises(PricingError, match="no cost_invoices in scope"):
        reconcile_invoices(ws, Scope())


# --------------------------------------------------------------------------- the sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    from sample_data.generator import generate

    out: Path = tmp_path_factory.mktemp("pricing") / "ws"
    generate(out, weeks=40, scale=0.05)
    return Workspace.open(out)


def test_sample_invoices_reconcile_and_its_shortfall_story_shows(sample):
    rec = reconcile_invoices(sample, Scope.everything())
    assert rec.flagged.height == 0  # the sample's vendors bill what was measured
    assert rec.credits["flag"].null_count() == rec.credits.height
    unused = unused_minimums(sample, Scope.everything()).filter(pl.col("unused") > 0)
    assert set(unused["vendor_id"]) == {"eastbay"}
    assert ((unused["unused_cost"] - unused["shortfall_billed"]).abs() < 0.01).all()


def test_sample_what_if_moves_volume_between_sites(sample):
    move = move_volume(sample, Scope.everything(), client="globex", channel="email", from_site="eb-cebu",
                       to_site="sp-krakow", share=0.25)
    assert move.contacts_moved > 0
    assert move.cost_change == pytest.approx(move.contacts_moved * (move.cost_per_contact_to - move.cost_per_contact_from))
    assert min(move.attainment_from, move.attainment_to) <= move.attainment_after <= max(move.attainment_from, move.attainment_to)
    with pytest.raises(PricingError, match="pick sites that serve this lane"):
        move_volume(sample, Scope.everything(), client="globex", channel="email", from_site="eb-cebu",
                    to_site="nw-manila", share=0.25)


# --------------------------------------------------------------------------- credits at stake: one definition per month


@pytest.mark.parametrize(("scope", "through", "total", "label", "reason"), [
    # 35 of 50 email tickets within target at s2: (85 % - 70 %) x 100 points x $100 = 1,500 for January
    pytest.param(Scope.everything(), None, 1500.0, "Jan 2026", None, id="admin-complete-month"),
    pytest.param(Scope.of(clients=["acme"], vendors=["southpeak"]), None, 1500.0, "Jan 2026", None,
                 id="the-vendor-sees-the-same-credit"),
    pytest.param(Scope.of(clients=["acme"], vendors=["northwind"]), None, 0.0, "Jan 2026", None,
                 id="another-vendor-owes-nothing"),
    pytest.param(Scope.everything(), date(2026, 1, 12), 1500.0, "month to date, 01 – 12 Jan 2026", None,
                 id="month-to-date-labelled"),
    pytest.param(Scope.everything(), date(2026, 1, 5), None, "month to date, 01 – 05 Jan 2026",
                 "5 day(s) of Jan 2026 so far; shown from day 7", id="too-young-to-show"),
])
def test_credits_at_stake_are_one_definition_per_month(tmp_path, scope, through, total, label, reason):
    ws = build(tmp_path / "ws", BASE)
    credits = credits_at_stake(ws, scope, month=date(2026, 1, 20), through=through)
    assert (credits.total, credits.label, credits.reason) == (total, label, reason)


def test_a_complete_months_credit_at_stake_is_the_credit_the_invoice_check_expects(tmp_path):
    ws = build(tmp_path / "ws", BASE)
    owed = reconcile_invoices(ws, Scope.everything()).credits.get_column("owed").sum()
    assert credits_at_stake(ws, Scope.everything(), month=JAN[0]).total == pytest.approx(owed) == pytest.approx(1500.0)


def test_sample_credits_agree_across_the_invoice_check_the_sla_page_and_viewers(sample):
    from insights.analyses.sla import sla_view

    admin, vendor = Scope.everything(), Scope.of(clients=["*"], vendors=["northwind"])
    owed = reconcile_invoices(sample, admin).credits.group_by(pl.col("invoice_id").str.slice(-7).alias("month")).agg(
        pl.col("owed").sum())
    assert owed.height > 0
    for month, total in owed.iter_rows():
        first = date(int(month[:4]), int(month[5:]), 1)
        assert credits_at_stake(sample, admin, month=first).total == pytest.approx(total)
    # the SLA page in the month's last week shows that month's lanes to date, the same for every viewer who sees them
    end = period_end(first, "month")
    week = end - timedelta(days=(end.weekday() + 1) % 7 + 6)  # the week whose Sunday is the month's last
    whole, part = sla_view(sample, admin, week=week).credits, sla_view(sample, vendor, week=week).credits
    assert whole.total is not None and whole.lanes.height > 0
    assert part.lanes.equals(whole.lanes.filter(pl.col("vendor_id") == "northwind"))
