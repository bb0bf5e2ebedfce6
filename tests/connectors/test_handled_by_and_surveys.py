"""Who handled a contact (`handled_by`) and which survey an answer belongs to, on the way in.

A canonical file carries both; a preset or mapping file can set or derive `handled_by` (Freshdesk's "Bot"
source stays a chat, handled by a bot); an NPS or CES answer keeps its number and scale and is never read as CSAT.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from connectors import derive
from connectors.importer import ImportFileError, import_paths
from connectors.store import Scope, Workspace
from sample_data.operation import bpo_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "examples"
HEADER = "ticket_id,client_id,vendor_id,site_id,channel,status,created_at,handled_by,survey_type,csat_raw"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", bpo_toml("t"))


def stored(ws: Workspace, *columns: str) -> dict[str, tuple]:
    frame = ws.read("tickets", Scope.everything()).sort("ticket_id")
    return {r[0]: r[1:] for r in frame.select("ticket_id", *columns).iter_rows()}


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(tid: str, handled_by: str = "", survey: str = "", raw: str = "", channel: str = "chat") -> str:
    return f"{tid},acme,northwind,nw-manila,{channel},solved,2025-03-03T08:00:00Z,{handled_by},{survey},{raw}"


def test_canonical_file_keeps_handled_by_and_normalises_its_spelling(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", HEADER, row("T1", "ai_agent"), row("T2", "Human after AI"), row("T3", "BOT"),
                 row("T4", ""), row("T5", "self-service", channel="web_form"))
    [report] = import_paths(ws, [path], preset="canonical")
    assert report.status == "ok"
    assert stored(ws, "handled_by") == {"T1": ("ai_agent",), "T2": ("human_after_ai",), "T3": ("bot",), "T4": (None,),
                                        "T5": ("self_service",)}


def test_an_unknown_handler_is_a_bad_row_naming_the_mapping_fix(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", HEADER, row("T1", "ai_agent"), row("T2", "robot"))
    with pytest.raises(ImportFileError, match=r"t\.csv row 3, column 'handled_by'.*'robot'.*\[mapping\.values\.handled_by\]"):
        import_paths(ws, [path], preset="canonical")


def test_freshdesk_bot_source_is_a_chat_handled_by_a_bot(ws: Workspace, tmp_path: Path) -> None:
    lines = (EXAMPLES / "freshdesk_tickets.csv").read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1]
    cells = first.split(",")
    source = header.split(",").index("Source")
    bot = cells.copy()
    bot[0], bot[source] = "5199", "Bot"
    path = write(tmp_path / "fd.csv", header, first, ",".join(bot))
    import_paths(ws, [path], preset="freshdesk", client="globex", vendor="northwind", site="nw-bogota")
    # the email ticket says nothing about who handled it: unknown, not 'human'
    assert stored(ws, "channel", "handled_by") == {"5101": ("email", None), "5199": ("chat", "bot")}


def test_a_mapping_file_sets_or_derives_handled_by(ws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "ivr.csv", "id,opened,via", "C1,2025-03-03 08:00,IVR menu", "C2,2025-03-03 09:00,Agent")
    write(tmp_path / "ivr.toml", "[mapping]", 'table = "tickets"', "[mapping.columns]", 'ticket_id = "id"',
          'created_at = "opened"', 'handled_by = "via"', "[mapping.values.handled_by]", '"IVR menu" = "ivr"',
          '"*" = "human"', "[mapping.constants]", 'channel = "voice"', 'client_id = "acme"',
          'vendor_id = "northwind"', 'site_id = "nw-manila"')
    import_paths(ws, [tmp_path / "ivr.csv"], mapping=tmp_path / "ivr.toml")
    assert stored(ws, "handled_by") == {"C1": ("ivr",), "C2": ("human",)}


def test_an_nps_answer_is_kept_with_its_scale_and_never_folded_into_csat(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", HEADER, row("T1", raw="4"), row("T2", raw="5"), row("T3", survey="nps", raw="9"),
                 row("T4", survey="nps", raw="0"), row("T5", survey="ces", raw="6"), row("T6", raw="good"))
    import_paths(ws, [path], preset="canonical")
    assert stored(ws, "survey_type", "rating_value", "rating_scale", "csat_score", "csat_positive") == {
        "T1": ("csat", 4.0, "1-5", 0.75, True),  # the CSAT answers read as 1-5: the NPS 0 and 9 are not theirs
        "T2": ("csat", 5.0, "1-5", 1.0, True),
        "T3": ("nps", 9.0, "0-10", None, None),
        "T4": ("nps", 0.0, "0-10", None, None),
        "T5": ("ces", 6.0, "1-7", None, None),
        "T6": ("csat", None, "labels", 1.0, True),
    }


def test_a_source_that_names_its_scale_keeps_it() -> None:
    frame = pl.DataFrame({"csat_raw": ["4", "2"], "survey_type": ["ces", "ces"], "rating_scale": ["1-5", None]})
    out = derive.derive_csat(frame)
    assert out.select("rating_value", "rating_scale").rows() == [(4.0, "1-5"), (2.0, "1-7")]


def test_an_unanswered_survey_has_no_type_value_or_scale() -> None:
    out = derive.derive_csat(pl.DataFrame({"csat_raw": ["offered", None]}))
    assert out.select("survey_type", "rating_value", "rating_scale", "csat_positive").rows() == [(None,) * 4] * 2


# ---------------------------------------------------------------- API sources: where the vendor says who handled it


@pytest.mark.parametrize(("via", "replies", "expected"), [
    pytest.param("answer_bot_for_web_widget", 0, "bot", id="bot-ticket-no-agent-reply-is-the-bots"),
    pytest.param("answer_bot_for_sdk", 2, "human_after_ai", id="bot-ticket-an-agent-replied-to-was-handed-over"),
    pytest.param("answer_bot_api", None, "bot", id="bot-ticket-without-metrics"),
    pytest.param("email", 0, None, id="any-other-via-says-nothing"),
])
def test_zendesk_bot_via_types_tell_who_handled_the_ticket(via: str, replies: int | None, expected: str | None) -> None:
    from connectors.vendors import zendesk

    ticket = {"id": 7, "via": {"channel": via}, "metric_set": {"replies": replies}, "created_at": "2025-03-03T08:00:00Z",
              "updated_at": "2025-03-03T08:00:00Z", "status": "solved"}
    batch = zendesk.TICKETS.apply([{**ticket, "handled_by": zendesk.handler(ticket)}], hasher=lambda v: "h" + v)
    row = batch.frame.row(0, named=True)
    assert row["handled_by"] == expected
    assert row["channel"] in ("web_form", "messaging", "other", "email")  # a bot's via type is still a channel


@pytest.mark.parametrize(("conversation", "expected"), [
    pytest.param({"ai_agent_participated": True, "ai_agent": {"resolution_state": "confirmed_resolution"},
                  "statistics": {"first_admin_reply_at": None}}, "ai_agent", id="ai-confirmed-resolution"),
    pytest.param({"ai_agent_participated": True, "ai_agent": {"resolution_state": "routed_to_team"}}, "human_after_ai",
                 id="ai-routed-to-team"),
    pytest.param({"ai_agent_participated": True, "ai_agent": {"resolution_state": None},
                  "statistics": {"first_admin_reply_at": 1741000000}}, "human_after_ai", id="ai-no-answer-then-a-teammate"),
    pytest.param({"ai_agent_participated": True, "ai_agent": {"resolution_state": "abandoned"}}, "ai_agent",
                 id="ai-abandoned-by-the-customer"),
    pytest.param({"ai_agent_participated": False, "statistics": {"first_admin_reply_at": 1741000000}}, "human",
                 id="teammate-only"),
    pytest.param({"statistics": {"first_admin_reply_at": 1741000000}}, None, id="older-api-version-says-nothing"),
])
def test_intercom_ai_agent_participation_and_resolution_state(conversation: dict, expected: str | None) -> None:
    from connectors.vendors import intercom

    assert intercom.handler(conversation) == expected
