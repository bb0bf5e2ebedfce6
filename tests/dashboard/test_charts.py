"""Chart builders: pure Plotly figures with the target line, the prior-year line and the last weeks shaded."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import polars as pl
import pytest

from dashboard import charts

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
    pytest.param("percent", [0.912, None], ["91.2%", "–"], id="percent"),
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
    """(rank, name, kind, start, end) as insights.events.read_events returns them."""
    return pl.DataFrame([{"rank": r, "event_id": n, "name": n, "kind": k, "start_date": s, "end_date": e,
                          "last_day": e or s, "client_id": "acme", "vendor_id": None, "site_id": None,
                          "channel": None, "description": None} for r, n, k, s, e in rows],
                        schema_overrides={"end_date": pl.Date, "vendor_id": pl.String, "site_id": pl.String,
                                          "channel": pl.String, "description": pl.String})


def event_shapes(fig) -> dict[str, tuple]:
    return {s.name.removeprefix("event: "): (s.type, s.x0, s.x1) for s in fig.layout.shapes if s.name}


def test_a_multi_day_event_is_shaded_and_a_one_day_event_is_a_line_both_labelled_with_name_and_kind():
    ev = events((1, "Payment gateway outage", "outage", WEEKS[3], None),
                (2, "Spring sale", "promotion", WEEKS[5], WEEKS[6] + timedelta(days=2)))
    fig = charts.trend(series([0.9] * 12), title="x", unit="percent", events=ev)
    assert event_shapes(fig) == {"Payment gateway outage": ("line", WEEKS[3], WEEKS[3]),
                                 "Spring sale": ("rect", WEEKS[5], WEEKS[6] + timedelta(days=3))}
    labels = {a.text: a.hovertext for a in fig.layout.annotations if a.text.startswith("◆")}
    assert labels == {"◆ Payment gateway…": "<b>Payment gateway outage</b> (outage)<br>27 Jan 2025<br>client acme",
                      "◆ Spring sale": "<b>Spring sale</b> (promotion)<br>10 Feb – 19 Feb 2025<br>client acme"}
    assert all(s.fillcolor in (charts.EVENT_COLOUR, None) for s in fig.layout.shapes if s.name)


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
