"""The audit log in state.db: who signed in, which pages they viewed and what they exported, and when.

    from connectors.store import audit
    audit.record(ws, event="page_view", user="acme-manager", role="brand", tenant="brand:acme",
                 identity="ana@acme.example", method="oidc", page="Weekly review", detail="client=acme")
    audit.read(ws, since=date(2026, 11, 1), user="acme-manager")   # newest first, as a polars frame
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Literal

import polars as pl
import sqlalchemy as sa

from connectors.errors import WorkspaceError
from connectors.store.metadata import audit_log

if TYPE_CHECKING:
    from connectors.store.workspace import Workspace

Event = Literal["sign_in", "sign_in_refused", "page_view", "export", "sign_out"]
Method = Literal["oidc", "local"]
EVENTS: tuple[Event, ...] = ("sign_in", "sign_in_refused", "page_view", "export", "sign_out")
COLUMNS = ("id", "at", "event", "user_name", "role", "tenant", "identity", "method", "page", "detail")
SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(), "at": pl.Datetime("us", "UTC"), "event": pl.String(), "user_name": pl.String(), "role": pl.String(),
    "tenant": pl.String(), "identity": pl.String(), "method": pl.String(), "page": pl.String(), "detail": pl.String()}


def record(ws: Workspace, *, event: Event, user: str | None, role: str | None, identity: str | None, method: Method,
           tenant: str | None = None, page: str | None = None, detail: str | None = None,
           at: datetime | None = None) -> None:
    """Append one entry; raises WorkspaceError (naming the database and the fix) when it cannot be written.

    `tenant` is `scope.tenant_of(user)` ('admin', 'brand:acme', 'vendor:northwind'); None for an identity
    refused access (it belongs to no tenant)."""
    if event not in EVENTS:
        raise ValueError(f"audit event {event!r} is not one of {', '.join(EVENTS)}")
    row = {"at": at or datetime.now(timezone.utc), "event": event, "user_name": user, "role": role,
           "tenant": tenant, "identity": identity, "method": method, "page": page, "detail": detail}
    try:
        with ws.engine.begin() as con:
            con.execute(audit_log.insert().values(**row))
    except sa.exc.SQLAlchemyError as e:
        raise WorkspaceError(f"the audit log in {_where(ws)} cannot be written ({type(e).__name__}: {getattr(e, 'orig', None) or e}); "
                             "make the database writable by the dashboard's account, then reload") from None


def read(ws: Workspace, *, since: date | None = None, until: date | None = None, user: str | None = None,
         event: Event | None = None, limit: int | None = 1000) -> pl.DataFrame:
    """Entries newest first, optionally from `since` (UTC day, inclusive) to `until` (inclusive), of one user or event."""
    q = sa.select(*[audit_log.c[c] for c in COLUMNS]).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    if since is not None:
        q = q.where(audit_log.c.at >= datetime.combine(since, time.min, timezone.utc))
    if until is not None:
        q = q.where(audit_log.c.at <= datetime.combine(until, time.max, timezone.utc))
    if user is not None:
        q = q.where(audit_log.c.user_name == user)
    if event is not None:
        q = q.where(audit_log.c.event == event)
    if limit is not None:
        q = q.limit(limit)
    with ws.engine.connect() as con:
        rows = [dict(r._mapping) for r in con.execute(q)]
    for r in rows:  # SQLite hands back naive datetimes: they were written in UTC
        if r["at"] is not None and r["at"].tzinfo is None:
            r["at"] = r["at"].replace(tzinfo=timezone.utc)
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def _where(ws: Workspace) -> str:
    return "the metadata database (database_url)" if ws.config.database_url else str(ws.path / "state.db")
