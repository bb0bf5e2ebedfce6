"""Call-level exports (Amazon Connect CTRs, Genesys Cloud conversation details, Five9 call log, a generic ACD log)
into the `contacts` table.

The four files in tests/fixtures/contacts/ hold the same six calls of Southpeak Austin on Monday 2 Nov 2026 (UTC),
each in its vendor's documented layout:

    1  Billing, IVR 30 s, waits 15 s, talk 240 + hold 20 + wrap 40          answered
    2  Billing, IVR 20 s, hangs up after 40 s in queue                       abandoned
    3  no queue: 90 s in the IVR                                             ended in the IVR
    4  Billing, reaches agent b.kim with no queue time, talk 120 + wrap 30   answered
    5  Returns, a callback at 23:58, waits 20 s, talk 300 + hold 60 + wrap 45, one transfer, ends 00:05 on 3 Nov
    6  outbound from Billing, talk 180 + wrap 20
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.errors import ImportFileError
from connectors.importer import import_paths
from connectors.mapping import load_preset, preset_summaries
from connectors.schema import get_table
from connectors.store import Scope, Workspace
from insights.catalog.contact_rules import load_contact_rules
from insights.metrics.contacts import derive_intervals
from sample_data.operation import bpo_toml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contacts"
FILES = {
    "amazon_connect_contacts": "amazon_connect_ctr.csv",
    "genesys_conversations": "genesys_conversation_details.csv",
    "five9_calls": "five9_call_log.csv",
    "acd_calls": "acd_call_log.csv",
}
SYSTEMS = {"amazon_connect_contacts": "amazon_connect", "genesys_conversations": "genesys_cloud", "five9_calls": "five9",
           "acd_calls": "acd"}
UTC = timezone.utc


def at(hh: int, mm: int, ss: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("t"))


def load(ws: Workspace, preset: str, file: Path | None = None) -> pl.DataFrame:
    [report] = import_paths(ws, [file or FIXTURES / FILES[preset]], preset=preset, client="acme", vendor="southpeak",
                            site="sp-austin")
    assert report.status == "ok" and report.inserted == 6, str(report)
    return ws.read("contacts", Scope.everything()).sort("initiated_at")


@pytest.mark.parametrize("preset", FILES)
def test_each_call_lands_with_its_times_durations_and_outcome(ws, preset):
    c = load(ws, preset)
    assert c["source_system"].unique().to_list() == [SYSTEMS[preset]]
    assert c["outcome"].to_list() == ["answered", "abandoned", "ivr", "answered", "answered", "answered"]
    assert c["direction"].to_list() == ["inbound"] * 4 + ["outbound", "inbound"]
    assert c["channel"].unique().to_list() == ["voice"]
    assert c["queue_id"].to_list() == ["Billing", "Billing", None, "Billing", "Billing", "Returns"]
    first, abandon, ivr, _, _, late = c.rows(named=True)
    assert (first["initiated_at"], first["queued_at"], first["answered_at"], first["ended_at"]) == (
        at(9, 0), at(9, 0, 30), at(9, 0, 45), at(9, 5, 5))
    assert (first["wait_seconds"], first["talk_seconds"], first["hold_seconds"], first["acw_seconds"],
            first["handle_seconds"], first["agent_id"]) == (15, 240, 20, 40, 300, "a.lee")
    assert (abandon["queued_at"], abandon["answered_at"], abandon["ended_at"], abandon["wait_seconds"]) == (
        at(9, 10, 20), None, at(9, 11), 40)
    assert (ivr["queued_at"], ivr["ended_at"]) == (None, at(9, 21, 30))
    assert (late["ended_at"], late["handle_seconds"], late["callback"]) == (at(0, 5, day=3), 405, True)
    if preset != "amazon_connect_contacts":  # Connect keeps a transfer as a separate contact
        assert late["transfers"] == 1


def test_the_four_layouts_give_the_same_intervals(tmp_path):
    """The same six calls in four vendors' layouts count the same way (default rules)."""
    rules = load_contact_rules()
    frames = []
    for i, preset in enumerate(FILES):
        ws = Workspace.create(tmp_path / f"ws{i}", bpo_toml("t"))
        iv = derive_intervals(load(ws, preset), rules).collect()
        frames.append(iv.drop("source_system", "source_instance", "ingested_at", "updated_at")
                      .sort("direction", "queue_id", "interval_start"))
    for other in frames[1:]:  # Connect keeps a transfer as a separate contact: no per-contact transfer count
        assert other.drop("transfers").equals(frames[0].drop("transfers"))
    rows = {(r["queue_id"], r["direction"], r["interval_start"]): r for r in frames[-1].rows(named=True)}
    billing = rows[("Billing", "inbound", at(9, 0))]  # calls 1 and 2; call 3 (IVR) is not offered
    assert (billing["offered"], billing["handled"], billing["abandoned"], billing["answered_within_sl"],
            billing["wait_seconds"], billing["handle_seconds"]) == (2, 1, 1, 1, 15, 300)
    no_queue = rows[("Billing", "inbound", at(9, 30))]  # call 4: answered with no queue time waits 0 s
    assert (no_queue["offered"], no_queue["answered_within_sl"], no_queue["wait_seconds"]) == (1, 1, 0)
    late = rows[("Returns", "inbound", at(23, 30))]  # call 5 counts whole in the 23:30 interval of 2 Nov
    assert (late["handled"], late["handle_seconds"], late["transfers"]) == (1, 405, 1)
    assert rows[("Billing", "outbound", at(10, 0))]["handled"] == 1


def test_a_local_time_log_is_read_in_its_time_zone(ws, tmp_path):
    mapping = tmp_path / "five9_local.toml"
    mapping.write_text('[mapping]\nextends = "five9_calls"\ntimezone = "America/Chicago"\n')
    [report] = import_paths(ws, [FIXTURES / "five9_call_log.csv"], mapping=mapping, client="acme", vendor="southpeak",
                            site="sp-austin")
    assert report.status == "ok", str(report)
    c = ws.read("contacts", Scope.everything()).sort("initiated_at")
    assert c["initiated_at"][0] == at(15, 0)  # 09:00 CST is 15:00 UTC


def test_a_channel_outside_the_vocabulary_names_the_mapping_fix(ws, tmp_path):
    text = (FIXTURES / "amazon_connect_ctr.csv").read_text().replace(",VOICE,INBOUND,2026-11-02T09:10", ",SMS,INBOUND,2026-11-02T09:10")
    bad = tmp_path / "ctr.csv"
    bad.write_text(text)
    with pytest.raises(ImportFileError) as e:
        import_paths(ws, [bad], preset="amazon_connect_contacts", client="acme", vendor="southpeak", site="sp-austin")
    assert ("ctr.csv row 3, column 'Channel': 'sms' is not a channel bpo-insights knows (email, chat, voice, messaging, "
            "social, web_form, other); say what it means in the mapping: [mapping.values.channel] \"sms\" = \"messaging\"") in str(e.value)


def test_an_answer_before_the_queue_entry_is_a_bad_row(ws, tmp_path):
    text = (FIXTURES / "acd_call_log.csv").read_text().replace(
        "2026-11-02 09:00:30,2026-11-02 09:00:45", "2026-11-02 09:00:30,2026-11-02 09:00:15")
    bad = tmp_path / "calls.csv"
    bad.write_text(text)
    with pytest.raises(ImportFileError, match=r"calls.csv row 2, column 'Answered': .*ends before it starts: answered_at "
                                              r"is before queued_at"):
        import_paths(ws, [bad], preset="acd_calls", client="acme", vendor="southpeak", site="sp-austin")


def test_reimporting_the_same_log_changes_nothing(ws):
    load(ws, "acd_calls")
    [again] = import_paths(ws, [FIXTURES / "acd_call_log.csv"], preset="acd_calls", client="acme", vendor="southpeak",
                           site="sp-austin")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)


def test_the_canonical_layout_covers_every_contacts_column():
    m = load_preset("canonical_contacts")
    assert set(m.columns) == set(get_table("contacts").columns) - {"ingested_at"}


def test_import_help_lists_the_contact_presets_with_one_line_each():
    lines = preset_summaries()
    assert lines["amazon_connect_contacts"] == ("Amazon Connect contact records, one row per contact flattened to CSV with "
                                                "the data model's dotted field names")
    assert lines["genesys_conversations"] == "Genesys Cloud conversation details, one row per conversation, flattened from the analytics conversation details query"
    assert lines["five9_calls"] == "Five9 call log report, one row per call"
    assert lines["acd_calls"] == "Generic ACD call log, one row per call with its times"


CANONICAL = """contact_id,channel,direction,queue_id,initiated_at,queued_at,answered_at,ended_at,talk_seconds,handled_by
K1,voice,inbound,Billing,2026-11-02T09:00:00Z,2026-11-02T09:00:30Z,2026-11-02T09:00:45Z,2026-11-02T09:05:05Z,240,human
K2,chat,inbound,Chat,2026-11-02T09:01:00Z,,,2026-11-02T09:02:00Z,,{handled_by}
"""


def test_a_canonical_contacts_file_is_recognised_by_its_key(ws, tmp_path):
    f = tmp_path / "contacts.csv"
    f.write_text(CANONICAL.format(handled_by="bot"))
    [report] = import_paths(ws, [f], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
    assert report.table == "contacts" and report.status == "ok", str(report)
    c = ws.read("contacts", Scope.everything()).sort("contact_id")
    assert c["handled_by"].to_list() == ["human", "bot"]
    assert c["outcome"].to_list() == ["answered", "abandoned"]  # K2 reached a queue and no agent took it


def test_handled_by_outside_its_vocabulary_is_a_bad_row(ws, tmp_path):
    f = tmp_path / "contacts.csv"
    f.write_text(CANONICAL.format(handled_by="robot"))
    with pytest.raises(ImportFileError, match=r"contacts.csv row 3, column 'handled_by': 'robot' is not a handled_by "
                                              r"bpo-insights knows \(ai_agent, bot, self_service, ivr, human, human_after_ai\)"):
        import_paths(ws, [f], preset="canonical", client="acme", vendor="southpeak", site="sp-austin")
