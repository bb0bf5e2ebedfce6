"""insights.detection.stats against reference values (statsmodels, scipy, published tables)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from insights.detection import stats


@pytest.mark.parametrize("p", [
    pytest.param([0.01, 0.04, 0.03, 0.2, 0.5], id="mixed"),
    pytest.param([0.001] * 4, id="all-small"),
    pytest.param([0.9, 0.8, 0.04], id="one-small"),
])
def test_benjamini_hochberg_matches_statsmodels(p):
    assert stats.benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])


@pytest.mark.parametrize(("x", "n"), [pytest.param(41, 50, id="high"), pytest.param(3, 200, id="rare"),
                                      pytest.param(0, 30, id="zero")])
def test_wilson_interval_matches_statsmodels(x, n):
    assert stats.wilson_interval(x, n) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-12)


def test_exact_poisson_interval_matches_garwood_table():
    assert stats.poisson_interval(5) == pytest.approx((1.6235, 11.6683), abs=1e-4)
    assert stats.poisson_interval(0, 10) == pytest.approx((0.0, 0.36889), abs=1e-5)


def test_poisson_test_tails():
    assert stats.poisson_test(10, 3.0, "greater") == pytest.approx(sps.poisson.sf(9, 3.0))
    assert stats.poisson_test(0, 3.0, "less") == pytest.approx(np.exp(-3.0))


def test_binomial_score_test_and_laney_widening():
    plain = stats.binomial_score_test(80, 100, 0.9)
    assert plain.statistic == pytest.approx((0.8 - 0.9) / np.sqrt(0.09 / 100))
    wide = stats.binomial_score_test(80, 100, 0.9, sigma_z=2.0)
    assert wide.statistic == pytest.approx(plain.statistic / 2) and wide.p_value > plain.p_value


def test_laney_sigma_z_is_one_for_binomial_weeks_and_large_for_overdispersed_ones():
    rng = np.random.default_rng(1)
    n = np.full(60, 2000)
    assert stats.laney_sigma_z(rng.binomial(n, 0.9), n) < 1.15
    p = np.clip(0.9 + rng.normal(0, 0.02, 60), 0, 1)
    assert stats.laney_sigma_z(rng.binomial(n, p), n) > 2.0


def test_mann_kendall_and_sen_slope():
    y = [1.0, 2.0, 3.5, 3.0, 5.0, 6.0, 7.5, 8.0]
    mk = stats.mann_kendall(y)
    assert mk.s == 26 and mk.var_s == pytest.approx(8 * 7 * 21 / 18)
    assert mk.p_value < 0.01 and mk.tau == pytest.approx(26 / 28)
    line = stats.sen_slope([2.0 + 0.5 * t for t in range(12)])
    assert (line.slope, line.intercept) == pytest.approx((0.5, 2.0))
    noisy = stats.sen_slope(np.arange(20) * 0.3 + np.random.default_rng(2).normal(0, 1, 20))
    assert noisy.lo < noisy.slope < noisy.hi


def test_no_trend_in_noise():
    assert stats.mann_kendall(np.random.default_rng(3).normal(size=30)).p_value > 0.05


def test_cusum_finds_a_step_and_stays_quiet_without_one():
    z = np.r_[np.zeros(10), np.full(6, 2.0)]
    c = stats.cusum(z)
    assert (c.direction, c.change) == (1, 10) and c.alarm == 13
    assert stats.cusum(np.zeros(30)).alarm is None


def test_minimum_detectable_effect_of_41_csat_responses():
    # the brief's example: 41 responses around 80 % cannot show less than ~22 points
    base = (1.959964 + 0.841621) * np.sqrt(0.8 * 0.2 * (1 / 41 + 1 / 328))
    assert stats.minimum_detectable_effect(0.8, 41, n0=328) == pytest.approx(base, rel=1e-5)
    assert stats.minimum_detectable_effect(0.8, 41, n0=328, sigma_z=1.2) == pytest.approx(0.22, abs=0.005)


def test_welch_matches_scipy():
    a, b = [0.80, 0.82, 0.79, 0.81, 0.80, 0.78], [0.86, 0.88, 0.87]
    r = stats.welch_test(a, b)
    ref = sps.ttest_ind(b, a, equal_var=False)
    assert (r.statistic, r.p_value) == pytest.approx((ref.statistic, ref.pvalue))


def test_negative_binomial_tail_is_wider_than_poisson():
    assert stats.nb_tail(150, 100, 0.0) < stats.nb_tail(150, 100, 0.05)
    assert stats.nb_tail(100, 100, 0.0) > 0.9


@pytest.mark.parametrize("seed", [pytest.param(1, id="noise"), pytest.param(2, id="other-noise")])
def test_lag1_autocorrelation_matches_statsmodels_acf(seed):
    from statsmodels.tsa.stattools import acf

    y = np.cumsum(np.random.default_rng(seed).normal(size=40)) * 0.3 + np.random.default_rng(seed + 9).normal(size=40)
    assert stats.lag1_autocorrelation(y) == pytest.approx(acf(y, nlags=1)[1], abs=1e-12)


@pytest.mark.parametrize(("k", "rho"), [
    pytest.param(1, 0.6, id="one-week"),
    pytest.param(3, 0.0, id="independent"),
    pytest.param(3, 0.5, id="ar1-half"),
    pytest.param(6, 0.3, id="six-weeks"),
])
def test_window_mean_inflation_is_the_ar1_variance_of_a_k_week_mean(k, rho):
    cov = rho ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))  # AR(1) correlation matrix
    assert stats.window_mean_inflation(k, rho) == pytest.approx(cov.sum() / k, abs=1e-12)


def test_window_mean_inflation_never_shrinks_below_independence():
    assert stats.window_mean_inflation(4, -0.4) == 1.0
    assert stats.window_mean_inflation(3, 0.5) == pytest.approx(1 + 2 * (2 / 3 * 0.5 + 1 / 3 * 0.25))


@pytest.mark.parametrize(("after", "t"), [
    pytest.param([0.30], -0.10 / (np.sqrt(0.001 / 4) * np.sqrt(1 + 1 / 5)), id="one-week-prediction"),
    pytest.param([0.30, 0.32], -0.09 / (np.sqrt(0.001 / 4) * np.sqrt(1 / 2 + 1 / 5)), id="two-week-window"),
    pytest.param([0.40], 0.0, id="no-shift"),
])
def test_share_shift_test_is_a_prediction_t_against_the_baseline_weeks(after, t):
    before = [0.40, 0.42, 0.38, 0.41, 0.39]  # mean 0.40, sd sqrt(0.001 / 4)
    got_t, got_p = stats.share_shift_test(before, after)
    assert got_t == pytest.approx(t, abs=1e-9)
    assert got_p == pytest.approx(2 * sps.t.sf(abs(t), 4), abs=1e-12)


@pytest.mark.parametrize(("values", "expected"), [
    pytest.param([3.0, -4.0], 3.5355339, id="3-4-5"),
    pytest.param([2.0, float("nan"), -2.0, float("inf")], 2.0, id="non-finite-ignored"),
    pytest.param([], 0.0, id="empty"),
])
def test_rms_is_the_spread_around_zero_bias_included(values, expected):
    assert stats.rms(values) == pytest.approx(expected)


def test_robust_rms_estimates_sigma_of_normal_values_and_ignores_a_few_wild_ones():
    x = np.random.default_rng(3).normal(0.0, 2.0, 4000)
    assert stats.robust_rms(x) == pytest.approx(2.0, rel=0.05)
    wild = np.r_[x[:200], [80.0, -95.0, 120.0]]  # three past anomalies among 200 ordinary weeks
    assert stats.robust_rms(wild) == pytest.approx(2.0, rel=0.2)
    assert stats.rms(wild) > 5.0  # the plain RMS is dragged up by them: why the fallback is the robust one
    assert stats.robust_rms([]) == 0.0
