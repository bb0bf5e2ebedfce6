"""The metadata database's tables (import log, rejected rows, sync cursors) on one SQLAlchemy MetaData."""
from __future__ import annotations


import sqlalchemy as sa



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
    sa.Column("identity", sa.String(320)),  # the signed-in claim (email), or 'local' for --user mode
    sa.Column("method", sa.String(10), nullable=False),  # oidc | local
    sa.Column("page", sa.String(100)),
    sa.Column("detail", sa.Text),  # what: the view's filters, the export's format and file name
)
