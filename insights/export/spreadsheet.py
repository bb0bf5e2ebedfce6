"""Tables as CSV or Excel that are safe to open: cells that a spreadsheet would run as a formula are neutralised.

A text cell starting with `=`, `+`, `-`, `@` (or a tab / carriage return, which some spreadsheets
strip before reading the rest, or any of these after leading spaces) is prefixed with an apostrophe,
so `=HYPERLINK(...)` planted in a ticket's queue name shows as text instead of running (OWASP "CSV
injection").  Numbers stay numbers, and so does a signed amount the product writes ('+11.2 pts'): a sign,
digits and one unit cannot call, link or run anything.  Every CSV or XLSX the product writes (`to_csv`, `to_xlsx`, the
CLI's `--format csv`) goes through `safe_frame`.
"""

from __future__ import annotations

import io
import re
from typing import Any

import polars as pl

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
# the same rule for a whole column: a formula prefix, optionally after leading spaces (or a tab / CR anywhere first)
DANGEROUS_PATTERN = "^[ \u00a0]*[=+\\-@\t\r]"
# ... except a signed amount as the product writes it ('+11.2 pts', '+58', '-4.2 min', '+1,204', '+3%'): a sign,
# digits and separators, and at most one unit; nothing a spreadsheet could call, link or run, so it is shown as is
# (an apostrophe would show in the dashboard's tables and in the file)
AMOUNT_PATTERN = "^[+\\-][0-9][0-9.,]*(?: ?(?:%|pts|pp|s|min|h|d))?$"


def neutralise(value: Any) -> Any:
    """A text value made inert for spreadsheets; anything else unchanged."""
    if isinstance(value, str) and value.lstrip(" \u00a0").startswith(DANGEROUS) and not re.fullmatch(AMOUNT_PATTERN, value):
        return "'" + value
    return value


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell neutralised (column names too)."""
    texts = [c for c, t in frame.schema.items() if t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum)]
    out = frame.with_columns(
        pl.when(pl.col(c).cast(pl.String).str.contains(DANGEROUS_PATTERN)
                & ~pl.col(c).cast(pl.String).str.contains(AMOUNT_PATTERN)).then(pl.lit("'") + pl.col(c).cast(pl.String))
        .otherwise(pl.col(c).cast(pl.String)).alias(c) for c in texts)
    return out.rename({c: neutralise(c) for c in out.columns if neutralise(c) != c})


def to_csv(frame: pl.DataFrame) -> bytes:
    """CSV (UTF-8 with BOM so Excel reads accents) of the neutralised frame."""
    return ("\ufeff" + safe_frame(frame).write_csv()).encode("utf-8")


def to_xlsx(frame: pl.DataFrame, *, sheet: str = "data") -> bytes:
    """An .xlsx workbook of the neutralised frame; every text cell is stored as text, never as a formula."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    safe = safe_frame(frame)
    ws.append(list(safe.columns))
    for row in safe.iter_rows():
        ws.append([v.replace(tzinfo=None) if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) else v for v in row])
    for row in ws.iter_rows(min_row=1):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would otherwise store '=…' as a formula
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
