"""Detectors on hand-built series whose truth is known."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from insights.detection import detectors as det
from insights.detection import polarity

MONDAY = date(2026, 1, 5)
RNG = np.random.default_rng(11)


def weeks(k: int) -> list[date]:
    return [MONDAY + timedelta(weeks=i) for i in range(k)]


def proportion(rates: list[float], n: int = 1500, seed: int = 0) -> det.WeeklySeries:
    rng = np.random.default_rng(seed)
    x = rng.binomial(n, rates)
    return det.WeeklySeries.of(weeks(len(rates)), list(x / n), list(x.astype(float)), [n] * len(rates), [n] * len(rates))


@pytest.mark.parametrize(("last", "found"), [
    pytest.param(0.60, True, id="collapse-88-to-60"),
    pytest.param(0.88, False, id="flat"),
])
def test_rate_change_calls_a_real_drop_and_not_noise(last, found):
    r = det.rate_change(proportion([0.88] * 12 + [last]))
    assert r is not None
    assert (r.p_value < 1e-6) is found
    assert r.ci[0] <= r.observed <= r.ci[1] and r.n == 1500


def test_rate_change_on_thin_sample_reports_its_detectable_effect():
    r = det.rate_change(proportion([0.8] * 12, n=41, seed=3))
    assert r.mde > 0.15  # 41 responses cannot show a 2-point change


def test_level_shift_finds_the_shift_week():
    s = proportion([0.80] * 16 + [0.88] * 8, n=400, seed=5)
    r = det.level_shift(s)
    assert r is not None and r.shift_week == weeks(24)[16]
    assert r.delta == pytest.approx(0.08, abs=0.02) and r.p_value < 0.001 and r.weeks_after == 8


def test_level_shift_quiet_without_a_shift():
    assert det.level_shift(proportion([0.80] * 26, n=400, seed=6)) is None


def test_trend_measures_a_drift_per_week():
    base = 3600.0 * 1.015 ** np.arange(20) + RNG.normal(0, 40, 20)
    s = det.WeeklySeries.of(weeks(20), list(base), n=[300] * 20, kind="mean")
    r = det.trend(s)
    assert r.p_value < 0.01 and r.slope_lo < r.slope < r.slope_hi
    assert r.total_change == pytest.approx(3600 * (1.015 ** 19 - 1), rel=0.2)


@pytest.mark.parametrize(("x", "n", "target", "certain"), [
    pytest.param(700, 1000, 0.85, True, id="clear-miss"),
    pytest.param(41, 50, 0.85, False, id="within-noise"),
])
def test_target_miss_with_wilson_interval(x, n, target, certain):
    r = det.target_miss(x, n, target)
    assert r is not None and r.certain is certain and r.ci[0] < x / n < r.ci[1]


def test_target_met_is_no_miss():
    assert det.target_miss(900, 1000, 0.85) is None


def test_peer_outlier_is_mix_adjusted():
    # site C looks bad only because it handles the hard stratum; B is bad on the same work
    strata = {
        "A": {"easy": (900, 1000), "hard": (140, 200)},
        "B": {"easy": (800, 1000), "hard": (100, 200)},
        "C": {"easy": (180, 200), "hard": (700, 1000)},
        "D": {"easy": (905, 1000), "hard": (142, 200)},
        "E": {"easy": (898, 1000), "hard": (139, 200)},
        "F": {"easy": (902, 1000), "hard": (141, 200)},
    }
    x = [sum(v[0] for v in s.values()) for s in strata.values()]
    n = [sum(v[1] for v in s.values()) for s in strata.values()]
    found = {o.unit: o for o in det.peer_outlier(list(strata), x, n, strata=strata, limit_z=2.0)}
    assert "B" in found and found["B"].adjusted_delta < -0.05
    assert "C" not in found  # its crude rate is the lowest, but on the peers' mix it is like them
    crude = {o.unit: o for o in det.peer_outlier(list(strata), x, n, limit_z=2.0)}
    assert "C" in crude and crude["C"].delta < -0.05


def test_first_event_after_a_quiet_history_is_surprising_but_not_impossible():
    r = det.small_count_rate([0] * 16 + [1, 0, 0, 0], [40.0] * 20, weeks(20))
    assert r.count == 1 and 0.0 < r.p_value < 1.0  # half an event of prior: p of one leaver is no longer 0
    assert r.expected_count == pytest.approx(0.5 / 640 * 160)


def test_backtest_replays_the_weekly_z_on_past_weeks_only():
    s = proportion([0.88] * 30 + [0.40], seed=4)  # the review week's collapse must not enter its own spread
    z = det.backtest(s, baseline_weeks=8, history_weeks=26)
    assert len(z) == 26 and np.all(np.abs(z) < 4)
    assert 0.6 < float(np.sqrt(np.mean(z * z))) < 1.6  # binomial weeks: z spread about 1


def test_backtest_spread_grows_with_week_to_week_wander():
    rng = np.random.default_rng(5)
    calm = det.backtest(proportion([0.88] * 31, seed=6))
    wander = det.backtest(proportion(list(0.88 + rng.normal(0, 0.03, 31)), seed=6))
    assert np.sqrt(np.mean(wander ** 2)) > 2 * np.sqrt(np.mean(calm ** 2))


def test_backtest_on_means_is_the_deviation_from_the_trailing_mean():
    s = det.WeeklySeries.of(weeks(12), [100.0] * 10 + [130.0, 100.0], n=[50] * 12, kind="mean")
    d = det.backtest(s, baseline_weeks=4, history_weeks=10)
    assert d.tolist() == pytest.approx([0.0] * 6 + [30.0])  # past weeks 4..10; week 10 jumps by 30


def test_small_count_rate_with_exposure():
    counts = [1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 3, 2, 3, 2]
    r = det.small_count_rate(counts, [175.0] * 20, weeks(20))
    assert r.count == 10 and r.p_value < 0.001 and r.ratio > 5
    assert r.ci[0] < r.rate < r.ci[1]


def test_volume_anomaly_on_a_spike_and_not_on_a_normal_week():
    days = [MONDAY + timedelta(days=i) for i in range(16 * 7)]
    rng = np.random.default_rng(4)
    weekday = np.array([1.3, 1.1, 1.0, 1.0, 0.9, 0.7, 0.6])
    mu = 200 * weekday[np.arange(len(days)) % 7]
    counts = rng.poisson(mu).astype(float)
    normal = det.volume_anomaly(counts, days, days[-7])
    assert normal is not None and normal.p_value > 0.01
    counts[-7:] *= 1.6
    spike = det.volume_anomaly(counts, days, days[-7])
    assert spike.p_value < 1e-6 and spike.robust_z > 4 and spike.delta > 0


def test_missing_days_and_denominator_zero():
    daily = {MONDAY + timedelta(days=i): 100.0 for i in range(9 * 7)}
    week = MONDAY + timedelta(weeks=8)
    del daily[week + timedelta(days=2)]
    issue = det.missing_days(daily, week)
    assert issue.kind == "missing_days" and issue.days == (week + timedelta(days=2),)
    s = det.WeeklySeries.of(weeks(9), [0.9] * 8 + [None], [90] * 8 + [0], [100] * 8 + [0])
    assert det.denominator_zero(s).kind == "denominator_zero"


@pytest.mark.parametrize(("direction", "delta", "expected"), [
    pytest.param("lower_is_better", +30.0, "bad", id="AHT-up-is-bad"),
    pytest.param("lower_is_better", -30.0, "good", id="AHT-down-is-good"),
    pytest.param("higher_is_better", +0.05, "good", id="CSAT-up-is-good"),
    pytest.param("higher_is_better", -0.05, "bad", id="CSAT-down-is-bad"),
    pytest.param("neutral", +100.0, "neutral", id="volume-is-neutral"),
])
def test_direction_awareness(direction, delta, expected):
    assert polarity(direction, delta) == expected


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (21, 23, 24, 25, 27)])
def test_window_change_shows_a_sustained_change_no_single_week_can(seed):
    s = proportion([0.80] * 30 + [0.88] * 3, n=150, seed=seed)  # +8 points for 3 weeks of 150 answers
    weekly = det.rate_change(s)
    window = det.window_change(s, weeks=3)
    assert window is not None and window.first_week == weeks(33)[30] and window.weeks == 3
    assert window.p_value < 0.02 and window.p_value < weekly.p_value / 3
    assert window.delta == pytest.approx(0.08, abs=0.04)
    assert window.ci[0] <= window.delta <= window.ci[1] and window.n == 450


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (31, 32, 33)])
def test_window_change_quiet_on_flat_noise(seed):
    r = det.window_change(proportion([0.80] * 33, n=150, seed=seed), weeks=3)
    assert r is not None and r.p_value > 0.01


def test_window_change_widens_for_autocorrelated_weeks():
    rng = np.random.default_rng(41)
    wander = np.zeros(40)
    for i in range(1, 40):  # AR(1) weekly wander of the true rate, ρ = 0.8
        wander[i] = 0.8 * wander[i - 1] + rng.normal(0, 0.01)
    s = proportion(list(0.8 + wander), n=3000, seed=42)
    r = det.window_change(s, weeks=4)
    assert r is not None and r.rho > 0.3 and "ρ" in r.test


def test_window_change_on_means_uses_the_weekly_spread():
    y = 600 + np.random.default_rng(51).normal(0, 12, 30)
    y[-3:] += 30  # +30 s for three weeks: 2.5 σ a week, 4 σ over the window
    r = det.window_change(det.WeeklySeries.of(weeks(30), list(y), n=[200] * 30, kind="mean"), weeks=3)
    assert r.delta == pytest.approx(30, abs=12) and r.p_value < 0.01
