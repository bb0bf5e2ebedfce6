"""QA sections, auto-fail reasons, evaluator calibration and the coaching list on planted data."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from insights.analyses.quality import auto_fail_reasons, calibration, coaching_list, section_scores

WEEK = date(2025, 3, 3)
EVALUATOR_BIAS = {"ev-harsh": -0.05, "ev-fair": 0.0, "ev-kind": 0.05}


def planted(*, weak: str = "agent-weak", weak_gap: float = 0.12, evals_per_agent: int = 20, few: int = 3,
            seed: int = 11) -> pl.DataFrame:
    """Ten agents at one site scored by three evaluators with known biases; `weak` trails on accuracy;
    'agent-few' is the worst on paper but has only `few` evaluations."""
    rng = np.random.default_rng(seed)
    rows = []
    agents = [f"agent-{i}" for i in range(8)] + [weak, "agent-few"]
    for a in agents:
        n = few if a == "agent-few" else evals_per_agent
        for k in range(n):
            ev = list(EVALUATOR_BIAS)[k % 3]
            bias = EVALUATOR_BIAS[ev]
            acc = 0.9 - (weak_gap if a == weak else 0.0) - (0.2 if a == "agent-few" else 0.0) + rng.normal(0, 0.03)
            sections = {"accuracy": acc, "empathy": 0.88 + rng.normal(0, 0.03),
                        "brand_voice": 0.86 + rng.normal(0, 0.03), "compliance": 0.95 + rng.normal(0, 0.02)}
            sections = {s: float(np.clip(v + bias, 0, 1)) for s, v in sections.items()}
            auto = (a, k) in {("agent-0", 0), ("agent-1", 1), ("agent-2", 2)}
            rows.append({
                "evaluation_id": f"{a}-{k}", "client_id": "acme", "vendor_id": "northwind", "site_id": "nw-manila",
                "agent_id": a, "evaluator_id": ev,
                "evaluated_at": datetime(2025, 3, 3, tzinfo=timezone.utc) + timedelta(hours=k),
                "score": 0.0 if auto else round(100 * sum(sections.values()) / 4, 1), "max_score": 100.0,
                "passed": not auto, "auto_fail": auto,
                "auto_fail_reason": ("disclosure missed" if k < 2 else "rude language") if auto else None,
                **{f"section_{s}": v for s, v in sections.items()},
            })
    frame = pl.DataFrame(rows)
    return frame.with_columns(pl.col("evaluated_at").dt.date().dt.truncate("1w").alias("period"))


def test_sections_are_weekly_means_and_the_overall_score_is_sum_over_sum():
    evals = planted()
    out = section_scores(evals).filter(pl.col("period") == WEEK)
    got = dict(out.select("section", "value").iter_rows())
    assert got["accuracy"] == pytest.approx(evals["section_accuracy"].mean())
    assert got["overall"] == pytest.approx(evals["score"].sum() / evals["max_score"].sum())
    assert set(out["n"]) == {evals.height}


def test_auto_fail_reasons_are_counted_with_their_share():
    out = auto_fail_reasons(planted())
    assert out.select("reason", "auto_fails").rows() == [("disclosure missed", 2), ("rude language", 1)]
    assert out["share"].to_list() == pytest.approx([2 / 3, 1 / 3])


def test_calibration_recovers_each_evaluators_bias_and_flags_it():
    out = {r["evaluator_id"]: r for r in calibration(planted()).iter_rows(named=True)}
    # offsets are relative to the site mean, whose bias is the mean of the three (0 here)
    centre = sum(EVALUATOR_BIAS.values()) / 3
    for ev, bias in EVALUATOR_BIAS.items():
        assert out[ev]["offset"] == pytest.approx(bias - centre, abs=0.01)
    assert (out["ev-harsh"]["flag"], out["ev-kind"]["flag"], out["ev-fair"]["flag"]) == (True, True, False)
    assert out["ev-fair"]["spread"] == pytest.approx(0.10, abs=0.015)


def test_the_coaching_list_is_a_test_not_a_rank():
    out = coaching_list(planted())
    assert out["agent_id"].to_list() == ["agent-weak"]  # agent-few is lowest but has 3 evaluations only
    row = out.row(0, named=True)
    assert row["section"] == "accuracy"
    assert row["gap"] == pytest.approx(-0.12 * 10 / 9, abs=0.03)  # the weak agent's gap against the nine others
    assert row["q_value"] < 0.10 and row["evaluations"] == 20
    assert row["reason"].startswith("Accuracy ")


def test_nobody_is_listed_when_no_one_trails():
    assert coaching_list(planted(weak_gap=0.0, few=0)).is_empty()


def test_csat_trailing_peers_lists_an_agent_with_enough_responses():
    rng = np.random.default_rng(3)
    rows = [{"agent_id": f"a{i}", "site_id": "s", "vendor_id": "v", "csat_positive": bool(rng.random() < 0.85)}
            for i in range(6) for _ in range(60)]
    rows += [{"agent_id": "a-low", "site_id": "s", "vendor_id": "v", "csat_positive": k < 30} for k in range(60)]
    out = coaching_list(planted(weak_gap=0.0, few=0), pl.DataFrame(rows))
    assert out["agent_id"].to_list() == ["a-low"]
    assert out.row(0, named=True)["section"] == "csat"
