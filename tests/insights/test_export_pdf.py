"""The PDF report read back with pypdf: no heading is left alone at the foot of a page (it travels with what follows
it), and the last six weeks' table is in it."""

from __future__ import annotations

import io
import shutil
import unicodedata
from dataclasses import replace

import pytest

from _tiny import tiny
from connectors.store import Scope, Workspace
from insights.export import render, six_weeks
from insights.review import Notice, build_review

HEADINGS = ("This week", "Last 6 weeks", "Last 12 months", "Insights", "Definitions")
pytestmark = pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                                reason="chromium absent: apt-get install chromium")


def pages(pdf: bytes) -> list[list[str]]:
    """Each page's non-empty text lines, ligatures undone."""
    from pypdf import PdfReader

    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        text = unicodedata.normalize("NFKC", page.extract_text())
        out.append([line.strip() for line in text.splitlines() if line.strip()])
    return out


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("pdf") / "ws", tiny.TOML)
    ws.upsert("tickets", tiny.planted_tickets())
    ws.upsert("sla_targets", tiny.sla_targets())
    return build_review(ws, Scope.of(clients=["acme"]), week=tiny.REVIEW_WEEK)


@pytest.fixture(scope="module")
def plain_pdf(review) -> bytes:
    return render(review, "pdf")


@pytest.mark.slow
@pytest.mark.parametrize("fillers", [
    pytest.param(0, id="as-is"),
    # the old report left "This week", "Last 12 months" and "Insights" alone at the feet of pages 1, 2 and 3
    pytest.param(12, id="twelve-notices-more"),
])
def test_no_heading_is_the_last_line_of_a_page(review, plain_pdf, fillers):
    """Notices above the report push everything down, so each heading meets a page's foot in some variant."""
    pdf = plain_pdf if not fillers else render(replace(review, notices=review.notices + tuple(
        Notice("data_quality", f"Filler notice {k}: the source sent fewer rows than usual.") for k in range(fillers))), "pdf")
    text = pages(pdf)
    assert len(text) >= 3
    orphaned = [(i + 1, lines[-1]) for i, lines in enumerate(text[:-1]) if lines and lines[-1] in HEADINGS]
    assert orphaned == []
    seen = [h for h in HEADINGS if any(h in lines for lines in text)]
    assert seen == list(HEADINGS)  # the check does read the headings


def test_the_six_week_table_is_in_the_pdf(review, plain_pdf):
    text = " ".join(" ".join(lines) for lines in pages(plain_pdf))
    header, rows = six_weeks(review)
    assert "Last 6 weeks" in text
    assert " ".join(header) in text  # KPI 27 Jan 03 Feb 10 Feb 17 Feb 24 Feb 03 Mar target
    sla = next(r for r in rows if r[0] == "SLA attainment (first response)")
    assert " ".join(sla) in text
    assert sla[1:] == ["96.2%", "94.3%", "94.8%", "95.7%", "94.8%", "68.1%", "90.0%"]
