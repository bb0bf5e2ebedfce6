"""Forecasts: ETS beats seasonal-naive, intervals cover what they claim, events adjust, SLA at risk is calibrated."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.analyses.forecast import (ForecastError, backtest, backtest_summary, backtest_sla_risk, event_factors,
                               QueueHistory, forecast_report, forecast_series, forecast_volume, history_of,
                               risk_next_week,
                               seasonal_naive, sla_at_risk, sla_risk_backtest)
from insights.metrics.kpis import compute_kpis
from insights.metrics.periods import latest_complete_week
from insights.analyses.staffing import StaffingTarget, weighted_service_level

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


def test_sla_at_risk_on_the_sample_is_not_certain_doom(sample):
    # before the calibration every live queue of the sample read P(miss) = 100 % while they ran 77–98 %
    risk = sla_at_risk(sample, Scope.everything(), paths=200).frame
    assert risk.height >= 8
    assert risk["p_miss"].is_between(0, 1).all() and (risk["fte_needed"].drop_nulls() >= 0).all()
    assert (risk["p_miss"] < 0.99).sum() >= risk.height // 2, risk.select("queue_id", "p_miss")


def test_sla_at_risk_shows_last_weeks_measured_level_beside_each_risk(sample):
    risk = sla_at_risk(sample, Scope.everything(), paths=200)
    last = risk.frame["last_week"].max()
    assert last == risk.week - timedelta(days=7)
    kpi = compute_kpis(sample, Scope.everything(), ["service_level"], grain="week", by=("queue_id",), start=last,
                       end=last + timedelta(days=6)).select("queue_id", pl.col("value").alias("kpi"))
    both = risk.frame.join(kpi, on="queue_id")
    assert both.height == risk.frame.height
    assert both["last_week_service_level"].to_list() == pytest.approx(both["kpi"].to_list())
    assert (both["last_week_met"] == (both["kpi"] >= both["target_share"])).all()


# --------------------------------------------------------------------------- SLA at risk on known synthetic queues

SLOTS_PER_DAY, INTERVAL = 48, 1800.0
OPEN = np.zeros(7 * SLOTS_PER_DAY, dtype=bool)
for _day in range(7):
    OPEN[_day * SLOTS_PER_DAY + 16: _day * SLOTS_PER_DAY + 40] = True  # 08:00–20:00 every day
SHARE = OPEN / OPEN.sum()


def synthetic_queue(name: str, *, agents: float, weeks: int = 20, volume: float = 1000.0, aht: float = 300.0,
                    noise: float = 0.0, seed: int = 0) -> QueueHistory:
    """A queue whose measured level is Erlang C's at its roster (± staffing drift and binomial noise)."""
    rng = np.random.default_rng(seed)
    offered = rng.poisson(volume, weeks).astype(float)
    drift = np.exp(rng.normal(0.0, noise, weeks))  # staffing that moves week to week
    scheduled = np.outer(drift, OPEN * agents)
    truth = np.array([float(weighted_service_level(scheduled[w], offered[w] * SHARE, aht, INTERVAL, 20.0))
                      for w in range(weeks)])
    measured = rng.binomial(offered.astype(int), truth) / offered
    share = np.tile(SHARE, (weeks, 1))
    return history_of(queue_id=name, keys={"client_id": "c", "vendor_id": "v", "site_id": "s", "channel": "voice"},
                      weeks=[date(2026, 1, 5) + timedelta(days=7 * w) for w in range(weeks)], offered=offered,
                      measured=measured, share=share, scheduled=scheduled, aht=np.full(weeks, aht),
                      aht_week=np.full(weeks, aht), interval_seconds=INTERVAL, threshold=20.0)


class RiskCase(NamedTuple):
    agents: float
    low: float
    high: float


@pytest.mark.parametrize("case", [
    pytest.param(RiskCase(agents=3.0, low=0.0, high=0.05), id="comfortably-over-target-is-low"),
    pytest.param(RiskCase(agents=1.7, low=0.95, high=1.0), id="understaffed-is-high"),
])
def test_backtest_on_a_queue_whose_answer_is_known(case):
    h = synthetic_queue("q", agents=case.agents, noise=0.05)
    assert not (h.measured.min() < 0.8 < h.measured.max()), h.measured  # the case is clear-cut: always met or missed
    bt = backtest_sla_risk([h], {"q": StaffingTarget(0.8, 20)}, paths=300)
    assert bt.rows.height == len(h.weeks) - 8
    assert bt.rows["p_miss"].is_between(case.low, case.high).all(), bt.rows["p_miss"].to_list()


def test_backtest_beats_last_week_on_a_queue_that_hovers_at_its_target():
    # Erlang C at 2.4 agents per slot gives about 80 %: each week is a coin toss that last week cannot call
    queues = [synthetic_queue(f"q{s}", agents=2.4, weeks=30, seed=s) for s in range(4)]
    bt = backtest_sla_risk(queues, {h.queue_id: StaffingTarget(0.8, 20) for h in queues}, paths=300)
    brier = dict(bt.brier().select("predictor", "brier").iter_rows())
    assert 0.1 < bt.rows["missed"].mean() < 0.9
    assert brier["SLA at risk (ours)"] < brier["naive: misses if it missed last week"] - 0.1, brier
    assert brier["SLA at risk (ours)"] < brier["base rate (share of queue-weeks missed)"] + 0.03, brier
    calibration = bt.calibration()
    assert calibration["predicted"].to_list() == ["0%–10%", "10%–30%", "30%–50%", "50%–70%", "70%–90%", "90%–100%"]
    assert calibration["forecasts"].sum() == bt.rows.height


def test_sla_at_risk_rises_when_next_weeks_roster_is_cut():
    h = synthetic_queue("q", agents=3.0, noise=0.1)
    risk = risk_next_week(h, len(h.weeks) - 1, StaffingTarget(0.8, 20), paths=400)
    assert risk is not None and 0.5 < risk.factor < 2  # Erlang C at the roster explains this queue
    assert risk.p_miss(StaffingTarget(0.8, 20)) < 0.05
    assert risk.p_miss(StaffingTarget(0.8, 20), scale=0.5) > 0.95


def test_forecast_report_renders_markdown_and_json(sample):
    report = forecast_report(sample, Scope.everything(), weeks=2, by=("client_id", "channel"), paths=200)
    md = report.to_markdown()
    assert "# Volume forecast" in md and "# SLA at risk" in md and "acme · site sp-austin · channel voice" in md
    assert len(report.to_dict()["volume"]) == 20
    # last week's measured level sits beside each risk, on the table and in the JSON
    assert f"| last week ({report.risk.week - timedelta(days=7)}) |" in md
    row = report.risk.frame.row(0, named=True)
    assert f"{row['last_week_service_level']:.1%} ({'met' if row['last_week_met'] else 'missed'})" in md
    assert {"last_week_service_level", "last_week_met", "predicted_service_level"} <= set(report.to_dict()["sla_at_risk"][0])


def test_the_forecast_tables_name_clients_sites_and_queues_as_bpo_toml_does(sample):
    from insights import format

    report = forecast_report(sample, Scope.everything(), weeks=1, by=("client_id", "channel"), paths=100)
    md = report.to_markdown(format.Names.of(sample.config))
    assert "| client | channel |" in md and "| Acme Home | " in md and "client_id" not in md
    assert "Acme Home · site Southpeak Austin · channel voice" in md and "acme-voice-sp-austin" not in md


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_cli_forecast(sample, capsys, fmt):
    from insights.cli import main

    assert main(["forecast", "--workspace", str(sample.path), "--weeks", "1", "--by", "client_id", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert ("Acme Home" in out and "Globex Travel" in out) if fmt == "md" else ("acme" in out and "globex" in out)
    if fmt == "csv":
        assert out.splitlines()[0].startswith("period,client_id,mean")


# --------------------------------------------------------------------------- the target in force each week


@pytest.fixture(scope="module")
def renegotiated(sample, tmp_path_factory) -> tuple[Workspace, date]:
    """The sample with acme's voice service level renegotiated from 80 % to 95 % eight weeks before its end."""
    import shutil

    out = tmp_path_factory.mktemp("renegotiated") / "ws"
    shutil.copytree(sample.path, out)
    ws = Workspace.open(out)
    change = latest_complete_week(ws.read("contact_intervals", Scope.everything())["interval_start"].max().date()) \
        - timedelta(weeks=7)
    old = ws.read("sla_targets", Scope.everything()).filter(pl.col("target_id") == "acme-service_level-voice")
    assert old.height == 1 and old["attainment_target"][0] == 0.8
    ws.upsert("sla_targets", pl.concat([
        old.with_columns(pl.lit(change - timedelta(days=1)).alias("effective_to")),
        old.with_columns(pl.lit(change).alias("effective_from"), pl.lit(0.95).alias("attainment_target"))]))
    return ws, change


def test_the_backtest_judges_each_week_by_the_target_in_force_that_week(renegotiated):
    ws, change = renegotiated
    rows = sla_risk_backtest(ws, Scope.of(["acme"]), paths=50, min_weeks=26).rows
    voice = rows.filter(pl.col("queue_id").str.contains("voice"))
    assert voice.height and voice["week"].min() < change <= voice["week"].max()
    by_week = voice.group_by(pl.col("week") >= change).agg(pl.col("target").unique()).sort("week")
    assert by_week["target"].to_list() == [[0.8], [0.95]]  # was 95 % in every week: the term in force today
    assert (voice["missed"] == (voice["measured"] < voice["target"])).all()


def test_sla_at_risk_of_a_past_week_uses_the_target_in_force_then(renegotiated):
    ws, change = renegotiated
    before = sla_at_risk(ws, Scope.of(["acme"]), paths=50, end=change - timedelta(weeks=3, days=1)).frame
    after = sla_at_risk(ws, Scope.of(["acme"]), paths=50).frame
    voice = pl.col("channel") == "voice"
    assert set(before.filter(voice)["target_share"]) == {0.8} and set(after.filter(voice)["target_share"]) == {0.95}
    assert set(before.filter(voice)["week"]) == {change - timedelta(weeks=3)}
