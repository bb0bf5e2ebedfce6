"""Fixtures of the dashboard suite: the tiny workspace, and AppTest runs of the dashboard as a viewer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tiny
from connectors.store import Workspace

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PAGES = {"weekly_review": "views/weekly_review.py", "data_health": "views/data_health.py"}
TIMEOUT = 60


@pytest.fixture(scope="session")
def tiny_ws(tmp_path_factory) -> Workspace:
    """The tiny workspace (read-only for every test of the session)."""
    return tiny.build(tmp_path_factory.mktemp("tiny") / "ws")


@pytest.fixture(scope="session")
def planted_ws(tmp_path_factory) -> Workspace:
    """The planted-miss workspace: acme email first response collapses in the review week (read-only)."""
    return tiny.build_planted(tmp_path_factory.mktemp("planted") / "ws")


@pytest.fixture
def open_app(monkeypatch, tiny_ws) -> Callable[..., AppTest]:
    """Run the dashboard for `user` on a page, with the URL's query parameters."""
    def run(user: str | None, page: str = "weekly_review", query: dict[str, str] | None = None,
            ws: Workspace | None = None) -> AppTest:
        monkeypatch.setenv("BPO_WORKSPACE", str((ws or tiny_ws).path))
        if user is None:
            monkeypatch.delenv("BPO_USER", raising=False)
        else:
            monkeypatch.setenv("BPO_USER", user)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        if page != "weekly_review" and not at.exception and not any("denied" in t.value for t in at.title):
            at.switch_page(PAGES[page]).run()
        return at
    return run


@pytest.fixture
def rendered_text() -> Callable[[AppTest], str]:
    """The text of everything a run put on screen."""
    return _rendered_text


def _rendered_text(at: AppTest) -> str:
    """Everything the run put on screen: every element's message (markdown, options, chart specs, tables)."""
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)  # noqa: SLF001 - the whole tree, so nothing rendered escapes the check
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)
