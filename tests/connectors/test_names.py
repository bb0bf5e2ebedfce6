"""Group/team and agent names: read from each vendor on every sync, kept per source in the workspace's labels,
seen only by viewers of the source's client (and its vendors), shown instead of ids, never stored for agents
when agents are pseudonymised."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.store import Scope, Workspace
from connectors.sync import sync_sources
from fake_apis.harness import FRESHDESK, TENANTS, ZENDESK, Vendor
from fake_apis.intercom import INTERCOM
from fake_apis.server import FakeApi
from insights import format

EXPECTED = {
    "zendesk": ({"360001": "Billing", "360002": "Tier 2 support"}, {str(i): f"Agent {i - 499}" for i in range(500, 507)}),
    "freshdesk": ({"4000": "Refunds", "4001": "Orders"}, {str(i): f"Agent {i - 67_099}" for i in range(67_100, 67_105)}),
    "intercom": ({"5017": "Front line", "5018": "Escalations"}, {str(i): f"Admin {i - 814_859}" for i in range(814_860, 814_864)}),
}
NAME_PATHS = {"/api/v2/users", "/api/v2/agents", "/admins"}


@pytest.fixture(params=[ZENDESK, FRESHDESK, INTERCOM], ids=lambda v: v.kind)
def vendor(request, monkeypatch) -> Vendor:
    monkeypatch.setenv(request.param.env, request.param.token)
    return request.param


@pytest.fixture
def api(vendor: Vendor) -> Iterator[FakeApi]:
    server = vendor.make(6)
    yield server
    server.stop()


def make_ws(tmp_path, vendor: Vendor, api: FakeApi, settings: str = "") -> Workspace:
    return Workspace.create(tmp_path / "ws", TENANTS + settings + vendor.source_toml(api.url, ""))


def sync(ws: Workspace):
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    return report


def test_group_and_agent_names_are_read_on_every_sync(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    report = sync(ws)
    queues, agents = EXPECTED[vendor.kind]
    assert ws.labels(Scope.everything()) == {"queue": queues, "agent": agents}
    assert report.names == len(queues) + len(agents)
    again = sync(ws)
    assert again.names == 0  # nothing renamed: nothing written


def test_a_renamed_group_shows_its_new_name(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync(ws)
    groups = getattr(api, "groups", None) if vendor.kind != "intercom" else api.teams  # type: ignore[attr-defined]
    first = next(iter(groups.values())) if isinstance(groups, dict) else groups[0]
    first["name"] = "Renamed"
    report = sync(ws)
    assert report.names == 1
    assert ws.labels(Scope.everything())["queue"][str(first["id"])] == "Renamed"


def test_pseudonymised_agents_have_no_names_stored_or_asked_for(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api, "[settings]\npseudonymise_agents = true\n")
    sync(ws)
    assert set(ws.labels(Scope.everything())) == {"queue"}
    assert not [p for _, p, _ in api.requests if p in NAME_PATHS]
    with pytest.raises(Exception, match="agent names are never stored with \\[settings\\] pseudonymise_agents = true"):
        ws.put_labels("by-hand", "agent", {"1": "Jane"}, client_id="acme", vendor_id=None)


def test_names_follow_the_metadata_rules_of_scope(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync(ws)
    client = "globex" if vendor.kind == "freshdesk" else "acme"
    other = "acme" if client == "globex" else "globex"
    queues, _ = EXPECTED[vendor.kind]
    assert ws.labels(Scope.of([client], "*"))["queue"] == queues
    assert ws.labels(Scope.of([other], "*")) == {}
    # the vendor of the source's work sees them; a vendor that does not serve that client does not
    serving = "southpeak" if vendor.kind == "freshdesk" else "northwind"
    stranger = "northwind" if serving == "southpeak" else "southpeak"
    assert ws.labels(Scope.of("*", [serving]))["queue"] == queues
    assert ws.labels(Scope.of("*", [stranger])) == {}


def test_names_are_shown_instead_of_ids(tmp_path, vendor, api):
    ws = make_ws(tmp_path, vendor, api)
    sync(ws)
    names = format.Names.of_view(ws, Scope.everything())
    queues, agents = EXPECTED[vendor.kind]
    queue_id, agent_id = sorted(queues)[0], sorted(agents)[0]
    assert format.segment({"queue": queue_id}, names) == f"queue {queues[queue_id]}"
    assert format.label("agent", agent_id, names) == agents[agent_id]
    assert format.label("agent", "no-such-agent", names) == "no-such-agent"


def test_a_source_that_will_not_list_agents_still_syncs_with_ids_shown(tmp_path, monkeypatch):
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
    api = ZENDESK.make(6)
    try:
        api.forbid_users = True
        ws = make_ws(tmp_path, ZENDESK, api)
        report = sync(ws)
    finally:
        api.stop()
    assert set(ws.labels(Scope.everything())) == {"queue"}
    assert len(report.name_problems) == 1
    assert report.name_problems[0].startswith("agent names not read (") and "403" in report.name_problems[0]
    assert report.name_problems[0].endswith("their ids are shown instead")
