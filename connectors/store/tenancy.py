"""Who may see a row whose tenant is named only in part: the rule behind `Workspace.scan` for every table.

Work tables (tickets, intervals, QA, roster, invoices) name their client and vendor on every row,
so `Scope.filter_expr` decides. Metadata tables (`events`, `sla_targets`) may leave the vendor or
site null ("every vendor") or, for events, the client too; there the row is visible to a viewer
only when every tenant it names is in the viewer's scope, and what it leaves open can't widen it:

- a row naming no client is the workspace holder's (admin's), except a public calendar day
  (`kind = "holiday"` naming no vendor or site either), which every viewer's forecast needs;
- a row naming a client is visible to viewers of that client;
- for a viewer limited to some vendors (a BPO), the vendor the row names, and the vendor of the site
  it names (bpo.toml `[[site]] vendor`; an undeclared site is nobody's), must be among them; a row
  naming neither applies to every vendor of its client and is visible only when the viewer's vendors
  serve that client (they have work for it in a work table): a vendor serving Acme alone never sees
  Globex's targets or promotion calendar.

`allows(...)` answers the same question for one entry outside the tables (a bpo.toml `[[pilot]]`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import polars as pl

from connectors.schema import get_table
from connectors.store.scope import Scope

if TYPE_CHECKING:
    from connectors.store.workspace import Workspace

PARTIAL_TENANT_TABLES = ("events", "sla_targets")  # tenant keys may be null: the rules above apply
WORK_TABLES = ("tickets", "contact_intervals", "contacts", "qa_evaluations", "staffing_roster", "cost_invoices")
SHARED_KINDS = ("holiday",)  # events naming no tenant at all that every viewer sees
NOBODY = "\x00nobody"  # the vendor of an undeclared site: never in any scope

_served_cache: dict[tuple, frozenset[str]] = {}


def site_vendors(ws: Workspace) -> dict[str, str]:
    """site id → the vendor that runs it (bpo.toml `[[site]] vendor`)."""
    return {str(s["id"]): str(s["vendor"]) for s in ws.config.sites if s.get("id") and s.get("vendor")}


def served_clients(ws: Workspace, vendors: frozenset[str]) -> frozenset[str]:
    """Clients the `vendors` have work for in any work table (cached per version of those tables)."""
    files = {t: tuple(sorted(ws.files(t).values())) for t in WORK_TABLES}
    key = (str(ws.path.resolve()), tuple(sorted(vendors)), tuple(files.items()))
    if key not in _served_cache:
        frames = [pl.scan_parquet([str(ws.tables_dir / t / f) for f in fs]).select("client_id", "vendor_id")
                  .filter(pl.col("vendor_id").is_in(sorted(vendors))).select("client_id").unique()
                  for t, fs in files.items() if fs]
        found = pl.concat(pl.collect_all(frames)).get_column("client_id").drop_nulls().to_list() if frames else []
        if len(_served_cache) > 256:
            _served_cache.clear()
        _served_cache[key] = frozenset(found)
    return _served_cache[key]


def visible(ws: Workspace, table: str, scope: Scope) -> pl.Expr:
    """The rows of `table` the viewer with `scope` may see (see the module's rules)."""
    if table not in PARTIAL_TENANT_TABLES or (scope.clients is None and scope.vendors is None):
        return scope.filter_expr(table)
    client, vendor, site = pl.col("client_id"), pl.col("vendor_id"), pl.col("site_id")
    shared = pl.lit(False)
    if "kind" in get_table(table).columns:
        shared = vendor.is_null() & site.is_null() & pl.col("kind").is_in(list(SHARED_KINDS))
    named = client.is_not_null() if scope.clients is None else client.is_in(sorted(scope.clients))
    if scope.vendors is not None:
        mine = sorted(scope.vendors)
        site_vendor = site.replace_strict(site_vendors(ws), default=NOBODY, return_dtype=pl.String)
        named = (named & (vendor.is_null() | vendor.is_in(mine)) & (site.is_null() | site_vendor.is_in(mine))
                 & (vendor.is_not_null() | site.is_not_null() | client.is_in(sorted(served_clients(ws, scope.vendors)))))
    return (client.is_null() & shared) | (client.is_not_null() & named.fill_null(False))


def visible_labels(ws: Workspace, rows: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    """The display-name rows (`labels` of state.db: client_id, vendor_id ...) the viewer may see: the rules of
    the metadata tables, as for a contract target naming no site."""
    if scope.clients is None and scope.vendors is None:
        return rows
    return rows.with_columns(pl.lit(None, pl.String).alias("site_id")).filter(
        visible(ws, "sla_targets", scope)).drop("site_id")


def allows(ws: Workspace, scope: Scope, tenant: Mapping[str, str | Iterable[str] | None]) -> bool:
    """Whether the viewer may see an entry naming `tenant` (client_id/vendor_id/site_id → id or ids).

    Every named combination must be visible by the rules of the metadata tables; an entry naming no
    client is admin's.
    """
    def ids(key: str) -> list[str | None]:
        v = tenant.get(key)
        values: list[str | None] = [v] if isinstance(v, str) else [str(x) for x in v or ()]
        return values or [None]
    rows = [{"client_id": c, "vendor_id": v, "site_id": s, "kind": "pilot"}
            for c in ids("client_id") for v in ids("vendor_id") for s in ids("site_id")]
    frame = pl.DataFrame(rows, schema={"client_id": pl.String, "vendor_id": pl.String, "site_id": pl.String,
                                       "kind": pl.String})
    return frame.filter(visible(ws, "events", scope)).height == len(rows)
