"""Talent health: exact intervals, attrition arithmetic on a hand-built roster, burnout flag, the sample's attrition spike."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from connectors.store import Scope, Workspace
from insights.analyses.talent import (TalentError, attrition, nesting_cohorts, occupancy, poisson_interval, proportion_interval,
                             speed_to_competency, tenure_mix)


@pytest.mark.parametrize(("k", "lo", "hi"), [
    # Garwood exact 95 % limits for a Poisson count (as tabulated, e.g. Ulm 1990, Am J Epidemiol 131:373)
    pytest.param(0, 0.0, 3.689, id="zero"),
    pytest.param(1, 0.0253, 5.572, id="one"),
    pytest.param(5, 1.6235, 11.668, id="five"),
    pytest.param(10, 4.7954, 18.390, id="ten"),
])
def test_poisson_interval_matches_tabulated_exact_limits(k, lo, hi):
    got_lo, got_hi = poisson_interval(k)
    assert float(got_lo) == pytest.approx(lo, abs=1e-3)
    assert float(got_hi) == pytest.approx(hi, abs=1e-3)


@pytest.mark.parametrize("k", [1, 3, 17, 60])
def test_poisson_interval_inverts_scipy_poisson_tails(k):
    lo, hi = poisson_interval(k)
    assert stats.poisson.sf(k - 1, float(lo)) == pytest.approx(0.025, abs=1e-6)  # P(X >= k | lo)
    assert stats.poisson.cdf(k, float(hi)) == pytest.approx(0.025, abs=1e-6)  # P(X <= k | hi)


def test_poisson_interval_scales_with_exposure_and_proportion_interval_matches_scipy():
    lo, hi = poisson_interval(np.array([4]), np.array([8.0]))
    assert float(lo[0]) == pytest.approx(float(poisson_interval(4)[0]) / 8)
    ci = stats.binomtest(3, 20).proportion_ci(confidence_level=0.95, method="exact")
    plo, phi = proportion_interval(3, 20)
    assert (float(plo), float(phi)) == pytest.approx((ci.low, ci.high), abs=1e-9)


# --------------------------------------------------------------------------- hand-built roster

TOML = """[workspace]
name = "talent test"
[[client]]
id = "acme"
"""


def roster(agents: list[tuple[str, str, date, date | None, str | None]], start: date, end: date,
           occupancy: float = 0.75) -> pl.DataFrame:
    """Every day (no days off) for each (agent, site, hire, termination, type) inside [start, end]."""
    rows = []
    for agent, site, hire, term, kind in agents:
        d = max(hire, start)
        while d <= min(term or end, end):
            left = term is not None and d == term
            rows.append(dict(source_system="test", source_instance="t", client_id="acme", vendor_id="northwind",
                             site_id=site, agent_id=agent, date=d, status="terminated" if left else "active",
                             channel="voice", hire_date=hire, termination_date=term if left else None,
                             termination_type=kind if left else None, scheduled_seconds=28800.0,
                             on_queue_seconds=21600.0, handle_seconds=21600.0 * occupancy,
                             adherent_seconds=26000.0, logged_seconds=28000.0))
            d += timedelta(days=1)
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.fixture()
def january(tmp_path) -> Workspace:
    ws = Workspace.create(tmp_path / "ws", TOML)
    stay = [(f"a{i}", "s1", date(2025, 1, 1), None, None) for i in range(8)]
    leave = [("v1", "s1", date(2025, 6, 1), date(2026, 1, 16), "voluntary"),
             ("i1", "s1", date(2025, 6, 1), date(2026, 1, 16), "involuntary")]
    ws.upsert("staffing_roster", roster(stay + leave, date(2026, 1, 1), date(2026, 1, 31)))
    return ws


def test_attrition_is_terminations_over_agent_months(january):
    m = attrition(january, Scope.everything()).monthly.row(0, named=True)
    exposure = (8 * 31 + 2 * 16) / 30.44
    assert (m["terminations"], m["voluntary"], m["involuntary"]) == (2, 1, 1)
    assert m["exposure_months"] == pytest.approx(exposure)
    assert m["rate"] == pytest.approx(2 / exposure)
    assert m["annualised"] == pytest.approx(12 * 2 / exposure)
    lo, hi = poisson_interval(2, exposure)
    assert (m["lo"], m["hi"]) == pytest.approx((float(lo), float(hi)))


def test_attrition_overall_needs_no_split(january):
    overall = attrition(january, Scope.everything(), by=()).monthly.row(0, named=True)
    by_site = attrition(january, Scope.everything()).monthly
    assert overall["terminations"] == by_site.filter(pl.col("month") == overall["month"])["terminations"].sum() == 2


def test_burnout_flag_needs_weeks_above_the_limit(tmp_path):
    ws = Workspace.create(tmp_path / "ws", TOML)
    team = [(f"a{i}", "busy", date(2025, 1, 1), None, None) for i in range(3)]
    ws.upsert("staffing_roster", roster(team, date(2026, 1, 5), date(2026, 2, 1), occupancy=0.9))
    calm = [(f"b{i}", "calm", date(2025, 1, 1), None, None) for i in range(3)]
    ws.upsert("staffing_roster", roster(calm, date(2026, 1, 5), date(2026, 2, 1), occupancy=0.7))
    occ = occupancy(ws, Scope.everything(), occupancy_limit=0.85, weeks=3)
    busy = occ.filter(pl.col("site_id") == "busy")["burnout_risk"].to_list()
    assert busy == [False, False, True, True]
    assert not occ.filter(pl.col("site_id") == "calm")["burnout_risk"].any()


def test_tenure_mix_bands_and_empty_scope(january):
    mix = tenure_mix(january, Scope.everything(), on=date(2026, 1, 10))
    assert dict(zip(mix["tenure_band"], mix["agents"])) == {"181-365 days": 2, "1-2 years": 8}
    with pytest.raises(TalentError, match="no staffing_roster rows"):
        tenure_mix(january, Scope())


# --------------------------------------------------------------------------- the sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    from sample_data.generator import generate

    out: Path = tmp_path_factory.mktemp("talent") / "ws"
    generate(out, weeks=40, scale=0.3)
    return Workspace.open(out)


def test_sample_attrition_spike_at_sp_austin_shows(sample):
    from sample_data.stories import STORIES_BY_KEY

    story = STORIES_BY_KEY["attrition_spike"]
    m = attrition(sample, Scope.everything(), by=("site_id",)).monthly
    austin = m.filter(pl.col("site_id") == "sp-austin")
    start, stop = story.start(), story.stop()
    inside = austin.filter(pl.col("month").is_between(date(start.year, start.month, 1), stop))
    outside = austin.filter(~pl.col("month").is_between(date(start.year, start.month, 1), stop) & (pl.col("days_covered") > 20))
    rate_in = inside["terminations"].sum() / inside["exposure_months"].sum()
    rate_out = outside["terminations"].sum() / outside["exposure_months"].sum()
    assert rate_in > 1.8 * rate_out, (rate_in, rate_out)


def test_sample_cohorts_and_competency(sample):
    cohorts = nesting_cohorts(sample, Scope.everything())
    assert cohorts["hires"].sum() > 0
    assert cohorts["retained_30d"].drop_nulls().is_between(0, 1).all()
    comp = speed_to_competency(sample, Scope.everything())
    assert set(comp["kpi"]) == {"qa_score", "aht", "csat"}
    assert (comp["weeks_to_competency"].drop_nulls() >= 0).all()
    first90 = attrition(sample, Scope.everything()).first_90_days
    assert ((first90["lo"] <= first90["share"]) & (first90["share"] <= first90["hi"])).all()
