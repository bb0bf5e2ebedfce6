"""A language filter on pages whose tables record no language (AppTest): each such section says its figures are for
every language, and they are: equal to the unfiltered page's, never emptied; ticket figures beside them are narrowed.

The sample operation has Spanish and German tickets; its interval reports, roster, invoices and QA evaluations
record no language (connectors/schema.py), so a language filter cannot narrow them (insights.view)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.store import Scope, Workspace
from insights.format import week_number
from insights.review import available_weeks, build_review

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
SENTENCE = "not split by language: these figures are for every language, not only language es."
TILE = re.compile(r'class="bpo-tile-value" data-kpi="(\w+)">([^<]*)</div>')


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    from sample_data.generator import generate

    path = tmp_path_factory.mktemp("not-split") / "ws"
    generate(path, weeks=40, scale=0.05, seed=7)
    return Workspace.open(path)


@pytest.fixture(scope="module")
def week(sample) -> str:
    """The latest complete week of all the work, named in the link so both runs show the same week."""
    return week_number(available_weeks(sample, Scope.everything())[0])


def open_page(monkeypatch, ws: Workspace, page: str, query: dict[str, str]) -> AppTest:
    monkeypatch.setenv("BPO_WORKSPACE", str(ws.path))
    monkeypatch.setenv("BPO_USER", "admin")
    at = AppTest.from_file(str(APP), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page != "weekly_review":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str):
    """The first dataframe on screen that has `column`."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def chart(at: AppTest, key: str):
    """The chart's figure, its numbers to 9 decimals (sums over parallel groups differ in the last bits)."""
    def rounded(node):
        if isinstance(node, float):
            return round(node, 9)
        if isinstance(node, list):
            return [rounded(x) for x in node]
        if isinstance(node, dict):
            return {k: rounded(v) for k, v in node.items()}
        return node
    return rounded(json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith(key))))


@pytest.mark.parametrize("page, says", [
    pytest.param("weekly_review", "Service level", id="weekly_review"),
    pytest.param("workforce", "Interval staffing is", id="workforce"),
    pytest.param("cost", "Cost figures and the contacts they are divided by are", id="cost"),
    pytest.param("quality", "QA evaluations", id="quality"),
    pytest.param("coverage", "Contacts from call records and interval reports are", id="coverage"),
    pytest.param("sla_trends", "Credits at stake is", id="sla_trends"),
    pytest.param("vendors_sites", "Average handle time", id="vendors_sites"),
])
def test_a_section_a_language_cannot_narrow_says_so_only_when_the_filter_is_set(monkeypatch, sample, week, page, says):
    filtered = open_page(monkeypatch, sample, page, {"language": "es", "week": week})
    assert any(says in text and SENTENCE in text for text in infos(filtered)), infos(filtered)
    unfiltered = open_page(monkeypatch, sample, page, {"week": week})
    assert not any("not split by" in text for text in infos(unfiltered))


def test_workforce_staffing_figures_are_every_languages(monkeypatch, sample, week):
    every = open_page(monkeypatch, sample, "workforce", {"week": week})
    spanish = open_page(monkeypatch, sample, "workforce", {"language": "es", "week": week})
    for section in ("The volume forecast is", "Service-level risk is", "Interval staffing is",
                    "Occupancy and adherence are", "Attrition is", "Speed to competency and nesting cohorts are"):
        assert any(text.startswith(section) and SENTENCE in text for text in infos(spanish)), section
    for column in ("P(miss)", "left within 90 days", "retained_30d"):  # SLA risk, first-90-day attrition, cohorts
        assert len(table_with(every, column)) > 0, column  # something to compare: the sample has intervals, a roster
        assert table_with(spanish, column).equals(table_with(every, column)), column
    for key in ("wf_gap_chart", "wf_occupancy_chart", "wf_attrition_chart"):
        assert chart(spanish, key) == chart(every, key), key


def test_cost_figures_are_every_languages(monkeypatch, sample, week):
    every = open_page(monkeypatch, sample, "cost", {"week": week})
    spanish = open_page(monkeypatch, sample, "cost", {"language": "es", "week": week})
    assert metrics(every)["Invoice lines checked"] != "0"
    assert metrics(spanish) == metrics(every)  # reconciliation and the move what-if's contacts and attainment
    assert chart(spanish, "cost_cpc_chart") == chart(every, "cost_cpc_chart")


def test_quality_figures_are_every_languages(monkeypatch, sample, week):
    every = open_page(monkeypatch, sample, "quality", {"week": week})
    spanish = open_page(monkeypatch, sample, "quality", {"language": "es", "week": week})
    assert metrics(every)["Evaluations this week"] != "0"
    assert metrics(spanish) == metrics(every)
    assert chart(spanish, "sections_chart") == chart(every, "sections_chart")


def test_coverage_keeps_the_service_level_of_every_language_and_narrows_the_tickets(monkeypatch, sample, week):
    every = open_page(monkeypatch, sample, "coverage", {"week": week})
    spanish = open_page(monkeypatch, sample, "coverage", {"language": "es", "week": week})
    assert '"n 0"' not in json.dumps(chart(every, "coverage_service_level"))
    def cells(at: AppTest, key: str) -> list:  # the heatmaps' values (the hover text also names required agents)
        return [trace.get("z") for trace in chart(at, key)["data"]]
    assert cells(spanish, "coverage_service_level") == cells(every, "coverage_service_level")
    assert cells(spanish, "coverage_sla") != cells(every, "coverage_sla")  # first response: tickets, narrowed
    assert any("which are language es only" in text for text in infos(spanish))


def test_weekly_review_tiles_narrow_ticket_kpis_and_mark_the_ones_a_language_cannot(monkeypatch, sample, week):
    every = open_page(monkeypatch, sample, "weekly_review", {"week": week})
    spanish = open_page(monkeypatch, sample, "weekly_review", {"language": "es", "week": week})

    def tiles(at: AppTest) -> dict[str, str]:
        return {k: html.unescape(v) for m in at.markdown for k, v in TILE.findall(m.value)}

    def marked(at: AppTest, kpi: str) -> bool:
        block = next(m.value for m in at.markdown if f'data-kpi="{kpi}" data-status' in m.value)
        return 'data-not-split="1"' in block and "for every language (not split by language)" in block

    review = build_review(sample, Scope.everything(), week=available_weeks(sample, Scope.everything())[0],
                          filters={"language": "es"})
    es_created = next(t for t in review.tiles if t.kpi == "tickets_created")
    assert tiles(spanish)["tickets_created"] == es_created.formatted != tiles(every)["tickets_created"]
    assert not marked(spanish, "tickets_created")
    for kpi in ("service_level", "abandonment_rate", "aht", "qa_score"):
        assert tiles(spanish)[kpi] == tiles(every)[kpi] != "–", kpi  # every language's figure, never emptied
        assert marked(spanish, kpi) and not marked(every, kpi), kpi
    notice = next(text for text in infos(spanish) if SENTENCE in text)
    assert notice.startswith("Average handle time, Service level, Abandonment rate, QA score and Cost per contact are")
