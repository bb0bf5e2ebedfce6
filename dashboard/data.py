"""Cached calls into `insights/` and the store; every cache key holds the viewer's scope.

Nothing here reads Parquet itself: the review and the summaries read through `ws.scan(table,
scope)`, the one choke point.  Each function takes the Scope (hashed by `Scope.key`) and a data
version (the tables' manifests), so a new import or another viewer never gets a stale or foreign
answer.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from connectors.workspace import MANIFEST, Scope, Workspace
from insights import review as reviews

HASH = {Scope: lambda s: s.key, Workspace: lambda w: str(w.path.resolve())}


def data_version(ws: Workspace) -> tuple[tuple[str, int], ...]:
    """Modification stamps of every table manifest and the metadata db: changes on each import."""
    stamps = [(p.parent.name, p.stat().st_mtime_ns) for p in sorted(ws.tables_dir.glob(f"*/{MANIFEST}"))]
    db = ws.path / "state.db"
    if db.exists():
        stamps.append(("state.db", db.stat().st_mtime_ns))
    return tuple(stamps)


@st.cache_data(show_spinner="Computing the review …", hash_funcs=HASH, max_entries=64)
def review(ws: Workspace, scope: Scope, filters: tuple[tuple[str, str], ...], week: date | None,
           version: tuple) -> reviews.Review:
    """The review of the week for the scope and filters (cached per scope, filters, week and data)."""
    return reviews.build_review(ws, scope, week=week, filters=dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def weeks(ws: Workspace, scope: Scope, filters: tuple[tuple[str, str], ...], version: tuple) -> tuple[date, ...]:
    """Complete weeks in the view, newest first."""
    return reviews.available_weeks(ws, scope, dict(filters))


@st.cache_data(hash_funcs=HASH, max_entries=64)
def dimension_values(ws: Workspace, scope: Scope, version: tuple) -> dict[str, list[str]]:
    """Client, vendor, site and channel values present in the data the scope may see."""
    return reviews.dimension_values(ws, scope)


@st.cache_data(hash_funcs=HASH, max_entries=64)
def table_summary(ws: Workspace, scope: Scope, version: tuple) -> pl.DataFrame:
    """Rows, date span and freshness per canonical table, for the scope."""
    return ws.table_summary(scope)


def import_history(ws: Workspace, limit: int = 200) -> pl.DataFrame:
    """The import log (not cached: it is small and must be current)."""
    return ws.import_history(limit=limit)


def rejected(ws: Workspace, limit: int = 1000) -> pl.DataFrame:
    """Rows rejected by imports, newest first."""
    return ws.rejected(limit=limit)

