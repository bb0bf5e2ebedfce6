"""NPS is promoters minus detractors: its change is judged by the two-sample multinomial z test, not as a proportion.

A net score is the mean of a per-answer value of +1 (promoter), 0 (passive) or -1 (detractor), so its sampling
variance is (p+ + p- - (p+ - p-)^2) / n.  rules.toml names the measures of the answers for and against it
(kind = "net_score"), the engine reads their counts with the score, and `rate_change` / `level_shift` test with them.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from connectors.store import Scope, Workspace
from insights.catalog import CATALOG_DIR, load_catalog
from insights.catalog.rules import load_rules, net_points, reading_catalog
from insights.detection import detectors as det
from insights.detection.engine import detect
from insights.detection.stats import Z95, net_score, net_score_difference
from insights.errors import RulesError

# ---------------------------------------------------------------- the test, by hand


def test_a_hand_worked_difference_of_two_nps_values() -> None:
    """Before: 200 promoters, 120 passives, 80 detractors of 400 answers; after: 160, 120, 120 of 400.

    NPS before = 100 x (0.50 - 0.20) = +30;  variance = 100^2 x (0.50 + 0.20 - 0.30^2) / 400 = 10000 x 0.61 / 400 = 15.25
    NPS after  = 100 x (0.40 - 0.30) = +10;  variance = 100^2 x (0.40 + 0.30 - 0.10^2) / 400 = 10000 x 0.69 / 400 = 17.25
    change = 10 - 30 = -20;  se = sqrt(15.25 + 17.25) = sqrt(32.5) = 5.70088
    z = -20 / 5.70088 = -3.50823;  p = 2 x Phi(-3.50823) = 0.000451
    95% CI = -20 -/+ 1.95996 x 5.70088 = -20 -/+ 11.17351 = (-31.17351, -8.82649)
    """
    d = net_score_difference(200, 80, 400, 160, 120, 400, points=100)
    assert (d.score_a, d.score_b) == (pytest.approx(30.0), pytest.approx(10.0))
    assert (d.var_a, d.var_b) == (pytest.approx(15.25), pytest.approx(17.25))
    assert d.delta == pytest.approx(-20.0)
    assert d.se == pytest.approx(5.70088, abs=1e-5)
    assert d.z == pytest.approx(-3.50823, abs=1e-5)
    assert d.p_value == pytest.approx(0.000451, abs=1e-6)
    assert d.ci == (pytest.approx(-31.17351, abs=1e-5), pytest.approx(-8.82649, abs=1e-5))
    assert not d.thin and "multinomial" in d.test


class Sample(NamedTuple):
    promoters: int
    detractors: int
    answers: int
    nps: float
    variance: float  # in NPS points squared


@pytest.mark.parametrize("s", [
    # 3 promoters, 1 detractor of 5 (test_kpis' case): +40; 10^4 x (0.8 - 0.16) / 5 = 1280
    pytest.param(Sample(3, 1, 5, 40.0, 1280.0), id="kpi-case"),
    pytest.param(Sample(10, 0, 10, 100.0, 0.0), id="all-promoters-no-spread"),  # every answer +1: no variance
    pytest.param(Sample(0, 0, 10, 0.0, 0.0), id="all-passives-no-spread"),
    pytest.param(Sample(5, 5, 10, 0.0, 1000.0), id="half-and-half"),  # 10^4 x (1 - 0) / 10: the largest spread
])
def test_one_sample_score_and_variance(s: Sample) -> None:
    assert net_score(s.promoters, s.detractors, s.answers, points=100) == (pytest.approx(s.nps), pytest.approx(s.variance))


def test_a_thin_or_spreadless_sample_is_flagged_and_never_certain() -> None:
    min_volume = load_catalog().kpis["nps"].min_volume  # 50 answers
    thin = net_score_difference(25, 10, 40, 20, 15, 40, points=100, min_n=min_volume)
    assert thin.thin and math.isfinite(thin.z)  # tested, but below the KPI's min_volume: a caller must not headline it
    assert not net_score_difference(25, 10, 50, 20, 15, 50, points=100, min_n=min_volume).thin
    flat = net_score_difference(10, 0, 10, 10, 0, 10, points=100)  # all promoters twice: nothing to divide by
    assert flat.thin and flat.p_value == 1.0


# ---------------------------------------------------------------- its error rates, simulated


def _draws(probs: tuple[float, float, float], n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.multinomial(n, probs, size=size)  # columns: promoters, passives, detractors


def _p_values(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    return np.array([net_score_difference(x[0], x[2], n, y[0], y[2], n, points=100).p_value for x, y in zip(a, b)])


@pytest.mark.parametrize(("probs", "n"), [
    pytest.param((0.5, 0.3, 0.2), 400, id="nps+30-400-answers"),
    pytest.param((0.3, 0.4, 0.3), 100, id="nps0-100-answers"),
    pytest.param((0.5, 0.3, 0.2), 50, id="nps+30-at-min-volume"),
])
def test_with_no_change_it_alarms_five_percent_of_the_time(probs: tuple[float, float, float], n: int) -> None:
    """4,000 seeded pairs of samples from one mix: the share with p < 0.05 is 5 % within 3.5 binomial sigmas."""
    rng = np.random.default_rng(14)
    size = 4000
    rate = float((_p_values(_draws(probs, n, size, rng), _draws(probs, n, size, rng), n) < 0.05).mean())
    band = 3.5 * math.sqrt(0.05 * 0.95 / size)  # 0.012
    assert abs(rate - 0.05) <= band, rate


def test_a_ten_point_change_on_400_answers_is_found_as_often_as_its_power_says() -> None:
    """NPS +30 (50/30/20) -> +20 (45/30/25), 400 answers each: se = 100 x sqrt(0.61/400 + 0.66/400) = 5.635, so a
    10-point fall has z = 1.77 on average and is found at 5 % with power Phi(10/5.635 - 1.96) + Phi(-10/5.635 - 1.96)
    = 0.427 (the change detectable with 80 % power is 2.80 x 5.635 = 15.8 points).  A 20-point fall to +10 (40/30/30):
    se = 100 x sqrt(0.61/400 + 0.70/400) = 5.723, power 0.938."""
    rng = np.random.default_rng(10)
    size = 4000
    before = _draws((0.5, 0.3, 0.2), 400, size, rng)
    se = 100 * math.sqrt(0.61 / 400 + 0.66 / 400)
    power = float(sps.norm.cdf(10 / se - Z95) + sps.norm.cdf(-10 / se - Z95))
    assert power == pytest.approx(0.427, abs=0.001)
    found = float((_p_values(before, _draws((0.45, 0.3, 0.25), 400, size, rng), 400) < 0.05).mean())
    assert abs(found - power) <= 3.5 * math.sqrt(power * (1 - power) / size), found
    se20 = 100 * math.sqrt(0.61 / 400 + 0.70 / 400)
    power20 = float(sps.norm.cdf(20 / se20 - Z95))
    assert power20 == pytest.approx(0.938, abs=0.001)
    twenty = float((_p_values(before, _draws((0.4, 0.3, 0.3), 400, size, rng), 400) < 0.05).mean())
    assert abs(twenty - power20) <= 3.5 * math.sqrt(power20 * (1 - power20) / size), twenty


# ---------------------------------------------------------------- rules.toml names the counts


def test_rules_judge_nps_as_a_net_score_of_the_promoter_and_detractor_measures() -> None:
    rules, catalog = load_rules(), load_catalog()
    spec = next(d for d in rules.detect if d["kpi"] == "nps")
    assert (spec["kind"], spec["positive"], spec["negative"], spec["points"]) == (
        "net_score", "nps_promoters", "nps_detractors", 100.0)
    assert rules.net_parts(catalog) == {"nps": ("nps_promoters", "nps_detractors")}
    reading = reading_catalog(catalog, rules)  # the counts are read with the score, never added to kpis.toml
    assert set(reading.kpis) - set(catalog.kpis) == {"nps_promoters", "nps_detractors"}
    assert reading.kpis["nps_promoters"].numerator == "nps_promoters"


@pytest.mark.parametrize(("numerator", "points"), [
    pytest.param("100 * (nps_promoters - nps_detractors)", 100.0, id="nps"),
    pytest.param("nps_promoters - nps_detractors", 1.0, id="shares"),
    pytest.param("100 * nps_promoters - 100 * nps_detractors", 100.0, id="expanded"),
    pytest.param("100 * (nps_detractors - nps_promoters)", None, id="reversed"),
    pytest.param("100 * nps_promoters", None, id="promoters-only"),
    pytest.param("nps_promoters - nps_detractors + 1", None, id="offset"),
])
def test_the_points_of_a_net_score_are_read_off_its_formula(numerator: str, points: float | None) -> None:
    assert net_points(numerator, "nps_promoters", "nps_detractors") == points


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    shutil.copytree(CATALOG_DIR, tmp_path / "catalog")
    return tmp_path / "catalog"


NPS_BLOCK = 'positive = "nps_promoters" # the measures'


@pytest.mark.parametrize(("old", "new", "message"), [
    pytest.param(NPS_BLOCK, 'positive = "nps_promotors" # the measures',
                 r"\[\[detect\]\] 'nps': positive = 'nps_promotors' must name a measure of measures.toml", id="misspelt"),
    pytest.param(NPS_BLOCK, 'positive = "csat_positive" # the measures',
                 r"'nps': kind 'net_score' needs a ratio KPI whose numerator is points x \(positive - negative\)",
                 id="not-the-kpi-formula"),
    pytest.param(NPS_BLOCK, "# the measures", r"'nps': positive = None must name a measure", id="missing"),
    pytest.param('kpi = "csat"\nkind = "proportion"', 'kpi = "csat"\nkind = "proportion"\nnegative = "csat_positive"',
                 r"\[\[detect\]\] 'csat': 'negative' belongs to a KPI of kind 'net_score'", id="on-a-proportion"),
])
def test_a_wrong_net_score_declaration_stops_with_the_fix(catalog_dir: Path, old: str, new: str, message: str) -> None:
    path = catalog_dir / "rules.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_rules(catalog_dir)


# ---------------------------------------------------------------- the detectors


WEEK0 = date(2025, 1, 6)


def _series(weekly: list[tuple[int, int, int]]) -> det.WeeklySeries:
    periods = [WEEK0 + timedelta(weeks=i) for i in range(len(weekly))]
    return det.WeeklySeries.of(periods, [100 * (p - d) / n for p, d, n in weekly], [100 * (p - d) for p, d, n in weekly],
                               [n for _, _, n in weekly], [n for _, _, n in weekly], kind="net_score",
                               positive=[p for p, _, _ in weekly], negative=[d for _, d, _ in weekly], points=100)


def test_rate_change_tests_the_week_against_the_pooled_baseline_answers() -> None:
    """Eight weeks of 200/80 of 400 (+30), then 160/120 of 400 (+10): pooled baseline 1600/640 of 3200.

    var before = 10^4 x 0.61 / 3200 = 1.90625, var after = 17.25, se = sqrt(19.15625) = 4.37678 (sigma_z 1: the
    identical past weeks replay to z = 0), z = -20 / 4.37678 = -4.5696; the interval is +10 -/+ 1.95996 x 4.37678.
    """
    r = det.rate_change(_series([(200, 80, 400)] * 8 + [(160, 120, 400)]), baseline_weeks=8, min_history=99)
    assert r is not None and "multinomial" in r.test and r.sigma == 1.0
    se = math.sqrt(1.90625 + 17.25)
    assert (r.observed, r.expected, r.delta) == (pytest.approx(10.0), pytest.approx(30.0), pytest.approx(-20.0))
    assert r.z == pytest.approx(-20 / se) and r.n == 400 and r.n_baseline == 3200
    assert r.ci == (pytest.approx(10 - Z95 * se), pytest.approx(10 + Z95 * se))


def test_rate_change_is_widened_by_the_segments_own_week_to_week_wander() -> None:
    """Past weeks that wander beyond their answers' sampling noise replay to |z| > 1: sigma_z widens the test."""
    rng = np.random.default_rng(3)
    weekly = []
    for _ in range(30):
        p = 0.5 + rng.normal(0, 0.06)  # the mix itself moves from week to week
        c = rng.multinomial(400, (p, 0.3, 0.7 - p))
        weekly.append((int(c[0]), int(c[2]), 400))
    r = det.rate_change(_series(weekly), baseline_weeks=8)
    assert r is not None and r.sigma > 1.5 and "σ_z from the segment's past weeks" in r.test
    raw = net_score_difference(*[sum(w[k] for w in weekly[-9:-1]) for k in range(3)], *weekly[-1], points=100)
    assert abs(r.z) == pytest.approx(abs(raw.z) / r.sigma)


@pytest.mark.parametrize("last", [pytest.param(400, id="a-week-like-the-others"),
                                  pytest.param(60, id="a-thin-week-of-60-answers")])
def test_on_steady_weeks_the_detectors_alarm_at_most_five_percent_of_the_time(last: int) -> None:
    """600 seeded segments of 26 weeks of 400 answers and a review week of `last`, all from one mix (+30): the week's
    test and the 3-week window's alarm at p < 0.05 no more often than 5 % (within 3.5 binomial sigmas; sigma_z >= 1
    makes them a little conservative), and not so rarely that they could not see a change.  Judged as a plain mean
    (the spread of the past weeks' values, blind to the week's own answers), a thin week alarms about 40 % of the time."""
    rng = np.random.default_rng(5)
    week, window, as_mean = [], [], []
    for _ in range(600):
        counts = [*rng.multinomial(400, (0.5, 0.3, 0.2), size=26), rng.multinomial(last, (0.5, 0.3, 0.2))]
        s = _series([(int(c[0]), int(c[2]), int(c.sum())) for c in counts])
        r, w = det.rate_change(s, baseline_weeks=8), det.window_change(s, weeks=3, baseline_weeks=8)
        m = det.rate_change(dataclasses.replace(s, kind="mean", positive=None, negative=None), baseline_weeks=8)
        assert r is not None and w is not None and m is not None
        week.append(r.p_value)
        window.append(w.p_value)
        as_mean.append(m.p_value)
    band = 3.5 * math.sqrt(0.05 * 0.95 / 600)  # 0.031
    for p_values in (week, window):
        rate = float((np.array(p_values) < 0.05).mean())
        assert 0.015 <= rate <= 0.05 + band, rate
    if last < 400:
        assert float((np.array(as_mean) < 0.05).mean()) > 0.25


def test_level_shift_confirms_a_net_score_shift_with_the_multinomial_test() -> None:
    weekly = [(200, 80, 400)] * 14 + [(160, 120, 400)] * 4  # +30 for 14 weeks, then +10
    r = det.level_shift(_series(weekly), window=26)
    assert r is not None and "multinomial" in r.test
    assert (r.before, r.after, r.delta, r.weeks_after) == (pytest.approx(30.0), pytest.approx(10.0), pytest.approx(-20.0), 4)
    assert r.ci[1] < 0 and r.p_value < 0.001


# ---------------------------------------------------------------- the engine, on a small workspace


FIRST_MONDAY = date(2024, 9, 2)
WEEKS = 27
REVIEW_WEEK = FIRST_MONDAY + timedelta(weeks=WEEKS - 3)
T_INGEST = datetime(2025, 3, 20, tzinfo=timezone.utc)
TOML = """
[workspace]
name = "nps"
currency = "USD"
[[client]]
id = "acme"
name = "Acme Home"
[[vendor]]
id = "northwind"
name = "Northwind BPO"
[[site]]
id = "nw-manila"
name = "Manila"
vendor = "northwind"
[[user]]
name = "admin"
role = "admin"
"""
USUAL, REVIEW = (30, 18, 12), (24, 18, 18)  # promoters (10), passives (8), detractors (3) a day: +30, then +10


def _workspace(path: Path) -> Workspace:
    """60 NPS answers a day, the same every day (so every past week replays to z = 0 and sigma_z is 1); in the review
    week a fifth of the promoters turn detractors."""
    rows = []
    for day_no in range(WEEKS * 7 - 6):
        day = FIRST_MONDAY + timedelta(days=day_no)
        mix = REVIEW if REVIEW_WEEK <= day < REVIEW_WEEK + timedelta(days=7) else USUAL
        scores = [10.0] * mix[0] + [8.0] * mix[1] + [3.0] * mix[2]
        for i, score in enumerate(scores):
            created = datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc) + timedelta(minutes=i)
            rows.append({"source_system": "csv", "source_instance": "nps", "ticket_id": f"{day:%Y%m%d}-{i}",
                         "client_id": "acme", "vendor_id": "northwind", "site_id": "nw-manila", "channel": "email",
                         "status": "solved", "created_at": created, "resolved_at": created + timedelta(hours=1),
                         "survey_type": "nps", "rating_value": score, "updated_at": T_INGEST, "ingested_at": T_INGEST})
    ws = Workspace.create(path, TOML)
    ws.upsert("tickets", pl.DataFrame(rows))
    return ws


def test_the_engine_tells_an_nps_fall_with_the_multinomial_test_and_its_interval(tmp_path: Path) -> None:
    """The review week: 168 promoters, 126 detractors of 420 answers (+10); the 8 baseline weeks: 1680 and 672 of
    3360 (+30).  var = 10^4 x (0.7 - 0.09) / 3360 + 10^4 x (0.7 - 0.01) / 420 = 1.81548 + 16.42857, se = 4.27131;
    95% CI of the week = +10 -/+ 1.95996 x 4.27131 = (+1.63, +18.37), of the change -20 -/+ 8.37."""
    found = detect(_workspace(tmp_path / "ws"), Scope.everything(), week=REVIEW_WEEK)
    nps = [i for i in found.insights if i.kpi == "nps" and i.type == "rate_change" and i.segment == {"client_id": "acme"}]
    assert nps, [(i.kpi, i.type, i.segment) for i in found.insights]
    ins = nps[0]
    assert ins.test is not None and "multinomial z test of NPS" in ins.test
    se = math.sqrt(1e4 * (0.7 - 0.09) / 3360 + 1e4 * (0.7 - 0.01) / 420)
    assert se == pytest.approx(4.27131, abs=1e-5)
    assert (ins.observed, ins.expected, ins.delta, ins.n) == (pytest.approx(10.0), pytest.approx(30.0),
                                                              pytest.approx(-20.0), 420)
    assert ins.ci == (pytest.approx(10 - Z95 * se), pytest.approx(10 + Z95 * se))
    assert ins.impact is not None and ins.impact["unit"] == "detractors net of promoters"
    assert ins.headline.startswith("NPS fell to +10")
