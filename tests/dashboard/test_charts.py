"""Chart builders: pure Plotly figures with the target line, the prior-year line and the last weeks shaded."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import polars as pl
import pytest

from dashboard import charts

WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(12)]


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
