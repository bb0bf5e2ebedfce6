"""Money: every invoice amount in the workspace's reporting currency, converted at dated rates or refused.

Each `cost_invoices` line carries its ISO 4217 `currency`.  A line in the reporting currency
(`[workspace] currency`) counts as billed; a line in another currency is converted at the
`[[fx_rate]]` of bpo.toml in force on the line's service date (its `period_start`): the entry of
that currency with the latest `from` on or before that date.  A line with no currency, or with no
rate in force, stops the computation with a `MoneyError` naming the line and the fix; amounts
are never summed across currencies.

>>> rates = (FxRate(currency="PHP", rate=0.0175, valid_from=date(2026, 7, 1)),)
>>> lines = pl.DataFrame({"amount": [100.0, 1000.0], "currency": ["USD", "PHP"],
...                       "period_start": [date(2026, 10, 1)] * 2})
>>> total(lines, currency="USD", rates=rates)
117.5
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar, cast

import polars as pl

from connectors.store import FxRate, Scope, Workspace, rate_in_force
from insights.errors import MoneyError

__all__ = ["FxRate", "MoneyError", "convert", "invoices", "rate_in_force", "total"]

SERVICE_DATE = "period_start"  # the day a line's service is dated by, for the rate in force
MONEY_COLUMNS = ("amount", "unit_rate")  # converted together, so amount = quantity × unit_rate still holds
LINE_KEYS = ("vendor_id", "invoice_id", "line_no")
SHOWN = 5  # lines named in one error

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _name(row: dict) -> str:
    keys = [f"{k} {row[k]}" for k in LINE_KEYS if row.get(k) is not None]
    return "line " + (", ".join(keys) if keys else f"#{row['__line'] + 1}")


def convert(lines: Frame, rates: Sequence[FxRate], currency: str, *, date_column: str = SERVICE_DATE) -> Frame:
    """`lines` with `amount` and `unit_rate` in `currency` (and `currency` set to it), or a MoneyError naming the lines.

    A line already in `currency` is kept as billed; another converts at `rate_in_force` on its
    `date_column`.  A lazy frame is collected (invoice tables are small) and returned lazy.
    """
    lazy = isinstance(lines, pl.LazyFrame)
    frame = lines.collect() if isinstance(lines, pl.LazyFrame) else lines
    if "currency" not in frame.columns:
        raise MoneyError("invoice lines have no 'currency' column; every line must name its ISO 4217 currency "
                         "(map one, or set it as a constant in the mapping file)")
    foreign = (pl.col("currency") != currency) | pl.col("currency").is_null()
    if frame.is_empty() or not frame.select(foreign.any()).item():
        return cast(Frame, frame.lazy() if lazy else frame)
    indexed = frame.with_row_index("__line").with_columns(pl.col(date_column).cast(pl.Date).alias("__on"))
    pairs = indexed.select("currency", "__on").unique().filter(pl.col("currency").is_not_null() & (pl.col("currency") != currency))
    found = [(c, d, rate_in_force(rates, c, d)) if d is not None else (c, d, None) for c, d in pairs.iter_rows()]
    fx = pl.DataFrame([(c, d, r.rate if r else None) for c, d, r in found], orient="row",
                      schema={"currency": pl.String, "__on": pl.Date, "__fx": pl.Float64})
    with_rate = indexed.join(fx, on=["currency", "__on"], how="left", nulls_equal=True).sort("__line")
    factor = pl.when(pl.col("currency") == currency).then(pl.lit(1.0)).otherwise(pl.col("__fx"))
    bad = with_rate.filter(factor.is_null())
    if bad.height:
        problems = []
        for row in bad.head(SHOWN).iter_rows(named=True):
            if row["currency"] is None:
                problems.append(f"{_name(row)} has no currency; fill its currency column ({currency} or the code billed)")
            else:
                problems.append(f"{_name(row)} is in {row['currency']} dated {row['__on']} and no {row['currency']} rate "
                                f"is in force then; add [[fx_rate]] currency = \"{row['currency']}\", rate = "
                                f"<{currency} per 1 {row['currency']}>, from = {row['__on']} (or earlier) to bpo.toml")
        more = f" (and {bad.height - SHOWN} more)" if bad.height > SHOWN else ""
        raise MoneyError(f"cannot add up invoice amounts in {currency}: " + "; ".join(problems) + more)
    present = [c for c in MONEY_COLUMNS if c in frame.columns]
    out = with_rate.with_columns(*[(pl.col(c) * factor).alias(c) for c in present],
                                 pl.lit(currency, dtype=pl.String).alias("currency")).select(frame.columns)
    return cast(Frame, out.lazy() if lazy else out)


def total(lines: pl.DataFrame, *, currency: str, rates: Sequence[FxRate] = (), column: str = "amount") -> float:
    """Σ `column` of `lines` in `currency` (converted line by line at the dated rates), or a MoneyError."""
    return float(convert(lines, rates, currency).get_column(column).sum())


def invoices(ws: Workspace, scope: Scope, *, columns: list[str] | None = None) -> pl.DataFrame:
    """The viewer's `cost_invoices` lines with every amount in the workspace's reporting currency."""
    cols = None if columns is None else list(dict.fromkeys([*columns, "currency", SERVICE_DATE]))
    frame = ws.read("cost_invoices", scope, columns=cols)
    return convert(frame, ws.config.fx_rates, ws.config.currency).select(columns or frame.columns)


def invoiced_through(ws: Workspace, scope: Scope, *, by: str | None = None) -> dict[str | None, date]:
    """The last day the viewer's invoice lines bill, overall (key None) or per value of column `by`."""
    cols = ["period_end"] + ([by] if by else [])
    frame = ws.read("cost_invoices", scope, columns=cols).filter(pl.col("period_end").is_not_null())
    if by is None:
        return {None: frame.get_column("period_end").max()} if frame.height else {}  # type: ignore[dict-item]
    return {key: last for key, last in frame.group_by(by).agg(pl.col("period_end").max()).iter_rows()}


def unbilled_reason(through: date | None, start: date) -> str:
    """Why a cost over a period starting `start` is '–': nothing invoiced, or the invoices stop before it is whole."""
    if through is None:
        return "not invoiced (no invoice line bills this work)"
    return f"not fully invoiced: invoices run to {through:%d %b %Y}" if through >= start else \
        f"not invoiced yet: invoices run to {through:%d %b %Y}"
