"""Talent health: attrition (exact Poisson intervals), tenure mix, occupancy and burnout risk, speed to competency, cohorts.

Everything is read from `staffing_roster` (one row per agent per worked day), `tickets` and
`qa_evaluations` through `ws.scan` with the viewer's scope.  An agent is (vendor_id, agent_id):
vendors issue their own ids, so two vendors' agent 'a1' keep separate figures.

* attrition rate = terminations / agent-months of exposure (agents employed × days / 30.44);
  annualised = monthly × 12; the 95 % interval is the exact (Garwood) Poisson interval of the count;
* first-90-day attrition = share of hires, employed 90 days ago or earlier, who left within 90 days
  (exact Clopper–Pearson interval);
* burnout risk = occupancy (handle / on-queue time) above `occupancy_limit` for `weeks` weeks running;
* speed to competency = weeks from hire until an agent's rolling QA score, AHT and CSAT first reach
  the site's median of tenured agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy import stats

from connectors.store import Scope, Workspace
from insights.errors import InsightsError
from insights.metrics.periods import period_first_day
from insights.view import Calendars

DAYS_PER_MONTH = 30.44
# An agent is (vendor, agent id): each vendor issues its own ids, so two vendors' 'a1' are two people.
AGENT = ("vendor_id", "agent_id")
TENURE_BANDS: tuple[tuple[str, int, int], ...] = (("0-90 days", 0, 90), ("91-180 days", 91, 180),
                                                  ("181-365 days", 181, 365), ("1-2 years", 366, 730),
                                                  ("2+ years", 731, 1_000_000))


class TalentError(InsightsError):
    """A talent question cannot be answered (no roster in scope, unknown dimension)."""


# --------------------------------------------------------------------------- exact intervals


def poisson_interval(count: int | np.ndarray, exposure: float | np.ndarray = 1.0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval of a Poisson rate count/exposure: chi-square quantiles of 2k and 2k+2 d.f."""
    k = np.asarray(count, dtype=float)
    e = np.asarray(exposure, dtype=float)
    alpha = 1 - level
    lo = np.where(k > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(k, 1e-300)) / 2, 0.0)
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return lo / e, hi / e


def proportion_interval(successes: int | np.ndarray, trials: int | np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper–Pearson) interval of a proportion."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x > 0, stats.beta.ppf(alpha / 2, np.maximum(x, 1e-300), n - x + 1), 0.0)
        hi = np.where(x < n, stats.beta.ppf(1 - alpha / 2, x + 1, np.maximum(n - x, 1e-300)), 1.0)
    return lo, hi


# --------------------------------------------------------------------------- agents


def agents(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """One row per agent: tenant keys, channel, hire date, first/last day seen, termination date, type and reason."""
    lf = ws.scan("staffing_roster", scope)
    a = (lf.sort("date").group_by(*AGENT)
         .agg(pl.col("client_id").last(), pl.col("site_id").last(), pl.col("channel").last(),
              pl.col("hire_date").drop_nulls().first(), pl.col("date").min().alias("first_seen"),
              pl.col("date").max().alias("last_seen"), pl.col("termination_date").drop_nulls().first(),
              pl.col("termination_type").drop_nulls().first(), pl.col("termination_reason").drop_nulls().first())
         .with_columns(pl.coalesce("hire_date", "first_seen").alias("hire_date"))
         .collect())
    if a.height == 0:
        raise TalentError("no staffing_roster rows in scope; import the roster (one row per agent per day) first")
    return a.select("agent_id", "client_id", "vendor_id", *[c for c in a.columns if c not in (*AGENT, "client_id")]
                    ).sort(*AGENT)


def _months(first: date, last: date) -> list[date]:
    out, d = [], date(first.year, first.month, 1)
    while d <= last:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


@dataclass(frozen=True)
class AttritionResult:
    """Monthly attrition per segment with exact intervals, plus the first-90-day view."""

    monthly: pl.DataFrame  # month, *by, headcount, exposure_months, terminations, voluntary, involuntary, rate, annualised, lo, hi
    first_90_days: pl.DataFrame  # *by, hires, left_within_90, share, lo, hi


def _grouped(frame: pl.DataFrame, by: tuple[str, ...], *aggs: pl.Expr) -> pl.DataFrame:
    """Aggregate per `by` group, or over the whole frame when `by` is empty."""
    return frame.group_by(*by).agg(*aggs) if by else frame.select(*aggs)


def attrition(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = ("site_id",), level: float = 0.95) -> AttritionResult:
    """Monthly and annualised attrition (voluntary vs involuntary) per segment, with exact Poisson intervals."""
    a = agents(ws, scope)
    bad = [b for b in by if b not in a.columns]
    if bad:
        raise TalentError(f"cannot split attrition by {', '.join(bad)}; use client_id, vendor_id, site_id or channel")
    data_start, data_end = a["first_seen"].min(), a["last_seen"].max()
    months = _months(data_start, data_end)
    rows = []
    start_col = pl.max_horizontal(pl.col("hire_date"), pl.lit(data_start))
    end_col = pl.coalesce("termination_date", pl.lit(data_end))
    for m in months:
        m_end = min(_months(m, m + timedelta(days=32))[1] - timedelta(days=1), data_end)
        m_start = max(m, data_start)
        days = (pl.min_horizontal(end_col, pl.lit(m_end)) - pl.max_horizontal(start_col, pl.lit(m_start))).dt.total_days() + 1
        f = a.with_columns(days.clip(lower_bound=0).alias("days"),
                           pl.col("termination_date").is_between(m_start, m_end).fill_null(False).alias("left"))
        g = _grouped(f, by,
            (pl.col("days").sum() / ((m_end - m_start).days + 1)).alias("headcount"),
            (pl.col("days").sum() / DAYS_PER_MONTH).alias("exposure_months"),
            pl.col("left").sum().alias("terminations"),
            (pl.col("left") & (pl.col("termination_type") == "voluntary")).sum().alias("voluntary"),
            (pl.col("left") & (pl.col("termination_type") == "involuntary")).sum().alias("involuntary"),
        ).with_columns(pl.lit(m).alias("month"), pl.lit((m_end - m_start).days + 1).alias("days_covered"))
        rows.append(g)
    monthly = pl.concat(rows).filter(pl.col("exposure_months") > 0)
    lo, hi = poisson_interval(monthly["terminations"].to_numpy(), monthly["exposure_months"].to_numpy(), level)
    monthly = monthly.with_columns(
        (pl.col("terminations") / pl.col("exposure_months")).alias("rate"),
        (pl.col("terminations") / pl.col("exposure_months") * 12).alias("annualised"),
        pl.Series("lo", lo), pl.Series("hi", hi),
    ).select("month", *by, "days_covered", "headcount", "exposure_months", "terminations", "voluntary", "involuntary",
             "rate", "annualised", "lo", "hi").sort("month", *by)
    hires = a.filter((pl.col("hire_date") >= data_start) & (pl.col("hire_date") <= data_end - timedelta(days=90)))
    early = _grouped(hires, by,
        pl.len().alias("hires"),
        ((pl.col("termination_date") - pl.col("hire_date")).dt.total_days() < 90).fill_null(False).sum().alias("left_within_90"),
    )
    early = early.sort(*by) if by else early
    plo, phi = proportion_interval(early["left_within_90"].to_numpy(), early["hires"].to_numpy(), level)
    early = early.with_columns((pl.col("left_within_90") / pl.col("hires")).alias("share"), pl.Series("lo", plo), pl.Series("hi", phi))
    return AttritionResult(monthly, early)


def tenure_mix(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = ("site_id",), on: date | None = None) -> pl.DataFrame:
    """Employed agents by tenure band on `on` (default: the roster's last day), with each band's share."""
    a = agents(ws, scope)
    day = on or a["last_seen"].max()
    employed = a.filter((pl.col("hire_date") <= day) & (pl.col("termination_date").is_null() | (pl.col("termination_date") > day)))
    tenure = (pl.lit(day) - pl.col("hire_date")).dt.total_days()
    band = pl.lit(None, dtype=pl.String)
    for name, lo, hi in reversed(TENURE_BANDS):
        band = pl.when(tenure.is_between(lo, hi)).then(pl.lit(name)).otherwise(band)
    return (employed.with_columns(band.alias("tenure_band"))
            .group_by(*by, "tenure_band").agg(pl.len().alias("agents"))
            .with_columns((pl.col("agents") / pl.col("agents").sum().over(list(by) or None)).alias("share"))
            .sort(*by, "tenure_band"))


def occupancy(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = ("site_id",), occupancy_limit: float = 0.85,
              weeks: int = 3) -> pl.DataFrame:
    """Weekly occupancy (handle / on-queue) and adherence (adherent / scheduled) with a burnout-risk flag.

    `burnout_risk` is true in a week when occupancy has been above `occupancy_limit` for `weeks`
    consecutive weeks up to and including it.
    """
    week = period_first_day(pl.col("date"), "week", pl.Date(), Calendars.of(ws.config, scope.clients))  # reporting weeks
    w = (ws.scan("staffing_roster", scope).filter(pl.col("status") != "terminated")
         .group_by(week.alias("week"), *by)
         .agg(pl.col("handle_seconds").sum(), pl.col("on_queue_seconds").sum(), pl.col("adherent_seconds").sum(),
              pl.col("scheduled_seconds").sum(), pl.struct(*AGENT).n_unique().alias("agents"))
         .with_columns((pl.col("handle_seconds") / pl.col("on_queue_seconds")).alias("occupancy"),
                       (pl.col("adherent_seconds") / pl.col("scheduled_seconds")).alias("adherence"))
         .sort(*by, "week").collect())
    over = (pl.col("occupancy") > occupancy_limit).cast(pl.Int32)
    run = over.rolling_sum(window_size=weeks, min_samples=weeks)
    if by:
        run = run.over(list(by))
    return w.with_columns((run == weeks).fill_null(False).alias("burnout_risk")).select(
        "week", *by, "agents", "occupancy", "adherence", "burnout_risk")


# --------------------------------------------------------------------------- speed to competency

COMPETENCY_KPIS: dict[str, tuple[str, str]] = {  # name -> (source, direction)
    "qa_score": ("qa_evaluations", "higher_is_better"),
    "aht": ("tickets", "lower_is_better"),
    "csat": ("tickets", "higher_is_better"),
}


def speed_to_competency(ws: Workspace, scope: Scope, *, tenured_days: int = 180, rolling_weeks: int = 4,
                        max_weeks: int = 52) -> pl.DataFrame:
    """Per agent hired inside the data and per KPI: weeks from hire until the rolling value first reaches the site median.

    The site median is the median of tenured agents' (hired `tenured_days`+ before) per-agent
    values over the whole period.  `weeks_to_competency` is null when the agent has not got there yet.
    """
    a = agents(ws, scope)
    data_start = a["first_seen"].min()
    cals, utc = Calendars.of(ws.config, scope.clients), pl.Datetime("us", "UTC")  # the client's reporting weeks
    t = (ws.scan("tickets", scope).filter(pl.col("agent_id").is_not_null())
         .group_by(*AGENT, period_first_day(pl.col("created_at"), "week", utc, cals).alias("week"))
         .agg(pl.col("handle_seconds").sum().alias("aht_num"), pl.col("handle_seconds").count().alias("aht_den"),
              pl.col("csat_positive").cast(pl.Float64).sum().alias("csat_num"), pl.col("csat_positive").count().alias("csat_den"))
         .collect())
    q = (ws.scan("qa_evaluations", scope)
         .group_by(*AGENT, period_first_day(pl.col("evaluated_at"), "week", utc, cals).alias("week"))
         .agg(pl.col("score").sum().alias("qa_score_num"), pl.col("max_score").sum().alias("qa_score_den")).collect())
    weekly = t.join(q, on=[*AGENT, "week"], how="full", coalesce=True).join(
        a.select(*AGENT, "site_id", "hire_date"), on=list(AGENT))
    weekly = weekly.with_columns(((pl.col("week") - pl.col("hire_date")).dt.total_days() // 7).alias("tenure_week"))
    out = []
    for kpi, (_, direction) in COMPETENCY_KPIS.items():
        num, den = f"{kpi}_num", f"{kpi}_den"
        agent_level = (weekly.filter(pl.col("tenure_week") * 7 >= tenured_days).group_by("site_id", *AGENT)
                       .agg((pl.col(num).sum() / pl.col(den).sum()).alias("v")))
        medians = agent_level.group_by("site_id").agg(pl.col("v").median().alias("site_median"))
        new = (weekly.filter((pl.col("hire_date") >= data_start) & (pl.col("tenure_week") >= 0)
                             & (pl.col("tenure_week") <= max_weeks))
               .sort(*AGENT, "week")
               .with_columns((pl.col(num).fill_null(0).rolling_sum(rolling_weeks, min_samples=1).over(AGENT)
                              / pl.col(den).fill_null(0).rolling_sum(rolling_weeks, min_samples=1).over(AGENT)).alias("rolling"))
               .join(medians, on="site_id"))
        reached = (pl.col("rolling") >= pl.col("site_median")) if direction == "higher_is_better" else (pl.col("rolling") <= pl.col("site_median"))
        first = (new.filter(reached & pl.col("rolling").is_not_nan()).group_by(*AGENT)
                 .agg(pl.col("tenure_week").min().alias("weeks_to_competency")))
        out.append(new.select(*AGENT, "site_id", "hire_date").unique().join(first, on=list(AGENT), how="left")
                   .with_columns(pl.lit(kpi).alias("kpi")))
    return (pl.concat(out).select("agent_id", "vendor_id", "site_id", "hire_date", "kpi", "weeks_to_competency")
            .sort("kpi", *AGENT))


def nesting_cohorts(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = ("site_id",)) -> pl.DataFrame:
    """Hiring cohorts (hire week × segment): size, still employed at 30/60/90 days, and who left while nesting."""
    a = agents(ws, scope)
    data_end = a["last_seen"].max()
    roster = ws.scan("staffing_roster", scope)
    nest_end = (roster.filter(pl.col("status") == "nesting").group_by(*AGENT)
                .agg(pl.col("date").max().alias("last_nesting_day")).collect())
    a = a.join(nest_end, on=list(AGENT), how="left").filter(pl.col("hire_date") >= a["first_seen"].min())
    stay = {}
    for d in (30, 60, 90):
        alive = pl.col("termination_date").is_null() | ((pl.col("termination_date") - pl.col("hire_date")).dt.total_days() >= d)
        observed = (pl.lit(data_end) - pl.col("hire_date")).dt.total_days() >= d
        stay[f"retained_{d}d"] = pl.when(observed).then(alive.cast(pl.Float64))
    left_nesting = (pl.col("termination_date").is_not_null() & pl.col("last_nesting_day").is_not_null()
                    & (pl.col("termination_date") <= pl.col("last_nesting_day") + timedelta(days=1)))
    cohort = period_first_day(pl.col("hire_date"), "week", pl.Date(), Calendars.of(ws.config, scope.clients))
    return (a.with_columns(cohort.alias("cohort_week"),
                           left_nesting.alias("left_in_nesting"), **stay)
            .group_by("cohort_week", *by)
            .agg(pl.len().alias("hires"), *[pl.col(f"retained_{d}d").mean() for d in (30, 60, 90)],
                 pl.col("left_in_nesting").sum())
            .sort("cohort_week", *by))
