"""Quality and coaching: QA by section, auto-fail reasons, evaluator calibration, and the agents to coach.

* Sections (accuracy, empathy, brand voice, compliance) are means of 0..1 scores, per week.
* Calibration: each evaluator's offset is the mean of (their score − the mean score of the same
  site's evaluations that week), centred on the site's evaluators, with a 95 % t interval; auto-fails (score 0 by rule, not by
  judgement) are left out.  The spread is the range of offsets within a site.
* Coaching: per agent and section, the agent's evaluator-adjusted scores against the same site's
  other agents (Welch one-sided t test), and the agent's CSAT against the site's (one-sided
  binomial score test); Benjamini–Hochberg over every test of the run.  An agent is listed only
  with enough evaluations (or survey responses) and a gap both significant (q < 0.10) and
  material (≥ 3 points); the section to coach is the one with the largest significant gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from connectors.schema import TABLES
from connectors.store import Scope, Workspace
from insights.metrics.periods import in_local_days, period_first_day
from insights.view import Calendars, View
from insights import format

SECTIONS = {"accuracy": "section_accuracy", "empathy": "section_empathy", "brand_voice": "section_brand_voice",
            "compliance": "section_compliance"}
SECTION_LABELS = {"accuracy": "Accuracy", "empathy": "Empathy", "brand_voice": "Brand voice", "compliance": "Compliance"}
QUALITY_WEEKS = 13
WEEK = "__week"  # the first day of a row's reporting week
MIN_EVALUATIONS = 8
MIN_CSAT_RESPONSES = 20
Q_MAX = 0.10
MATERIAL_GAP = 0.03
CALIBRATION_MIN = 10


def _window(week: date, weeks: int) -> tuple[date, date]:
    return week - timedelta(weeks=weeks - 1), week + timedelta(days=6)


def _rows(ws: Workspace, table: str, time_column: str, scope: Scope, filters: Mapping[str, Any] | None,
          week: date, weeks: int) -> pl.LazyFrame:
    """Rows of `table` in the view and window (site/channel filters on rows; client/vendor narrow the scope)."""
    view = View.of(scope, filters, week, config=ws.config)
    lf = view.apply(ws.scan(table, view.scope_for_read()), rows_only=True)
    start, end = _window(week, weeks)
    cals = Calendars.of(ws.config, view.scope_for_read().clients)  # each client's local days and weeks
    dtype = TABLES[table].columns[time_column].dtype
    return (lf.filter(pl.col(time_column).is_not_null() & in_local_days(pl.col(time_column), dtype, cals, start, end))
              .with_columns(period_first_day(pl.col(time_column), "week", dtype, cals).alias(WEEK)))


def evaluations(ws: Workspace, scope: Scope, *, week: date, weeks: int = QUALITY_WEEKS,
                filters: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """The QA evaluations of the view in the `weeks` ending with `week`, with `period` (the first day of their reporting week)."""
    cols = ["evaluation_id", "client_id", "vendor_id", "site_id", "agent_id", "evaluator_id", "evaluated_at", "score",
            "max_score", "passed", "auto_fail", "auto_fail_reason", *SECTIONS.values()]
    return (_rows(ws, "qa_evaluations", "evaluated_at", scope, filters, week, weeks)
            .select(*cols, pl.col(WEEK).alias("period")).collect())


def section_scores(evals: pl.DataFrame) -> pl.DataFrame:
    """Weekly mean of each section and of the overall score (Σscore/Σmax): period, section, label, value, n."""
    if evals.is_empty():
        return pl.DataFrame(schema={"period": pl.Date, "section": pl.String, "label": pl.String,
                                    "value": pl.Float64, "n": pl.Int64})
    parts = [evals.group_by("period").agg(pl.col(c).mean().alias("value"), pl.col(c).count().alias("n"))
                  .with_columns(pl.lit(s).alias("section"), pl.lit(SECTION_LABELS[s]).alias("label"))
             for s, c in SECTIONS.items()]
    parts.append(evals.group_by("period").agg((pl.col("score").sum() / pl.col("max_score").sum()).alias("value"),
                                              pl.len().cast(pl.Int64).alias("n"))
                      .with_columns(pl.lit("overall").alias("section"), pl.lit("QA score").alias("label")))
    return (pl.concat([p.select("period", "section", "label", "value", pl.col("n").cast(pl.Int64)) for p in parts])
              .sort(["section", "period"]))


def auto_fail_reasons(evals: pl.DataFrame) -> pl.DataFrame:
    """reason, auto-fails, share of all auto-fails, rate per evaluation (most frequent first)."""
    total = evals.height
    fails = evals.filter(pl.col("auto_fail").fill_null(False))
    return (fails.group_by(pl.col("auto_fail_reason").fill_null("unspecified").alias("reason"))
                 .agg(pl.len().cast(pl.Int64).alias("auto_fails"))
                 .with_columns((pl.col("auto_fails") / max(fails.height, 1)).alias("share"),
                               (pl.col("auto_fails") / max(total, 1)).alias("rate"))
                 .sort(["auto_fails", "reason"], descending=[True, False]))


def _judged(evals: pl.DataFrame) -> pl.DataFrame:
    """Evaluations scored by judgement (auto-fails excluded), with the score as a share of the maximum."""
    return (evals.filter(~pl.col("auto_fail").fill_null(False) & (pl.col("max_score") > 0))
                 .with_columns((pl.col("score") / pl.col("max_score")).alias("pct")))


def calibration(evals: pl.DataFrame, *, min_evaluations: int = CALIBRATION_MIN) -> pl.DataFrame:
    """Each evaluator's offset from the site's weekly mean, with a 95 % interval; `flag` when it excludes 0.

    Returns evaluator_id, site_id, evaluations, mean, offset, lower, upper, flag, spread (the site's
    range of offsets).
    """
    j = _judged(evals).filter(pl.col("evaluator_id").is_not_null())
    if j.is_empty():
        return pl.DataFrame(schema={"evaluator_id": pl.String, "site_id": pl.String, "evaluations": pl.Int64,
                                    "mean": pl.Float64, "offset": pl.Float64, "lower": pl.Float64,
                                    "upper": pl.Float64, "flag": pl.Boolean, "spread": pl.Float64})
    j = j.with_columns((pl.col("pct") - pl.col("pct").mean().over("site_id", "period")).alias("dev"))
    by = (j.group_by("evaluator_id", "site_id")
           .agg(pl.len().cast(pl.Int64).alias("evaluations"), pl.col("pct").mean().alias("mean"),
                pl.col("dev").mean().alias("offset"), pl.col("dev").std().alias("sd"))
           .filter(pl.col("evaluations") >= min_evaluations))
    # centre on the evaluators' unweighted mean, so one evaluator's larger share does not move the zero
    by = by.with_columns(pl.col("offset") - pl.col("offset").mean().over("site_id"))
    t = [float(sps.t.ppf(0.975, n - 1)) if n > 1 else float("nan") for n in by.get_column("evaluations").to_list()]
    half = pl.Series("t", t) * by.get_column("sd") / by.get_column("evaluations").cast(pl.Float64).sqrt()
    by = by.with_columns((pl.col("offset") - half).alias("lower"), (pl.col("offset") + half).alias("upper"))
    by = by.with_columns(((pl.col("lower") > 0) | (pl.col("upper") < 0)).fill_null(False).alias("flag"))
    by = by.with_columns((pl.col("offset").max() - pl.col("offset").min()).over("site_id").alias("spread"))
    return by.drop("sd").sort(["site_id", "offset"])


def _bh(p: list[float]) -> list[float]:
    if not p:
        return []
    return [float(q) for q in sps.false_discovery_control(np.asarray(p), method="bh")]


def coaching_list(evals: pl.DataFrame, tickets: pl.DataFrame | None = None, *, min_evaluations: int = MIN_EVALUATIONS,
                  min_csat: int = MIN_CSAT_RESPONSES, q_max: float = Q_MAX, material: float = MATERIAL_GAP) -> pl.DataFrame:
    """Agents trailing their site's peers on a QA section or on CSAT, by a test rather than a rank.

    `evals` are QA evaluations (see `evaluations`); `tickets` (agent_id, site_id, csat_positive)
    adds the CSAT test. Returns one row per agent listed: agent_id, site_id, vendor_id,
    evaluations, section (to coach), agent_score, peer_score, gap, p_value, q_value, csat,
    csat_peer, csat_n, reason; the largest significant gaps first.
    """
    j = _judged(evals).filter(pl.col("agent_id").is_not_null())
    tests: list[dict[str, Any]] = []
    if j.height:
        # evaluator-adjusted: take out each evaluator's offset on the section before comparing agents
        for section, col in SECTIONS.items():
            s = j.filter(pl.col(col).is_not_null())
            s = s.with_columns((pl.col(col) - (pl.col(col).mean().over("evaluator_id", "site_id")
                                               - pl.col(col).mean().over("site_id"))).alias("adj"))
            for (site,), group in s.group_by(["site_id"]):
                values = group.select("agent_id", "vendor_id", "adj")
                for (agent, vendor), mine in values.group_by(["agent_id", "vendor_id"]):  # vendors issue their own ids
                    if mine.height < min_evaluations:
                        continue
                    me = (pl.col("agent_id") == agent) & pl.col("vendor_id").eq_missing(vendor)
                    others = values.filter(~me).get_column("adj").to_numpy()
                    a = mine.get_column("adj").to_numpy()
                    if others.size < min_evaluations:
                        continue
                    res = sps.ttest_ind(a, others, equal_var=False, alternative="less")
                    p = float(res.pvalue) if not math.isnan(res.pvalue) else 1.0
                    tests.append({"kind": "qa", "agent_id": agent, "site_id": site, "vendor_id": vendor,
                                  "section": section, "n": a.size, "agent_score": float(a.mean()),
                                  "peer_score": float(others.mean()), "p": p})
    if tickets is not None and tickets.height:
        t = tickets.filter(pl.col("csat_positive").is_not_null() & pl.col("agent_id").is_not_null())
        per = t.group_by("site_id", "agent_id", "vendor_id").agg(pl.col("csat_positive").sum().alias("x"),
                                                                  pl.len().alias("n"))
        site = per.group_by("site_id").agg(pl.col("x").sum().alias("sx"), pl.col("n").sum().alias("sn"))
        for r in per.join(site, on="site_id").filter(pl.col("n") >= min_csat).iter_rows(named=True):
            peer_n = r["sn"] - r["n"]
            if peer_n < min_csat:
                continue
            p0 = (r["sx"] - r["x"]) / peer_n
            rate = r["x"] / r["n"]
            se = math.sqrt(max(p0 * (1 - p0), 1e-12) / r["n"])
            p = float(sps.norm.cdf((rate - p0) / se))
            tests.append({"kind": "csat", "agent_id": r["agent_id"], "site_id": r["site_id"], "vendor_id": r["vendor_id"],
                          "section": "csat", "n": r["n"], "agent_score": rate, "peer_score": p0, "p": p})
    for t, q in zip(tests, _bh([t["p"] for t in tests])):
        t["q"] = q
        t["gap"] = t["agent_score"] - t["peer_score"]
    flagged = [t for t in tests if t["q"] < q_max and t["gap"] <= -material]
    rows = []
    who = lambda t: (t["agent_id"], t["site_id"], t["vendor_id"] or "")  # noqa: E731 - an agent is its vendor's id
    for agent in sorted({who(t) for t in flagged}):
        mine = [t for t in flagged if who(t) == agent]
        qa = sorted((t for t in mine if t["kind"] == "qa"), key=lambda t: t["gap"])
        csat = next((t for t in mine if t["kind"] == "csat"), None)
        lead = qa[0] if qa else csat
        n_evals = next((t["n"] for t in tests if t["kind"] == "qa" and who(t) == agent), 0)
        label = SECTION_LABELS.get(lead["section"], "CSAT")
        reason = (f"{label} {format.value('percent', lead['agent_score'])} against "
                  f"{format.value('percent', lead['peer_score'])} for the site's other agents "
                  f"({format.delta('percent', lead['gap'])}, q = {format.p_value(lead['q'])}, n = {format.count(lead['n'])})")
        if qa and csat:
            reason += (f"; CSAT also trails ({format.value('percent', csat['agent_score'])} vs "
                       f"{format.value('percent', csat['peer_score'])})")
        rows.append({"agent_id": agent[0], "site_id": agent[1], "vendor_id": lead["vendor_id"], "evaluations": n_evals,
                     "section": lead["section"], "agent_score": lead["agent_score"], "peer_score": lead["peer_score"],
                     "gap": lead["gap"], "p_value": lead["p"], "q_value": lead["q"],
                     "csat": csat["agent_score"] if csat else None, "csat_peer": csat["peer_score"] if csat else None,
                     "csat_n": csat["n"] if csat else None, "reason": reason})
    schema = {"agent_id": pl.String, "site_id": pl.String, "vendor_id": pl.String, "evaluations": pl.Int64,
              "section": pl.String, "agent_score": pl.Float64, "peer_score": pl.Float64, "gap": pl.Float64,
              "p_value": pl.Float64, "q_value": pl.Float64, "csat": pl.Float64, "csat_peer": pl.Float64,
              "csat_n": pl.Int64, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema).sort("gap")


def csat_by_agent(ws: Workspace, scope: Scope, *, week: date, weeks: int = QUALITY_WEEKS,
                  filters: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Surveyed tickets of the view and window: agent_id, site_id, vendor_id, csat_positive."""
    return (_rows(ws, "tickets", "created_at", scope, filters, week, weeks)
            .filter(pl.col("csat_positive").is_not_null())
            .select("agent_id", "site_id", "vendor_id", "csat_positive").collect())
