"""The review as Markdown for a wiki: tiles as a table, the last weeks of each chart as a table, insights, definitions.

Every text from data (names, sentences that quote them, notices, the title) goes through `format.markdown`: a wiki
shows it as typed, with no link, image, HTML tag or emphasis planted in an event's name or a site id.
"""

from __future__ import annotations

from typing import Any

from insights import format
from insights.export import (tile_value, NO_INSIGHTS, action_of, charts, definitions, events_note, evidence_of, subtitle_of,
                             target_cell, title_of, to_date_cells, to_date_note)

RECENT_WEEKS = 6


_cell = format.markdown  # one line, '|' escaped: safe inside a table cell as anywhere else


def render_markdown(review: Any, *, title: str | None = None, catalog: Any = None) -> str:
    """The whole review as GitHub-flavoured Markdown (no images: a wiki page needs none to be read)."""
    lines = [f"# {_cell(title_of(review, title))}", "", f"_{_cell(subtitle_of(review))}_", ""]
    lines += [f"> **Note:** {_cell(n.message)}\n" for n in review.notices]
    if review.tiles:
        lines += ["## This week", "",
                  "| KPI | value | vs last week | vs last year | MTD | QTD | YTD | target | status | n |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
        lines += [f"| {_cell(t.label)} | {_cell(tile_value(t))} | {_cell(t.formatted_vs_last_week)} | "
                  f"{_cell(t.formatted_vs_last_year)} | " + " | ".join(_cell(c) for c in to_date_cells(t)) + " | "
                  f"{_cell(target_cell(t))} | {_cell(t.status)} | {t.n:,} |"
                  for t in review.tiles]
        lines += ["", f"_{to_date_note(review)}_", ""]
    chart_list = charts(review)
    if chart_list:
        recent = chart_list[0].series.sort("period").get_column("period").to_list()[-RECENT_WEEKS:]
        lines += [f"## Last {len(recent)} weeks", "", "| KPI | " + " | ".join(f"{p:%d %b}" for p in recent) + " |",
                  "|---|" + "---:|" * len(recent)]
        for c in chart_list:
            values = dict(zip(c.series.get_column("period").to_list(), c.series.get_column("value").to_list()))
            kpi = next((t for t in review.tiles if t.kpi == c.kpi), c.unit)
            lines.append(f"| {_cell(c.title)} | " + " | ".join(_cell(format.value(kpi, values.get(p)))
                                                               for p in recent) + " |")
        lines.append("")
        note = events_note(review, lead="Events in the last 12 months")
        if note:
            lines += [_cell(note), ""]
    lines += ["## Insights", ""]
    if not review.insights:
        lines += [NO_INSIGHTS, ""]
    for i, ins in enumerate(review.insights, 1):
        lines += [f"### {i}. {_cell(ins.headline)}", "", f"**What it means:** {_cell(ins.meaning)}", "",
                  f"**What to do:** {_cell(action_of(ins, review.names))}", "",
                  f"<sub>Evidence: {_cell(evidence_of(ins, review.names))}</sub>", ""]
    defs = definitions(review, catalog)
    if defs:
        lines += ["## Definitions", "", "| KPI | what it measures | direction | target |", "|---|---|---|---|"]
        lines += [f"| {_cell(d.label)} | {_cell(d.description)} | {_cell(d.direction)} | {_cell(d.target)} |" for d in defs]
        lines.append("")
    return "\n".join(lines)
