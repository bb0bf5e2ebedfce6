"""Which contract term binds which work: one matcher for a ticket at import and for a segment on every page.

Rules (connectors/targets.py): a term binds its client's work meeting each condition it names, on the
days it is in force; of the terms binding one piece of work, the one with more conditions wins, then
the one naming the earlier condition of PRECEDENCE (queue, priority, channel, site, vendor), then the
later effective_from, then the smaller target_id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest

from connectors import derive
from connectors import targets as matcher
from connectors.importer import import_paths
from connectors.schema import UNATTENDED
from connectors.store import Scope, Workspace
from connectors.targets import WORK, TargetError, bind, in_force
from insights import contracts
from insights.metrics.periods import week_start

FR = "sla_first_response"
RENEWAL = date(2025, 3, 3)  # a Monday


def term(target_id: str, threshold: float, *, metric: str = FR, client: str = "acme", start: date = date(2025, 1, 1),
         end: date | None = None, **conditions: str) -> dict[str, Any]:
    """One sla_targets row."""
    return {"target_id": target_id, "client_id": client, "metric": metric, "threshold_seconds": threshold,
            "attainment_target": 0.9, "effective_from": start, "effective_to": end, **conditions}


TERMS = pl.DataFrame([
    term("acme-all", 86400),                                              # every channel
    term("email", 28800, channel="email"),
    term("email-urgent", 3600, channel="email", priority="urgent"),
    term("urgent", 7200, priority="urgent"),                               # any channel
    term("billing-group", 14400, queue="billing"),                         # a group, any channel
    term("chat-old", 120, channel="chat", end=RENEWAL - timedelta(days=1)),
    term("chat-old", 60, channel="chat", start=RENEWAL),                   # renegotiated
    term("social", 7200, channel="social"),
    term("social-2025", 3600, channel="social", start=date(2025, 2, 1)),  # overlaps 'social', never closed
    term("voice-b", 30, channel="voice"),
    term("voice-a", 20, channel="voice"),                                  # same conditions, same day
    term("nw-chat", 45, channel="chat", vendor_id="northwind"),
    term("globex-email", 600, client="globex", channel="email", start=date(2025, 6, 1)),
    term("res-email", 172800, metric="resolution_sla", channel="email"),  # an alias of sla_resolution
], schema_overrides={c: pl.String for c in matcher.CONDITIONS}, infer_schema_length=None)


class Ticket(NamedTuple):
    work: dict[str, str | None]
    day: date
    target: str | None
    metric: str = FR


def ticket(channel: str | None, priority: str | None = "normal", *, client: str = "acme", vendor: str = "southpeak",
           queue: str | None = "general") -> dict[str, str | None]:
    return {"client_id": client, "vendor_id": vendor, "site_id": "sp-austin", "channel": channel,
            "priority": priority, "queue": queue}


D = date(2025, 4, 7)


@pytest.mark.parametrize("case", [
    pytest.param(Ticket(ticket("email"), D, "email"), id="a-channel-term-beats-the-clients-term"),
    pytest.param(Ticket(ticket("messaging"), D, "acme-all"), id="a-term-naming-no-condition-binds-every-channel"),
    pytest.param(Ticket(ticket("email", "urgent"), D, "email-urgent"), id="two-conditions-beat-one"),
    pytest.param(Ticket(ticket("chat", "urgent"), D, "urgent"), id="equal-count-priority-comes-before-channel"),
    pytest.param(Ticket(ticket("chat", queue="billing"), D, "billing-group"), id="equal-count-group-comes-before-channel"),
    pytest.param(Ticket(ticket("chat", "urgent", queue="billing"), D, "billing-group"),
                 id="equal-count-group-comes-before-priority"),
    pytest.param(Ticket(ticket("email", None), D, "email"), id="no-priority-is-not-any-priority"),
    pytest.param(Ticket(ticket("chat"), RENEWAL - timedelta(days=1), "chat-old"), id="the-version-in-force-on-the-day"),
    pytest.param(Ticket(ticket("chat"), RENEWAL, "chat-old"), id="the-renegotiated-version-from-its-first-day"),
    pytest.param(Ticket(ticket("social"), date(2025, 1, 31), "social"), id="before-an-overlapping-term-starts"),
    pytest.param(Ticket(ticket("social"), date(2025, 2, 1), "social-2025"), id="overlapping-terms-the-later-start-wins"),
    pytest.param(Ticket(ticket("voice"), D, "voice-a"), id="alike-in-everything-the-smaller-target-id"),
    pytest.param(Ticket(ticket("chat", vendor="northwind"), D, "nw-chat"), id="a-vendors-own-term"),
    pytest.param(Ticket(ticket("email"), date(2024, 12, 31), None), id="nothing-before-the-contract-starts"),
    pytest.param(Ticket(ticket("chat", client="globex"), D, None), id="no-term-for-the-work"),
    pytest.param(Ticket(ticket("email", client="globex"), date(2025, 5, 31), None), id="nor-before-its-term-starts"),
    pytest.param(Ticket(ticket("email", client="initech"), D, None), id="another-clients-terms-never-bind"),
    pytest.param(Ticket(ticket("email"), D, "res-email", "sla_resolution"), id="an-alias-names-its-kpi"),
    pytest.param(Ticket(ticket("chat"), D, None, "sla_resolution"), id="no-term-for-the-metric"),
])
def test_the_term_that_binds_a_ticket(case: Ticket) -> None:
    work = pl.DataFrame([{WORK: 0, **case.work, "__start": case.day, "__end": case.day}],
                        schema_overrides={c: pl.String for c in matcher.CONDITIONS})
    won = bind(work, TERMS, metrics=[case.metric])
    assert (won.get_column("target_id").to_list() or [None]) == [case.target]
    # a ticket's whole segment on that day asks the same matcher the same question
    segment = in_force(TERMS, case.metric, case.work, case.day, case.day)
    assert segment.get_column("target_id").to_list() == ([] if case.target is None else [case.target])
    if case.target is not None:
        assert segment.get_column("effective_from").to_list() == won.get_column("effective_from").to_list()


class Segment(NamedTuple):
    segment: dict[str, str]
    week: date
    targets: tuple[str, ...]


@pytest.mark.parametrize("case", [
    pytest.param(Segment({"client_id": "acme", "channel": "email"}, D, ("billing-group", "email", "email-urgent")),
                 id="a-channels-terms-are-those-that-win-for-some-of-its-work"),
    pytest.param(Segment({"client_id": "acme", "channel": "email", "priority": "normal", "queue": "general"}, D,
                         ("email",)), id="a-narrower-segment-fewer-terms"),
    pytest.param(Segment({"client_id": "acme", "channel": "chat"}, RENEWAL - timedelta(days=3), ("billing-group", "chat-old",
                 "nw-chat", "urgent")), id="a-week-holding-the-renegotiation-its-newest-version"),
    pytest.param(Segment({"client_id": "acme", "channel": "voice", "priority": "low", "queue": "general"}, D,
                         ("voice-a",)), id="a-tie-is-broken-for-segments-as-for-tickets"),
    pytest.param(Segment({"client_id": "globex"}, D, ()), id="no-term-in-force-no-rows"),
])
def test_the_terms_in_force_for_a_segment(case: Segment) -> None:
    found = in_force(TERMS, FR, case.segment, case.week)
    assert tuple(found.get_column("target_id").to_list()) == case.targets
    if "chat-old" in case.targets:
        assert found.filter(pl.col("target_id") == "chat-old").get_column("threshold_seconds").to_list() == [60]


def test_a_dimension_no_term_can_bind_is_refused() -> None:
    with pytest.raises(TargetError, match="contract targets cannot bind the dimension 'agent_id'"):
        in_force(TERMS, FR, {"client_id": "acme", "agent_id": "501"}, D)


def test_derive_fills_each_ticket_from_the_term_that_binds_it() -> None:
    tickets = pl.DataFrame([{**ticket(ch, pr), "created_at": datetime(d.year, d.month, d.day, 9, tzinfo=UTC),
                             "first_response_seconds": 5000.0}
                            for ch, pr, d in (("email", "urgent", D), ("chat", "urgent", D), ("voice", "low", D),
                                              ("email", "normal", date(2024, 12, 31)))])
    out = derive.derive_breaches(tickets, TERMS)
    assert out.select("first_response_target_seconds", "first_response_breached").rows() == [
        (3600.0, True), (7200.0, False), (20.0, True), (None, None)]


# --------------------------------------------------------------------------- the sample: import and pages agree


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Workspace, Workspace]:
    """The sample (generator's own per-ticket targets) and the same tickets imported without theirs."""
    from sample_data.generator import generate

    root = tmp_path_factory.mktemp("sample")
    generate(root / "sample", weeks=36, scale=0.05, seed=7)
    original = Workspace.open(root / "sample")
    imported = Workspace.create(root / "imported", (root / "sample" / "bpo.toml").read_text())
    imported.upsert("sla_targets", original.read("sla_targets", Scope.everything()))
    drop = [c for c in original.read("tickets", Scope.everything()).columns
            if c.endswith(("_target_seconds", "_breached")) or c == "ingested_at"]
    path = root / "tickets.parquet"
    original.read("tickets", Scope.everything()).drop(drop).write_parquet(path)
    import_paths(imported, [Path(path)], preset="canonical_tickets")
    return original, imported


def test_the_sample_tickets_bound_target_is_the_target_in_force_for_its_segment_and_week(sample) -> None:
    original, imported = sample
    keys = ["ticket_id", "client_id", "vendor_id", "site_id", "channel", "priority", "queue", "created_at"]
    got = imported.read("tickets", Scope.everything()).select(
        *keys, "first_response_target_seconds", "resolution_target_seconds")
    truth = original.read("tickets", Scope.everything()).select(
        "ticket_id", pl.col("first_response_target_seconds").alias("fr_sample"),
        pl.col("resolution_target_seconds").alias("res_sample"))
    both = got.join(truth, on="ticket_id", how="inner")
    assert both.height == got.height > 5000
    assert both.get_column("first_response_target_seconds").n_unique() >= 8  # thresholds of many terms
    terms = contracts.read(imported, Scope.everything())
    renewal = terms.in_force(FR, {"client_id": "acme", "channel": "email", "priority": "normal"}, D.max,
                             date(2100, 1, 1)).effective_from
    # the import binds what the generator's contract table says, the renegotiated email target included; the
    # generator cuts days in the client's time zone, the product in UTC until client calendars land, so the
    # renewal's first UTC hours (the client's Sunday evening) are the only tickets where the two can differ
    differ = both.filter(~pl.col("first_response_target_seconds").eq_missing(pl.col("fr_sample"))
                         | ~pl.col("resolution_target_seconds").eq_missing(pl.col("res_sample")))
    first_hours = datetime(renewal.year, renewal.month, renewal.day, tzinfo=UTC) + timedelta(hours=12)
    assert differ.filter(pl.col("created_at").dt.date() != renewal).height == 0
    assert differ.filter(pl.col("created_at") >= first_hours).height == 0
    # terms bind people's work: the AI agent's own conversations carry no target (test_derive), and in_force answers
    # for the people's work of a segment
    people = imported.read("tickets", Scope.everything()).filter(~pl.col("handled_by").is_in(list(UNATTENDED)))
    assert people.height < got.height
    both = both.join(people.select("ticket_id"), on="ticket_id", how="semi")
    cells = (both.with_columns(pl.col("created_at").dt.date().map_elements(week_start, return_dtype=pl.Date).alias("week"))
             .group_by("client_id", "vendor_id", "site_id", "channel", "priority", "queue", "week")
             .agg(pl.col("first_response_target_seconds").unique(), pl.col("resolution_target_seconds").unique()))
    weeks = sorted(set(cells.get_column("week").to_list()))
    assert weeks[0] < renewal == week_start(renewal)  # the sample renegotiated inside the window, on a Monday
    # and contracts.in_force reports the same term for each ticket's whole segment in its week
    checked = cells.filter(pl.col("week").is_in([weeks[0], renewal - timedelta(weeks=1), renewal, weeks[-1]]))
    mismatches = []
    for cell in checked.iter_rows(named=True):
        segment = {k: cell[k] for k in ("client_id", "vendor_id", "site_id", "channel", "priority", "queue")}
        for metric, column in ((FR, "first_response_target_seconds"), ("sla_resolution", "resolution_target_seconds")):
            t = terms.in_force(metric, segment, cell["week"])
            if cell[column] != [None if t is None else t.threshold_seconds]:
                mismatches.append((segment, cell["week"], metric, cell[column], t))
    assert checked.height > 100 and mismatches == []


# --------------------------------------------------------------------------- the conditions map

MAPPED = pl.DataFrame([
    term("acme-all", 86400),
    {**term("org-111", 900), "conditions": '{"organisation": ["111"]}'},
    {**term("org-111-222-email", 600, channel="email"), "conditions": '{"organization": [111, 222]}'},
    {**term("form-9", 60), "conditions": '{"ticket_form_id": ["9"]}'},  # a dimension no ticket carries
], schema_overrides={c: pl.String for c in (*matcher.CONDITIONS, "conditions")}, infer_schema_length=None)


@pytest.mark.parametrize(("work", "target"), [
    pytest.param({"channel": "chat", "organisation": "111"}, "org-111", id="one-organisation"),
    pytest.param({"channel": "email", "organisation": "222"}, "org-111-222-email", id="one-of-a-set-plus-a-column"),
    pytest.param({"channel": "email", "organisation": "111"}, "org-111-222-email", id="more-conditions-win"),
    pytest.param({"channel": "chat", "organisation": "333"}, "acme-all", id="other-organisation-client-wide"),
    pytest.param({"channel": "chat", "organisation": None}, "acme-all", id="no-organisation-client-wide"),
])
def test_the_conditions_map_binds_only_the_work_it_names(work, target):
    frame = pl.DataFrame([{WORK: 0, "client_id": "acme", **work, "__start": D, "__end": D}],
                         schema_overrides={"channel": pl.String, "organisation": pl.String})
    won = bind(frame, MAPPED)
    assert won.get_column("target_id").to_list() == [target]


def test_a_segment_sees_each_organisations_term_and_a_fixed_organisation_one():
    everything = in_force(MAPPED, FR, {"client_id": "acme"}, D).get_column("target_id").to_list()
    assert everything == ["acme-all", "form-9", "org-111", "org-111-222-email"]
    assert in_force(MAPPED, FR, {"client_id": "acme", "organisation": "222", "channel": "email"}, D
                    ).get_column("target_id").to_list() == ["org-111-222-email"]
    # the segment leaves the ticket form open: form 9's work within it has its own term
    assert in_force(MAPPED, FR, {"client_id": "acme", "organisation": "111", "channel": "chat"}, D
                    ).get_column("target_id").to_list() == ["form-9", "org-111"]


def test_conditions_that_are_not_a_json_object_are_refused_with_an_example():
    bad = MAPPED.with_columns(pl.lit("organisation=111").alias("conditions"))
    with pytest.raises(TargetError, match=r"is not a JSON object; write e.g. \{\"organisation\""):
        in_force(bad, FR, {"client_id": "acme", "organisation": "111"}, D)
