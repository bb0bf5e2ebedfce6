"""Text from data is shown as typed on every page: an event's name, a site id, a queue, a contact reason or a note
never becomes an image, a link or an HTML tag (issue 12, "Injection"; the hostile labels are in hostile.py)."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

import hostile
from connectors.store import Workspace
from pages import APP, TIMEOUT

PAGES = {"weekly_review": None, "sla_trends": "views/sla_trends.py", "vendors_sites": "views/vendors_sites.py",
         "quality": "views/quality.py", "insights": "views/insights_page.py", "workforce": "views/workforce.py",
         "cost": "views/cost.py", "pilots": "views/pilots.py", "data_health": "views/data_health.py"}
# radio choices that put the sites (the hostile site id) on a page's charts and captions
BY_SITE = {"sla_trends": ("sla_split", "site"), "vendors_sites": ("vs_level", "site")}
QUERY = {"client": "acme", "week": "2025-W10"}


@pytest.fixture(scope="module")
def hostile_ws(tmp_path_factory) -> Workspace:
    return hostile.build(tmp_path_factory.mktemp("hostile") / "ws")


def run_page(monkeypatch, ws: Workspace, page: str, query: dict[str, str]) -> AppTest:
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", "admin")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if PAGES[page]:
        at.switch_page(PAGES[page]).run()
    if page in BY_SITE:
        key, value = BY_SITE[page]
        at.radio(key=key).set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_texts(at: AppTest) -> list[str]:
    """The Markdown source of everything the run put on screen that Streamlit renders as Markdown."""
    texts = [e.value for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error",
                                  "success", "toast") for e in getattr(at, kind)]
    texts += [m.label for m in at.metric] + [m.proto.help for m in at.metric]
    texts += [e.label for e in at.expander] + [o for r in at.radio for o in r.options]
    return [t for t in texts if t]


def chart_texts(at: AppTest) -> list[str]:
    """Every string of every Plotly figure on screen (names, ticks, hovers, titles, annotations)."""
    out: list[str] = []

    def walk(v) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        walk(spec["data"])
        walk({k: v for k, v in spec["layout"].items() if k != "template"})
    return out


@pytest.fixture(scope="module")
def screens(hostile_ws) -> dict[str, AppTest]:
    """Every page, run once as admin on the hostile workspace (acme, the review week)."""
    with pytest.MonkeyPatch.context() as mp:
        return {page: run_page(mp, hostile_ws, page, QUERY) for page in PAGES}


@pytest.mark.parametrize("page", list(PAGES))
def test_no_page_turns_text_from_data_into_a_link_an_image_or_a_tag(screens, page):
    found = [(t[:160], hostile.markdown_hazards(t)) for t in markdown_texts(screens[page]) if hostile.markdown_hazards(t)]
    assert not found, found


@pytest.mark.parametrize("page", list(PAGES))
def test_no_chart_turns_text_from_data_into_a_link(screens, page):
    found = {t for t in chart_texts(screens[page]) if hostile.chart_hazards(t)}
    assert not found, sorted(found)


def test_the_hostile_text_is_on_screen_as_typed(screens):
    """The pages above show the attacker's text (so the check is not vacuous), escaped, not dropped."""
    at = screens["weekly_review"]
    shown = "\n".join(markdown_texts(at))
    assert "evil.example/p.png" in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown  # the event, in the insight
    assert "!\\[x\\](http:\u200b//evil.example/p.png)" in shown
    charts = "\n".join(chart_texts(at))
    assert "&lt;img src=x onerror=alert(1)&gt;" in charts  # the event's marker on the trends
    for page in BY_SITE:  # the site, named on the charts, its tag shown as typed
        assert any("evil.example/site &lt;a href" in t for t in chart_texts(screens[page])), page


def test_a_link_from_the_url_is_shown_as_typed_in_the_sidebar(monkeypatch, hostile_ws):
    at = run_page(monkeypatch, hostile_ws, "weekly_review",
                  {"client": "acme", "site": "[x](http://evil.example) ![i](http://evil.example/i.png)"})
    notes = [w.value for w in at.sidebar.warning]
    assert notes and not [n for n in notes if hostile.markdown_hazards(n)], notes


FORMULA = re.compile(r"^[ \u00a0]*[=+\-@\t\r]")


@pytest.mark.parametrize("page", list(PAGES))
def test_no_table_can_be_downloaded_with_a_formula_in_it(screens, page):
    """Streamlit's 'Download as CSV' writes a table's cells as shown: a cell or header from data never starts a formula."""
    cells = [str(c) for df in screens[page].dataframe for c in [*df.value.columns, *df.value.astype(str).values.ravel()]]
    found = [c for c in cells if FORMULA.match(c) and not re.fullmatch(r"\s*[-+]?[\d.,eE+-]+%?", c)]
    assert not found, found
