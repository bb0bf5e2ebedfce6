"""A new, empty workspace for one's own data: `bpo-insights init DIR`.

`init_workspace` writes a commented `bpo.toml` (workspace, settings, clients, vendors, sites with their time
zones, an admin user, sources as commented examples) that passes the strict validator, and makes the folder
the store expects: `tables/`, the hashing key `hash.key` and the metadata database `state.db`, created exactly
as the first import would create them.  An existing `bpo.toml` is never overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConfigError, WorkspaceError
from connectors.hashing import workspace_key
from connectors.store.config import WEEKDAYS, _currency, _zone
from connectors.store.workspace import Workspace

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_CLIENT = "my-client"
DEFAULT_VENDOR = "in-house"


@dataclass(frozen=True, kw_only=True)
class InitResult:
    """What `init_workspace` made."""

    path: Path
    clients: tuple[str, ...]
    vendors: tuple[str, ...]
    sites: tuple[str, ...]

    def __str__(self) -> str:
        client, vendor, site = self.clients[0], self.vendors[0], self.sites[0]
        return "\n".join([
            f"created the workspace {self.path} (bpo.toml, tables/, hash.key, state.db)",
            f"  clients {', '.join(self.clients)}; vendors {', '.join(self.vendors)}; sites {', '.join(self.sites)}",
            "next:",
            f"  1. review {self.path / 'bpo.toml'} (names, time zones, users, sources)",
            f"  2. bpo-insights import tickets.csv --preset canonical --client {client} --vendor {vendor} --site {site} "
            f"--workspace {self.path}",
            "     (or --preset zendesk / freshdesk / ..., or --mapping my_mapping.toml: see bpo-insights import --help)",
            f"  3. bpo-insights kpis --workspace {self.path}    then    bpo-insights dashboard --user admin "
            f"--workspace {self.path}",
        ])


def starter_toml(*, name: str, currency: str = "USD", clients: tuple[str, ...] = (DEFAULT_CLIENT,),
                 vendors: tuple[str, ...] = (DEFAULT_VENDOR,), timezone: str = "UTC",
                 week_start: str = "monday") -> str:
    """The text of a new workspace's bpo.toml; raises ConfigError naming the option and the fix for a bad value."""
    problems = []
    if not name.strip():
        problems.append("--name is empty; give the workspace a name (e.g. --name \"Acme support\")")
    if _currency(currency):
        problems.append(f"--currency {currency!r} {_currency(currency)}")
    if _zone(timezone):
        problems.append(f"--timezone {timezone!r} {_zone(timezone)}")
    if week_start not in WEEKDAYS:
        problems.append(f"--week-start {week_start!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
    for flag, ids in (("--client", clients), ("--vendor", vendors)):
        for v in ids:
            if not _ID.match(v):
                problems.append(f"{flag} {v!r} is not an id; use letters, digits, '-', '_' or '.' (e.g. acme)")
        dupes = sorted({v for v in ids if ids.count(v) > 1})
        if dupes:
            problems.append(f"{flag} {', '.join(dupes)} given twice; give each id once")
    if problems:
        raise ConfigError("init: " + "; ".join(problems))
    q = json.dumps  # a JSON string is a valid TOML basic string
    out = [
        "# bpo-insights workspace settings. Every key is checked when a command starts: a typo is an error",
        "# naming the key and the fix, never silently ignored. Lines starting with # are examples to copy.",
        "",
        "[workspace]",
        f"name = {q(name)}",
        f"currency = {q(currency)}            # reporting currency of invoices and rate cards (ISO 4217)",
        '# database_url = "postgresql://bpo@db.example/bpo"   # metadata in a server database instead of state.db',
        '# password_env = "BPO_DB_PASSWORD"                 # the variable that holds its password (never in this file)',
        "",
        "[settings]",
        f"timezone = {q(timezone)}          # default reporting time zone of clients that set none",
        f"week_start = {q(week_start)}      # default first day of a reporting week",
        "# pseudonymise_agents = true    # agent ids are hashed on import; names are never stored",
        "",
        "# Clients: the brands whose customers you serve. Every import names one (--client ID).",
    ]
    for c in clients:
        out += ["[[client]]", f"id = {q(c)}", f"name = {q(c)}", f"# timezone = {q(timezone)}", f"# week_start = {q(week_start)}", ""]
    out += ["# Vendors: who handles the contacts (a BPO partner, or your own in-house team). --vendor ID"]
    for v in vendors:
        out += ["[[vendor]]", f"id = {q(v)}", f"name = {q(v)}", ""]
    out += ["# Sites: where a vendor works from, with its local time zone. --site ID"]
    sites = tuple(f"{v}-main" for v in vendors)
    for v, s in zip(vendors, sites):
        out += ["[[site]]", f"id = {q(s)}", f"name = {q(s)}", f"vendor = {q(v)}", f"timezone = {q(timezone)}",
                '# tier = "onshore"              # onshore | nearshore | offshore', '# country = "US"', ""]
    out += [
        "# Users: who may see what. An admin sees everything; a brand user sees its clients; a vendor user sees",
        "# its own vendor's work for its clients. The CLI without --user acts as admin.",
        "[[user]]",
        'name = "admin"',
        'role = "admin"',
        '# email = "you@example.com"     # the identity sign-in asserts (with [auth]) and where deliver sends',
        "",
        "# [[user]]",
        '# name = "brand-manager"',
        '# role = "brand"',
        f"# clients = [{q(clients[0])}]",
        "",
        "# [[user]]",
        '# name = "vendor-lead"',
        '# role = "vendor"',
        f"# clients = [{q(clients[0])}]",
        f"# vendors = [{q(vendors[0])}]",
        "",
        "# Sources: helpdesks, call-centre platforms and databases that `bpo-insights sync` pulls incrementally.",
        "# Files need no source: import them with `bpo-insights import FILE --preset NAME` (see import --help).",
        "# [[source]]",
        '# name = "zendesk"',
        '# kind = "zendesk"',
        '# subdomain = "acme"',
        '# email = "api-user@acme.example"',
        '# token_env = "ZENDESK_TOKEN"    # the variable that holds the API token (never the token itself)',
        f"# client = {q(clients[0])}",
        f"# vendor = {q(vendors[0])}",
        "",
    ]
    return "\n".join(out)


def init_workspace(path: Path | str, *, name: str | None = None, currency: str = "USD",
                   clients: tuple[str, ...] = (), vendors: tuple[str, ...] = (), timezone: str = "UTC",
                   week_start: str = "monday") -> InitResult:
    """Make an empty workspace at `path` (the folder may exist; its bpo.toml must not).

    >>> init_workspace(Path("acme-ws"), name="Acme support", clients=("acme",), vendors=("northwind",))  # doctest: +SKIP
    InitResult(path=PosixPath('acme-ws'), clients=('acme',), vendors=('northwind',), sites=('northwind-main',))
    """
    p = Path(path)
    clients = tuple(clients) or (DEFAULT_CLIENT,)
    vendors = tuple(vendors) or (DEFAULT_VENDOR,)
    text = starter_toml(name=name or p.resolve().name or "bpo-insights workspace", currency=currency,
                        clients=clients, vendors=vendors, timezone=timezone, week_start=week_start)
    if (p / "bpo.toml").exists():
        raise WorkspaceError(f"{p / 'bpo.toml'} already exists; nothing was changed. Edit that file, or give "
                             f"'bpo-insights init' a new folder (e.g. bpo-insights init {p}-new)")
    if p.exists() and not p.is_dir():
        raise WorkspaceError(f"{p}: is a file, not a folder; give 'bpo-insights init' a folder path")
    ws = Workspace.create(p, text)  # parses it: the template always passes the strict validator
    workspace_key(ws.path)  # hash.key, as the first import makes it
    ws.engine  # noqa: B018 - state.db with its tables, as the first command makes it
    return InitResult(path=p, clients=clients, vendors=vendors, sites=tuple(f"{v}-main" for v in vendors))
