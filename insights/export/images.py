"""Charts drawn offline for the exports: matplotlib (Agg), no browser, no download at run time.

Why matplotlib and not Plotly's kaleido: kaleido 1.x drives a Chrome process and fetches MathJax
from a CDN unless told otherwise, so every export would need a browser and care about the
network; matplotlib draws the same lines (this year, same week last year, target, last six weeks
shaded) in ~50 ms per chart, deterministically, on any machine.  Colours are the dashboard's
Okabe-Ito palette, safe for colour-blind readers, and every line is also told apart by its style.
"""

from __future__ import annotations

import io
from datetime import timedelta

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 - the backend must be chosen first
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from insights.export.axes import label_on_the_left, share_range, share_ticks  # noqa: E402
from insights.format import split_note  # noqa: E402
from insights.review import split_dimension, split_lines  # noqa: E402

BLUE, ORANGE, GREY, DARK, SKY = "#0072B2", "#E69F00", "#8C8C8C", "#333333", "#56B4E9"
EVENT, EVENT_TEXT = "#8C7A66", "#5C4D3C"  # the dashboard's event colours (a warm grey: context, not a series)
HIGHLIGHT_WEEKS = 6
# the dashboard's Okabe-Ito series colours, each line also told apart by its style
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
SERIES_STYLES = ("-", "--", ":", "-.")
# (largest value drawn, scale, suffix) for durations stored in seconds
DURATIONS = ((120.0, 1.0, " s"), (3 * 3600.0, 1 / 60, " min"), (float("inf"), 1 / 3600, " h"))
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in SVG (searchable, small)
matplotlib.rcParams["svg.hashsalt"] = "bpo-insights"  # stable ids: the same review gives the same file
matplotlib.rcParams["text.parse_math"] = False  # '$' in an event's or a site's name is a dollar, not TeX to run


def _scale(unit: str, largest: float | None) -> tuple[float, str, str]:
    """(factor, tick format, suffix) for a unit and the largest value drawn."""
    if unit == "percent":
        return 100.0, "{:.0f}", "%"
    if unit == "seconds":
        for limit, factor, suffix in DURATIONS:
            if largest is None or largest <= limit:
                return factor, "{:,.0f}" if factor != 1 / 3600 else "{:,.1f}", suffix
    if unit == "count":
        return 1.0, "{:,.0f}", ""
    return 1.0, "{:,.2f}", ""


def _mark_events(ax, events: pl.DataFrame | None, start, end) -> int:
    """Shade multi-day events, a dotted line at one-day ones, each labelled above the plot; returns the label rows."""
    from insights.review.events import event_label, event_lanes, events_in_window

    shown, _ = events_in_window(events, start, end)
    if not shown.height:
        return 0
    rows = list(shown.sort("start_date").iter_rows(named=True))
    lanes = event_lanes([r["start_date"] for r in rows])
    for r, lane in zip(rows, lanes):
        first, final = max(r["start_date"], start), min(r["last_day"] or r["start_date"], end)
        if final > first:  # a shaded band is named in the legend
            ax.axvspan(first, final + timedelta(days=1), color=EVENT, alpha=0.18, lw=0, zorder=0,
                       label=f"event: {event_label(r['name'])}")
        else:
            ax.axvline(first, color=EVENT, lw=1.2, ls=":", zorder=1)
        left = label_on_the_left(first, start, end)  # a label near the right edge would be cut: it ends at its day
        ax.annotate(f"◆ {event_label(r['name'])}", xy=(first, 1), xycoords=("data", "axes fraction"),
                    xytext=(0, 2 + 9 * lane), textcoords="offset points", fontsize=6.5, color=EVENT_TEXT,
                    ha="right" if left else "left", va="bottom", annotation_clip=False)
    return max(lanes) + 1


def _figure(series: pl.DataFrame, *, title: str, unit: str, target: float | None, width: float, height: float,
            events: pl.DataFrame | None = None, target_name: str = "target"):
    s = series.sort("period")
    if s.get_column("value").drop_nulls().len():  # the weeks with a value, no empty weeks either side
        dated = s.filter(pl.col("value").is_not_null()).get_column("period")
        s = s.filter(pl.col("period").is_between(dated.min(), dated.max()))
    lines = {k: c for k, c in split_lines(s).items() if s.get_column(c).drop_nulls().len()}
    cols = [c for c in ("value", "prior_year", "target", *lines.values()) if c in s.columns]
    largest = s.select(pl.max_horizontal(pl.col(cols).max())).item() if s.height else None
    factor, fmt, suffix = _scale(unit, largest)
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    x = s.get_column("period").to_list()

    def ys(col: str) -> list[float]:
        return [float("nan") if v is None else v * factor for v in s.get_column(col).to_list()]

    if x:
        first = x[max(0, len(x) - HIGHLIGHT_WEEKS)]
        ax.axvspan(first - timedelta(days=3), x[-1] + timedelta(days=3), color=SKY, alpha=0.15, lw=0,
                   label=f"last {min(HIGHLIGHT_WEEKS, len(x))} weeks")
        if "prior_year" in s.columns and s.get_column("prior_year").drop_nulls().len() and not lines:
            ax.plot(x, ys("prior_year"), color=GREY, lw=1.3, ls=":", label="same week last year")
        if "target" in s.columns and s.get_column("target").drop_nulls().len():
            ax.step(x, ys("target"), where="post", color=DARK, lw=1.3, ls="--", label=target_name)
        elif target is not None:
            ax.axhline(target * factor, color=DARK, lw=1.3, ls="--", label=target_name)
        # a KPI comparable only within one channel: one line per channel, never the pooled line (it is mix)
        for i, (segment, column) in enumerate(lines.items()):
            ax.plot(x, ys(column), color=SERIES_COLOURS[i % len(SERIES_COLOURS)],
                    ls=SERIES_STYLES[i % len(SERIES_STYLES)], lw=2.0, marker="o", ms=2.5, label=segment)
        if not lines:
            ax.plot(x, ys("value"), color=BLUE, lw=2.2, marker="o", ms=2.5, label="this year")
    else:
        ax.text(0.5, 0.5, "no data for this view", ha="center", va="center", transform=ax.transAxes)
    lanes = _mark_events(ax, events, x[0], x[-1] + timedelta(days=6)) if x else 0
    if lines:
        ax.text(0, 1, split_note(split_dimension(s)), transform=ax.transAxes, fontsize=7, color="#555555",
                va="bottom", ha="left")
    ax.set_title(title, loc="left", fontsize=11, pad=6 + 9 * lanes + (10 if lines else 0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt.format(v) + suffix))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %y"))
    shares = share_range([v for c in cols for v in s.get_column(c).to_list()]) if unit == "percent" else None
    if shares:  # a share is drawn around its values: a 0–100 % axis flattens a 28-point collapse
        ax.set_ylim(shares[0] * factor, shares[1] * factor)
        ax.set_yticks([t * factor for t in share_ticks(shares)])  # room above 100 % carries no label
    else:
        ax.set_ylim(bottom=0)
    if x:
        ax.set_xlim(x[0] - timedelta(days=3.5), x[-1] + timedelta(days=3.5))
    ax.grid(axis="y", color="#EEEEEE")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, frameon=False)
    fig.tight_layout()
    return fig


def trend_png(series: pl.DataFrame, *, title: str, unit: str, target: float | None = None,
              width: float = 9.0, height: float = 4.2, events: pl.DataFrame | None = None,
              target_name: str = "target") -> bytes:
    """The weekly trend chart as PNG bytes (the view's best-ranked events marked, as on the dashboard)."""
    fig = _figure(series, title=title, unit=unit, target=target, width=width, height=height, events=events,
                  target_name=target_name)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def trend_svg(series: pl.DataFrame, *, title: str, unit: str, target: float | None = None,
              width: float = 6.4, height: float = 3.2, events: pl.DataFrame | None = None,
              target_name: str = "target") -> str:
    """The weekly trend chart as an inline SVG element (no XML prolog, no external references)."""
    fig = _figure(series, title=title, unit=unit, target=target, width=width, height=height, events=events,
                  target_name=target_name)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def insight_png(*, title: str, unit: str, observed: float | None, expected: float | None, baseline: str,
                interval: tuple[float, float] | None = None, target: float | None = None, target_name: str = "target",
                series: pl.DataFrame | None = None, series_title: str = "", week=None,
                labels: tuple[str, str] | None = None, width: float = 5.8, height: float = 4.6) -> bytes:
    """An insight's chart as PNG bytes: the observed value against its baseline (and the target), with the 95 %
    interval; above it, when given, the KPI's weekly trend in the view with the insight's week marked.
    `labels` are the (observed, expected) values as the sentences write them (format.value)."""
    s = series.sort("period") if series is not None and series.height else None
    if s is not None and not s.get_column("value").drop_nulls().len():
        s = None
    values: list[float] = [float(v) for v in (observed, expected, target, *(interval or ())) if v is not None and v == v]
    trend = s.get_column("value").drop_nulls().to_list() if s is not None else []
    factor, fmt, suffix = _scale(unit, max([abs(v) for v in values + trend], default=None))
    axes_count = 2 if s is not None else 1
    fig, axes = plt.subplots(axes_count, 1, figsize=(width, height), dpi=110,
                             gridspec_kw={"height_ratios": [3, 2] if axes_count == 2 else [1]}, squeeze=False)
    tick = FuncFormatter(lambda v, _: fmt.format(v) + suffix)
    if s is not None:
        ax = axes[0][0]
        x = s.get_column("period").to_list()
        ax.plot(x, [float("nan") if v is None else v * factor for v in s.get_column("value").to_list()],
                color=BLUE, lw=1.8, marker="o", ms=2, label="weekly value in view")
        if target is not None:
            ax.axhline(target * factor, color=DARK, lw=1.1, ls="--", label=target_name)
        if week is not None:
            ax.axvspan(week - timedelta(days=3), week + timedelta(days=3), color=ORANGE, alpha=0.35, lw=0,
                       label="the insight's week")
        ax.set_title(series_title, loc="left", fontsize=9)
        ax.yaxis.set_major_formatter(tick)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %y"))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower left", frameon=False, ncol=3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax = axes[-1][0]
    observed_text, expected_text = labels or (None, None)
    rows: list[tuple[str, float, str, str | None]] = [(name, float(v), colour, text) for name, v, colour, text in (
        ("baseline", expected, GREY, expected_text),
        ("observed", observed, BLUE, observed_text)) if v is not None and v == v]
    if rows:
        ys = list(range(len(rows)))
        ax.barh(ys, [v * factor for _, v, _, _ in rows], color=[c for _, _, c, _ in rows], height=0.55)
        ax.set_yticks(ys, [name for name, _, _, _ in rows], fontsize=8)
        for y, (name, v, _, text) in zip(ys, rows):
            end = max(v, interval[1]) if interval is not None and name == "observed" else v  # past the whisker
            ax.annotate(text or fmt.format(v * factor) + suffix, (end * factor, y), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=8)
        if interval is not None and observed is not None:
            lo, hi = interval
            here = float(observed)
            ax.errorbar([here * factor], [ys[-1]], xerr=[[max(0.0, (here - lo) * factor)], [max(0.0, (hi - here) * factor)]],
                        fmt="none", ecolor=DARK, capsize=4, lw=1.2, label="95% interval")
        if target is not None:
            ax.axvline(target * factor, color=DARK, lw=1.3, ls="--", label=target_name)
        ax.xaxis.set_major_formatter(tick)
        ax.tick_params(axis="x", labelsize=7)
        if baseline:
            ax.set_xlabel(f"baseline: {baseline}", fontsize=7, color="#555555", loc="left")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, frameon=False)
        left, right = ax.get_xlim()
        ax.set_xlim(min(0.0, left), right * 1.12 if right > 0 else right)
    else:
        ax.text(0.5, 0.5, "no weekly figure for this finding", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    axes[0][0].figure.suptitle(title, x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
