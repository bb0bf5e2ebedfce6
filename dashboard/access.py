"""Who is looking: the viewer from `--user`/`BPO_USER`, resolved to a Scope (deny by default)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import AccessDenied, BpoError
from connectors.store import Scope, Workspace

START_HINT = (
    "Start the dashboard with a viewer declared in bpo.toml, for example:\n\n"
    "    bpo-insights dashboard --workspace DIR --user admin\n\n"
    "or set BPO_USER (and BPO_WORKSPACE) before `streamlit run dashboard/app.py`."
)


@dataclass(frozen=True)
class Launch:
    """What the server was started with: the workspace folder and the viewer's name."""

    workspace: Path | None
    user: str | None


@dataclass(frozen=True)
class Viewer:
    """A resolved viewer: name, role and the Scope every read is filtered by."""

    name: str
    role: str
    scope: Scope


@dataclass(frozen=True)
class Denied:
    """Why nothing can be shown, and how to fix it."""

    reason: str
    fix: str = START_HINT


def parse_launch(argv: Sequence[str], environ: Mapping[str, str]) -> Launch:
    """`--workspace DIR --user NAME` after `streamlit run app.py --`, else BPO_WORKSPACE / BPO_USER."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--workspace")
    parser.add_argument("--user")
    args, _ = parser.parse_known_args(list(argv))
    workspace = args.workspace or environ.get("BPO_WORKSPACE") or None
    user = args.user or environ.get("BPO_USER") or None
    return Launch(Path(workspace) if workspace else None, user.strip() if user else None)


def open_workspace(launch: Launch) -> Workspace | Denied:
    """The workspace the server was started on, or why it cannot be opened."""
    try:
        return Workspace.open(launch.workspace)
    except BpoError as e:
        return Denied(f"The workspace cannot be opened: {e}")


def resolve_viewer(ws: Workspace, user: str | None) -> Viewer | Denied:
    """The viewer's Scope from bpo.toml; no user or an unknown user is denied (nothing is shown)."""
    if not user:
        return Denied("No viewer was given, so no data is shown.")
    try:
        u = ws.config.user(user)
    except AccessDenied:
        return Denied(f"User '{user}' is not declared in bpo.toml, so no data is shown.")
    return Viewer(u.name, u.role, u.scope)


def visible_clients(ws: Workspace, scope: Scope) -> list[str]:
    """Client ids of bpo.toml the scope may see, in declaration order."""
    return [c["id"] for c in ws.config.clients if scope.clients is None or c["id"] in scope.clients]


def visible_vendors(ws: Workspace, scope: Scope) -> list[str]:
    """Vendor ids of bpo.toml the scope may see, in declaration order."""
    return [v["id"] for v in ws.config.vendors if scope.vendors is None or v["id"] in scope.vendors]

