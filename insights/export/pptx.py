"""The review as a PowerPoint deck a meeting can present (python-pptx, 16:9).

Slides: the title; a summary (the week, the headline KPIs against target, the top insights in one line
each); the data notices; one chart per KPI; one slide per insight, titled with its headline in words,
with its chart and its five sentences (what happened, why, what it means, what to do, evidence); the
appendix tables (box totals, the last six weeks, definitions).

Readable type: body text is never below 14 pt.  Text is measured before it is placed (DejaVu Sans
metrics, wider than the deck's Calibri, so an estimate that fits here fits on screen): a text that
would overflow its box is set smaller down to 14 pt, then trimmed sentence by sentence (the full
text stays in the HTML and PDF exports); notices that do not fit one slide continue on the next.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import Any

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.presentation import Presentation as Deck
from pptx.util import Inches, Pt

from insights import format
from insights.detection.narrative import ci_is_change
from insights.export import (charts, definitions, events_note, five_sentences, insight_line, insight_title, six_weeks,
                             subtitle_of, target_cell, tile_value, title_of, to_date_cells, to_date_note)
from insights.export.images import insight_png, trend_png

WIDE = (Inches(13.333), Inches(7.5))
SLIDE_W, SLIDE_H = 13.333, 7.5
MARGIN = 0.5
STATUS_RGB = {"good": RGBColor(0x00, 0x72, 0xB2), "bad": RGBColor(0xE6, 0x9F, 0x00), "neutral": RGBColor(0x8C, 0x8C, 0x8C)}
STATUS_WORDS = {"good": "on track", "bad": "needs attention", "neutral": "steady"}
MIN_BODY_PT = 14  # nothing a reader must read is set smaller
BODY_SIZES = (18, 16, 15, 14)
TITLE_SIZES = (28, 24, 22, 20)
TITLE_BOX = (MARGIN, 0.3, SLIDE_W - 2 * MARGIN, 1.15)  # left, top, width, height (inches)
INSET_X, INSET_Y = 0.1, 0.05  # python-pptx's default text-frame insets
LINE = 1.2  # line height as a multiple of the font size
SAFETY = 0.96  # of a box's width used when measuring: bold leads are a little wider than the regular face measured
SPACE_AFTER_PT = 6
DEFINITIONS_PER_SLIDE = 8
SUMMARY_TILES = 6
SUMMARY_TOP, BOTTOM, GAP, ROW = 1.55, 0.35, 0.25, 0.4  # inches: where the summary starts, its foot, gaps, a table row
SUMMARY_SPACE_PT = 3
SUMMARY_INSIGHTS = 7
# KPI, value, vs last week, vs last year, MTD, QTD, YTD, target, status, n (inches; the slide is 13.33 wide)
BOX_TOTAL_WIDTHS = [2.9, 1.0, 1.2, 1.2, 1.05, 1.05, 1.05, 0.9, 1.3, 0.65]
STATUS_COLUMN = 8
BLANK, TITLE_ONLY, TITLE = 6, 5, 0
INSIGHT_CHART = (0.4, 1.6, 5.7, 4.7)  # left, top, width, height
INSIGHT_TEXT = (6.3, 1.5, SLIDE_W - 6.3 - 0.4, 5.8)
_SENTENCE = re.compile(r"(?<=[.!?)])\s+(?=[A-Z(])")


# --------------------------------------------------------------------------- measuring text


@lru_cache(maxsize=2)
def _font(bold: bool = False):
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    return FT2Font(findfont(FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")))


@lru_cache(maxsize=20000)
def text_width(text: str, pt: float, bold: bool = False) -> float:
    """The width of `text` at `pt` points, in inches (DejaVu Sans: wider than Calibri, so a safe estimate)."""
    f = _font(bold)
    f.set_size(pt, 72)
    f.set_text(text, 0.0)
    return f.get_width_height()[0] / 64 / 72


def wrap(text: str, pt: float, width: float, bold: bool = False) -> list[str]:
    """`text` broken into lines no wider than `width` inches at `pt` points (a word longer than a line stands alone)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}" if line else word
            if line and text_width(trial, pt, bold) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def text_height(paragraphs: list[str], pt: float, width: float, space_after: float = SPACE_AFTER_PT,
                bold: bool = False) -> float:
    """Inches the paragraphs take at `pt` in a box `width` inches wide (insets excluded)."""
    lines = sum(len(wrap(p, pt, width, bold)) for p in paragraphs)
    return lines * pt * LINE / 72 + len(paragraphs) * space_after / 72


def _trim_once(text: str, pt: float, width: float) -> str:
    """`text` shorter by its last sentence, or, for one sentence, by a line's worth of words ending in '…'."""
    sentences = _SENTENCE.split(text)
    if len(sentences) > 1:
        return " ".join(sentences[:-1])
    words = text.rstrip("…").split()
    keep = max(1, len(words) - max(3, len(wrap(text, pt, width)[-1].split())))
    return " ".join(words[:keep]).rstrip(",;:") + "…"


def fit(items: list[tuple[str, str]], width: float, height: float, *, sizes: tuple[int, ...] = BODY_SIZES,
        trim_order: tuple[int, ...] | None = None, bold: bool = False) -> tuple[int, list[tuple[str, str]]]:
    """(font size, items) that fit a box of `width` × `height` inches: the largest size that fits, else the
    smallest with the items in `trim_order` (default: all, longest first) trimmed sentence by sentence."""
    inner_w, inner_h = (width - 2 * INSET_X) * SAFETY, height - 2 * INSET_Y

    def h(its: list[tuple[str, str]], pt: int) -> float:
        return text_height([f"{a} {b}" for a, b in its], pt, inner_w, bold=bold)

    for pt in sizes:
        if h(items, pt) <= inner_h:
            return pt, items
    pt, items = sizes[-1], list(items)
    order = list(trim_order if trim_order is not None else range(len(items)))
    while h(items, pt) > inner_h:
        lines = {i: len(wrap(f"{items[i][0]} {items[i][1]}", pt, inner_w, bold)) for i in order}
        i = max(order, key=lambda k: (lines[k], -order.index(k)))
        if lines[i] <= 1:
            break  # nothing left to trim: the caller's box is too small for the leads alone
        items[i] = (items[i][0], _trim_once(items[i][1], pt, inner_w))
    return pt, items


# --------------------------------------------------------------------------- slide pieces


def _slide(prs: Deck, title: str, *, layout: int = TITLE_ONLY):
    """A slide whose title spans the slide's width, set as large as fits two lines (trimmed beyond)."""
    slide = prs.slides.add_slide(prs.slide_layouts[layout])
    shape = slide.shapes.title
    left, top, width, height = TITLE_BOX
    shape.left, shape.top, shape.width, shape.height = Inches(left), Inches(top), Inches(width), Inches(height)
    pt, [(_, text)] = fit([("", title)], width, height, sizes=TITLE_SIZES, bold=True)
    shape.text = text.strip()
    shape.text_frame.word_wrap = True
    _set_font(shape.text_frame, pt, bold=True)
    return slide


def _set_font(tf, pt: int, *, bold: bool | None = None, colour: RGBColor | None = None) -> None:
    """Size (and weight, colour) on every run of a text frame: what PowerPoint draws, not a paragraph default."""
    for p in tf.paragraphs:
        for run in p.runs:
            run.font.size = Pt(pt)
            if bold is not None:
                run.font.bold = bold
            if colour is not None:
                run.font.color.rgb = colour


def _text(slide, items: list[tuple[str, str]], box: tuple[float, float, float, float], pt: int,
          colour: RGBColor | None = None, space_after: int = SPACE_AFTER_PT) -> None:
    """A text box of paragraphs, each an optional bold lead and its text, at `pt` points."""
    left, top, width, height = box
    shape = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
    tf = shape.text_frame
    tf.word_wrap = True
    for i, (head, body) in enumerate(items):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.space_after = Pt(space_after)
        if head:
            run = p.add_run()
            run.text = f"{head} "
            run.font.bold = True
            run.font.size = Pt(pt)
        run = p.add_run()
        run.text = body
        run.font.size = Pt(pt)
        if colour is not None:
            run.font.color.rgb = colour


def _table(slide, rows: list[list[str]], top: float, widths: list[float], font: int = 12,
           left: float = MARGIN):
    height = min(SLIDE_H - top - 0.5, ROW * len(rows))
    shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(left), Inches(top), Inches(sum(widths)),
                                   Inches(height))
    table = shape.table
    for j, w in enumerate(widths):
        table.columns[j].width = Inches(w)
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            cell = table.cell(i, j)
            cell.text = text
            _set_font(cell.text_frame, font, bold=i == 0)
    return table


def _note(slide, text: str) -> None:
    """A small line of text at the foot of a slide (a caption, not body text)."""
    box = slide.shapes.add_textbox(Inches(MARGIN), Inches(6.85), Inches(SLIDE_W - 2 * MARGIN), Inches(0.55))
    box.text_frame.word_wrap = True
    p = box.text_frame.paragraphs[0]
    pt, [(_, text)] = fit([("", text)], SLIDE_W - 2 * MARGIN, 0.55, sizes=(11, 10))
    p.text = text
    _set_font(box.text_frame, pt, colour=RGBColor(0x44, 0x44, 0x44))


# --------------------------------------------------------------------------- slides


def _summary(prs: Deck, review: Any) -> None:
    """The week, the headline KPIs against target, the top insights in one line each (the table gives way to them)."""
    week = format.period(review.week, "week", getattr(review, "calendar", None))
    s = _slide(prs, f"{week[0].upper()}{week[1:]}: summary")  # 'Week of Mon 3 Mar 2025 (UTC): summary'
    width = SLIDE_W - 2 * MARGIN
    lines = [(f"{i}.", insight_line(ins, review.names)) for i, ins in enumerate(review.insights[:SUMMARY_INSIGHTS], 1)]
    if not lines:
        lines = [("", "No insights this week: no target missed and nothing changed enough to report.")]
    one_line = [(head, _one_line(f"{head} {body}", MIN_BODY_PT, (width - 2 * INSET_X) * SAFETY)[len(head) + 1:])
                for head, body in lines]
    list_height = len(one_line) * (MIN_BODY_PT * LINE + SUMMARY_SPACE_PT) / 72 + 2 * INSET_Y + 0.05
    head_height = 0.45
    room = SLIDE_H - SUMMARY_TOP - BOTTOM - head_height - list_height - GAP  # what the KPI table may take
    judged = [t for t in review.tiles if t.target_source is not None and t.value is not None]
    tiles = (judged + [t for t in review.tiles if t not in judged and t.value is not None])
    tiles = tiles[:max(0, min(SUMMARY_TILES, int(room / ROW) - 1))]
    top = SUMMARY_TOP
    if tiles:
        rows = [["KPI", "this week", "vs last week", "target", "status"]]
        rows += [[t.label, t.formatted, t.formatted_vs_last_week, target_cell(t), STATUS_WORDS.get(t.status, t.status)]
                 for t in tiles]
        table = _table(s, rows, top, [4.6, 1.8, 1.9, 2.3, 1.7], font=MIN_BODY_PT)
        for i, t in enumerate(tiles, 1):
            _set_font(table.cell(i, 4).text_frame, MIN_BODY_PT, colour=STATUS_RGB.get(t.status, STATUS_RGB["neutral"]))
        top += ROW * len(rows) + GAP
    _text(s, [("Top insights", "")], (MARGIN, top, width, head_height), 16)
    _text(s, one_line, (MARGIN, top + head_height, width, list_height), MIN_BODY_PT, space_after=SUMMARY_SPACE_PT)


def _one_line(text: str, pt: float, width: float) -> str:
    """`text` cut to one line at `pt` in `width` inches, ending in '…' when cut."""
    if text_width(text, pt) <= width:
        return text
    words = text.split()
    while words and text_width(" ".join(words) + "…", pt) > width:
        words.pop()
    return " ".join(words).rstrip(",;:") + "…"


def _notices(prs: Deck, review: Any) -> None:
    """The data notices, as many slides as they need at a readable size."""
    items = [("•", n.message) for n in review.notices]
    box = (MARGIN + 0.1, 1.55, SLIDE_W - 2 * MARGIN - 0.2, SLIDE_H - 1.55 - 0.4)
    inner_w, inner_h = (box[2] - 2 * INSET_X) * SAFETY, box[3] - 2 * INSET_Y
    pages: list[list[tuple[str, str]]] = [[]]
    for item in items:
        if pages[-1] and text_height([f"{a} {b}" for a, b in pages[-1] + [item]], 16, inner_w) > inner_h:
            pages.append([])
        pages[-1].append(item)
    for k, page in enumerate(pages):
        s = _slide(prs, "Before the numbers: data notices" + (" (cont.)" if k else ""))
        pt, page = fit(page, box[2], box[3], sizes=(18, 16))
        _text(s, page, box, pt)


def _insight(prs: Deck, review: Any, ins: Any) -> None:
    """One insight: its headline as the title, its chart, its five sentences."""
    s = _slide(prs, insight_title(ins, review.names))
    kpi_label = format.label("kpi", ins.kpi, review.names)
    kpi = format.of(ins.kpi, ins.unit)
    try:
        series = review.series(ins.kpi)
    except KeyError:
        series = None
    target = ins.evidence.get("target")
    if target is None:
        target = review.target(ins.kpi) if ins.kpi in getattr(review, "targets", {}) else None
    interval = None if not ins.ci or ci_is_change(ins.type, ins.evidence) else tuple(ins.ci)
    left, top, width, height = INSIGHT_CHART
    png = insight_png(title=f"{kpi_label}: {format.segment(ins.segment, review.names)}", unit=ins.unit,
                      observed=ins.observed, expected=ins.expected, baseline=ins.baseline, interval=interval,
                      target=target, series=series, series_title="every week in this review's view",
                      week=ins.period.start, width=width, height=height,
                      labels=(format.value(kpi, ins.observed), format.value(kpi, ins.expected)))
    s.shapes.add_picture(io.BytesIO(png), Inches(left), Inches(top), width=Inches(width), height=Inches(height))
    # what happened and what to do are trimmed last
    pt, items = fit(five_sentences(ins, review.names), INSIGHT_TEXT[2], INSIGHT_TEXT[3], trim_order=(1, 2, 4, 0, 3))
    _text(s, items, INSIGHT_TEXT, pt)


def render_pptx(review: Any, *, title: str | None = None, catalog: Any = None) -> bytes:
    """The deck as bytes (16:9)."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = WIDE
    slide = prs.slides.add_slide(prs.slide_layouts[TITLE])
    for shape, (top, height) in zip((slide.shapes.title, slide.placeholders[1]), ((2.0, 1.6), (3.8, 1.2))):
        shape.left, shape.top, shape.width, shape.height = (Inches(MARGIN), Inches(top), Inches(SLIDE_W - 2 * MARGIN),
                                                            Inches(height))
    slide.shapes.title.text = title_of(review, title)
    slide.placeholders[1].text = subtitle_of(review)
    _set_font(slide.shapes.title.text_frame, 36, bold=True)
    _set_font(slide.placeholders[1].text_frame, 20)
    _summary(prs, review)
    if review.notices:
        _notices(prs, review)
    note = events_note(review)
    for c in charts(review):
        s = _slide(prs, c.title)
        png = trend_png(c.series, title=c.title, unit=c.unit, target=c.target, width=11.5, height=5.2, events=c.events,
                        target_name=c.target_name)
        s.shapes.add_picture(io.BytesIO(png), Inches(0.9), Inches(1.5), width=Inches(11.5))
        if note:
            _note(s, "◆ " + note)
    for ins in review.insights:
        _insight(prs, review, ins)
    _appendix(prs, review, catalog)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def _appendix(prs: Deck, review: Any, catalog: Any) -> None:
    """Box totals, the last six weeks, the definitions."""
    if review.tiles:
        s = _slide(prs, "Appendix: box totals this week")
        rows = [["KPI", "value", "vs last week", "vs last year", "MTD", "QTD", "YTD", "target", "status", "n"]]
        rows += [[t.label, tile_value(t), t.formatted_vs_last_week, t.formatted_vs_last_year, *to_date_cells(t),
                  target_cell(t), STATUS_WORDS.get(t.status, t.status), format.count(t.n)]
                 for t in review.tiles]
        table = _table(s, rows, 1.5, BOX_TOTAL_WIDTHS, font=10)
        for i, t in enumerate(review.tiles, 1):
            _set_font(table.cell(i, STATUS_COLUMN).text_frame, 10, colour=STATUS_RGB.get(t.status, STATUS_RGB["neutral"]))
        _note(s, to_date_note(review))
        header, weeks = six_weeks(review)
        if weeks:
            s = _slide(prs, "Appendix: the last six weeks")
            _table(s, [header, *weeks], 1.5, [3.0] + [1.2] * (len(header) - 2) + [2.1], font=11)
    defs = definitions(review, catalog)
    for k in range(0, len(defs), DEFINITIONS_PER_SLIDE):
        s = _slide(prs, "Appendix: definitions" + (" (cont.)" if k else ""))
        rows = [["KPI", "what it measures", "direction", "target"]]
        rows += [[d.label, d.description, d.direction, d.target] for d in defs[k:k + DEFINITIONS_PER_SLIDE]]
        _table(s, rows, 1.5, [3.0, 6.6, 1.8, 1.0], font=10)

