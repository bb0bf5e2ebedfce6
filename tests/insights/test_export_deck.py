"""The PowerPoint deck a review meeting can present, read back with python-pptx: a summary slide, one slide per insight
titled with its headline in words with its chart and five sentences in readable type, appendix tables, and no text
outside its box or the slide (measured with DejaVu Sans through Pillow, independently of the exporter's own measure)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import matplotlib
import polars as pl
import pytest
from PIL import ImageFont
from pptx import Presentation
from pptx.util import Emu

from _tiny import tiny
from connectors.store import Scope, Workspace
from insights.export import FIVE, insight_title, render, six_weeks
from insights.review import Notice, build_review

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
INSET_X, INSET_Y = 0.1, 0.05
LINE = 1.2
MIN_BODY_PT = 14


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """tiny's planted miss (acme email at ~36 % against 90 %), acme's contract with a service credit per point."""
    w = Workspace.create(tmp_path_factory.mktemp("deck") / "ws", tiny.TOML)
    w.upsert("tickets", tiny.planted_tickets())
    w.upsert("sla_targets", tiny.sla_targets().with_columns(pl.lit(250.0).alias("penalty_per_point"),
                                                            pl.lit("USD").alias("currency")))
    return w


@pytest.fixture(scope="module")
def review(ws):
    return build_review(ws, Scope.of(clients=["acme"]), week=tiny.REVIEW_WEEK)


@pytest.fixture(scope="module")
def deck(review):
    return Presentation(io.BytesIO(render(review, "pptx")))


def titles(deck) -> list[str]:
    return [s.shapes.title.text if s.shapes.title is not None else "" for s in deck.slides]


def slide_titled(deck, title: str):
    found = [s for s in deck.slides if s.shapes.title is not None and s.shapes.title.text == title]
    assert len(found) == 1, f"{len(found)} slides titled {title!r}; titles: {titles(deck)}"
    return found[0]


def body_runs(slide):
    """Every run of every text box on a slide (the title and tables excluded)."""
    return [r for sh in slide.shapes if sh.has_text_frame and sh != slide.shapes.title
            for p in sh.text_frame.paragraphs for r in p.runs]


def measured_height(shape, cache) -> float:
    """Inches the shape's text takes, wrapped word by word at its runs' sizes and weights (DejaVu Sans metrics)."""
    width = Emu(shape.width).inches - 2 * INSET_X
    total = 0.0
    for p in shape.text_frame.paragraphs:
        words = [(w, r.font.size.pt, bool(r.font.bold)) for r in p.runs for w in r.text.split()]
        if not words:
            continue
        size = max(pt for _, pt, _ in words)
        lines, x = 1, 0.0
        for w, pt, bold in words:
            key = (pt, bold)
            if key not in cache:
                cache[key] = ImageFont.truetype(str(FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")),
                                                int(pt * 10))
            font = cache[key]
            ww, space = font.getlength(w) / 720, font.getlength(" ") / 720
            if x and x + space + ww > width:
                lines, x = lines + 1, ww
            else:
                x += (space if x else 0) + ww
        after = p.space_after.pt if p.space_after is not None else 0
        total += lines * size * LINE / 72 + after / 72
    return total


def assert_fits(deck) -> None:
    """Every shape inside the slide, every text box's text inside its box."""
    w, h = Emu(deck.slide_width).inches, Emu(deck.slide_height).inches
    cache: dict = {}
    for i, slide in enumerate(deck.slides, 1):
        for sh in slide.shapes:
            left, top = Emu(sh.left).inches, Emu(sh.top).inches
            right, bottom = left + Emu(sh.width).inches, top + Emu(sh.height).inches
            assert left >= 0 and top >= 0 and right <= w + 1e-6 and bottom <= h + 1e-6, \
                f"slide {i} ({slide.shapes.title.text!r}): a {sh.shape_type} reaches ({right:.2f}, {bottom:.2f}) in"
            if sh.has_text_frame and sh.text_frame.text.strip() and all(r.font.size for p in sh.text_frame.paragraphs
                                                                          for r in p.runs):
                need, room = measured_height(sh, cache), Emu(sh.height).inches - 2 * INSET_Y
                assert need <= room + 0.02, f"slide {i}: {sh.text_frame.text[:60]!r} needs {need:.2f} in, has {room:.2f}"


def test_the_second_slide_summarises_the_week(deck, review):
    s = deck.slides[1]
    assert s.shapes.title.text == "Week of Mon 3 Mar 2025 (UTC): summary"  # the week and its reporting calendar
    table = next(sh.table for sh in s.shapes if sh.has_table)
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["KPI", "this week", "vs last week", "target", "status"]
    assert ["SLA attainment (first response)", "68.1%", "−26.7 pts", "90.0%", "needs attention"] in rows
    lines = [p.text for sh in s.shapes if sh.has_text_frame for p in sh.text_frame.paragraphs]
    assert "1. Acme Home · channel email: SLA attainment (first response) 36.2% (−53.8 pts vs contract target)" in lines
    assert len([x for x in lines if x[:2] in {f"{i}." for i in range(1, 8)}]) == len(review.insights)
    assert all(r.font.size.pt >= MIN_BODY_PT for r in body_runs(s))


def test_each_insight_has_a_slide_titled_with_its_headline_a_chart_and_five_sentences(deck, review):
    assert review.insights
    for ins in review.insights:
        title = insight_title(ins, review.names)
        assert "Insight 1" not in title and ins.kpi not in title
        s = slide_titled(deck, title)
        assert [sh for sh in s.shapes if sh.shape_type == 13], f"no chart on {title!r}"  # 13: a picture
        leads = [r.text.strip() for r in body_runs(s) if r.font.bold]
        assert leads == list(FIVE)
        assert min(r.font.size.pt for r in body_runs(s)) >= MIN_BODY_PT
        assert s.shapes.title.text_frame.paragraphs[0].runs[0].font.size.pt >= 20
    first = slide_titled(deck, insight_title(review.insights[0], review.names))
    text = " ".join(r.text for r in body_runs(first))
    assert "service credit of about USD" in text and "owner:" in text and "id " + review.insights[0].id in text


def test_the_title_is_the_headline_without_its_statistics(review):
    ins = review.insights[0]
    assert insight_title(ins, review.names) == ("Acme Home · channel email: SLA attainment (first response) was 36.2% in "
                                                "the week of 2025-03-03, −53.8 pts against the 90.0% target.")


def test_the_appendix_holds_box_totals_six_weeks_and_definitions(deck, review):
    names = titles(deck)
    assert names.index("Appendix: box totals this week") > names.index(insight_title(review.insights[0], review.names))
    six = slide_titled(deck, "Appendix: the last six weeks")
    rows = [[c.text for c in r.cells] for r in next(sh.table for sh in six.shapes if sh.has_table).rows]
    assert rows[0] == ["KPI", "27 Jan", "03 Feb", "10 Feb", "17 Feb", "24 Feb", "03 Mar", "target"]
    assert rows == [six_weeks(review)[0], *six_weeks(review)[1]]
    assert ["SLA attainment (first response)", "96.2%", "94.3%", "94.8%", "95.7%", "94.8%", "68.1%", "90.0%"] in rows
    assert "Appendix: definitions" in names


def test_nothing_leaves_its_box_or_the_slide(deck):
    assert_fits(deck)


def test_long_sentences_are_trimmed_to_fit_not_shrunk_below_14_pt(review):
    ins = review.insights[0]
    told = dict(ins.evidence["narrative"])
    told["why"] = " ".join([told["why"]] * 4)
    told["so_what"] = " ".join([told["so_what"]] * 4)
    wordy = replace(ins, evidence={**ins.evidence, "narrative": told})
    deck = Presentation(io.BytesIO(render(replace(review, insights=(wordy,)), "pptx")))
    s = slide_titled(deck, insight_title(wordy, review.names))
    assert min(r.font.size.pt for r in body_runs(s)) == MIN_BODY_PT
    assert [r.text.strip() for r in body_runs(s) if r.font.bold] == list(FIVE)  # all five kept, the long ones trimmed
    assert_fits(deck)


def test_many_notices_continue_on_the_next_slide(review):
    notices = tuple(Notice("data_quality", f"Notice {k}: " + "the source sent fewer rows than usual; check it. " * 3)
                    for k in range(24))
    deck = Presentation(io.BytesIO(render(replace(review, notices=notices), "pptx")))
    names = titles(deck)
    assert names.count("Before the numbers: data notices (cont.)") >= 1
    text = " ".join(p.text for s in deck.slides for sh in s.shapes if sh.has_text_frame for p in sh.text_frame.paragraphs)
    assert all(f"Notice {k}:" in text for k in range(24))  # split, none dropped
    assert_fits(deck)


def test_a_full_week_of_seven_insights_still_fits_the_summary(review):
    seven = tuple(replace(review.insights[0], id=f"{review.insights[0].id}-{k}") for k in range(7))
    deck = Presentation(io.BytesIO(render(replace(review, insights=seven), "pptx")))
    s = deck.slides[1]
    lines = [p.text for sh in s.shapes if sh.has_text_frame for p in sh.text_frame.paragraphs]
    assert [x[:2] for x in lines if x[:1].isdigit()] == [f"{k}." for k in range(1, 8)]
    table = next(sh.table for sh in s.shapes if sh.has_table)
    assert "SLA attainment (first response)" in [r.cells[0].text for r in table.rows]  # the judged KPI stays
    assert_fits(deck)
