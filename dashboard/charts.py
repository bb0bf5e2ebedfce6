"""Plotly figure builders: pure functions of frames, no Streamlit (unit-tested on their own).

Colours come from the Okabe-Ito palette, safe for the common colour-vision deficiencies: good is
blue, bad is orange, and every status also carries an arrow or a word, never colour alone.

Every builder is `@inert`: the figure it returns has every text (names, ticks, hovers, titles, annotations) passed
through `format.chart_text`, so a '<a href=...>' in a site id or an event's name shows as typed, never as a link.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial, wraps
from html import escape as _escape
from typing import Any, Callable, Literal, ParamSpec

import numpy as np

import plotly.graph_objects as go
import polars as pl

from insights import format
from insights.review.events import MAX_EVENTS, event_label, event_lanes, events_in_window
from insights.export.axes import label_on_the_left, share_range, share_ticks
from insights.review import split_dimension, split_lines

BLUE, ORANGE, GREY, DARK, SKY = "#0072B2", "#E69F00", "#8C8C8C", "#333333", "#56B4E9"
STATUS_COLOURS = {"good": BLUE, "bad": ORANGE, "neutral": GREY}
STATUS_WORDS = {"good": "on track", "bad": "needs attention", "neutral": "steady"}
HIGHLIGHT_WEEKS = 6
escape = partial(_escape, quote=False)  # Plotly text: <, > and & only (quotes show as entities otherwise)
# which reference line a trend puts forward (the comparison chosen in the sidebar)
Reference = Literal["both", "prior_year", "target"]
REFERENCE_OF_COMPARE = {"last_week": "both", "last_year": "prior_year", "target": "target"}


@dataclass(frozen=True)
class Axis:
    """How a unit is drawn on the y axis: scale factor from stored values, tick format, suffix."""

    scale: float
    tickformat: str
    suffix: str
    title: str


AXES = {
    "percent": Axis(1.0, ".0%", "", "%"),
    "seconds": Axis(1 / 60, ",.1f", " min", "minutes"),  # when the size is unknown
    "count": Axis(1.0, ",.0f", "", "count"),
    "currency": Axis(1.0, ",.2f", "", "amount"),
    "ratio": Axis(1.0, ",.2f", "", "ratio"),
    "score": Axis(1.0, ",.2f", "", "score"),
}


P = ParamSpec("P")


def _inert_value(v: Any) -> tuple[Any, bool]:
    """`v` with its texts made inert, and whether anything changed."""
    if isinstance(v, str):
        new = format.chart_text(v)
        return new, new != v
    if isinstance(v, dict):
        pairs = {k: _inert_value(x) for k, x in v.items()}
        return ({k: x for k, (x, _) in pairs.items()}, True) if any(c for _, c in pairs.values()) else (v, False)
    if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.dtype.kind in "OUS"):
        items = [_inert_value(x) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
        return ([x for x, _ in items], True) if any(c for _, c in items) else (v, False)
    return v, False


def _changed(props: dict) -> dict:
    """The top-level properties whose text `format.chart_text` changes, with their inert value."""
    out = {}
    for key, v in props.items():
        new, changed = _inert_value(v)
        if changed:
            out[key] = new
    return out


def make_inert(fig: go.Figure) -> go.Figure:
    """`fig` with every text shown as typed: only the product's own <br>, <b>, <i>, <sub>, <sup>, <extra> tags stay."""
    for trace in fig.data:
        changes = _changed(trace.to_plotly_json())
        if changes:
            trace.update(changes)
    changes = _changed({k: v for k, v in fig.layout.to_plotly_json().items() if k != "template"})
    if changes:
        fig.layout.update(changes)
    return fig


def inert(build: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """A chart builder whose figure shows every text from data as typed (see `make_inert`)."""
    @wraps(build)
    def built(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return make_inert(build(*args, **kwargs))
    return built


def status_colour(status: str) -> str:
    """Tile colour of a status (good | bad | neutral)."""
    return STATUS_COLOURS.get(status, GREY)


def arrow(delta: float | None) -> str:
    """▲ for a rise, ▼ for a fall, ▬ for no change, '' when there is nothing to compare."""
    if delta is None:
        return ""
    return "▲" if delta > 0 else "▼" if delta < 0 else "▬"


def delta_colour(delta: float | None, direction: str) -> str:
    """Colour of a change given the KPI's good direction (neutral KPIs and no change stay grey)."""
    if delta is None or delta == 0 or direction not in ("higher_is_better", "lower_is_better"):
        return GREY
    good = (delta > 0) == (direction == "higher_is_better")
    return BLUE if good else ORANGE


DURATION_AXES = (  # (largest value drawn, axis): short durations in seconds, long ones in hours
    (120.0, Axis(1.0, ",.0f", " s", "seconds")),
    (3 * 3600.0, Axis(1 / 60, ",.0f", " min", "minutes")),
    (float("inf"), Axis(1 / 3600, ",.1f", " h", "hours")),
)


def _name(value: object, labels: Mapping[str, str] | None) -> str:
    """A series' name in the legend and hover: its label when given (a site's name, not its id)."""
    return str((labels or {}).get(value, value))  # type: ignore[call-overload]


def _axis(unit: str, largest: float | None = None) -> Axis:
    if unit == "seconds" and largest is not None:
        return next(axis for limit, axis in DURATION_AXES if largest <= limit)
    return AXES.get(unit, AXES["ratio"])


def x_range(days: Sequence[date], pad_days: float = 3.5) -> list[date] | None:
    """The x range from the first to the last period with data (an axis never runs on into empty weeks or months)."""
    days = [d for d in days if d is not None]
    if not days:
        return None
    return [min(days) - timedelta(days=pad_days), max(days) + timedelta(days=pad_days)]


MONTH_PAD_DAYS = 16  # half a month either side of the first and last bar


def month_ticks(months: Sequence[date]) -> dict:
    """One tick under each month's bar, named by that month (automatic date ticks read 'Feb, Mar, Mar' when they
    fall mid-month); every k-th month past two years."""
    ordered = sorted(set(months))
    step = max(1, math.ceil(len(ordered) / 24))
    shown = ordered[::step]
    return dict(tickmode="array", tickvals=shown, ticktext=[f"{m:%b %Y}" for m in shown])


# --------------------------------------------------------------------------- the events calendar on a time axis

# events are context, not a series: a warm grey, apart from every Okabe-Ito line colour (the SLA chart uses all
# eight) and from the sky-blue band of the last weeks; vertical, dotted and labelled, so never colour alone
EVENT_COLOUR, EVENT_TEXT = "#8C7A66", "#5C4D3C"
EVENT_LANE_PX = 13


def event_hover(row: dict) -> str:
    """Name, kind, days and what the event applies to, for the label's hover."""
    first, last = row["start_date"], row.get("last_day") or row["start_date"]
    days = f"{first:%d %b %Y}" if last == first else f"{first:%d %b} – {last:%d %b %Y}"
    applies = ", ".join(f"{k} {row[c]}" for k, c in (("client", "client_id"), ("vendor", "vendor_id"),
                                                      ("site", "site_id"), ("channel", "channel")) if row.get(c))
    text = f"<b>{escape(row['name'])}</b> ({escape(str(row['kind']).replace('_', ' '))})<br>{days}"
    if applies:
        text += f"<br>{escape(applies)}"
    if row.get("description"):
        text += f"<br>{escape(row['description'])}"
    return text


def mark_events(fig: go.Figure, events: pl.DataFrame | None, start: date, end: date,
                limit: int = MAX_EVENTS) -> int:
    """Shade each multi-day event, draw a dotted line at each one-day event, label both above the plot (the
    full name, kind and days on hover); at most `limit` events, the best-ranked. Returns how many were marked."""
    shown, _ = events_in_window(events, start, end, limit)
    if not shown.height:
        return 0
    rows = list(shown.sort("start_date").iter_rows(named=True))
    lanes = event_lanes([r["start_date"] for r in rows])
    # plain layout dicts set in one update: add_vrect/add_vline/add_annotation validate the whole figure on
    # every call, which cost 0.7 s of a Weekly review's 1.0 s of chart building
    shapes, notes = list(fig.layout.shapes), list(fig.layout.annotations)
    for r, lane in zip(rows, lanes):
        first, last = max(r["start_date"], start), min(r["last_day"] or r["start_date"], end)
        name = f"event: {r['name']}"
        if last > first:  # a shaded band carries its own legend entry: shading is never left unexplained
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=first, x1=last + timedelta(days=1), y0=0, y1=1,
                               fillcolor=EVENT_COLOUR, opacity=0.18, line_width=0, layer="below", name=name,
                               showlegend=True, legendgroup="events"))
        else:
            shapes.append(dict(type="line", xref="x", yref="paper", x0=first, x1=first, y0=0, y1=1, layer="below",
                               line=dict(color=EVENT_COLOUR, width=1.5, dash="dot"), name=name))
        left = label_on_the_left(first, start, end)  # a label near the right edge would be cut: it ends at its day
        notes.append(dict(x=first, y=1, xref="x", yref="paper", yanchor="bottom", xanchor="right" if left else "left",
                          showarrow=False, yshift=2 + EVENT_LANE_PX * lane, text=f"◆ {escape(event_label(r['name']))}",
                          hovertext=event_hover(r), font=dict(size=9, color=EVENT_TEXT), name=name))
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 40
    extra = EVENT_LANE_PX * (max(lanes) + 1)  # the label rows get their own room: the plot keeps its height
    fig.update_layout(shapes=shapes, annotations=notes, margin=dict(t=top + extra),
                      height=(fig.layout.height or 450) + extra,
                      title=dict(y=1, yref="container", yanchor="top", pad=dict(t=8)))
    return shown.height


@inert
def trend(series: pl.DataFrame, *, title: str, unit: str = "ratio", target: float | None = None,
          highlight_weeks: int = HIGHLIGHT_WEEKS, height: int = 300, events: pl.DataFrame | None = None,
          max_events: int = MAX_EVENTS, reference: Reference = "both", target_name: str = "target") -> go.Figure:
    """Weekly line with the prior-year line, the target line, the last weeks shaded and the events marked.

    `series` has `period` (Date), `value`, and optionally `prior_year` and `target` (per week,
    effective-dated); `target` draws a flat line when the frame has no target column.  `events`
    (insights.review.events.read_events) are marked when they overlap the weeks drawn, at most
    `max_events`.  `reference` puts one line forward: "prior_year" draws it bold, "target" draws
    the target bold and leaves the prior year in the legend (a click shows it); "both" draws both.
    `target_name` names the line in the legend ('contract target', 'default target').
    """
    s = series.sort("period") if series.height else series
    if s.height and s.get_column("value").drop_nulls().len():  # the weeks with a value, no empty weeks either side
        dated = s.filter(pl.col("value").is_not_null()).get_column("period")
        s = s.filter(pl.col("period").is_between(dated.min(), dated.max()))
    # a KPI comparable only within one channel (catalog `within`) comes with one column per channel: those lines
    # are drawn, the pooled line (which moves with the channel mix) is one click away in the legend
    lines = {k: c for k, c in split_lines(s).items() if s.get_column(c).drop_nulls().len()}
    drawn = [c for c in ("value", "prior_year", "target", *lines.values()) if c in s.columns]
    largest = s.select(pl.max_horizontal(pl.col(drawn).max())).item() if s.height and drawn else None
    ax = _axis(unit, largest)
    fig = go.Figure()
    periods = s.get_column("period").to_list() if s.height else []
    dimension = split_dimension(s) if lines else None

    def ys(col: str) -> list[float | None]:
        return [None if v is None else v * ax.scale for v in s.get_column(col).to_list()]

    if s.height and "prior_year" in s.columns and s.get_column("prior_year").drop_nulls().len():
        bold = reference == "prior_year"
        fig.add_trace(go.Scatter(x=periods, y=ys("prior_year"), name="same week last year", mode="lines",
                                 line=dict(color="#5A5A5A" if bold else GREY, width=2.5 if bold else 1.5, dash="dot"),
                                 connectgaps=False,
                                 visible="legendonly" if reference == "target" or lines else True))
    target_ys: list[float | None] = []
    if s.height and "target" in s.columns and s.get_column("target").drop_nulls().len():
        target_ys = ys("target")
    elif target is not None and periods:
        target_ys = [target * ax.scale] * len(periods)
    if target_ys:
        fig.add_trace(go.Scatter(x=periods, y=target_ys, name=target_name, mode="lines",
                                 line=dict(color=DARK, width=2.5 if reference == "target" else 1.5, dash="dash",
                                           shape="hv")))
    for i, (segment, column) in enumerate(lines.items()):
        fig.add_trace(go.Scatter(x=periods, y=ys(column), name=segment, mode="lines+markers",
                                 line=dict(color=SERIES_COLOURS[i % 8], dash=SERIES_DASHES[i % 8], width=2.2),
                                 marker=dict(symbol=SERIES_MARKERS[i % 8], size=5),
                                 hovertemplate=f"{escape(segment)} %{{x|%d %b %Y}}: %{{y}}{ax.suffix}<extra></extra>"))
    if s.height:
        fig.add_trace(go.Scatter(x=periods, y=ys("value"), name=f"all {dimension}s pooled" if lines else "this year",
                                 mode="lines+markers", visible="legendonly" if lines else True,
                                 line=dict(color=BLUE, width=2.5), marker=dict(size=4),
                                 customdata=s.get_column("n").to_list() if "n" in s.columns else None,
                                 hovertext=[format.value(unit, v) for v in s.get_column("value").to_list()],
                                 hovertemplate="%{x|%d %b %Y}: %{hovertext}"
                                 + ("<br>n = %{customdata:,}" if "n" in s.columns else "") + "<extra></extra>"))
        last = periods[-1]
        first = periods[max(0, len(periods) - highlight_weeks)]
        shapes = [dict(type="rect", xref="x", yref="paper", x0=first - timedelta(days=3), x1=last + timedelta(days=3),
                       y0=0, y1=1, fillcolor=SKY, opacity=0.12, line_width=0, layer="below", showlegend=True,
                       name=f"last {min(highlight_weeks, len(periods))} weeks (shaded)")]
        notes = []
        if not lines:
            fig.add_trace(go.Scatter(x=periods[-highlight_weeks:], y=ys("value")[-highlight_weeks:],
                                     mode="markers", marker=dict(color=BLUE, size=8), showlegend=False,
                                     hoverinfo="skip", name="last weeks"))
    else:
        shapes, notes = [], [dict(text="no data for this view", showarrow=False, x=0.5, y=0.5, xref="paper",
                                  yref="paper")]
    # a share is drawn around its values (a 0–100 % axis flattens a collapse); other units from zero
    shares = share_range([v for c in drawn for v in s.get_column(c).to_list()]) if unit == "percent" and s.height \
        else None
    yaxis: dict[str, object] = dict(tickformat=ax.tickformat, ticksuffix=ax.suffix, gridcolor="#EEEEEE")
    yaxis.update(dict(range=shares, tickvals=share_ticks(shares)) if shares else dict(rangemode="tozero"))
    # one layout update of plain dicts (add_vrect and update_*axes each validate the whole figure again)
    note = format.split_note(dimension) if lines else None
    fig.update_layout(
        title=dict(text=title, font=dict(size=14), subtitle=dict(text=note, font=dict(size=10)) if note else None),
        height=height, margin=dict(l=10, r=10, t=56 if note else 40, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), hovermode="x unified",
        plot_bgcolor="white", paper_bgcolor="white", shapes=shapes, annotations=notes, yaxis=yaxis,
        xaxis=dict(gridcolor="#F5F5F5", tickformat="%b %Y", range=x_range(periods)),
    )
    if periods:
        mark_events(fig, events, periods[0], periods[-1] + timedelta(days=6), max_events)
    return fig



# --------------------------------------------------------------------------- SLA, vendors & sites, quality

# Okabe-Ito, in an order that keeps neighbours distinguishable; each series also gets its own dash and marker
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442")
SERIES_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid", "dash")
SERIES_MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "pentagon")


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), plot_bgcolor="white",
                      paper_bgcolor="white")
    fig.update_yaxes(gridcolor="#EEEEEE")
    fig.update_xaxes(gridcolor="#F5F5F5")
    return fig


@inert
def attainment_by(frame: pl.DataFrame, split: str, *, title: str, target: list[float | None] | None = None,
                  periods: list | None = None, height: int = 360, events: pl.DataFrame | None = None,
                  max_events: int = MAX_EVENTS, labels: Mapping[str, str] | None = None) -> go.Figure:
    """One line per value of `split` (period, split, value, n), the contract target as a dashed step line,
    the view's events marked as on `trend`.

    Each point carries its split value as customdata, so a click can open the tickets behind it.
    """
    fig = go.Figure()
    # a line with no value (voice has no first-response target) gets no trace, so no legend entry for nothing
    drawn = frame.filter(pl.col("value").is_not_null()) if frame.height else frame
    values = sorted(drawn.get_column(split).drop_nulls().unique().to_list()) if drawn.height else []
    for i, v in enumerate(values):
        s = frame.filter(pl.col(split) == v).sort("period")
        fig.add_trace(go.Scatter(
            x=s.get_column("period").to_list(), y=s.get_column("value").to_list(), name=_name(v, labels),
            mode="lines+markers",
            line=dict(color=SERIES_COLOURS[i % 8], dash=SERIES_DASHES[i % 8], width=2),
            marker=dict(symbol=SERIES_MARKERS[i % 8], size=7),
            customdata=[[str(v), n] for n in s.get_column("n").to_list()],
            hovertext=[format.value("percent", y) for y in s.get_column("value").to_list()],
            hovertemplate=f"{_name(v, labels)}<br>%{{x|%d %b %Y}}: %{{hovertext}}<br>n = %{{customdata[1]:,}}<extra></extra>"))
    if target and periods and any(t is not None for t in target):
        fig.add_trace(go.Scatter(x=periods, y=target, name="contract target", mode="lines",
                                 line=dict(color=DARK, dash="dash", width=1.5, shape="hv"), hoverinfo="skip"))
    if not values:
        fig.add_annotation(text="no data for this view", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    _layout(fig, title, height)
    dated = drawn.get_column("period").to_list() if drawn.height else []
    shares = share_range([*(drawn.get_column("value").to_list() if drawn.height else []), *(target or [])])
    fig.update_yaxes(tickformat=".0%", **(dict(range=shares, tickvals=share_ticks(shares)) if shares
                                          else dict(rangemode="tozero")))
    fig.update_xaxes(tickformat="%d %b", range=x_range(dated))
    days = dated or periods or []
    if days:
        mark_events(fig, events, min(days), max(days) + timedelta(days=6), max_events)
    return fig


@inert
def funnel_plot(points: pl.DataFrame, curve: pl.DataFrame, *, title: str, higher_is_better: bool = True,
                height: int = 360) -> go.Figure:
    """Entities' rates against their n, inside 95 % and 99.8 % limits around the peer rate (expected range)."""
    fig = go.Figure()
    if curve.height:
        n = curve.get_column("n").to_list()
        for lo, hi, label, dash in (("lower998", "upper998", "99.8% limits", "dot"), ("lower95", "upper95", "95% limits", "dash")):
            fig.add_trace(go.Scatter(x=n, y=curve.get_column(hi).to_list(), name=label, mode="lines",
                                     line=dict(color=GREY, dash=dash, width=1), hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=n, y=curve.get_column(lo).to_list(), mode="lines", showlegend=False,
                                     line=dict(color=GREY, dash=dash, width=1), hoverinfo="skip"))
        peer = points.get_column("peer")[0] if points.height else None
        if peer is not None:
            fig.add_trace(go.Scatter(x=[n[0], n[-1]], y=[peer, peer], name="peer rate", mode="lines",
                                     line=dict(color=DARK, width=1.5)))
    if points.height:
        bad = "below" if higher_is_better else "above"
        colour = [ORANGE if s in (bad, "watch") else BLUE for s in points.get_column("status").to_list()]
        symbols = ["triangle-down" if s == bad else "triangle-up" if s in ("above", "below") else "circle"
                   for s in points.get_column("status").to_list()]
        fig.add_trace(go.Scatter(
            x=points.get_column("n").to_list(), y=points.get_column("rate").to_list(), mode="markers+text",
            text=points.get_column("entity").to_list(), textposition="top center", name="vendors/sites",
            marker=dict(color=colour, size=11, symbol=symbols, line=dict(color=DARK, width=1)),
            customdata=points.get_column("status").to_list(),
            hovertemplate="%{text}: %{y:.1%} on n = %{x:,}<br>%{customdata}<extra></extra>"))
    _layout(fig, title, height)
    fig.update_yaxes(tickformat=".0%")
    fig.update_xaxes(title="n (responses or tickets)", type="log")
    if points.height:  # room for the labels of the smallest and largest entity
        ns = [n for n in points.get_column("n").to_list() if n and n > 0]
        if ns:
            fig.update_xaxes(range=[math.log10(min(min(ns), 10) / 1.6), math.log10(max(ns) * 1.6)])
    return fig


@inert
def mix_adjusted(frame: pl.DataFrame, *, title: str, labels: dict[str, str] | None = None, height: int = 320) -> go.Figure:
    """Crude vs mix-adjusted rate per entity (a dumbbell): the adjustment is the segment between them."""
    fig = go.Figure()
    labels = labels or {}
    names = [labels.get(e, e) for e in frame.get_column("entity").to_list()] if frame.height else []
    for row, name in zip(frame.iter_rows(named=True), names):
        fig.add_trace(go.Scatter(x=[row["crude"], row["adjusted"]], y=[name, name], mode="lines",
                                 line=dict(color=GREY, width=3), showlegend=False, hoverinfo="skip"))
    if frame.height:
        fig.add_trace(go.Scatter(x=frame.get_column("crude").to_list(), y=names, mode="markers", name="as measured",
                                 marker=dict(color=GREY, size=11, symbol="circle-open", line=dict(width=2))))
        fig.add_trace(go.Scatter(x=frame.get_column("adjusted").to_list(), y=names, mode="markers",
                                 name="mix-adjusted (same channel mix for all)", marker=dict(color=BLUE, size=11)))
        peer = frame.get_column("peer")[0]
        if peer is not None:
            fig.add_vline(x=peer, line=dict(color=DARK, dash="dash", width=1), annotation_text="peer",
                          annotation_position="top")
    _layout(fig, title, height)
    fig.update_xaxes(tickformat=".0%")
    return fig


@inert
def volume_share(volume: pl.DataFrame, *, title: str, labels: dict[str, str] | None = None, height: int = 280) -> go.Figure:
    """Horizontal bars of each entity's share of tickets."""
    labels = labels or {}
    v = volume.sort("tickets") if volume.height else volume
    fig = go.Figure(go.Bar(
        x=v.get_column("share").to_list() if v.height else [], orientation="h", marker_color=BLUE,
        y=[labels.get(e, e) for e in v.get_column("entity").to_list()] if v.height else [],
        text=[f"{s:.0%}" for s in v.get_column("share").to_list()] if v.height else [], textposition="outside",
        customdata=v.get_column("tickets").to_list() if v.height else [],
        hovertemplate="%{y}: %{x:.1%} (%{customdata:,.0f} tickets)<extra></extra>"))
    _layout(fig, title, height)
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    return fig


@inert
def section_trends(sections: pl.DataFrame, *, title: str, target: float | None = None, height: int = 340,
                   target_name: str = "QA target") -> go.Figure:
    """Weekly QA score per section (period, section, label, value); `target_name` labels the target line."""
    fig = go.Figure()
    labels = sections.select("section", "label").unique(maintain_order=True).rows() if sections.height else []
    for i, (section, label) in enumerate(labels):
        s = sections.filter(pl.col("section") == section).sort("period")
        fig.add_trace(go.Scatter(
            x=s.get_column("period").to_list(), y=s.get_column("value").to_list(), name=label, mode="lines+markers",
            line=dict(color=SERIES_COLOURS[i % 8], dash=SERIES_DASHES[i % 8], width=2.5 if section == "overall" else 1.8),
            marker=dict(symbol=SERIES_MARKERS[i % 8], size=6), customdata=s.get_column("n").to_list(),
            hovertemplate=f"{label}<br>%{{x|%d %b}}: %{{y:.1%}} (n = %{{customdata}})<extra></extra>"))
    if target is not None and sections.height:
        fig.add_hline(y=target, line=dict(color=DARK, dash="dash", width=1.2), annotation_text=target_name,
                      annotation_position="bottom right")
    if not labels:
        fig.add_annotation(text="no QA evaluations in this view", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    _layout(fig, title, height)
    shares = share_range([*(sections.get_column("value").to_list() if sections.height else []), target])
    fig.update_yaxes(tickformat=".0%", **(dict(range=shares, tickvals=share_ticks(shares)) if shares else {}))
    fig.update_xaxes(tickformat="%d %b")
    return fig


CALIBRATION_ROW_PX = 22  # one evaluator per row, tall enough that every name is printed


@inert
def calibration(frame: pl.DataFrame, *, title: str, height: int = 340) -> go.Figure:
    """Each evaluator's offset from the site's mean with its 95 % interval; zero is perfect calibration."""
    fig = go.Figure()
    if frame.height:
        flagged = frame.get_column("flag").to_list()
        fig.add_trace(go.Scatter(
            x=frame.get_column("offset").to_list(), y=frame.get_column("evaluator_id").to_list(), mode="markers",
            marker=dict(color=[ORANGE if f else BLUE for f in flagged], size=10,
                        symbol=["diamond" if f else "circle" for f in flagged]),
            error_x=dict(type="data", symmetric=False, color=GREY,
                         array=(frame.get_column("upper") - frame.get_column("offset")).to_list(),
                         arrayminus=(frame.get_column("offset") - frame.get_column("lower")).to_list()),
            customdata=frame.get_column("evaluations").to_list(), name="evaluator offset",
            hovertemplate="%{y}: %{x:+.1%} vs site mean (n = %{customdata})<extra></extra>"))
        fig.add_vline(x=0, line=dict(color=DARK, width=1))
    evaluators = frame.get_column("evaluator_id").to_list() if frame.height else []
    # every evaluator named: Plotly drops every other category label when rows are tighter than the font
    _layout(fig, title, max(height, 90 + CALIBRATION_ROW_PX * len(evaluators)))
    fig.update_xaxes(tickformat="+.0%", title="score offset from the site's mean (points)")
    fig.update_yaxes(tickmode="array", tickvals=evaluators, ticktext=evaluators, automargin=True)
    return fig


@inert
def reasons(frame: pl.DataFrame, *, title: str, height: int = 260) -> go.Figure:
    """Auto-fail reasons as horizontal bars (count, share of auto-fails)."""
    f = frame.sort("auto_fails") if frame.height else frame
    fig = go.Figure(go.Bar(
        x=f.get_column("auto_fails").to_list() if f.height else [], y=f.get_column("reason").to_list() if f.height else [],
        orientation="h", marker_color=ORANGE, text=[f"{s:.0%}" for s in f.get_column("share").to_list()] if f.height else [],
        textposition="outside"))
    _layout(fig, title, height)
    return fig


# --------------------------------------------------------------------------- workforce, cost and pilots

SHORT, SURPLUS = "#D55E00", "#0072B2"  # vermillion = agents short, blue = agents to spare (diverging, CVD-safe)


def _no_data(fig: go.Figure, text: str = "no data for this view") -> None:
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")


@inert
def forecast_vs_actual(actual: pl.DataFrame, forecasts: list[tuple[str, pl.DataFrame]], *, title: str,
                       height: int = 380) -> go.Figure:
    """Weekly actual volume, and each forecast's mean with its 95 % and 80 % bands and the seasonal-naive baseline.

    `actual` has period and volume; each forecast frame has period, mean, lo80, hi80, lo95, hi95, naive.
    """
    fig = go.Figure()
    for i, (label, f) in enumerate(forecasts):
        if not f.height:
            continue
        f = f.sort("period")
        x = f.get_column("period").to_list()
        for lo, hi, name, opacity in (("lo95", "hi95", "95% interval", 0.15), ("lo80", "hi80", "80% interval", 0.3)):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=f.get_column(hi).to_list() + f.get_column(lo).to_list()[::-1],
                                     fill="toself", fillcolor=SKY, opacity=opacity, line=dict(width=0),
                                     name=name, hoverinfo="skip", legendgroup=name, showlegend=i == 0))
        fig.add_trace(go.Scatter(x=x, y=f.get_column("mean").to_list(), name=label, mode="lines+markers",
                                 line=dict(color=ORANGE if i == 0 else "#009E73", dash="dash", width=2),
                                 marker=dict(symbol="diamond" if i == 0 else "square", size=7),
                                 customdata=list(zip(f.get_column("lo80").to_list(), f.get_column("hi80").to_list())),
                                 hovertemplate="%{x|%d %b %Y}: %{y:,.0f} (80%: %{customdata[0]:,.0f}–%{customdata[1]:,.0f})"
                                               "<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=f.get_column("naive").to_list(), name="seasonal naive", mode="lines",
                                 line=dict(color=GREY, dash="dot", width=1.5), legendgroup="naive", showlegend=i == 0,
                                 hovertemplate="seasonal naive %{y:,.0f}<extra></extra>"))
    if actual.height:
        a = actual.sort("period")
        fig.add_trace(go.Scatter(x=a.get_column("period").to_list(), y=a.get_column("volume").to_list(), name="actual",
                                 mode="lines+markers", line=dict(color=BLUE, width=2.5), marker=dict(size=5),
                                 hovertemplate="%{x|%d %b %Y}: %{y:,.0f} contacts<extra></extra>"))
    else:
        _no_data(fig)
    _layout(fig, title, height)
    fig.update_yaxes(tickformat=",.0f", rangemode="tozero", title_text="contacts per week")
    fig.update_xaxes(tickformat="%d %b %Y")
    return fig


@inert
def staffing_heatmap(pattern: pl.DataFrame, *, title: str, height: int = 330, calendar: str = "UTC") -> go.Figure:
    """Weekday × 30-minute interval: mean required − scheduled agents (positive: short), both in the hover."""
    fig = go.Figure()
    if not pattern.height:
        _no_data(fig)
        return _layout(fig, title, height)
    p = pattern.sort("weekday_no", "minute_of_day")
    days = p.select("weekday_no", "weekday").unique().sort("weekday_no").get_column("weekday").to_list()
    times = p.select("minute_of_day", "time").unique().sort("minute_of_day").get_column("time").to_list()
    cell = {(r["weekday"], r["time"]): r for r in p.iter_rows(named=True)}
    z = [[cell[(d, t)]["gap"] if (d, t) in cell else None for t in times] for d in days]
    hover = [[(f"required {cell[(d, t)]['required']:.1f}, scheduled {cell[(d, t)]['scheduled']:.1f}"
               if (d, t) in cell else "") for t in times] for d in days]
    reach = max(abs(float(p.get_column("gap").min())), abs(float(p.get_column("gap").max())), 0.5)
    fig.add_trace(go.Heatmap(z=z, x=times, y=days, customdata=hover, zmid=0, zmin=-reach, zmax=reach,
                             colorscale=[[0, SURPLUS], [0.5, "#F7F7F7"], [1, SHORT]],
                             colorbar=dict(title="agents<br>short (+)", thickness=12),
                             hovertemplate=f"%{{y}} %{{x}} {calendar}: gap %{{z:+.1f}} agents<br>%{{customdata}}<extra></extra>"))
    _layout(fig, title, height)
    fig.update_yaxes(autorange="reversed", gridcolor=None)
    fig.update_xaxes(title_text=f"interval start ({calendar})", tickangle=-45, nticks=24)
    return fig


@inert
def risk_bars(frame: pl.DataFrame, *, max_risk: float, title: str, height: int = 320) -> go.Figure:
    """P(missing the service level next week) per queue as horizontal bars, the acceptable risk as a dashed line."""
    fig = go.Figure()
    if not frame.height:
        _no_data(fig)
        return _layout(fig, title, height)
    f = frame.sort("p_miss")
    risk = f.get_column("p_miss").to_list()
    fig.add_trace(go.Bar(x=risk, y=f.get_column("queue_id").to_list(), orientation="h", name="P(miss)",
                         marker_color=[ORANGE if r >= max_risk else BLUE for r in risk],
                         text=[f"{r:.0%}" + (" ▲ at risk" if r >= max_risk else "") for r in risk],
                         textposition="outside", hovertemplate="%{y}: %{x:.0%}<extra></extra>"))
    fig.add_vline(x=max_risk, line=dict(color=DARK, dash="dash", width=1.5),
                  annotation_text=f"acceptable risk {max_risk:.0%}", annotation_position="top")
    _layout(fig, title, max(height, 60 + 26 * f.height))
    fig.update_xaxes(tickformat=".0%", range=[0, 1.15])
    return fig


@inert
def lines_by(frame: pl.DataFrame, *, x: str, y: str, split: str, title: str, tickformat: str = ",.2f",
             target: float | None = None, target_name: str = "target", flag: str | None = None,
             reference: str | None = None, reference_name: str = "rate card", from_zero: bool = True,
             height: int = 340, labels: Mapping[str, str] | None = None) -> go.Figure:
    """One line per value of `split`; a flat target line, or each segment's `reference` column dashed in its colour;
    points where `flag` is true ringed and named."""
    fig = go.Figure()
    values = sorted(frame.get_column(split).drop_nulls().unique().to_list()) if frame.height else []
    for i, v in enumerate(values):
        s = frame.filter(pl.col(split) == v).sort(x)
        v = _name(v, labels)
        fig.add_trace(go.Scatter(x=s.get_column(x).to_list(), y=s.get_column(y).to_list(), name=v,
                                 mode="lines+markers", line=dict(color=SERIES_COLOURS[i % 8], dash=SERIES_DASHES[i % 8]),
                                 marker=dict(symbol=SERIES_MARKERS[i % 8], size=6),
                                 hovertemplate=f"{v} %{{x|%d %b %Y}}: %{{y:{tickformat}}}<extra></extra>"))
        if reference and s.get_column(reference).drop_nulls().len():
            fig.add_trace(go.Scatter(x=s.get_column(x).to_list(), y=s.get_column(reference).to_list(),
                                     name=f"{v}: {reference_name}", mode="lines",
                                     line=dict(color=SERIES_COLOURS[i % 8], dash="dash", width=1.5, shape="hv"),
                                     hovertemplate=f"{v} {reference_name}: %{{y:{tickformat}}}<extra></extra>"))
        if flag and flag in s.columns and s.get_column(flag).any():
            hit = s.filter(pl.col(flag))
            fig.add_trace(go.Scatter(x=hit.get_column(x).to_list(), y=hit.get_column(y).to_list(), mode="markers",
                                     name=f"{v}: {flag.replace('_', ' ')}", showlegend=True,
                                     marker=dict(symbol="circle-open", size=15, color=ORANGE, line=dict(width=2.5)),
                                     hovertemplate=f"{v} %{{x|%d %b %Y}}: {flag.replace('_', ' ')}<extra></extra>"))
    if target is not None and values:
        fig.add_hline(y=target, line=dict(color=DARK, dash="dash", width=1.5), annotation_text=target_name,
                      annotation_position="top left")
    if not values:
        _no_data(fig)
    _layout(fig, title, height)
    fig.update_yaxes(tickformat=tickformat, rangemode="tozero" if from_zero else "normal")
    return fig


@inert
def attrition_chart(monthly: pl.DataFrame, *, split: str | None = None, title: str, height: int = 360) -> go.Figure:
    """Annualised attrition per month (per `split` segment, or one line) with the exact 95 % Poisson interval.

    A single line draws the interval as a shaded band; several lines as error bars.
    """
    fig = go.Figure()
    if split is None:
        monthly = monthly.with_columns(pl.lit("all in view").alias("__all"))
        split = "__all"
    values = sorted(monthly.get_column(split).drop_nulls().unique().to_list()) if monthly.height else []
    for i, v in enumerate(values):
        s = monthly.filter(pl.col(split) == v).sort("month")
        bounds = [(lo_ * 12, hi_ * 12) for lo_, hi_ in zip(s.get_column("lo").to_list(), s.get_column("hi").to_list())]
        if len(values) == 1:
            months = s.get_column("month").to_list()
            fig.add_trace(go.Scatter(x=months + months[::-1], y=[b[1] for b in bounds] + [b[0] for b in bounds][::-1],
                                     fill="toself", fillcolor=SKY, opacity=0.3, line=dict(width=0),
                                     name="exact 95% interval", hoverinfo="skip"))
        ann = s.get_column("annualised").to_list()
        hi = [h * 12 - a for h, a in zip(s.get_column("hi").to_list(), ann)]
        lo = [a - l_ * 12 for l_, a in zip(s.get_column("lo").to_list(), ann)]
        fig.add_trace(go.Scatter(x=s.get_column("month").to_list(), y=ann, name=str(v), mode="lines+markers",
                                 line=dict(color=SERIES_COLOURS[i % 8], dash=SERIES_DASHES[i % 8]),
                                 marker=dict(symbol=SERIES_MARKERS[i % 8], size=7),
                                 error_y=dict(type="data", array=hi, arrayminus=lo, thickness=1, width=3,
                                              visible=len(values) > 1),
                                 customdata=[(t, h, b[0], b[1]) for (t, h), b in
                                             zip(s.select("terminations", "headcount").rows(), bounds)],
                                 hovertemplate=f"{v} %{{x|%b %Y}}: %{{y:.0%}} annualised (95%: %{{customdata[2]:.0%}}–"
                                               "%{customdata[3]:.0%})<br>%{customdata[0]} leavers, headcount "
                                               "%{customdata[1]:.0f}<extra></extra>"))
    if not values:
        _no_data(fig)
    _layout(fig, title, height)
    # small counts give very wide exact intervals: keep the rates readable, the bars run off the top
    top = max([float(monthly.get_column("annualised").max() or 0) * (1.4 if len(values) > 1 else 1.8), 0.3]) \
        if monthly.height else 1.0
    fig.update_yaxes(tickformat=".0%", range=[0, top], title_text="annualised")
    months = monthly.filter(pl.col("annualised").is_not_null()).get_column("month").to_list() if monthly.height else []
    fig.update_xaxes(range=x_range(months, MONTH_PAD_DAYS), **month_ticks(months))
    return fig


@inert
def leavers_bars(monthly: pl.DataFrame, *, title: str, height: int = 300) -> go.Figure:
    """Voluntary and involuntary leavers per month, stacked (segments' bars stack in the same month)."""
    fig = go.Figure()
    if not monthly.height:
        _no_data(fig)
        return _layout(fig, title, height)
    m = monthly.sort("month")
    for col, colour, pattern in (("voluntary", BLUE, ""), ("involuntary", ORANGE, "/")):
        fig.add_trace(go.Bar(x=m.get_column("month").to_list(), y=m.get_column(col).to_list(), name=col,
                             marker=dict(color=colour, pattern_shape=pattern),
                             hovertemplate=f"%{{x|%b %Y}}: %{{y}} {col}<extra></extra>"))
    _layout(fig, title, height)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=",d", title_text="leavers", tick0=0, dtick=1 if monthly.height and
                     float(monthly.get_column("terminations").max() or 0) <= 10 else None)
    months = m.get_column("month").to_list()
    fig.update_xaxes(range=x_range(months, MONTH_PAD_DAYS), **month_ticks(months))
    return fig


@inert
def competency_chart(frame: pl.DataFrame, *, title: str, height: int = 340) -> go.Figure:
    """Weeks from hire to the site median per KPI: one dot per new agent who got there, a box per KPI and site."""
    fig = go.Figure()
    done = frame.filter(pl.col("weeks_to_competency").is_not_null()) if frame.height else frame
    sites = sorted(done.get_column("site_id").unique().to_list()) if done.height else []
    for i, site in enumerate(sites):
        s = done.filter(pl.col("site_id") == site)
        fig.add_trace(go.Box(x=s.get_column("kpi").to_list(), y=s.get_column("weeks_to_competency").to_list(), name=site,
                             boxpoints="all", jitter=0.4, pointpos=0, marker=dict(color=SERIES_COLOURS[i % 8], size=5,
                             symbol=SERIES_MARKERS[i % 8]), line=dict(color=SERIES_COLOURS[i % 8]),
                             customdata=s.get_column("agent_id").to_list(),
                             hovertemplate="%{customdata}: %{y} weeks<extra>" + site + "</extra>"))
    if not sites:
        _no_data(fig, "no new agent has reached the site median yet")
    _layout(fig, title, height)
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title_text="weeks from hire", rangemode="tozero")
    return fig


@inert
def cells_chart(rows: list[dict], *, title: str, tickformat: str, height: int = 260) -> go.Figure:
    """Before → after of the pilot (and the control group): the picture behind a difference-in-differences."""
    fig = go.Figure()
    for row, colour, dash, symbol in zip(rows, (BLUE, GREY), ("solid", "dash"), ("circle", "square")):
        fig.add_trace(go.Scatter(x=["before", "after"], y=[row["before"], row["after"]], name=row["group"],
                                 mode="lines+markers+text", line=dict(color=colour, dash=dash, width=2.5),
                                 marker=dict(symbol=symbol, size=9), textposition="middle right",
                                 hovertemplate=f"{row['group']} %{{x}}: %{{y:{tickformat}}}<extra></extra>"))
    if not rows:
        _no_data(fig)
    _layout(fig, title, height)
    fig.update_yaxes(tickformat=tickformat)
    fig.update_layout(legend=dict(y=-0.3))  # month labels under the bars are taller
    return fig


@inert
def stacked_bars(frame: pl.DataFrame, *, x: str, y: str, split: str, title: str, unit: str = "",
                 height: int = 320) -> go.Figure:
    """Bars of `y` per `x`, one colour (and hatch) per value of `split`, stacked."""
    fig = go.Figure()
    values = sorted(frame.get_column(split).drop_nulls().unique().to_list()) if frame.height else []
    hatches = ("", "/", ".", "x", "\\", "+", "-", "|")
    for i, v in enumerate(values):
        s = frame.filter(pl.col(split) == v).sort(x)
        fig.add_trace(go.Bar(x=s.get_column(x).to_list(), y=s.get_column(y).to_list(), name=str(v),
                             marker=dict(color=SERIES_COLOURS[i % 8], pattern_shape=hatches[i % 8]),
                             hovertemplate=f"{v} %{{x|%b %Y}}: %{{y:,.2f}} {unit}<extra></extra>"))
    if not values:
        _no_data(fig)
    _layout(fig, title, height)
    fig.update_layout(barmode="stack")
    months = frame.filter(pl.col(y).is_not_null()).get_column(x).to_list() if frame.height else []
    fig.update_xaxes(range=x_range(months, MONTH_PAD_DAYS), **month_ticks(months))
    return fig


# what each coverage heatmap draws: (column, n column or None, tick format, colour bar title, higher is better)
COVERAGE_METRICS = {
    "volume": ("volume", None, ",.0f", "tickets +<br>contacts", None),
    "sla": ("sla", "sla_n", ".0%", "first response<br>in target", True),
    "service_level": ("service_level", "sl_n", ".0%", "answered<br>in threshold", True),
    "required": ("required", None, ",.0f", "agents<br>required", None),
}
WEEKDAY_SHORT = {"monday": "Mon", "tuesday": "Tue", "wednesday": "Wed", "thursday": "Thu", "friday": "Fri",
                 "saturday": "Sat", "sunday": "Sun"}


def _cell_text(v: float | None, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.0%}" if fmt == ".0%" else f"{v:,.0f}"


@inert
def coverage_heatmap(cells: pl.DataFrame, *, metric: str, title: str, calendar: str, height: int = 330) -> go.Figure:
    """Weekday × hour of one coverage measure; a thin cell (flag `<metric>_thin` or `sl_thin`) is grey and labelled
    with its n instead of a coloured value; the hover names the calendar, the records and the demand."""
    column, n_col, fmt, bar, higher = COVERAGE_METRICS[metric]
    fig = go.Figure()
    if not cells.height or cells.get_column("volume").sum() == 0:
        _no_data(fig)
        return _layout(fig, title, height)
    c = cells.sort("weekday_no", "hour")
    thin_col = {"sla": "sla_thin", "service_level": "sl_thin"}.get(metric)
    days = [WEEKDAY_SHORT[d] for d in c.select("weekday_no", "weekday").unique().sort("weekday_no").get_column("weekday")]
    hours = sorted(c.get_column("hour").unique().to_list())
    rows = {(WEEKDAY_SHORT[r["weekday"]], r["hour"]): r for r in c.iter_rows(named=True)}

    def is_thin(r: dict) -> bool:
        return bool(thin_col and r[thin_col] and r[column] is not None)

    z = [[None if is_thin(rows[(d, h)]) else rows[(d, h)][column] for h in hours] for d in days]
    grey = [[1.0 if is_thin(rows[(d, h)]) or (metric == "required" and rows[(d, h)]["required"] is None
                                                 and rows[(d, h)]["volume"] > 0) else None for h in hours] for d in days]
    text = [[(f"n {rows[(d, h)][n_col]}" if is_thin(rows[(d, h)]) and n_col else
              "?" if grey[i][j] else _cell_text(rows[(d, h)][column], fmt))
             for j, h in enumerate(hours)] for i, d in enumerate(days)]

    def hover(r: dict) -> str:
        value = _cell_text(r[column], fmt) or "no data"
        n = f" on {r[n_col]} records" + (" (thin: too few to judge)" if is_thin(r) else "") if n_col else ""
        if metric == "required" and r["required"] is None and r["volume"] > 0:
            value = "unknown (no handle time recorded)"
        return (f"{value}{n}<br>{r['volume']:,.0f} tickets and contacts over {r['days']} {r['weekday']}s; "
                f"demand {r['demand']:,.1f} an hour; Erlang-required agents "
                + ("unknown" if r["required"] is None else f"{r['required']:,.0f}"))

    custom = [[hover(rows[(d, h)]) for h in hours] for d in days]
    scale = ([[0, ORANGE], [0.5, "#F7F7F7"], [1, BLUE]] if higher else [[0, "#F7F7F7"], [1, BLUE]])
    fig.add_trace(go.Heatmap(z=grey, x=hours, y=days, colorscale=[[0, "#D9D9D9"], [1, "#D9D9D9"]], showscale=False,
                             hoverinfo="skip", xgap=1, ygap=1))
    confident = [v for line in z for v in line if v is not None and not math.isnan(v)]
    span = dict(zmin=min(confident, default=0.0), zmax=1.0) if fmt == ".0%" else dict(zmin=0.0)
    fig.add_trace(go.Heatmap(z=z, x=hours, y=days, customdata=custom, text=text, texttemplate="%{text}",
                             textfont=dict(size=10), colorscale=scale, xgap=1, ygap=1, **span,
                             colorbar=dict(title=bar, thickness=12, tickformat=fmt),
                             hovertemplate=f"%{{y}} %{{x}}:00 {calendar}: %{{customdata}}<extra></extra>"))
    # the thin cells' labels (the main trace has no value there, so Plotly draws no text for them)
    fig.add_trace(go.Heatmap(z=grey, x=hours, y=days, text=text, texttemplate="%{text}", textfont=dict(size=9, color=DARK),
                             colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], showscale=False,
                             customdata=custom, hovertemplate=f"%{{y}} %{{x}}:00 {calendar}: %{{customdata}}<extra></extra>"))
    _layout(fig, title, height)
    fig.update_yaxes(autorange="reversed", gridcolor=None)
    fig.update_xaxes(title_text=f"hour of day ({calendar})", type="category", gridcolor=None)
    return fig
