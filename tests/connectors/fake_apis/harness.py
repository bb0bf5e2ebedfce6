"""Workspaces wired to the fake vendors: bpo.toml text, tokens, and the changes each vendor can make."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from connectors.store import Scope, Workspace

from .freshdesk import FakeFreshdesk
from .server import FakeApi
from .zendesk import FakeZendesk

TENANTS = """
[workspace]
name = "sync test"
[[client]]
id = "acme"
[[client]]
id = "globex"
[[vendor]]
id = "northwind"
[[vendor]]
id = "southpeak"
[[site]]
id = "nw-manila"
vendor = "northwind"
[[site]]
id = "nw-bogota"
vendor = "northwind"
[[site]]
id = "sp-austin"
vendor = "southpeak"
[[user]]
name = "admin"
role = "admin"
"""


@dataclass(frozen=True)
class Vendor:
    """One fake vendor as the engine tests see it."""

    kind: str
    source: str
    env: str
    token: str
    make: Callable[..., FakeApi]
    source_toml: Callable[[str, str], str]

    def change(self, api: FakeApi) -> set[str]:
        """Late updates to old tickets, new tickets and a deletion; returns the ids that changed."""
        if isinstance(api, FakeZendesk):
            api.update(2, status="solved", priority="urgent")
            api.update(5, tags=["escalated"])
            api.delete(7)
            new = [api.add(i) for i in (1001, 1002)]
            return {"2", "5", "7", *(str(t["id"]) for t in new)}
        assert isinstance(api, FakeFreshdesk)
        api.update(2, status=5, priority=4)
        api.update(5, tags=["escalated"])
        api.update(7, status=4)
        new = [api.add(i) for i in (1001, 1002)]
        return {"2", "5", "7", *(str(t["id"]) for t in new)}


def _zendesk_toml(url: str, extra: str = "") -> str:
    return f"""
[[source]]
name = "acme-zendesk"
kind = "zendesk"
base_url = "{url}"
email = "ops@acme.example"
token_env = "ACME_ZENDESK_TOKEN"
start = "2025-01-01"
client = "acme"
vendor = "northwind"
site = "nw-manila"
page_size = 25
backoff_seconds = 0.01
{extra}
"""


def _freshdesk_toml(url: str, extra: str = "") -> str:
    return f"""
[[source]]
name = "globex-freshdesk"
kind = "freshdesk"
base_url = "{url}"
token_env = "GLOBEX_FRESHDESK_KEY"
start = "2025-01-01"
client = "globex"
vendor = "southpeak"
page_size = 10
max_page = 3
backoff_seconds = 0.01
{extra}
"""


ZENDESK = Vendor("zendesk", "acme-zendesk", "ACME_ZENDESK_TOKEN", "zd-SECRET-7f3a9c1e55",
                 lambda tickets=0, **kw: FakeZendesk(email="ops@acme.example", token="zd-SECRET-7f3a9c1e55",
                                                     tickets=tickets, **kw).start(),
                 _zendesk_toml)
FRESHDESK = Vendor("freshdesk", "globex-freshdesk", "GLOBEX_FRESHDESK_KEY", "fd-SECRET-b81d44e2a0",
                   lambda tickets=0, **kw: FakeFreshdesk(api_key="fd-SECRET-b81d44e2a0", tickets=tickets, **kw).start(),
                   _freshdesk_toml)
VENDORS = (ZENDESK, FRESHDESK)


def stored(ws: Workspace) -> pl.DataFrame:
    """Every stored ticket, ordered by numeric ticket id (what the sync tests compare)."""
    return ws.read("tickets", Scope.everything()).with_columns(pl.col("ticket_id").cast(pl.Int64)).sort("ticket_id")


def run_cli_sync(workspace: Path, env: dict[str, str], *, wait: bool = True) -> subprocess.Popen:
    """`bpo-insights sync` in a real child process (the same interpreter and import path as the tests)."""
    code = "import sys; from insights.cli import main; sys.exit(main(sys.argv[1:]))"
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code, "sync", "--workspace", str(workspace)], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        proc.wait(timeout=60)
    return proc
