"""Detectors: one function per kind of finding, over one segment's series, returning a frozen result.

Each detector takes plain arrays (weekly values with their numerators, denominators and n, or a
daily count series) and returns a result dataclass with the numbers an insight needs, or None
when the series is too short to judge.  The engine runs them over every segment, adjusts every
p-value of the run together (Benjamini–Hochberg) and decides what is worth a sentence.

| detector | KPI kind | method |
|---|---|---|
| `rate_change` | proportions, net scores, means, quantiles | week vs trailing baseline; binomial score test (proportions) or two-sample multinomial z test (net scores: NPS) widened by the σ_z of the segment's past weeks, or the spread of the past weeks' deviations (means) |
| `volume_anomaly` | counts (daily) | robust STL (period 7) on the history, MAD-scaled weekly residual, negative-binomial tail |
| `level_shift` | any weekly series | CUSUM on standardised values, confirmed by a pooled pre/post test; the shift week |
| `trend` | any weekly series | Mann–Kendall (lag-1 autocorrelation corrected) with Sen's slope and interval |
| `target_miss` | proportions | Wilson interval vs the contract target |
| `peer_outlier` | proportions | funnel plot with additive overdispersion (Spiegelhalter), then direct standardisation over strata |
| `small_count_rate` | rare events with exposure | exact Poisson test and interval, trailing window vs history |
| `data_quality` | daily activity | missing days, a denominator that drops to zero, duplicate ids, late rows |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Sequence

import numpy as np

from insights.detection import stats

Kind = Literal["proportion", "net_score", "mean"]
WEEKLY_KINDS: tuple[str, ...] = ("proportion", "net_score", "mean")  # the kinds judged on a weekly series
NET_TEST = "two-sample multinomial z test of NPS (promoters − detractors)"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class WeeklySeries:
    """One segment's weekly KPI series, oldest first (the last element is the week under review).

    A net score (kind "net_score", NPS) also carries each week's answers for and against (`positive`,
    `negative`: promoters, detractors) out of `denominator` answers, and `points`, the score of a sample
    of promoters only (its value is points × (positive − negative) / denominator).
    """

    periods: tuple[date, ...]
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    n: np.ndarray
    kind: Kind = "proportion"
    positive: np.ndarray | None = None
    negative: np.ndarray | None = None
    points: float = 1.0

    @classmethod
    def of(cls, periods: Sequence[date], value: Sequence[float | None], numerator: Sequence[float | None] | None = None,
           denominator: Sequence[float | None] | None = None, n: Sequence[float | None] | None = None,
           kind: Kind = "proportion", *, positive: Sequence[float | None] | None = None,
           negative: Sequence[float | None] | None = None, points: float = 1.0) -> "WeeklySeries":
        """Build from lists (None becomes NaN for values, 0 for counts)."""
        def arr(xs: Sequence[float | None] | None, fill: float) -> np.ndarray:
            if xs is None:
                return np.full(len(periods), fill)
            return np.array([fill if x is None else float(x) for x in xs], dtype=float)

        v = arr(value, np.nan)
        d = arr(denominator, 0.0) if denominator is not None else np.where(np.isfinite(v), 1.0, 0.0)
        num = arr(numerator, 0.0) if numerator is not None else np.nan_to_num(v) * d
        net = kind == "net_score"
        return cls(tuple(periods), v, num, d, arr(n, 0.0) if n is not None else d.copy(), kind,
                   positive=arr(positive, 0.0) if net else None, negative=arr(negative, 0.0) if net else None,
                   points=points)

    def take(self, idx: Sequence[int] | np.ndarray) -> "WeeklySeries":
        """The weeks at positions `idx` (in that order), every array cut alike."""
        keep = np.asarray(idx, dtype=int)
        return WeeklySeries(tuple(self.periods[i] for i in keep), self.value[keep], self.numerator[keep],
                            self.denominator[keep], self.n[keep], self.kind,
                            None if self.positive is None else self.positive[keep],
                            None if self.negative is None else self.negative[keep], self.points)

    def net(self, idx: Sequence[int] | np.ndarray) -> tuple[float, float, float]:
        """(answers for, answers against, answers) pooled over the weeks `idx` of a net score."""
        assert self.positive is not None and self.negative is not None, "a net score's series carries its answers"
        keep = np.asarray(idx, dtype=int)
        return float(self.positive[keep].sum()), float(self.negative[keep].sum()), float(self.denominator[keep].sum())

    def __len__(self) -> int:
        return len(self.periods)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RateChange:
    """The week against its baseline: observed, expected, change, interval, test and detectable effect."""

    observed: float
    expected: float
    delta: float
    ci: tuple[float, float]
    n: int
    n_baseline: int
    baseline_weeks: int
    baseline: str
    z: float
    p_value: float
    sigma: float  # Laney σ_z (proportions) or the per-record sigma (means)
    mde: float
    test: str


@dataclass(frozen=True)
class VolumeAnomaly:
    """The week's count against its robust-STL expectation."""

    observed: float
    expected: float
    delta: float
    lo: float
    hi: float
    robust_z: float
    p_value: float
    dispersion: float
    test: str = "robust STL (period 7) + negative binomial fitted on the past weeks' surprises"


@dataclass(frozen=True)
class LevelShift:
    """A sustained change: the first shifted week, the pooled levels before and after, and the confirming test."""

    shift_index: int
    shift_week: date
    before: float
    after: float
    delta: float
    ci: tuple[float, float]
    n_before: int
    n_after: int
    weeks_after: int
    z: float
    p_value: float
    alarm_week: date | None = None  # when the CUSUM first signalled: the week the shift became news
    test: str = "CUSUM (k=0.5, h=5) + Welch t test of weekly values before/after, Bonferroni over the possible cuts"


@dataclass(frozen=True)
class Trend:
    """A monotone drift over the window: Mann–Kendall and Sen's slope (per week) with its interval."""

    weeks: int
    first_week: date
    slope: float
    slope_lo: float
    slope_hi: float
    start_level: float
    end_level: float
    total_change: float
    tau: float
    z: float
    p_value: float
    test: str = "Mann–Kendall (lag-1 corrected) + Sen slope"


@dataclass(frozen=True)
class TargetMiss:
    """The week's rate against the contract target, with its Wilson interval."""

    observed: float
    target: float
    delta: float
    ci: tuple[float, float]
    n: int
    z: float
    p_value: float  # one-sided: the true rate is on the wrong side of the target
    certain: bool  # the whole interval is on the wrong side
    test: str = "Wilson 95% interval vs target"


@dataclass(frozen=True)
class PeerOutlier:
    """One unit against its peers: funnel-plot z with overdispersion, and the mix-adjusted gap."""

    unit: str
    observed: float
    peer: float
    delta: float
    limits: tuple[float, float]
    n: int
    z: float
    p_value: float
    tau: float
    adjusted: float
    adjusted_delta: float
    test: str = "funnel plot (additive overdispersion) + direct standardisation"


@dataclass(frozen=True)
class SmallCountRate:
    """Rare events in a trailing window against the history's rate, with exact Poisson statistics."""

    count: int
    exposure: float
    rate: float
    expected_rate: float
    expected_count: float
    ratio: float
    ci: tuple[float, float]
    weeks: int
    p_value: float
    test: str = "exact Poisson (events per exposure)"


@dataclass(frozen=True)
class DataQualityIssue:
    """Something wrong with the data itself; insights resting on it are withheld."""

    kind: Literal["missing_days", "denominator_zero", "duplicates", "late_data", "incomplete_week"]
    count: int
    days: tuple[date, ...] = ()
    detail: str = ""


# --------------------------------------------------------------------------- helpers


def _unit_sigma(series: WeeklySeries, idx: np.ndarray, center: float) -> float:
    """Per-record sigma of a mean-type KPI from its history: moving range of (v − centre)·√n."""
    v, n = series.value[idx], series.n[idx]
    ok = np.isfinite(v) & (n > 0)
    if ok.sum() < 3:
        return 0.0
    return stats.moving_range_sigma((v[ok] - center) * np.sqrt(n[ok]))


def _valid(series: WeeklySeries) -> np.ndarray:
    return np.isfinite(series.value) & (series.denominator > 0) & (series.n > 0)


def weeks_with_data(series: WeeklySeries) -> np.ndarray:
    """The mask of the weeks every detector reads (a value over a positive denominator): the weeks behind its numbers."""
    return _valid(series)


# --------------------------------------------------------------------------- rate change


def _trailing(series: WeeklySeries, ok: np.ndarray, cur: int, weeks: int) -> np.ndarray:
    return np.array([i for i in range(max(0, cur - weeks), cur) if ok[i]], dtype=int)


def backtest(series: WeeklySeries, *, baseline_weeks: int = 8, history_weeks: int = 26,
             min_baseline: int = 4) -> np.ndarray:
    """The same week-vs-trailing-baseline statistic replayed on each past week of the history.

    Proportions: the raw binomial score z of each past week against its own trailing weeks; net scores: the
    raw multinomial z of the difference; means: the raw deviation of each past week's value from its trailing weeks' weighted mean.
    Their spread is what a week of this segment does when nothing is going on (sampling noise,
    week-to-week wander, baseline error, autocorrelation all included): the week is the unit.
    """
    ok = _valid(series)
    cur = len(series) - 1
    out = []
    for t in range(max(min_baseline, cur - history_weeks), cur):
        if not ok[t]:
            continue
        b = _trailing(series, ok, t, baseline_weeks)
        if len(b) < min_baseline:
            continue
        if series.kind == "proportion":
            nb = float(series.denominator[b].sum())
            p0 = float(series.numerator[b].sum()) / nb
            n = float(series.denominator[t])
            if 0 < p0 < 1 and n > 0:  # the binomial score z of stats.binomial_score_test, without its p-value
                out.append((float(series.numerator[t]) / n - p0) / math.sqrt(p0 * (1.0 - p0) * (1.0 / n + 1.0 / nb)))
        elif series.kind == "net_score":
            d = stats.net_score_difference(*series.net(b), *series.net([t]))
            if math.isfinite(d.se) and d.se > 0:
                out.append(d.z)
        else:
            out.append(float(series.value[t] - np.average(series.value[b], weights=series.n[b])))
    return np.asarray(out, float)


def rate_change(series: WeeklySeries, *, baseline_weeks: int = 8, history_weeks: int = 26,
                alpha: float = 0.05, min_history: int = 8) -> RateChange | None:
    """The last week against the trailing `baseline_weeks` (same weeks last year when a full extra year exists).

    Proportions: binomial score test with the baseline's own sampling error, widened by σ_z, the
    root-mean-square of the same z replayed on up to `history_weeks` past weeks (Laney's idea with
    the week as the unit; Laney's moving-range σ_z when the history is too short to replay).
    Net scores (NPS): the two-sample multinomial z test of the week's answers against the baseline's
    (`stats.net_score_difference`), widened the same way (σ_z ≥ 1; unwidened when there is no history to
    replay); the interval is the observed score ± 1.96 × that standard error, so less the expected score it
    is the interval of the change.
    Means and quantiles: the deviation from the baseline over the RMS of the past weeks'
    deviations.  Not a robust scale on purpose: weekly surprises are heavy-tailed, and a scale that
    ignores the tail makes every tail week an alarm.  The p-value is Student's t with as many
    degrees of freedom as replayed weeks.
    """
    if len(series) < baseline_weeks + 1:
        return None
    cur = len(series) - 1
    ok = _valid(series)
    if not ok[cur]:
        return None
    base = _trailing(series, ok, cur, baseline_weeks)
    if len(base) < max(3, baseline_weeks // 2):
        return None
    hist = _trailing(series, ok, cur, history_weeks)
    past = backtest(series, baseline_weeks=baseline_weeks, history_weeks=history_weeks)
    x, n = float(series.numerator[cur]), float(series.denominator[cur])
    nb_x, nb_n = float(series.numerator[base].sum()), float(series.denominator[base].sum())
    label = f"trailing {len(base)} weeks"
    observed = float(series.value[cur])
    seasonal = 0.0
    year = cur - 52
    if year - baseline_weeks >= 0 and ok[year] and all(ok[year - baseline_weeks:year]):
        ly = series.numerator[year - baseline_weeks:year].sum() / series.denominator[year - baseline_weeks:year].sum()
        seasonal = float(series.value[year] - ly)  # last year's move from its own trailing level into this week
        label = f"trailing {len(base)} weeks + last year's seasonal move"
    n_cur, n_base = int(series.n[cur]), int(series.n[base].sum())
    replayed = len(past) >= min_history
    df = len(past) if replayed else None
    if series.kind == "proportion":
        p0 = min(max(nb_x / nb_n + seasonal, 1e-6), 1 - 1e-6)
        if replayed:
            sigma, test = max(1.0, stats.rms(past)), "binomial score test, σ_z from the segment's past weeks"
        else:
            sigma, test = stats.laney_sigma_z(series.numerator[hist], series.denominator[hist]), "binomial score test, Laney σ_z"
        z = stats.binomial_score_test(x, n, p0, n0=nb_n, sigma_z=sigma).statistic
        ci = stats.wilson_interval(x, n)
        mde = stats.minimum_detectable_effect(p0, n, n0=nb_n, sigma_z=sigma, alpha=alpha)
        return RateChange(observed, p0, observed - p0, ci, n_cur, n_base, len(base), label, z, _p(z, df),
                          sigma, mde, test)
    if series.kind == "net_score":
        sigma = max(1.0, stats.rms(list(past))) if replayed else 1.0
        d = stats.net_score_difference(*series.net(base), *series.net([cur]), points=series.points, sigma_z=sigma)
        if not math.isfinite(d.se) or d.se <= 0:
            return None
        expected = d.score_a + seasonal
        z = (observed - expected) / d.se
        half = stats.Z95 * d.se
        test = NET_TEST + (", σ_z from the segment's past weeks" if replayed else "")
        return RateChange(observed, expected, observed - expected, (observed - half, observed + half), n_cur, n_base,
                          len(base), label, float(z), _p(z, df), sigma, (stats.Z95 + 0.8416) * d.se, test)
    expected = float(np.average(series.value[base], weights=series.n[base])) + seasonal
    if replayed:
        se, test = stats.rms(past), "deviation over the spread of the segment's past weeks (t)"
    else:  # an individuals chart on the history's weekly values (moving-range sigma)
        se = stats.moving_range_sigma(series.value[hist]) * math.sqrt(1.0 + 1.0 / len(base))
        test = "z test on weekly values, moving-range σ"
    if se <= 0 or n_cur <= 0:
        return None
    z = (observed - expected) / se
    half = stats.Z95 * se
    mde = (stats.Z95 + 0.8416) * se
    return RateChange(observed, expected, observed - expected, (observed - half, observed + half), n_cur, n_base,
                      len(base), label, float(z), _p(z, df), se, mde, test)


@dataclass(frozen=True)
class WindowChange:
    """The last k weeks against the baseline before them: pooled level, change, interval and test."""

    first_week: date
    weeks: int
    observed: float
    expected: float
    delta: float
    ci: tuple[float, float]
    n: int
    n_baseline: int
    z: float
    p_value: float
    rho: float
    test: str


def window_change(series: WeeklySeries, *, weeks: int = 3, baseline_weeks: int = 8, history_weeks: int = 26,
                  min_history: int = 8) -> WindowChange | None:
    """The mean of the last `weeks` weekly surprises against the `baseline_weeks` before the window.

    Each week of the window is scored against the same pre-window baseline exactly as `rate_change`
    scores one week (binomial score z for proportions, deviation for means); the window statistic is
    their mean over σ·√(VIF/k), σ the RMS of the segment's replayed past weekly surprises and VIF the
    AR(1) variance inflation of a k-week mean with the lag-1 autocorrelation of those surprises.
    Student's t with as many degrees of freedom as replayed weeks.  A sustained change too small
    to show in any one week shows here.
    """
    k = weeks
    cur = len(series) - 1
    first = cur - k + 1
    ok = _valid(series)
    if first < baseline_weeks or not all(ok[first:cur + 1]):
        return None
    base = _trailing(series, ok, first, baseline_weeks)
    if len(base) < max(3, baseline_weeks // 2):
        return None
    cut = series.take(range(first))
    past = backtest(cut, baseline_weeks=baseline_weeks, history_weeks=history_weeks)
    if len(past) < min_history:
        return None
    win = np.arange(first, cur + 1)
    nb = float(series.denominator[base].sum())
    x, n = float(series.numerator[win].sum()), float(series.denominator[win].sum())
    if series.kind == "proportion":
        p0 = float(series.numerator[base].sum()) / nb
        if not 0 < p0 < 1:
            return None
        raw = np.array([stats.binomial_score_test(float(series.numerator[t]), float(series.denominator[t]), p0,
                                                  n0=nb).statistic for t in win])
        sigma = max(1.0, stats.rms(past))
        expected, observed = p0, x / n
        unit = "binomial score z"
    elif series.kind == "net_score":
        if not nb > 0:
            return None
        pooled = series.net(base)
        raw = np.array([stats.net_score_difference(*pooled, *series.net([int(t)])).z for t in win])
        sigma = max(1.0, stats.rms(list(past)))
        expected = stats.net_score(*pooled, points=series.points)[0]
        observed = stats.net_score(*series.net(win), points=series.points)[0]
        unit = "multinomial z of NPS"
    else:
        expected = float(np.average(series.value[base], weights=series.n[base]))
        raw = series.value[win] - expected
        sigma = stats.rms(past)
        observed = float(np.average(series.value[win], weights=series.n[win]))
        unit = "deviation"
    if sigma <= 0 or n <= 0:
        return None
    rho = stats.lag1_autocorrelation(past)
    se_mean = sigma * math.sqrt(stats.window_mean_inflation(k, rho) / k)
    z = float(raw.mean() / se_mean)
    delta = observed - expected
    se_delta = abs(delta / z) if z else float("inf")
    half = stats.Z95 * se_delta if math.isfinite(se_delta) else float("inf")
    test = (f"mean weekly {unit} of the last {k} weeks vs the {len(base)} before, σ from the segment's past weeks "
            f"× √(VIF/k), lag-1 ρ = {rho:.2f} (t)")
    return WindowChange(series.periods[first], k, observed, expected, delta, (delta - half, delta + half),
                        int(series.n[win].sum()), int(series.n[base].sum()), z, _p(z, len(past)), rho, test)


def _p(z: float, df: int | None) -> float:
    """Two-sided p of z: Student's t with `df` when the scale was estimated from df past weeks, else normal."""
    if df is None:
        return stats.two_sided_p(z)
    from scipy import stats as sps

    return float(2.0 * sps.t.sf(abs(z), df))


# --------------------------------------------------------------------------- volume


def volume_anomaly(daily: Sequence[float], days: Sequence[date], week: date, *, history_days: int = 112,
                   min_history_days: int = 35, min_past_weeks: int = 5,
                   declared: frozenset[date] = frozenset()) -> VolumeAnomaly | None:
    """The week's total count against robust STL fitted on the days before it (weekly cycle).

    Expected = 7 × the trend's mean level over the last 7 days + the weekday seasonal terms.  The
    spread is the week as the unit: one-week-ahead surprises replayed on every past week of the
    history (each week against the one before it) give log errors whose RMS σ is the
    segment's own week-to-week surprise (weeks touching a `declared` event day, a holiday or a
    promotion, are left out of the replay: their surprise was announced); the tail probability is a negative binomial
    whose dispersion α = σ² − 1/μ makes its variance cover that spread (Poisson when σ is small).
    """
    from statsmodels.tsa.seasonal import STL

    counts = np.asarray(daily, float)
    index = {d: i for i, d in enumerate(days)}
    if week not in index or week + timedelta(days=6) not in index:
        return None
    w0 = index[week]
    h0 = max(0, w0 - history_days)
    hist = counts[h0:w0]
    if len(hist) < min_history_days or hist.sum() <= 0:
        return None
    res = STL(hist, period=7, robust=True).fit()
    trend, seasonal = np.asarray(res.trend), np.asarray(res.seasonal)
    level = float(np.mean(trend[-7:]))
    offset = (w0 - h0) % 7  # position of the review week's Monday within the 7-day cycle of the history
    exp_days = np.maximum(np.array([level + seasonal[(offset + d) % 7 - 7] for d in range(7)]), 0.0)
    expected = max(float(exp_days.sum()), 1e-9)
    observed = float(counts[w0:w0 + 7].sum())
    # replay: each past whole week against the week before it, a forecast that cannot see the
    # future (the smoothed trend inside the history can, and would make the past look too calm)
    errors = []
    hist_days = list(days[h0:w0])
    for end in range(len(hist), 13, -7):
        obs_w, fc = hist[end - 7:end].sum(), hist[end - 14:end - 7].sum()
        if declared and any(d in declared for d in hist_days[end - 14:end]):
            continue
        if obs_w > 0 and fc > 0:
            errors.append(math.log(obs_w / fc))
    if len(errors) >= min_past_weeks:
        sigma = stats.rms(errors)
    else:  # too few clean weeks (a holiday season): every week, with a scale the announced ones cannot inflate
        errors = [math.log(a / b) for a, b in ((hist[e - 7:e].sum(), hist[e - 14:e - 7].sum())
                                               for e in range(len(hist), 13, -7)) if a > 0 and b > 0]
        if len(errors) < min_past_weeks:
            return None
        sigma = stats.robust_rms(errors)
    dispersion = max(0.0, sigma * sigma - 1.0 / expected)
    p = stats.nb_tail(observed, expected, dispersion)
    sd = math.sqrt(expected + dispersion * expected * expected)
    lo, hi = _nb_quantiles(expected, dispersion)
    return VolumeAnomaly(observed, expected, observed - expected, lo, hi, float((observed - expected) / sd), p,
                         dispersion, "robust STL (period 7) + negative binomial fitted on the past weeks' surprises")


def _nb_quantiles(mu: float, alpha: float, level: float = 0.95) -> tuple[float, float]:
    """Central `level` range of NB(mean mu, var mu + alpha·mu²)."""
    from scipy import stats as sps

    q = ((1 - level) / 2, (1 + level) / 2)
    if alpha <= 1e-9:
        lo, hi = sps.poisson.ppf(q, mu)
    else:
        r = 1.0 / alpha
        lo, hi = sps.nbinom.ppf(q, r, r / (r + mu))
    return float(lo), float(hi)


# --------------------------------------------------------------------------- level shift


def _standardised(series: WeeklySeries, idx: np.ndarray, center: float) -> tuple[np.ndarray, float]:
    """z-scores of the weeks `idx` around `center`, and the sigma used (Laney σ_z or per-record sigma)."""
    v, n = series.value[idx], series.n[idx]
    if series.kind == "proportion":
        p = min(max(center, 1e-6), 1 - 1e-6)
        sig = stats.laney_sigma_z(series.numerator[idx], series.denominator[idx])
        return (v - p) / (sig * np.sqrt(p * (1 - p) / series.denominator[idx])), sig
    if series.kind == "net_score":
        # each week against the centre with the multinomial standard error of its answers (the shares pooled over
        # the weeks), widened by Laney's moving-range σ_z of those z-scores like a proportion's
        per_answer = stats.net_score(*series.net(idx), points=series.points)[1] * float(series.denominator[idx].sum())
        if not per_answer > 0:
            return np.zeros(len(idx)), 0.0
        raw = (v - center) / np.sqrt(per_answer / series.denominator[idx])
        sig = max(1.0, float(np.mean(np.abs(np.diff(raw))) / stats.D2)) if len(raw) >= 3 else 1.0
        return raw / sig, sig
    sig = _unit_sigma(series, idx, center)
    if sig <= 0:
        return np.zeros(len(idx)), 0.0
    return (v - center) * np.sqrt(n) / sig, sig


def level_shift(series: WeeklySeries, *, window: int = 26, reference_weeks: int = 8, min_before: int = 6,
                min_after: int = 2, k: float = 0.5, h: float = 5.0) -> LevelShift | None:
    """A sustained shift in the last `window` weeks, still in force in the latest week.

    CUSUM runs on the weeks standardised around the first `reference_weeks`; its alarm points to
    the shift week, and a pooled test of the weeks after against the weeks before confirms it.
    """
    ok = _valid(series)
    idx = np.array([i for i in range(max(0, len(series) - window), len(series)) if ok[i]], dtype=int)
    if len(idx) < min_before + min_after or idx[-1] != len(series) - 1:
        return None
    ref = idx[:reference_weeks]
    if series.kind in ("proportion", "net_score"):  # the pooled level (a net score's numerator is points × net answers)
        center = float(series.numerator[ref].sum() / series.denominator[ref].sum())
    else:
        center = float(np.average(series.value[ref], weights=series.n[ref]))
    z, sig = _standardised(series, idx, center)
    if sig <= 0:
        return None
    c = stats.cusum(z, k=k, h=h)
    if c.alarm is None or c.change is None:
        return None
    cut = c.change
    before, after = idx[:cut], idx[cut:]
    if len(before) < min_before or len(after) < min_after:
        return None
    if series.kind in ("proportion", "net_score"):
        pb = float(series.numerator[before].sum() / series.denominator[before].sum())
        pa = float(series.numerator[after].sum() / series.denominator[after].sum())
    else:
        pb = float(np.average(series.value[before], weights=series.n[before]))
        pa = float(np.average(series.value[after], weights=series.n[after]))
    delta = float(pa - pb)
    # weeks are the unit of the confirming test (Welch): slow seasonal wander and autocorrelation
    # between weeks cannot pass for a shift the way they would in a pooled per-record test
    t = stats.welch_test(series.value[before], series.value[after])
    # the cut was chosen by the data: Bonferroni over every cut CUSUM could have picked
    cuts = max(1, len(idx) - min_before - min_after + 1)
    zt, p_value, half, test = t.statistic, min(1.0, t.p_value * cuts), t.half_width, LevelShift.test
    if series.kind == "net_score":
        # the answers' own sampling error (σ_z-widened) is the least a net score's shift can be judged with; the weeks'
        # spread (Welch) takes over when the weeks wander more than their answers explain
        d = stats.net_score_difference(*series.net(before), *series.net(after), points=series.points, sigma_z=sig)
        if math.isfinite(d.se) and d.se > 0 and d.se >= t.se:  # the larger standard error judges
            zt, p_value, half = d.z, min(1.0, d.p_value * cuts), stats.Z95 * d.se
        test = (f"CUSUM (k=0.5, h=5) + {NET_TEST} before/after (σ_z-widened), or Welch t of weekly values when the "
                f"weeks vary more, Bonferroni over the possible cuts")
    # still in force: the latest week sits on the shifted side of the midpoint
    last = float(series.value[idx[-1]])
    if (last - (pa + pb) / 2) * np.sign(delta) <= 0:
        return None
    return LevelShift(int(after[0]), series.periods[int(after[0])], float(pb), float(pa), delta,
                      (delta - half, delta + half), int(series.n[before].sum()),
                      int(series.n[after].sum()), len(after), float(zt), p_value, series.periods[int(idx[c.alarm])],
                      test)


# --------------------------------------------------------------------------- trend


def trend(series: WeeklySeries, *, weeks: int = 20, min_weeks: int = 10) -> Trend | None:
    """Mann–Kendall over the last `weeks` values (variance inflated for lag-1 autocorrelation) with Sen's slope."""
    ok = _valid(series)
    idx = np.array([i for i in range(max(0, len(series) - weeks), len(series)) if ok[i]], dtype=int)
    if len(idx) < min_weeks or idx[-1] != len(series) - 1:
        return None
    v = series.value[idx]
    mk = stats.mann_kendall(v)
    sen = stats.sen_slope(v)
    detrended = v - (sen.intercept + sen.slope * np.arange(len(v)))
    r1 = (float(np.corrcoef(detrended[:-1], detrended[1:])[0, 1])
          if np.std(detrended[:-1]) > 0 and np.std(detrended[1:]) > 0 else 0.0)
    r1 = 0.0 if not math.isfinite(r1) else max(0.0, r1)
    factor = (1 + r1) / (1 - r1) if r1 < 0.99 else 100.0
    z = mk.z / math.sqrt(factor)
    span = len(v) - 1
    start_level = sen.intercept
    end_level = sen.intercept + sen.slope * span
    return Trend(len(v), series.periods[int(idx[0])], sen.slope, sen.lo, sen.hi, float(start_level), float(end_level),
                 float(sen.slope * span), mk.tau, float(z), stats.two_sided_p(z))


# --------------------------------------------------------------------------- target miss


def target_miss(x: float, n: float, target: float, *, higher_is_better: bool = True,
                sigma_z: float = 1.0) -> TargetMiss | None:
    """The week's proportion x / n on the wrong side of `target` (None when it meets it or has no trials).

    `sigma_z` (the segment's overdispersion, ≥ 1) widens the Wilson interval, so a segment whose
    weeks wander more than binomial noise is not called certain on one unlucky week.
    """
    if n <= 0:
        return None
    p = x / n
    miss = p < target if higher_is_better else p > target
    if not miss:
        return None
    ci = stats.wilson_interval(x, n, z=stats.Z95 * max(sigma_z, 1.0))
    certain = ci[1] < target if higher_is_better else ci[0] > target
    t = stats.binomial_score_test(x, n, min(max(target, 1e-6), 1 - 1e-6), sigma_z=max(sigma_z, 1.0))
    p_one = t.p_value / 2.0  # the observed side is the wrong side by construction
    return TargetMiss(p, target, p - target, ci, int(n), t.statistic, p_one, certain)


def duration_target_miss(series: WeeklySeries, target: float, *, higher_is_better: bool = False,
                         min_history: int = 8) -> TargetMiss | None:
    """The week's mean (a duration or amount: AHT, ASA, a median wait) on the wrong side of `target`.

    No per-contact spread is stored, so the week's uncertainty is the segment's own week-to-week
    spread (Shewhart's moving-range sigma over the weeks before it): conservative, like σ_z for a
    rate.  None when it meets the target, has no value, or has fewer than `min_history` past weeks
    to measure that spread on (too little evidence to call a miss certain).
    """
    v = float(series.value[-1]) if len(series) else math.nan
    if not math.isfinite(v) or series.n[-1] <= 0:
        return None
    miss = v < target if higher_is_better else v > target
    if not miss:
        return None
    past = series.value[:-1]
    past = past[np.isfinite(past)]
    if len(past) < min_history:
        return None
    se = stats.moving_range_sigma(past)
    scale = max(abs(target), abs(v), 1.0)
    se = max(se, 1e-9 * scale)  # a series that never moved: the miss is as sure as the arithmetic
    z = (v - target) / se
    ci = (v - stats.Z95 * se, v + stats.Z95 * se)
    certain = ci[1] < target if higher_is_better else ci[0] > target
    p_one = stats.two_sided_p(z) / 2.0  # the observed side is the wrong side by construction
    return TargetMiss(v, target, v - target, ci, int(series.n[-1]), z, p_one, certain,
                      test="the week's mean vs target, moving-range sigma of the segment's past weeks")


# --------------------------------------------------------------------------- peers


def peer_outlier(units: Sequence[str], x: Sequence[float], n: Sequence[float], *,
                 strata: dict[str, dict[str, tuple[float, float]]] | None = None,
                 limit_z: float = 3.0) -> list[PeerOutlier]:
    """Units outside the funnel of their peers (overdispersion-widened), with a mix-adjusted gap.

    `strata` maps unit -> stratum -> (x, n) over the standardisation strata (channel × priority ×
    contact reason); the adjusted rate weights each unit's stratum rates by the peers' pooled mix,
    so a unit handling harder work is compared on the same mix as everyone else.
    """
    xa, na = np.asarray(x, float), np.asarray(n, float)
    keep = na > 0
    if keep.sum() < 3:
        return []
    names = [u for u, k in zip(units, keep) if k]
    xa, na = xa[keep], na[keep]
    p_bar = xa.sum() / na.sum()
    if not 0 < p_bar < 1:
        return []
    crude = xa / na
    rates = crude.copy()
    pooled: dict[str, list[float]] = {}
    for unit_strata in (strata or {}).values():
        for st, (sx, sn) in unit_strata.items():
            acc = pooled.setdefault(st, [0.0, 0.0])
            acc[0] += sx
            acc[1] += sn
    total = sum(v[1] for v in pooled.values())
    if total > 0:
        # direct standardisation: each unit's stratum rates weighted by the peers' pooled mix
        # (a stratum the unit has no work in counts at the peers' rate)
        p_bar = sum(v[0] for v in pooled.values()) / total
        for i, unit in enumerate(names):
            own = (strata or {}).get(unit, {})
            rates[i] = sum((sn / total) * ((own[st][0] / own[st][1]) if st in own and own[st][1] > 0 else sx / sn)
                           for st, (sx, sn) in pooled.items() if sn > 0)
    s2 = p_bar * (1 - p_bar) / na
    z = (rates - p_bar) / np.sqrt(s2)
    k = len(na)
    zw = np.clip(z, -3.0, 3.0)  # winsorised, so one outlier does not hide itself in the dispersion
    phi = float(np.mean(zw ** 2))
    w = 1 / s2
    tau2 = max(0.0, (k * phi - (k - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
    z_adj = (rates - p_bar) / np.sqrt(s2 + tau2)
    out = []
    for i, unit in enumerate(names):
        if abs(z_adj[i]) < limit_z:
            continue
        half = limit_z * math.sqrt(s2[i] + tau2)
        out.append(PeerOutlier(unit, float(crude[i]), float(p_bar), float(crude[i] - p_bar),
                               (float(p_bar - half), float(p_bar + half)), int(na[i]), float(z_adj[i]),
                               stats.two_sided_p(float(z_adj[i])), math.sqrt(tau2), float(rates[i]),
                               float(rates[i] - p_bar)))
    return out


# --------------------------------------------------------------------------- small counts


def small_count_rate(counts: Sequence[float], exposure: Sequence[float], periods: Sequence[date], *,
                     window: int = 4, history: int = 26, alternative: str = "greater") -> SmallCountRate | None:
    """Events in the last `window` periods against the rate of the `history` periods before them."""
    c, e = np.nan_to_num(np.asarray(counts, float)), np.nan_to_num(np.asarray(exposure, float))
    if len(c) < window + 8:
        return None
    cur_c, cur_e = float(c[-window:].sum()), float(e[-window:].sum())
    h0 = max(0, len(c) - window - history)
    hist_c, hist_e = float(c[h0:-window].sum()), float(e[h0:-window].sum())
    if cur_e <= 0 or hist_e <= 0:
        return None
    # a history with no events is not evidence of a zero rate: half an event (Jeffreys' prior) keeps
    # the first event after a quiet spell from reading as infinitely surprising (p = 0)
    base_rate = max(hist_c, 0.5) / hist_e
    expected = base_rate * cur_e
    p = stats.poisson_test(int(round(cur_c)), expected, alternative)
    ci = stats.poisson_interval(cur_c, cur_e)
    return SmallCountRate(int(round(cur_c)), cur_e, cur_c / cur_e, base_rate, expected,
                          (cur_c / expected) if expected > 0 else float("inf"), ci, window, p)


# --------------------------------------------------------------------------- data quality


def missing_days(daily: dict[date, float], week: date, *, history_weeks: int = 8) -> DataQualityIssue | None:
    """Days of the week with no activity although the same weekday had activity in most of the history."""
    missing = []
    for d in range(7):
        day = week + timedelta(days=d)
        if daily.get(day, 0) > 0:
            continue
        seen = sum(1 for k in range(1, history_weeks + 1) if daily.get(day - timedelta(weeks=k), 0) > 0)
        if seen >= history_weeks // 2 + 1:
            missing.append(day)
    return DataQualityIssue("missing_days", len(missing), tuple(missing)) if missing else None


def denominator_zero(series: WeeklySeries, *, history_weeks: int = 8) -> DataQualityIssue | None:
    """A KPI whose denominator dropped to zero in the latest week after a history with volume."""
    if len(series) < 2 or series.denominator[-1] > 0:
        return None
    hist = series.denominator[-history_weeks - 1:-1]
    if (hist > 0).sum() < max(2, len(hist) // 2 + 1):
        return None
    return DataQualityIssue("denominator_zero", 1, (series.periods[-1],))


def duplicate_ids(duplicated: int, total: int) -> DataQualityIssue | None:
    """Records that arrived twice under different sources (same id, same client) in the week."""
    if duplicated <= 0:
        return None
    return DataQualityIssue("duplicates", int(duplicated), detail=f"{duplicated} of {total}")


def late_data(late: int, total: int, *, share: float = 0.05) -> DataQualityIssue | None:
    """More than `share` of the week's records ingested over 3 days after they happened."""
    if total <= 0 or late / total <= share:
        return None
    return DataQualityIssue("late_data", int(late), detail=f"{late} of {total}")
