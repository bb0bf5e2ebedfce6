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
