"""`[[source]]` checking: every problem of bpo.toml's sources listed at once, with the fix."""

from __future__ import annotations

import pytest

from connectors.errors import ConfigError
from connectors.sources import build_sources
from connectors.sync import sync_sources
from connectors.store import Workspace
from fake_apis.harness import TENANTS

BROKEN = """
[[source]]
name = "a"
kind = "zendesk"
subdomain = "acme"
client = "acme"
vendor = "northwind"
site = "nw-manila"
token_env = "A"
pagesize = 10
[[source]]
name = "b"
kind = "freshdesk"
domain = "globex.freshdesk.com"
client = "globx"
vendor = "northwind"
[[source]]
name = "c"
kind = "salesforce"
[[source]]
name = "a"
kind = "sql"
"""


@pytest.mark.parametrize("problem", [
    pytest.param("[[source]] 'a': declared twice; source names must be unique", id="duplicate-name"),
    pytest.param("[[source]] 'a': 'pagesize' is not a key of [[source]]; did you mean 'page_size'?", id="typo-key"),
    pytest.param("[[source]] 'b': 'token_env' is missing", id="no-token-env"),
    pytest.param("[[source]] 'b': client 'globx' is not a [[client]] id of bpo.toml; did you mean 'globex'? "
                 "(declared: acme, globex)", id="unknown-client"),
    pytest.param("[[source]] 'b': set site for its rows (vendor 'northwind' has sites nw-manila, nw-bogota)", id="ambiguous-site"),
    pytest.param("[[source]] 'c': kind 'salesforce' is not one of zendesk, freshdesk, intercom, gorgias, sql", id="unknown-kind"),
    pytest.param("[[source]] 'a': 'url' is missing", id="sql-without-url"),
])
def test_every_problem_is_listed_in_one_error_when_the_workspace_opens(tmp_path, problem):
    with pytest.raises(ConfigError) as e:
        Workspace.create(tmp_path / "ws", TENANTS + BROKEN)
    assert problem in str(e.value)


GOOD = """
[[source]]
name = "a"
kind = "zendesk"
subdomain = "acme"
client = "acme"
vendor = "northwind"
site = "nw-manila"
token_env = "A"
[[source]]
name = "b"
kind = "sql"
url = "sqlite:///helpdesk.db"
preset = "chatwoot"
client = "globex"
vendor = "southpeak"
"""


def test_a_checked_source_builds(tmp_path):
    ws = Workspace.create(tmp_path / "ws", TENANTS + GOOD)
    assert [(s.name, s.kind, s.tenants.default["site"]) for s in build_sources(ws)] == [
        ("a", "zendesk", "nw-manila"), ("b", "sql", "sp-austin")]


def test_unknown_source_name_lists_the_declared_ones(tmp_path):
    ws = Workspace.create(tmp_path / "ws", TENANTS + GOOD)
    with pytest.raises(ConfigError, match=r"no \[\[source\]\] named 'zz' \(declared: a, b\)"):
        sync_sources(ws, "zz")


def test_a_workspace_without_sources_syncs_nothing(tmp_path):
    assert sync_sources(Workspace.create(tmp_path / "ws", TENANTS)) == []
