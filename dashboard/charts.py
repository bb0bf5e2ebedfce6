"""Plotly figure builders: pure functions of frames, no Streamlit (unit-tested on their own).

Colours come from the Okabe-Ito palette, safe for the common colour-vision deficiencies: good is
blue, bad is orange, and every status also carries an arrow or a word, never colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import plotly.graph_objects as go
import polars as pl

BLUE, ORANGE, GREY, DARK, SKY = "#0072B2", "#E69F00", "#8C8C8C", "#333333", "#56B4E9"
STATUS_COLOURS = {"good": BLUE, "bad": ORANGE, "neutral": GREY}
STATUS_WORDS = {"good": "on track", "bad": "needs attention", "neutral": "steady"}
HIGHLIGHT_WEEKS = 6


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


def _axis(unit: str, largest: float | None = None) -> Axis:
    if unit == "seconds" and largest is not None:
        return next(axis for limit, axis in DURATION_AXES if largest <= limit)
    return AXES.get(unit, AXES["ratio"])


def trend(series: pl.DataFrame, *, title: str, unit: str = "ratio", target: float | None = None,
          highlight_weeks: int = HIGHLIGHT_WEEKS, height: int = 300) -> go.Figure:
    """Weekly line with the prior-year line, the target line and the last weeks shaded.

    `series` has `period` (Date), `value`, and optionally `prior_year` and `target` (per week,
    effective-dated); `target` draws a flat line when the frame has no target column.
    """
    s = series.sort("period") if series.height else series
    drawn = [c for c in ("value", "prior_year", "target") if c in s.columns]
    largest = s.select(pl.max_horizontal(pl.col(drawn).max())).item() if s.height and drawn else None
    ax = _axis(unit, largest)
    fig = go.Figure()
    periods = s.get_column("period").to_list() if s.height else []

    def ys(col: str) -> list[float | None]:
        return [None if v is None else v * ax.scale for v in s.get_column(col).to_list()]

    if s.height and "prior_year" in s.columns and s.get_column("prior_year").drop_nulls().len():
        fig.add_trace(go.Scatter(x=periods, y=ys("prior_year"), name="same week last year", mode="lines",
                                 line=dict(color=GREY, width=1.5, dash="dot"), connectgaps=False))
    target_ys: list[float | None] = []
    if s.height and "target" in s.columns and s.get_column("target").drop_nulls().len():
        target_ys = ys("target")
    elif target is not None and periods:
        target_ys = [target * ax.scale] * len(periods)
    if target_ys:
        fig.add_trace(go.Scatter(x=periods, y=target_ys, name="target", mode="lines",
                                 line=dict(color=DARK, width=1.5, dash="dash", shape="hv")))
    if s.height:
        fig.add_trace(go.Scatter(x=periods, y=ys("value"), name="this year", mode="lines+markers",
                                 line=dict(color=BLUE, width=2.5), marker=dict(size=4),
                                 customdata=s.get_column("n").to_list() if "n" in s.columns else None,
                                 hovertemplate="%{x|%d %b %Y}: %{y}" + ax.suffix
                                 + ("<br>n = %{customdata:,}" if "n" in s.columns else "") + "<extra></extra>"))
        last = periods[-1]
        first = periods[max(0, len(periods) - highlight_weeks)]
        fig.add_vrect(x0=first - timedelta(days=3), x1=last + timedelta(days=3), fillcolor=SKY, opacity=0.12,
                      line_width=0, annotation_text=f"last {min(highlight_weeks, len(periods))} weeks",
                      annotation_position="bottom left", annotation_font_size=10,
                      annotation_font_color="#555555")
        fig.add_trace(go.Scatter(x=periods[-highlight_weeks:], y=ys("value")[-highlight_weeks:],
                                 mode="markers", marker=dict(color=BLUE, size=8), showlegend=False,
                                 hoverinfo="skip", name="last weeks"))
    else:
        fig.add_annotation(text="no data for this view", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)), height=height, margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=-0.3, x=0), hovermode="x unified",
        plot_bgcolor="white", paper_bgcolor="white",
    )
    fig.update_yaxes(tickformat=ax.tickformat, ticksuffix=ax.suffix, gridcolor="#EEEEEE", rangemode="tozero")
    fig.update_xaxes(gridcolor="#F5F5F5", tickformat="%b %Y")
    return fig

