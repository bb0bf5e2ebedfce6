"""What people did with an insight: acknowledged, marked not useful, owner assigned, action taken.

Stored in the workspace's metadata database (`ws.engine`, SQLite by default), keyed by the
insight's stable `id`: `insight_state` holds the current state, `insight_events` every change
(who, when, what), so the Insights page can show the trail and the next review can tell what
was done.
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

Status = Literal["new", "acknowledged", "not_useful", "in_progress", "done"]
STATUSES: tuple[str, ...] = ("new", "acknowledged", "not_useful", "in_progress", "done")
STATUS_LABELS = {"new": "New", "acknowledged": "Acknowledged", "not_useful": "Not useful",
                 "in_progress": "Action in progress", "done": "Action done"}

metadata = sa.MetaData()
insight_state = sa.Table(
    "insight_state", metadata,
    sa.Column("insight_id", sa.String(64), primary_key=True),
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
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("field", sa.String(20), nullable=False),
    sa.Column("value", sa.Text),
)


class InsightLogError(BpoError):
    """An insight update that cannot be stored as asked."""


@dataclass(frozen=True)
class InsightState:
    """The current state of one insight."""

    insight_id: str
    status: str = "new"
    owner: str | None = None
    action_taken: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


def _engine(ws: Workspace) -> sa.Engine:
    engine = ws.engine
    metadata.create_all(engine)
    return engine


def record(ws: Workspace, insight_id: str, *, user: str, status: str | None = None, owner: str | None = None,
           action_taken: str | None = None, headline: str | None = None, at: datetime | None = None) -> InsightState:
    """Store a change to an insight (only the fields given) and log it; returns the new state.

    Example: `record(ws, "3f2a9c0d1e7b", user="acme-manager", status="acknowledged", owner="Northwind AM")`.
    """
    if status is not None and status not in STATUSES:
        raise InsightLogError(f"unknown insight status '{status}'; use one of {', '.join(STATUSES)}")
    if not insight_id:
        raise InsightLogError("an insight update needs the insight's id")
    at = at or datetime.now(timezone.utc)
    changes = {k: v for k, v in (("status", status), ("owner", owner), ("action_taken", action_taken)) if v is not None}
    engine = _engine(ws)
    with engine.begin() as con:
        current = con.execute(sa.select(insight_state).where(insight_state.c.insight_id == insight_id)).mappings().first()
        row = {**(dict(current) if current else {"insight_id": insight_id, "status": "new"}), **changes,
               "updated_by": user, "updated_at": at}
        if headline and not row.get("headline"):
            row["headline"] = headline
        if current:
            con.execute(insight_state.update().where(insight_state.c.insight_id == insight_id).values(**row))
        else:
            con.execute(insight_state.insert().values(**row))
        for field, value in changes.items():
            con.execute(insight_events.insert().values(insight_id=insight_id, at=at, user=user, field=field,
                                                       value=value))
    return get(ws, insight_id)


def get(ws: Workspace, insight_id: str) -> InsightState:
    """The state of one insight ('new' when nobody touched it)."""
    return states(ws, [insight_id])[insight_id]


def states(ws: Workspace, insight_ids: Iterable[str]) -> dict[str, InsightState]:
    """The state of each of `insight_ids`."""
    ids = list(dict.fromkeys(insight_ids))
    out = {i: InsightState(i) for i in ids}
    if not ids:
        return out
    with _engine(ws).connect() as con:
        rows = con.execute(sa.select(insight_state).where(insight_state.c.insight_id.in_(ids))).mappings().all()
    for r in rows:
        out[r["insight_id"]] = InsightState(r["insight_id"], r["status"], r["owner"], r["action_taken"],
                                            r["updated_by"], r["updated_at"])
    return out


def history(ws: Workspace, insight_id: str) -> pl.DataFrame:
    """Every change to one insight, oldest first: at, user, field, value."""
    with _engine(ws).connect() as con:
        rows = con.execute(sa.select(insight_events.c.at, insight_events.c.user, insight_events.c.field,
                                     insight_events.c.value)
                           .where(insight_events.c.insight_id == insight_id)
                           .order_by(insight_events.c.id)).all()
    return pl.DataFrame([tuple(r) for r in rows], schema={"at": pl.Datetime("us"), "user": pl.String,
                                                          "field": pl.String, "value": pl.String}, orient="row")
