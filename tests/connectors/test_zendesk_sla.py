"""Zendesk satisfaction ratings, SLA policies and ticket metric events: what each lands as, incrementally."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import date, datetime, timezone
from typing import Any

import polars as pl
import pytest

from connectors.sync import sync_sources
from connectors.store import Scope, Workspace
from fake_apis.harness import TENANTS, ZENDESK
from fake_apis.zendesk import FakeZendesk

N = 12  # tickets; priority of ticket i is ("low", "normal", "high", "urgent")[i % 4]


def metric(name: str, priority: str, minutes: int, business_hours: bool = False) -> dict[str, Any]:
    return {"priority": priority, "metric": name, "target": minutes, "business_hours": business_hours}


SILVER = [
    metric("first_reply_time", "urgent", 60),
    metric("first_reply_time", "normal", 240, business_hours=True),
    metric("requester_wait_time", "urgent", 480),
    metric("agent_work_time", "urgent", 300),    # no KPI of ours: skipped
    metric("next_reply_time", "urgent", 30),     # no KPI of ours: skipped
    metric("periodic_update_time", "urgent", 120),  # no KPI of ours: skipped
]


@pytest.fixture
def api(monkeypatch) -> FakeZendesk:
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token)
    server = ZENDESK.make(N, csat_in_export=False)
    yield server
    server.stop()


def make_ws(tmp_path, api: FakeZendesk, extra: str = "") -> Workspace:
    return Workspace.create(tmp_path / "ws", TENANTS + ZENDESK.source_toml(api.url, extra))


def sync(ws: Workspace):
    [report] = sync_sources(ws)
    assert report.exit_code == 0, str(report)
    return report


def tickets(ws: Workspace) -> pl.DataFrame:
    return ws.read("tickets", Scope.everything()).with_columns(pl.col("ticket_id").cast(pl.Int64)).sort("ticket_id")


def targets(ws: Workspace) -> pl.DataFrame:
    return ws.read("sla_targets", Scope.everything()).sort("target_id", "effective_from")


def digest(ws: Workspace) -> str:
    h = hashlib.sha256()
    for p in sorted(ws.tables_dir.rglob("*.parquet")):
        h.update(p.read_bytes())
    return h.hexdigest()


def changed_tickets(before: pl.DataFrame, after: pl.DataFrame) -> set[int]:
    """Tickets whose stored row differs (any column but ingested_at), or that are new."""
    cols = [c for c in after.columns if c != "ingested_at"]
    old = {r["ticket_id"]: r for r in before.select(cols).iter_rows(named=True)}
    return {r["ticket_id"] for r in after.select(cols).iter_rows(named=True) if old.get(r["ticket_id"]) != r}


def value(frame: pl.DataFrame, ticket: int, column: str) -> Any:
    return frame.filter(pl.col("ticket_id") == ticket)[column].item()


# --------------------------------------------------------------------------- satisfaction ratings


@pytest.mark.parametrize(("ticket", "expected"), [
    pytest.param(1, ("good", 1.0, True), id="good"),
    pytest.param(2, ("bad", 0.0, False), id="bad"),
    pytest.param(3, (None, None, None), id="offered-is-ignored"),
    pytest.param(4, (None, None, None), id="unrated"),
])
def test_satisfaction_ratings_fill_the_csat_columns_of_their_tickets(tmp_path, api, ticket, expected):
    api.rate(1, "good")
    api.rate(2, "bad")
    api.rate(3, "offered")
    ws = make_ws(tmp_path, api)
    sync(ws)
    stored = tickets(ws)
    assert tuple(value(stored, ticket, c) for c in ("csat_raw", "csat_score", "csat_positive")) == expected


def test_ratings_page_through_cursors_and_survive_a_429(tmp_path, api):
    for i in range(1, N + 1):
        api.rate(i, "good" if i % 3 else "bad")
    ws = make_ws(tmp_path, api)  # page_size 25: the ratings come in one page; add more to need two
    for i in range(13, 41):
        api.add(i)
        api.rate(i, "bad")
    api.inject("ok", "ok", "429")  # tickets page 1, tickets page 2, then the first ratings page
    report = sync(ws)
    ratings_requests = [q for _, path, q in api.requests if path == "/api/v2/satisfaction_ratings"]
    stored = tickets(ws)
    assert report.retries == 1
    assert len(ratings_requests) == 3  # the 429, then two pages
    assert "page[after]" in ratings_requests[-1] and "start_time" in ratings_requests[-1]
    assert stored["csat_raw"].null_count() == 0 and stored.height == 40


def test_ticket_resync_keeps_its_rating(tmp_path, api):
    api.rate(1, "good")
    api.rate(9, "bad")  # the last rating: the next run reads only it again (from the cursor, no lookback)
    ws = make_ws(tmp_path, api, "lookback_minutes = 0")
    sync(ws)
    api.update(1, priority="urgent")
    sync(ws)
    stored = tickets(ws)
    assert (value(stored, 1, "priority"), value(stored, 1, "csat_raw"), value(stored, 1, "csat_positive")) == \
        ("urgent", "good", True)


def test_ratings_incremental_sync_picks_up_exactly_the_changes_and_rerun_is_a_no_op(tmp_path, api):
    for i in (1, 2, 3):
        api.rate(i, "good")
    ws = make_ws(tmp_path, api)
    sync(ws)
    before = tickets(ws)
    api.rate(2, "bad")   # a late change of mind
    api.rate(5, "good")  # a new rating
    api.rate(6, "offered")  # a survey sent, not answered: nothing to store
    report = sync(ws)
    after = tickets(ws)
    assert changed_tickets(before, after) == {2, 5}
    assert (report.inserted, report.updated) == (0, 2)
    assert (value(after, 2, "csat_raw"), value(after, 2, "csat_score")) == ("bad", 0.0)
    files = digest(ws)
    again = sync(ws)
    assert (again.inserted, again.updated) == (0, 0)
    assert digest(ws) == files


# --------------------------------------------------------------------------- SLA policies


@pytest.mark.parametrize(("target_id", "expected"), [
    pytest.param("acme-zendesk/sla-policy-25/sla_first_response/urgent",
                 {"metric": "sla_first_response", "priority": "urgent", "threshold_seconds": 3600.0,
                  "business_hours": False}, id="first-reply-urgent-minutes-to-seconds"),
    pytest.param("acme-zendesk/sla-policy-25/sla_first_response/normal",
                 {"metric": "sla_first_response", "priority": "normal", "threshold_seconds": 14400.0,
                  "business_hours": True}, id="first-reply-normal-business-hours"),
    pytest.param("acme-zendesk/sla-policy-25/sla_resolution/urgent",
                 {"metric": "sla_resolution", "priority": "urgent", "threshold_seconds": 28800.0,
                  "business_hours": False}, id="requester-wait-is-resolution"),
])
def test_sla_policies_become_sla_targets(tmp_path, api, target_id, expected):
    api.add_policy(25, "Silver", SILVER)
    ws = make_ws(tmp_path, api)
    sync(ws)
    stored = targets(ws)
    row = stored.filter(pl.col("target_id") == target_id).row(0, named=True)
    assert stored.height == 3  # agent_work_time, next_reply_time, periodic_update_time have no KPI
    assert {k: row[k] for k in expected} == expected
    assert (row["client_id"], row["vendor_id"], row["site_id"]) == ("acme", "northwind", None)
    assert (row["attainment_target"], row["comparator"]) == (0.9, None)
    assert (row["effective_from"], row["effective_to"]) == (date(2025, 1, 6), None)


def test_attainment_target_comes_from_the_source_config(tmp_path, api):
    api.add_policy(25, "Silver", SILVER)
    ws = make_ws(tmp_path, api, "sla_attainment_target = 0.95")
    sync(ws)
    assert targets(ws)["attainment_target"].unique().to_list() == [0.95]


def test_changed_policy_gives_new_rows_and_ends_the_old_ones(tmp_path, api):
    api.add_policy(25, "Silver", SILVER)
    ws = make_ws(tmp_path, api)
    sync(ws)
    api.update_policy(25, [metric("first_reply_time", "urgent", 30), *SILVER[1:]],
                      at=datetime(2025, 1, 9, 12, 0, tzinfo=timezone.utc))
    report = sync(ws)
    stored = targets(ws)
    urgent = stored.filter(pl.col("target_id") == "acme-zendesk/sla-policy-25/sla_first_response/urgent")
    assert (report.inserted, report.updated) == (3, 3)
    assert urgent.select("effective_from", "effective_to", "threshold_seconds").rows() == [
        (date(2025, 1, 6), date(2025, 1, 8), 3600.0),
        (date(2025, 1, 9), None, 1800.0),
    ]
    assert stored.filter(pl.col("effective_to").is_null()).height == 3
    files = digest(ws)
    again = sync(ws)
    assert (again.inserted, again.updated) == (0, 0) and digest(ws) == files


def test_policies_page_through_cursors_and_survive_a_429(tmp_path, api):
    for pid in range(1, 31):
        api.add_policy(pid, f"policy {pid}", [metric("first_reply_time", "high", pid)])
    ws = make_ws(tmp_path, api)
    api.inject("ok", "ok", "429")  # tickets, ratings, then the first policies page
    report = sync(ws)
    stored = targets(ws)
    assert report.retries == 1
    assert stored.height == 30
    assert sorted(stored["threshold_seconds"].to_list()) == [60.0 * m for m in range(1, 31)]


# --------------------------------------------------------------------------- ticket metric events


def apply_sla(api: FakeZendesk, ticket: int, name: str, minutes: int) -> None:
    api.sla_event(ticket, name, "apply_sla",
                  sla={"target": minutes, "business_hours": False, "policy": {"id": 25, "title": "Silver"}})


@pytest.fixture
def events(api: FakeZendesk) -> FakeZendesk:
    """Metric events in the documented shapes, one story per ticket."""
    for t in (1, 2, 3, 4):
        api.sla_event(t, "reply_time", "activate")
    apply_sla(api, 1, "reply_time", 60)
    api.sla_event(1, "reply_time", "fulfill")                      # met
    apply_sla(api, 2, "reply_time", 30)
    api.sla_event(2, "reply_time", "breach")                       # missed
    apply_sla(api, 3, "requester_wait_time", 480)
    api.sla_event(3, "requester_wait_time", "breach")
    api.sla_event(3, "requester_wait_time", "breach", deleted=True)  # the breach was withdrawn
    api.sla_event(3, "requester_wait_time", "fulfill")             # then met
    apply_sla(api, 4, "reply_time", 60)
    api.sla_event(4, "reply_time", "breach", instance_id=2)        # a next reply: not the first response
    api.sla_event(4, "agent_work_time", "breach")                  # internal clock: no KPI
    return api


@pytest.mark.parametrize(("ticket", "expected"), [
    pytest.param(1, (3600.0, False, None, None), id="fulfilled-in-time"),
    pytest.param(2, (1800.0, True, None, None), id="breached"),
    pytest.param(3, (None, None, 28800.0, False), id="withdrawn-breach-then-fulfilled"),
    pytest.param(4, (3600.0, None, None, None), id="next-reply-and-agent-work-ignored"),
    pytest.param(5, (None, None, None, None), id="no-sla"),
])
def test_metric_events_set_targets_and_breach_flags(tmp_path, events, ticket, expected):
    ws = make_ws(tmp_path, events)
    sync(ws)
    stored = tickets(ws)
    cols = ("first_response_target_seconds", "first_response_breached", "resolution_target_seconds",
            "resolution_breached")
    assert tuple(value(stored, ticket, c) for c in cols) == expected


def test_metric_events_incremental_sync_picks_up_exactly_the_changes_and_rerun_is_a_no_op(tmp_path, events):
    ws = make_ws(tmp_path, events, "lookback_minutes = 0")  # the next run does not see ticket 2's breach again
    sync(ws)
    before = tickets(ws)
    events.sla_event(2, "reply_time", "fulfill")  # answered after the breach: still a breach
    apply_sla(events, 5, "reply_time", 60)
    events.sla_event(5, "reply_time", "breach")   # a late breach on a ticket synced before
    report = sync(ws)
    after = tickets(ws)
    assert changed_tickets(before, after) == {5}
    assert report.updated == 1
    assert (value(after, 2, "first_response_breached"), value(after, 5, "first_response_breached")) == (True, True)
    files = digest(ws)
    again = sync(ws)
    assert (again.inserted, again.updated) == (0, 0)
    assert digest(ws) == files


def test_vendor_breach_flags_win_over_flags_derived_from_targets(tmp_path, api):
    # ticket 2 (high) got its first reply after 12 minutes: within the 60-minute policy target ...
    api.add_policy(25, "Silver", [metric("first_reply_time", "high", 60)])
    apply_sla(api, 2, "reply_time", 10)  # ... but Zendesk applied a 10-minute target and saw it breached
    api.sla_event(2, "reply_time", "breach")
    api.sla_event(9, "reply_time", "activate")  # the last event (read again next time from the cursor)
    ws = make_ws(tmp_path, api, "lookback_minutes = 0")  # so the next run does not read ticket 2's events again
    sync(ws)
    api.update(2, tags=["escalated"])  # the ticket comes again; the engine now derives from the policy row
    api.update(6, tags=["escalated"])  # ticket 6 (high) has no Zendesk verdict: derived from the policy
    sync(ws)
    stored = tickets(ws)
    assert (value(stored, 2, "tags"), value(stored, 2, "first_response_target_seconds"),
            value(stored, 2, "first_response_breached")) == ("escalated", 600.0, True)
    assert value(stored, 6, "first_response_target_seconds") == 3600.0


def test_metric_events_page_through_cursors_and_survive_a_429(tmp_path, api):
    for t in range(1, N + 1):
        apply_sla(api, t, "reply_time", 60)
        api.sla_event(t, "reply_time", "breach" if t % 2 else "fulfill")
        api.sla_event(t, "requester_wait_time", "activate")
    ws = make_ws(tmp_path, api)
    api.inject("ok", "ok", "ok", "429")  # tickets, ratings, policies, then the first events page
    report = sync(ws)
    event_requests = [q for _, path, q in api.requests if path == "/api/v2/incremental/ticket_metric_events"]
    stored = tickets(ws)
    assert report.retries == 1
    assert len(event_requests) == 3  # the 429, then 36 events in pages of 25
    assert all("start_time" in q for q in event_requests)
    assert stored["first_response_breached"].to_list() == [t % 2 == 1 for t in range(1, N + 1)]


# --------------------------------------------------------------------------- secrets


def test_token_never_reaches_logs_or_store_through_the_new_streams(tmp_path, events, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    events.rate(1, "good")
    events.add_policy(25, "Silver", SILVER)
    ws = make_ws(tmp_path, events, "max_retries = 1")
    events.inject("ok", "429", "503", "ok", "429")
    sync_sources(ws)
    events.inject("ok", "ok", "503", "503")
    sync_sources(ws)
    monkeypatch.setenv(ZENDESK.env, ZENDESK.token + "-revoked")
    sync_sources(ws)
    secrets = [ZENDESK.token.encode(), base64.b64encode(ZENDESK.token.encode())[:16]]
    for path in ws.path.rglob("*"):
        if path.is_file():
            assert not any(s in path.read_bytes() for s in secrets), path
    assert ZENDESK.token not in caplog.text and "SECRET" not in caplog.text
    assert "satisfaction_ratings" in caplog.text or "slas/policies" in caplog.text
    assert targets(ws).height == 3 and value(tickets(ws), 1, "csat_raw") == "good"


# --------------------------------------------------------------------------- SLA policy conditions and history


def org_filter(org: int) -> dict[str, Any]:
    return {"all": [{"field": "organization_id", "operator": "is", "value": org}], "any": []}


def test_policies_for_two_organisations_bind_only_their_organisations_tickets(tmp_path, api):
    from insights import contracts

    # tickets 2, 6, 10 are high priority; first replies after 12, 16 and 20 minutes
    api.update(2, organization_id=111)
    api.update(6, organization_id=222)
    api.add_policy(31, "Org 111", [metric("first_reply_time", "high", 15)], filter=org_filter(111))
    api.add_policy(32, "Org 222", [metric("first_reply_time", "high", 10)], filter=org_filter(222))
    ws = make_ws(tmp_path, api)
    sync(ws)
    for t in (2, 6, 10):
        api.update(t, tags=["again"])  # the tickets come again, after the policies are stored
    sync(ws)
    rows = targets(ws)
    assert rows.select("target_id", "priority", "conditions").rows() == [
        ("acme-zendesk/sla-policy-31/sla_first_response/high", "high", '{"organisation": ["111"]}'),
        ("acme-zendesk/sla-policy-32/sla_first_response/high", "high", '{"organisation": ["222"]}'),
    ]
    stored = tickets(ws)
    assert value(stored, 2, "organisation") == "111"
    assert (value(stored, 2, "first_response_target_seconds"), value(stored, 2, "first_response_breached")) == (900.0, False)
    assert (value(stored, 6, "first_response_target_seconds"), value(stored, 6, "first_response_breached")) == (600.0, True)
    # ticket 10's organisation has no policy: neither organisation's target is its target
    assert (value(stored, 10, "first_response_target_seconds"), value(stored, 10, "first_response_breached")) == (None, None)
    terms = contracts.read(ws, Scope.everything())
    week = date(2025, 1, 6)
    both = terms.terms("sla_first_response", {"client_id": "acme"}, week)
    assert sorted((t.conditions["organisation"], t.threshold_seconds) for t in both) == [("111", 900.0), ("222", 600.0)]
    one = terms.in_force("sla_first_response", {"client_id": "acme", "organisation": "222"}, week)
    assert one is not None and one.threshold_seconds == 600.0
    # the SLA page measures each organisation's term on that organisation's tickets only
    from insights.analyses.sla import sla_view

    page = sla_view(ws, Scope.everything(), week=week).targets
    assert sorted(page.select("target_id", "value", "n").rows()) == [
        ("acme-zendesk/sla-policy-31/sla_first_response/high", 1.0, 1),
        ("acme-zendesk/sla-policy-32/sla_first_response/high", 0.0, 1)]


@pytest.mark.parametrize(("flt", "expected"), [
    pytest.param({"all": [{"field": "group_id", "operator": "is", "value": 360002},
                          {"field": "via_id", "operator": "is", "value": 4}], "any": []},
                 [("urgent", "360002", "email", None), ("normal", "360002", "email", None)],
                 id="group-and-email-channel-in-their-columns"),
    pytest.param({"all": [{"field": "priority", "operator": "is_not", "value": "normal"}], "any": []},
                 [("urgent", None, None, None)], id="priority-is-not-leaves-the-excluded-metric-out"),
    pytest.param({"all": [], "any": [{"field": "organization_id", "operator": "is", "value": 5},
                                     {"field": "organization_id", "operator": "is", "value": 6}]},
                 [("urgent", None, None, '{"organisation": ["5", "6"]}'),
                  ("normal", None, None, '{"organisation": ["5", "6"]}')], id="any-of-two-organisations-is-one-set"),
    pytest.param({"all": [{"field": "via_id", "operator": "is", "value": 29},
                          {"field": "type", "operator": "is", "value": "incident"}],
                  "any": [{"field": "via_id", "operator": "is", "value": 29},
                          {"field": "via_id", "operator": "is", "value": 34}]},
                 [("urgent", None, "chat", '{"contact_reason": ["incident"]}'),
                  ("normal", None, "chat", '{"contact_reason": ["incident"]}')],
                 id="all-and-any-on-one-field-intersect"),
    pytest.param({"all": [{"field": "via_id", "operator": "is", "value": 29},
                          {"field": "via_id", "operator": "is", "value": 34}], "any": []},
                 [], id="conditions-no-ticket-can-meet-give-no-target"),
    pytest.param({"all": [{"field": "priority", "operator": "is", "value": "urgent"}],
                  "any": [{"field": "group_id", "operator": "is", "value": 1},
                          {"field": "organization_id", "operator": "is", "value": 2}]},
                 [("urgent", None, None, '{"organisation": ["2"]}'), ("urgent", "1", None, None)],
                 id="any-across-two-fields-gives-one-term-each"),
    pytest.param({"all": [{"field": "ticket_form_id", "operator": "is", "value": 9}], "any": []},
                 [("urgent", None, None, '{"ticket_form_id": ["9"]}'), ("normal", None, None, '{"ticket_form_id": ["9"]}')],
                 id="a-field-the-product-does-not-store-is-kept-by-name"),
])
def test_policy_filter_conditions_land_in_columns_and_the_conditions_map(tmp_path, api, flt, expected):
    api.add_policy(40, "Filtered", [metric("first_reply_time", "urgent", 60), metric("first_reply_time", "normal", 240)],
                   filter=flt)
    ws = make_ws(tmp_path, api)
    sync(ws)
    got = targets(ws).sort(["priority", "target_id"], descending=[True, False]).select("priority", "queue", "channel", "conditions").rows()
    assert got == expected


def test_a_brand_condition_makes_the_target_its_brands_client(tmp_path, api):
    api.add_policy(41, "Globex brand", [metric("first_reply_time", "urgent", 60)],
                   filter={"all": [{"field": "brand_id", "operator": "is", "value": 88}], "any": []})
    ws = make_ws(tmp_path, api, '[[source.tenants]]\nbrand = "88"\nclient = "globex"\n')
    sync(ws)
    assert targets(ws).select("target_id", "client_id", "conditions").rows() == [
        ("acme-zendesk/sla-policy-41/sla_first_response/urgent/brand-88", "globex", None)]


def test_policy_history_starts_at_the_first_sync_and_an_edit_does_not_move_older_tickets(tmp_path, api):
    # created in 2024 and edited since, but first seen now: that version stands for its whole life
    api.add_policy(25, "Silver", [metric("first_reply_time", "high", 15)], filter={"all": [], "any": []},
                   created=datetime(2024, 6, 1, tzinfo=timezone.utc))
    ws = make_ws(tmp_path, api)
    sync(ws)
    first = targets(ws).select("effective_from", "effective_to", "threshold_seconds").rows()
    assert first == [(date(2024, 6, 1), None, 900.0)]
    api.update_policy(25, [metric("first_reply_time", "high", 5)], at=datetime(2025, 1, 9, 12, tzinfo=timezone.utc))
    sync(ws)
    assert targets(ws).select("effective_from", "effective_to", "threshold_seconds").rows() == [
        (date(2024, 6, 1), date(2025, 1, 8), 900.0), (date(2025, 1, 9), None, 300.0)]
    # ticket 2 (high, created 6 Jan, answered after 12 minutes) comes again: the version of its day binds it
    api.update(2, tags=["again"])
    sync(ws)
    stored = tickets(ws)
    assert (value(stored, 2, "first_response_target_seconds"), value(stored, 2, "first_response_breached")) == (900.0, False)
    files = digest(ws)
    again = sync(ws)
    assert (again.inserted, again.updated) == (0, 0) and digest(ws) == files
