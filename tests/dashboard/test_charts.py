"""Chart builders: pure Plotly figures with the target line, the prior-year line and the last weeks shaded."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import polars as pl
import pytest

from dashboard import charts
from insights.export.axes import SHARE_PAD

WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(30)]


def series(values, *, prior=None, target=None) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({
        "period": WEEKS[:n], "value": values, "n": [100] * n,
        "prior_year": prior if prior is not None else [None] * n,
        "target": target if target is not None else [None] * n,
    }, schema={"period": pl.Date, "value": pl.Float64, "n": pl.Int64, "prior_year": pl.Float64, "target": pl.Float64})


def traces(fig) -> dict[str, object]:
    return {t.name: t for t in fig.data}


def test_charts_never_import_streamlit():
    code = "import sys, dashboard.charts; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_trend_draws_this_year_prior_year_and_the_per_week_target():
    s = series([0.91, 0.88, 0.86], prior=[0.9, 0.9, 0.89], target=[0.9, 0.9, 0.92])
    fig = charts.trend(s, title="SLA", unit="percent")
    t = traces(fig)
    assert list(t["this year"].y) == [0.91, 0.88, 0.86]
    assert list(t["same week last year"].y) == [0.9, 0.9, 0.89]
    assert list(t["target"].y) == [0.9, 0.9, 0.92]
    assert t["target"].line.dash == "dash"
    assert fig.layout.yaxis.tickformat == ".0%"


def test_a_flat_target_is_drawn_when_the_frame_has_none():
    fig = charts.trend(series([10.0, 12.0]), title="x", unit="count", target=11.0)
    assert list(traces(fig)["target"].y) == [11.0, 11.0]


def test_no_prior_year_line_without_prior_year_values_and_no_target_line_without_target():
    fig = charts.trend(series([1.0, 2.0]), title="x", unit="count")
    assert set(traces(fig)) == {"this year", "last weeks"}


@pytest.mark.parametrize(("values", "drawn", "suffix"), [
    pytest.param([14.0, 39.0], [14.0, 39.0], " s", id="seconds-when-short"),
    pytest.param([120.0, 600.0], [2.0, 10.0], " min", id="minutes"),
    pytest.param([7200.0, 14400.0], [2.0, 4.0], " h", id="hours-when-long"),
])
def test_durations_are_drawn_in_a_readable_unit(values, drawn, suffix):
    fig = charts.trend(series(values), title="AHT", unit="seconds")
    assert list(traces(fig)["this year"].y) == drawn
    assert fig.layout.yaxis.ticksuffix == suffix


@pytest.mark.parametrize(("unit", "values", "hover"), [
    pytest.param("percent", [0.912, None, 0.5], ["91.2%", "–", "50.0%"], id="percent"),
    pytest.param("seconds", [252.0, 9000.0], ["4.2 min", "2.5 h"], id="durations-as-on-the-tile"),
    pytest.param("count", [1204.0, 3.0], ["1,204", "3"], id="count"),
])
def test_the_hover_reads_the_value_as_the_tile_does(unit, values, hover):
    line = traces(charts.trend(series(values), title="x", unit=unit))["this year"]
    assert list(line.hovertext) == hover and "%{hovertext}" in line.hovertemplate


def test_split_lines_are_named_not_coded():
    frame = pl.DataFrame({"period": WEEKS[:2] * 2, "site_id": ["nw-manila"] * 2 + ["sp-austin"] * 2,
                          "value": [0.9, 0.8, 0.7, 0.6], "n": [10] * 4})
    labels = {"nw-manila": "Northwind Manila"}
    sla = charts.attainment_by(frame, "site_id", title="x", labels=labels)
    assert {"Northwind Manila", "sp-austin"} <= set(traces(sla))
    assert traces(sla)["Northwind Manila"].customdata[0][0] == "nw-manila"  # a click still opens the site's tickets
    lines = charts.lines_by(frame, x="period", y="value", split="site_id", title="x", labels=labels)
    assert "Northwind Manila" in set(traces(lines))


@pytest.mark.parametrize(("weeks", "shaded_from"), [
    pytest.param(12, WEEKS[6], id="last-6-of-12"),
    pytest.param(4, WEEKS[0], id="fewer-weeks-than-the-highlight"),
])
def test_the_last_six_weeks_are_shaded(weeks, shaded_from):
    fig = charts.trend(series([float(i) for i in range(weeks)]), title="x", unit="count")
    (shape,) = fig.layout.shapes
    assert shape.x0 == shaded_from - timedelta(days=3)
    assert shape.x1 == WEEKS[weeks - 1] + timedelta(days=3)
    assert len(traces(fig)["last weeks"].x) == min(6, weeks)


def test_an_empty_series_says_so_instead_of_drawing_nothing():
    fig = charts.trend(series([]), title="x", unit="count")
    assert fig.data == ()
    assert fig.layout.annotations[0].text == "no data for this view"


@pytest.mark.parametrize(("delta", "direction", "colour", "arrow"), [
    pytest.param(0.02, "higher_is_better", charts.BLUE, "▲", id="rise-good"),
    pytest.param(-0.02, "higher_is_better", charts.ORANGE, "▼", id="fall-bad"),
    pytest.param(30.0, "lower_is_better", charts.ORANGE, "▲", id="slower-bad"),
    pytest.param(-30.0, "lower_is_better", charts.BLUE, "▼", id="faster-good"),
    pytest.param(5.0, "neutral", charts.GREY, "▲", id="neutral-kpi"),
    pytest.param(0.0, "higher_is_better", charts.GREY, "▬", id="no-change"),
    pytest.param(None, "higher_is_better", charts.GREY, "", id="nothing-to-compare"),
])
def test_changes_are_coloured_by_the_kpis_good_direction_and_carry_an_arrow(delta, direction, colour, arrow):
    assert charts.delta_colour(delta, direction) == colour
    assert charts.arrow(delta) == arrow


def test_the_palette_is_blue_and_orange_not_red_and_green():
    assert (charts.status_colour("good"), charts.status_colour("bad")) == ("#0072B2", "#E69F00")


# --------------------------------------------------------------------------- the events calendar and the reference line


def events(*rows) -> pl.DataFrame:
    """(rank, name, kind, start, end) as insights.review.events.read_events returns them."""
    return pl.DataFrame([{"rank": r, "event_id": n, "name": n, "kind": k, "start_date": s, "end_date": e,
                          "last_day": e or s, "client_id": "acme", "vendor_id": None, "site_id": None,
                          "channel": None, "description": None} for r, n, k, s, e in rows],
                        schema_overrides={"end_date": pl.Date, "vendor_id": pl.String, "site_id": pl.String,
                                          "channel": pl.String, "description": pl.String})


def event_shapes(fig) -> dict[str, tuple]:
    return {s.name.removeprefix("event: "): (s.type, s.x0, s.x1) for s in fig.layout.shapes
            if (s.name or "").startswith("event: ")}


def test_a_multi_day_event_is_shaded_and_a_one_day_event_is_a_line_both_labelled_with_name_and_kind():
    ev = events((1, "Payment gateway outage", "outage", WEEKS[3], None),
                (2, "Spring sale", "promotion", WEEKS[5], WEEKS[6] + timedelta(days=2)))
    fig = charts.trend(series([0.9] * 12), title="x", unit="percent", events=ev)
    assert event_shapes(fig) == {"Payment gateway outage": ("line", WEEKS[3], WEEKS[3]),
                                 "Spring sale": ("rect", WEEKS[5], WEEKS[6] + timedelta(days=3))}
    labels = {a.text: a.hovertext for a in fig.layout.annotations if a.text.startswith("◆")}
    assert labels == {"◆ Payment gateway…": "<b>Payment gateway outage</b> (outage)<br>27 Jan 2025<br>client acme",
                      "◆ Spring sale": "<b>Spring sale</b> (promotion)<br>10 Feb – 19 Feb 2025<br>client acme"}
    assert all(s.fillcolor in (charts.EVENT_COLOUR, None) for s in fig.layout.shapes
               if (s.name or "").startswith("event: "))


def test_only_events_inside_the_weeks_drawn_are_marked_and_at_most_five():
    ev = events(*[(i + 1, f"e{i}", "holiday", WEEKS[0] + timedelta(weeks=i), None) for i in range(8)],
                (9, "before", "outage", WEEKS[0] - timedelta(weeks=10), None))
    fig = charts.trend(series([1.0] * 12), title="x", unit="count", events=ev)
    assert set(event_shapes(fig)) == {"e0", "e1", "e2", "e3", "e4"}  # ranks 1-5; 'before' is outside the window
    assert len(charts.trend(series([1.0] * 12), title="x", unit="count", events=ev, max_events=2).layout.shapes) == 3


def test_labels_of_close_events_go_to_separate_rows_and_the_plot_makes_room():
    ev = events((1, "a", "launch", WEEKS[2], None), (2, "b", "outage", WEEKS[3], None),
                (3, "c", "launch", WEEKS[25], None))
    fig = charts.trend(series([1.0] * 30), title="x", unit="count", events=ev)
    rows = {a.text: a.yshift for a in fig.layout.annotations if a.text.startswith("◆")}
    assert rows == {"◆ a": 2, "◆ b": 2 + charts.EVENT_LANE_PX, "◆ c": 2}  # c is 23 weeks after a: a's row again
    assert (fig.layout.margin.t, fig.layout.height) == (40 + 2 * charts.EVENT_LANE_PX, 300 + 2 * charts.EVENT_LANE_PX)
    assert charts.event_lanes([WEEKS[0], WEEKS[1], WEEKS[2], WEEKS[16]]) == [0, 1, 2, 0]


def test_no_events_no_marks():
    fig = charts.trend(series([1.0] * 3), title="x", unit="count", events=events())
    assert len(fig.layout.shapes) == 1 and fig.layout.margin.t == 40


def test_the_sla_chart_marks_events_too():
    frame = pl.DataFrame({"period": WEEKS[:4] * 2, "channel": ["email"] * 4 + ["chat"] * 4, "value": [0.9] * 8,
                          "n": [50] * 8})
    fig = charts.attainment_by(frame, "channel", title="x", events=events((1, "Outage", "outage", WEEKS[2], None)))
    assert event_shapes(fig) == {"Outage": ("line", WEEKS[2], WEEKS[2])}


@pytest.mark.parametrize(("compare", "prior_year", "target_width"), [
    pytest.param("last_week", (True, 1.5), 1.5, id="last-week-draws-both"),
    pytest.param("last_year", (True, 2.5), 1.5, id="last-year-puts-the-prior-year-forward"),
    pytest.param("target", ("legendonly", 1.5), 2.5, id="target-puts-the-target-forward-prior-year-one-click-away"),
])
def test_the_comparison_chooses_the_reference_line(compare, prior_year, target_width):
    s = series([0.9, 0.8], prior=[0.85, 0.85], target=[0.9, 0.9])
    t = traces(charts.trend(s, title="x", unit="percent", reference=charts.REFERENCE_OF_COMPARE[compare]))
    assert ((t["same week last year"].visible if t["same week last year"].visible is not None else True),
            t["same week last year"].line.width) == prior_year
    assert t["target"].line.width == target_width


# --------------------------------------------------------------------------- honest axes, legends and labels (issue 11, defect 13)

MONTHS = [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]


def legend_entries_without_data(fig) -> list[str]:
    """Names in the legend whose trace draws nothing (a legend entry for a line that does not exist)."""
    return [t.name for t in fig.data if t.showlegend is not False and t.name
            and not any(v is not None for v in (t.y if t.y is not None else ()))]


def collapse() -> pl.DataFrame:
    """Email first-response SLA 90 % → 62 % → 88 %, chat steady at 85 %, voice without a first-response target."""
    values = {"email": [0.90, 0.62, 0.88], "chat": [0.85, 0.86, 0.85], "voice": [None, None, None]}
    return pl.DataFrame([{"period": WEEKS[i], "channel": c, "value": v[i], "n": 50 if v[i] is not None else 0}
                         for c, v in values.items() for i in range(3)],
                        schema={"period": pl.Date, "channel": pl.String, "value": pl.Float64, "n": pl.Int64})


@pytest.mark.parametrize("draw", [
    pytest.param(lambda: charts.trend(series([0.9, 0.62, 0.88], target=[0.8] * 3), title="x", unit="percent"),
                 id="weekly-trend"),
    pytest.param(lambda: charts.attainment_by(collapse(), "channel", title="x", target=[0.8] * 3, periods=WEEKS[:3]),
                 id="sla-by-channel"),
    pytest.param(lambda: charts.section_trends(pl.DataFrame({
        "period": WEEKS[:3], "section": ["overall"] * 3, "label": ["Overall"] * 3, "value": [0.9, 0.62, 0.88],
        "n": [20] * 3}), title="x", target=0.8), id="qa-sections"),
])
def test_a_share_axis_is_drawn_around_its_values_so_a_28_point_collapse_is_not_flattened(draw):
    axis = draw().layout.yaxis
    lo, hi = axis.range
    assert 0.45 < lo < 0.62 and 0.90 < hi < 1.05
    assert max(axis.tickvals) <= 1.0 and min(axis.tickvals) >= lo  # labels never past 100 %


def test_a_steady_share_still_gets_a_ten_point_axis_labelled_inside_0_to_100_percent():
    axis = charts.trend(series([0.97, 0.98, 1.0]), title="x", unit="percent").layout.yaxis
    lo, hi = axis.range
    assert hi - lo == pytest.approx(0.1 * (1 + 2 * SHARE_PAD), abs=0.01)
    assert hi > 1.0 and max(axis.tickvals) == 1.0  # a point at 100 % is drawn whole; no label past 100 %


def test_a_point_at_100_percent_is_inside_the_sla_chart_so_it_can_be_clicked():
    """A point on the plot's edge is half drawn and its click lands on the axis's drag handle (found in Chromium)."""
    frame = pl.DataFrame({"period": WEEKS[:3] * 2, "channel": ["chat"] * 3 + ["email"] * 3,
                          "value": [1.0, 0.95, 1.0, 0.8, 0.7, 0.75], "n": [10] * 6})
    lo, hi = charts.attainment_by(frame, "channel", title="x").layout.yaxis.range
    assert lo < 0.7 and hi > 1.0


def test_counts_and_durations_keep_their_zero():
    fig = charts.trend(series([100.0, 120.0]), title="x", unit="count")
    assert fig.layout.yaxis.rangemode == "tozero" and fig.layout.yaxis.range is None


def test_every_shaded_band_has_a_legend_entry():
    ev = events((1, "Spring sale", "promotion", WEEKS[5], WEEKS[6] + timedelta(days=2)))
    fig = charts.trend(series([0.9] * 12), title="x", unit="percent", events=ev)
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 2 and all(s.showlegend and s.name for s in bands)
    assert {s.name for s in bands} == {"last 6 weeks (shaded)", "event: Spring sale"}


def test_an_event_label_near_the_right_edge_ends_at_its_day_instead_of_running_off_the_chart():
    ev = events((1, "Early launch", "launch", WEEKS[1], None), (2, "Late outage", "outage", WEEKS[11], None))
    fig = charts.trend(series([1.0] * 12), title="x", unit="count", events=ev)
    anchors = {a.text: a.xanchor for a in fig.layout.annotations if a.text.startswith("◆")}
    assert anchors == {"◆ Early launch": "left", "◆ Late outage": "right"}


def test_a_line_without_values_gets_no_legend_entry():
    fig = charts.attainment_by(collapse(), "channel", title="x", target=[0.8] * 3, periods=WEEKS[:3])
    assert {t.name for t in fig.data} == {"chat", "email", "contract target"}
    assert legend_entries_without_data(fig) == []


def months_frame(months: int = 3) -> pl.DataFrame:
    """Leavers, attrition and cost per month of MONTHS; a fourth month (May) has no cost invoiced yet."""
    frame = pl.DataFrame({"month": MONTHS, "site": ["manila"] * 3, "cost": [10.0, 12.0, 9.0], "voluntary": [1, 2, 1],
                          "involuntary": [0, 1, 0], "terminations": [1, 3, 1], "headcount": [40.0, 41.0, 40.0],
                          "annualised": [0.3, 0.9, 0.3], "lo": [0.01, 0.02, 0.01], "hi": [0.1, 0.2, 0.1]})
    if months == 4:
        frame = frame.vstack(frame.tail(1).with_columns(pl.lit(date(2026, 5, 1)).alias("month"),
                                                        pl.lit(None, pl.Float64).alias("cost")))
    return frame


@pytest.mark.parametrize(("draw", "frame"), [
    pytest.param(lambda f: charts.stacked_bars(f, x="month", y="cost", split="site", title="x"), months_frame(4),
                 id="cost-bars-and-a-month-not-invoiced-yet"),
    pytest.param(lambda f: charts.leavers_bars(f, title="x"), months_frame(), id="leavers"),
    pytest.param(lambda f: charts.attrition_chart(f, title="x"), months_frame(), id="attrition"),
])
def test_month_ticks_name_the_months_of_the_bars_and_the_axis_stops_at_the_last_month_with_data(draw, frame):
    fig = draw(frame)
    assert list(fig.layout.xaxis.ticktext) == ["Feb 2026", "Mar 2026", "Apr 2026"]
    assert list(fig.layout.xaxis.tickvals) == MONTHS
    assert MONTHS[-1] < fig.layout.xaxis.range[1] < date(2026, 5, 1)


def test_the_weekly_axis_ends_at_the_last_week_with_a_value():
    fig = charts.trend(series([0.9, 0.8, 0.85, None, None], target=[0.9] * 5), title="x", unit="percent")
    assert fig.layout.xaxis.range[1] < WEEKS[3]
    assert list(traces(fig)["this year"].x) == WEEKS[:3]


def test_the_sla_axis_ends_at_the_last_week_with_attainment():
    frame = collapse().vstack(pl.DataFrame({"period": [WEEKS[3]], "channel": ["email"], "value": [None], "n": [0]},
                                           schema=collapse().schema))
    fig = charts.attainment_by(frame, "channel", title="x", target=[0.8] * 4, periods=WEEKS[:4])
    assert WEEKS[2] < fig.layout.xaxis.range[1] < WEEKS[3]


def test_every_evaluator_is_named_on_the_calibration_chart():
    ids = [f"qa-site{s}-{e}" for s in range(6) for e in range(1, 4)]
    frame = pl.DataFrame({"evaluator_id": ids, "site_id": [i.rsplit("-", 1)[0] for i in ids],
                          "evaluations": [20] * 18, "offset": [0.01 * (i - 9) for i in range(18)],
                          "lower": [0.01 * (i - 9) - 0.02 for i in range(18)],
                          "upper": [0.01 * (i - 9) + 0.02 for i in range(18)], "flag": [False] * 18})
    fig = charts.calibration(frame, title="x")
    assert list(fig.layout.yaxis.ticktext) == ids
    assert fig.layout.height >= 18 * charts.CALIBRATION_ROW_PX


# --------------------------------------------------------------------------- KPIs comparable only within a channel (defect 8)


def test_a_kpi_comparable_only_within_a_channel_draws_one_line_per_channel_with_a_note():
    """Chat answers in about a minute, email in about an hour: when chat moves to email the pooled median jumps
    from 1 to 25 minutes while neither channel got slower."""
    s = series([60.0, 62.0, 1500.0, 1560.0]).with_columns(
        pl.Series("channel: chat", [58.0, 60.0, 61.0, 59.0]), pl.Series("channel: email", [3500.0, 3600.0, 3550.0, None]))
    fig = charts.trend(s, title="First response time (median)", unit="seconds")
    t = traces(fig)
    assert [name for name, tr in t.items() if tr.visible in (None, True) and tr.showlegend is not False] == [
        "chat", "email"]
    assert t["all channels pooled"].visible == "legendonly"
    assert list(t["chat"].y) == [58.0 / 60, 1.0, 61.0 / 60, 59.0 / 60]
    assert "one line per channel" in fig.layout.title.subtitle.text


def test_a_pooled_kpi_keeps_its_single_line_and_no_note():
    fig = charts.trend(series([0.8, 0.82]), title="CSAT", unit="percent")
    assert traces(fig)["this year"].visible in (None, True) and not fig.layout.title.subtitle.text


def test_the_reviews_first_response_median_chart_is_drawn_per_channel(tiny_ws):
    """acme's email median is 10 × its chat and voice medians in some weeks: the review carries a line per channel."""
    from connectors.store import Scope
    from insights.review import build_review

    review = build_review(tiny_ws, Scope.of(["acme"], "*"), week=date(2025, 3, 3))
    fig = charts.trend(review.series("first_response_time_median"), title="x", unit="seconds")
    shown = {t.name for t in fig.data if t.visible in (None, True) and t.showlegend is not False}
    assert shown == {"chat", "email", "voice"}
    assert {t.name for t in fig.data if t.visible == "legendonly"} == {"all channels pooled", "same week last year"}
    one_channel = build_review(tiny_ws, Scope.of(["acme"], "*"), week=date(2025, 3, 3), filters={"channel": "email"})
    assert "this year" in traces(charts.trend(one_channel.series("first_response_time_median"), title="x",
                                              unit="seconds"))


def test_the_legend_hangs_below_the_axis_labels_however_many_entries_it_has():
    """A legend anchored by its bottom grew up over the plot and the dates as bands and events added rows."""
    ev = events((1, "Spring sale", "promotion", WEEKS[5], WEEKS[6] + timedelta(days=2)),
                (2, "Autumn sale", "promotion", WEEKS[8], WEEKS[9]))
    for fig in (charts.trend(series([0.9] * 12), title="x", unit="percent", events=ev),
                charts.attainment_by(pl.DataFrame({"period": WEEKS[:2], "channel": ["chat", "chat"], "value": [0.9, 0.8],
                                                   "n": [10, 10]}), "channel", title="x")):
        assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0
