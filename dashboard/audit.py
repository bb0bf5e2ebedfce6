"""What the dashboard writes to the workspace's audit log: a sign-in (or a refused identity) once per session, a
page view whenever the page or its filters change, every export, every sign-out.

An entry that cannot be written stops the page (nothing is shown unaudited); the message names the database
(a damaged or busy store goes to the entry script, which shows its fix on every page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from connectors.errors import StoreBusy, StoreDamaged, WorkspaceError
from connectors.store import Workspace, audit
from connectors.store.scope import tenant_of
from dashboard.access import Denied, Viewer

SIGNED_IN_KEY = "_bpo_audit_signed_in"
LAST_PAGE_KEY = "_bpo_audit_last_page"


def _who(who: Viewer | Denied) -> dict[str, Any]:
    if isinstance(who, Viewer):
        return {"user": who.name, "role": who.role, "tenant": tenant_of(who), "identity": who.identity,
                "method": who.method}
    return {"user": None, "role": None, "tenant": None, "identity": who.identity, "method": "oidc"}


def _record(ws: Workspace, **entry: Any) -> None:
    try:
        audit.record(ws, **entry)
    except (StoreDamaged, StoreBusy):
        raise  # the entry script shows these with their fix, on every page
    except WorkspaceError as e:
        st.error(f"{e}. Nothing is shown until the audit log can be written.")
        st.stop()


def query_text(query: Mapping[str, str]) -> str | None:
    """The view's filters as the URL writes them (client=acme&week=2025-W10), None for the whole view."""
    return "&".join(f"{k}={v}" for k, v in query.items()) or None


def session_started(ws: Workspace, who: Viewer | Denied) -> None:
    """Once per browser session: `sign_in` for a viewer, `sign_in_refused` for a signed-in identity with no access."""
    if isinstance(who, Denied) and who.identity is None:
        return  # nobody was let in or refused by name: a server misconfiguration, not an access attempt
    key = (who.identity, who.name if isinstance(who, Viewer) else None)
    if st.session_state.get(SIGNED_IN_KEY) == key:
        return
    _record(ws, event="sign_in" if isinstance(who, Viewer) else "sign_in_refused", **_who(who),
            detail=None if isinstance(who, Viewer) else who.reason)
    st.session_state[SIGNED_IN_KEY] = key


def page_viewed(ws: Workspace, viewer: Viewer, page: str, query: Mapping[str, str]) -> None:
    """A `page_view` when the page or its filters differ from this session's last one (reruns are not views)."""
    key = (page, query_text(query))
    if st.session_state.get(LAST_PAGE_KEY) == key:
        return
    _record(ws, event="page_view", **_who(viewer), page=page, detail=key[1])
    st.session_state[LAST_PAGE_KEY] = key


def exported(render: Callable[[], Any], ws: Workspace, viewer: Viewer, page: str, what: str) -> Callable[[], Any]:
    """`render` that first records an `export` entry (it runs when the download is asked for, outside the page)."""
    def audited() -> Any:
        audit.record(ws, event="export", **_who(viewer), page=page, detail=what)
        return render()
    return audited


def sign_out(ws: Workspace, who: Viewer | Denied) -> None:
    """A `sign_out` entry (the sign-out button's callback, before st.logout)."""
    _record(ws, event="sign_out", **_who(who))
