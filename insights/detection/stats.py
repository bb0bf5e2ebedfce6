"""The statistics the detectors rest on, in research-grade form and tested against reference values.

Every function takes plain numbers or numpy arrays and returns numbers or a frozen result; none
reads data.  Conventions: two-sided p-values unless the name says otherwise; intervals at 95 %.

| function | what it is |
|---|---|
| `binomial_score_test` | score (Wald-at-null) z test of a proportion against p0, optionally Laney-widened |
| `laney_sigma_z` | Laney p′ overdispersion factor σ_z from a segment's history (moving range of z-scores) |
| `benjamini_hochberg` | BH step-up adjusted q-values |
| `wilson_interval` | Wilson score interval of a proportion |
| `poisson_interval`, `poisson_test` | exact (Garwood) interval of a rate with exposure; exact tail test |
| `mann_kendall`, `sen_slope` | Mann–Kendall trend test (tie-corrected) and Sen's slope with its interval |
| `cusum` | two-sided tabular CUSUM on standardised values: alarm and change index |
| `minimum_detectable_effect` | smallest change of a proportion detectable at α and power |
| `nb_tail` | two-sided tail probability of a count under a negative binomial (or Poisson) model |
| `net_score`, `net_score_difference` | a net score (NPS: promoters − detractors) and its multinomial variance; the z test, p and 95 % interval of the difference of two |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

Z95 = float(sps.norm.ppf(0.975))
D2 = 1.128  # E[moving range] / sigma for n = 2 (Shewhart's d2 constant)


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class MannKendall:
    """Mann–Kendall trend test: S, its variance (ties corrected), z, two-sided p and Kendall's tau."""

    s: float
    var_s: float
    z: float
    p_value: float
    tau: float


@dataclass(frozen=True)
class SenSlope:
    """Sen's (median pairwise) slope per step, with its rank-based confidence interval."""

    slope: float
    lo: float
    hi: float
    intercept: float


@dataclass(frozen=True)
class Cusum:
    """Two-sided CUSUM: first alarm index (None: in control), the change index it points to, direction."""

    alarm: int | None
    change: int | None
    direction: int  # +1 upward, -1 downward, 0 none
    upper: tuple[float, ...]
    lower: tuple[float, ...]


def two_sided_p(z: float) -> float:
    """Two-sided normal p-value of a z statistic."""
    return float(2.0 * sps.norm.sf(abs(z)))


def binomial_score_test(x: float, n: float, p0: float, *, n0: float | None = None, sigma_z: float = 1.0) -> TestResult:
    """z test of x successes in n trials against p0 (the null's variance), widened by Laney's σ_z.

    When `n0` is given, p0 is itself an estimate from n0 trials and its variance is added.
    """
    if n <= 0 or not 0.0 < p0 < 1.0:
        return TestResult(0.0, 1.0)
    var = p0 * (1.0 - p0) * (1.0 / n + (1.0 / n0 if n0 else 0.0))
    z = (x / n - p0) / (max(sigma_z, 1e-12) * math.sqrt(var))
    return TestResult(float(z), two_sided_p(z))


def laney_sigma_z(x: Sequence[float], n: Sequence[float]) -> float:
    """Laney's σ_z: the moving-range spread of the z-scores of a segment's history, floored at 1.

    Binomial limits assume the only variation is sampling; real weekly rates vary more (staffing,
    mix). σ_z > 1 measures that extra between-period variation and widens every test built on it.
    """
    x_arr, n_arr = np.asarray(x, float), np.asarray(n, float)
    keep = n_arr > 0
    x_arr, n_arr = x_arr[keep], n_arr[keep]
    if len(n_arr) < 3:
        return 1.0
    p_bar = x_arr.sum() / n_arr.sum()
    if not 0.0 < p_bar < 1.0:
        return 1.0
    z = (x_arr / n_arr - p_bar) / np.sqrt(p_bar * (1.0 - p_bar) / n_arr)
    return float(max(1.0, np.mean(np.abs(np.diff(z))) / D2))


def moving_range_sigma(values: Sequence[float]) -> float:
    """Shewhart's short-term sigma estimate: mean moving range / d2 (0 with fewer than 2 values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return 0.0
    return float(np.mean(np.abs(np.diff(v))) / D2)


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted q-values (step-up, monotone, capped at 1), in the input order."""
    p = np.asarray(p_values, float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def wilson_interval(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion x / n; (0, 1) without trials."""
    if n <= 0:
        return (0.0, 1.0)
    p = x / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def poisson_interval(k: float, exposure: float = 1.0, conf: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate: k events over `exposure` units."""
    a = 1.0 - conf
    lo = 0.0 if k <= 0 else sps.chi2.ppf(a / 2.0, 2.0 * k) / 2.0
    hi = sps.chi2.ppf(1.0 - a / 2.0, 2.0 * k + 2.0) / 2.0
    return (float(lo / exposure), float(hi / exposure))


def poisson_test(k: int, expected: float, alternative: str = "two-sided") -> float:
    """Exact Poisson test of k events against an expected count (`greater`, `less` or `two-sided`)."""
    if expected <= 0:
        return 1.0 if k == 0 else 0.0
    upper = float(sps.poisson.sf(k - 1, expected))  # P(X >= k)
    lower = float(sps.poisson.cdf(k, expected))  # P(X <= k)
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return min(1.0, 2.0 * min(upper, lower))


def mann_kendall(y: Sequence[float]) -> MannKendall:
    """Mann–Kendall test for a monotone trend (normal approximation with continuity and tie corrections)."""
    v = np.asarray(y, float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 3:
        return MannKendall(0.0, 0.0, 0.0, 1.0, 0.0)
    diff = np.sign(v[None, :] - v[:, None])
    s = float(np.triu(diff, 1).sum())
    _, counts = np.unique(v, return_counts=True)
    ties = counts[counts > 1]
    var_s = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    z = 0.0 if s == 0 or var_s <= 0 else (s - math.copysign(1.0, s)) / math.sqrt(var_s)
    return MannKendall(s, var_s, float(z), two_sided_p(z), s / (n * (n - 1) / 2.0))


def sen_slope(y: Sequence[float], conf: float = 0.95) -> SenSlope:
    """Sen's slope (median of pairwise slopes, unit step) and its Gilbert (1987) confidence interval."""
    v = np.asarray(y, float)
    t = np.arange(len(v), dtype=float)
    keep = np.isfinite(v)
    v, t = v[keep], t[keep]
    n = len(v)
    if n < 2:
        return SenSlope(0.0, 0.0, 0.0, float(v[0]) if n else 0.0)
    i, j = np.triu_indices(n, 1)
    slopes = np.sort((v[j] - v[i]) / (t[j] - t[i]))
    slope = float(np.median(slopes))
    var_s = mann_kendall(v).var_s
    c = float(sps.norm.ppf(1.0 - (1.0 - conf) / 2.0)) * math.sqrt(var_s)
    m = len(slopes)
    lo_i, hi_i = int(math.floor((m - c) / 2.0)), int(math.ceil((m + c) / 2.0))
    lo = float(slopes[max(0, min(m - 1, lo_i - 1))])
    hi = float(slopes[max(0, min(m - 1, hi_i))])
    return SenSlope(slope, lo, hi, float(np.median(v - slope * t)))


def cusum(z: Sequence[float], *, k: float = 0.5, h: float = 5.0) -> Cusum:
    """Two-sided tabular CUSUM of standardised values (target 0): Page's scheme with slack k, limit h.

    The change index is the period after the statistic last left zero before the first alarm.
    """
    zs = np.nan_to_num(np.asarray(z, float))
    hi, lo = 0.0, 0.0
    ups, los = [], []
    last_hi_zero, last_lo_zero = -1, -1
    for i, x in enumerate(zs):
        hi = max(0.0, hi + x - k)
        lo = min(0.0, lo + x + k)
        if hi == 0.0:
            last_hi_zero = i
        if lo == 0.0:
            last_lo_zero = i
        ups.append(hi)
        los.append(lo)
        if hi > h:
            return Cusum(i, last_hi_zero + 1, 1, tuple(ups), tuple(los))
        if lo < -h:
            return Cusum(i, last_lo_zero + 1, -1, tuple(ups), tuple(los))
    return Cusum(None, None, 0, tuple(ups), tuple(los))


def minimum_detectable_effect(p0: float, n: float, *, n0: float | None = None, sigma_z: float = 1.0,
                              alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest change of a proportion (absolute) a two-sided test at α detects with `power`."""
    if n <= 0:
        return float("inf")
    p0 = min(max(p0, 1e-6), 1 - 1e-6)
    za, zb = float(sps.norm.ppf(1.0 - alpha / 2.0)), float(sps.norm.ppf(power))
    var = p0 * (1.0 - p0) * (1.0 / n + (1.0 / n0 if n0 else 0.0))
    return (za + zb) * sigma_z * math.sqrt(var)


def nb_tail(x: float, mu: float, alpha: float = 0.0) -> float:
    """Two-sided tail probability of count x under NB(mean mu, var mu + alpha·mu²) (Poisson when alpha = 0)."""
    if mu <= 0:
        return 1.0 if x <= 0 else 0.0
    k = int(round(x))
    if alpha <= 1e-9:
        up, down = sps.poisson.sf(k - 1, mu), sps.poisson.cdf(k, mu)
    else:
        r = 1.0 / alpha
        p = r / (r + mu)
        up, down = sps.nbinom.sf(k - 1, r, p), sps.nbinom.cdf(k, r, p)
    return float(min(1.0, 2.0 * min(up, down)))


def mad_sigma(values: Sequence[float]) -> float:
    """Robust sigma: 1.4826 × median absolute deviation (0 for fewer than 2 finite values)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


@dataclass(frozen=True)
class WelchResult:
    """Welch's two-sample t test of means: t, its standard error, two-sided p and the 95 % half-width."""

    statistic: float
    se: float
    df: float
    p_value: float
    half_width: float


def welch_test(before: Sequence[float], after: Sequence[float]) -> WelchResult:
    """Welch's unequal-variance t test of mean(after) − mean(before)."""
    a, b = np.asarray(before, float), np.asarray(after, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return WelchResult(0.0, float("inf"), 0.0, 1.0, float("inf"))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se <= 0:
        return WelchResult(0.0, 0.0, 0.0, 1.0, 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    t = (b.mean() - a.mean()) / se
    return WelchResult(float(t), se, float(df), float(2 * sps.t.sf(abs(t), df)), float(sps.t.ppf(0.975, df) * se))


CHI2_1_MEDIAN = float(sps.chi2.ppf(0.5, 1))  # median of z² for a standard normal z (≈ 0.455)


def robust_rms(values: Sequence[float]) -> float:
    """Robust root-mean-square of values centred on 0: √(median(x²) / median of χ²₁) (0 for no finite value).

    The spread of a statistic's own past values (bias included), insensitive to the odd past
    anomaly the way MAD is insensitive to outliers.
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 0.0
    return float(math.sqrt(np.median(v * v) / CHI2_1_MEDIAN))


def rms(values: Sequence[float]) -> float:
    """Root-mean-square of values centred on 0 (0 for no finite value): a statistic's spread, bias included."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(math.sqrt(np.mean(v * v))) if len(v) else 0.0


def lag1_autocorrelation(values: Sequence[float]) -> float:
    """Lag-1 autocorrelation of a series (0 when fewer than 3 finite values or no spread)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return 0.0
    d = v - v.mean()
    den = float((d * d).sum())
    return float((d[1:] * d[:-1]).sum() / den) if den > 0 else 0.0


def window_mean_inflation(k: int, rho: float) -> float:
    """Variance of the mean of k AR(1) weeks relative to k independent ones: 1 + 2 Σ_j (1 − j/k) ρ^j."""
    rho = min(max(rho, 0.0), 0.95)  # negative lag-1 correlation is sampling noise at these lengths: never shrink
    return 1.0 + 2.0 * sum((1.0 - j / k) * rho**j for j in range(1, k))


def share_shift_test(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p) of mean(after) against weekly values `before`: prediction form, sd from `before`, df = len − 1."""
    a, b = np.asarray(before, float), np.asarray(after, float)
    if len(a) < 3 or len(b) < 1:
        return 0.0, 1.0
    sd = float(a.std(ddof=1))
    if sd <= 0:
        return 0.0, 1.0
    t = float((b.mean() - a.mean()) / (sd * math.sqrt(1.0 / len(b) + 1.0 / len(a))))
    return t, float(2.0 * sps.t.sf(abs(t), len(a) - 1))


@dataclass(frozen=True)
class NetScoreDifference:
    """Two net scores from independent multinomial samples and the z test of their difference (b − a).

    Each score is points × (p+ − p−) with its variance points² × (p+ + p− − (p+ − p−)²) / n; `se` is
    σ_z × √(var_a + var_b), `z` = delta / se, `p_value` two-sided normal, `ci` the 95 % interval of delta.
    `thin`: a sample below the caller's `min_n`, or no spread at all, where the normal approximation is not
    to be trusted (the test then says p = 1 when it has no variance to divide by).
    """

    score_a: float
    score_b: float
    var_a: float
    var_b: float
    delta: float
    se: float
    z: float
    p_value: float
    ci: tuple[float, float]
    n_a: int
    n_b: int
    thin: bool
    test: str = "two-sample multinomial z test of the net score (promoters − detractors)"


def net_score(positive: float, negative: float, n: float, *, points: float = 1.0) -> tuple[float, float]:
    """(score, variance of the score) of one sample: points × (p+ − p−), points² × (p+ + p− − (p+ − p−)²) / n.

    The answers fall in three classes (for, neutral, against: promoters, passives, detractors); the score is
    the mean of a per-answer value of +1, 0 or −1, whose variance is E[x²] − E[x]² = p+ + p− − (p+ − p−)².
    >>> net_score(50, 20, 100, points=100)  # NPS +30, variance 100² × (0.7 − 0.09) / 100
    (30.0, 61.0)
    """
    if n <= 0:
        return 0.0, math.inf
    pp, pn = positive / n, negative / n
    return points * (pp - pn), points * points * (pp + pn - (pp - pn) ** 2) / n


def net_score_difference(pos_a: float, neg_a: float, n_a: float, pos_b: float, neg_b: float, n_b: float, *,
                         points: float = 1.0, sigma_z: float = 1.0, min_n: float = 0.0) -> NetScoreDifference:
    """The z test of score_b − score_a for two independent multinomial samples (Wald: each sample's own variance).

    `sigma_z` (≥ 1: extra between-period variation measured elsewhere) widens the standard error like Laney's
    σ_z widens a binomial test.  Below `min_n` answers in either sample the result is `thin`: with a few dozen
    answers the three shares are coarse and the normal approximation of their difference is poor (a sample whose
    answers all fall in one class even has variance 0), so a caller should not headline it.
    >>> d = net_score_difference(200, 80, 400, 160, 120, 400, points=100)  # NPS +30 -> +10 on 400 answers each
    >>> round(d.delta, 6), round(d.se, 3), round(d.z, 3)
    (-20.0, 5.701, -3.508)
    """
    score_a, var_a = net_score(pos_a, neg_a, n_a, points=points)
    score_b, var_b = net_score(pos_b, neg_b, n_b, points=points)
    delta = score_b - score_a
    thin = min(n_a, n_b) < max(min_n, 1.0)
    se = max(sigma_z, 1.0) * math.sqrt(var_a + var_b) if math.isfinite(var_a + var_b) else math.inf
    if not math.isfinite(se) or se <= 0:
        return NetScoreDifference(score_a, score_b, var_a, var_b, delta, se, 0.0, 1.0, (-math.inf, math.inf),
                                  int(n_a), int(n_b), True)
    z = delta / se
    return NetScoreDifference(score_a, score_b, var_a, var_b, delta, se, float(z), two_sided_p(z),
                              (delta - Z95 * se, delta + Z95 * se), int(n_a), int(n_b), thin)
