"""Money: invoice lines converted at the dated rate in force, or refused with the line and the fix; never a blind sum."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ConfigError, SchemaError
from connectors.store import FxRate, Scope, Workspace, parse_config
from insights import money
from insights.errors import MoneyError
from insights.metrics.kpis import compute_kpis

TOML = """[workspace]
name = "money test"
currency = "USD"
[[client]]
id = "acme"
"""
PHP_RATES = """
[[fx_rate]]
currency = "PHP"
rate = 0.018
from = 2026-01-01
[[fx_rate]]
currency = "PHP"
rate = 0.0175
from = 2026-10-01
"""
OCT = (date(2026, 10, 1), date(2026, 10, 31))
LINEAGE = {"source_system": "test", "source_instance": "t", "client_id": "acme", "vendor_id": "northwind", "site_id": "s1"}
RATES = (FxRate(currency="PHP", rate=0.018, valid_from=date(2026, 1, 1)),
         FxRate(currency="PHP", rate=0.0175, valid_from=date(2026, 10, 1)),
         FxRate(currency="EUR", rate=1.1, valid_from=date(2026, 1, 1)))


def lines(*rows: tuple[float, str | None, date]) -> pl.DataFrame:
    return pl.DataFrame([{"vendor_id": "northwind", "invoice_id": "NW-10", "line_no": i + 1, "amount": a,
                          "unit_rate": None, "currency": c, "period_start": d} for i, (a, c, d) in enumerate(rows)],
                        schema={"vendor_id": pl.String, "invoice_id": pl.String, "line_no": pl.Int64, "amount": pl.Float64,
                                "unit_rate": pl.Float64, "currency": pl.String, "period_start": pl.Date})


@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param([(100.0, "USD", OCT[0])], 100.0, id="reporting-currency-as-billed"),
    pytest.param([(100.0, "USD", OCT[0]), (1000.0, "PHP", OCT[0])], 117.5, id="php-at-the-october-rate"),
    pytest.param([(1000.0, "PHP", date(2026, 9, 30))], 18.0, id="php-the-day-before-uses-the-older-rate"),
    pytest.param([(1000.0, "PHP", date(2026, 9, 1)), (1000.0, "PHP", date(2026, 11, 1)), (10.0, "EUR", OCT[0])],
                 18.0 + 17.5 + 11.0, id="each-line-at-its-own-date-and-currency"),
])
def test_total_converts_each_line_at_the_rate_in_force_on_its_service_date(rows, expected):
    assert money.total(lines(*rows), currency="USD", rates=RATES) == pytest.approx(expected)


@pytest.mark.parametrize(("rows", "message"), [
    pytest.param([(100.0, "USD", OCT[0]), (1000.0, "PHP", date(2025, 12, 31))],
                 r"line vendor_id northwind, invoice_id NW-10, line_no 2 is in PHP dated 2025-12-31 and no PHP rate "
                 r"is in force then; add \[\[fx_rate\]\] currency = \"PHP\"", id="before-the-first-rate"),
    pytest.param([(5.0, "GBP", OCT[0])], r"line_no 1 is in GBP .* add \[\[fx_rate\]\] currency = \"GBP\"", id="no-rate-at-all"),
    pytest.param([(5.0, None, OCT[0])], r"line_no 1 has no currency; fill its currency column", id="no-currency"),
])
def test_a_line_that_cannot_be_converted_stops_the_sum_naming_the_line_and_the_fix(rows, message):
    with pytest.raises(MoneyError, match=message):
        money.total(lines(*rows), currency="USD", rates=RATES)


def test_convert_keeps_lazy_frames_lazy_and_sets_the_currency():
    out = money.convert(lines((1000.0, "PHP", OCT[0])).lazy(), RATES, "USD")
    assert isinstance(out, pl.LazyFrame)
    assert out.collect().select("amount", "currency").row(0) == (pytest.approx(17.5), "USD")


@pytest.mark.parametrize(("entry", "message"), [
    pytest.param('currency = "PHP"\nrate = 0.0175\nfrom = 2026-10-01\nto = 2026-12-31',
                 r"\[\[fx_rate\]\] #1: 'to' is not a key of \[\[fx_rate\]\] \(keys: currency, rate, from\)", id="unknown-key"),
    pytest.param('currency = "PHP"\nrate = 0.0175', r"#1: 'from' is missing", id="missing-from"),
    pytest.param('currency = "PHP"\nrate = 0.0175\nfrom = "1 Oct 2026"', r"from '1 Oct 2026' is not a date; write a bare TOML date",
                 id="date-as-text"),
    pytest.param('currency = "PHP"\nrate = 0\nfrom = 2026-10-01', r"rate 0 must be a positive number \(USD per 1 PHP\)",
                 id="zero-rate"),
    pytest.param('currency = "PHP"\nrate = -1.5\nfrom = 2026-10-01', r"rate -1.5 must be a positive number", id="negative-rate"),
    pytest.param('currency = "peso"\nrate = 0.0175\nfrom = 2026-10-01', r"currency 'peso' is not an ISO 4217 code",
                 id="not-iso"),
    pytest.param('currency = "USD"\nrate = 1.0\nfrom = 2026-10-01', r"currency USD is the workspace's reporting currency",
                 id="reporting-currency"),
])
def test_fx_rates_in_bpo_toml_are_validated_strictly(tmp_path: Path, entry: str, message: str):
    (tmp_path / "bpo.toml").write_text(TOML + "[[fx_rate]]\n" + entry + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        parse_config(tmp_path / "bpo.toml")


def test_fx_rates_are_parsed_into_dated_records(tmp_path: Path):
    (tmp_path / "bpo.toml").write_text(TOML + PHP_RATES, encoding="utf-8")
    assert parse_config(tmp_path / "bpo.toml").fx_rates == RATES[:2]


def workspace(tmp: Path, toml: str) -> Workspace:
    """October: 1,000 tickets solved; invoiced USD 4,440 of agent hours and PHP 64,480 of overtime (the issue's case)."""
    ws = Workspace.create(tmp, toml)
    t0 = datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
    ws.upsert("tickets", pl.DataFrame([
        dict(LINEAGE, ticket_id=f"t{i}", channel="email", status="solved", created_at=t0 + timedelta(hours=i % 600),
             resolved_at=t0 + timedelta(hours=i % 600 + 1)) for i in range(1000)]))
    common = dict(LINEAGE, invoice_id="NW-10", period_start=OCT[0], period_end=OCT[1], channel=None,
                  billing_model="per_hour", committed_volume=None)
    ws.upsert("cost_invoices", pl.DataFrame([
        dict(common, line_no=1, quantity=296.0, unit_rate=15.0, amount=4440.0, currency="USD"),
        dict(common, line_no=2, quantity=80.0, unit_rate=806.0, amount=64480.0, currency="PHP"),
    ], infer_schema_length=None))
    return ws


def test_cost_per_resolved_contact_converts_the_php_line_instead_of_adding_pesos_to_dollars(tmp_path: Path):
    ws = workspace(tmp_path, TOML + PHP_RATES)
    k = compute_kpis(ws, Scope.everything(), ["cost_per_resolved_contact"], grain="month", start=OCT[0], end=OCT[1])
    # (4,440 + 64,480 × 0.0175) / 1,000 = 5.5684, not (4,440 + 64,480) / 1,000 = 68.92
    assert k.get_column("value").to_list() == [pytest.approx(5.5684)]


def test_a_php_line_without_a_rate_stops_the_import(tmp_path: Path):
    with pytest.raises(SchemaError, match=r"cost_invoices row 2, column 'currency': PHP has no \[\[fx_rate\]\] in force on "
                                          r"2026-10-01; add \[\[fx_rate\]\] currency = \"PHP\""):
        workspace(tmp_path, TOML)


def test_a_php_line_whose_rate_was_removed_stops_the_kpi(tmp_path: Path):
    workspace(tmp_path, TOML + PHP_RATES)
    (tmp_path / "bpo.toml").write_text(TOML, encoding="utf-8")
    with pytest.raises(MoneyError, match=r"invoice_id NW-10, line_no 2 is in PHP dated 2026-10-01 .* from = 2026-10-01"):
        compute_kpis(Workspace.open(tmp_path), Scope.everything(), ["cost_per_resolved_contact"], grain="month",
                     start=OCT[0], end=OCT[1])
