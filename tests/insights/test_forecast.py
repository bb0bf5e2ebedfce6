"""Forecasts: ETS beats seasonal-naive, intervals cover what they claim, events adjust, SLA at risk responds to staffing."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from connectors.workspace import Scope, Workspace
from insights.analyses.forecast import (ForecastError, backtest, backtest_summary, event_factors, forecast_report,
                               forecast_series, forecast_volume, seasonal_naive, sla_at_risk)

WEEKDAY = np.array([1.3, 1.15, 1.05, 1.0, 0.95, 0.65, 0.55])


def seasonal_series(days: int, seed: int = 3, level: float = 120.0) -> np.ndarray:
    """Daily counts: weekly pattern, slow growth, a drifting level and Poisson noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    drift = np.exp(np.cumsum(rng.normal(0, 0.01, days)))
    return rng.poisson(level * (1 + 0.002 * t) * WEEKDAY[t % 7] * drift).astype(float)


def test_seasonal_naive_repeats_the_last_season():
    y = np.arange(1, 15, dtype=float)
    assert list(seasonal_naive(y, 7, 9)) == [8, 9, 10, 11, 12, 13, 14, 8, 9]
    assert list(seasonal_naive(y[:3], 7, 2)) == [3, 3]


def test_forecast_paths_give_mean_and_nested_intervals():
    f = forecast_series(seasonal_series(120), season=7, horizon=14, paths=400, seed=1)
    assert f.paths.shape == (400, 14)
    assert np.all(f.lower[0.95] <= f.lower[0.8]) and np.all(f.lower[0.8] <= f.mean) and np.all(f.mean <= f.upper[0.8])
    assert np.all(f.upper[0.8] <= f.upper[0.95])
    assert "season 7" in f.method


@pytest.fixture(scope="module")
def synthetic_backtest() -> pl.DataFrame:
    # three independent series pooled: one series' coverage swings by ±10 points on its own
    errors = pl.concat([backtest(seasonal_series(168, seed=s), season=7, horizon=7, min_train=84, step=4, paths=300)
                        for s in (3, 4, 5)])
    return backtest_summary(errors)


def test_ets_beats_seasonal_naive_on_a_seasonal_series(synthetic_backtest):
    s = synthetic_backtest
    assert s["wape"].sum() / s["wape_naive"].sum() < 0.9, s
    assert (s["wape"] < s["wape_naive"]).all()


def test_80_percent_interval_covers_about_80_percent(synthetic_backtest):
    n = synthetic_backtest["n"].sum()
    cover80 = (synthetic_backtest["coverage80"] * synthetic_backtest["n"]).sum() / n
    cover95 = (synthetic_backtest["coverage95"] * synthetic_backtest["n"]).sum() / n
    assert 0.70 <= cover80 <= 0.90, synthetic_backtest
    assert cover95 >= cover80 and cover95 >= 0.85


def test_event_factor_measures_a_holiday_dip():
    y = seasonal_series(140, level=200)
    mask = np.zeros(140, dtype=bool)
    mask[[30, 65, 100]] = True
    y[mask] *= 0.5
    f = event_factors(y, {"holiday": mask})
    assert f["holiday"] == pytest.approx(0.5, abs=0.08)


def test_future_event_factor_scales_the_forecast():
    y = seasonal_series(120)
    factor = np.ones(7)
    factor[3] = 0.5
    plain = forecast_series(y, season=7, horizon=7, paths=300, seed=2)
    adjusted = forecast_series(y, season=7, horizon=7, paths=300, seed=2, future_factor=factor)
    assert adjusted.mean[3] == pytest.approx(plain.mean[3] * 0.5)
    assert adjusted.mean[2] == pytest.approx(plain.mean[2])


def test_too_short_a_history_is_refused():
    with pytest.raises(ForecastError, match="too few to forecast"):
        forecast_series(np.ones(5), season=7, horizon=3)


# --------------------------------------------------------------------------- on the sample workspace


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    from sample_data.generator import generate

    out: Path = tmp_path_factory.mktemp("forecast") / "ws"
    generate(out, weeks=40, scale=0.05)
    return Workspace.open(out)


def test_weekly_forecast_per_queue_starts_after_the_last_complete_week(sample):
    fc = forecast_volume(sample, Scope.everything(), weeks=3, by=("client_id", "channel"), paths=200)
    rows = fc.forecast_only()
    assert rows.height == 3 * 10  # 2 clients x 5 channels x 3 weeks
    last_actual = fc.frame.filter(pl.col("kind") == "actual")["period"].max()
    assert rows["period"].min() == last_actual + timedelta(days=7)
    assert all(d.weekday() == 0 for d in rows["period"])
    assert (rows["lo80"] <= rows["mean"]).all() and (rows["mean"] <= rows["hi80"]).all()


def test_daily_forecast_and_scope(sample):
    fc = forecast_volume(sample, Scope.of(["acme"]), weeks=1, grain="day", by=("client_id",), paths=200)
    rows = fc.forecast_only()
    assert rows.height == 7 and set(rows["client_id"]) == {"acme"}


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param(dict(weeks=0), "at least one week", id="no-weeks"),
    pytest.param(dict(by=("colour",)), "not a tickets column", id="unknown-dimension"),
    pytest.param(dict(grain="hour"), "unknown grain", id="unknown-grain"),
])
def test_bad_forecast_requests_say_what_to_fix(sample, kwargs, message):
    with pytest.raises(ForecastError, match=message):
        forecast_volume(sample, Scope.everything(), **kwargs)


def test_sla_at_risk_rises_when_the_schedule_is_cut(sample, tmp_path):
    base = sla_at_risk(sample, Scope.everything(), paths=200).frame
    assert base["p_miss"].is_between(0, 1).all() and (base["fte_needed"] >= 0).all()
    # cut the latest week's on-queue time at sp-austin to a tenth: its voice queues must be at risk
    ws_dir = tmp_path / "cut"
    shutil.copytree(sample.path, ws_dir)
    ws = Workspace.open(ws_dir)
    roster = ws.read("staffing_roster", Scope.everything())
    last = roster["date"].max()
    cut = roster.filter((pl.col("site_id") == "sp-austin") & (pl.col("date") > last - timedelta(days=7))).with_columns(
        pl.col("on_queue_seconds") * 0.1, pl.col("updated_at") + pl.duration(days=30))
    ws.upsert("staffing_roster", cut)
    risk = sla_at_risk(ws, Scope.everything(), paths=200).frame
    austin = risk.filter(pl.col("site_id") == "sp-austin")
    assert austin["p_miss"].min() > 0.5, austin
    assert (austin["fte_needed"] > 0).all()
    others = risk.filter(pl.col("site_id") != "sp-austin").join(base, on="queue_id", suffix="_base")
    assert (others["p_miss"] == others["p_miss_base"]).all()


def test_forecast_report_renders_markdown_and_json(sample):
    report = forecast_report(sample, Scope.everything(), weeks=2, by=("client_id", "channel"), paths=200)
    md = report.to_markdown()
    assert "# Volume forecast" in md and "# SLA at risk" in md and "acme-voice-sp-austin" in md
    assert len(report.to_dict()["volume"]) == 20


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_cli_forecast(sample, capsys, fmt):
    from insights.cli import main

    assert main(["forecast", "--workspace", str(sample.path), "--weeks", "1", "--by", "client_id", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "acme" in out and "globex" in out
    if fmt == "csv":
        assert out.splitlines()[0].startswith("period,client_id,mean")
