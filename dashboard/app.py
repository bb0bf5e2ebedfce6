"""The dashboard's entry script: sign-in and access, shared filters (kept in the URL), navigation, the audit log.

Run through `bpo-insights dashboard --workspace DIR`: with `[auth]` in bpo.toml people sign in through the
identity provider (st.login) and see what their [[user]] may see; `--user NAME` (or BPO_USER) serves one
viewer on loopback only.  Deny by default: before a known viewer is resolved nothing but the way in is shown,
and every sign-in, page view and export is written to the workspace's audit log.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from pathlib import Path

import streamlit as st
from streamlit import config

from connectors.errors import StoreBusy, StoreDamaged
from dashboard import access, audit, components, data, state
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
    ("views/coverage.py", "Coverage", ":material/schedule:"),
    ("views/cost.py", "Cost", ":material/payments:"),
    ("views/pilots.py", "Pilots", ":material/science:"),
    ("views/insights_page.py", "Insights", ":material/lightbulb:"),
    ("views/data_health.py", "Data health", ":material/health_and_safety:"),
]
ALL = {"client": "All clients", "vendor": "All vendors", "site": "All sites", "channel": "All channels",
       "language": "All languages"}
HELP = {"language": "The tickets' language. It narrows ticket figures only: contact intervals, the roster, invoices "
                    "and QA evaluations record no language, so figures read from them are not narrowed by it."}


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
        "language": present["language"],
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
                                           help=HELP.get(dim),
                                           format_func=lambda v, d=dim: _label(ws, d, v))
    dims = tuple(sorted((k, v) for k, v in chosen.items() if v))
    weeks = data.weeks(ws, viewer.scope, dims, version)
    if "filter_week" not in st.session_state:
        st.session_state["filter_week"] = state.week_holding(wanted.week, weeks)
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
    who = components.as_text(viewer.identity, viewer.identity) if viewer.identity else f"**{components.as_text(viewer.name)}**"
    st.sidebar.caption(f"Signed in as {who} ({components.as_text(viewer.name)}, {viewer.role}). "
                       "Copy the address bar to share this view.")
    if viewer.method == "oidc":
        st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:", on_click=_sign_out, args=(ws, viewer))
    return filters


def _sign_out(ws, who: access.Viewer | access.Denied) -> None:
    audit.sign_out(ws, who)
    st.logout()


def _viewer(ws, launch: access.Launch) -> access.Viewer | access.Denied | None:
    """The local --user (loopback only), or the signed-in identity's [[user]]; None: nobody has signed in yet."""
    if launch.user:
        # streamlit.config.get_option, not st.get_option: AppTest patches the former (and has no server to bind)
        refused = access.refuse_local_mode(config.get_option("server.address"),
                                           app_test=bool(config.get_option("global.appTest")))
        return refused or access.resolve_viewer(ws, launch.user)
    if ws.config.auth is None:
        return access.resolve_viewer(ws, None)
    if config.get_option("server.trustedUserHeaders"):
        return access.Denied("server.trustedUserHeaders is set, so request headers could claim any identity; no data "
                             "is shown.", fix="Remove server.trustedUserHeaders from Streamlit's configuration and start "
                                              "with: bpo-insights dashboard --workspace DIR")
    if "is_logged_in" not in st.user:
        return access.Denied("Sign-in is declared in bpo.toml ([auth]), but this server was started without it, so no "
                             "data is shown.", fix="Start the server with: bpo-insights dashboard --workspace DIR "
                                                   "(it hands [auth] and its secrets to Streamlit)")
    if not st.user.is_logged_in:
        return None
    return access.resolve_identity(ws, st.user.to_dict())


def main() -> None:
    """Every page, run so that a damaged or busy store shows its message and fix, and nothing else.

    The store's own errors (StoreDamaged, StoreBusy) already say what to do; any page, the filters or
    the audit log can meet them, so this is the one place they are caught.  What the run had drawn
    before is cleared: no half-drawn page beside the error."""
    st.set_page_config(page_title="bpo-insights", page_icon=":material/insights:", layout="wide")
    body = st.empty()
    try:
        with body.container():
            _run()
    except (StoreDamaged, StoreBusy) as e:
        body.empty()
        components.store_error_page(e)
        st.stop()


def _run() -> None:
    """Resolve the viewer (sign-in first), draw the filters, run the chosen page; audit who saw what."""
    launch = access.parse_launch(sys.argv[1:], os.environ)
    ws = access.open_workspace(launch)
    if isinstance(ws, access.Denied):
        components.denied_page(ws)
        st.stop()
        return
    viewer = _viewer(ws, launch)
    if viewer is None:
        components.sign_in_page()
        st.stop()
        return
    audit.session_started(ws, viewer)
    if isinstance(viewer, access.Denied):
        components.denied_page(viewer, on_sign_out=None if viewer.identity is None else (_sign_out, (ws, viewer)))
        st.stop()
        return
    version = data.data_version(ws)
    filters = _sidebar_filters(ws, viewer, version)
    state.set_context(state.Context(ws=ws, viewer=viewer, filters=filters, version=version))
    pages = [st.Page(str(HERE / path), title=title, icon=icon, default=i == 0)
             for i, (path, title, icon) in enumerate(PAGES)]
    page = st.navigation(pages)
    audit.page_viewed(ws, viewer, page.title, filters.to_query())
    page.run()


main()
