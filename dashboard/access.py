"""Who is looking: a signed-in identity mapped to a [[user]], or the local `--user`, resolved to a Scope.

Deny by default: an identity no [[user]] claims, an unverified email, a missing viewer, or `--user` on a server
that listens beyond this machine all see nothing but why, and what to do.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from connectors.errors import AccessDenied, BpoError
from connectors.store import Scope, Workspace
from connectors.store.config import LOOPBACK_HOSTS

START_HINT = (
    "Let people sign in: declare [auth] in bpo.toml and start the server with\n\n"
    "    bpo-insights dashboard --workspace DIR\n\n"
    "or, on this machine only, serve one viewer declared in bpo.toml:\n\n"
    "    bpo-insights dashboard --workspace DIR --user admin"
)
LOCAL_ONLY = ("--user serves one viewer to whoever reaches the port, so it listens only on 127.0.0.1, ::1 or localhost; "
              "start it without --address, or declare [auth] in bpo.toml and start without --user so people sign in")
Method = Literal["oidc", "local"]


@dataclass(frozen=True)
class Launch:
    """What the server was started with: the workspace folder and the viewer's name."""

    workspace: Path | None
    user: str | None


@dataclass(frozen=True)
class Viewer:
    """A resolved viewer: name, role, the Scope every read is filtered by, and how they got in."""

    name: str
    role: str
    scope: Scope
    identity: str | None = None  # the signed-in claim (email); None in local --user mode
    method: Method = "local"


@dataclass(frozen=True)
class Denied:
    """Why nothing can be shown, and how to fix it (`identity`: who is signed in, when someone is)."""

    reason: str
    fix: str = START_HINT
    identity: str | None = None


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.1, ::1 and localhost; an unset address means every interface, so False."""
    return (address or "").strip().strip("[]").lower() in LOOPBACK_HOSTS


def refuse_local_mode(address: str | None, *, app_test: bool = False) -> Denied | None:
    """Local --user mode is refused unless the server listens on loopback only (AppTest has no server at all)."""
    if app_test or is_loopback(address):
        return None
    where = f"on {address}" if address else "on every network interface"
    return Denied(f"This server listens {where}, so a fixed --user viewer would be anyone who reaches it; "
                  "no data is shown.", fix=LOCAL_ONLY)


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


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def resolve_identity(ws: Workspace, claims: Mapping[str, Any]) -> Viewer | Denied:
    """The [[user]] whose `email` equals the signed-in identity's claim (lowercased); anyone else is denied.

    The claim is `[auth] identity_claim` (default "email"); an email the provider marks unverified is refused.
    """
    auth = ws.config.auth
    claim = auth.identity_claim if auth is not None else "email"
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return Denied(f"The identity provider did not send the '{claim}' claim, so this sign-in cannot be matched to a "
                      "user; no data is shown.",
                      fix=f"Ask the provider's admin to release the '{claim}' claim to this app (scope openid email "
                          "profile), or set [auth] identity_claim in bpo.toml to a claim it sends.",
                      identity=str(claims.get("sub") or "an unnamed identity"))
    identity = value.strip().lower()
    if claim == "email" and _false(claims.get("email_verified")):
        return Denied(f"You are signed in as {identity}, but your identity provider has not verified that email; "
                      "no data is shown.", fix="Verify the email with your identity provider, then sign in again.",
                      identity=identity)
    user = next((u for u in ws.config.users if u.email == identity), None)
    if user is None:
        return Denied(f"You are signed in as {identity}, who has no access in this workspace.",
                      fix=f'Ask an admin to add a [[user]] with email = "{identity}" (and its role, clients and '
                          "vendors) to bpo.toml.", identity=identity)
    return Viewer(user.name, user.role, user.scope, identity=identity, method="oidc")


def visible_clients(ws: Workspace, scope: Scope) -> list[str]:
    """Client ids of bpo.toml the scope may see, in declaration order."""
    return [c["id"] for c in ws.config.clients if scope.clients is None or c["id"] in scope.clients]


def visible_vendors(ws: Workspace, scope: Scope) -> list[str]:
    """Vendor ids of bpo.toml the scope may see, in declaration order."""
    return [v["id"] for v in ws.config.vendors if scope.vendors is None or v["id"] in scope.vendors]

