"""The review as one self-contained HTML page: inline CSS, charts as inline SVG, no external URL."""

from __future__ import annotations

from html import escape
from typing import Any

from insights import format
from insights.export import (tile_value, NO_INSIGHTS, action_of, charts, definitions, events_note, evidence_of, subtitle_of,
                             title_of, to_date_note)
from insights.export import TO_DATE_LABELS, six_weeks, to_date_cells
from insights.export.images import trend_svg

GOOD, BAD, NEUTRAL = "#0072B2", "#E69F00", "#8C8C8C"
TILES_PER_ROW = 4
STATUS = {"good": (GOOD, "on track"), "bad": (BAD, "needs attention"), "neutral": (NEUTRAL, "steady")}
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#111;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:1.6rem;margin:0}h2{font-size:1.2rem;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#444;margin:4px 0 16px}.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.tile{border:1px solid #ddd;border-left:6px solid var(--c);border-radius:6px;padding:8px 10px;break-inside:avoid}
.tile .l{font-size:.8rem;font-weight:600;color:#444}.tile .v{font-size:1.5rem;font-weight:700}
.tile .c{font-size:.75rem;color:#333}.tile .s{font-size:.72rem;color:var(--c)}.tile .t{font-size:.72rem;color:#444}
.note{font-size:.78rem;color:#444;margin:6px 0}
.charts{display:grid;grid-template-columns:repeat(2,1fr);gap:12px}.chart{break-inside:avoid}
.chart svg{width:100%;height:auto}.insight{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:8px 0;break-inside:avoid}
.notice{background:#FFF6E0;border-left:4px solid #E69F00;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:.82rem}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
.ev{font-size:.78rem;color:#444}@media print{body{margin:0;max-width:none}.charts{grid-template-columns:1fr 1fr}}
h1,h2,h3{break-after:avoid-page;page-break-after:avoid}.keep{break-inside:avoid;page-break-inside:avoid}
.charts+.charts,.tiles+.tiles{margin-top:10px}tr{break-inside:avoid}thead{display:table-header-group}
"""


def _tile(t: Any) -> str:
    colour, word = STATUS.get(t.status, STATUS["neutral"])
    target = (f"vs {escape(t.target_text)}: {escape(t.formatted_vs_target)}" if t.target_source is not None
              else escape(t.target_text))
    count = f"n = {format.count(t.n)}" if t.value is not None else "no data this week"
    totals = " · ".join(f"{label} {escape(cell)}" for label, cell in zip(TO_DATE_LABELS, to_date_cells(t)))
    return (f'<div class="tile" style="--c:{colour}" data-kpi="{escape(t.kpi)}"><div class="l">{escape(t.label)}</div>'
            f'<div class="v">{escape(tile_value(t))}</div>'
            f'<div class="c">vs last week: {escape(t.formatted_vs_last_week)}</div>'
            f'<div class="c">vs last year: {escape(t.formatted_vs_last_year)}</div>'
            f'<div class="c">{target}</div>'
            + (f'<div class="t" data-totals="{escape(t.kpi)}">{totals}</div>' if getattr(t, "to_date", ()) else "")
            + f'<div class="s">● {word} · {count}</div></div>')


def render_html(review: Any, *, title: str | None = None, catalog: Any = None, for_print: bool = False) -> str:
    """The whole review as one HTML document (tiles, charts, insights with evidence, definitions)."""
    head = escape(title_of(review, title))
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{head}</title>'
             f"<style>{CSS}</style></head><body>",
             f"<h1>{head}</h1><p class='sub'>{escape(subtitle_of(review))}</p>"]
    parts += [f'<div class="notice">{escape(n.message)}</div>' for n in review.notices]
    # a heading travels with the first thing under it (`.keep`): it is never the last line of a printed page
    if review.tiles:
        rows = ["<div class='tiles'>" + "".join(_tile(t) for t in review.tiles[k:k + TILES_PER_ROW]) + "</div>"
                for k in range(0, len(review.tiles), TILES_PER_ROW)]
        parts.append(f"<div class='keep'><h2>This week</h2>{rows[0]}</div>")
        parts += rows[1:]
        parts.append(f'<p class="note">{escape(to_date_note(review))}</p>')
    header, weeks = six_weeks(review)
    if weeks:
        parts.append("<div class='keep' data-six-weeks><h2>Last 6 weeks</h2><table><thead><tr>"
                     + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>"
                     + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in weeks)
                     + "</table></div>")
    chart_list = charts(review)
    if chart_list:
        drawn = [f'<div class="chart" data-kpi="{escape(c.kpi)}">'
                 + trend_svg(c.series, title=c.title, unit=c.unit, target=c.target, events=c.events,
                             target_name=c.target_name) + "</div>"
                 for c in chart_list]
        parts.append("<div class='keep'><h2>Last 12 months</h2><div class='charts'>" + "".join(drawn[:2]) + "</div></div>")
        if drawn[2:]:
            parts.append("<div class='charts'>" + "".join(drawn[2:]) + "</div>")
        note = events_note(review)
        if note:
            parts.append(f'<p class="note" data-events>◆ {escape(note)}</p>')
    cards = [f'<div class="insight" data-id="{escape(ins.id)}"><p><b>{i}. {escape(ins.headline)}</b></p>'
             f"<p><i>What it means:</i> {escape(ins.meaning)}</p>"
             f"<p><i>What to do:</i> {escape(action_of(ins, review.names))}</p>"
             f'<p class="ev">Evidence: {escape(evidence_of(ins, review.names))}</p></div>'
             for i, ins in enumerate(review.insights, 1)] or [f"<p>{escape(NO_INSIGHTS)}</p>"]
    parts.append(f"<div class='keep'><h2>Insights</h2>{cards[0]}</div>")
    parts += cards[1:]
    defs = definitions(review, catalog)
    if defs:
        parts.append("<div class='keep'><h2>Definitions</h2><table><thead><tr><th>KPI</th><th>what it measures</th>"
                     "<th>direction</th><th>target</th><th>min. volume</th></tr></thead>")
        parts += [f"<tr><td>{escape(d.label)}</td><td>{escape(d.description)}</td><td>{escape(d.direction)}</td>"
                  f"<td>{escape(d.target)}</td><td>{d.min_volume:,}</td></tr>" for d in defs]
        parts.append("</table></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
