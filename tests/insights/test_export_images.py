"""The exports' matplotlib trend images draw a KPI as the dashboard does: honest axes, named bands, whole labels."""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import polars as pl
import pytest

from insights.export import images

WEEKS = [date(2025, 1, 6) + timedelta(weeks=i) for i in range(12)]


def series(values: list[float | None]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame({"period": WEEKS[:n], "value": values, "n": [100] * n, "prior_year": [None] * n,
                         "target": [0.8] * n},
                        schema={"period": pl.Date, "value": pl.Float64, "n": pl.Int64, "prior_year": pl.Float64,
                                "target": pl.Float64})


def events(*rows) -> pl.DataFrame:
    return pl.DataFrame([{"rank": i + 1, "event_id": n, "name": n, "kind": "outage", "start_date": s, "end_date": e,
                          "last_day": e or s, "client_id": "acme", "vendor_id": None, "site_id": None, "channel": None,
                          "description": None} for i, (n, s, e) in enumerate(rows)],
                        schema_overrides={"end_date": pl.Date, "vendor_id": pl.String, "site_id": pl.String,
                                          "channel": pl.String, "description": pl.String})


@pytest.fixture
def figure():
    made = []

    def draw(s: pl.DataFrame, unit: str = "percent", ev: pl.DataFrame | None = None):
        fig = images._figure(s, title="x", unit=unit, target=None, width=6.4, height=3.2, events=ev)
        made.append(fig)
        return fig.axes[0]
    yield draw
    for fig in made:
        plt.close(fig)


def test_a_share_axis_is_drawn_around_its_values_so_a_collapse_shows(figure):
    lo, hi = figure(series([0.90, 0.62, 0.88])).get_ylim()
    assert 45 < lo < 62 and 90 < hi < 105


def test_counts_keep_their_zero(figure):
    assert figure(series([100.0, 120.0]), unit="count").get_ylim()[0] == 0


def test_the_axis_ends_at_the_last_week_with_a_value(figure):
    ax = figure(series([0.9, 0.8, 0.85, None, None]))
    assert mdates.num2date(ax.get_xlim()[1]).date() < WEEKS[3]


def test_a_shaded_event_has_a_legend_entry_and_a_late_label_ends_at_its_day(figure):
    ax = figure(series([0.9] * 12), ev=events(("Sale", WEEKS[2], WEEKS[3]), ("Late outage", WEEKS[11], None)))
    assert "event: Sale" in ax.get_legend_handles_labels()[1]
    anchors = {t.get_text(): t.get_horizontalalignment() for t in ax.texts if t.get_text().startswith("◆")}
    assert anchors == {"◆ Sale": "left", "◆ Late outage": "right"}


def test_a_kpi_comparable_only_within_a_channel_is_drawn_per_channel_with_a_note(figure):
    s = series([60.0, 62.0, 1500.0]).with_columns(pl.Series("channel: chat", [58.0, 60.0, 61.0]),
                                                  pl.Series("channel: email", [3500.0, 3600.0, 3550.0]))
    ax = figure(s, unit="seconds")
    labels = ax.get_legend_handles_labels()[1]
    assert "chat" in labels and "email" in labels and "this year" not in labels
    assert any(t.get_text().startswith("one line per channel") for t in ax.texts)
