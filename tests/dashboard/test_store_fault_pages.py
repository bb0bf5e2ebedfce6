"""A damaged or busy store shows, on every page, its message and fix and nothing else (never a traceback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.errors import StoreBusy
from connectors.store import Workspace

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"  # as in conftest; imported by path-free name it can clash
TIMEOUT = 60

PAGES = ("views/weekly_review.py", "views/sla_trends.py", "views/data_health.py")


def empty_state_db(ws: Path) -> None:
    (ws / "state.db").write_bytes(b"")


def missing_manifest(ws: Path) -> None:
    (ws / "tables" / "tickets" / "_manifest.json").unlink()


FAULTS = {"empty state.db": (empty_state_db, "state.db"),
          "missing _manifest.json": (missing_manifest, "bpo-insights store repair")}


@pytest.fixture
def broken(tmp_path, tiny_ws: Workspace, request) -> tuple[Path, str]:
    damage, fix = FAULTS[request.param]
    path = tmp_path / "ws"
    shutil.copytree(tiny_ws.path, path)
    damage(path)
    return path, fix


def open_as_admin(monkeypatch, ws: Path, page: str) -> AppTest:
    monkeypatch.setenv("BPO_WORKSPACE", str(ws))
    monkeypatch.setenv("BPO_USER", "admin")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return at if page == PAGES[0] else at.switch_page(page).run()


@pytest.mark.parametrize("broken", list(FAULTS), indirect=True)
@pytest.mark.parametrize("page", PAGES)
def test_a_damaged_store_shows_its_fix_and_nothing_else(monkeypatch, broken, page):
    ws, fix = broken
    at = open_as_admin(monkeypatch, ws, page)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["The data store needs repair"]
    [error] = at.error
    assert fix in error.value.replace("\\", "")
    assert not (at.dataframe or at.metric or at.get("plotly_chart") or at.selectbox or at.tabs)


def test_a_busy_store_says_so_and_to_reload(monkeypatch, tmp_path, tiny_ws):
    path = tmp_path / "ws"
    shutil.copytree(tiny_ws.path, path)

    def busy(*args, **kwargs):
        raise StoreBusy(f"{path / 'state.db'} is locked by another process; wait for it to finish, then retry")

    monkeypatch.setattr(Workspace, "get_cursor", busy, raising=True)
    monkeypatch.setattr("connectors.store.Workspace.import_history", busy)
    at = open_as_admin(monkeypatch, path, "views/data_health.py")
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["The data store is busy"]
    assert "wait for it to finish" in at.error[0].value
