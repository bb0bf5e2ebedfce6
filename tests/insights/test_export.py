"""Exports of the review: self-contained HTML, PDF, PowerPoint, Markdown; safe spreadsheets; no other client's data."""

from __future__ import annotations

import html
import io
import re
import shutil
import unicodedata
import zipfile
from datetime import date
from typing import NamedTuple

import polars as pl
import pytest

from _tiny import tiny
from connectors.store import Scope, Workspace
from insights.detection import insight_log
from insights.export import FORMATS, ExportError, render, subtitle_of, write
from insights.export.spreadsheet import neutralise, safe_frame, to_csv, to_xlsx
from insights.review import build_review

MARKER = "ZZB-PLANTED-7731"
ACME_EVENT = "Acme checkout outage"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium absent: apt-get install chromium")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """The planted-miss workspace with a unique marker planted in client B's (globex's) tickets, target and events."""
    w = tiny.build_planted(tmp_path_factory.mktemp("export") / "ws")
    t = tiny.tickets().filter(pl.col("client_id") == "globex")
    w.upsert("tickets", t.with_columns(pl.lit(MARKER).alias("queue"), pl.lit(MARKER).alias("contact_reason"),
                                       pl.col("updated_at").dt.offset_by("1d")))
    w.upsert("events", pl.DataFrame([
        {"source_system": "csv", "source_instance": "t", "event_id": MARKER, "client_id": "globex", "kind": "launch",
         "name": MARKER, "start_date": date(2025, 3, 4), "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST},
        {"source_system": "csv", "source_instance": "t", "event_id": "acme-outage", "client_id": "acme",
         "kind": "outage", "name": ACME_EVENT, "start_date": date(2025, 3, 5), "updated_at": tiny.T_INGEST,
         "ingested_at": tiny.T_INGEST}]))
    return w


@pytest.fixture(scope="module")
def acme_review(ws):
    return build_review(ws, Scope.of(clients=["acme"]), filters={"client": "acme"})


@pytest.fixture(scope="module")
def files(acme_review) -> dict[str, bytes]:
    formats = [f for f in FORMATS if f != "pdf" or CHROMIUM]
    return {fmt: render(acme_review, fmt, title="Acme weekly review") for fmt in formats}


def text_of(fmt: str, data: bytes) -> str:
    """Everything a reader of the file could find in it."""
    if fmt == "pptx":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    if fmt == "pdf":
        from pypdf import PdfReader

        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        text = unicodedata.normalize("NFKC", " ".join(text.split()))  # "ﬁ" ligatures back to letters
        return text + data.decode("latin-1")  # the text as read, and the raw bytes
    return data.decode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_for_client_a_holds_nothing_of_client_b(files, fmt, acme_review):
    if fmt not in files:
        pytest.skip("chromium absent")
    text = text_of(fmt, files[fmt])
    assert "SLA attainment (first response)" in text  # the search does read the file's text
    assert "against the 90.0% target" in text  # the insights are in the file too
    leaked = [m for m in (MARKER, *tiny.GLOBEX_MARKERS) if m in text]
    assert leaked == []


def test_the_html_page_is_self_contained(files, acme_review):
    html = files["html"].decode()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(http" not in html and "@import" not in html
    assert html.count("<svg") >= 6  # the charts, inline
    assert 'data-kpi="sla_first_response"' in html and acme_review.tile("sla_first_response").formatted in html
    assert "What it means:" in html and "What to do:" in html and "Definitions" in html


def test_each_insight_carries_its_evidence_in_every_text_format(files, acme_review):
    miss = next(i for i in acme_review.insights if i.type == "target_miss")
    lo, hi = (f"{x:.1%}" for x in miss.ci)
    for fmt in ("html", "md", "pptx"):
        text = text_of(fmt, files[fmt])
        assert f"data-id=\"{miss.id}\"" in text if fmt == "html" else f"id {miss.id}" in text
        assert f"95% interval {lo} to {hi}" in text and "confidence high" in text and f"n = {miss.n:,}" in text


def test_the_deck_has_title_summary_a_slide_per_chart_and_insight_and_the_appendix(files, acme_review):
    from pptx import Presentation

    from insights.export import insight_title

    deck = Presentation(io.BytesIO(files["pptx"]))
    titles = [s.shapes.title.text for s in deck.slides]
    charts = [t for t in acme_review.tiles if acme_review.series(t.kpi)["value"].drop_nulls().len()]
    assert titles[0] == "Acme weekly review"
    assert titles[1] == "Week of Mon 3 Mar 2025 (UTC): summary"  # the calendar named on the slide
    assert "Appendix: box totals this week" in titles
    assert [t.label for t in charts] == [t for t in titles if t in {c.label for c in charts}]
    wanted = {insight_title(i, acme_review.names) for i in acme_review.insights}
    insight_slides = [s for s in deck.slides if s.shapes.title.text in wanted]
    assert len(insight_slides) == len(acme_review.insights) >= 1
    body = " ".join(sh.text_frame.text for sh in insight_slides[0].shapes if sh.has_text_frame)
    assert all(w in body for w in ("What happened:", "Why:", "What it means:", "What to do:", "Evidence:"))
    assert titles[-1].startswith("Appendix: definitions")
    pictures = sum(1 for s in deck.slides for sh in s.shapes if sh.shape_type == 13)
    assert pictures == len(charts) + len(acme_review.insights)  # one per KPI chart, one per insight


@needs_chromium
def test_the_pdf_has_pages_and_the_reviews_numbers(files):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(files["pdf"]))
    assert len(reader.pages) >= 2
    text = unicodedata.normalize("NFKC", " ".join(" ".join(p.extract_text() for p in reader.pages).split()))
    assert "What to do:" in text and "against the 90.0% target" in text


def test_markdown_reads_as_a_wiki_page(files, acme_review):
    md = files["md"].decode()
    assert md.startswith("# Acme weekly review")
    assert f"| SLA attainment (first response) | {acme_review.tile('sla_first_response').formatted} |" in md
    assert "### 1. " in md and "## Definitions" in md


def test_write_and_its_errors(acme_review, tmp_path):
    path = write(acme_review, "md", tmp_path / "review.md")
    assert path.read_text().startswith("# Weekly review, week of Mon 3 Mar 2025 (UTC)")
    with pytest.raises(ExportError, match="unknown export format 'docx'; use one of html, pdf, pptx, md"):
        render(acme_review, "docx")
    with pytest.raises(ExportError, match="folder .* does not exist; create it"):
        write(acme_review, "md", tmp_path / "missing" / "review.md")


def test_pdf_without_chromium_names_the_fix(acme_review, monkeypatch, tmp_path):
    monkeypatch.setenv("BPO_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ExportError, match="point it at a Chromium binary"):
        render(acme_review, "pdf")
    monkeypatch.delenv("BPO_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExportError, match=r"apt-get install chromium\) or set BPO_CHROMIUM"):
        render(acme_review, "pdf")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")", id="equals"),
    pytest.param("+1+2", "'+1+2", id="plus"),
    pytest.param("-2+3", "'-2+3", id="minus"),
    pytest.param("@SUM(A1)", "'@SUM(A1)", id="at"),
    pytest.param("\t=1", "'\t=1", id="tab"),
    pytest.param("acme-support", "acme-support", id="dash-inside-is-fine"),
    pytest.param("+11.2 pts", "+11.2 pts", id="a-signed-amount-we-write-is-shown-as-is"),
    pytest.param("+1,204", "+1,204", id="a-signed-count"),
    pytest.param("-4.2 min", "-4.2 min", id="a-signed-duration"),
    pytest.param("+1 pts+1", "'+1 pts+1", id="an-amount-with-more-after-it-is-a-formula"),
    pytest.param("+1\n", "'+1\n", id="an-amount-and-a-line-break-is-not-an-amount"),
    pytest.param(-5.0, -5.0, id="numbers-stay-numbers"),
    pytest.param(None, None, id="empty"),
])
def test_spreadsheet_cells_that_would_run_as_formulas_are_neutralised(value, expected):
    assert neutralise(value) == expected
    frame = pl.DataFrame({"cell": [value]}, schema={"cell": pl.String if isinstance(value, str) or value is None else pl.Float64})
    assert safe_frame(frame)["cell"][0] == expected


def test_csv_and_xlsx_never_hold_a_formula():
    from openpyxl import load_workbook

    frame = pl.DataFrame({"queue": ["=1+1", "ok", "@cmd"], "n": [-1, 2, 3]})
    csv = to_csv(frame).decode("utf-8-sig")
    assert csv.splitlines() == ["queue,n", "'=1+1,-1", "ok,2", "'@cmd,3"]
    sheet = load_workbook(io.BytesIO(to_xlsx(frame))).active
    cells = [c.value for c in sheet["A"]]
    assert cells == ["queue", "'=1+1", "ok", "'@cmd"]
    assert {c.data_type for c in sheet["A"]} == {"s"} and sheet["B2"].value == -1


def test_the_insight_log_keeps_state_and_history(ws):
    iid = "abc123def456"
    assert insight_log.get(ws, iid, tenant="brand:acme").status == "new"
    insight_log.record(ws, iid, user="acme-manager", tenant="brand:acme", status="acknowledged", owner="Northwind AM")
    state = insight_log.record(ws, iid, user="acme-manager", tenant="brand:acme", status="done", action_taken="Added 3 agents to email")
    assert (state.status, state.owner, state.action_taken, state.updated_by) == (
        "done", "Northwind AM", "Added 3 agents to email", "acme-manager")
    trail = insight_log.history(ws, iid, tenant="brand:acme")
    assert trail.select("user", "field", "value").rows() == [
        ("acme-manager", "status", "acknowledged"), ("acme-manager", "owner", "Northwind AM"),
        ("acme-manager", "status", "done"), ("acme-manager", "action_taken", "Added 3 agents to email")]
    with pytest.raises(insight_log.InsightLogError, match="unknown insight status 'maybe'; use one of new, "):
        insight_log.record(ws, iid, user="x", tenant="brand:acme", status="maybe")


@pytest.mark.parametrize("fmt", ["html", "md", "pptx"])
def test_every_format_carries_the_to_date_totals_and_how_they_are_counted(files, acme_review, fmt):
    text = html.unescape(text_of(fmt, files[fmt])) if fmt == "html" else text_of(fmt, files[fmt])
    sla = acme_review.tile("sla_first_response")
    assert [t.label for t in sla.to_date] == ["MTD", "QTD", "YTD"]
    for total in sla.to_date:
        assert total.formatted in text
    assert "the week's Sunday decides the month, quarter and year" in text
    if fmt == "md":
        assert "| KPI | value | vs last week | vs last year | MTD | QTD | YTD | target | status | n |" in text
        row = next(line for line in text.splitlines() if line.startswith("| SLA attainment (first response) |"))
        marks = [t.formatted + (" ✗" if t.status == "bad" else "") for t in sla.to_date]
        assert [t.status for t in sla.to_date] == ["bad", "good", "good"]  # March's collapse; the quarter still meets
        assert " | ".join(marks) in row
    if fmt == "html":
        assert f'<div class="t" data-totals="sla_first_response">MTD {sla.to_date[0].formatted} ✗ · QTD' in text


def test_the_deck_box_totals_have_mtd_qtd_ytd_columns(files):
    from pptx import Presentation

    deck = Presentation(io.BytesIO(files["pptx"]))
    slide = next(s for s in deck.slides if s.shapes.title.text == "Appendix: box totals this week")
    table = next(sh.table for sh in slide.shapes if sh.has_table)
    assert [c.text for c in table.rows[0].cells] == [
        "KPI", "value", "vs last week", "vs last year", "MTD", "QTD", "YTD", "target", "status", "n"]
    assert sum(c.width for c in table.columns) <= deck.slide_width - 2 * 457200  # half an inch either side


@pytest.mark.parametrize("fmt", ["html", "md", "pptx"])
def test_the_views_events_are_named_in_every_format_and_marked_on_the_chart_images(files, fmt):
    text = text_of(fmt, files[fmt])
    assert f"{ACME_EVENT} (outage, 05 Mar 2025)" in text
    if fmt == "html":  # the SVG charts keep their text: the event's label is drawn on them
        assert text.count("◆ Acme checkout o…") >= 6  # one label per chart, the name cut to 16 characters


# --------------------------------------------------------------------------- a vendor's view says it is partial

NORTHWIND = Scope.of("*", ["northwind"])  # bpo.toml's northwind-am: every client, Northwind's work only
PARTIAL = "Northwind BPO's work only: other vendors' work for these clients is not in this view"


@pytest.fixture(scope="module")
def northwind_files(ws) -> dict[str, bytes]:
    review = build_review(ws, NORTHWIND)
    return {fmt: render(review, fmt) for fmt in FORMATS if fmt != "pdf" or CHROMIUM}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_vendor_account_managers_export_says_it_holds_only_the_vendors_work(northwind_files, fmt):
    if fmt not in northwind_files:
        pytest.skip("chromium absent")
    text = text_of(fmt, northwind_files[fmt])
    if fmt == "html":
        text = html.unescape(text)
    assert PARTIAL in text
    assert "all work in view" not in text


class Whose(NamedTuple):
    scope: Scope
    filters: dict[str, str]
    header: str


@pytest.mark.parametrize("case", [
    pytest.param(Whose(Scope.everything(), {}, "all work in view"), id="admin-sees-all-work"),
    pytest.param(Whose(Scope.of(["acme"]), {"client": "acme"}, "client: Acme Home"), id="brand-sees-its-client-whole"),
    pytest.param(Whose(NORTHWIND, {}, PARTIAL), id="vendor-sees-its-share-of-every-client"),
    pytest.param(Whose(NORTHWIND, {"client": "acme"}, "client: Acme Home · Northwind BPO's work only: other vendors' "
                       "work for this client is not in this view"), id="vendor-sees-its-share-of-one-client"),
    pytest.param(Whose(NORTHWIND, {"vendor": "northwind"}, "vendor: Northwind BPO"), id="vendor-filter-is-seen-whole"),
    pytest.param(Whose(NORTHWIND, {"site": "nw-manila"}, "site: Manila"), id="its-own-site-is-seen-whole"),
    pytest.param(Whose(Scope.everything(), {"vendor": "northwind"}, "vendor: Northwind BPO"), id="admin-vendor-filter"),
])
def test_the_export_header_names_whose_work_the_view_holds(ws, case):
    review = build_review(ws, case.scope, filters=case.filters)
    assert subtitle_of(review).split(" · ", 1)[1] == case.header
