"""Narrative: templates and playbooks as data, five slots, numbers only from the record."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import date

import pytest

from insights.detection import narrative
from insights.catalog import CATALOG_DIR

RULES = narrative.load_rules()


def draft(**over):
    d = {"type": "rate_change", "kpi": "csat", "segment": {"client_id": "acme", "contact_reason": "technical_issue"},
         "unit": "percent", "period": {"start": date(2026, 10, 26), "end": date(2026, 11, 1)}, "observed": 0.61,
         "expected": 0.83, "delta": -0.22, "ci": (0.55, 0.67), "n": 240, "baseline": "trailing 8 weeks",
         "impact": {"value": 52.8, "unit": "dissatisfied survey responses"}, "drivers": [],
         "evidence": {"polarity": "bad", "events": [{"kind": "release", "name": "Acme app 5.2 release",
                                                     "start": "2026-10-26", "end": "2026-10-26"}]},
         "action": {"text": "Read the responses.", "owner": "brand CX lead", "verify_kpi": "csat", "verify_week": "2026-11-09"}}
    d.update(over)
    return d


def test_every_type_has_five_slots_and_the_playbooks_end_with_a_catch_all():
    for type_, slots in RULES.templates.items():
        assert set(narrative.SLOTS) <= set(slots), type_
    assert RULES.playbook(kpi="no_such_kpi", type_="trend", driver_kind=None, polarity="bad", segment_owner="brand").owner


def test_rate_change_renders_what_where_why_so_what_do():
    text = narrative.render(draft(), "CSAT (top box)", RULES)
    assert text["what"] == ("CSAT (top box) fell to 61.0% in the week of 2026-10-26 (−22.0 pts vs 83.0%, trailing 8 weeks; "
                            "95% CI 55.0% to 67.0%, n = 240).")
    assert "coincides with the release 'Acme app 5.2 release' (2026-10-26)" in text["why"]
    assert "caused" not in text["meaning"]
    assert "53 dissatisfied survey responses more" in text["so_what"]
    assert text["do"].endswith("Owner: brand CX lead. Check CSAT (top box) in the week of 2026-11-09.")


def test_mix_driver_is_worded_as_mix():
    d = draft(kpi="sla_first_response", drivers=[{"dimension": "channel", "value": "chat", "kind": "mix", "effect": -0.015,
                                                   "share_of_change": 0.93, "share_of_volume": 0.3, "surprise": 0.9,
                                                   "rate_before": 0.3, "rate_after": 0.1}])
    assert "the change is mix: the share of channel chat moved from 30.0% to 10.0%" in narrative.render(d, "SLA", RULES)["where"]


def test_thin_segment_says_so_instead_of_alarming():
    d = draft(evidence={"polarity": "bad", "thin": [{"what": "CSAT responses", "segment": {"client_id": "acme", "site_id": "hq-denver"},
                                                     "n": 41, "mde": 0.22}]})
    assert ("Not enough CSAT responses to call a change at acme · site hq-denver: n = 41, smallest detectable change "
            "about 22.0 pts") in narrative.render(d, "CSAT", RULES)["why"]


def test_rules_problems_are_listed_at_once(tmp_path):
    shutil.copytree(CATALOG_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "rules.toml").write_text('[fdr]\nweekly = ["rate_change"]\nsustained = ["rate_change"]\n'
                                         '[templates.trend]\nwhat = "x"\n[[detect]]\nkpi = "csat"\nimpact = "nope"\n')
    (tmp_path / "playbooks.toml").write_text('[[playbook]]\nkpi = "csat"\naction = "a"\nowner = "o"\nverify_kpi = "csat"\n')
    with pytest.raises(narrative.RulesError, match=r"(?s)'headline_q' is missing.*missing slot\(s\) where.*"
                                                   r"'rate_change' is in both.*catch-all"):
        narrative.load_rules(tmp_path)


def test_a_driver_that_overshoots_the_change_is_not_given_a_share_above_100_percent():
    d = draft(drivers=[{"dimension": "site_id", "value": "nw-manila", "kind": "rate", "effect": -0.05,
                        "share_of_change": 23.678, "share_of_volume": 0.42, "surprise": 23.2}])
    where = narrative.render(d, "CSAT", RULES)["where"]
    assert "%" not in where.replace("42.0%", "")  # only the volume share is a percentage
    assert "site nw-manila (42.0% of the volume), which moved by more than the whole change" in where


@pytest.mark.parametrize(("type_", "family"), [
    ("rate_change", "weekly"), ("volume_anomaly", "weekly"), ("level_shift", "sustained"), ("trend", "sustained"),
    ("small_count_rate", "monthly"),
])
def test_each_detector_is_judged_in_its_own_fdr_family(type_, family):
    assert RULES.family(type_) == family


def test_a_kpi_judged_by_the_month_joins_the_monthly_family():
    assert RULES.family("rate_change", grain="month") == "monthly"


def test_an_improvement_is_told_the_way_its_detector_saw_it():
    d = draft(type="improvement", delta=0.082, observed=0.877, expected=0.795, ci=(0.057, 0.107),
              evidence={"polarity": "good", "detector": "level_shift", "shift_week": "2026-08-24"})
    what = narrative.render(d, "CSAT (top box)", RULES)["what"]
    assert what.startswith("CSAT (top box) has risen to 87.7% since the week of 2026-08-24 (+8.2 pts vs 79.5% before")
    assert "95% CI of the change +5.7 pts to +10.7 pts" in what


def test_a_routing_shift_names_where_the_work_went():
    d = draft(type="routing_shift", kpi="tickets_created", unit="count", segment={"client_id": "globex", "site_id": "eb-cebu"},
              observed=847.0, expected=1142.0, delta=-295.0, ci=None, n=847,
              impact={"value": 295.0, "unit": "tickets"},
              evidence={"polarity": "neutral", "shift_week": "2026-02-09", "share_before": 0.446, "share_after": 0.331,
                        "counterparts": [{"site_id": "sp-krakow", "share_before": 0.351, "share_after": 0.46}]})
    text = narrative.render(d, "Tickets created", RULES)
    assert "its share of the client's contacts went from 44.6% to 33.1%" in text["what"]
    assert "The work went to site sp-krakow (share 35.1% to 46.0%)." in text["where"]
    assert "295 tickets routed away from the site since the week of 2026-02-09" in text["so_what"]


def test_a_generic_playbook_is_verified_on_the_insights_own_kpi():
    book = RULES.playbook(kpi="service_level", type_="rate_change", driver_kind=None, polarity="good", segment_owner="brand")
    assert book.verify_kpi == "same"  # the engine puts the insight's KPI there (service level, not CSAT)


def test_a_change_that_also_misses_the_contract_says_so_with_the_credit():
    d = draft(kpi="sla_first_response", evidence={"polarity": "bad", "target_miss": {
        "target": 0.85, "observed": 0.705, "delta": -0.145, "segment": {"client_id": "acme", "channel": "email"},
        "penalty": 3631.0, "currency": "USD", "week": "2026-10-26"}})
    # a shift's "since" level and the contract's week are two windows: the week is named
    assert narrative.render(d, "SLA", RULES)["so_what"].endswith(
        "The contract's target for acme · channel email is 85.0%: in the week of 2026-10-26 it was at 70.5%, 14.5 pts "
        "short (a service credit of about USD 3,631).")


def test_a_template_may_name_every_field_the_validator_accepts():
    """Every field rules.toml may name is one render fills: a template the validator passes never fails to render."""
    every = " ".join("{" + f + "}" for f in sorted(narrative.TEMPLATE_FIELDS))
    rules = dataclasses.replace(RULES, templates={**RULES.templates, "rate_change": {s: every for s in narrative.SLOTS}})
    what = narrative.render(draft(), "CSAT (top box)", rules)["what"]
    assert "CSAT (top box)" in what and "{" not in what



@pytest.mark.parametrize("facts, opening", [
    pytest.param({"open_headline": True, "open_news": "opened"},
                 "Still open since the week of 2026-09-28 (4 weeks): CSAT (top box) fell", id="headlined"),
    pytest.param({"open_headline": True, "open_news": "worse"},
                 "Still open since the week of 2026-09-28 (4 weeks), and worse: CSAT (top box) fell", id="worse"),
    pytest.param({"open_headline": False},
                 "Open since the week of 2026-09-28 (4 weeks), not worse: CSAT (top box) fell", id="between-reminders"),
])
def test_a_problem_still_open_says_since_when_and_whether_it_is_news(facts, opening):
    d = draft(evidence={"polarity": "bad", "open_weeks": 4, "open_since": "2026-09-28", **facts})
    assert narrative.render(d, "CSAT (top box)", RULES)["headline"].startswith(opening)


def test_broad_based_names_only_the_dimensions_searched():
    d = draft(evidence={"polarity": "bad", "broad_based": True, "searched": ["site_id", "channel", "priority"]})
    assert "no single site, channel or priority explains it" in narrative.render(d, "CSAT", RULES)["where"]


def test_a_card_tells_its_sub_points_once_and_its_credit_once():
    miss = {"target": 0.85, "observed": 0.689, "delta": -0.161, "segment": {"client_id": "acme", "channel": "email"},
            "penalty": 4023.0, "currency": "USD"}
    related = [
        {"type": "target_miss", "kpi": "sla_first_response", "segment": {"client_id": "acme", "channel": "email"},
         "headline": "SLA attainment (first response) was 68.9% in the week of 2026-10-19, -16.1 pts against the 85.0% target."},
        {"type": "rate_change", "kpi": "first_response_time_median", "segment": draft()["segment"],
         "headline": "First response time (median) rose to 4.9 h in the week of 2026-10-19 (+2.7 h vs 2.2 h)."},
        {"type": "target_miss", "kpi": "csat", "segment": {"client_id": "acme", "channel": "chat"}, "penalty": 512.0,
         "currency": "USD", "headline": "CSAT (top box) was 80.0% in the week of 2026-10-19, -5.0 pts against the 85.0% target."},
    ]
    d = draft(kpi="sla_first_response", evidence={"polarity": "bad", "target_miss": miss, "related": related,
                                                  "co_moving": [{"kpi": "first_response_time_median", "delta": 9720.0,
                                                                 "label": "First response time (median)", "unit": "seconds"}]})
    meaning = narrative.render(d, "SLA attainment (first response)", RULES)["meaning"]
    assert "Also in the same segment: First response time (median) rose to 4.9 h" in meaning
    assert "coincides with First response time" not in meaning  # told once, as the sub-point
    assert meaning.count("SLA attainment (first response) was 68.9%") == 0  # the contract sentence tells it
    assert sorted(re.findall(r"service credit of about USD ([\d,]+)", meaning)) == ["4,023", "512"]
