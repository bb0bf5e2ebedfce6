"""The sanity report: after an import, what in the table as stored would make its KPIs meaningless.

An import can succeed and still be wrong: a mapping that leaves out `status` stores tickets that can never
be solved, a date-only export puts every ticket at midnight, a placeholder customer id turns every
anonymous caller into one customer. `check(ws, table, frame, import_id=...)` looks at the table as stored
for each client and vendor the imported rows belong to (so a day split across two files is whole again
once both are in), records the findings in state.db (`sanity_findings`, the current ones per table, client
and vendor) and returns them. They are warnings, not errors: the import stands.

>>> [str(f) for f in check(ws, "tickets", imported, import_id=7)]  # doctest: +SKIP
['warning (acme / northwind, tickets): no ticket has a status, so none can be solved ...']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
import sqlalchemy as sa

from connectors.schema import get_table
from connectors.solved import INPUTS as SOLVED_INPUTS, solved_expr
from connectors.store import Scope, Workspace, utcnow
from connectors.store.metadata import sanity_findings

MIN_ROWS = 10
"""Below this many stored rows (per client and vendor) the statistical checks stay quiet: a few rows say little."""
SINGLE_CUSTOMER_SHARE = 0.5
"""One requester holding more than this share of the tickets that name a requester is a placeholder id."""
BOUNDARY_FRACTION = 0.3
"""A first or last day of the file with less than this fraction of a typical day's volume was cut part-way."""
BOUNDARY_MIN_DAYS = 7
"""The boundary check needs at least this many stored days to know what a typical day is."""
DERIVED = frozenset({"first_response_seconds", "resolution_seconds", "csat_score", "csat_positive",
                     "survey_type", "rating_value", "rating_scale",
                     "first_response_target_seconds", "resolution_target_seconds", "first_response_breached",
                     "resolution_breached", "updated_at", "ingested_at"})
"""Columns the importer computes (empty when their inputs are): never reported as an empty source column."""
VOLUME_TABLES = ("tickets", "contact_intervals", "contacts")
"""Tables whose rows per day are a volume (the boundary check)."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One thing in a stored table that makes its KPIs misleading, with the likely mapping fix."""

    check: str  # no_status | nothing_solved | all_backlog | empty_column | midnight | single_customer | partial_day
    table: str
    client_id: str
    vendor_id: str
    message: str

    def __str__(self) -> str:
        return f"warning ({self.client_id} / {self.vendor_id}, {self.table}): {self.message}"


def check(ws: Workspace, table: str, frame: pl.DataFrame, *, import_id: int | None = None) -> tuple[Finding, ...]:
    """Check `table` as stored for every (client, vendor) in the imported `frame`; record and return the findings."""
    if frame.is_empty() or not {"client_id", "vendor_id"} <= set(frame.columns):
        return ()
    out: list[Finding] = []
    spec = get_table(table)
    wanted = {"client_id", "vendor_id", *SOLVED_INPUTS, "requester_hash", spec.time_column,
              *frame.columns}
    columns = [c for c in spec.columns if c in wanted]  # only what the checks read: a large store stays cheap
    tenants = frame.select("client_id", "vendor_id").drop_nulls().unique().sort(["client_id", "vendor_id"])
    for client, vendor in tenants.iter_rows():
        mine = frame.filter((pl.col("client_id") == client) & (pl.col("vendor_id") == vendor))
        stored = ws.scan(table, Scope.of(clients=[client], vendors=[vendor]), columns=columns)
        stored = stored.filter((pl.col("client_id") == client) & (pl.col("vendor_id") == vendor))
        found = [Finding(check=name, table=table, client_id=client, vendor_id=vendor, message=message)
                 for name, message in _checks(table, stored, mine)]
        _record(ws, table, client, vendor, found, import_id)
        out += found
    return tuple(out)


def current(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """The current findings the viewer's scope allows, newest first (table, client, vendor, check, message)."""
    with ws.engine.connect() as con:
        rows = con.execute(sa.select(sanity_findings).order_by(sanity_findings.c.id.desc())).mappings().all()
    keep = [r for r in rows if scope.allows(r["client_id"], r["vendor_id"])]
    schema: dict[str, pl.DataType] = {"checked_at": pl.Datetime("us", "UTC"), "table_name": pl.String(), "client_id": pl.String(),
              "vendor_id": pl.String(), "check_name": pl.String(), "message": pl.String()}
    return pl.DataFrame([{k: r[k] for k in schema} for r in keep], schema=schema)


def _record(ws: Workspace, table: str, client: str, vendor: str, found: list[Finding], import_id: int | None) -> None:
    """The newest check of a (table, client, vendor) replaces its previous findings: the report is of the store."""
    c = sanity_findings.c
    with ws.engine.begin() as con:
        con.execute(sanity_findings.delete().where(c.table_name == table, c.client_id == client, c.vendor_id == vendor))
        if found:
            now = utcnow()
            con.execute(sanity_findings.insert(), [
                {"import_id": import_id, "checked_at": now, "table_name": table, "client_id": client,
                 "vendor_id": vendor, "check_name": f.check, "message": f.message} for f in found])


def _checks(table: str, stored: pl.LazyFrame, mine: pl.DataFrame) -> list[tuple[str, str]]:
    """The findings for one client and vendor; `stored` is read as aggregates, never whole (a large table)."""
    out: list[tuple[str, str]] = []
    if table == "tickets":
        out += _status(stored)
    out += _empty_columns(stored, mine)
    if table == "tickets":
        out += _midnight(stored, mine)
        out += _single_customer(stored)
    if table in VOLUME_TABLES:
        out += _partial_days(table, stored, mine)
    return out


def _one(stored: pl.LazyFrame, *exprs: pl.Expr) -> dict:
    """One row of aggregates over the stored rows (streamed: memory does not grow with the table)."""
    return stored.select(*exprs).collect(engine="streaming").row(0, named=True)


def _status(t: pl.LazyFrame) -> list[tuple[str, str]]:
    names = t.collect_schema().names()
    ended_cols = [c for c in ("resolved_at", "closed_at") if c in names]
    cols = get_table("tickets").columns
    t = t.with_columns(pl.lit(None, dtype=cols[c].dtype).alias(c) for c in SOLVED_INPUTS if c not in names)
    agg = _one(t, pl.len().alias("n"), pl.col("status").null_count().alias("nulls"),
               solved_expr().sum().alias("solved"),  # solved as every KPI counts it (connectors/solved.py)
               *[pl.col(c).is_not_null().sum().alias(c) for c in ended_cols])
    n, nulls, solved = int(agg["n"]), int(agg["nulls"]), int(agg["solved"] or 0)
    fix = ("Map the export's status column under [mapping.columns] (status = \"<your column>\") and its values under "
           "[mapping.values.status] (e.g. \"Resolved\" = \"solved\"), then import the file again")
    if n and nulls == n and not solved:
        return [("no_status", f"no ticket has a status, so none can be solved: solved, backlog, resolution and "
                              f"first-contact-resolution KPIs are meaningless for these {n} tickets. {fix}")]
    if n and nulls == n:
        return [("no_status", f"no ticket has a status: only the {solved} of {n} tickets with a resolved_at or "
                              f"closed_at count as solved, and a reopened or pending ticket that still carries an old "
                              f"resolved_at cannot be told from a solved one. {fix}")]
    if n < MIN_ROWS or solved:
        return []
    ended = sum(int(agg[c]) for c in ended_cols)
    if ended:
        return [("all_backlog", f"every one of the {n} tickets is in backlog (none is solved or closed) although "
                                f"{ended} resolved_at/closed_at value(s) say otherwise: the status values of finished "
                                f"tickets are probably mapped to open ones. Map them under [mapping.values.status] "
                                f"(e.g. \"Resolved\" = \"solved\", \"Closed\" = \"closed\")")]
    return [("nothing_solved", f"none of the {n} tickets is solved or closed and none has a resolved_at, so every "
                               f"one counts as backlog. If the export holds finished tickets, map their status values "
                               f"under [mapping.values.status] (e.g. \"Resolved\" = \"solved\") and the resolution "
                               f"time under [mapping.columns] (resolved_at = \"<your column>\")")]


def _empty_columns(stored: pl.LazyFrame, mine: pl.DataFrame) -> list[tuple[str, str]]:
    names = stored.collect_schema().names()
    checked = [c for c in mine.columns if c not in DERIVED and c in names and c != "status"]  # status: own finding
    agg = _one(stored, pl.len().alias("__n"), *[pl.col(c).null_count().alias(c) for c in checked])
    n = int(agg["__n"])
    if n < MIN_ROWS:
        return []
    out = []
    for c in checked:
        if agg[c] == n:
            out.append(("empty_column", f"column {c} is empty in all {n} rows: the source column mapped to it holds no "
                                        f"values (or only values listed in null_values). Check {c} under "
                                        f"[mapping.columns] and [mapping] null_values"))
    return out


def _midnight(stored: pl.LazyFrame, mine: pl.DataFrame) -> list[tuple[str, str]]:
    out = []
    for c, dtype in stored.collect_schema().items():
        if c in DERIVED or c not in mine.columns or not isinstance(dtype, pl.Datetime):
            continue
        s = pl.col(c).drop_nulls()
        agg = _one(stored, s.len().alias("n"),
                   ((s.dt.minute() != 0) | (s.dt.second() != 0) | (s.dt.microsecond() != 0)).any().alias("off"),
                   s.dt.hour().n_unique().alias("hours"), s.dt.hour().min().alias("lo"), s.dt.hour().max().alias("hi"))
        if agg["n"] < MIN_ROWS:
            continue
        hours = sorted({agg["lo"], agg["hi"]})
        if not agg["off"] and agg["hours"] <= 2:  # one local midnight (two across a daylight-saving change)
            at = " or ".join(f"{h:02d}:00" for h in hours)
            out.append(("midnight", f"every {c} ({agg['n']} values) is at {at} UTC: the export has dates without a "
                                    f"time of day (midnight in its time zone), so hourly views are empty and response "
                                    f"and resolution times are whole days. Export {c} with the time (or map a column "
                                    f"that has it)"))
    return out


def _single_customer(t: pl.LazyFrame) -> list[tuple[str, str]]:
    if "requester_hash" not in t.collect_schema().names():
        return []
    named = t.select("requester_hash").filter(pl.col("requester_hash").is_not_null())
    n = int(_one(named, pl.len().alias("n"))["n"])
    if n < MIN_ROWS:
        return []
    top = int(named.group_by("requester_hash").len().select(pl.col("len").max()).collect(engine="streaming").item())
    share = top / n
    if share <= SINGLE_CUSTOMER_SHARE:
        return []
    return [("single_customer", f"one customer holds {share:.0%} of the {n} tickets that name a requester: "
                                f"probably a placeholder id for unknown callers (such as customer_id 0 or 'anonymous'), "
                                f"which makes repeat-contact KPIs wrong. List that value as a null value of the column "
                                f"([mapping.columns.requester_hash] from = \"<your column>\", null_values = [\"0\"]) "
                                f"so those tickets count as anonymous, and import the file again")]


def _partial_days(table: str, stored: pl.LazyFrame, mine: pl.DataFrame) -> list[tuple[str, str]]:
    col = get_table(table).time_column
    if col is None or col not in stored.collect_schema().names() or col not in mine.columns:
        return []
    counts = (stored.select(pl.col(col).drop_nulls().dt.date()).group_by(col).len()
              .collect(engine="streaming"))
    own = mine.get_column(col).drop_nulls().dt.date()
    if counts.is_empty() or own.is_empty():
        return []
    per_day = dict(zip(counts.get_column(col).to_list(), counts.get_column("len").to_list()))
    first, last = min(per_day), max(per_day)
    span = [date.fromordinal(d) for d in range(first.toordinal(), last.toordinal() + 1)]
    if len(span) < BOUNDARY_MIN_DAYS:
        return []
    volume = {d: per_day.get(d, 0) for d in span}
    word = "tickets" if table == "tickets" else "rows"
    out = []
    edges = [(own.min(), "starts"), (own.max(), "ends")]
    for day, how in edges[:1] if edges[0][0] == edges[1][0] else edges:
        assert isinstance(day, date)
        others = [v for d, v in volume.items() if d != day and d.weekday() == day.weekday()]
        kind = f"a typical {day:%A}"
        if len(others) < 2:
            others, kind = [v for d, v in volume.items() if d != day], "a typical day"
        typical = sorted(others)[len(others) // 2]
        if typical and volume[day] < BOUNDARY_FRACTION * typical:
            out.append(("partial_day", f"{day:%Y-%m-%d} has {volume[day]} {word}, {volume[day] / typical:.0%} of "
                                       f"{kind} ({typical}): the file {how} part-way through that day, so that day "
                                       f"and its week read as a drop in volume. Export whole days, or also import "
                                       f"the file that holds the rest of {day:%Y-%m-%d}"))
    return out
