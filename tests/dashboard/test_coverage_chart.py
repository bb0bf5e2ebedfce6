"""The coverage heatmap: a confident cell is coloured and labelled with its value, a thin one grey with its n."""

from __future__ import annotations

import polars as pl

from dashboard.charts import coverage_heatmap
from insights.view import WEEKDAYS

HOURS = [f"{h:02d}" for h in range(24)]


def cells(**at: dict) -> pl.DataFrame:
    """An empty week, with the cells given as {'tuesday_21': {...}} filled in."""
    rows = []
    for i, day in enumerate(WEEKDAYS):
        for hour in HOURS:
            base = {"weekday": day, "weekday_no": i, "hour": hour, "tickets": 0.0, "contacts": 0.0, "volume": 0.0,
                    "sla": None, "sla_n": 0, "sla_thin": True, "service_level": None, "sl_n": 0, "sl_thin": True,
                    "days": 4, "demand": 0.0, "required": 0.0}
            rows.append({**base, **at.get(f"{day}_{hour}", {})})
    return pl.DataFrame(rows)


GRID = cells(tuesday_21={"volume": 40.0, "tickets": 40.0, "sla": 0.9, "sla_n": 40, "sla_thin": False, "demand": 10.0,
                         "required": 3.0},
             monday_09={"volume": 3.0, "tickets": 3.0, "sla": 2 / 3, "sla_n": 3, "sla_thin": True, "demand": 0.75,
                        "required": None})


def test_a_confident_cell_shows_its_rate_and_a_thin_one_its_n_in_grey():
    fig = coverage_heatmap(GRID, metric="sla", title="t", calendar="America/New_York")
    grey, main, labels = fig.data
    tue, mon = WEEKDAYS.index("tuesday"), WEEKDAYS.index("monday")
    assert main.z[tue][21] == 0.9 and main.text[tue][21] == "90%"
    assert main.z[mon][9] is None and grey.z[mon][9] == 1.0  # not coloured as a rate
    assert labels.text[mon][9] == "n 3"
    assert "thin: too few to judge" in main.customdata[mon][9]


def test_the_axis_and_hover_name_the_calendar():
    fig = coverage_heatmap(GRID, metric="volume", title="t", calendar="America/New_York")
    assert fig.layout.xaxis.title.text == "hour of day (America/New_York)"
    assert "America/New_York" in fig.data[1].hovertemplate


def test_an_hour_without_a_handle_time_is_a_question_mark_not_zero_agents():
    fig = coverage_heatmap(GRID, metric="required", title="t", calendar="UTC")
    mon = WEEKDAYS.index("monday")
    assert fig.data[1].z[mon][9] is None and fig.data[2].text[mon][9] == "?"
    assert fig.data[1].text[WEEKDAYS.index("tuesday")][21] == "3"
