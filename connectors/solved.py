"""The one definition of a solved ticket: every count of solved tickets, the backlog, resolution time and the
sanity report read it from here (the KPI catalog through `definition = "..."` in insights/catalog/measures.toml).

- A ticket is **solved** when its status is `solved` or `closed`. A ticket without a status is solved when it
  has a `resolved_at` or a `closed_at` (an export that gives the times but no status). Any other status
  (`new`, `open`, `pending`, `on_hold`) is not solved, even with a `resolved_at`: a reopened ticket keeps the
  time it was last solved, and it is back in the backlog.
- A solved ticket was **solved at** its `resolved_at`, else its `closed_at`, else its last update
  (`updated_at`): so every solved ticket is counted once as solved, on one day, and leaves the backlog that
  day; a ticket that is not solved is in the backlog.
- **Resolution time** is measured over solved tickets only.

The definitions are SQL text, so the same words are evaluated by Polars (`pl.sql_expr`) and can be compiled
for a warehouse.

>>> frame.with_columns(solved_expr().alias("is_solved"))  # doctest: +SKIP
"""

from __future__ import annotations

import polars as pl

from connectors.schema import get_table

SOLVED_STATUSES = ("solved", "closed")
"""Status values of a solved ticket."""

IS_SOLVED = ("status IN ('solved', 'closed') "
             "OR (status IS NULL AND (resolved_at IS NOT NULL OR closed_at IS NOT NULL))")
SOLVED_AT = "CASE WHEN is_solved THEN coalesce(resolved_at, closed_at, updated_at) END"

DEFINITIONS: dict[str, str] = {"is_solved": IS_SOLVED, "solved_at": SOLVED_AT}
"""Named definitions the KPI catalog's derived columns may point to (`definition = "is_solved"`)."""

INPUTS = ("status", "resolved_at", "closed_at", "updated_at")
"""The ticket columns the definitions read."""


def solved_expr() -> pl.Expr:
    """True for a solved ticket (never null): evaluate over a frame holding every column of INPUTS."""
    return pl.sql_expr(IS_SOLVED).fill_null(False)


def solved_at_expr() -> pl.Expr:
    """When a solved ticket was solved; null for a ticket that is not solved."""
    return pl.sql_expr(SOLVED_AT.replace("is_solved", f"({IS_SOLVED})"))


def with_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with any absent input column added as nulls (a file that maps no status, no closed_at ...)."""
    cols = get_table("tickets").columns
    return frame.with_columns(pl.lit(None, dtype=cols[c].dtype).alias(c) for c in INPUTS if c not in frame.columns)
