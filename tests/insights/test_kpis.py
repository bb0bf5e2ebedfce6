"""The KPI engine: one hand-worked case per catalog KPI, then grain, scope and formula behaviour.

Unless a case says otherwise, the week under test is W = Monday 2025-03-03 .. Sunday 2025-03-09
and every expected value is worked out by hand in the comment beside it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.errors import KpiError
from insights.metrics.kpis import compute_from_frames, compute_kpis, explain

W = date(2025, 3, 3)
MARCH = date(2025, 3, 1)


def ts(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A UTC timestamp in 2025."""
    return datetime(2025, month, day, hour, minute, tzinfo=timezone.utc)


def d(month: int, day: int) -> date:
    return date(2025, month, day)


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


def tickets(*rows: dict[str, Any]) -> dict[str, pl.DataFrame]:
    return {"tickets": frame(list(rows))}


def intervals(*rows: dict[str, Any]) -> dict[str, pl.DataFrame]:
    base = {"interval_start": ts(3, 4), "direction": "inbound", "channel": "voice"}
    return {"contact_intervals": frame([{**base, **r} for r in rows])}


def roster(*rows: dict[str, Any]) -> dict[str, pl.DataFrame]:
    base = {"date": d(3, 4), "status": "active"}
    return {"staffing_roster": frame([{**base, **r} for r in rows])}


def qa(*rows: dict[str, Any]) -> dict[str, pl.DataFrame]:
    base = {"evaluated_at": ts(3, 4), "score": 1.0, "max_score": 1.0}
    return {"qa_evaluations": frame([{**base, **r} for r in rows])}


def invoices(*rows: dict[str, Any]) -> dict[str, pl.DataFrame]:
    return {"cost_invoices": frame(list(rows))}


def t(created: datetime, **kw: Any) -> dict[str, Any]:
    return {"created_at": created, "client_id": "acme", "channel": "email", **kw}


def solved(created: datetime, resolved: datetime, **kw: Any) -> dict[str, Any]:
    return t(created, status="solved", resolved_at=resolved, **kw)


class KpiCase(NamedTuple):
    frames: dict[str, pl.DataFrame]
    value: float
    n: int
    grain: str = "week"
    period: date = W


CASES = [
    # ---------------------------------------------------------------- volume
    pytest.param("tickets_created", KpiCase(
        tickets(t(ts(3, 3)), t(ts(3, 5)), t(ts(3, 9, 23, 59)), t(ts(3, 10, 0, 0))),
        value=3, n=3), id="tickets_created"),  # 3 created Mon..Sun 23:59; Mon 03-10 00:00 is next week
    pytest.param("tickets_solved", KpiCase(
        tickets(solved(ts(2, 28), ts(3, 4)), t(ts(3, 3), status="closed", resolved_at=ts(3, 5)),
                solved(ts(3, 4), ts(3, 11)), t(ts(3, 4), status="open", resolved_at=ts(3, 6))),
        value=2, n=2), id="tickets_solved"),  # by solve date: 03-04 and 03-05; 03-11 next week; reopened one is open
    pytest.param("contacts_offered", KpiCase(
        intervals({"offered": 10}, {"offered": 5}, {"offered": 7, "direction": "outbound"}),
        value=15, n=15), id="contacts_offered"),  # inbound only: 10 + 5
    pytest.param("contacts_handled", KpiCase(
        intervals({"handled": 8}, {"handled": 4}, {"handled": 6, "direction": "outbound"}),
        value=12, n=12), id="contacts_handled"),  # inbound only: 8 + 4
    pytest.param("backlog", KpiCase(
        tickets(t(ts(2, 26), status="open"), solved(ts(3, 4), ts(3, 5)), solved(ts(3, 5), ts(3, 12)),
                t(ts(3, 10), status="new")),
        value=2, n=2), id="backlog"),  # open on Sun 03-09: the 02-26 one and the one solved 03-12
    pytest.param("net_ticket_flow", KpiCase(
        tickets(t(ts(3, 3)), t(ts(3, 4)), solved(ts(3, 5), ts(3, 6))),
        value=2, n=3), id="net_ticket_flow"),  # created 3 - solved 1 = 2; n from tickets_created
    # ---------------------------------------------------------------- SLA and speed
    pytest.param("sla_first_response", KpiCase(
        tickets(*[t(ts(3, 4), first_response_breached=b) for b in (False, False, True, None)]),
        value=2 / 3, n=3), id="sla_first_response"),  # 2 met / 3 with a target (None: no target)
    pytest.param("sla_resolution", KpiCase(
        tickets(*[t(ts(3, 4), resolution_breached=b) for b in (False, True, True, None, False)]),
        value=0.5, n=4), id="sla_resolution"),  # 2 met / 4 with a target
    pytest.param("first_response_time_median", KpiCase(
        tickets(*[t(ts(3, 4), first_response_seconds=s) for s in (60.0, 120.0, 300.0, None)]),
        value=120, n=3), id="first_response_time_median"),  # middle of 60, 120, 300
    pytest.param("first_response_time_p90", KpiCase(
        tickets(*[t(ts(3, 4), first_response_seconds=s) for s in (10.0, 20.0, 30.0, 40.0, 100.0)]),
        value=76, n=5), id="first_response_time_p90"),  # rank (5-1)*0.9 = 3.6: 40 + 0.6*(100-40) = 76
    pytest.param("first_response_time_business_median", KpiCase(
        tickets(*[t(ts(3, 4), first_response_business_seconds=s) for s in (100.0, 200.0, 400.0, 800.0)]),
        value=300, n=4), id="first_response_time_business_median"),  # (200 + 400) / 2
    pytest.param("first_response_time_business_p90", KpiCase(
        tickets(*[t(ts(3, 4), first_response_business_seconds=s) for s in (0.0, 50.0, 100.0)]),
        value=90, n=3), id="first_response_time_business_p90"),  # rank 2*0.9 = 1.8: 50 + 0.8*50 = 90
    pytest.param("resolution_time_median", KpiCase(
        tickets(*[solved(ts(2, 20), ts(3, 5), resolution_seconds=s) for s in (3600.0, 7200.0, 10800.0)],
                solved(ts(3, 5), ts(3, 11), resolution_seconds=99999.0)),
        value=7200, n=3), id="resolution_time_median"),  # by solve date: 3600, 7200, 10800 -> 7200
    pytest.param("resolution_time_p90", KpiCase(
        tickets(*[solved(ts(3, 3), ts(3, 6), resolution_seconds=s) for s in (1000.0, 2000.0, 3000.0, 4000.0)]),
        value=3700, n=4), id="resolution_time_p90"),  # rank 3*0.9 = 2.7: 3000 + 0.7*1000 = 3700
    pytest.param("resolution_time_business_median", KpiCase(
        tickets(*[solved(ts(3, 3), ts(3, 6), resolution_business_seconds=s) for s in (500.0, 1500.0)]),
        value=1000, n=2), id="resolution_time_business_median"),  # (500 + 1500) / 2
    pytest.param("resolution_time_business_p90", KpiCase(
        tickets(*[solved(ts(3, 3), ts(3, 6), resolution_business_seconds=100.0 * i) for i in range(1, 11)]),
        value=910, n=10), id="resolution_time_business_p90"),  # 100..1000, rank 9*0.9 = 8.1: 900 + 0.1*100
    # ---------------------------------------------------------------- AI and people
    pytest.param("ai_involvement_rate", KpiCase(
        tickets(*[t(ts(3, 4), channel="chat", handled_by=h) for h in ("ai_agent", "bot", "human_after_ai", "human", None)]),
        value=3 / 5, n=5), id="ai_involvement_rate"),  # ai_agent, bot, human_after_ai / 5 contacts (unknown counts as one)
    pytest.param("ai_containment_rate", KpiCase(
        tickets(solved(ts(3, 3), ts(3, 3, 11), handled_by="ai_agent", requester_hash="r1"),  # contained
                solved(ts(3, 4), ts(3, 4, 11), handled_by="bot", requester_hash="r2"),  # r2 calls 2 days later: not
                t(ts(3, 6), channel="voice", handled_by="human", requester_hash="r2"),  # not AI-involved
                t(ts(3, 4), status="open", handled_by="ai_agent", requester_hash="r3"),  # involved, not solved
                solved(ts(3, 5), ts(3, 6), handled_by="human_after_ai", requester_hash="r4"),  # escalated: not contained
                solved(ts(3, 5), ts(3, 6), handled_by="human", requester_hash="r5")),  # not AI-involved
        value=1 / 4, n=4), id="ai_containment_rate"),  # 1 contained / 4 AI-involved
    pytest.param("automation_rate", KpiCase(
        tickets(solved(ts(3, 3), ts(3, 3, 11), handled_by="ai_agent", requester_hash="r1"),  # contained
                solved(ts(3, 4), ts(3, 4, 11), handled_by="bot", requester_hash="r2"),  # r2 back within 7 days
                t(ts(3, 6), channel="voice", handled_by="human", requester_hash="r2"),
                t(ts(3, 4), status="open", handled_by="ai_agent", requester_hash="r3"),
                solved(ts(3, 5), ts(3, 6), handled_by="human_after_ai", requester_hash="r4"),
                solved(ts(3, 5), ts(3, 6), requester_hash="r5")),
        value=1 / 6, n=6), id="automation_rate"),  # 1 contained / 6 contacts = (4/6 involved) x (1/4 contained)
    pytest.param("ai_escalation_rate", KpiCase(
        tickets(*[t(ts(3, 4), channel="chat", handled_by=h)
                  for h in ("ai_agent", "bot", "human_after_ai", "human_after_ai", "human", "self_service", None)]),
        value=2 / 4, n=4), id="ai_escalation_rate"),  # 2 handed to a person / 4 AI-involved
    pytest.param("ai_repeat_contact_rate", KpiCase(
        tickets(solved(ts(3, 3), ts(3, 3, 11), handled_by="ai_agent", requester_hash="r1"),
                t(ts(3, 8), channel="email", requester_hash="r1"),  # r1 back 5 days later: a repeat
                solved(ts(3, 4), ts(3, 4, 11), handled_by="bot", requester_hash="r2"),  # never back
                solved(ts(3, 4), ts(3, 4, 11), handled_by="bot", requester_hash="r3"),
                t(ts(3, 14), channel="chat", requester_hash="r3"),  # r3 back after 10 days: not a repeat
                t(ts(3, 4), status="open", handled_by="ai_agent", requester_hash="r4"),  # not solved
                solved(ts(3, 4), ts(3, 5), handled_by="human_after_ai", requester_hash="r5")),  # a person solved it
        value=1 / 3, n=3), id="ai_repeat_contact_rate"),  # 1 repeat / 3 AI resolutions
    # ---------------------------------------------------------------- customer outcomes
    pytest.param("csat", KpiCase(
        tickets(*[t(ts(3, 4), csat_positive=p) for p in (True, True, False, None)]),
        value=2 / 3, n=3), id="csat"),  # 2 satisfied / 3 responses
    pytest.param("nps", KpiCase(
        tickets(*[t(ts(3, 4), survey_type="nps", rating_value=v) for v in (10.0, 10.0, 9.0, 8.0, 3.0, None)],
                t(ts(3, 4), survey_type="csat", rating_value=10.0, csat_positive=True)),  # a CSAT answer: not NPS
        value=40, n=5), id="nps"),  # (3 promoters - 1 detractor) / 5 answers = +40; 8 is passive
    pytest.param("ces", KpiCase(
        tickets(*[t(ts(3, 4), survey_type="ces", rating_value=v) for v in (7.0, 5.0, 6.0, None)],
                t(ts(3, 4), survey_type="csat", rating_value=2.0)),
        value=6.0, n=3), id="ces"),  # (7 + 5 + 6) / 3 effort answers
    pytest.param("fcr", KpiCase(
        tickets(solved(ts(3, 3), ts(3, 3, 12), requester_hash="r1", reopens=0),  # r1 back on voice 3 days later
                solved(ts(3, 6), ts(3, 6, 12), requester_hash="r1", reopens=0, channel="voice"),  # FCR
                solved(ts(3, 4), ts(3, 5), requester_hash="r2", reopens=1),  # reopened: not FCR
                solved(ts(3, 4), ts(3, 5), reopens=0),  # unknown requester, never reopened: FCR
                t(ts(3, 4), status="open", requester_hash="r4")),  # not solved: not in the denominator
        value=0.5, n=4), id="fcr"),  # 2 first-time solves / 4 solved
    pytest.param("reopen_rate", KpiCase(
        tickets(*[solved(ts(3, 4), ts(3, 5), reopens=r) for r in (0, 2, 1, None)],
                t(ts(3, 4), status="open", reopens=3)),
        value=0.5, n=4), id="reopen_rate"),  # 2 reopened / 4 solved (the open one is not solved)
    pytest.param("repeat_contact_rate", KpiCase(
        tickets(t(ts(3, 3), requester_hash="r1"), t(ts(3, 5), requester_hash="r1", channel="chat"),
                t(ts(3, 4), requester_hash="r2"), t(ts(3, 4))),
        value=1 / 3, n=3), id="repeat_contact_rate"),  # r1's first contact is followed within 7 days: 1 / 3 known
    pytest.param("contacts_per_customer", KpiCase(
        tickets(*[t(ts(3, 4), requester_hash=r) for r in ("a", "a", "b", "c", None)]),
        value=4 / 3, n=4), id="contacts_per_customer"),  # 4 tickets with a requester / 3 requesters
    # ---------------------------------------------------------------- live channels
    pytest.param("aht", KpiCase(
        {**intervals({"handled": 10, "handle_seconds": 3000.0},
                     {"handled": 2, "handle_seconds": 800.0, "direction": "outbound"}),
         **tickets(t(ts(3, 4), handle_seconds=600.0), t(ts(3, 4), channel="messaging", handle_seconds=400.0),
                   t(ts(3, 4), channel="voice", handle_seconds=999.0), t(ts(3, 4)))},
        value=4800 / 14, n=14), id="aht"),  # (3000+800+600+400) / (10+2+1+1); voice ticket counted in intervals
    pytest.param("ticket_handle_time", KpiCase(
        tickets(t(ts(3, 4), handle_seconds=600.0), t(ts(3, 4), channel="voice", handle_seconds=300.0),
                t(ts(3, 4))),
        value=450, n=2), id="ticket_handle_time"),  # (600 + 300) / 2; the ticket without a handle time is not counted
    pytest.param("asa", KpiCase(
        intervals({"handled": 10, "wait_seconds": 200.0}, {"handled": 30, "wait_seconds": 1000.0},
                  {"handled": 5, "wait_seconds": 500.0, "direction": "outbound"}),
        value=30, n=40), id="asa"),  # (200 + 1000) / (10 + 30)
    pytest.param("service_level", KpiCase(
        intervals({"offered": 60, "short_abandoned": 6, "answered_within_sl": 40},
                  {"offered": 40, "short_abandoned": 4, "answered_within_sl": 32}),
        value=0.8, n=90), id="service_level"),  # default formula: (40+32) / (100 - 10) = 72/90
    pytest.param("abandonment_rate", KpiCase(
        intervals({"offered": 100, "abandoned": 15, "short_abandoned": 5}),
        value=10 / 95, n=95), id="abandonment_rate"),  # (15 - 5) / (100 - 5)
    # ---------------------------------------------------------------- workforce
    pytest.param("occupancy", KpiCase(
        roster({"agent_id": "a1", "handle_seconds": 1000.0, "on_queue_seconds": 2000.0},
               {"agent_id": "a2", "handle_seconds": 3000.0, "on_queue_seconds": 4000.0}),
        value=4000 / 6000, n=2), id="occupancy"),  # Σhandle / Σon queue, not mean(0.5, 0.75)
    pytest.param("adherence", KpiCase(
        roster({"agent_id": "a1", "adherent_seconds": 900.0, "scheduled_seconds": 1000.0},
               {"agent_id": "a2", "adherent_seconds": 1800.0, "scheduled_seconds": 2000.0}),
        value=0.9, n=2), id="adherence"),  # 2700 / 3000
    pytest.param("shrinkage", KpiCase(
        roster({"agent_id": "a1", "scheduled_seconds": 1000.0, "on_queue_seconds": 700.0},
               {"agent_id": "a2", "scheduled_seconds": 3000.0, "on_queue_seconds": 2500.0}),
        value=0.2, n=2), id="shrinkage"),  # (4000 - 3200) / 4000
    pytest.param("average_headcount", KpiCase(
        roster(*[{"agent_id": a, "date": day} for a, day in
                 [("a1", d(3, 3)), ("a1", d(3, 4)), ("a1", d(3, 5)), ("a2", d(3, 3)), ("a2", d(3, 4)), ("a3", d(3, 3))]]),
        value=2.0, n=6), id="average_headcount"),  # 6 agent-days / 3 days
    pytest.param("attrition_monthly", KpiCase(
        roster(*[{"agent_id": a, "date": d(3, 3)} for a in ("a1", "a2", "a3", "a4")],
               *[{"agent_id": a, "date": d(3, 4)} for a in ("a1", "a2", "a3")],
               {"agent_id": "a4", "date": d(3, 4), "status": "terminated", "termination_date": d(3, 4)}),
        value=1 / 3.5, n=7, grain="month", period=MARCH), id="attrition_monthly"),  # 1 leaver / (7 agent-days / 2 days)
    pytest.param("attrition_annualised", KpiCase(
        roster(*[{"agent_id": a, "date": d(3, 3)} for a in ("a1", "a2", "a3", "a4")],
               *[{"agent_id": a, "date": d(3, 4)} for a in ("a1", "a2", "a3")],
               {"agent_id": "a4", "date": d(3, 4), "status": "terminated", "termination_date": d(3, 4)}),
        value=365.25 / 7, n=7, grain="month", period=MARCH), id="attrition_annualised"),  # 1 leaver per 7 agent-days
    pytest.param("tenure_under_90d_share", KpiCase(
        roster({"agent_id": "a1", "date": d(3, 3), "hire_date": d(1, 1)},  # 61 days
               {"agent_id": "a2", "date": d(3, 3), "hire_date": date(2024, 1, 1)},  # 427 days
               {"agent_id": "a3", "date": d(3, 3), "hire_date": date(2024, 12, 10)},  # 83 days
               {"agent_id": "a4", "date": d(3, 3)},  # hire date unknown: left out
               {"agent_id": "a5", "date": d(3, 3), "hire_date": d(2, 1), "status": "terminated"}),
        value=2 / 3, n=3), id="tenure_under_90d_share"),
    # ---------------------------------------------------------------- quality
    pytest.param("qa_score", KpiCase(
        qa({"score": 8.0, "max_score": 10.0}, {"score": 9.0, "max_score": 10.0}, {"score": 17.0, "max_score": 20.0}),
        value=0.85, n=3), id="qa_score"),  # 34 / 40
    pytest.param("qa_auto_fail_rate", KpiCase(
        qa(*[{"auto_fail": a} for a in (True, False, None, False)]),
        value=0.25, n=4), id="qa_auto_fail_rate"),  # 1 / 4 evaluations
    # ---------------------------------------------------------------- cost
    pytest.param("invoice_amount", KpiCase(
        invoices({"period_start": d(3, 1), "period_end": d(3, 31), "amount": 3100.0},
                 {"period_start": d(3, 3), "period_end": d(3, 3), "amount": 50.0}),
        value=750, n=2), id="invoice_amount"),  # 3100/31 = 100 a day x 7 days + 50
    pytest.param("cost_per_contact", KpiCase(
        {**invoices({"period_start": d(3, 3), "period_end": d(3, 9), "amount": 700.0}),
         **intervals({"handled": 30}, {"handled": 10, "direction": "outbound"}),
         **tickets(solved(ts(3, 3), ts(3, 4)), solved(ts(3, 3), ts(3, 5)), solved(ts(3, 3), ts(3, 5), channel="voice"))},
        value=700 / 42, n=42), id="cost_per_contact"),  # 700 / (30 + 10 handled + 2 text tickets solved)
    pytest.param("cost_per_resolved_contact", KpiCase(
        {**invoices({"period_start": d(3, 3), "period_end": d(3, 9), "amount": 700.0}),
         **tickets(solved(ts(3, 3), ts(3, 4)), solved(ts(3, 3), ts(3, 5), channel="voice"),
                   solved(ts(3, 3), ts(3, 5), channel="chat"), t(ts(3, 3), status="open"))},
        value=700 / 3, n=3), id="cost_per_resolved_contact"),  # 700 / 3 solved (any channel)
    pytest.param("unused_committed_volume", KpiCase(
        invoices(*[{"period_start": d(3, 1), "period_end": d(3, 31), "amount": 1.0, "committed_volume": c, "quantity": q}
                   for c, q in ((1000.0, 800.0), (500.0, 700.0), (None, 50.0), (100.0, None))]),
        value=300, n=3, grain="month", period=MARCH), id="unused_committed_volume"),  # 200 + 0 + 100; 3 committed lines
]


@pytest.mark.parametrize(("kpi", "case"), CASES)
def test_kpi_value_worked_by_hand(kpi: str, case: KpiCase) -> None:
    out = compute_from_frames(case.frames, [kpi], grain=case.grain)
    row = out.filter(pl.col("period") == case.period)
    assert row.height == 1, out
    assert row["kpi"][0] == kpi
    assert row["value"][0] == pytest.approx(case.value)
    assert row["n"][0] == case.n


# ---------------------------------------------------------------- grain: Σ/Σ, never an average of rates


def test_week_ratio_is_sum_over_sum_not_average_of_daily_rates() -> None:
    # Monday 1 of 1 satisfied (100 %), Tuesday 1 of 4 (25 %): the week is 2/5 = 40 %, not (100+25)/2 = 62.5 %
    rows = [t(ts(3, 3), csat_positive=True)] + [t(ts(3, 4), csat_positive=p) for p in (True, False, False, False)]
    frames = tickets(*rows)
    daily = compute_from_frames(frames, ["csat"], grain="day").sort("period")
    weekly = compute_from_frames(frames, ["csat"], grain="week")
    assert daily["value"].to_list() == pytest.approx([1.0, 0.25])
    assert daily["n"].to_list() == [1, 4]
    assert weekly["value"].to_list() == pytest.approx([0.4])
    assert weekly["numerator"].to_list() == [2.0] and weekly["denominator"].to_list() == [5.0]
    assert weekly["n"].to_list() == [5]


def test_week_p90_is_exact_from_raw_values_not_from_daily_p90s() -> None:
    # Monday 10, 20; Tuesday 30, 40, 100. Week: rank 3.6 of 5 -> 40 + 0.6*60 = 76.
    # Daily p90s are 19 (10 + 0.9*10) and 88 (40 + 0.8*60); their mean (53.5) is not the week's p90.
    rows = [t(ts(3, 3), first_response_seconds=s) for s in (10.0, 20.0)] + \
           [t(ts(3, 4), first_response_seconds=s) for s in (30.0, 40.0, 100.0)]
    daily = compute_from_frames(tickets(*rows), ["first_response_time_p90"], grain="day").sort("period")
    weekly = compute_from_frames(tickets(*rows), ["first_response_time_p90"], grain="week")
    assert daily["value"].to_list() == pytest.approx([19.0, 88.0])
    assert weekly["value"].to_list() == pytest.approx([76.0])


@pytest.mark.parametrize(("grain", "periods"), [
    pytest.param("day", [d(3, 2), d(3, 3), d(4, 1)], id="day"),
    pytest.param("week", [d(2, 24), d(3, 3), d(3, 31)], id="week-monday-start"),
    pytest.param("month", [d(3, 1), d(4, 1)], id="month"),
    pytest.param("quarter", [d(1, 1), d(4, 1)], id="quarter"),
    pytest.param("year", [d(1, 1)], id="year"),
])
def test_grain_puts_each_ticket_in_the_period_that_starts_on_the_listed_date(grain: str, periods: list[date]) -> None:
    # Sunday 03-02 23:30 UTC, Monday 03-03 00:10 UTC, Tuesday 04-01
    frames = tickets(t(ts(3, 2, 23, 30)), t(ts(3, 3, 0, 10)), t(ts(4, 1)))
    out = compute_from_frames(frames, ["tickets_created"], grain=grain).sort("period")
    assert out["period"].to_list() == periods
    assert out["value"].sum() == 3


# ---------------------------------------------------------------- FCR across channels


@pytest.mark.parametrize(("returns_at", "is_fcr"), [
    pytest.param(ts(3, 10, 9), False, id="back-on-chat-after-6-days-23-hours-is-not-fcr"),
    pytest.param(ts(3, 10, 10), False, id="back-exactly-7-days-later-is-not-fcr"),
    pytest.param(ts(3, 11, 10), True, id="back-on-day-8-is-fcr"),
])
def test_fcr_counts_a_return_on_any_channel_within_7_days_even_after_the_period_end(returns_at: datetime, is_fcr: bool) -> None:
    frames = tickets(solved(ts(3, 3, 10), ts(3, 3, 11), requester_hash="r1", reopens=0, channel="email"),
                     solved(returns_at, returns_at + timedelta(hours=1), requester_hash="r1", reopens=0, channel="chat"))
    # the query ends on Sunday 03-09: the return lies after the end and must still be read
    out = compute_from_frames(frames, ["fcr"], start=W, end=d(3, 9))
    assert out.height == 1
    assert out["value"][0] == (1.0 if is_fcr else 0.0)
    assert out["n"][0] == 1


# ---------------------------------------------------------------- service-level formulas


SL_INTERVAL = intervals({"offered": 100, "handled": 85, "abandoned": 15, "short_abandoned": 5,
                         "answered_within_sl": 68, "abandoned_within_sl": 8})


@pytest.mark.parametrize(("formula", "expected"), [
    pytest.param(None, 68 / 95, id="default-answered_over_offered_minus_short_abandons"),  # 68 / (100 - 5)
    pytest.param("answered_over_offered", 0.68, id="answered_over_offered"),  # 68 / 100
    pytest.param("answered_over_offered_minus_short_abandons", 68 / 95, id="answered_over_offered_minus_short_abandons"),
    pytest.param("answered_over_answered_plus_abandoned_after_threshold", 68 / 92,
                 id="answered_over_answered_plus_abandoned_after_threshold"),  # 68 / (85 + 15 - 8)
    pytest.param("answered_and_abandoned_within_over_offered", 0.76,
                 id="answered_and_abandoned_within_over_offered"),  # (68 + 8) / 100
    pytest.param("answered_over_answered", 0.8, id="answered_over_answered"),  # 68 / 85
])
def test_service_level_formula_follows_the_workspace_setting(formula: str | None, expected: float) -> None:
    settings = {} if formula is None else {"service_level_formula": formula}
    out = compute_from_frames(SL_INTERVAL, ["service_level"], settings=settings)
    assert out["value"][0] == pytest.approx(expected)


def test_unknown_service_level_formula_names_the_setting_and_the_choices() -> None:
    with pytest.raises(KpiError, match=r"service_level_formula = 'eighty_twenty' is not a formula .*answered_over_offered"):
        compute_from_frames(SL_INTERVAL, ["service_level"], settings={"service_level_formula": "eighty_twenty"})


# ---------------------------------------------------------------- dimensions


def test_by_dimension_splits_and_cross_table_kpi_joins_on_the_shared_dimension() -> None:
    frames = {
        **invoices({"period_start": d(3, 3), "period_end": d(3, 9), "amount": 700.0, "vendor_id": "northwind"},
                   {"period_start": d(3, 3), "period_end": d(3, 9), "amount": 100.0, "vendor_id": "southpeak"}),
        **intervals({"handled": 70, "vendor_id": "northwind"}, {"handled": 20, "vendor_id": "southpeak"}),
    }
    out = compute_from_frames(frames, ["cost_per_contact"], by=("vendor_id",)).sort("vendor_id")
    assert out["vendor_id"].to_list() == ["northwind", "southpeak"]
    assert out["value"].to_list() == pytest.approx([10.0, 5.0])  # 700/70, 100/20


def test_kpi_from_a_table_without_the_dimension_is_left_out_and_explained() -> None:
    frames = {**tickets(t(ts(3, 4), priority="high", csat_positive=True)), **intervals({"handled": 3, "handle_seconds": 30.0})}
    out = compute_from_frames(frames, ["csat", "aht"], by=("priority",))
    assert out["kpi"].unique().to_list() == ["csat"]
    notes = explain(["csat", "aht"], by=("priority",))
    assert notes.computed == ("csat",)
    assert notes.omitted["aht"] == ("aht cannot be split by priority: its measure interval_handle_seconds comes from "
                                    "contact_intervals, which has no priority column")


def test_queue_reaches_contact_intervals_through_its_queue_id_alias() -> None:
    out = compute_from_frames(intervals({"offered": 4, "queue_id": "billing"}, {"offered": 6, "queue_id": "tech"}),
                              ["contacts_offered"], by=("queue",)).sort("queue")
    assert out.select("queue", "value").rows() == [("billing", 4.0), ("tech", 6.0)]


def test_site_tier_comes_from_the_workspace_sites() -> None:
    frames = tickets(t(ts(3, 4), site_id="nw-manila"), t(ts(3, 4), site_id="eb-cebu"), t(ts(3, 4), site_id="sp-austin"))
    tiers = {"nw-manila": "offshore", "eb-cebu": "offshore", "sp-austin": "onshore"}
    out = compute_from_frames(frames, ["tickets_created"], by=("site_tier",), site_tiers=tiers).sort("site_tier")
    assert out.select("site_tier", "value").rows() == [("offshore", 2.0), ("onshore", 1.0)]


def test_backlog_carries_through_weeks_without_activity_and_counts_history_before_start() -> None:
    # open since February; one created 03-04 and solved 03-19. Weeks from 03-03: 2, 2, 1, 1
    frames = tickets(t(ts(2, 10), status="open"), solved(ts(3, 4), ts(3, 19)))
    out = compute_from_frames(frames, ["backlog"], start=W, end=d(3, 30)).sort("period")
    assert out["period"].to_list() == [d(3, 3), d(3, 10), d(3, 17), d(3, 24)]
    assert out["value"].to_list() == [2.0, 2.0, 1.0, 1.0]


def test_backlog_of_a_week_cut_short_by_end_is_the_level_on_end() -> None:
    # end is Wednesday 03-12: the ticket solved on Friday 03-14 was still open then
    frames = tickets(solved(ts(3, 11), ts(3, 14)), solved(ts(3, 11), ts(3, 12, 9)))
    out = compute_from_frames(frames, ["backlog"], start=d(3, 10), end=d(3, 12))
    assert out.select("period", "value").rows() == [(d(3, 10), 1.0)]


def test_invoice_lines_are_spread_over_the_days_they_bill() -> None:
    # 3100 over March = 100 a day: week of 02-24 holds 03-01..03-02 (200: the days before are before the contract);
    # the week of 03-31 is billed one day of seven, so its cost is unknown, not 100
    out = compute_from_frames(invoices({"period_start": d(3, 1), "period_end": d(3, 31), "amount": 3100.0}),
                              ["invoice_amount"]).sort("period")
    assert out["value"].to_list() == [pytest.approx(v) if v is not None else None
                                      for v in (200.0, 700.0, 700.0, 700.0, 700.0, None)]


def test_start_and_end_are_inclusive_dates() -> None:
    frames = tickets(t(ts(3, 2, 23, 59)), t(ts(3, 3, 0, 0)), t(ts(3, 9, 23, 59)), t(ts(3, 10, 0, 0)))
    out = compute_from_frames(frames, ["tickets_created"], grain="day", start=d(3, 3), end=d(3, 9))
    assert out["period"].to_list() == [d(3, 3), d(3, 9)]


def test_a_window_is_one_period_a_median_over_all_its_contacts() -> None:
    # week 1: replies in 60, 60, 60 s; week 2: 600 s.  Weekly medians 60 and 600; the window's median is 60
    frames = tickets(*(t(ts(3, 4), first_response_seconds=60.0) for _ in range(3)),
                     t(ts(3, 11), first_response_seconds=600.0), t(ts(3, 20), first_response_seconds=9.0))
    out = compute_from_frames(frames, ["first_response_time_median", "tickets_created"], grain="window",
                              start=d(3, 3), end=d(3, 16))
    assert out.select("period", "kpi", "value").rows() == [
        (d(3, 3), "first_response_time_median", 60.0), (d(3, 3), "tickets_created", 4.0)]
    with pytest.raises(KpiError, match="grain 'window' is one period from start to end: give both"):
        compute_from_frames(frames, ["tickets_created"], grain="window", start=d(3, 3))


def test_a_windows_backlog_is_the_level_at_its_last_day() -> None:
    frames = tickets(t(ts(3, 4)), solved(ts(3, 5), ts(3, 6)), solved(ts(3, 12), ts(3, 20)))  # open on 16 Mar: 2
    daily = compute_from_frames(frames, ["backlog"], grain="day", start=d(3, 3), end=d(3, 16)).sort("period")
    window = compute_from_frames(frames, ["backlog"], grain="window", start=d(3, 3), end=d(3, 16))
    assert window["value"].to_list() == [daily["value"][-1]] == [2.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"kpis": ["csat", "net_sentiment"]}, r"unknown KPI\(s\): net_sentiment; known KPIs: tickets_created", id="unknown-kpi"),
    pytest.param({"grain": "fortnight"}, r"unknown grain 'fortnight'; use one of: day, week, month, quarter, year", id="unknown-grain"),
    pytest.param({"by": ("colour",)}, r"cannot split by colour: no canonical table has that dimension", id="unknown-dimension"),
    pytest.param({"start": d(3, 9), "end": d(3, 3)}, r"end 2025-03-03 is before start 2025-03-09", id="reversed-range"),
])
def test_bad_query_raises_with_the_fix(kwargs: dict[str, Any], message: str) -> None:
    kpis = kwargs.pop("kpis", ["csat"])
    with pytest.raises(KpiError, match=message):
        compute_from_frames(tickets(t(ts(3, 4))), kpis, **kwargs)


# ---------------------------------------------------------------- scope, through the workspace


TOML = """
[workspace]
name = "kpi test"
[[client]]
id = "acme"
[[client]]
id = "globex"
[[vendor]]
id = "northwind"
[[site]]
id = "nw-manila"
vendor = "northwind"
tier = "offshore"
[[user]]
name = "admin"
role = "admin"
[[user]]
name = "acme-manager"
role = "brand"
clients = ["acme"]
[settings]
service_level_formula = "answered_over_offered"
"""


def _stored_tickets(client: str, satisfied: list[bool]) -> pl.DataFrame:
    n = len(satisfied)
    return pl.DataFrame({
        "source_system": ["test"] * n, "source_instance": ["t"] * n,
        "ticket_id": [f"{client}-{i}" for i in range(n)], "client_id": [client] * n,
        "vendor_id": ["northwind"] * n, "site_id": ["nw-manila"] * n, "channel": ["email"] * n,
        "created_at": [ts(3, 4)] * n, "csat_positive": satisfied, "updated_at": [ts(3, 5)] * n,
    })


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace.create(tmp_path / "ws", TOML)
    w.upsert("tickets", _stored_tickets("acme", [True, True, False, True]))  # acme: 3/4
    w.upsert("tickets", _stored_tickets("globex", [False, False, False, False]))  # globex: 0/4
    return w


def test_a_client_outside_the_viewers_scope_contributes_nothing(ws: Workspace) -> None:
    acme = compute_kpis(ws, ws.config.user("acme-manager").scope, ["csat", "tickets_created"])
    everyone = compute_kpis(ws, Scope.everything(), ["csat", "tickets_created"])
    value = lambda f, k: f.filter(pl.col("kpi") == k)["value"][0]  # noqa: E731
    assert value(acme, "csat") == pytest.approx(0.75)  # 3/4: globex's 4 unhappy customers are invisible
    assert value(acme, "tickets_created") == 4
    assert value(everyone, "csat") == pytest.approx(3 / 8)
    assert compute_kpis(ws, Scope(), ["tickets_created"]).height == 0  # deny by default: no clients, no rows


def test_workspace_sites_and_settings_reach_the_engine(ws: Workspace) -> None:
    out = compute_kpis(ws, Scope.everything(), ["tickets_created"], by=("site_tier",))
    assert out.select("site_tier", "value").rows() == [("offshore", 8.0)]


def test_output_contract_columns_and_types(ws: Workspace) -> None:
    out = compute_kpis(ws, Scope.everything(), ["csat"], grain="month", by=("client_id", "vendor_id"))
    assert out.schema == pl.Schema({"period": pl.Date, "client_id": pl.String, "vendor_id": pl.String, "kpi": pl.String,
                                    "value": pl.Float64, "numerator": pl.Float64, "denominator": pl.Float64, "n": pl.Int64})
    assert out.select("client_id", "value").sort("client_id").rows() == [("acme", 0.75), ("globex", 0.0)]


def test_deleted_tickets_are_never_counted() -> None:
    frames = tickets(t(ts(3, 4)), t(ts(3, 4), status="deleted"), t(ts(3, 4), status="solved"))
    out = compute_from_frames(frames, ["tickets_created"])
    assert out["value"].to_list() == [2.0]


@pytest.mark.parametrize(("by", "expected"), [
    pytest.param(("channel",), {"email": None}, id="credit-named-by-channel-hours-not"),
    pytest.param((), {None: (3100.0 - 310.0) / 42}, id="whole-contract"),
])
def test_an_invoice_line_that_names_no_channel_leaves_cost_per_channel_unknown_not_wrong(by, expected):
    """Agent hours billed per site and a credit naming the email channel: the email 'cost' is not the credit alone."""
    frames = {**invoices({"period_start": d(3, 1), "period_end": d(3, 31), "amount": 3100.0, "channel": None},
                         {"period_start": d(3, 1), "period_end": d(3, 31), "amount": -310.0, "channel": "email"})}
    frames.update(tickets(*[solved(ts(3, 4), ts(3, 5)) for _ in range(42)]))
    out = compute_from_frames(frames, ["cost_per_contact"], grain="month", by=by)
    got = {r.get("channel"): r["value"] for r in out.iter_rows(named=True)}
    for key, value in expected.items():
        if value is None:
            assert got.get(key) is None, got
        else:
            assert got[key] == pytest.approx(value), got
