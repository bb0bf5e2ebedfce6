"""The sample operation: deterministic, valid, the shared tenants, and every planted story visible
(and absent with stories=False), measured with plain polars on the written workspace."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import polars as pl
import pytest

from connectors.schema import TABLES, validate
from connectors.store import Scope, Workspace
from sample_data.calendar import Calendar
from sample_data.generator import TABLE_ORDER, SampleSummary, generate, stories_in
from sample_data.volume import expected_volume
from sample_data.workforce import build_workforce
from sample_data.operation import DEFAULT_END
from sample_data.stories import STORIES, STORIES_BY_KEY, stories_markdown

EVERYONE = Scope.everything()
README = Path(__file__).resolve().parents[2] / "sample_data" / "README.md"
STORY_RUN = dict(seed=7, weeks=52, scale=1.0)  # every story fits, with a baseline before the oldest


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def story_ws(tmp_path_factory) -> Workspace:
    path = tmp_path_factory.mktemp("stories")
    generate(path, **STORY_RUN, stories=True)
    return Workspace.open(path)


@pytest.fixture(scope="module")
def null_ws(tmp_path_factory) -> Workspace:
    path = tmp_path_factory.mktemp("null")
    generate(path, **STORY_RUN, stories=False)
    return Workspace.open(path)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory) -> tuple[tuple[Workspace, SampleSummary], tuple[Workspace, SampleSummary]]:
    out = []
    for name in ("a", "b"):
        path = tmp_path_factory.mktemp(f"small-{name}")
        summary = generate(path, seed=3, weeks=16, scale=0.05)
        out.append((Workspace.open(path), summary))
    return out[0], out[1]


# --------------------------------------------------------------------------- story measurements


def weeks_ago(col: str) -> pl.Expr:
    """Whole weeks between a row's date and the sample's latest week (0 = latest week)."""
    return ((pl.lit(DEFAULT_END) - pl.col(col).cast(pl.Date)).dt.total_days() // 7).alias("k")


def between(first: int, last: int) -> pl.Expr:
    return pl.col("k").is_between(last, first)


def tickets(ws: Workspace) -> pl.DataFrame:
    return ws.read("tickets", EVERYONE).with_columns(weeks_ago("created_at"))


def attainment(f: pl.DataFrame) -> float:
    return f.select(pl.col("first_response_breached").not_().mean()).item()


def sla_collapse(ws: Workspace) -> dict[str, float]:
    """nw-manila acme email: first-response attainment and weekly volume, story weeks vs others."""
    s = STORIES_BY_KEY["sla_collapse"]
    w = s.effect("attainment").weeks
    v = s.effect("volume").weeks
    t = tickets(ws).filter(pl.col("client_id") == "acme", pl.col("site_id") == "nw-manila", pl.col("channel") == "email")
    base = t.filter(pl.col("k").is_between(w[0] + 1, w[0] + 12))
    weekly = t.group_by("k").len()
    return {
        "during": attainment(t.filter(between(*w))),
        "baseline": attainment(base),
        "volume_ratio": weekly.filter(between(*v))["len"].mean() / weekly.filter(pl.col("k").is_between(w[0] + 12, w[0] + 20))["len"].mean(),
    }


def csat_release(ws: Workspace) -> dict[str, float]:
    """acme positive CSAT by reason: technical_issue vs the others, since the release vs the 8 weeks before."""
    w = STORIES_BY_KEY["csat_release"].effect("csat").weeks
    t = tickets(ws).filter(pl.col("client_id") == "acme", pl.col("csat_positive").is_not_null())
    tech = pl.col("contact_reason") == "technical_issue"
    def rate(f):
        return f.select(pl.col("csat_positive").mean()).item()
    before = t.filter(pl.col("k").is_between(w[0] + 1, w[0] + 8))
    during = t.filter(between(*w))
    return {"tech_delta": rate(during.filter(tech)) - rate(before.filter(tech)),
            "other_delta": rate(during.filter(~tech)) - rate(before.filter(~tech))}


def aht_new_cohort(ws: Workspace) -> dict[str, float]:
    """Handle time of the sp-austin voice agents hired in the story's first week, once past nesting."""
    s = STORIES_BY_KEY["aht_new_cohort"]
    start = s.start()
    roster = ws.read("staffing_roster", EVERYONE).filter(pl.col("site_id") == "sp-austin")
    hires = roster.select("agent_id", "hire_date").unique()
    cohort = hires.filter(pl.col("hire_date").is_between(start - timedelta(days=14), start + timedelta(days=14)))["agent_id"]
    tenured = hires.filter(pl.col("hire_date") < start - timedelta(days=180))["agent_id"]
    t = tickets(ws).filter(pl.col("site_id") == "sp-austin", pl.col("channel") == "voice", pl.col("k") <= 3)
    c = t.filter(pl.col("agent_id").is_in(cohort.implode()))["handle_seconds"].mean()
    o = t.filter(pl.col("agent_id").is_in(tenured.implode()))["handle_seconds"].mean()
    return {"ratio": (c / o) if c is not None else 1.0, "cohort_agents": float(cohort.len())}


def attrition_spike(ws: Workspace) -> dict[str, float]:
    """sp-austin terminations per agent-day in the story weeks vs the rest of the history, and the leavers."""
    w = STORIES_BY_KEY["attrition_spike"].effect("attrition").weeks
    r = ws.read("staffing_roster", EVERYONE).filter(pl.col("site_id") == "sp-austin").with_columns(weeks_ago("date"))
    def rate(f):
        return (f["status"] == "terminated").sum() / f.height
    inside, outside = r.filter(between(*w)), r.filter(~between(*w))
    outside_months = outside["k"].n_unique() / 4.345
    return {"ratio": rate(inside) / rate(outside), "terminations": float((inside["status"] == "terminated").sum()),
            "usual_monthly": float((outside["status"] == "terminated").sum() / outside_months)}


def channel_mix_shift(ws: Workspace) -> dict[str, float]:
    """acme first-response attainment overall and per channel, story weeks vs the 9 weeks before."""
    w = STORIES_BY_KEY["channel_mix_shift"].effect("mix").weeks
    t = tickets(ws).filter(pl.col("client_id") == "acme", pl.col("first_response_breached").is_not_null())
    before, during = t.filter(pl.col("k").is_between(w[0] + 1, w[0] + 9)), t.filter(between(*w))
    out = {"overall_delta": attainment(during) - attainment(before),
           "chat_share_ratio": (during["channel"] == "chat").mean() / (before["channel"] == "chat").mean()}
    for ch in ("email", "chat"):
        out[f"{ch}_delta"] = attainment(during.filter(pl.col("channel") == ch)) - attainment(before.filter(pl.col("channel") == ch))
    return out


def minimum_shortfall(ws: Workspace) -> dict[str, float]:
    """eastbay: shortfall lines inside / outside the story months, and cost per contact."""
    s = STORIES_BY_KEY["minimum_shortfall"]
    inv = ws.read("cost_invoices", EVERYONE).filter(pl.col("vendor_id") == "eastbay")
    inside = pl.col("period_start").is_between(s.start() - timedelta(days=20), s.stop())
    short = inv.filter(pl.col("billing_model") == "minimum_shortfall")
    def cpc(f):
        return f["amount"].sum() / f.filter(pl.col("billing_model") == "per_contact")["quantity"].sum()
    full_inside = inv.filter(pl.col("period_start") >= s.start(), pl.col("period_end") <= s.stop())
    before = inv.filter(pl.col("period_end") < s.start())
    return {"shortfall_lines_inside": float(short.filter(inside).height),
            "shortfall_lines_outside": float(short.filter(~inside).height),
            "cpc_ratio": cpc(full_inside) / cpc(before) if before.height and full_inside.height else 1.0}


def frt_drift(ws: Workspace) -> dict[str, float]:
    """southpeak text first-response median: latest 4 weeks vs the 5 weeks before the drift began."""
    w = STORIES_BY_KEY["frt_drift"].effect("frt_drift").weeks
    t = tickets(ws).filter(pl.col("vendor_id") == "southpeak", pl.col("channel").is_in(["email", "messaging", "social"]))
    def med(f):
        return f["first_response_seconds"].median()
    return {"ratio": med(t.filter(pl.col("k") <= 3)) / med(t.filter(pl.col("k").is_between(w[0] + 1, w[0] + 5)))}


def repeat_rate(t: pl.DataFrame) -> pl.DataFrame:
    """Flag tickets whose requester comes back (any channel) within 7 days."""
    return (t.sort("requester_hash", "created_at")
            .with_columns(nxt=pl.col("created_at").shift(-1).over("requester_hash"))
            .with_columns(repeat=(pl.col("nxt") - pl.col("created_at")).dt.total_seconds().fill_null(10**9) <= 7 * 86400))


def coaching_pilot(ws: Workspace) -> dict[str, float]:
    """nw-bogota positive CSAT and 7-day repeat contacts: after the pilot vs 16 weeks before it."""
    w = STORIES_BY_KEY["coaching_pilot"].effect("csat").weeks
    t = repeat_rate(tickets(ws)).filter(pl.col("site_id") == "nw-bogota")
    release = STORIES_BY_KEY["csat_release"].effect("csat").weeks[0]
    after = t.filter(pl.col("k").is_between(release + 1, w[0] - 3))
    before = t.filter(pl.col("k").is_between(w[0] + 3, w[0] + 18))
    return {"csat_delta": after["csat_positive"].mean() - before["csat_positive"].mean(),
            "repeat_ratio": after.filter(pl.col("k") >= 1)["repeat"].mean() / before["repeat"].mean()}



def vendor_voice_csat(ws: Workspace) -> dict[str, float]:
    """southpeak voice positive CSAT per client: the story's weeks vs the 8 weeks before."""
    w = STORIES_BY_KEY["vendor_voice_csat"].effect("csat").weeks
    t = tickets(ws).filter(pl.col("vendor_id") == "southpeak", pl.col("channel") == "voice",
                           pl.col("csat_positive").is_not_null())
    out = {}
    for client in ("acme", "globex"):
        c = t.filter(pl.col("client_id") == client)
        during = c.filter(between(*w))["csat_positive"].mean()
        before = c.filter(pl.col("k").is_between(w[0] + 1, w[0] + 8))["csat_positive"].mean()
        out[f"{client}_delta"] = during - before
    return out


def ai_containment_drop(ws: Workspace) -> dict[str, float]:
    """acme AI containment (AI-resolved, customer not back within 7 days, over AI-involved) and nw-manila's acme
    chat and messaging volume and first-response attainment: the story's weeks vs the 6 weeks before."""
    s = STORIES_BY_KEY["ai_containment_drop"]
    w = s.effect("containment").weeks
    t = repeat_rate(tickets(ws).filter(pl.col("client_id") == "acme"))
    ai = t.filter(pl.col("handled_by").is_in(["ai_agent", "human_after_ai"]))

    def containment(f: pl.DataFrame) -> float:
        return f.select(((pl.col("handled_by") == "ai_agent") & ~pl.col("repeat")).mean()).item()
    before, during = pl.col("k").is_between(w[0] + 1, w[0] + 6), between(*w)
    manila = t.filter(pl.col("site_id") == "nw-manila", pl.col("channel").is_in(["chat", "messaging"]))
    return {"containment_before": containment(ai.filter(before)), "containment_during": containment(ai.filter(during)),
            "volume_ratio": manila.filter(during).height / 3 / (manila.filter(before).height / 6),
            "attainment_delta": attainment(manila.filter(during)) - attainment(manila.filter(before))}


def overnight_language_gap(ws: Workspace) -> dict[str, float]:
    """acme first-response attainment by language, the story's weeks vs the 8 weeks before; and the Spanish
    attainment of contacts arriving 20:00-08:00 New York time."""
    w = STORIES_BY_KEY["overnight_language_gap"].effect("attainment").weeks
    hour = pl.col("created_at").dt.convert_time_zone("America/New_York").dt.hour()
    t = tickets(ws).filter(pl.col("client_id") == "acme", pl.col("first_response_breached").is_not_null())
    before, during = pl.col("k").is_between(w[0] + 1, w[0] + 8), between(*w)
    out = {}
    for lang in ("es", "en"):
        f = t.filter(pl.col("language") == lang)
        out[f"{lang}_delta"] = attainment(f.filter(during)) - attainment(f.filter(before))
    night = t.filter(pl.col("language") == "es", (hour >= 20) | (hour < 8))
    out["es_night_during"] = attainment(night.filter(during))
    return out


def size(key: str, kind: str) -> float:
    return STORIES_BY_KEY[key].effect(kind).size


class StoryCase(NamedTuple):
    measure: Callable[[Workspace], dict[str, float]]
    visible: Callable[[dict[str, float]], bool]  # the planted change, most of its size
    absent: Callable[[dict[str, float]], bool]  # the same measurement on the null case


STORY_CASES = {
    "sla_collapse": StoryCase(
        sla_collapse,
        lambda m: m["baseline"] - m["during"] >= 0.6 * (m["baseline"] - size("sla_collapse", "attainment"))
        and m["volume_ratio"] >= 1 + 0.6 * size("sla_collapse", "volume"),
        lambda m: abs(m["baseline"] - m["during"]) < 0.03 and m["volume_ratio"] < 1.25),
    "csat_release": StoryCase(
        csat_release,
        lambda m: m["tech_delta"] <= 0.6 * size("csat_release", "csat") and abs(m["other_delta"]) < 0.04,
        lambda m: abs(m["tech_delta"]) < 0.06),
    "aht_new_cohort": StoryCase(
        aht_new_cohort,
        lambda m: m["ratio"] >= 1 + 0.6 * size("aht_new_cohort", "cohort_handle") and m["cohort_agents"] >= 6,
        lambda m: m["ratio"] < 1.12),
    "attrition_spike": StoryCase(
        attrition_spike,
        lambda m: m["ratio"] >= 3 and m["terminations"] >= 6 and m["terminations"] >= 3 * m["usual_monthly"],
        lambda m: m["ratio"] < 2.0),
    "channel_mix_shift": StoryCase(
        channel_mix_shift,
        lambda m: m["overall_delta"] <= -0.01 and abs(m["email_delta"]) <= 0.01 and abs(m["chat_delta"]) <= 0.01
        and m["chat_share_ratio"] <= 1 - 0.6 * size("channel_mix_shift", "mix"),
        lambda m: abs(m["overall_delta"]) < 0.006 and m["chat_share_ratio"] > 0.9),
    "minimum_shortfall": StoryCase(
        minimum_shortfall,
        lambda m: m["shortfall_lines_inside"] >= 2 and m["shortfall_lines_outside"] == 0 and m["cpc_ratio"] >= 1.05,
        lambda m: m["shortfall_lines_inside"] + m["shortfall_lines_outside"] == 0),
    "frt_drift": StoryCase(
        frt_drift,
        lambda m: m["ratio"] >= 1 + 0.6 * ((1 + size("frt_drift", "frt_drift")) ** 18 - 1),
        lambda m: m["ratio"] < 1.08),
    "coaching_pilot": StoryCase(
        coaching_pilot,
        lambda m: m["csat_delta"] >= 0.6 * size("coaching_pilot", "csat")
        and m["repeat_ratio"] <= 1 + 0.6 * size("coaching_pilot", "repeat"),
        lambda m: abs(m["csat_delta"]) < 0.035 and m["repeat_ratio"] > 0.85),
    "vendor_voice_csat": StoryCase(
        vendor_voice_csat,
        lambda m: max(m["acme_delta"], m["globex_delta"]) <= 0.5 * size("vendor_voice_csat", "csat"),
        lambda m: abs(m["acme_delta"]) < 0.04 and abs(m["globex_delta"]) < 0.04),
    "ai_containment_drop": StoryCase(
        ai_containment_drop,
        lambda m: m["containment_during"] <= m["containment_before"] + 0.6 * size("ai_containment_drop", "containment")
        and m["volume_ratio"] >= 1.15 and m["attainment_delta"] <= -0.1,
        lambda m: abs(m["containment_during"] - m["containment_before"]) < 0.06 and m["volume_ratio"] < 1.12
        and abs(m["attainment_delta"]) < 0.03),
    "overnight_language_gap": StoryCase(
        overnight_language_gap,
        lambda m: m["es_delta"] <= -0.07 and abs(m["en_delta"]) < 0.02 and m["es_night_during"] <= 0.45,
        lambda m: abs(m["es_delta"]) < 0.04 and m["es_night_during"] >= 0.75),
}


def test_every_declared_story_has_a_check():
    assert set(STORY_CASES) == {s.key for s in STORIES}
    assert len(STORIES) >= 8


@pytest.mark.parametrize("key", [pytest.param(s.key, id=s.key) for s in STORIES])
def test_story_is_visible_with_stories(story_ws, key):
    case = STORY_CASES[key]
    measured = case.measure(story_ws)
    assert case.visible(measured), f"{key}: planted change not visible: {measured}"


@pytest.mark.parametrize("key", [pytest.param(s.key, id=s.key) for s in STORIES])
def test_story_is_absent_without_stories(null_ws, key):
    case = STORY_CASES[key]
    measured = case.measure(null_ws)
    assert case.absent(measured), f"{key}: change present in the null case: {measured}"


# --------------------------------------------------------------------------- the operation


def _sorted(ws: Workspace, table: str) -> pl.DataFrame:
    return ws.read(table, EVERYONE).sort(list(TABLES[table].primary_key))


# the tables the sample writes: every canonical table but `contacts` (the sample reports its calls as intervals;
# call-level records are tested from vendor-shaped files in tests/connectors/test_contact_presets.py)
SAMPLE_TABLES = [t for t in TABLES if t != "contacts"]


def test_the_sample_writes_every_table_but_contacts():
    assert sorted(TABLE_ORDER) == sorted(SAMPLE_TABLES)


@pytest.mark.parametrize("table", [pytest.param(t, id=t) for t in SAMPLE_TABLES])
def test_two_runs_write_identical_tables(small_runs, table):
    (ws_a, _), (ws_b, _) = small_runs
    a, b = _sorted(ws_a, table), _sorted(ws_b, table)
    assert a.height > 0
    assert a.equals(b)


def test_summary_counts_what_was_written(small_runs):
    (ws, summary), _ = small_runs
    assert {**summary.rows, "contacts": 0} == ws.row_counts()
    assert str(summary).splitlines()[0].startswith("tickets")
    assert all(name in str(summary) for name in SAMPLE_TABLES)


@pytest.mark.parametrize("table", [pytest.param(t, id=t) for t in SAMPLE_TABLES])
def test_every_table_is_non_empty_and_valid(story_ws, table):
    frame = story_ws.read(table, EVERYONE)
    assert frame.height > 0
    assert validate(frame, table) == []
    assert frame["source_system"].unique().to_list() == ["sample"]
    assert frame["source_instance"].unique().to_list() == ["seed-7"]


def test_tenants_are_the_shared_tenant_list(story_ws):
    cfg = story_ws.config
    assert [(c["id"], c["name"]) for c in cfg.clients] == [("acme", "Acme Home"), ("globex", "Globex Travel")]
    assert [v["id"] for v in cfg.vendors] == ["northwind", "southpeak", "eastbay", "in_house"]
    assert [(s["id"], s["vendor"], s["tier"], s["timezone"]) for s in cfg.sites] == [
        ("nw-manila", "northwind", "offshore", "Asia/Manila"),
        ("nw-bogota", "northwind", "nearshore", "America/Bogota"),
        ("sp-austin", "southpeak", "onshore", "America/Chicago"),
        ("sp-krakow", "southpeak", "offshore", "Europe/Warsaw"),
        ("eb-cebu", "eastbay", "offshore", "Asia/Manila"),
        ("hq-denver", "in_house", "onshore", "America/Denver"),
        ("acme-ai", "in_house", "onshore", "America/New_York"),  # Acme's AI agent
    ]
    users = {u.name: (u.role, u.scope) for u in cfg.users}
    assert users == {
        "admin": ("admin", Scope.everything()),
        "acme-manager": ("brand", Scope.of(["acme"], "*")),
        "globex-manager": ("brand", Scope.of(["globex"], "*")),
        "northwind-am": ("vendor", Scope.of("*", ["northwind"])),
    }


def test_every_row_uses_declared_tenants(story_ws):
    cfg = story_ws.config
    sites = {s["id"]: s["vendor"] for s in cfg.sites}
    for table in ("tickets", "staffing_roster", "qa_evaluations", "contact_intervals", "cost_invoices"):
        pairs = story_ws.read(table, EVERYONE).select("client_id", "vendor_id", "site_id").unique()
        assert set(pairs["client_id"]) <= {"acme", "globex"}
        assert all(sites[s] == v for s, v in pairs.select("site_id", "vendor_id").iter_rows())


def test_requester_hashes_are_keyed_hex_never_raw_ids(story_ws):
    hashes = story_ws.read("tickets", EVERYONE)["requester_hash"]
    assert hashes.null_count() == 0
    assert hashes.str.contains(r"^[0-9a-f]{16}$").all()
    assert not hashes.str.contains(r"(?i)customer|acme|globex|@").any()


def test_repeat_contacts_come_back_on_other_channels(story_ws):
    t = story_ws.read("tickets", EVERYONE).sort("requester_hash", "created_at").with_columns(
        gap=(pl.col("created_at").shift(-1).over("requester_hash") - pl.col("created_at")).dt.total_seconds(),
        next_channel=pl.col("channel").shift(-1).over("requester_hash"),
    )
    repeats = t.filter(pl.col("gap") <= 7 * 86400)
    assert 0.05 <= repeats.height / t.height <= 0.2
    cross = (repeats["next_channel"] != repeats["channel"]).mean()
    assert 0.25 <= cross <= 0.65


def test_ticket_times_are_consistent(story_ws):
    t = story_ws.read("tickets", EVERYONE)
    fr = (t["first_response_at"] - t["created_at"]).dt.total_microseconds() / 1e6
    assert ((fr - t["first_response_seconds"]).abs().drop_nulls() < 1).all()
    assert (t["first_response_business_seconds"] <= t["first_response_seconds"] + 1e-6).drop_nulls().all()
    solved = t.filter(pl.col("status").is_in(["solved", "closed"]))
    assert solved["resolved_at"].null_count() == 0
    still_open = t.filter(~pl.col("status").is_in(["solved", "closed"]))
    assert still_open.height > 0 and still_open["resolved_at"].null_count() == still_open.height
    assert still_open["created_at"].min().date() >= DEFAULT_END - timedelta(days=21)
    assert (t["updated_at"] <= t["ingested_at"]).all()


def test_ticket_targets_come_from_sla_targets(story_ws):
    t = story_ws.read("tickets", EVERYONE).filter(pl.col("channel") == "email", pl.col("priority") == "normal",
                                                  pl.col("client_id") == "acme")
    targets = story_ws.read("sla_targets", EVERYONE).filter(pl.col("target_id") == "acme-first_response-email-normal")
    assert targets.height == 2  # renegotiated mid-history
    for row in targets.iter_rows(named=True):
        end = row["effective_to"] or DEFAULT_END
        in_force = t.filter(pl.col("created_at").dt.date().is_between(row["effective_from"] + timedelta(days=1), end - timedelta(days=1)))
        assert in_force["first_response_target_seconds"].unique().to_list() == [row["threshold_seconds"]]
        breached = in_force["first_response_seconds"] > row["threshold_seconds"]
        assert (breached == in_force["first_response_breached"]).drop_nulls().all()


def test_sla_metrics_are_kpi_names(story_ws):
    metrics = set(story_ws.read("sla_targets", EVERYONE)["metric"])
    assert metrics == {"sla_first_response", "sla_resolution", "service_level", "csat"}


def test_csat_answered_on_a_fifth_of_solved_tickets(story_ws):
    solved = story_ws.read("tickets", EVERYONE).filter(pl.col("status").is_in(["solved", "closed"]))
    rate = solved["csat_raw"].is_not_null().mean()
    assert 0.15 <= rate <= 0.25
    raw = set(solved["csat_raw"].drop_nulls())
    assert raw == {"good", "bad", "1", "2", "3", "4", "5"}


def test_roster_holds_cohorts_nesting_and_realistic_attrition(story_ws):
    r = story_ws.read("staffing_roster", EVERYONE)
    assert 50 <= r["agent_id"].n_unique() <= 160  # ~45 FTE of work at scale 1, plus turnover over a year
    assert set(r["status"]) == {"nesting", "active", "terminated"}
    nesting = r.filter(pl.col("status") == "nesting")
    assert ((nesting["date"] - nesting["hire_date"]).dt.total_days() < 28).all()
    terms = r.filter(pl.col("status") == "terminated")
    assert set(terms["termination_type"]) == {"voluntary", "involuntary"}
    headcount = r.group_by("date").agg(pl.col("agent_id").n_unique())["agent_id"].mean() * 7 / 5
    monthly = terms.height / headcount / (STORY_RUN["weeks"] / 4.345)
    assert 0.025 <= monthly <= 0.07


def _site_weeks(ws: Workspace) -> pl.DataFrame:
    """Per site and week: the tickets' handle time and the roster's handle, on-queue and scheduled time."""
    def week(col: str) -> pl.Expr:
        return pl.col(col).cast(pl.Date).dt.truncate("1w").alias("week")
    work = ws.read("tickets", EVERYONE).group_by("site_id", week("created_at")).agg(pl.col("handle_seconds").sum().alias("work"))
    roster = ws.read("staffing_roster", EVERYONE).group_by("site_id", week("date")).agg(
        pl.col("handle_seconds", "on_queue_seconds", "scheduled_seconds").sum())
    return work.join(roster, on=["site_id", "week"]).with_columns(
        occupancy=pl.col("handle_seconds") / pl.col("on_queue_seconds"),
        shrinkage=1 - pl.col("on_queue_seconds") / pl.col("scheduled_seconds"))


def test_roster_handle_time_is_the_tickets_handle_time(story_ws):
    weeks = _site_weeks(story_ws)
    assert weeks.height >= 6 * 50
    deviation = (weeks["handle_seconds"] / weeks["work"] - 1).abs()
    assert deviation.max() < 0.05, weeks.filter(deviation >= 0.05)


def test_headcount_keeps_occupancy_and_shrinkage_realistic(story_ws):
    weeks = _site_weeks(story_ws)
    assert weeks["occupancy"].is_between(0.6, 0.95).all(), weeks.filter(~pl.col("occupancy").is_between(0.6, 0.95))
    overall = weeks.select(pl.col("handle_seconds").sum() / pl.col("on_queue_seconds").sum()).item()
    assert 0.72 <= overall <= 0.88
    shrinkage = weeks.select(1 - pl.col("on_queue_seconds").sum() / pl.col("scheduled_seconds").sum()).item()
    assert 0.27 <= shrinkage <= 0.36
    r = story_ws.read("staffing_roster", EVERYONE)
    assert (r["handle_seconds"] <= r["on_queue_seconds"] + 0.1).all()
    assert (r["on_queue_seconds"] + r["training_seconds"] <= r["logged_seconds"] + 0.1).all()


def test_tickets_are_worked_by_agents_rostered_at_their_site_that_day(story_ws):
    t = story_ws.read("tickets", EVERYONE).filter(pl.col("agent_id").is_not_null())
    on_shift = story_ws.read("staffing_roster", EVERYONE).filter(pl.col("handle_seconds") > 0).select("agent_id", "site_id", "date")
    people = story_ws.read("tickets", EVERYONE).filter(pl.col("handled_by") != "ai_agent")
    assert t.height == people.height  # nobody unassigned (the AI agent's own conversations have no person)
    worked = t.select("agent_id", "site_id", pl.col("created_at").dt.date().alias("date")).unique()
    # tickets carry the customer's day; the UTC date may be the next one
    matched = worked.join(on_shift, on=["agent_id", "site_id", "date"], how="semi").height
    matched_next = worked.join(on_shift.with_columns(pl.col("date") + timedelta(days=1)), on=["agent_id", "site_id", "date"], how="semi").height
    assert worked.join(on_shift.select("agent_id", "site_id"), on=["agent_id", "site_id"], how="anti").height == 0
    assert (matched + matched_next) / worked.height >= 0.99


@pytest.mark.parametrize("scale", [pytest.param(0.05, id="small"), pytest.param(1.0, id="scale-1")])
def test_every_site_and_channel_has_at_least_two_agents(scale):
    wf, _ = _workforce(scale)
    for q, pool in enumerate(wf.pools):
        employed = np.array([((wf.agents.pool == q) & (wf.agents.hire_day <= d) & (wf.agents.term_day > d)).sum()
                             for d in range(0, 7 * 40, 7)])
        assert employed.min() >= 2, pool


def test_headcount_grows_with_scale():
    small, _ = _workforce(1.0)
    large, cal = _workforce(20.0)
    def fte(wf) -> float:
        days = np.arange(cal.n_days)
        employed = (days[None, :] >= wf.agents.hire_day[:, None]) & (days[None, :] < wf.agents.term_day[:, None])
        return float((employed * wf.agents.fte[:, None]).sum(axis=0).mean())
    assert 17 <= fte(large) / fte(small) <= 21


def _workforce(scale: float):
    """The planned workforce of a 40-week story run at `scale` (no tickets drawn)."""
    cal = Calendar(DEFAULT_END, 40)
    planted = stories_in(cal, True)
    return build_workforce(cal, expected_volume(cal, scale, planted), scale, planted, np.random.default_rng([7, 2])), cal


def test_intervals_follow_the_voice_and_chat_tickets(story_ws):
    iv = story_ws.read("contact_intervals", EVERYONE)
    t = story_ws.read("tickets", EVERYONE).filter(pl.col("channel").is_in(["voice", "chat"]),
                                                  pl.col("first_response_at").is_not_null())
    assert iv["handled"].sum() == t.height
    assert (iv["offered"] == iv["handled"] + iv["abandoned"]).all()
    assert (iv["short_abandoned"] <= iv["abandoned_within_sl"]).all()
    assert set(iv.group_by("channel").agg(pl.col("sl_threshold_seconds").first()).iter_rows()) == {("voice", 20.0), ("chat", 60.0)}
    local = iv.with_columns(local=pl.col("interval_start").dt.convert_time_zone("America/New_York")).filter(pl.col("client_id") == "acme")
    by_slot = local.group_by(pl.col("local").dt.weekday().alias("dow"), pl.col("local").dt.hour().alias("hour")).agg(pl.col("offered").sum())
    peak = by_slot.sort("offered", descending=True).row(0, named=True)
    assert peak["dow"] == 1 and 8 <= peak["hour"] <= 15  # Monday, during the day


def test_qa_samples_a_few_percent_with_calibrated_evaluators(story_ws):
    qa = story_ws.read("qa_evaluations", EVERYONE)
    handled = story_ws.read("tickets", EVERYONE)["agent_id"].is_not_null().sum()
    assert 0.02 <= qa.height / handled <= 0.04
    assert (qa["passed"] == ((qa["score"] / qa["max_score"] >= 0.8) & ~qa["auto_fail"])).all()
    assert 0.002 <= qa["auto_fail"].mean() <= 0.03
    assert qa.filter(pl.col("auto_fail"))["auto_fail_reason"].null_count() == 0
    by_evaluator = qa.filter(~pl.col("auto_fail")).group_by("evaluator_id").agg(pl.col("section_empathy").mean())
    assert by_evaluator["section_empathy"].max() - by_evaluator["section_empathy"].min() > 0.04


def test_invoices_bill_vendors_not_in_house(story_ws):
    inv = story_ws.read("cost_invoices", EVERYONE)
    assert "in_house" not in set(inv["vendor_id"])
    assert {"per_hour", "per_contact"} <= set(inv["billing_model"])
    assert (inv.filter(pl.col("billing_model") == "credit")["amount"] < 0).all()
    per_contact = inv.filter(pl.col("billing_model") == "per_contact")
    assert ((per_contact["quantity"] * per_contact["unit_rate"] - per_contact["amount"]).abs() < 0.01).all()


def test_events_hold_the_calendar_and_the_story_events(story_ws, null_ws):
    events = story_ws.read("events", EVERYONE)
    holidays = events.filter(pl.col("kind") == "holiday")
    assert holidays.height > 0 and holidays["client_id"].null_count() == holidays.height
    assert {"holiday", "launch", "promotion", "outage", "release", "pilot", "vendor_change"} <= set(events["kind"])
    pilot = events.filter(pl.col("kind") == "pilot").row(0, named=True)
    assert pilot["end_date"] > pilot["start_date"]
    assert not {"release", "pilot", "vendor_change"} & set(null_ws.read("events", EVERYONE)["kind"])


def test_readme_documents_every_story_from_the_definitions():
    text = README.read_text(encoding="utf-8")
    assert stories_markdown() in text
    for story in STORIES:
        assert f"`{story.key}`" in text


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param(dict(weeks=0), "weeks must be >= 1", id="no-weeks"),
    pytest.param(dict(scale=0.0), "scale > 0", id="no-scale"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "ws", **kwargs)
    assert not (tmp_path / "ws").exists()


def test_rerunning_into_the_same_folder_changes_nothing(tmp_path):
    first = generate(tmp_path, seed=5, weeks=4, scale=0.05)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "tables").rglob("*.parquet")}
    second = generate(tmp_path, seed=5, weeks=4, scale=0.05)
    assert second.rows == first.rows
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "tables").rglob("*.parquet")} == before


def test_story_kpis_and_target_metrics_are_catalog_kpis(story_ws):
    catalog = Path(__file__).resolve().parents[2] / "insights" / "catalog" / "kpis.toml"
    names = {k["name"] for k in tomllib.loads(catalog.read_text(encoding="utf-8"))["kpi"]}
    assert {s.kpi for s in STORIES} <= names
    assert set(story_ws.read("sla_targets", EVERYONE)["metric"]) <= names


# --------------------------------------------------------------------------- blended operations


def test_acmes_ai_agent_takes_part_in_a_growing_share_of_its_chat_and_messaging(null_ws):
    """The AI agent works acme chat and messaging only: alone (ai_agent, at the acme-ai site of the in-house team)
    or handing over to a BPO person (human_after_ai); its involvement grows over the year, story or not."""
    t = tickets(null_ws)
    ai = t.filter(pl.col("handled_by") == "ai_agent")
    assert set(ai["client_id"]) == {"acme"} and set(ai["channel"]) == {"chat", "messaging"}
    assert set(ai["site_id"]) == {"acme-ai"} and set(ai["vendor_id"]) == {"in_house"}
    # no person, no contract target, no survey: its answers are not a person's first response
    for column in ("agent_id", "first_response_at", "handle_seconds", "first_response_target_seconds",
                   "resolution_target_seconds", "csat_raw", "survey_type"):
        assert ai[column].null_count() == ai.height, column
    handoffs = t.filter(pl.col("handled_by") == "human_after_ai")
    assert set(handoffs["client_id"]) == {"acme"} and set(handoffs["channel"]) == {"chat", "messaging"}
    assert handoffs["agent_id"].null_count() == 0 and "acme-ai" not in set(handoffs["site_id"])
    assert set(t.filter(pl.col("client_id") == "globex")["handled_by"]) == {"human"}
    lanes = t.filter(pl.col("client_id") == "acme", pl.col("channel").is_in(["chat", "messaging"]))

    def involvement(f: pl.DataFrame) -> float:
        return f.select((pl.col("handled_by") != "human").mean()).item()
    early, late = involvement(lanes.filter(pl.col("k") >= 44)), involvement(lanes.filter(pl.col("k") <= 7))
    assert 0.10 <= early <= 0.22 and 0.26 <= late <= 0.38 and late - early >= 0.1, (early, late)


def test_globex_surveys_nps_on_solved_tickets_without_a_csat_answer(null_ws):
    t = tickets(null_ws)
    nps = t.filter(pl.col("survey_type") == "nps")
    assert set(nps["client_id"]) == {"globex"} and set(nps["rating_scale"]) == {"0-10"}
    assert nps["rating_value"].is_between(0, 10).all() and (nps["rating_value"] % 1 == 0).all()
    assert nps["csat_score"].null_count() == nps.height and nps["csat_positive"].null_count() == nps.height
    assert nps["resolved_at"].null_count() == 0
    score = 100 * ((nps["rating_value"] >= 9).mean() - (nps["rating_value"] <= 6).mean())
    assert 30 <= score <= 60, score
    csat = t.filter(pl.col("csat_positive").is_not_null())
    assert set(csat["survey_type"]) == {"csat"}
    assert set(csat.filter(pl.col("client_id") == "globex")["rating_scale"]) == {"1-5"}
    assert set(csat.filter(pl.col("client_id") == "acme")["rating_scale"]) == {"labels"}


def test_customers_write_in_three_languages_where_their_sites_speak_them(null_ws):
    t = tickets(null_ws)
    by_site = t.group_by("site_id").agg(pl.col("language").unique()).rows()
    spoken = {site: set(langs) for site, langs in by_site}
    assert spoken["sp-krakow"] == {"en", "de"} and spoken["nw-manila"] == {"en"}
    assert "es" in spoken["nw-bogota"] and "es" in spoken["acme-ai"]
    assert set(t["language"]) == {"en", "es", "de"}
