"""Reporting calendars: every hour, day, weekday, week and month is cut in the client's time zone and week start.

Timestamps are stored in UTC; bpo.toml gives each `[[client]]` a `timezone` and a `week_start` (defaults
under `[settings]`, else UTC and Monday). A US client's 9 pm ticket is on its own local day, not on the
next UTC day; a Sunday-start client's week runs Sunday to Saturday; on the days daylight saving changes a
local day is 23 or 25 hours long and the repeated autumn hour is counted once, in its one day.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest

from connectors.store import Scope, Workspace
from insights import format
from insights.metrics.kpis import compute_from_frames, compute_kpis
from insights.metrics.periods import latest_complete_week, period_start, week_start
from insights.view import Calendar, Calendars, View

NEW_YORK = Calendar(timezone="America/New_York")
SUNDAY = 6


def utc(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=timezone.utc)


def tickets(*created: datetime, client: str = "acme", **cols: Any) -> dict[str, pl.DataFrame]:
    return {"tickets": pl.DataFrame({"created_at": list(created), "client_id": [client] * len(created),
                                     "channel": ["email"] * len(created), **{k: [v] * len(created) for k, v in cols.items()}})}


def only(cal: Calendar, client: str = "acme") -> Calendars:
    """One client (and every other row) in `cal`."""
    return Calendars(reference=cal, clients=((client, cal),), fallback=cal)


def counts(frames: dict[str, pl.DataFrame], calendars: Calendars | None, grain: str, **kw: Any) -> list[tuple]:
    out = compute_from_frames(frames, ["tickets_created"], grain=grain, calendars=calendars, **kw)
    return out.select("period", *kw.get("by", ()), "value").rows()


# --------------------------------------------------------------------------- a US client's evening


EVENING = utc(2026, 11, 4, 2)  # Tue 3 Nov 2026, 21:00 in New York (EST, UTC-5)
LATE_SUNDAY = utc(2026, 11, 9, 3)  # Sun 8 Nov 2026, 22:00 in New York: still the week of Mon 2 Nov


def test_a_us_clients_evening_ticket_stays_on_its_local_day() -> None:
    frames = tickets(EVENING)
    assert counts(frames, only(NEW_YORK), "day") == [(date(2026, 11, 3), 1.0)]
    assert counts(frames, None, "day") == [(date(2026, 11, 4), 1.0)]  # in UTC it is the next day


def test_a_us_clients_sunday_night_stays_in_its_local_week() -> None:
    frames = tickets(utc(2026, 11, 2, 14), LATE_SUNDAY)
    assert counts(frames, only(NEW_YORK), "week") == [(date(2026, 11, 2), 2.0)]
    assert counts(frames, None, "week") == [(date(2026, 11, 2), 1.0), (date(2026, 11, 9), 1.0)]


def test_a_months_last_evening_stays_in_its_local_month() -> None:
    frames = tickets(utc(2026, 12, 1, 1))  # Mon 30 Nov 2026, 20:00 in New York
    assert counts(frames, only(NEW_YORK), "month") == [(date(2026, 11, 1), 1.0)]


def test_date_bounds_are_the_local_midnights() -> None:
    """--from/--to name local days: the UTC range read is [local midnight of from, local midnight after to)."""
    frames = tickets(utc(2026, 11, 3, 4, 59), utc(2026, 11, 3, 5, 0), EVENING, utc(2026, 11, 4, 5, 0))
    # 04:59 UTC is 23:59 on 2 Nov in New York; 05:00 UTC on 4 Nov is midnight starting 4 Nov
    got = counts(frames, only(NEW_YORK), "day", start=date(2026, 11, 3), end=date(2026, 11, 3))
    assert got == [(date(2026, 11, 3), 2.0)]


# --------------------------------------------------------------------------- a Sunday-start week


def test_a_sunday_start_week_runs_sunday_to_saturday() -> None:
    cal = Calendar(timezone="UTC", week_start=SUNDAY)
    frames = tickets(utc(2026, 10, 31), utc(2026, 11, 1), utc(2026, 11, 7), utc(2026, 11, 8))
    assert counts(frames, only(cal), "week") == [
        (date(2026, 10, 25), 1.0),  # Sat 31 Oct closes the week of Sun 25 Oct
        (date(2026, 11, 1), 2.0),  # Sun 1 Nov .. Sat 7 Nov
        (date(2026, 11, 8), 1.0),
    ]


def test_week_helpers_follow_the_week_start() -> None:
    assert week_start(date(2026, 11, 4), SUNDAY) == date(2026, 11, 1)
    assert period_start(date(2026, 11, 7), "week", SUNDAY) == date(2026, 11, 1)
    assert latest_complete_week(date(2026, 11, 7), SUNDAY) == date(2026, 11, 1)  # data to a Saturday: complete
    assert latest_complete_week(date(2026, 11, 8), SUNDAY) == date(2026, 11, 1)  # one Sunday does not finish a week


def test_a_backlog_is_counted_at_the_end_of_the_local_day() -> None:
    """Open at period end: a ticket opened at 9 pm and solved at 11 pm local is never open at a local midnight."""
    frames = {"tickets": pl.DataFrame({
        "created_at": [EVENING, utc(2026, 11, 3, 14)], "resolved_at": [utc(2026, 11, 4, 4), utc(2026, 11, 4, 6)],
        "status": ["solved", "solved"], "client_id": ["acme", "acme"], "channel": ["email", "email"]})}
    got = compute_from_frames(frames, ["backlog"], grain="day", start=date(2026, 11, 3), end=date(2026, 11, 4),
                              calendars=only(NEW_YORK))
    # the 09:00 ticket is still open at midnight ending 3 Nov (solved 01:00 local on 4 Nov); the 21:00 one is not
    assert got.select("period", "value").rows() == [(date(2026, 11, 3), 1.0), (date(2026, 11, 4), 0.0)]


# --------------------------------------------------------------------------- daylight saving


def hourly(first: datetime, hours: int) -> dict[str, pl.DataFrame]:
    """One ticket at every UTC hour from `first`."""
    return tickets(*(first + timedelta(hours=i) for i in range(hours)))


@pytest.mark.parametrize(("day", "hours"), [
    pytest.param(date(2026, 3, 8), 23, id="spring-forward-day-has-23-hours"),
    pytest.param(date(2026, 11, 1), 25, id="fall-back-day-has-25-hours"),
    pytest.param(date(2026, 11, 2), 24, id="an-ordinary-day-has-24"),
])
def test_a_local_day_is_the_hours_its_clock_shows(day: date, hours: int) -> None:
    frames = hourly(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) - timedelta(days=1), 72)
    got = dict(counts(frames, only(NEW_YORK), "day"))
    assert got[day] == hours


def test_the_repeated_autumn_hour_is_counted_once_in_its_day() -> None:
    # 05:30 and 06:30 UTC on 1 Nov 2026 are both 01:30 in New York (EDT, then EST)
    frames = tickets(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))
    assert counts(frames, only(NEW_YORK), "day") == [(date(2026, 11, 1), 2.0)]
    by_hour = compute_from_frames(frames, ["tickets_created"], grain="day", by=("hour",), calendars=only(NEW_YORK))
    assert by_hour.select("period", "hour", "value").rows() == [(date(2026, 11, 1), "01", 2.0)]


def test_the_spring_gap_hour_is_empty() -> None:
    frames = hourly(utc(2026, 3, 8, 5), 23)  # the 23 hours of 8 Mar 2026 in New York
    hours = compute_from_frames(frames, ["tickets_created"], grain="day", by=("hour",), calendars=only(NEW_YORK))
    assert "02" not in hours["hour"].to_list()  # 02:00-03:00 does not exist that night
    assert hours["value"].sum() == 23


# --------------------------------------------------------------------------- hour and weekday


def test_hour_and_weekday_are_the_clients_local_ones() -> None:
    frames = tickets(EVENING)
    got = compute_from_frames(frames, ["tickets_created"], grain="week", by=("weekday", "hour"), calendars=only(NEW_YORK))
    assert got.select("weekday", "hour", "value").rows() == [("tuesday", "21", 1.0)]
    utc_got = compute_from_frames(frames, ["tickets_created"], grain="week", by=("weekday", "hour"))
    assert utc_got.select("weekday", "hour", "value").rows() == [("wednesday", "02", 1.0)]


# --------------------------------------------------------------------------- UTC clients unchanged


def test_a_utc_monday_calendar_gives_the_numbers_of_no_calendar() -> None:
    frames = hourly(utc(2026, 10, 28, 0), 24 * 14)
    plain = Calendars()
    for grain in ("day", "week", "month"):
        kw = {"start": date(2026, 10, 30), "end": date(2026, 11, 8)}
        assert compute_from_frames(frames, ["tickets_created"], grain=grain, calendars=plain, **kw).equals(
            compute_from_frames(frames, ["tickets_created"], grain=grain, **kw))


# --------------------------------------------------------------------------- from bpo.toml, through compute_kpis

TOML = """
[workspace]
name = "calendars"
[[client]]
id = "acme"
timezone = "America/New_York"
week_start = "sunday"
[[client]]
id = "globex"
[[vendor]]
id = "northwind"
[settings]
timezone = "UTC"
week_start = "monday"
"""


def stored(client: str, created: list[datetime]) -> pl.DataFrame:
    n = len(created)
    return pl.DataFrame({
        "source_system": ["test"] * n, "source_instance": ["t"] * n, "ticket_id": [f"{client}-{i}" for i in range(n)],
        "client_id": [client] * n, "vendor_id": ["northwind"] * n, "site_id": ["s"] * n, "channel": ["email"] * n,
        "created_at": created, "updated_at": created,
    })


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace.create(tmp_path / "ws", TOML)
    # acme: Sat 7 Nov 20:00 local (Sun 01:00 UTC) and Sun 8 Nov 10:00 local; globex the same instants
    instants = [utc(2026, 11, 8, 1), utc(2026, 11, 8, 15)]
    w.upsert("tickets", stored("acme", instants))
    w.upsert("tickets", stored("globex", instants))
    return w


def test_a_clients_own_keys_in_bpo_toml_cut_its_weeks(ws: Workspace) -> None:
    acme = compute_kpis(ws, Scope.of(clients=["acme"]), ["tickets_created"], grain="week")
    assert acme.select("period", "value").rows() == [(date(2026, 11, 1), 1.0), (date(2026, 11, 8), 1.0)]
    globex = compute_kpis(ws, Scope.of(clients=["globex"]), ["tickets_created"], grain="week")
    assert globex.select("period", "value").rows() == [(date(2026, 11, 2), 2.0)]  # [settings]: UTC, Monday


def test_a_view_of_clients_with_different_calendars_cuts_each_in_its_own(ws: Workspace) -> None:
    """Each client's rows keep their own weeks, filed under the reference (Monday) week they overlap most,
    so a client's KPI equals its own view and the total is the sum of the clients' own weeks."""
    both = compute_kpis(ws, Scope.everything(), ["tickets_created"], grain="week", by=("client_id",))
    got = {(r[0], r[1]): r[2] for r in both.select("period", "client_id", "value").rows()}
    # acme's Sun 1 - Sat 7 Nov week overlaps Mon 2 - Sun 8 Nov most; its Sun 8 Nov week overlaps Mon 9 Nov's
    assert got == {(date(2026, 11, 2), "acme"): 1.0, (date(2026, 11, 9), "acme"): 1.0, (date(2026, 11, 2), "globex"): 2.0}
    total = compute_kpis(ws, Scope.everything(), ["tickets_created"], grain="week")
    assert total.select("period", "value").rows() == [(date(2026, 11, 2), 3.0), (date(2026, 11, 9), 1.0)]


def test_the_view_takes_the_clients_calendar_and_names_it(ws: Workspace) -> None:
    view = View.of(Scope.everything(), {"client": "acme"}, date(2026, 11, 4), config=ws.config)
    assert view.calendar == Calendar(timezone="America/New_York", week_start=SUNDAY)
    assert view.week == date(2026, 11, 1)
    assert format.period(view.week, "week", view.calendar) == "week of Sun 1 Nov 2026 (America/New_York)"
    mixed = View.of(Scope.everything(), {}, date(2026, 11, 4), config=ws.config)
    assert mixed.week == date(2026, 11, 2)
    assert format.period(mixed.week, "week", mixed.calendar) == (
        "week of Mon 2 Nov 2026 (each client in its own calendar: acme America/New_York, Sunday weeks; globex UTC)")


# --------------------------------------------------------------------------- the command line


def test_kpis_by_local_hour_and_weekday_from_the_command_line(ws: Workspace, capsys) -> None:
    from insights.cli import main

    assert main(["kpis", "--workspace", str(ws.path), "--client", "acme", "--kpi", "tickets_created", "--grain", "day",
                 "--by", "weekday,hour", "--format", "json"]) == 0
    printed = capsys.readouterr()
    rows = sorted((r["period"][:10], r["weekday"], r["hour"], r["value"]) for r in json.loads(printed.out))
    assert rows == [("2026-11-07", "saturday", "20", 1.0), ("2026-11-08", "sunday", "10", 1.0)]
    assert "reporting calendar: America/New_York (Sunday weeks)" in printed.err


def test_an_hour_split_of_a_daily_table_is_left_out_with_the_reason() -> None:
    from insights.metrics.kpis import explain

    notes = explain(["average_headcount", "tickets_created"], by=("hour",))
    assert notes.computed == ("tickets_created",)  # the roster is kept by day: it has weekdays but no hours
    assert "average_headcount cannot be split by hour" in notes.omitted["average_headcount"]
    assert explain(["average_headcount"], by=("weekday",)).computed == ("average_headcount",)
    assert explain(["tickets_solved"], by=("hour",)).computed == ("tickets_solved",)  # a derived time: when it was solved


def test_week_names_the_clients_own_week_on_the_insights_title(ws: Workspace, capsys) -> None:
    from insights.cli import main

    assert main(["insights", "--workspace", str(ws.path), "--client", "acme", "--week", "2026-W45", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("# Insights for the week of Sun 1 Nov 2026 (America/New_York)")


def test_a_date_given_as_the_week_is_cut_into_the_clients_week(ws: Workspace, capsys) -> None:
    from insights.cli import main

    assert main(["insights", "--workspace", str(ws.path), "--client", "acme", "--week", "2026-11-07", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("# Insights for the week of Sun 1 Nov 2026 (America/New_York)")


def test_complete_weeks_are_the_clients_own_weeks(ws: Workspace) -> None:
    from insights.review import available_weeks

    assert available_weeks(ws, Scope.of(clients=["acme"])) == (date(2026, 11, 1),)  # Sat 7 Nov closes it (local)
    assert available_weeks(ws, Scope.of(clients=["globex"])) == (date(2026, 11, 2),)  # Sun 8 Nov closes a Monday week


@pytest.mark.parametrize(("day", "midnight_utc", "hours"), [
    pytest.param(date(2026, 3, 8), 5, 23, id="spring-forward-starts-in-EST"),
    pytest.param(date(2026, 11, 1), 4, 25, id="fall-back-starts-in-EDT"),
])
def test_utc_bounds_of_a_local_day_are_its_local_midnights(day: date, midnight_utc: int, hours: int) -> None:
    """What an engine filtering UTC timestamps (SQL) is given for one local day."""
    from insights.metrics.periods import utc_bounds

    lo, hi = utc_bounds(day, day, "America/New_York")
    assert lo == utc(day.year, day.month, day.day, midnight_utc) and lo.utcoffset() == timedelta(0)
    assert hi - lo == timedelta(hours=hours)


# --------------------------------------------------------------------------- pages that read rows, not KPIs


def test_the_sla_drill_down_lists_the_tickets_of_the_clients_own_week(ws: Workspace) -> None:
    """A chart point's tickets are the ones its KPI counted: acme's Sunday week of 1 Nov holds its Saturday evening."""
    from insights.analyses.sla import counts_behind

    breached = stored("acme", [utc(2026, 11, 8, 1)]).with_columns(first_response_breached=pl.lit(True),
                                                                 updated_at=pl.lit(utc(2026, 11, 9)))
    ws.upsert("tickets", breached)  # acme-0 again, Sat 7 Nov 20:00 in New York, now with a breached first reply
    acme = Scope.of(clients=["acme"])
    assert counts_behind(ws, acme, metric="sla_first_response", week=date(2026, 11, 1)) == (1, 1)
    assert counts_behind(ws, acme, metric="sla_first_response", week=date(2026, 11, 8)) == (0, 0)


def test_staffing_intervals_are_placed_on_the_clients_clock(tmp_path) -> None:
    """A New York queue's 14:00 UTC interval in November is its 09:00 (EST) slot, named with the calendar."""
    from insights.analyses.staffing import staffing_gap

    w = Workspace.create(tmp_path / "ws", TOML)
    starts = [utc(2026, 11, 4, 14), utc(2026, 11, 4, 14, 30)]  # Wed 09:00 and 09:30 in New York
    w.upsert("contact_intervals", pl.DataFrame({
        "source_system": ["test"] * 2, "source_instance": ["t"] * 2, "client_id": ["acme"] * 2, "vendor_id": ["northwind"] * 2, "site_id": ["s"] * 2,
        "queue_id": ["acme-voice"] * 2, "channel": ["voice"] * 2, "direction": ["inbound"] * 2, "interval_start": starts,
        "interval_minutes": [30, 30], "offered": [20, 20], "handled": [20, 20], "handle_seconds": [6000.0, 6000.0],
        "answered_within_sl": [15, 15], "sl_threshold_seconds": [20.0, 20.0]}))
    gap = staffing_gap(w, Scope.of(clients=["acme"]), start=date(2026, 11, 4), end=date(2026, 11, 4))
    slots = gap.pattern.select("weekday", "time").sort("time").rows()
    assert slots == [("Wed", "09:00"), ("Wed", "09:30")]
    assert gap.calendar == "America/New_York"
    assert gap.worst_named()[0].startswith("Wed 09:") and " America/New_York acme-voice" in gap.worst_named()[0]


def test_the_volume_forecast_learns_from_the_clients_own_weeks(ws: Workspace) -> None:
    from insights.analyses.forecast import volume_history

    weekly = volume_history(ws, Scope.of(clients=["acme"]), grain="week", by=("client_id",))
    # Sun 1 - Sat 7 Nov holds the Saturday-evening ticket; the week of Sun 8 Nov is still running, so left out
    assert weekly.select("period", "client_id", "volume").rows() == [(date(2026, 11, 1), "acme", 1)]
    daily = volume_history(ws, Scope.of(clients=["acme"]), grain="day", by=("client_id",))
    assert daily.select("period", "volume").rows() == [(date(2026, 11, 7), 1), (date(2026, 11, 8), 1)]


def test_from_is_the_clients_own_local_day_even_when_its_weeks_are_filed_under_the_reference_week(ws: Workspace) -> None:
    """--from 8 Nov in a view mixing calendars leaves out acme's Saturday 7 Nov (its evening ticket), although
    acme's days are moved a day forward to file its Sunday weeks under the Monday reference weeks."""
    both = compute_kpis(ws, Scope.everything(), ["tickets_created"], grain="week", by=("client_id",),
                        start=date(2026, 11, 8))
    got = {(r[0], r[1]): r[2] for r in both.select("period", "client_id", "value").rows()}
    assert got == {(date(2026, 11, 9), "acme"): 1.0, (date(2026, 11, 2), "globex"): 2.0}
