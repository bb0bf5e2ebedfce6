"""What people did with an insight: acknowledged, marked not useful, owner assigned, action taken.

Stored in the workspace's metadata database (`ws.engine`, SQLite by default), keyed by the
insight's stable `id` **and the author's tenant** (DESIGN, "Insight identity"): `insight_state`
holds each tenant's current state of an insight, `insight_events` every change (who, which
tenant, when, what), so the Insights page can show the trail and the next review can tell what
was done.

A tenant is the organisation a viewer speaks for (`tenant_of`): "admin" for the workspace's
holder, `brand:<clients>` for a brand's users, `vendor:<vendors>` for a BPO's users. Northwind's
note on "acme · email CSAT" is never shown to Southpeak, even when both see the same segment and
so the same insight id, and a brand's note is never shown to its vendors (nor the reverse).
Admin reads and writes its own state like any tenant, and its history trail holds every tenant's
entries, each labelled with its tenant: whoever holds the folder holds the data (DESIGN, "CLI").

Rows written before tenants existed are admin's (`_migrate` adds the column and keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import polars as pl
import sqlalchemy as sa

from connectors.errors import BpoError
from connectors.store import Workspace
from connectors.store.scope import ADMIN, tenant_of  # noqa: F401 - tenant_of is defined once, for notes and the audit log

Status = Literal["new", "acknowledged", "not_useful", "in_progress", "done"]
STATUSES: tuple[str, ...] = ("new", "acknowledged", "not_useful", "in_progress", "done")
STATUS_LABELS = {"new": "New", "acknowledged": "Acknowledged", "not_useful": "Not useful",
                 "in_progress": "Action in progress", "done": "Action done"}

metadata = sa.MetaData()
insight_state = sa.Table(
    "insight_state", metadata,
    sa.Column("insight_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False, default="new"),
    sa.Column("owner", sa.String(200)),
    sa.Column("action_taken", sa.Text),
    sa.Column("headline", sa.Text),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
insight_events = sa.Table(
    "insight_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("insight_id", sa.String(64), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=False, server_default=ADMIN),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("field", sa.String(20), nullable=False),
    sa.Column("value", sa.Text),
)


class InsightLogError(BpoError):
    """An insight update that cannot be stored as asked."""


@dataclass(frozen=True)
class InsightState:
    """One tenant's current state of one insight."""

    insight_id: str
    status: str = "new"
    owner: str | None = None
    action_taken: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


def _migrate(con: sa.Connection) -> None:
    """Give tables written before tenants existed their `tenant` column; old rows become admin's."""
    inspector = sa.inspect(con)
    names = set(inspector.get_table_names())
    if "insight_events" in names and "tenant" not in {c["name"] for c in inspector.get_columns("insight_events")}:
        con.execute(sa.text(f"ALTER TABLE insight_events ADD COLUMN tenant VARCHAR(200) NOT NULL DEFAULT '{ADMIN}'"))
    if "insight_state" in names and "tenant" not in {c["name"] for c in inspector.get_columns("insight_state")}:
        # the primary key changes, which no dialect can ALTER in place: copy the rows, rebuild, put them back
        old = sa.Table("insight_state", sa.MetaData(), autoload_with=con)
        rows = [dict(r) for r in con.execute(sa.select(old)).mappings()]
        old.drop(con)
        insight_state.create(con)
        if rows:
            con.execute(insight_state.insert(), [{**r, "tenant": ADMIN} for r in rows])


def _engine(ws: Workspace) -> sa.Engine:
    engine = ws.engine
    with engine.begin() as con:
        _migrate(con)
        metadata.create_all(con)
    return engine


def _tenant(tenant: str) -> str:
    if not tenant or not isinstance(tenant, str):
        raise InsightLogError("an insight note needs the author's tenant; pass tenant=tenant_of(viewer)")
    return tenant


def record(ws: Workspace, insight_id: str, *, user: str, tenant: str, status: str | None = None,
           owner: str | None = None, action_taken: str | None = None, headline: str | None = None,
           at: datetime | None = None) -> InsightState:
    """Store a change to `tenant`'s state of an insight (only the fields given) and log it; returns the new state.

    Example: `record(ws, "3f2a9c0d1e7b", user="acme-manager", tenant=tenant_of(viewer), status="acknowledged")`.
    """
    tenant = _tenant(tenant)
    if status is not None and status not in STATUSES:
        raise InsightLogError(f"unknown insight status '{status}'; use one of {', '.join(STATUSES)}")
    if not insight_id:
        raise InsightLogError("an insight update needs the insight's id")
    at = at or datetime.now(timezone.utc)
    changes = {k: v for k, v in (("status", status), ("owner", owner), ("action_taken", action_taken)) if v is not None}
    key = (insight_state.c.insight_id == insight_id) & (insight_state.c.tenant == tenant)
    engine = _engine(ws)
    with engine.begin() as con:
        current = con.execute(sa.select(insight_state).where(key)).mappings().first()
        row = {**(dict(current) if current else {"insight_id": insight_id, "tenant": tenant, "status": "new"}),
               **changes, "updated_by": user, "updated_at": at}
        if headline and not row.get("headline"):
            row["headline"] = headline
        if current:
            con.execute(insight_state.update().where(key).values(**row))
        else:
            con.execute(insight_state.insert().values(**row))
        for field, value in changes.items():
            con.execute(insight_events.insert().values(insight_id=insight_id, tenant=tenant, at=at, user=user,
                                                       field=field, value=value))
    return get(ws, insight_id, tenant=tenant)


def get(ws: Workspace, insight_id: str, *, tenant: str) -> InsightState:
    """`tenant`'s state of one insight ('new' when nobody of that tenant touched it)."""
    return states(ws, [insight_id], tenant=tenant)[insight_id]


def states(ws: Workspace, insight_ids: Iterable[str], *, tenant: str) -> dict[str, InsightState]:
    """`tenant`'s state of each of `insight_ids` (another tenant's notes never show)."""
    tenant = _tenant(tenant)
    ids = list(dict.fromkeys(insight_ids))
    out = {i: InsightState(i) for i in ids}
    if not ids:
        return out
    with _engine(ws).connect() as con:
        rows = con.execute(sa.select(insight_state).where(insight_state.c.insight_id.in_(ids),
                                                          insight_state.c.tenant == tenant)).mappings().all()
    for r in rows:
        out[r["insight_id"]] = InsightState(r["insight_id"], r["status"], r["owner"], r["action_taken"],
                                            r["updated_by"], r["updated_at"])
    return out


def history(ws: Workspace, insight_id: str, *, tenant: str) -> pl.DataFrame:
    """Every change `tenant` made to one insight, oldest first: at, user, tenant, field, value (admin: every tenant's)."""
    tenant = _tenant(tenant)
    q = (sa.select(insight_events.c.at, insight_events.c.user, insight_events.c.tenant, insight_events.c.field,
                   insight_events.c.value)
         .where(insight_events.c.insight_id == insight_id).order_by(insight_events.c.id))
    if tenant != ADMIN:
        q = q.where(insight_events.c.tenant == tenant)
    with _engine(ws).connect() as con:
        rows = con.execute(q).all()
    return pl.DataFrame([tuple(r) for r in rows], schema={"at": pl.Datetime("us"), "user": pl.String, "tenant": pl.String,
                                                          "field": pl.String, "value": pl.String}, orient="row")
