"""The review rendered for people outside the dashboard: HTML, PDF, PowerPoint, Markdown.

`render(review, "pptx")` returns the file's bytes; `write(review, "pdf", path)` writes it.  Every
format is built from the same pieces (`charts`, `definitions`), so they say the same thing; the
charts are drawn offline by matplotlib (`insights.export.images`), the PDF is the HTML printed by
headless Chromium.  Exports read only the Review, which was computed for the viewer's scope, so an
export never holds another client's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from connectors.errors import BpoError
from insights.contracts import NO_CONTRACT_TARGET
from insights import format

FORMATS = ("html", "pdf", "pptx", "md")
SUFFIXES = {"html": ".html", "pdf": ".pdf", "pptx": ".pptx", "md": ".md"}
MEDIA_TYPES = {"html": "text/html", "pdf": "application/pdf", "md": "text/markdown",
               "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}


class ExportError(BpoError):
    """An export that cannot be produced (unknown format, missing tool); the message names the fix."""


@dataclass(frozen=True)
class Chart:
    """One chart of the review: the KPI's weekly series with its prior-year and target lines, and the events."""

    kpi: str
    title: str
    unit: str
    target: float | None
    series: pl.DataFrame
    events: pl.DataFrame | None = None
    target_name: str = "target"  # 'contract target' or 'default target', as the legend names the line


@dataclass(frozen=True)
class Definition:
    """A KPI as the appendix defines it."""

    kpi: str
    label: str
    description: str
    direction: str
    target: str
    min_volume: int


def title_of(review: Any, title: str | None = None) -> str:
    """The export's title: given, else 'Weekly review' with the week and its reporting calendar."""
    return title or f"Weekly review, {format.period(review.week, 'week', getattr(review, 'calendar', None))}"


def subtitle_of(review: Any) -> str:
    """Week span and the view in words: the filters in force, and whose work it is when the viewer sees only part of
    each client's (`Review.where`: 'Northwind BPO's work only: other vendors' work … is not in this view')."""
    where = getattr(review, "where", None) or format.filters(review.filters, getattr(review, "names", None)) \
        or format.NO_SEGMENT
    return f"{review.week:%d %b} – {review.week + timedelta(days=6):%d %b %Y} · {where}"


def charts(review: Any) -> list[Chart]:
    """One chart per tile whose series has data, in the tiles' order."""
    out = []
    for tile in review.tiles:
        try:
            series = review.series(tile.kpi)
        except KeyError:
            continue
        if series.get_column("value").drop_nulls().len():
            out.append(Chart(tile.kpi, tile.label, tile.unit, tile.target, series, getattr(review, "events", None),
                             getattr(tile, "target_name", "target")))
    return out


TO_DATE_LABELS = ("MTD", "QTD", "YTD")


def target_cell(tile: Any) -> str:
    """The tile's target as a table cell: '90.0%' (the contract's), '85.0% (default)' or 'no contract target'."""
    source = getattr(tile, "target_source", None)
    if tile.target is None or source is None:
        return NO_CONTRACT_TARGET
    return tile.formatted_target if source == "contract" else f"{tile.formatted_target} (default)"


def to_date_cells(tile: Any) -> list[str]:
    """The tile's MTD, QTD and YTD values, '✗' after a total that misses its contract target ('–' when there is none)."""
    by_label = {t.label: t for t in getattr(tile, "to_date", ())}
    cells = []
    for label in TO_DATE_LABELS:
        t = by_label.get(label)
        cells.append(format.EMPTY if t is None else t.formatted + (" ✗" if t.status == "bad" and t.value is not None else ""))
    return cells


def to_date_note(review: Any) -> str:
    """How the to-date totals are counted (the week's Sunday decides the month, quarter and year)."""
    from insights.review import to_date_caption

    return f"MTD, QTD, YTD: {to_date_caption(review.week)} ✗ misses the contract target."


def events_note(review: Any, lead: str = "Events marked on the charts") -> str:
    """The events marked on the charts, in one line ('' when none fall in the charts' weeks)."""
    from insights.review.events import events_in_window

    events = getattr(review, "events", None)
    series = [c.series for c in charts(review)]
    if events is None or not series:
        return ""
    periods = series[0].get_column("period")
    shown, total = events_in_window(events, periods.min(), periods.max() + timedelta(days=6))
    if not total:
        return ""
    names = "; ".join(f"{r['name']} ({str(r['kind']).replace('_', ' ')}, {_days(r)})"
                      for r in shown.sort("start_date").iter_rows(named=True))
    more = f" (the {shown.height} most relevant of {total})" if total > shown.height else ""
    return f"{lead}{more}: {names}."


def _days(row: dict) -> str:
    first, last = row["start_date"], row.get("last_day") or row["start_date"]
    return f"{first:%d %b %Y}" if last == first else f"{first:%d %b} – {last:%d %b %Y}"


def definitions(review: Any, catalog: Any = None) -> list[Definition]:
    """The catalog's definition of every KPI on the review's tiles."""
    if catalog is None:
        from insights.catalog import load_catalog

        catalog = load_catalog()
    words = {"higher_is_better": "higher is better", "lower_is_better": "lower is better", "neutral": "neutral"}
    out = []
    for tile in review.tiles:
        kpi = catalog.kpis.get(tile.kpi)
        if kpi is None:
            continue
        out.append(Definition(tile.kpi, kpi.label, kpi.description or "", words.get(kpi.direction, kpi.direction),
                              target_cell(tile), int(kpi.min_volume or 0)))
    return out


NO_INSIGHTS = "No insights this week: no target missed and nothing changed enough to report."


def evidence_of(insight: Any, names: format.Names | None = None) -> str:
    """One line of the numbers behind an insight: type, confidence, test, p, q, n, interval, drivers, id."""
    from insights.detection.narrative import ci_is_change  # here: `kpis --format csv` imports this package

    parts = [insight.type.replace("_", " "), f"confidence {insight.confidence_label}"]
    if insight.test:
        parts.append(f"test {insight.test}")
    if insight.p_value is not None:
        parts.append(f"p = {format.p_value(insight.p_value)}")
    if insight.q_value is not None:
        parts.append(f"q = {format.p_value(insight.q_value)}")
    parts.append(f"n = {format.count(insight.n)}")
    if insight.ci:
        kpi = format.of(insight.kpi, insight.unit)
        parts.append(f"95% interval {format.interval(kpi, *insight.ci, change=ci_is_change(insight.type, insight.evidence))}")
    drivers = [format.part(d["dimension"], d["value"], names) for d in insight.drivers[:3]]
    if drivers:
        parts.append("drivers: " + ", ".join(drivers))
    return " · ".join(parts + [f"id {insight.id}"])


def action_of(insight: Any, names: format.Names | None = None) -> str:
    """The action with its owner and the KPI (and week) that will verify it."""
    a = insight.action
    when = f" in the week of {a.verify_week}" if a.verify_week else ""
    return f"{a.text} (owner: {a.owner}; verify with {format.label('kpi', a.verify_kpi, names)}{when})"


def render(review: Any, fmt: str, *, title: str | None = None, catalog: Any = None) -> bytes:
    """The review as a file of format `fmt` (html | pdf | pptx | md), as bytes."""
    if fmt == "html":
        from insights.export.html import render_html

        return render_html(review, title=title, catalog=catalog).encode("utf-8")
    if fmt == "md":
        from insights.export.markdown import render_markdown

        return render_markdown(review, title=title, catalog=catalog).encode("utf-8")
    if fmt == "pptx":
        from insights.export.pptx import render_pptx

        return render_pptx(review, title=title, catalog=catalog)
    if fmt == "pdf":
        from insights.export.html import render_html
        from insights.export.pdf import html_to_pdf

        return html_to_pdf(render_html(review, title=title, catalog=catalog, for_print=True))
    raise ExportError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")


def write(review: Any, fmt: str, path: Path | str, *, title: str | None = None, catalog: Any = None) -> Path:
    """Write the review as `fmt` to `path` (parent folders must exist); returns the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: folder {path.parent} does not exist; create it or pick another --out")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder; give a file name (e.g. {path / ('review' + SUFFIXES.get(fmt, ''))})")
    data = render(review, fmt, title=title, catalog=catalog)
    path.write_bytes(data)
    return path


def tile_value(t: Any) -> str:
    """A tile's value as every export writes it: a KPI comparable only within one channel adds each channel's value
    ('53 s (all channels; chat 40 s · email 2.6 h)'), since the pooled figure moves with the mix; a KPI a filter in
    force cannot narrow says whose figure it is ('90.0% (for every language: not split by language)')."""
    lines = getattr(t, "per_line", ())
    every = getattr(t, "every", "")  # a KPI a filter cannot narrow (no language on a roster): whose figure it is
    value = f"{t.formatted} (for {every}: not split by {' or '.join(n for n, _ in t.unsplit)})" if every else t.formatted
    if not lines:
        return value
    return f"{value} (all channels; " + " · ".join(f"{segment} {text}" for segment, text in lines) + ")"


# --------------------------------------------------------------------------- pieces of a meeting deck and a report

SIX_WEEKS = 6
_STATS_CLAUSE = re.compile(r"^\s*(95% CI|n = )")


def short_headline(insight: Any) -> str:
    """The headline without its statistics clause (interval and n, which the evidence line gives):
    '… −53.8 pts against the 90.0% target (95% CI 21.8% to 53.6%, n = 105).' → '… against the 90.0% target.'"""
    text = insight.headline.strip()
    m = re.search(r"\s*\(([^()]*)\)\.?$", text)
    if not m:
        return text
    kept = [c.strip() for c in re.split(r";", m.group(1)) if not _STATS_CLAUSE.match(c) and "CI" not in c]
    end = "." if text.endswith(".") else ""
    return text[:m.start()] + (f" ({'; '.join(kept)})" if kept else "") + end


def insight_title(insight: Any, names: format.Names | None = None) -> str:
    """An insight's slide title, in words: where, then what happened ('Acme Home · channel email: SLA attainment
    (first response) was 36.2% …, −53.8 pts against the 90.0% target.')."""
    where = format.segment(insight.segment, names) if insight.segment else ""
    return f"{where}: {short_headline(insight)}" if where else short_headline(insight)


def insight_line(insight: Any, names: format.Names | None = None) -> str:
    """One line per insight for a summary: 'Acme Home · channel email: SLA attainment (first response) 36.2%
    (−53.8 pts vs contract target)'; the short headline when the record holds no value."""
    where = format.segment(insight.segment, names) if insight.segment else format.NO_SEGMENT
    if insight.observed is None or insight.delta is None or insight.type == "data_quality":
        return f"{where}: {short_headline(insight)}"
    kpi = format.of(insight.kpi, insight.unit)
    return (f"{where}: {format.label('kpi', insight.kpi, names)} {format.value(kpi, insight.observed)} "
            f"({format.delta(kpi, insight.delta)} vs {insight.baseline})")


FIVE = ("What happened:", "Why:", "What it means:", "What to do:", "Evidence:")


def five_sentences(insight: Any, names: format.Names | None = None) -> list[tuple[str, str]]:
    """(lead, text) for what happened (where + what), why, what it means, what to do and the evidence."""
    told = insight.evidence.get("narrative") or {}
    what = " ".join(t for t in (told.get("where"), told.get("what") or insight.headline) if t)
    why = told.get("why") or "No aligned event or co-moving KPI in the calendar."
    return list(zip(FIVE, (what, why, told.get("so_what") or insight.meaning, action_of(insight, names),
                           evidence_of(insight, names))))


def six_weeks(review: Any) -> tuple[list[str], list[list[str]]]:
    """The last six weeks of every tile's KPI, oldest first, with the target in force in the review week:
    (header, rows); '–' for a week without a value."""
    weeks = [review.week - timedelta(weeks=k) for k in range(SIX_WEEKS - 1, -1, -1)]
    header = ["KPI", *(f"{w:%d %b}" for w in weeks), "target"]
    rows = []
    for tile in review.tiles:
        try:
            series = review.series(tile.kpi)
        except KeyError:
            continue
        values = dict(zip(series.get_column("period").to_list(), series.get_column("value").to_list()))
        rows.append([tile.label, *(format.value(tile, values.get(w)) for w in weeks), target_cell(tile)])
    return header, rows
