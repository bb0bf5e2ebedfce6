"""QA evaluations: a small sample of handled tickets scored by calibrated (or not) evaluators."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from sample_data.calendar import DAY, Calendar
from sample_data.operation import (CHANNELS, EVALUATOR_BIAS, EVALUATORS_PER_SITE, QA_AUTO_FAIL_RATE,
                                   QA_AUTO_FAIL_REASONS, QA_PASS_MARK, QA_SAMPLE_RATE, QA_SECTION_WEIGHTS, SITES,
                                   SOURCE_SYSTEM)
from sample_data.volume import CLIENT_IDS, SITE_IDS
from sample_data.workforce import Agents

SECTIONS = tuple(QA_SECTION_WEIGHTS)
SECTION_MEAN = {"empathy": 0.87, "brand_voice": 0.86, "compliance": 0.95}
MAX_SCORE = 100.0


def evaluations(cal: Calendar, agents: Agents, t: dict[str, np.ndarray], first_id: int, instance: str,
                rng: np.random.Generator) -> pl.DataFrame:
    """Evaluate ~QA_SAMPLE_RATE of the block's solved tickets that have an agent."""
    pick = np.flatnonzero((t["agent"] >= 0) & t["res_known"] & (rng.random(t["agent"].size) < QA_SAMPLE_RATE))
    n = pick.size
    at = t["created"][pick] + t["res"][pick] + rng.uniform(1, 6, n) * DAY
    keep = at <= cal.end_epoch
    pick, at, n = pick[keep], at[keep], int(keep.sum())
    agent = t["agent"][pick]
    site = t["site"][pick]
    evaluator = rng.integers(0, EVALUATORS_PER_SITE, n)
    bias = np.asarray(EVALUATOR_BIAS)[evaluator % len(EVALUATOR_BIAS)]
    tenure = t["day"][pick] - agents.hire_day[agent]
    sections = {
        "accuracy": agents.quality[agent] - 0.08 * (tenure < 60) + rng.normal(0, 0.06, n),
        **{k: m + rng.normal(0, 0.06, n) for k, m in SECTION_MEAN.items()},
    }
    sections["empathy"] = sections["empathy"] - 0.08 * (t["csat_given"][pick] & ~t["csat_pos"][pick])
    sections = {k: np.clip(np.round(v + bias, 2), 0, 1) for k, v in sections.items()}
    auto_fail = rng.random(n) < QA_AUTO_FAIL_RATE
    reasons = list(QA_AUTO_FAIL_REASONS)
    reason = rng.choice(len(reasons), n, p=list(QA_AUTO_FAIL_REASONS.values()))
    sections["compliance"] = np.where(auto_fail & (reason != reasons.index("rude language")), 0.0, sections["compliance"])
    score = np.round(sum(QA_SECTION_WEIGHTS[k] * sections[k] for k in SECTIONS) * MAX_SCORE * 2) / 2
    score = np.where(auto_fail, 0.0, score)
    ticket_ids = pl.Series(first_id + pick).cast(pl.String).str.zfill(9)
    evaluated = pl.Series(np.round(at * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC"))
    return pl.DataFrame({
        "source_system": SOURCE_SYSTEM,
        "source_instance": instance,
        "ingested_at": evaluated.dt.truncate("1d") + timedelta(days=1, hours=2),
        "updated_at": evaluated,
        "client_id": pl.Series(CLIENT_IDS).gather(t["client"][pick]),
        "vendor_id": pl.Series([SITES[s].vendor for s in SITE_IDS]).gather(site),
        "site_id": pl.Series(SITE_IDS).gather(site),
        "evaluation_id": pl.select(pl.format("QA-T{}", pl.lit(ticket_ids))).to_series(),
        "agent_id": pl.Series(agents.ids.tolist(), dtype=pl.String).gather(agent),
        "evaluator_id": pl.select(pl.format("qa-{}-{}", pl.lit(pl.Series(SITE_IDS).gather(site)),
                                            pl.lit(pl.Series(evaluator + 1)))).to_series(),
        "ticket_id": pl.select(pl.format("T{}", pl.lit(ticket_ids))).to_series(),
        "channel": pl.Series(list(CHANNELS)).gather(t["channel"][pick]),
        "form": pl.select(pl.format("{}-{}-scorecard-v2", pl.lit(pl.Series(CLIENT_IDS).gather(t["client"][pick])),
                                    pl.lit(pl.Series(np.where(t["channel"][pick] == CHANNELS.index("voice"), "voice", "digital"))))).to_series(),
        "evaluated_at": evaluated,
        "score": score,
        "max_score": MAX_SCORE,
        "passed": (score / MAX_SCORE >= QA_PASS_MARK) & ~auto_fail,
        "auto_fail": auto_fail,
        "auto_fail_reason": pl.select(pl.when(pl.Series(auto_fail)).then(pl.Series(reasons).gather(reason))).to_series(),
        **{f"section_{k}": sections[k] for k in SECTIONS},
    })
