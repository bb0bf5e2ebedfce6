"""Coverage by hour, weekday and language: the grid a brand checks its overnight and weekend service on.

Hours and weekdays are the client's reporting calendar (an America/New_York client's 21:00 tickets are
in the 21 h column of their local weekday, not at 02:00 UTC the next day).  Each cell holds volume,
first-response attainment, the live queues' service level, the mean demand in that hour and the
agents Erlang C requires for it; a rate resting on fewer records than `min_n` is thin.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights.analyses.coverage import NOT_RECORDED, CoverageError, coverage
from insights.analyses.staffing import StaffingTarget
from insights.view import View
from insights.errors import ViewError

TOML = """
[workspace]
name = "coverage"
[[client]]
id = "acme"
name = "Acme Home"
timezone = "America/New_York"
[[client]]
id = "globex"
name = "Globex Travel"
[[vendor]]
id = "northwind"
name = "Northwind BPO"
[[vendor]]
id = "southpeak"
name = "Southpeak Contact"
[[site]]
id = "nw-manila"
name = "Manila"
vendor = "northwind"
[[site]]
id = "sp-austin"
name = "Austin"
vendor = "southpeak"
"""
START, END = date(2026, 11, 2), date(2026, 11, 15)  # two local weeks, Mon–Sun (EST, UTC−5, after DST ended 1 Nov)
T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
NY = timezone(timedelta(hours=-5))


def _ticket(n: int, created: datetime, *, client: str = "acme", vendor: str = "northwind", site: str = "nw-manila",
            channel: str = "email", breached: bool = False, language: str | None = "en", csat: bool | None = None,
            handle: float | None = 600.0) -> dict:
    return {"source_system": "csv", "source_instance": "t", "ticket_id": f"{client}-{n}", "client_id": client,
            "vendor_id": vendor, "site_id": site, "channel": channel, "status": "solved", "language": language,
            "created_at": created.astimezone(timezone.utc), "first_response_breached": breached,
            "first_response_target_seconds": 3600.0, "csat_positive": csat, "handle_seconds": handle,
            "updated_at": T0, "ingested_at": T0}


def _tickets() -> list[dict]:
    rows: list[dict] = []
    # Tuesdays 3 and 10 Nov at 21:00 New York time: 10 email tickets each, 2 of each day's breached; English,
    # 10 CSAT answers a day, 7 of them satisfied (… the other 3 not)
    for day in (3, 10):
        for i in range(10):
            rows.append(_ticket(len(rows), datetime(2026, 11, day, 21, 5 * i, tzinfo=NY), breached=i < 2,
                                csat=i < 7))
    # Monday 9 Nov at 09:00: 3 Spanish tickets, one breached (thin: 3 records)
    for i in range(3):
        rows.append(_ticket(len(rows), datetime(2026, 11, 9, 9, 10 * i, tzinfo=NY), breached=i == 0, language="es",
                            csat=True, vendor="southpeak", site="sp-austin"))
    # Saturday 14 Nov at 03:00: 2 tickets with no language recorded and no handle time on chat
    for i in range(2):
        rows.append(_ticket(len(rows), datetime(2026, 11, 14, 3, 10 * i, tzinfo=NY), language=None, channel="web_form",
                            handle=None))
    # globex (UTC calendar) tickets outside acme's view
    rows.append(_ticket(len(rows), datetime(2026, 11, 3, 21, tzinfo=timezone.utc), client="globex", language="de"))
    return rows


def _intervals() -> list[dict]:
    """acme voice, Wednesdays 4 and 11 Nov 10:00–11:00 New York time: 2 half-hours × 30 offered, 24 in 20 s."""
    rows = []
    for day in (4, 11):
        for half in (0, 30):
            rows.append({"source_system": "csv", "source_instance": "t", "client_id": "acme", "vendor_id": "northwind",
                         "site_id": "nw-manila", "queue_id": "acme-voice", "channel": "voice", "direction": "inbound",
                         "interval_start": datetime(2026, 11, day, 10, half, tzinfo=NY).astimezone(timezone.utc),
                         "interval_minutes": 30, "offered": 30, "handled": 30, "answered_within_sl": 24,
                         "abandoned": 0, "short_abandoned": 0, "abandoned_within_sl": 0, "sl_threshold_seconds": 20.0,
                         "handle_seconds": 30 * 240.0, "updated_at": T0, "ingested_at": T0})
    return rows


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.create(tmp_path / "ws", TOML)
    w.upsert("tickets", pl.DataFrame(_tickets()))
    w.upsert("contact_intervals", pl.DataFrame(_intervals()))
    return w


ACME = Scope(clients=("acme",), vendors=None)


def cell(cov, weekday: str, hour: str) -> dict:
    (row,) = cov.cells.filter((pl.col("weekday") == weekday) & (pl.col("hour") == hour)).to_dicts()
    return row


def test_the_grid_is_every_weekday_and_hour_of_the_clients_calendar(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    assert cov.cells.height == 7 * 24
    assert cov.calendar == "America/New_York"
    assert cov.cells.get_column("days").unique().to_list() == [2]  # two of each weekday in the range
    assert cov.cells.get_column("volume").sum() == 20 + 3 + 2 + 4 * 30  # acme only: globex is not in the scope


def test_a_new_york_clients_21h_tickets_are_in_the_21h_column_of_their_local_weekday(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    evening = cell(cov, "tuesday", "21")
    assert evening["tickets"] == 20
    assert cell(cov, "wednesday", "02")["volume"] == 0  # where UTC would have put them


def test_a_cells_attainment_and_demand_are_hand_worked(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10, text_target=StaffingTarget(0.8, 60))
    evening = cell(cov, "tuesday", "21")
    assert evening["sla"] == pytest.approx(16 / 20)  # 4 of 20 breached
    assert evening["sla_n"] == 20 and evening["sla_thin"] is False
    assert evening["demand"] == pytest.approx(10.0)  # 20 tickets over 2 Tuesdays: 10 an hour
    # 10 an hour × 600 s = 5/3 Erlangs; 80 % within 60 s: 3 agents give 73.8 %, 4 give 91.9 % (Erlang C by hand)
    assert evening["required"] == 4


def test_a_live_queue_shows_its_service_level_and_contacts(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    morning = cell(cov, "wednesday", "10")
    assert morning["contacts"] == 120 and morning["tickets"] == 0
    assert morning["service_level"] == pytest.approx(96 / 120)
    assert morning["sl_n"] == 120 and morning["sl_thin"] is False
    assert morning["sla"] is None  # no ticket with a first-response target in that hour
    # 120 offered over 2 Wednesdays = 60 an hour at 240 s AHT = 4 Erlangs; 80 % in 20 s needs 7 agents
    # (6 agents: C = 0.285, SL = 1 − 0.285·e^(−2·20/240) = 0.759; 7 agents: C = 0.135, SL = 0.895)
    assert morning["demand"] == pytest.approx(60.0)
    assert morning["required"] == 7


def test_thin_cells_are_marked_not_stated(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    monday = cell(cov, "monday", "09")
    assert monday["sla"] == pytest.approx(2 / 3) and monday["sla_n"] == 3
    assert monday["sla_thin"] is True
    empty = cell(cov, "sunday", "04")
    assert empty["volume"] == 0 and empty["sla"] is None and empty["sla_thin"] is True and empty["required"] == 0
    # the catalog's min_volume (30) is the default: 20 tickets is thin then
    assert cell(coverage(ws, ACME, start=START, end=END), "tuesday", "21")["sla_thin"] is True


def test_work_without_a_handle_time_has_no_requirement_and_says_so(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    night = cell(cov, "saturday", "03")
    assert night["volume"] == 2 and night["required"] is None
    assert any("web_form" in note for note in cov.notes)


def test_the_language_breakdown_holds_volume_attainment_and_csat_with_thin_rows_marked(ws: Workspace) -> None:
    cov = coverage(ws, ACME, start=START, end=END, min_n=10)
    rows = {r["language"]: r for r in cov.languages.to_dicts()}
    assert list(rows) == ["en", "es", NOT_RECORDED]  # busiest first
    assert rows["en"]["volume"] == 20 and rows["en"]["sla"] == pytest.approx(0.8) and rows["en"]["sla_thin"] is False
    assert rows["en"]["csat"] == pytest.approx(14 / 20) and rows["en"]["csat_n"] == 20
    assert rows["es"]["volume"] == 3 and rows["es"]["sla_thin"] is True and rows["es"]["csat_thin"] is True
    assert rows[NOT_RECORDED]["volume"] == 2 and rows[NOT_RECORDED]["csat"] is None


def test_a_language_filter_keeps_that_languages_tickets_and_says_the_languageless_contacts_are_every_languages(
        ws: Workspace) -> None:
    """Interval reports record no language: under a language filter they stay whole (never silently dropped) and the
    coverage says so; the tickets are narrowed to the language."""
    every = coverage(ws, ACME, start=START, end=END, min_n=10)
    cov = coverage(ws, ACME, start=START, end=END, filters={"language": "es"}, min_n=10)
    assert cov.cells.get_column("tickets").sum() == 3 and cell(cov, "monday", "09")["tickets"] == 3
    assert cov.cells.get_column("contacts").sum() == 4 * 30  # every language's contacts, as unfiltered
    assert cov.cells.get_column("volume").sum() == 3 + 4 * 30
    wednesday, whole = cell(cov, "wednesday", "10"), cell(every, "wednesday", "10")
    assert (wednesday["service_level"], wednesday["sl_n"]) == (whole["service_level"], whole["sl_n"]) == (0.8, 120)
    assert cov.languages.get_column("language").to_list() == ["es"]
    said = ("Contacts from call records and interval reports are not split by language: these figures are for every "
            "language, not only language es. The service level is theirs alone; the volume and agents required add "
            "them to the tickets, which are language es only.")
    assert said in cov.notes and not any("not split" in note for note in every.notes)


def test_language_is_a_view_filter() -> None:
    view = View.of(Scope.everything(), {"language": "es"})
    assert view.row_filters == {"language": "es"}
    frame = pl.DataFrame({"language": ["es", "en", None]})
    assert view.apply(frame).get_column("language").to_list() == ["es"]
    with pytest.raises(ViewError, match="language"):
        View.of(Scope.everything(), {"lang": "es"})


def test_a_reversed_range_is_refused_with_the_fix(ws: Workspace) -> None:
    with pytest.raises(CoverageError, match="swap"):
        coverage(ws, ACME, start=END, end=START)
