"""Data health: what the store holds for this viewer, how fresh it is, and what imports rejected."""

from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

from dashboard import components, data, state
from insights.format import markdown

ctx = state.context()
st.title("Data health")

summary = data.table_summary(ctx.ws, ctx.viewer.scope, ctx.version)
st.subheader("Tables")
st.caption("Rows you may see per canonical table, their date span and when they were last imported.")
components.dataframe(components.table_summary_frame(summary, datetime.now(timezone.utc)), hide_index=True, width="stretch",
             column_config={"rows": st.column_config.NumberColumn("rows", format="localized")})
empty = summary.filter(summary["rows"] == 0)["table"].to_list()
if empty:
    st.info(f"No rows yet in: {', '.join(empty)}. Import a file (`bpo-insights import`) or add a source.")

st.subheader("Sanity checks")
st.caption("What in the stored data makes KPIs misleading, checked after every import, with the likely mapping fix.")
findings = data.sanity_findings(ctx.ws, ctx.viewer.scope)
if findings.is_empty():
    st.caption("No warnings: nothing found that makes the KPIs misleading.")
for f in findings.iter_rows(named=True):
    st.warning(markdown(f"{f['client_id']} / {f['vendor_id']}, {f['table_name']}: {f['message']}"))

st.subheader("Import log")
if ctx.viewer.role != "admin":
    # the log names files and sources of every client: only workspace admins read it
    st.caption("The import log and rejected rows are shown to workspace admins.")
else:
    history = data.import_history(ctx.ws)
    if history.is_empty():
        st.caption("No imports recorded yet.")
    else:
        components.dataframe(history.drop("content_hash"), hide_index=True, width="stretch")
    st.subheader("Sources")
    sources = ctx.ws.source_status()
    if sources.is_empty():
        st.caption("No API or SQL sources declared in bpo.toml; see the README section 'Syncing APIs and databases'.")
    else:
        components.dataframe(sources, hide_index=True, width="stretch")
    st.subheader("Rejected rows")
    rejected = data.rejected(ctx.ws)
    if rejected.is_empty():
        st.caption("No rejected rows.")
    else:
        components.dataframe(rejected, hide_index=True, width="stretch")
