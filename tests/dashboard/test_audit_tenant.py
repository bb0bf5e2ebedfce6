"""Every audit entry names the viewer's tenant (the one definition notes use), old logs gain the column, the CLI shows it."""

from __future__ import annotations

import shutil
from pathlib import Path
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

import tiny
from connectors.store import Workspace, audit, audit_log
from connectors.store.scope import tenant_of
from insights.cli import main
from insights.detection import insight_log

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"  # as in conftest; imported by path-free name it can clash
TIMEOUT = 60


@pytest.mark.parametrize(("user", "tenant"), [
    pytest.param("northwind-am", "vendor:northwind", id="vendor"),
    pytest.param("acme-manager", "brand:acme", id="brand"),
    pytest.param("admin", "admin", id="admin"),
])
def test_a_page_view_is_audited_with_the_viewers_tenant(monkeypatch, tmp_path, tiny_ws, user, tenant):
    shutil.copytree(tiny_ws.path, tmp_path / "ws")
    with Workspace.open(tmp_path / "ws").engine.begin() as con:  # the shared workspace carries other tests' visits
        con.execute(audit_log.delete())
    monkeypatch.setenv("BPO_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("BPO_USER", user)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    log = audit.read(Workspace.open(tmp_path / "ws"))
    assert set(zip(log["event"], log["tenant"])) == {("sign_in", tenant), ("page_view", tenant)}


def test_notes_and_the_audit_log_share_one_tenant_rule():
    assert insight_log.tenant_of is tenant_of


def test_an_audit_log_from_before_tenants_gains_the_column(tmp_path):
    ws = Workspace.create(tmp_path / "ws", tiny.TOML)
    with ws.engine.begin() as con:  # the table as the previous release made it
        con.exec_driver_sql("DROP TABLE audit_log")
        con.exec_driver_sql("CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME NOT NULL, "
                            "event VARCHAR(20) NOT NULL, user_name VARCHAR(200), role VARCHAR(20), identity VARCHAR(320), "
                            "method VARCHAR(10) NOT NULL, page VARCHAR(100), detail TEXT)")
        con.exec_driver_sql("INSERT INTO audit_log (at, event, user_name, role, method) "
                            "VALUES ('2026-11-01 09:00:00', 'sign_in', 'admin', 'admin', 'local')")
    ws.engine.dispose()
    ws = Workspace.open(tmp_path / "ws")
    audit.record(ws, event="sign_in", user="northwind-am", role="vendor", tenant="vendor:northwind", identity=None,
                 method="local", at=datetime(2026, 11, 2, 9, tzinfo=timezone.utc))
    log = audit.read(ws)
    assert list(zip(log["user_name"], log["tenant"])) == [("northwind-am", "vendor:northwind"), ("admin", None)]
    with ws.engine.connect() as con:
        assert "tenant" in {c["name"] for c in sa.inspect(con).get_columns("audit_log")}


def test_bpo_insights_audit_shows_the_tenant(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "ws", tiny.TOML)
    audit.record(ws, event="page_view", user="northwind-am", role="vendor", tenant="vendor:northwind", identity=None,
                 method="local", page="Weekly review", at=datetime(2026, 11, 2, 9, tzinfo=timezone.utc))
    assert main(["audit", "--workspace", str(ws.path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "northwind-am" in line and "vendor:northwind" in line
    assert main(["audit", "--workspace", str(ws.path), "--format", "csv"]) == 0
    assert "vendor:northwind" in capsys.readouterr().out
