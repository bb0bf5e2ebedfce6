"""The metadata database's tables (import log, rejected rows, sync cursors) on one SQLAlchemy MetaData."""
from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from connectors.errors import StoreBusy, StoreDamaged

metadata = sa.MetaData()

import_log = sa.Table(
    "import_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("source", sa.String(200), nullable=False),  # file path or source name
    sa.Column("kind", sa.String(40), nullable=False),  # file | sync | sample
    sa.Column("table_name", sa.String(40)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("rows_read", sa.Integer, default=0),
    sa.Column("inserted", sa.Integer, default=0),
    sa.Column("updated", sa.Integer, default=0),
    sa.Column("unchanged", sa.Integer, default=0),
    sa.Column("rejected", sa.Integer, default=0),
    sa.Column("status", sa.String(20), nullable=False),  # ok | partial | failed
    sa.Column("message", sa.Text),
)

rejected_rows = sa.Table(
    "rejected_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("import_log.id"), nullable=False),
    sa.Column("row_number", sa.Integer),
    sa.Column("column_name", sa.String(100)),
    sa.Column("value", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
)

# The sanity report of a table as stored for one client and vendor (connectors/sanity.py): the current findings
# only; each check replaces the previous findings of its (table, client, vendor).
sanity_findings = sa.Table(
    "sanity_findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("import_log.id")),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("table_name", sa.String(40), nullable=False),
    sa.Column("client_id", sa.String(100), nullable=False),
    sa.Column("vendor_id", sa.String(100), nullable=False),
    sa.Column("check_name", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

# Display names of the ids a source stores (its groups or teams in `queue`, its agents in `agent_id`), as the
# source names them; one row per (source, kind, id).  Rows carry the tenant the source's work belongs to and are
# read through the rules of the metadata tables (connectors/store/tenancy.py `visible_labels`).  Agent names are
# never written when [settings] pseudonymise_agents = true.
labels = sa.Table(
    "labels",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),  # the [[source]] name
    sa.Column("kind", sa.String(20), primary_key=True),  # queue | agent
    sa.Column("label_id", sa.String(200), primary_key=True),  # the id as the canonical tables store it
    sa.Column("client_id", sa.String(100)),  # null: the workspace holder's only
    sa.Column("vendor_id", sa.String(100)),  # null: every vendor of the client
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

# Who looked at what: sign-ins (and refused identities), pages viewed, exports downloaded, sign-outs.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("event", sa.String(20), nullable=False),  # sign_in | sign_in_refused | page_view | export | sign_out
    sa.Column("user_name", sa.String(200)),  # the [[user]] name; None for an identity with no access
    sa.Column("role", sa.String(20)),
    sa.Column("tenant", sa.String(200)),  # scope.tenant_of the viewer ('admin', 'brand:acme', 'vendor:northwind'); None: no access
    sa.Column("identity", sa.String(320)),  # the signed-in claim (email), or 'local' for --user mode
    sa.Column("method", sa.String(10), nullable=False),  # oidc | local
    sa.Column("page", sa.String(100)),
    sa.Column("detail", sa.Text),  # what: the view's filters, the export's format and file name
)


# --------------------------------------------------------------------------- opening state.db safely
#
# state.db is created only when it does not exist at all (built aside, then linked into place, so a crash
# never leaves a half-made one).  An existing file that is empty, not SQLite, fails SQLite's quick check or
# lacks the import log stops every command with StoreDamaged and the restore steps; it is never recreated
# over.  A copy per day is kept in <workspace>/backups/ (the newest BACKUPS_KEPT days), refreshed after
# every import or sync run is logged; the restore steps point at it.

SQLITE_HEADER = b"SQLite format 3\x00"
BACKUPS_DIR = "backups"
BACKUPS_KEPT = 7


def restore_steps(db: Path) -> str:
    backups = db.parent / BACKUPS_DIR
    newest = sorted(backups.glob("state-*.db"))[-1:] if backups.is_dir() else []
    if newest:
        restore = f"cp '{newest[0]}' '{db}' (the newest daily copy; others are in {backups})"
    else:
        restore = (f"with no copy in {backups}, restore state.db from a backup of the workspace folder; or start a "
                   f"new one by leaving it moved aside (the import log, sync cursors and insight notes start empty; "
                   f"the next sync reads each source again from its start, duplicating nothing)")
    return f"nothing was changed. To restore: mv '{db}' '{db}.damaged'; then {restore}"


def check_sqlite_file(db: Path) -> None:
    """An existing state.db must be a non-empty SQLite file."""
    try:
        with open(db, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as e:
        raise StoreDamaged(f"{db} cannot be read ({e.strerror}); check the file's owner and permissions") from None
    if not head:
        raise StoreDamaged(f"{db} is empty (0 bytes): the import log, sync cursors and insight notes it held are "
                           f"gone; {restore_steps(db)}")
    if head != SQLITE_HEADER:
        raise StoreDamaged(f"{db} is not a SQLite database (damaged or overwritten); {restore_steps(db)}")


def create_sqlite_file(db: Path) -> None:
    """A new, initialised state.db, only where none exists (a concurrent creator wins; nothing is replaced)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.{uuid.uuid4().hex[:8]}.new")
    engine = sa.create_engine(f"sqlite:///{tmp}")
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    try:
        os.link(tmp, db)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def sqlite_path(url: str | sa.URL | None, workspace: Path) -> Path | None:
    """The metadata database's file when it is SQLite (the default state.db), else None."""
    if url is None:
        return workspace / "state.db"
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
        return Path(str(u.database))
    return None


def backup_sqlite_file(db: Path, today: str, *, refresh: bool = False) -> None:
    """Today's consistent copy of state.db (SQLite's online backup), replaced when `refresh`; keeps the newest few."""
    backups = db.parent / BACKUPS_DIR
    target = backups / f"state-{today}.db"
    if target.exists() and not refresh:
        return
    backups.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    src = sqlite3.connect(db, timeout=5)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error:
        tmp.unlink(missing_ok=True)
        return  # a busy database is backed up by the next command; never fail the user's work for it
    finally:
        src.close()
    os.replace(tmp, target)
    for old in sorted(backups.glob("state-*.db"))[:-BACKUPS_KEPT]:
        old.unlink(missing_ok=True)


def _translate(db: Path | None, wait: float) -> Callable[[Any], None]:
    def handle(context: Any) -> None:
        text = str(context.original_exception)
        where = str(db) if db else "the metadata database"
        if "database is locked" in text or "database table is locked" in text:
            raise StoreBusy(f"{where} is locked by another process (waited {wait:g} s): an import, sync or dashboard "
                            f"write is running; run the command again when it has finished") from None
        if db is not None and ("malformed" in text or "not a database" in text):
            raise StoreDamaged(f"{where} is damaged ({text[:80]}); {restore_steps(db)}") from None
    return handle


def open_metadata(url: str | sa.URL | None, workspace: Path, *, wait_seconds: float, today: str) -> sa.Engine:
    """The metadata database's engine: state.db checked (never recreated over), or `database_url` as given."""
    db = sqlite_path(url, workspace)
    if url is None:
        url = f"sqlite:///{workspace.resolve() / 'state.db'}"
    kwargs: dict[str, Any] = {}
    if db is not None:
        if not db.exists():
            create_sqlite_file(db)
        check_sqlite_file(db)
        kwargs["connect_args"] = {"timeout": wait_seconds}
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "handle_error", _translate(db, wait_seconds))
    if db is not None:
        with engine.connect() as con:
            verdict = con.exec_driver_sql("PRAGMA quick_check").scalar()
            if verdict != "ok":
                raise StoreDamaged(f"{db} fails SQLite's integrity check ({verdict}); {restore_steps(db)}")
            if not sa.inspect(con).has_table("import_log"):
                raise StoreDamaged(f"{db} holds no import log: it is not this workspace's state.db; {restore_steps(db)}")
    metadata.create_all(engine)
    _migrate(engine)
    if db is not None:
        backup_sqlite_file(db, today)
    return engine


def _migrate(engine: sa.Engine) -> None:
    """Columns added since a database was made: audit_log.tenant (entries written before it have none)."""
    with engine.begin() as con:
        if "tenant" not in {c["name"] for c in sa.inspect(con).get_columns("audit_log")}:
            con.execute(sa.text("ALTER TABLE audit_log ADD COLUMN tenant VARCHAR(200)"))

# What `bpo-insights deliver` sent: one row per (recipient, channel, week, item), written only after the send
# succeeded, so a re-run sends nothing twice and a failed send is retried. `item` is 'review' (the weekly
# message), an insight id (a headline told) or 'credit:<insight id>' (a contract credit at risk told).
delivery_log = sa.Table(
    "delivery_log",
    metadata,
    sa.Column("recipient", sa.String(200), primary_key=True),  # the [[user]] name
    sa.Column("channel", sa.String(20), primary_key=True),  # email | webhook
    sa.Column("week", sa.Date, primary_key=True),  # the review week's Monday
    sa.Column("item", sa.String(80), primary_key=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
)
