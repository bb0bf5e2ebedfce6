"""Month-, quarter- and year-to-date totals of the review's tiles: the KPI over the period's days up to the review
week's Sunday, as Σ/Σ (exact quantiles for medians), never a mean of weekly values; the Sunday decides the period."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import polars as pl
import pytest

import tiny
from connectors.store import Scope
from insights.review import build_review, to_date_caption

ACME = Scope.of(["acme"], "*")
W = tiny.REVIEW_WEEK  # Mon 3 – Sun 9 Mar 2025


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def acme_met(day: date) -> int:
    """acme first responses within target on `day` (6 tickets a day, the first `w % 3` breach)."""
    return 6 - tiny.breaches((day - tiny.FIRST_MONDAY).days // 7)


@pytest.fixture(scope="module")
def acme_review(tiny_ws):
    return build_review(tiny_ws, ACME, week=W)


class Span(NamedTuple):
    label: str
    first: date


@pytest.mark.parametrize("span", [
    pytest.param(Span("MTD", date(2025, 3, 1)), id="month-to-date"),
    pytest.param(Span("QTD", date(2025, 1, 1)), id="quarter-to-date"),
    pytest.param(Span("YTD", date(2025, 1, 1)), id="year-to-date"),
])
def test_a_to_date_total_is_the_ratio_of_the_periods_sums(acme_review, span):
    period = days(span.first, W + timedelta(days=6))
    met, tickets = sum(acme_met(d) for d in period), 6 * len(period)
    total = acme_review.tile("sla_first_response").total(span.label)
    assert (total.start, total.end, total.n) == (span.first, date(2025, 3, 9), tickets)
    assert total.value == pytest.approx(met / tickets)
    assert total.formatted == f"{met / tickets:.1%}"
    assert acme_review.tile("tickets_created").total(span.label).value == tickets


def test_month_to_date_by_hand(acme_review):
    # 1–2 Mar are in the week with one breach a day (5 met of 6), 3–9 Mar in the week with two (4 of 6)
    mtd = acme_review.tile("sla_first_response").total("MTD")
    assert (mtd.n, mtd.value) == (54, pytest.approx((2 * 5 + 7 * 4) / 54))
    assert mtd.formatted == "70.4%"


def test_a_total_is_not_the_mean_of_the_weekly_values(acme_review):
    qtd = acme_review.tile("sla_first_response").total("QTD")
    weeks = [date(2024, 12, 30) + timedelta(weeks=i) for i in range(11)]  # every week touching 1 Jan – 9 Mar
    mean_of_weeks = sum(sum(acme_met(w + timedelta(days=k)) for k in range(7)) / 42 for w in weeks) / len(weeks)
    assert qtd.value == pytest.approx(335 / 408)  # 82.1 %: the days of the quarter, and only those
    assert mean_of_weeks == pytest.approx(0.8333, abs=1e-4)  # what averaging weekly rates would have said


def test_medians_and_p90s_are_exact_quantiles_of_the_periods_tickets(tiny_ws, acme_review):
    ytd = pl.col("created_at").dt.date().is_between(date(2025, 1, 1), date(2025, 3, 9))
    t = tiny_ws.read("tickets", ACME).filter(ytd)
    seconds = t.get_column("first_response_seconds")
    tile = acme_review.tile("first_response_time_p90")
    assert tile.total("YTD").value == pytest.approx(seconds.quantile(0.9, "linear"))
    assert acme_review.tile("first_response_time_median").total("YTD").value == pytest.approx(seconds.median())


class Straddle(NamedTuple):
    week: date
    mtd: date
    qtd: date
    ytd: date


@pytest.mark.parametrize("case", [
    pytest.param(Straddle(date(2024, 7, 29), date(2024, 8, 1), date(2024, 7, 1), date(2024, 1, 1)),
                 id="jul-aug-week-counts-in-august"),
    pytest.param(Straddle(date(2024, 12, 30), date(2025, 1, 1), date(2025, 1, 1), date(2025, 1, 1)),
                 id="new-year-week-counts-in-the-new-year"),
    pytest.param(Straddle(date(2024, 9, 30), date(2024, 10, 1), date(2024, 10, 1), date(2024, 1, 1)),
                 id="quarter-boundary"),
])
def test_the_weeks_sunday_decides_the_month_quarter_and_year(tiny_ws, case):
    review = build_review(tiny_ws, ACME, week=case.week)
    sunday = case.week + timedelta(days=6)
    tile = review.tile("tickets_created")
    assert tile.value == 42  # the week itself keeps all seven days
    for label, first in (("MTD", case.mtd), ("QTD", case.qtd), ("YTD", case.ytd)):
        total = tile.total(label)
        assert (total.start, total.end) == (first, sunday), label
        with_data = days(max(first, tiny.FIRST_MONDAY), sunday)  # the tiny data starts on 26 Feb 2024
        assert total.value == 6 * len(with_data), label


def test_the_caption_says_which_sunday_decides(acme_review):
    text = to_date_caption(date(2024, 12, 30))
    assert text.startswith("MTD from 01 Jan 2025 · QTD from 01 Jan 2025 · YTD from 01 Jan 2025, to Sunday 05 Jan 2025")
    assert "the week's Sunday decides the month, quarter and year" in text and "not averaged from weeks" in text


@pytest.mark.parametrize(("kpi", "target", "source", "status"), [
    pytest.param("sla_first_response", 0.9, "contract", "bad", id="contract-target-missed"),
    # a catalog default is shown and labelled, never judged: no ✓ even where it is met (defect 11)
    pytest.param("sla_resolution", 0.85, "catalog default", "neutral", id="catalog-default-not-judged"),
    pytest.param("tickets_created", None, None, "neutral", id="no-target"),
])
def test_each_total_carries_the_target_in_force(acme_review, kpi, target, source, status):
    for total in acme_review.tile(kpi).to_date:
        assert (total.target, total.target_source, total.status) == (target, source, status)
        if target is not None:
            assert total.vs_target == pytest.approx(total.value - target)


def test_filters_apply_to_the_totals(tiny_ws):
    review = build_review(tiny_ws, ACME, week=W, filters={"channel": "voice"})
    assert review.tile("tickets_created").total("MTD").value == 9  # one voice ticket a day, 1–9 Mar


def test_the_tile_says_its_totals_on_one_line(acme_review):
    assert acme_review.tile("sla_first_response").to_date_text == "MTD 70.4% · QTD 82.1% · YTD 82.1%"
    assert acme_review.tile("tickets_created").to_date_text == "MTD 54 · QTD 408 · YTD 408"


def test_a_view_without_data_has_empty_totals(tiny_ws):
    review = build_review(tiny_ws, Scope.of(["initech"], "*"))
    assert {t.formatted for tile in review.tiles for t in tile.to_date} == {"–"}


def test_cost_per_contact_to_date_stops_at_the_last_invoiced_day(tmp_path):
    """February is billed, March is not yet: QTD cost is the bill over the contacts up to 28 Feb, not over
    March's contacts too (which would make the unit cost look lower); MTD (March) is unknown."""
    from insights.metrics.kpis import compute_kpis

    ws = tiny.build(tmp_path / "ws")
    ws.upsert("cost_invoices", pl.DataFrame({
        "source_system": ["sheet"], "source_instance": ["acme"], "client_id": ["acme"], "vendor_id": ["northwind"],
        "site_id": ["nw-manila"], "invoice_id": ["INV-2"], "line_no": [1], "period_start": [date(2025, 2, 1)],
        "period_end": [date(2025, 2, 28)], "billing_model": ["per_contact"], "amount": [2800.0],
        "currency": ["USD"]}))
    tile = build_review(ws, ACME, week=W).tile("cost_per_contact")
    mtd, qtd = tile.total("MTD"), tile.total("QTD")
    assert (mtd.value, mtd.formatted) == (None, "–")
    assert (qtd.start, qtd.end) == (date(2025, 1, 1), date(2025, 2, 28))

    def cost(end: date) -> float:
        f = compute_kpis(ws, ACME, ["cost_per_contact"], grain="quarter", start=date(2025, 1, 1), end=end)
        return f.get_column("value")[0]
    assert qtd.value == pytest.approx(cost(date(2025, 2, 28)))
    assert cost(W + timedelta(days=6)) is None  # a quarter billed only in part has no cost, never a partial sum


def test_a_month_to_date_of_one_day_is_shown_but_not_judged(tiny_ws):
    """Week of 26 Aug 2024: its Sunday is 1 Sep, so MTD is one day; it carries no ✓/✗ and says how short it is."""
    from dashboard.components import to_date_html

    tile = build_review(tiny_ws, ACME, week=date(2024, 8, 26)).tile("sla_first_response")
    mtd, qtd = tile.total("MTD"), tile.total("QTD")
    assert (mtd.days, mtd.status, mtd.value is not None) == (1, "neutral", True)
    assert mtd.span == "month to date, 1 day, 01 Sep – 01 Sep 2024"
    assert (qtd.days, qtd.status) == (63, "bad")  # 1 Jul – 1 Sep: long enough to miss the 90 % contract
    cells = to_date_html(tile)
    mtd_cell = cells.split('data-total="MTD"')[1].split('data-total="QTD"')[0]
    assert ">MTD, 1 d<" in mtd_cell and "✗" not in mtd_cell and "✓" not in mtd_cell
