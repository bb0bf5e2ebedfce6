"""URL filters round-trip, and the viewer is resolved deny-by-default."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.store import Scope, Workspace
from dashboard import access, launch
from dashboard.state import COMPARISONS, Filters, parse_week, unread
from insights import format

TOML = """
[workspace]
name = "t"
[[client]]
id = "acme"
name = "Acme Home"
[[client]]
id = "globex"
name = "Globex Travel"
[[vendor]]
id = "northwind"
[[vendor]]
id = "southpeak"
[[user]]
name = "admin"
role = "admin"
[[user]]
name = "acme-manager"
role = "brand"
clients = ["acme"]
[[user]]
name = "northwind-am"
role = "vendor"
clients = ["*"]
vendors = ["northwind"]
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", TOML)


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param({}, Filters(), id="empty-url-is-everything"),
    pytest.param({"client": "acme", "channel": "chat"}, Filters(client="acme", channel="chat"), id="two-dimensions"),
    pytest.param({"week": "2025-W10"}, Filters(week=date(2025, 3, 3)), id="iso-week"),
    pytest.param({"week": "2025-03-05"}, Filters(week=date(2025, 3, 5)), id="date-kept-for-the-calendar-to-place"),
    pytest.param({"week": "next tuesday"}, Filters(), id="unreadable-week-is-ignored"),
    pytest.param({"site": " ", "utm_source": "mail"}, Filters(), id="blanks-and-unknown-keys-ignored"),
    pytest.param({"vendor": ["a", "northwind"]}, Filters(vendor="northwind"), id="repeated-key-last-wins"),
    pytest.param({"compare": "last_year"}, Filters(compare="last_year"), id="compare-last-year"),
    pytest.param({"compare": "TARGET"}, Filters(compare="target"), id="compare-any-case"),
    pytest.param({"compare": "yesterday"}, Filters(compare="last_week"), id="unknown-compare-is-the-default"),
])
def test_filters_are_read_from_the_url(query, expected):
    assert Filters.from_query(query) == expected


def test_a_copied_url_reproduces_the_view():
    f = Filters(client="acme", vendor="northwind", site="nw-manila", channel="email", week=date(2025, 3, 3))
    assert f.to_query() == {"client": "acme", "vendor": "northwind", "site": "nw-manila", "channel": "email",
                            "week": "2025-W10"}
    assert Filters.from_query(f.to_query()) == f


@pytest.mark.parametrize("compare", list(COMPARISONS))
def test_the_comparison_round_trips_through_the_url(compare):
    f = Filters(client="acme", week=date(2025, 3, 3), compare=compare)
    query = f.to_query()
    assert query.get("compare") == (None if compare == "last_week" else compare)  # the default keeps links short
    assert Filters.from_query(query) == f


@pytest.mark.parametrize(("query", "notes"), [
    pytest.param({"compare": "target", "week": "2025-W10"}, [], id="all-understood"),
    pytest.param({"compare": "yesterday"}, ["compare 'yesterday' is not one of last_week, last_year, target; "
                                            "comparing with last week"], id="unknown-compare"),
    pytest.param({"week": "soon"}, ["week 'soon' is not a week (use e.g. 2025-W10); showing the latest complete week"],
                 id="unreadable-week"),
])
def test_what_the_url_asked_for_and_could_not_be_read_is_said(query, notes):
    assert unread(query) == notes


def test_values_outside_the_viewers_options_are_dropped_and_reported():
    f, dropped = Filters(client="globex", channel="chat").restricted_to({"client": ["acme"], "channel": ["chat"]})
    assert f == Filters(channel="chat")
    assert dropped == ["client 'globex'"]


@pytest.mark.parametrize("text", ["2025-W53", "2026-W99", "", None])
def test_impossible_weeks_are_none(text):
    assert parse_week(text) is None


@pytest.mark.parametrize(("argv", "env", "expected"), [
    pytest.param(["--workspace", "/w", "--user", "admin"], {}, access.Launch(Path("/w"), "admin"), id="args"),
    pytest.param([], {"BPO_WORKSPACE": "/e", "BPO_USER": "acme-manager"}, access.Launch(Path("/e"), "acme-manager"),
                 id="environment"),
    pytest.param(["--user", "admin"], {"BPO_USER": "acme-manager"}, access.Launch(None, "admin"), id="args-win"),
    pytest.param(["-q", "--us", "admin"], {}, access.Launch(None, None), id="no-abbreviations"),
])
def test_the_launch_reads_args_then_environment(argv, env, expected):
    assert access.parse_launch(argv, env) == expected


@pytest.mark.parametrize(("user", "reason"), [
    pytest.param(None, "No viewer was given", id="no-user"),
    pytest.param("", "No viewer was given", id="blank-user"),
    pytest.param("mallory", "User 'mallory' is not declared in bpo.toml", id="unknown-user"),
])
def test_no_user_or_an_unknown_user_is_denied(ws, user, reason):
    denied = access.resolve_viewer(ws, user)
    assert isinstance(denied, access.Denied)
    assert denied.reason.startswith(reason)
    assert "--user" in denied.fix


def test_a_missing_workspace_is_denied_with_the_fix(tmp_path):
    denied = access.open_workspace(access.Launch(tmp_path / "nowhere", "admin"))
    assert isinstance(denied, access.Denied)
    assert "bpo-insights sample --out" in denied.reason


@pytest.mark.parametrize(("user", "scope", "clients", "vendors"), [
    pytest.param("admin", Scope.everything(), ["acme", "globex"], ["northwind", "southpeak"], id="admin"),
    pytest.param("acme-manager", Scope.of(["acme"], "*"), ["acme"], ["northwind", "southpeak"], id="brand"),
    pytest.param("northwind-am", Scope.of("*", ["northwind"]), ["acme", "globex"], ["northwind"], id="vendor"),
])
def test_a_known_viewer_gets_its_scope_and_only_its_choices(ws, user, scope, clients, vendors):
    viewer = access.resolve_viewer(ws, user)
    assert viewer.scope == scope
    assert access.visible_clients(ws, viewer.scope) == clients
    assert access.visible_vendors(ws, viewer.scope) == vendors


@pytest.mark.parametrize(("kind", "ident", "label"), [
    pytest.param("client", "acme", "Acme Home", id="named"),
    pytest.param("vendor", "northwind", "northwind", id="unnamed-falls-back-to-id"),
    pytest.param("client", "initech", "initech", id="undeclared"),
])
def test_labels_come_from_bpo_toml(ws, kind, ident, label):
    assert format.label(kind, ident, format.Names.of(ws.config)) == label


def test_launch_runs_streamlit_on_the_app_with_the_workspace_and_user(tmp_path):
    cmd = launch.command(tmp_path, port=8765, user="acme-manager")
    assert cmd[1:5] == ["-m", "streamlit", "run", str(Path(launch.__file__).with_name("app.py"))]
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    assert cmd[cmd.index("--") + 1:] == ["--workspace", str(tmp_path.resolve()), "--user", "acme-manager"]


def test_a_date_in_the_url_names_the_reporting_week_that_holds_it_in_the_views_calendar():
    from datetime import date

    from dashboard.state import week_holding

    assert parse_week("2026-W45") == date(2026, 11, 2)  # an ISO week: its Monday
    assert parse_week("2026-11-01") == date(2026, 11, 1)  # a date stays the day it names
    sunday_weeks = [date(2026, 11, 8), date(2026, 11, 1), date(2026, 10, 25)]
    monday_weeks = [date(2026, 11, 2), date(2026, 10, 26)]
    # a Sunday-week client's 1 Nov is the first day of its week, not the Monday week of 26 Oct
    assert week_holding(parse_week("2026-11-01"), sunday_weeks) == date(2026, 11, 1)
    assert week_holding(parse_week("2026-11-01"), monday_weeks) == date(2026, 10, 26)
    assert week_holding(parse_week("2026-W45"), sunday_weeks) == date(2026, 11, 1)  # Mon 2 Nov is in Sun 1 - Sat 7
    assert week_holding(date(2026, 12, 1), sunday_weeks) is None  # no data that week: the latest is shown
    assert week_holding(None, sunday_weeks) is None
