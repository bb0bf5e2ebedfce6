"""The review as a PowerPoint deck (python-pptx): title, box totals, one slide per chart, one per
insight (what happened / what it means / what to do, with its evidence), an appendix of definitions."""

from __future__ import annotations

import io
from typing import Any

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.util import Emu, Inches, Pt

from insights import format
from insights.export import (tile_value, action_of, charts, definitions, events_note, evidence_of, subtitle_of, target_cell,
                             title_of, to_date_cells, to_date_note)
from insights.export.images import trend_png

WIDE = (Inches(13.333), Inches(7.5))
STATUS_RGB = {"good": RGBColor(0x00, 0x72, 0xB2), "bad": RGBColor(0xE6, 0x9F, 0x00), "neutral": RGBColor(0x8C, 0x8C, 0x8C)}
STATUS_WORDS = {"good": "on track", "bad": "needs attention", "neutral": "steady"}
DEFINITIONS_PER_SLIDE = 8
# KPI, value, vs last week, vs last year, MTD, QTD, YTD, target, status, n (inches; the slide is 13.33 wide)
BOX_TOTAL_WIDTHS = [2.9, 1.0, 1.2, 1.2, 1.05, 1.05, 1.05, 0.9, 1.3, 0.65]
STATUS_COLUMN = 8
BLANK, TITLE_ONLY, TITLE = 6, 5, 0


def _title_slide(prs: Presentation, text: str, layout: int = TITLE_ONLY):
    slide = prs.slides.add_slide(prs.slide_layouts[layout])
    slide.shapes.title.text = text
    slide.shapes.title.text_frame.paragraphs[0].font.size = Pt(28)
    return slide


def _table(slide, rows: list[list[str]], top: Emu, widths: list[float], font: int = 12):
    shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(0.5), top, Inches(sum(widths)),
                                   Inches(0.4 * len(rows)))
    table = shape.table
    for j, w in enumerate(widths):
        table.columns[j].width = Inches(w)
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            cell = table.cell(i, j)
            cell.text = text
            for p in cell.text_frame.paragraphs:
                p.font.size = Pt(font)
                p.font.bold = i == 0
    return table


def _paragraphs(slide, items: list[tuple[str, str]], top: Emu, height: Emu) -> None:
    box = slide.shapes.add_textbox(Inches(0.6), top, Inches(12.1), height)
    tf = box.text_frame
    tf.word_wrap = True
    for i, (head, body) in enumerate(items):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        run = p.add_run()
        run.text = f"{head} "
        run.font.bold = True
        run.font.size = Pt(18)
        run = p.add_run()
        run.text = body
        run.font.size = Pt(18)
        p.space_after = Pt(14)


def _note(slide, text: str) -> None:
    """A small line of text at the foot of a slide."""
    box = slide.shapes.add_textbox(Inches(0.5), Inches(6.85), Inches(12.3), Inches(0.5))
    box.text_frame.word_wrap = True
    p = box.text_frame.paragraphs[0]
    p.text = text
    p.font.size = Pt(10)
    p.font.color.rgb = RGBColor(0x44, 0x44, 0x44)


def render_pptx(review: Any, *, title: str | None = None, catalog: Any = None) -> bytes:
    """The deck as bytes (16:9)."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = WIDE
    slide = prs.slides.add_slide(prs.slide_layouts[TITLE])
    slide.shapes.title.text = title_of(review, title)
    slide.placeholders[1].text = subtitle_of(review)
    if review.notices:
        s = _title_slide(prs, "Before the numbers: data notices")
        _paragraphs(s, [("•", n.message) for n in review.notices], Inches(1.5), Inches(5.5))
    if review.tiles:
        s = _title_slide(prs, "This week: box totals")
        rows = [["KPI", "value", "vs last week", "vs last year", "MTD", "QTD", "YTD", "target", "status", "n"]]
        rows += [[t.label, tile_value(t), t.formatted_vs_last_week, t.formatted_vs_last_year, *to_date_cells(t),
                  target_cell(t), STATUS_WORDS.get(t.status, t.status), format.count(t.n)]
                 for t in review.tiles]
        table = _table(s, rows, Inches(1.1), BOX_TOTAL_WIDTHS, font=10)
        for i, t in enumerate(review.tiles, 1):
            for p in table.cell(i, STATUS_COLUMN).text_frame.paragraphs:
                p.font.color.rgb = STATUS_RGB.get(t.status, STATUS_RGB["neutral"])
        _note(s, to_date_note(review))
    note = events_note(review)
    for c in charts(review):
        s = _title_slide(prs, c.title)
        png = trend_png(c.series, title=c.title, unit=c.unit, target=c.target, width=11.5, height=5.2, events=c.events,
                        target_name=c.target_name)
        s.shapes.add_picture(io.BytesIO(png), Inches(0.9), Inches(1.4), width=Inches(11.5))
        if note:
            _note(s, "◆ " + note)
    for i, ins in enumerate(review.insights, 1):
        s = _title_slide(prs, f"Insight {i}: {format.label('kpi', ins.kpi, review.names)}")
        s.shapes.title.text_frame.paragraphs[0].font.size = Pt(24)
        _paragraphs(s, [("What happened:", ins.headline), ("What it means:", ins.meaning),
                        ("What to do:", action_of(ins, review.names)),
                        ("Evidence:", evidence_of(ins, review.names))], Inches(1.4), Inches(5.6))
    defs = definitions(review, catalog)
    for k in range(0, len(defs), DEFINITIONS_PER_SLIDE):
        s = _title_slide(prs, "Appendix: definitions" + (" (cont.)" if k else ""))
        rows = [["KPI", "what it measures", "direction", "target"]]
        rows += [[d.label, d.description, d.direction, d.target] for d in defs[k:k + DEFINITIONS_PER_SLIDE]]
        _table(s, rows, Inches(1.3), [3.0, 6.6, 1.8, 1.0], font=10)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()
