"""The Coverage page as viewers use it (AppTest): the library's grid and language table, only the viewer's tenants,
the calendar named, thin cells marked, and language as a sidebar filter kept in the URL."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import tiny
from connectors.store import Workspace
from insights import format
from insights.analyses.coverage import coverage
from pages import APP

MARKER_LANGUAGE = "zz-globex-language"
NOT_FOR = {  # what each viewer must never see on the page
    "acme-manager": (*tiny.GLOBEX_MARKERS, MARKER_LANGUAGE),
    "northwind-am": ("GLOBEX-MARKER", MARKER_LANGUAGE, "southpeak", "sp-austin", "Southpeak", "Austin"),
}
VIEWERS = ("admin", "acme-manager", "northwind-am")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """tiny, plus Spanish acme tickets at both vendors and globex tickets in a marker language, in the review week."""
    w = tiny.build(tmp_path_factory.mktemp("coverage") / "ws")
    rows = []
    for d in range(7):
        day = tiny.REVIEW_WEEK + timedelta(days=d)
        for i in range(4):
            row = tiny._ticket("acme", day, i, vendor="northwind" if i % 2 == 0 else "southpeak",  # noqa: SLF001
                               site="nw-manila" if i % 2 == 0 else "sp-austin", channel="email", breached=i == 0,
                               queue="acme-support")
            rows.append({**row, "ticket_id": f"es-{row['ticket_id']}", "language": "es"})
        row = tiny._ticket("globex", day, 0, vendor="eastbay", site="zz-globex-only-site", channel="email",  # noqa: SLF001
                           breached=False, queue="GLOBEX-MARKER-QUEUE")
        rows.append({**row, "ticket_id": f"marker-{row['ticket_id']}", "language": MARKER_LANGUAGE})
    w.upsert("tickets", pl.DataFrame(rows))
    return w


def open_coverage(monkeypatch, ws: Workspace, user: str, query: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", user)
    at = AppTest.from_file(str(APP), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("views/coverage.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)
    walk(at._tree)  # noqa: SLF001 - the whole tree, so nothing rendered escapes the check
    return "\n".join(parts + [df.value.to_csv() for df in at.dataframe])


def language_table(at: AppTest):
    return next(df.value for df in at.dataframe if "language" in df.value.columns)


@pytest.mark.parametrize("user", VIEWERS)
def test_the_page_renders_the_librarys_numbers_for_each_viewer_and_nothing_outside_their_scope(monkeypatch, ws, user):
    at = open_coverage(monkeypatch, ws, user)
    assert [t.value for t in at.title] == ["Coverage"]
    text = shown(at)
    for marker in NOT_FOR.get(user, ()):
        assert marker not in text, f"{user} sees {marker}"
    # the same numbers as the library for the viewer's scope, over the four weeks to the review week
    start, end = tiny.REVIEW_WEEK - timedelta(weeks=3), tiny.REVIEW_WEEK + timedelta(days=6)
    cov = coverage(ws, ws.config.user(user).scope, start=start, end=end)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Tickets and contacts"] == format.count(cov.cells.get_column("volume").sum())
    table = language_table(at)
    assert list(table["language"]) == cov.languages.get_column("language").to_list()
    assert list(table["tickets"]) == [format.count(v) for v in cov.languages.get_column("volume")]
    assert (MARKER_LANGUAGE in list(table["language"])) == (user == "admin")
    assert len(at.get("plotly_chart")) == 4  # volume, first-response SLA, service level, agents required


def test_the_page_names_the_calendar_its_hours_are_in(monkeypatch, ws):
    at = open_coverage(monkeypatch, ws, "acme-manager")
    assert any("in the client's reporting calendar: **UTC**" in m.value for m in at.markdown)
    chart = at.get("plotly_chart")[1].proto.spec
    assert "hour of day (UTC)" in chart


def test_thin_cells_show_their_n_not_a_rate(monkeypatch, ws):
    """acme's 9:00 tickets: 4 weeks × 1 a day of the review week … far below 30 tickets a cell, so every cell is thin."""
    at = open_coverage(monkeypatch, ws, "acme-manager")
    sla_chart = at.get("plotly_chart")[1].proto.spec
    assert '"n 5"' in sla_chart or '"n 4"' in sla_chart  # thin cells are labelled with their n
    assert "thin: too few to judge" in sla_chart
    assert {m.label: m.value for m in at.metric}["Weakest hour (not thin)"] == format.EMPTY
    es = language_table(at).set_index("language").loc["es"]
    assert es["first-response SLA"] == "75.0% (thin, n 28)"  # 28 Spanish tickets, 7 breached


def test_language_is_a_sidebar_filter_kept_in_the_url(monkeypatch, ws):
    at = open_coverage(monkeypatch, ws, "acme-manager", query={"language": "es"})
    box = next(s for s in at.selectbox if s.label == "Language")
    assert box.value == "es" and MARKER_LANGUAGE not in box.options
    assert at.query_params["language"] == ["es"] or at.query_params["language"] == "es"
    assert list(language_table(at)["language"]) == ["es"]
    assert {m.label: m.value for m in at.metric}["Tickets and contacts"] == "28"


def test_a_language_outside_the_viewers_data_is_dropped_from_the_link(monkeypatch, ws):
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", "acme-manager")
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["language"] = MARKER_LANGUAGE
    at.run()
    assert next(s for s in at.selectbox if s.label == "Language").value is None
    assert any("Ignored from the link" in w.value and "language" in w.value for w in at.sidebar.warning)


@pytest.mark.parametrize("page", sorted(p.name for p in (APP.parent / "views").glob("*.py") if p.name != "__init__.py"))
def test_every_page_renders_with_a_language_filter(monkeypatch, ws, page):
    """Language narrows every page's ticket figures; a page whose tables hold no language still renders."""
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", "acme-manager")
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["language"] = "es"
    at.run()
    if page != "weekly_review.py":
        at.switch_page(f"views/{page}").run()
    assert not at.exception, (page, [e.value for e in at.exception])
    assert next(s for s in at.selectbox if s.label == "Language").value == "es"
