"""rules.toml and playbooks.toml are validated like the KPI catalog: every problem at once, with file, object and fix."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from insights.catalog import rules as rules_module
from insights.catalog import CATALOG_DIR
from insights.cli import main
from insights.errors import RulesError
from insights.detection.insight_log import STATUSES
from insights.catalog.rules import (
    DETECTORS,
    LOG_STATUSES,
    RULES_FILE,
    SLOTS,
    Thresholds,
    load_rules,
)

RULES = load_rules()


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped catalog (KPIs, rules and playbooks)."""
    shutil.copytree(CATALOG_DIR, tmp_path / "catalog")
    return tmp_path / "catalog"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: the planted typo would test nothing"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


class Typo(NamedTuple):
    file: str
    old: str
    new: str
    message: str


TYPOS = {
    "misspelt-threshold": Typo("rules.toml", "volume_min_change = 0.3", "volume_min_chnage = 0.3",
                               r"rules.toml \[thresholds\]: unknown key 'volume_min_chnage'; did you mean 'volume_min_change'"),
    "missing-threshold": Typo("rules.toml", "trend_news_weeks = 1 ", "",
                              r"rules.toml \[thresholds\]: 'trend_news_weeks' is missing; every value is set in the file"),
    "threshold-not-whole": Typo("rules.toml", "baseline_weeks = 8", "baseline_weeks = 8.5",
                                r"\[thresholds\]: baseline_weeks = 8.5 must be a whole number"),
    "threshold-out-of-range": Typo("rules.toml", "headline_q = 0.05", "headline_q = 5",
                                   r"\[thresholds\]: headline_q = 5 is out of range; it must be > 0 and <= 1"),
    "threshold-as-text": Typo("rules.toml", "top_max = 7", 'top_max = "7"', r"top_max = '7' must be a whole number"),
    "watch-below-headline": Typo("rules.toml", "watch_q = 0.10", "watch_q = 0.01",
                                 r"watch_q = 0.01 is below headline_q = 0.05"),
    "unknown-table": Typo("rules.toml", "[fdr]", "[fdrr]", r"rules.toml \(top level\): unknown key 'fdrr'; did you mean 'fdr'"),
    "misspelt-detector": Typo("rules.toml", 'detectors = ["volume_anomaly"', 'detectors = ["volume_anomly"',
                              r"\[\[detect\]\] 'tickets_created': unknown detector 'volume_anomly'; registered detectors are"),
    "detector-for-another-kind": Typo("rules.toml", 'detectors = ["small_count_rate"]', 'detectors = ["rate_change"]',
                                      r"\[\[detect\]\] 'attrition_monthly': detector 'rate_change' cannot judge a KPI of "
                                      r"kind 'small_count'"),
    "misspelt-kpi": Typo("rules.toml", 'kpi = "fcr"', 'kpi = "fcrr"',
                         r"\[\[detect\]\] 'fcrr': kpi 'fcrr' is not a KPI of kpis.toml"),
    "misspelt-detect-key": Typo("rules.toml", "grain = \"month\"", "grian = \"month\"",
                                r"\[\[detect\]\] 'cost_per_contact': unknown key 'grian'; did you mean 'grain'"),
    "unknown-within": Typo("rules.toml", 'within = "channel"', 'within = "chanel"',
                           r"within 'chanel' is not a segment dimension"),
    "unknown-not-by": Typo("rules.toml", 'not_by = ["handled_by"]', 'not_by = ["handler"]',
                           r"\[\[detect\]\] 'ai_repeat_contact_rate': not_by = \['handler'\] must be a list of segment dimensions"),
    "impact-formula": Typo("rules.toml", 'formula = "delta_x_n_hours"', 'formula = "delta_x_hours"',
                           r"\[impact.agent_hours\]: formula 'delta_x_hours' is not one of"),
    "template-placeholder": Typo("rules.toml", "{label} {moved} to {observed} in the week of {week} ({delta} vs",
                                 "{label} {moved} to {obsrved} in the week of {week} ({delta} vs",
                                 r"\[templates.rate_change\] what: unknown placeholder '\{obsrved\}'"),
    "template-slot": Typo("rules.toml", 'so_what = "Totals for the week are understated."',
                          'so_wat = "Totals for the week are understated."',
                          r"\[templates.data_quality\]: missing slot\(s\) so_what"),
    "fdr-unknown-type": Typo("rules.toml", 'monthly = ["small_count_rate"]', 'monthly = ["small_count"]',
                             r"\[fdr\] monthly: monthly names unknown insight type 'small_count'"),
    "novelty-status": Typo("rules.toml", "not_useful = 0.2", "not_usefull = 0.2",
                           r"\[novelty\]: unknown key 'not_usefull'; did you mean 'not_useful'"),
    "tier-evidence": Typo("rules.toml", "min_volume_multiple = 3", "min_volume_multiple = -3",
                          r"\[tiers.headline\]: min_volume_multiple = -3 is out of range"),
    "tier-evidence-flag": Typo("rules.toml", "ci_excludes_zero = true    # never", "ci_excludes_zero = 1    # never",
                               r"\[tiers.high_confidence\]: ci_excludes_zero = 1 must be true or false"),
    "confidence-bar": Typo("rules.toml", "min_confidence = 0.5", "min_confidence = 50",
                           r"\[tiers.medium_confidence\]: min_confidence = 50 is out of range; it must be >= 0 and <= 1"),
    "standing-type": Typo("rules.toml", 'standing_types = ["target_miss", "peer_outlier"]',
                          'standing_types = ["target_mis", "peer_outlier"]',
                          r"\[tiers\]: standing_types names unknown insight type 'target_mis'"),
    "still-open-cadence": Typo("rules.toml", "still_open_remind_weeks = 4", "still_open_remind_weeks = 0",
                               r"\[tiers\]: still_open_remind_weeks = 0 must be a whole number >= 1"),
    "playbook-key": Typo("playbooks.toml", 'kpi = "csat"\npolarity = "bad"', 'kpi = "csat"\npolarty = "bad"',
                         r"playbooks.toml \[\[playbook\]\] #\d+ \(kpi=csat\): unknown key 'polarty'; did you mean 'polarity'"),
    "playbook-value": Typo("playbooks.toml", 'kpi = "fcr"\npolarity = "bad"', 'kpi = "fcr"\npolarity = "worse"',
                           r"\(kpi=fcr, polarity=worse\): polarity 'worse' is not one of: good, bad, neutral"),
    "playbook-owner": Typo("playbooks.toml", 'segment_owner = "in_house"', 'segment_owner = "inhouse"',
                           r"segment_owner 'inhouse' is not one of: vendor, in_house, brand"),
    "playbook-kpi": Typo("playbooks.toml", 'kpi = "attrition_monthly"', 'kpi = "attrition"',
                         r"\(kpi=attrition, polarity=bad\): kpi 'attrition' is not a KPI of kpis.toml"),
    "verify-kpi": Typo("playbooks.toml", 'verify_kpi = "repeat_contact_rate"', 'verify_kpi = "repeats"',
                       r"verify_kpi 'repeats' is not a KPI of kpis.toml; fix the name or use \"same\""),
    "action-placeholder": Typo("playbooks.toml", "Review {segment} in the weekly", "Review {segmnet} in the weekly",
                               r"\(catch-all\): unknown placeholder '\{segmnet\}'; known fields are: segment, unit, vendor"),
    "vendor-without-owner": Typo("playbooks.toml", "Review {segment} in the weekly", "Review {vendor} in the weekly",
                                 r"\(catch-all\): the action names \{vendor\} but the pattern does not set segment_owner"),
    "shadowed-playbook": Typo("playbooks.toml", 'type = "routing_shift"\naction = "Confirm the routing', 'action = "Confirm the routing',
                              r"\(kpi=tickets_created\): is never used: \[\[playbook\]\] #\d+ \(kpi=tickets_created\) before it"),
    "catch-all-last": Typo("playbooks.toml", 'action = "Review {segment} in the weekly', 'kpi = "csat"\naction = "Review {segment} in the weekly',
                           r"the last \[\[playbook\]\] must be a catch-all"),
}


@pytest.mark.parametrize("typo", [pytest.param(t, id=k) for k, t in TYPOS.items()])
def test_every_typo_is_named_with_its_file_object_and_fix(catalog_dir: Path, typo: Typo) -> None:
    _edit(catalog_dir / typo.file, typo.old, typo.new)
    with pytest.raises(RulesError, match=typo.message):
        load_rules(catalog_dir)


def test_every_problem_is_listed_at_once(catalog_dir: Path) -> None:
    planted = ("misspelt-threshold", "misspelt-detector", "misspelt-kpi", "template-placeholder", "playbook-key",
               "verify-kpi")
    for key in planted:
        typo = TYPOS[key]
        _edit(catalog_dir / typo.file, typo.old, typo.new)
    with pytest.raises(RulesError) as err:
        load_rules(catalog_dir)
    for key in planted:
        assert re.search(TYPOS[key].message, str(err.value)), key
    assert len(err.value.problems) >= len(planted)
    assert all(p.startswith(("rules.toml ", "playbooks.toml ")) for p in err.value.problems)


def test_the_shipped_rules_are_valid_and_every_threshold_comes_from_the_file() -> None:
    shipped = tomllib.loads((CATALOG_DIR / RULES_FILE).read_text(encoding="utf-8"))["thresholds"]
    assert set(shipped) == {f.name for f in dataclasses.fields(Thresholds)}
    assert dataclasses.asdict(RULES.thresholds) == shipped
    assert RULES.thresholds.volume_min_change == 0.3 and RULES.thresholds.trend_news_weeks == 1


def test_the_engine_reads_no_threshold_with_a_default_of_its_own() -> None:
    """A threshold read as th.get("name", default) would let code and file disagree (0.15 vs 0.3 before)."""
    insights = Path(rules_module.__file__).parents[1]  # the whole insights package
    pattern = re.compile(r"""(?:\bth|thresholds|tiers)\.get\(\s*["']\w+["']\s*,""")
    offenders = [f"{p.name}:{i}" for p in insights.rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_the_closed_sets_agree_with_the_modules_that_own_them() -> None:
    assert set(LOG_STATUSES) == set(STATUSES)
    assert set(RULES.novelty) == set(STATUSES)
    assert {d for spec in RULES.detect for d in spec["detectors"]} <= set(DETECTORS)
    for type_, slots in RULES.templates.items():
        assert set(slots) == set(SLOTS), type_


def test_the_cli_stops_with_exit_2_and_the_list(catalog_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    ws = tmp_path / "ws"
    assert main(["sample", "--out", str(ws), "--weeks", "12", "--scale", "0.03"]) == 0
    _edit(catalog_dir / "rules.toml", "volume_min_change = 0.3", "volume_min_chnage = 0.3")
    monkeypatch.setattr(rules_module, "CATALOG_DIR", catalog_dir)
    capsys.readouterr()
    assert main(["insights", "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "problem(s) in the rules" in err
    assert "rules.toml [thresholds]: unknown key 'volume_min_chnage'; did you mean 'volume_min_change'?" in err


# --------------------------------------------------------------------------- defect 9: actions fit the finding


class Finding(NamedTuple):
    kpi: str
    type_: str
    driver_kind: str | None
    polarity: str
    segment_owner: str
    vendor: str | None
    unit: str | None


SEGMENT = "globex · channel social"


@pytest.mark.parametrize(("finding", "says", "never", "owner"), [
    pytest.param(Finding("csat", "level_shift", "mix", "good", "vendor", "Northwind BPO", "Northwind Manila"),
                 "each one's own rate held", "extend", "workforce planning", id="pure-mix-improvement"),
    pytest.param(Finding("fcr", "rate_change", None, "good", "in_house", "In-house team", "Acme HQ Denver"),
                 "the in-house team at Acme HQ Denver", "extend", "brand CX lead", id="in-house-improvement"),
    pytest.param(Finding("csat", "level_shift", None, "good", "vendor", "Northwind BPO", "Northwind Bogotá"),
                 "Ask Northwind BPO what changed at Northwind Bogotá", "the vendor", "brand vendor manager",
                 id="vendor-improvement"),
    pytest.param(Finding("first_response_time_median", "trend", None, "bad", "vendor", "Southpeak Contact", "Southpeak Kraków"),
                 "Agree with Southpeak Contact why first replies at Southpeak Kraków", "the vendor",
                 "vendor account manager", id="southpeak-drift"),
    pytest.param(Finding("sla_first_response", "target_miss", None, "bad", "brand", None, None),
                 f"Ask every team serving {SEGMENT}", "the vendor", "brand vendor manager", id="miss-across-vendors"),
    pytest.param(Finding("sla_first_response", "rate_change", None, "bad", "in_house", "In-house team", "Acme HQ Denver"),
                 "at Acme HQ Denver with the in-house team lead", "vendor", "in-house team lead", id="in-house-miss"),
    pytest.param(Finding("tickets_created", "routing_shift", None, "neutral", "in_house", "In-house", "Acme AI agent"),
                 "at Acme AI agent with whoever runs it (an AI-agent or bot rollout", "both vendors",
                 "brand vendor manager", id="ai-agent-takes-a-share"),
    pytest.param(Finding("tickets_created", "routing_shift", None, "neutral", "vendor", "Northwind BPO", "Northwind Manila"),
                 "the vendors whose sites gained or lost the volume", "both vendors", "brand vendor manager",
                 id="routing-between-vendor-sites"),
    pytest.param(Finding("asa", "rate_change", None, "bad", "brand", None, None),
                 f"Review {SEGMENT} in the weekly review", "vendor", "brand CX lead", id="catch-all-brand"),
])
def test_the_playbook_fits_detector_driver_polarity_and_who_runs_the_segment(finding, says, never, owner):
    book = RULES.playbook(kpi=finding.kpi, type_=finding.type_, driver_kind=finding.driver_kind,
                          polarity=finding.polarity, segment_owner=finding.segment_owner)
    text = book.text(segment=SEGMENT, vendor=finding.vendor, unit=finding.unit)
    assert says in text
    assert never not in text
    assert book.owner == owner


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The engine on the dashboard suite's planted-miss workspace: acme email split between Northwind Manila and
    Southpeak Austin misses its target; at Northwind's Manila site 70 tickets carry a first-response fall."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
    import tiny

    from connectors.store import Scope
    from insights.detection.engine import detect

    ws = tiny.build_planted(tmp_path_factory.mktemp("planted") / "ws")
    return detect(ws, Scope.everything(), week=tiny.REVIEW_WEEK)


def _one(findings, type_: str, segment: dict[str, str]):
    return next(i for i in findings.insights if i.type == type_ and i.segment == segment)


def test_an_action_names_the_vendor_and_site_that_run_the_segment(planted):
    both = _one(planted, "target_miss", {"client_id": "acme", "channel": "email"})  # Northwind and Southpeak
    assert both.evidence["segment_owner"] == "brand"
    assert both.action.text.startswith("Ask every team serving Acme Home · channel email for a recovery plan")
    assert both.action.owner == "brand vendor manager"
    # Manila's own collapse is told inside that card (one story, one card); its playbook names who runs it
    manila = next(r for r in both.evidence["related"]
                  if r["type"] == "rate_change" and r["segment"] == {"client_id": "acme", "site_id": "nw-manila", "channel": "email"})
    book = RULES.playbook(kpi=manila["kpi"], type_="rate_change", driver_kind=None, polarity="bad", segment_owner="vendor")
    assert book.text(segment="Acme Home · site Manila · channel email", vendor="Northwind BPO", unit="Manila").startswith(
        "Ask Northwind BPO for a recovery plan for Manila:")  # bpo.toml's names, never 'the vendor'


# --------------------------------------------------------------------------- defect 10: evidence per tier


def test_a_headline_rests_on_the_evidence_the_rules_ask(planted):
    from insights.catalog import load_catalog

    kpis = load_catalog().kpis
    need = RULES.tiers.headline.min_volume_multiple
    for ins in planted.headlines:
        assert ins.n >= need * kpis[ins.kpi].min_volume, (ins.headline, ins.n)
    # Manila's collapse is a sub-point of the acme email card (one story, one card), with its own tier
    card = _one(planted, "target_miss", {"client_id": "acme", "channel": "email"})
    manila = next(r for r in card.evidence["related"]
                  if r["type"] == "rate_change" and r["segment"] == {"client_id": "acme", "site_id": "nw-manila", "channel": "email"})
    assert manila["n"] < need * kpis["sla_first_response"].min_volume  # 70 tickets, 90 needed
    assert (manila["tier"], manila["confidence_label"]) == ("watch", "medium")


def _trend(ci: tuple[float, float], **over):
    from datetime import date

    from insights.detection.records import Candidate, Period

    fields = {"type": "trend", "kpi": "csat", "segment": {"client_id": "acme"}, "level": ("client_id",),
              "period": Period(date(2026, 6, 1), date(2026, 10, 25)), "observed": 0.80, "expected": 0.86,
              "delta": -0.06, "ci": ci, "n": 2400, "baseline": "the level 20 weeks ago", "test": "Mann-Kendall",
              "p_value": 1e-6, "material": True, "polarity": "bad", "reach": 1.0, "q_value": 1e-4, "q_material": 1e-4}
    return Candidate(**{**fields, **over})


@pytest.mark.parametrize(("ci", "n", "tier", "label"), [
    pytest.param((-0.005, -0.001), 2400, "headline", "high", id="interval-clear-of-zero"),
    pytest.param((-0.005, 0.0), 2400, "watch", "medium", id="interval-touches-zero"),
    pytest.param((-0.005, -0.001), 38, "watch", "medium", id="38-survey-responses"),
])
def test_evidence_per_tier_and_confidence_come_from_the_rules(ci, n, tier, label):
    from insights.catalog import load_catalog
    from insights.detection.tiers import confidence_label, excludes_zero, tier as tier_of

    c = _trend(ci, n=n)
    got = tier_of(c, RULES, load_catalog().kpis["csat"])
    assert got == tier
    assert confidence_label(got, 0.999, excludes_zero(c), RULES) == label


def test_a_standing_finding_whose_interval_touches_zero_is_never_confidence_high():
    from insights.detection.tiers import confidence_label, excludes_zero

    assert confidence_label("standing", 0.999, excludes_zero(_trend((0.0, 0.004))), RULES) == "medium"
    assert confidence_label("standing", 0.999, excludes_zero(_trend((0.001, 0.004))), RULES) == "high"


def _open_miss(weeks_missed_before: int, observed: float, ci: tuple[float, float], level: float):
    """acme email CSAT under its 85% contract, certain, missed `weeks_missed_before` weeks before the review week at
    `level` on average."""
    from datetime import date

    from insights.detection.records import Candidate, Period

    return Candidate(
        type="target_miss", kpi="csat", segment={"client_id": "acme", "channel": "email"}, level=("client_id", "channel"),
        period=Period(date(2026, 11, 16), date(2026, 11, 22)), observed=observed, expected=0.85,
        delta=observed - 0.85, ci=ci, n=400, baseline="contract target", test="Wilson", p_value=1e-6, material=True,
        polarity="bad", reach=1.0, q_value=1e-5, tier="standing", materiality=0.02,
        weeks=weeks_missed_before + 1, seen_before=weeks_missed_before,
        evidence={"certain": True, "weeks_missed_before": weeks_missed_before, "_level_since": level})


class StillOpen(NamedTuple):
    weeks_missed_before: int
    observed: float
    ci: tuple[float, float]
    news: str | None


@pytest.mark.parametrize("case", [
    pytest.param(StillOpen(3, 0.78, (0.74, 0.82), "opened"), id="first-week-standing-is-headlined"),
    pytest.param(StillOpen(5, 0.78, (0.74, 0.82), None), id="unchanged-two-weeks-later-stays-on-the-list"),
    pytest.param(StillOpen(7, 0.78, (0.74, 0.82), "reminder"), id="every-4-weeks-it-is-headlined-again"),
    pytest.param(StillOpen(40, 0.78, (0.74, 0.82), None), id="41-weeks-open-not-every-week"),
    pytest.param(StillOpen(5, 0.70, (0.66, 0.74), "worse"), id="worse-by-more-than-materiality-surely"),
    pytest.param(StillOpen(5, 0.74, (0.66, 0.82), None), id="one-noisy-week-is-not-worse"),
])
def test_a_problem_still_open_is_headlined_when_it_opens_worsens_or_is_due_its_reminder(case):
    from datetime import date

    from insights.detection.explain import still_open

    told = still_open(_open_miss(case.weeks_missed_before, case.observed, case.ci, level=0.78),
                      week=date(2026, 11, 16), rules=RULES)
    assert told["open_weeks"] == case.weeks_missed_before + 1
    assert told["open_since"] == (date(2026, 11, 16) - timedelta(weeks=case.weeks_missed_before)).isoformat()
    assert (told["open_headline"], told.get("open_news")) == (case.news is not None, case.news)


def test_a_problem_still_open_between_reminders_stays_on_the_list_after_the_headlines_before_the_watch_list():
    from types import SimpleNamespace

    from insights.detection.ranking import select_top

    def item(name: str, score: float, **evidence):
        return SimpleNamespace(id=name, type="rate_change", score=score, evidence=evidence)

    found = [item("watch", 0.9, tier="watch"), item("quiet-open", 0.95, tier="standing", open_weeks=41, open_headline=False),
             item("headline", 0.5, tier="headline"), item("reminder", 0.2, tier="standing", open_weeks=40, open_headline=True),
             item("standing", 0.8, tier="standing")]
    assert [i.id for i in select_top(found, top_max=7)] == ["headline", "reminder", "quiet-open", "watch", "standing"]
