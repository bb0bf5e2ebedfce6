"""Contract targets in force: one matcher (effective-dated, most specific, agreeing terms), read fresh for every
viewer, and judged only when they are contracts (defect 11 of issue 11)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl
import pytest
from _tiny import tiny

from connectors.store import Scope, Workspace
from insights import contracts
from insights.catalog import load_catalog
from insights.contracts import Contracts, Target, judge
from insights.detection.engine import detect
from insights.errors import ContractError
from insights.export import charts as export_charts
from insights.export import render
from insights.analyses.scorecard import scorecard
from insights.analyses.sla import sla_view
from insights.review import build_review

W = tiny.REVIEW_WEEK
CHANGE = date(2025, 1, 6)
ACME, GLOBEX = Scope.of(clients=["acme"]), Scope.of(clients=["globex"])
DIRECTIONS = {"sla_first_response": "higher_is_better", "abandonment_rate": "lower_is_better", "csat": "higher_is_better"}


def term(target_id: str, metric: str, value: float, *, client: str = "acme", start: date = date(2024, 1, 1),
         end: date | None = None, comparator: str | None = ">=", **conditions: Any) -> dict[str, Any]:
    """One sla_targets row."""
    return {"target_id": target_id, "client_id": client, "metric": metric, "attainment_target": value,
            "comparator": comparator, "effective_from": start, "effective_to": end, "penalty_per_point": None,
            "currency": None, "threshold_seconds": None, **conditions}


TERMS = Contracts.of(pl.DataFrame([
    term("frt-email-low", "sla_first_response", 0.85, channel="email", priority="low", penalty_per_point=250.0),
    term("frt-email-high", "sla_first_response", 0.85, channel="email", priority="high", penalty_per_point=250.0),
    term("frt-chat-old", "sla_first_response", 0.9, channel="chat", end=CHANGE - timedelta(days=1)),
    term("frt-chat-old", "sla_first_response", 0.95, channel="chat", start=CHANGE),
    term("frt-social-low", "sla_first_response", 0.8, channel="social", priority="low"),
    term("frt-social-high", "sla_first_response", 0.7, channel="social", priority="high"),
    term("frt-nw-chat", "sla_first_response", 0.97, channel="chat", vendor_id="northwind", start=date(2025, 2, 3)),
    term("frt-globex", "sla_first_response", 0.777, client="globex"),
    term("aband-voice", "abandonment_rate", 0.05, channel="voice", comparator=None),
], infer_schema_length=None), DIRECTIONS)


class Case(NamedTuple):
    kpi: str
    segment: dict[str, str]
    week: date
    value: float | None
    ids: tuple[str, ...]


@pytest.mark.parametrize("case", [
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "email"}, W, 0.85,
                      ("frt-email-high", "frt-email-low")), id="priorities-that-agree-are-one-target"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "social"}, W, None,
                      ("frt-social-high", "frt-social-low")), id="priorities-that-differ-are-no-single-target"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "chat"}, CHANGE - timedelta(weeks=1),
                      0.9, ("frt-chat-old",)), id="the-version-in-force-before-a-renegotiation"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "chat"}, CHANGE + timedelta(weeks=1),
                      0.95, ("frt-chat-old",)), id="the-newest-version-after-it"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "chat"}, W, None,
                      ("frt-chat-old", "frt-nw-chat")), id="a-vendors-own-term-splits-the-channel"),
    pytest.param(Case("sla_first_response", {"client": "acme", "vendor": "northwind", "channel": "chat"}, W, 0.97,
                      ("frt-nw-chat",)), id="the-most-specific-term-wins"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "voice"}, W, None, ()),
                 id="no-term-for-the-channel"),
    pytest.param(Case("sla_first_response", {"client_id": "acme", "channel": "email"}, date(2023, 6, 5), None, ()),
                 id="nothing-before-the-contract-starts"),
    pytest.param(Case("sla_first_response", {"client_id": "globex", "channel": "email"}, W, 0.777, ("frt-globex",)),
                 id="a-term-naming-no-channel-binds-every-channel"),
    pytest.param(Case("abandonment_rate", {"client_id": "acme", "channel": "voice"}, W, 0.05, ("aband-voice",)),
                 id="abandonment-has-its-own-term"),
])
def test_the_target_in_force(case):
    terms = TERMS.terms(case.kpi, case.segment, case.week)
    assert tuple(tid for t in terms for tid in t.target_ids) == case.ids
    found = TERMS.in_force(case.kpi, case.segment, case.week)
    assert (None if found is None else found.value) == case.value
    assert TERMS.differ(case.kpi, case.segment, case.week) is (bool(case.ids) and case.value is None)


def test_agreeing_terms_keep_what_they_share():
    t = TERMS.in_force("sla_first_response", {"client_id": "acme", "channel": "email"}, W)
    assert t == Target(kpi="sla_first_response", value=0.85, comparator=">=", source="contract", client_id="acme",
                       conditions={"channel": "email"}, effective_from=date(2024, 1, 1), penalty_per_point=250.0,
                       target_ids=("frt-email-high", "frt-email-low"))


def test_a_missing_comparator_follows_the_kpis_direction():
    t = TERMS.in_force("abandonment_rate", {"client_id": "acme", "channel": "voice"}, W)
    assert t.comparator == "<=" and t.met(0.04) and not t.met(0.06)
    assert t.points_short(0.07) == pytest.approx(2.0)


@pytest.mark.parametrize(("scope", "filters", "value"), [
    pytest.param(Scope.of(["acme"], ["northwind"]), {"channel": "chat"}, 0.97, id="a-vendor-viewer"),
    pytest.param(Scope.of(["acme"]), {"vendor": "northwind", "channel": "chat"}, 0.97, id="a-vendor-filter"),
    pytest.param(Scope.of(["acme"]), {"channel": "chat"}, None, id="both-vendors-in-view-differ"),
])
def test_the_work_in_view_is_the_segment_whoever_narrowed_it(scope, filters, value):
    found = TERMS.in_force("sla_first_response", contracts.in_view(scope, filters), W)
    assert (None if found is None else found.value) == value


def test_a_dimension_no_contract_can_bind_is_refused():
    with pytest.raises(ContractError, match="contract targets cannot bind the dimension 'agent_id'"):
        TERMS.in_force("sla_first_response", {"client_id": "acme", "agent_id": "501"}, W)


@pytest.mark.parametrize(("target", "value", "verdict"), [
    pytest.param(Target(kpi="csat", value=0.85, comparator=">=", source="contract"), 0.83, "missed", id="contract-missed"),
    pytest.param(Target(kpi="csat", value=0.85, comparator=">=", source="contract"), 0.9, "met", id="contract-met"),
    pytest.param(Target(kpi="csat", value=0.85, comparator=">=", source="catalog default"), 0.83, None,
                 id="a-default-is-never-judged"),
    pytest.param(None, 0.83, None, id="no-target"),
    pytest.param(Target(kpi="csat", value=0.85, comparator=">=", source="contract"), None, None, id="no-value"),
])
def test_only_a_contract_is_judged(target, value, verdict):
    assert judge(target, value) == verdict


def test_the_catalog_default_is_labelled_as_one():
    csat = load_catalog().kpis["csat"]
    t = TERMS.target(csat, {"client_id": "acme"}, W)
    assert (t.value, t.source, t.noun, t.is_contract) == (csat.target, "catalog default", "default target", False)


# --------------------------------------------------------------------------- read fresh, for every viewer


def _new_version(ws: Workspace, values: dict[str, float], stamp: datetime) -> None:
    """Renegotiate tiny's first-response targets: same terms, new attainment, a newer version."""
    ws.upsert("sla_targets", tiny.sla_targets().with_columns(
        pl.col("client_id").replace_strict(values, return_dtype=pl.Float64).alias("attainment_target"),
        pl.lit(stamp).alias("updated_at")))


def test_two_viewers_reading_at_once_get_their_own_fresh_targets(tmp_path):
    ws = tiny.build(tmp_path / "ws")
    viewers = {"acme": ACME, "globex": GLOBEX}
    start = threading.Barrier(len(viewers))

    def reads(client: str) -> set[float | None]:
        start.wait()  # both viewers read at the same moment
        found = [contracts.in_force(ws, viewers[client], "sla_first_response", {"client_id": client, "channel": "email"}, W)
                 for _ in range(10)]
        return {None if t is None else t.value for t in found}

    def round_() -> dict[str, set[float | None]]:
        with ThreadPoolExecutor(len(viewers)) as pool:
            return dict(zip(viewers, pool.map(reads, viewers)))

    assert round_() == {"acme": {0.9}, "globex": {0.777}}
    _new_version(ws, {"acme": 0.95, "globex": 0.7}, datetime(2025, 3, 11, tzinfo=UTC))
    assert round_() == {"acme": {0.95}, "globex": {0.7}}
    # a viewer never reads another client's term, however the reads interleave
    assert contracts.in_force(ws, ACME, "sla_first_response", {"client_id": "globex"}, W) is None


def test_the_engine_judges_the_target_in_force_now_not_the_one_it_saw_first(tmp_path):
    ws = tiny.build_planted(tmp_path / "ws")
    miss = [i for i in detect(ws, ACME, week=W).insights if i.type == "target_miss"]
    assert [(i.kpi, i.segment, i.expected) for i in miss] == [
        ("sla_first_response", {"client_id": "acme", "channel": "email"}, 0.9)]
    _new_version(ws, {"acme": 0.3, "globex": 0.777}, datetime(2025, 3, 11, tzinfo=UTC))  # 40 % now meets it
    assert [i for i in detect(ws, ACME, week=W).insights if i.type == "target_miss"] == []


# --------------------------------------------------------------------------- defect 11: judged only against a contract


def test_a_report_never_marks_a_kpi_against_the_catalogs_default(tmp_path):
    """tiny's acme CSAT is 83.3 % every week, under the catalog's 85 % default; acme has no CSAT contract."""
    review = build_review(tiny.build(tmp_path / "ws"), ACME, week=W)
    csat = review.tile("csat")
    assert csat.value == pytest.approx(5 / 6) and review.insights == ()  # "no target missed"
    md = render(review, "md").decode()
    row = next(line for line in md.splitlines() if line.startswith("| CSAT"))
    assert "✗" not in row and "85.0% (default)" in row and "| neutral |" in row
    assert csat.status != "bad" and {t.status for t in csat.to_date} == {"neutral"}
    assert (csat.target, csat.target_source, csat.target_text) == (0.85, "catalog default", "default target 85.0%")
    assert review.tile("tickets_created").target_text == "no contract target"
    assert "no contract target" in next(line for line in md.splitlines() if line.startswith("| Tickets created"))
    html = render(review, "html").decode()
    assert "vs default target 85.0%" in html and "vs contract target 90.0%" in html
    lines = {c.kpi: c.target_name for c in export_charts(review)}
    assert (lines["csat"], lines["sla_first_response"]) == ("default target", "contract target")


def _intervals(abandoned_in_review_week: int) -> pl.DataFrame:
    """acme voice queue, 100 calls a day: 3 abandon a day, `abandoned_in_review_week` a day in the review week."""
    rows = []
    for d in range(tiny.WEEKS * 7):
        day = tiny.FIRST_MONDAY + timedelta(days=d)
        ab = abandoned_in_review_week if day >= W else 3
        rows.append({
            "source_system": "csv", "source_instance": "tiny", "client_id": "acme", "vendor_id": "southpeak",
            "site_id": "sp-austin", "queue_id": "acme-voice", "channel": "voice", "direction": "inbound",
            "interval_start": datetime(day.year, day.month, day.day, 9, tzinfo=UTC), "interval_minutes": 30,
            "offered": 100, "handled": 100 - ab, "abandoned": ab, "short_abandoned": 0, "answered_within_sl": 80,
            "abandoned_within_sl": 0, "sl_threshold_seconds": 20.0, "handle_seconds": 300.0 * (100 - ab),
            "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST})
    return pl.DataFrame(rows)


def test_abandonment_is_judged_against_its_contract_target(tmp_path):
    ws = tiny.build(tmp_path / "ws")
    ws.upsert("contact_intervals", _intervals(15))
    ws.upsert("sla_targets", pl.DataFrame([{
        **term("acme-aband-voice", "abandonment_rate", 0.08, comparator="<=", channel="voice"),
        "source_system": "csv", "source_instance": "tiny", "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST}]))
    found = detect(ws, ACME, week=W).insights
    # the miss is a finding of its own, or a sub-point of the card that tells the same story (the abandonment jump)
    told = [{"segment": i.segment, "expected": i.expected, "observed": i.observed, "type": i.type, "kpi": i.kpi}
            for i in found] + [r for i in found for r in i.evidence.get("related", [])]
    miss = [r for r in told if r["type"] == "target_miss" and r["kpi"] == "abandonment_rate"]
    assert [(r["segment"], r["expected"], r["observed"]) for r in miss] == [
        ({"client_id": "acme", "channel": "voice"}, 0.08, pytest.approx(0.15))]
    tile = build_review(ws, ACME, week=W, filters={"channel": "voice"}).tile("abandonment_rate")
    assert (tile.target, tile.target_source, tile.status) == (0.08, "contract", "bad")


def test_durations_under_contract_are_judged_by_their_comparator_on_every_surface(tmp_path):
    """acme's voice AHT runs 300 s against a 280 s contract (missed), its ASA 15 s against 20 s (met), and its email
    first-response median (Northwind 2.8 h, Southpeak 5 h in the review week) against 2.8 h: lower is better."""
    ws = tiny.build(tmp_path / "ws")
    ws.upsert("contact_intervals", _intervals(3).with_columns((pl.col("handled") * 15.0).alias("wait_seconds")))
    stamp = {"source_system": "csv", "source_instance": "tiny", "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST}
    ws.upsert("sla_targets", pl.DataFrame([
        {**term("acme-aht-voice", "aht", 280.0, comparator=None, channel="voice"), **stamp},
        {**term("acme-asa-voice", "asa", 20.0, comparator=None, channel="voice"), **stamp},
        {**term("acme-frt-median-email", "first_response_time_median", 10_000.0, comparator=None, channel="email"),
         **stamp}], infer_schema_length=None))
    # the SLA page: judged by the comparator, the gap in seconds, no 'points' or 'tickets short' of a duration
    sla = sla_view(ws, ACME, week=W).targets
    rows = {r["target_id"]: r for r in sla.iter_rows(named=True)}
    aht, asa = rows["acme-aht-voice"], rows["acme-asa-voice"]
    assert (aht["status"], aht["gap"], aht["value_text"], aht["target_text"]) == ("missed", 20.0, "5.0 min", "4.7 min")
    assert (asa["status"], asa["gap"], asa["value_text"], asa["target_text"]) == ("met", 0.0, "15 s", "20 s")
    assert {aht["points_short"], aht["tickets_short"], asa["points_short"]} == {None}
    assert rows["acme-frt"]["value_text"] == "66.7%" and rows["acme-frt"]["points_short"] == pytest.approx(23.33)
    # the scorecard: each vendor's cell beside the contract in force for its work, durations included
    card = scorecard(ws, ACME, level="vendor", week=W, weeks=1).frame
    judged = {(r["kpi"], r["within"], r["entity"]): (r["value"], r["target"], r["verdict"])
              for r in card.filter(pl.col("target").is_not_null()).iter_rows(named=True)}
    assert judged[("aht", None, "southpeak")] == (300.0, 280.0, "missed")
    assert judged[("first_response_time_median", "email", "northwind")] == (9900.0, 10_000.0, "met")
    assert judged[("first_response_time_median", "email", "southpeak")] == (18000.0, 10_000.0, "missed")
    assert card.filter((pl.col("kpi") == "csat") & pl.col("verdict").is_not_null()).is_empty()  # no CSAT contract
    # the tiles and the report
    review = build_review(ws, ACME, week=W, filters={"channel": "voice"})
    tile = review.tile("aht")
    assert (tile.target, tile.target_source, tile.status) == (280.0, "contract", "bad")
    row = next(line for line in render(review, "md").decode().splitlines() if line.startswith("| Average handle time"))
    assert "✗" in row


def _aht_intervals(review_week_seconds: float) -> pl.DataFrame:
    """acme voice, 100 calls a day: handle time wanders 250-270 s a week, then `review_week_seconds` in the review week."""
    rows = _intervals(3).to_dicts()
    for r in rows:
        day = r["interval_start"].date()
        per_call = review_week_seconds if day >= W else 250.0 + 10.0 * (((day - tiny.FIRST_MONDAY).days // 7) % 3)
        r["handle_seconds"] = per_call * r["handled"]
    return pl.DataFrame(rows)


def _aht_term(value: float) -> pl.DataFrame:
    stamp = {"source_system": "csv", "source_instance": "tiny", "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST}
    return pl.DataFrame([{**term("acme-aht-voice", "aht", value, comparator="<=", channel="voice"), **stamp}],
                        infer_schema_length=None)


def _aht_misses(ws: Workspace) -> list[Any]:
    found = detect(ws, ACME, week=W).insights
    return [i for i in found if i.type == "target_miss" and i.kpi == "aht"]


def test_a_duration_term_missed_is_a_finding_told_in_its_unit(tmp_path):
    """acme's voice AHT runs 250-270 s for a year against a 280 s contract, then 330 s in the review week: lower is
    better, so the week is a target miss (a headline on 679 calls), told in minutes, never in points."""
    ws = tiny.build(tmp_path / "ws")
    ws.upsert("contact_intervals", _aht_intervals(330.0))
    ws.upsert("sla_targets", _aht_term(280.0))
    (miss,) = _aht_misses(ws)
    assert (miss.segment, miss.observed, miss.expected, miss.delta) == (
        {"client_id": "acme", "channel": "voice"}, pytest.approx(330.0), 280.0, pytest.approx(50.0))
    assert miss.tier == "headline" and miss.n == 679
    assert miss.ci[0] > 280.0  # the whole interval is over the ceiling
    assert "5.5 min" in miss.headline and "4.7 min" in miss.headline and "pts" not in miss.headline
    assert "agent-hours" in miss.meaning


@pytest.mark.parametrize("seconds, history", [
    pytest.param(270.0, None, id="under the ceiling: met"),
    pytest.param(330.0, 5, id="five weeks of history: too little to know its spread"),
])
def test_a_duration_term_is_missed_only_on_the_wrong_side_with_enough_evidence(tmp_path, seconds, history):
    ws = tiny.build(tmp_path / "ws")
    intervals = _aht_intervals(seconds)
    if history is not None:
        intervals = intervals.filter(pl.col("interval_start").dt.date() >= W - timedelta(weeks=history))
    ws.upsert("contact_intervals", intervals)
    ws.upsert("sla_targets", _aht_term(280.0))
    assert _aht_misses(ws) == []
