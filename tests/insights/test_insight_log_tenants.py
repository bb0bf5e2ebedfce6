"""Notes, owners and history of an insight belong to (insight id, the author's tenant): competitors never share them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from _tiny import tiny
from connectors.store import Scope, User, Workspace
from insights.cli import main
from insights.detection import insight_log
from insights.detection.insight_log import ADMIN, tenant_of

TOML = """
[workspace]
name = "notes"
[[client]]
id = "acme"
[[vendor]]
id = "northwind"
[[vendor]]
id = "southpeak"
[[user]]
name = "admin"
role = "admin"
"""
IID = "3f2a9c0d1e7b"  # one finding both vendors see: "acme · email CSAT"
NORTHWIND, SOUTHPEAK, ACME = "vendor:northwind", "vendor:southpeak", "brand:acme"


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "ws", TOML)


class Case(NamedTuple):
    viewer: User | Scope
    tenant: str


@pytest.mark.parametrize("case", [
    pytest.param(Case(User("admin", "admin", Scope.everything()), ADMIN), id="admin"),
    pytest.param(Case(User("acme-manager", "brand", Scope.of(["acme"], "*")), "brand:acme"), id="brand"),
    pytest.param(Case(User("both", "brand", Scope.of(["globex", "acme"], "*")), "brand:acme,globex"), id="brand-2-clients"),
    pytest.param(Case(User("nw-am", "vendor", Scope.of("*", ["northwind"])), "vendor:northwind"), id="vendor"),
    pytest.param(Case(User("nw-acme", "vendor", Scope.of(["acme"], ["northwind"])), "vendor:northwind"),
                 id="vendor-one-client-same-organisation"),
    pytest.param(Case(User("audit", "brand", Scope.of(["acme"], ["northwind"])), "brand:acme|vendor:northwind"),
                 id="brand-limited-to-a-vendor-is-not-the-vendor"),
    pytest.param(Case(Scope.everything(), ADMIN), id="scope-everything"),
    pytest.param(Case(Scope.of(["acme"], "*"), "brand:acme"), id="scope-brand"),
    pytest.param(Case(Scope.of("*", ["southpeak"]), "vendor:southpeak"), id="scope-vendor"),
])
def test_the_tenant_of_a_viewer(case):
    assert tenant_of(case.viewer) == case.tenant


def test_a_vendors_note_is_never_shown_to_its_competitor_on_the_same_insight(ws):
    insight_log.record(ws, IID, user="northwind-am", tenant=NORTHWIND, status="in_progress",
                       owner="NW-OWNER-7731", action_taken="NW-ACTION-2 agents to email")
    theirs = insight_log.get(ws, IID, tenant=SOUTHPEAK)
    assert (theirs.status, theirs.owner, theirs.action_taken, theirs.updated_by) == ("new", None, None, None)
    assert insight_log.history(ws, IID, tenant=SOUTHPEAK).height == 0
    insight_log.record(ws, IID, user="southpeak-am", tenant=SOUTHPEAK, status="not_useful")
    ours = insight_log.get(ws, IID, tenant=NORTHWIND)
    assert (ours.status, ours.owner, ours.updated_by) == ("in_progress", "NW-OWNER-7731", "northwind-am")


def test_a_brands_note_and_a_vendors_note_stay_apart(ws):
    insight_log.record(ws, IID, user="acme-manager", tenant=ACME, owner="ACME-OWNER")
    insight_log.record(ws, IID, user="northwind-am", tenant=NORTHWIND, owner="NW-OWNER")
    assert insight_log.get(ws, IID, tenant=ACME).owner == "ACME-OWNER"
    assert insight_log.get(ws, IID, tenant=NORTHWIND).owner == "NW-OWNER"
    assert insight_log.history(ws, IID, tenant=ACME).get_column("value").to_list() == ["ACME-OWNER"]
    assert insight_log.history(ws, IID, tenant=NORTHWIND).get_column("value").to_list() == ["NW-OWNER"]


def test_admin_keeps_its_own_state_and_reads_every_tenants_trail(ws):
    insight_log.record(ws, IID, user="acme-manager", tenant=ACME, status="acknowledged")
    insight_log.record(ws, IID, user="northwind-am", tenant=NORTHWIND, status="done")
    assert insight_log.get(ws, IID, tenant=ADMIN).status == "new"
    trail = insight_log.history(ws, IID, tenant=ADMIN)
    assert trail.select("user", "tenant", "value").rows() == [("acme-manager", ACME, "acknowledged"),
                                                              ("northwind-am", NORTHWIND, "done")]


@pytest.mark.parametrize("tenant", ["", None])
def test_a_note_without_a_tenant_is_refused(ws, tenant):
    with pytest.raises(insight_log.InsightLogError, match="needs the author's tenant; pass tenant=tenant_of"):
        insight_log.record(ws, IID, user="x", tenant=tenant, status="done")  # type: ignore[arg-type]


def test_notes_written_before_tenants_existed_become_admins(ws):
    old = sa.MetaData()
    state = sa.Table("insight_state", old, sa.Column("insight_id", sa.String(64), primary_key=True),
                     sa.Column("status", sa.String(20), nullable=False), sa.Column("owner", sa.String(200)),
                     sa.Column("action_taken", sa.Text), sa.Column("headline", sa.Text),
                     sa.Column("updated_by", sa.String(200), nullable=False),
                     sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    events = sa.Table("insight_events", old, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                      sa.Column("insight_id", sa.String(64), nullable=False), sa.Column("at", sa.DateTime(timezone=True)),
                      sa.Column("user", sa.String(200), nullable=False), sa.Column("field", sa.String(20), nullable=False),
                      sa.Column("value", sa.Text))
    at = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    old.create_all(ws.engine)
    with ws.engine.begin() as con:
        con.execute(state.insert().values(insight_id=IID, status="done", owner="OLD-OWNER", updated_by="someone",
                                          updated_at=at))
        con.execute(events.insert().values(insight_id=IID, at=at, user="someone", field="status", value="done"))
    assert insight_log.get(ws, IID, tenant=ADMIN).owner == "OLD-OWNER"
    assert insight_log.get(ws, IID, tenant=NORTHWIND).owner is None
    assert insight_log.history(ws, IID, tenant=ADMIN).select("tenant", "value").rows() == [(ADMIN, "done")]
    assert insight_log.history(ws, IID, tenant=NORTHWIND).height == 0
    insight_log.record(ws, IID, user="northwind-am", tenant=NORTHWIND, status="acknowledged")  # the new key works
    assert insight_log.get(ws, IID, tenant=ADMIN).status == "done"


def _insights(capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert main(["insights", *argv, "--week", "2025-W10", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_brand_user_narrowed_to_a_vendor_ranks_by_its_own_notes_not_the_vendors(tmp_path, capsys):
    """acme's manager runs `insights --vendor northwind`: the scope narrows to Northwind's acme work, but the notes
    that weigh novelty stay acme's ('brand:acme'), never Northwind's own ('vendor:northwind')."""
    ws = tiny.build_planted(tmp_path / "ws")
    args = ("--workspace", str(ws.path), "--user", "acme-manager", "--vendor", "northwind")
    found = _insights(capsys, *args)
    first = next(i for i in found if i["type"] != "data_quality")
    insight_log.record(ws, first["id"], user="northwind-am", tenant=NORTHWIND, status="not_useful")
    assert "log_status" not in next(i for i in _insights(capsys, *args) if i["id"] == first["id"])["evidence"]
    insight_log.record(ws, first["id"], user="acme-manager", tenant=ACME, status="acknowledged")
    assert next(i for i in _insights(capsys, *args) if i["id"] == first["id"])["evidence"]["log_status"] == "acknowledged"
    # the vendor's own account manager, with the same filter, ranks by its own note
    mine = _insights(capsys, "--workspace", str(ws.path), "--user", "northwind-am", "--client", "acme")
    assert next(i for i in mine if i["id"] == first["id"])["evidence"]["log_status"] == "not_useful"
