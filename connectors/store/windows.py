"""Window columns kept in a table's rows: a ticket's "same customer back within 7 days" flag, stored beside the
row and kept current by every upsert, so a review reads a Boolean column instead of sorting a year of tickets by
customer.

A table's manifest may carry a `windows` section (see `tables.Manifest`):

```
"windows": {"spec": {"where": "...", "columns": [...], "windows": [{"name": "is_repeat_7d", ...}]}}
```

* `spec` is the definition, as data: the rows left out (`where`, SQL), the derived columns the windows read
  (SQL text evaluated with `pl.sql_expr`, the catalog's text) and each `next_within` window (partition, order,
  days, the partition columns a row needs a value in). The store never imports `insights/`:
  `insights.metrics.aggregates.window_spec` turns the catalog into this dict and the CLI installs it
  (`bpo-insights sample`, `bpo-insights init`, `bpo-insights store rebuild-aggregates`).
* While a section is installed, EVERY row file of the table holds one Boolean column per window, named
  `__w:<name>:<fingerprint>`: the fingerprint is a hash of that window's whole definition, so a reader whose
  catalog defines the window otherwise finds no column of that name and computes the window from the rows (the
  numbers never depend on whether the column is there; only the time does). `Workspace.scan` hides the columns
  from every reader but the KPI engine.
* A window looks only forward (`days` after the row, in UTC: 7 × 24 hours), and only within one client (the
  partition must name `client_id`): a row's flag depends on its partition's rows and on the first `days` of the
  next month's partition. An upsert therefore recomputes the flags of every partition it rewrites, newest first,
  with the next month's head as rewritten, and then of the month before each rewritten one, rewriting that file
  only when one of its flags changed: all in the same manifest swap as the rows.

`next_within` is the one implementation of the window: the KPI engine computes it with the same expression
when no stored column answers.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

import polars as pl

PREFIX = "__w:"
KINDS = ("next_within",)


def next_within(partition_by: Sequence[str], order_by: str, days: float, gate: Sequence[str]) -> pl.Expr:
    """True when the row's partition (e.g. the same customer of the same brand) has a next row, by `order_by`,
    at most `days` after it; False when it has none, when that is later, or when a `gate` column is null (a row
    with no customer matches no other).

    A window per partition keeps the frame's order (at 10M rows it beats sorting the wide frame)."""
    order = pl.col(order_by)
    gap = order.shift(-1).over(list(partition_by), order_by=order_by) - order
    known = pl.all_horizontal([pl.col(c).is_not_null() for c in gate])
    return pl.when(known).then(gap <= timedelta(days=float(days))).otherwise(False).fill_null(False)


def fingerprint(spec: Mapping[str, Any], window: Mapping[str, Any]) -> str:
    """A short hash of one window's whole definition: the rows left out, the columns it reads, its parameters."""
    body = json.dumps({"where": spec.get("where"), "columns": spec.get("columns", []), "window": dict(window)},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def stored_name(spec: Mapping[str, Any], window: Mapping[str, Any]) -> str:
    """The row files' column holding `window` (its name and fingerprint)."""
    return f"{PREFIX}{window['name']}:{fingerprint(spec, window)}"


def stored_columns(section: Mapping[str, Any] | None) -> list[str]:
    """The window columns every row file holds under this `windows` section (none: no section)."""
    if not section:
        return []
    spec = section["spec"]
    return [stored_name(spec, w) for w in spec.get("windows", [])]


def check_spec(spec: Mapping[str, Any]) -> None:
    """A ValueError naming what is wrong with a windows spec (the CLI builds it from the catalog)."""
    for w in spec.get("windows", []):
        if w.get("kind", "next_within") not in KINDS:
            raise ValueError(f"window {w.get('name')!r}: only {', '.join(KINDS)} windows are kept in the rows")
        if "client_id" not in w.get("partition_by", ()):
            raise ValueError(f"window {w.get('name')!r}: a kept window must be partitioned by client_id (a row's flag "
                             f"must not depend on which clients a viewer sees)")
        if float(w.get("days", 0)) > 28:
            raise ValueError(f"window {w.get('name')!r}: at most 28 days ahead (a month's partition and the next)")


def reach(spec: Mapping[str, Any]) -> timedelta:
    """How far into the next partition a row's flag may look."""
    return timedelta(days=max((float(w["days"]) for w in spec.get("windows", [])), default=0.0))


def flagged(rows: pl.DataFrame, following: pl.DataFrame | None, spec: Mapping[str, Any]) -> pl.DataFrame:
    """`rows` (one partition, in file order) with every window column of `spec` (replacing any it held), computed
    over the rows and `following` (the next month's first days, or None). Rows the spec leaves out (`where`)
    neither get a flag (False) nor count as another row's next one."""
    names = stored_columns({"spec": spec})
    rows = rows.drop([c for c in rows.columns if c.startswith(PREFIX)])
    if not names:
        return rows
    order_cols = sorted({w["order_by"] for w in spec["windows"]})
    needed = _inputs(spec)
    base = rows.select(needed).with_columns(pl.lit(True).alias("__mine"))
    if following is not None and following.height:
        base = pl.concat([base, following.select(needed).with_columns(pl.lit(False).alias("__mine"))],
                         how="vertical_relaxed")
    lf = base.lazy().with_row_index("__i")
    keep = pl.sql_expr(spec["where"]).fill_null(False) if spec.get("where") else pl.lit(True)
    lf = lf.with_columns(keep.alias("__keep"))
    lf = lf.filter(pl.col("__keep") & pl.all_horizontal([pl.col(c).is_not_null() for c in order_cols]))
    for c in spec.get("columns", []):
        lf = lf.with_columns(pl.sql_expr(c["expression"]).alias(c["name"]))
    lf = lf.with_columns([next_within(w["partition_by"], w["order_by"], w["days"], w.get("gate", ())).alias(n)
                          for w, n in zip(spec["windows"], names)])
    flags = lf.filter(pl.col("__mine")).select("__i", *names).collect()
    out = rows.with_row_index("__i").join(flags, on="__i", how="left").sort("__i").drop("__i")
    return out.with_columns([pl.col(n).fill_null(False) for n in names])


def head(rows: pl.DataFrame, spec: Mapping[str, Any], part: str) -> pl.DataFrame | None:
    """The first `reach` days of partition `part`'s rows (what the month before needs), only the columns read."""
    start = month_start(part)
    if start is None or rows.height == 0:
        return None
    cut = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc) + reach(spec)
    order_cols = sorted({w["order_by"] for w in spec["windows"]})
    early = pl.any_horizontal([pl.col(c) < cut for c in order_cols])
    return rows.select(_inputs(spec)).filter(early.fill_null(False))


def month_start(part: str) -> date | None:
    """The first day of a `YYYY-MM` partition (None for `unknown` or an unpartitioned table)."""
    try:
        return datetime.strptime(part, "%Y-%m").date()
    except ValueError:
        return None


def next_month(part: str) -> str | None:
    start = month_start(part)
    if start is None:
        return None
    days = calendar.monthrange(start.year, start.month)[1]
    return (start + timedelta(days=days)).strftime("%Y-%m")


def previous_month(part: str) -> str | None:
    start = month_start(part)
    return None if start is None else (start - timedelta(days=1)).strftime("%Y-%m")


def _inputs(spec: Mapping[str, Any]) -> list[str]:
    """The stored columns the windows read (through `where` and the derived columns), derived ones excluded."""
    derived = {c["name"] for c in spec.get("columns", [])}
    texts = [spec.get("where") or ""] + [c["expression"] for c in spec.get("columns", [])]
    refs: list[str] = []
    for t in texts:
        if t:
            refs += pl.sql_expr(t).meta.root_names()
    for w in spec["windows"]:
        refs += [*w["partition_by"], w["order_by"], *w.get("gate", ())]
    return [c for c in dict.fromkeys(refs) if c not in derived]


class WindowKeeper:
    """Keeps the window columns current while an upsert rewrites partitions (see the module docstring).

    `flag(part, rows)` is called for the rewritten partitions newest first; `neighbours(...)` then re-flags the
    month before each of them that the upsert did not rewrite. `read(part)` reads a committed partition's rows."""

    def __init__(self, section: Mapping[str, Any] | None, read: Callable[[str], pl.DataFrame | None]):
        self.section = dict(section) if section else None
        self.spec = self.section["spec"] if self.section else None
        self._read = read
        self._heads: dict[str, pl.DataFrame | None] = {}
        self._before: dict[str, pl.DataFrame | None] = {}  # a rewritten partition's first days as committed

    def _same_head(self, part: str) -> bool:
        """The rewritten partition's first `reach` days hold the rows they held (the month before cannot change)."""
        if part not in self._before:
            return False
        old, new = self._before[part], self._heads.get(part)
        if old is None or new is None:
            return old is None and new is None
        return old.height == new.height and old.sort(old.columns, nulls_last=True).equals(new.sort(new.columns, nulls_last=True))

    @property
    def active(self) -> bool:
        return self.spec is not None and bool(self.spec.get("windows"))

    def order(self, parts: set[str]) -> list[str]:
        """The rewritten partitions in the order they must be written (newest first while windows are kept)."""
        return sorted(parts, reverse=self.active)

    @staticmethod
    def strip(rows: pl.DataFrame) -> pl.DataFrame:
        """A committed partition's rows without their window columns (they are computed again)."""
        return rows.drop([c for c in rows.columns if c.startswith(PREFIX)])

    def _head(self, part: str | None) -> pl.DataFrame | None:
        if part is None or self.spec is None:
            return None
        if part not in self._heads:
            rows = self._read(part)
            self._heads[part] = None if rows is None else head(rows, self.spec, part)
        return self._heads[part]

    def flag(self, part: str, rows: pl.DataFrame, committed: pl.DataFrame | None = None) -> pl.DataFrame:
        """Partition `part`'s new rows with their window columns (no section: the rows, any stale column dropped).

        `committed`: the partition's rows before this upsert, whose first days decide whether the month before
        needs another look (`neighbours`)."""
        if not self.active:
            return self.strip(rows)
        assert self.spec is not None
        out = flagged(rows, self._head(next_month(part)), self.spec)
        self._heads[part] = head(out, self.spec, part)
        if committed is not None:
            self._before[part] = head(committed, self.spec, part)
        return out

    def neighbours(self, rewritten: set[str]) -> dict[str, pl.DataFrame]:
        """The months just before the rewritten ones that were not rewritten and whose flags changed: their rows,
        re-flagged, to be written in the same swap."""
        out: dict[str, pl.DataFrame] = {}
        if not self.active:
            return out
        assert self.spec is not None
        names = stored_columns(self.section)
        for part in sorted(rewritten):
            before = previous_month(part)
            if before is None or before in rewritten or before in out or self._same_head(part):
                continue
            rows = self._read(before)
            if rows is None or rows.height == 0:
                continue
            new = flagged(rows, self._head(part), self.spec)
            if not all(c in rows.columns for c in names) or not new.select(names).equals(rows.select(names)):
                out[before] = new
        return out
