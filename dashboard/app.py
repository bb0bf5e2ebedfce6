"""The dashboard's entry script: access, shared filters (kept in the URL) and navigation.

Run through `bpo-insights dashboard --workspace DIR --user NAME` (or `streamlit run
dashboard/app.py -- --workspace DIR --user NAME`, or BPO_WORKSPACE/BPO_USER).  Deny by default:
without a known viewer nothing but the way in is shown.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import streamlit as st

from dashboard import access, components, data, state
from dashboard.state import COMPARISONS, DIMENSIONS, Filters
from insights import format

HERE = Path(__file__).parent
# (file under dashboard/, title, icon): adding a page is adding a line
PAGES = [
    ("views/weekly_review.py", "Weekly review", ":material/event_note:"),
    ("views/sla_trends.py", "SLA trends", ":material/timer:"),
    ("views/vendors_sites.py", "Vendors & sites", ":material/apartment:"),
    ("views/quality.py", "Quality & coaching", ":material/verified:"),
    ("views/workforce.py", "Workforce", ":material/groups:"),
    ("views/cost.py", "Cost", ":material/payments:"),
    ("views/pilots.py", "Pilots", ":material/science:"),
    ("views/insights_page.py", "Insights", ":material/lightbulb:"),
    ("views/data_health.py", "Data health", ":material/health_and_safety:"),
]
ALL = {"client": "All clients", "vendor": "All vendors", "site": "All sites", "channel": "All channels"}


def _label(ws, dimension: str, value: str | None) -> str:
    if value is None:
        return ALL[dimension]
    return format.label(dimension, value, format.Names.of(ws.config))


def _week_label(week: date | None) -> str:
    if week is None:
        return "Latest complete week"
    return f"{state.week_label(week)} ({week:%d %b} – {week + timedelta(days=6):%d %b %Y})"


def _sidebar_filters(ws, viewer: access.Viewer, version: tuple) -> Filters:
    """Filter widgets offering only values in the viewer's scope; their values live in the URL."""
    present = data.dimension_values(ws, viewer.scope, version)
    options = {
        "client": [c for c in access.visible_clients(ws, viewer.scope) if c in present["client"]] or present["client"],
        "vendor": [v for v in access.visible_vendors(ws, viewer.scope) if v in present["vendor"]] or present["vendor"],
        "site": present["site"],
        "channel": present["channel"],
    }
    wanted, dropped = Filters.from_query(st.query_params.to_dict()).restricted_to(options)
    if dropped:
        st.sidebar.warning(f"Ignored from the link (not in your view): {format.markdown(', '.join(dropped))}.")
    for note in state.unread(st.query_params.to_dict()):
        st.sidebar.warning(f"Not understood in the link: {format.markdown(note)}.")
    st.sidebar.header("Filters")
    chosen = {}
    for dim in DIMENSIONS:
        key = f"filter_{dim}"
        if key not in st.session_state:
            st.session_state[key] = getattr(wanted, dim)
        if st.session_state[key] not in options[dim]:
            st.session_state[key] = None
        chosen[dim] = st.sidebar.selectbox(dim.capitalize(), [None, *options[dim]], key=key, placeholder=ALL[dim],
                                           format_func=lambda v, d=dim: _label(ws, d, v))
    dims = tuple(sorted((k, v) for k, v in chosen.items() if v))
    weeks = data.weeks(ws, viewer.scope, dims, version)
    if "filter_week" not in st.session_state:
        st.session_state["filter_week"] = wanted.week
    if st.session_state["filter_week"] not in weeks:
        st.session_state["filter_week"] = None
    week = st.sidebar.selectbox("Week", [None, *weeks], key="filter_week", format_func=_week_label,
                                placeholder=_week_label(None))
    if "filter_compare" not in st.session_state:
        st.session_state["filter_compare"] = wanted.compare
    compare = st.sidebar.selectbox("Compare with", list(COMPARISONS), key="filter_compare",
                                   format_func=COMPARISONS.get,
                                   help="The change each tile shows first, and the reference line the trends draw.")
    filters = Filters(**chosen, week=week, compare=compare)
    if st.query_params.to_dict() != filters.to_query():
        st.query_params.from_dict(filters.to_query())
    st.sidebar.caption(f"Signed in as **{format.markdown(viewer.name)}** ({format.markdown(viewer.role)}). Copy the address bar to share this view.")
    return filters


def main() -> None:
    """Resolve the viewer, draw the filters, run the chosen page."""
    st.set_page_config(page_title="bpo-insights", page_icon=":material/insights:", layout="wide")
    launch = access.parse_launch(sys.argv[1:], os.environ)
    ws = access.open_workspace(launch)
    viewer = ws if isinstance(ws, access.Denied) else access.resolve_viewer(ws, launch.user)
    if isinstance(viewer, access.Denied):
        components.denied_page(viewer)
        st.stop()
    version = data.data_version(ws)
    filters = _sidebar_filters(ws, viewer, version)
    state.set_context(state.Context(ws=ws, viewer=viewer, filters=filters, version=version))
    pages = [st.Page(str(HERE / path), title=title, icon=icon, default=i == 0)
             for i, (path, title, icon) in enumerate(PAGES)]
    st.navigation(pages).run()


main()
