"""The events calendar of a review: read through the viewer's scope, kept when it applies to the filters (null
means every value), ranked so the charts mark the few that matter; a globex event never reaches an acme viewer."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

import tiny
from connectors.store import Scope, Workspace
from insights.review.events import events_in_window, rank_events, read_events
from insights.review import build_review

W = tiny.REVIEW_WEEK
GLOBEX_EVENT = "Globex-only fare sale ZZ-EVENT-MARKER"
# (event_id, client, vendor, site, channel, kind, name, start, end)
EVENTS = [
    ("acme-launch", "acme", None, None, None, "launch", "Acme Hub 3 launch", date(2025, 2, 17), None),
    ("acme-chat-outage", "acme", None, None, "chat", "outage", "Acme chat outage", date(2025, 3, 4), None),
    ("acme-manila-training", "acme", "northwind", "nw-manila", None, "other", "Manila refresher training",
     date(2024, 11, 4), date(2024, 11, 8)),
    ("shared-holiday", None, None, None, None, "holiday", "Presidents' Day", date(2025, 2, 17), None),
    ("globex-sale", "globex", None, None, None, "promotion", GLOBEX_EVENT, date(2025, 3, 3), date(2025, 3, 9)),
    ("globex-vendor", "globex", "eastbay", None, None, "vendor_change", "Eastbay takes Globex email",
     date(2024, 12, 2), None),
    ("acme-long-ago", "acme", None, None, None, "launch", "Acme Hub 2 launch", date(2023, 5, 1), None),
]


def event_rows() -> pl.DataFrame:
    rows = [{"source_system": "csv", "source_instance": "tiny", "event_id": e, "client_id": c, "vendor_id": v,
             "site_id": s, "channel": ch, "kind": k, "name": n, "start_date": d0, "end_date": d1,
             "updated_at": tiny.T_INGEST, "ingested_at": tiny.T_INGEST}
            for e, c, v, s, ch, k, n, d0, d1 in EVENTS]
    return pl.DataFrame(rows, schema_overrides={"end_date": pl.Date, "vendor_id": pl.String, "site_id": pl.String,
                                                "channel": pl.String, "client_id": pl.String})


@pytest.fixture(scope="module")
def events_ws(tmp_path_factory) -> Workspace:
    """The tiny workspace with an events calendar for both clients and a shared holiday (read-only)."""
    ws = tiny.build(tmp_path_factory.mktemp("events") / "ws")
    ws.upsert("events", event_rows())
    return ws


@pytest.mark.parametrize(("user", "filters", "expected"), [
    pytest.param("acme-manager", {}, {"acme-launch", "acme-chat-outage", "acme-manila-training", "shared-holiday"},
                 id="acme-own-and-shared"),
    pytest.param("globex-manager", {}, {"globex-sale", "globex-vendor", "shared-holiday"}, id="globex-own-and-shared"),
    pytest.param("acme-manager", {"client": "globex"}, {"shared-holiday"}, id="a-filter-never-widens-the-scope"),
    pytest.param("acme-manager", {"channel": "email"}, {"acme-launch", "acme-manila-training", "shared-holiday"},
                 id="channel-filter-drops-other-channels-events"),
    pytest.param("acme-manager", {"site": "sp-austin"}, {"acme-launch", "acme-chat-outage", "shared-holiday"},
                 id="site-filter-drops-other-sites-events"),
    pytest.param("admin", {"vendor": "southpeak"},  # southpeak serves acme only here: globex's calendar is not its
                 {"acme-launch", "acme-chat-outage", "shared-holiday"}, id="vendor-filter"),
    pytest.param("northwind-am", {}, {"acme-launch", "acme-chat-outage", "acme-manila-training", "shared-holiday"},
                 id="vendor-viewer-sees-no-other-vendors-or-unserved-clients-events"),
])
def test_events_follow_the_viewers_scope_and_the_filters(events_ws, user, filters, expected):
    scope = events_ws.config.user(user).scope
    review = build_review(events_ws, scope, week=W, filters=filters)
    assert set(review.events.get_column("event_id")) == expected


def test_only_events_in_the_charts_weeks_are_in_the_review(events_ws):
    review = build_review(events_ws, Scope.everything(), week=W)
    first = review.series("tickets_created").get_column("period").min()
    assert "acme-long-ago" not in set(review.events.get_column("event_id"))
    assert review.events.get_column("last_day").min() >= first


def test_an_acme_viewer_never_sees_a_globex_event(events_ws):
    scope = events_ws.config.user("acme-manager").scope
    for filters in ({}, {"client": "globex"}, {"channel": "email"}, {"vendor": "eastbay"}):
        review = build_review(events_ws, scope, week=W, filters=filters)
        assert set(review.events.get_column("client_id").drop_nulls()) <= {"acme"}
        assert GLOBEX_EVENT not in review.events.get_column("name").to_list()


def test_the_acme_page_marks_acme_events_and_never_globex_ones(open_app, events_ws, rendered_text):
    at = open_app("acme-manager", query={"week": "2025-W10"}, ws=events_ws)
    assert not at.exception
    text = rendered_text(at)
    assert GLOBEX_EVENT not in text and "ZZ-EVENT-MARKER" not in text and "Eastbay takes" not in text
    sla = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if json.loads(c.proto.spec)["layout"]["title"]["text"] == "SLA attainment (first response)")
    labels = [a["text"] for a in sla["layout"]["annotations"] if a["text"].startswith("◆")]
    assert labels == ["◆ Manila refreshe…", "◆ Acme Hub 3 laun…", "◆ Presidents' Day", "◆ Acme chat outage"]
    hovers = " ".join(a.get("hovertext", "") for a in sla["layout"]["annotations"])
    assert "<b>Acme chat outage</b> (outage)<br>04 Mar 2025<br>client acme, channel chat" in hovers
    assert any(c.value.startswith("◆ Events marked on the charts: Manila refresher training (other, 04 Nov 2024)")
               for c in at.caption)


def test_the_admin_page_shows_a_globex_event_only_when_globex_is_in_view(open_app, events_ws, rendered_text):
    assert GLOBEX_EVENT in rendered_text(open_app("admin", query={"week": "2025-W10"}, ws=events_ws))
    assert GLOBEX_EVENT not in rendered_text(open_app("admin", query={"week": "2025-W10", "client": "acme"},
                                                      ws=events_ws))


def frame(*rows: tuple[str, str, date, date | None, str | None]) -> pl.DataFrame:
    """Events as read_events returns them: (name, kind, start, end, client)."""
    return pl.DataFrame([{"event_id": n, "name": n, "kind": k, "start_date": s, "end_date": e, "last_day": e or s,
                          "client_id": c, "vendor_id": None, "site_id": None, "channel": None, "description": None}
                         for n, k, s, e, c in rows],
                        schema_overrides={"end_date": pl.Date, "client_id": pl.String, "vendor_id": pl.String,
                                          "site_id": pl.String, "channel": pl.String, "description": pl.String})


def test_events_rank_recent_first_then_by_kind_then_specific_then_newest():
    events = frame(
        ("old outage", "outage", date(2024, 6, 3), None, "acme"),
        ("recent holiday", "holiday", date(2025, 2, 17), None, None),
        ("recent promotion", "promotion", date(2025, 2, 24), date(2025, 3, 2), "acme"),
        ("old launch", "launch", date(2024, 9, 2), None, "acme"),
        ("old shared outage", "outage", date(2024, 8, 5), None, None),
        ("older outage", "outage", date(2024, 5, 6), None, "acme"),
    )
    ranked = rank_events(events, W + timedelta(days=6))
    assert ranked.get_column("name").to_list() == [
        "recent promotion", "recent holiday", "old outage", "older outage", "old shared outage", "old launch"]
    assert ranked.get_column("rank").to_list() == [1, 2, 3, 4, 5, 6]


def test_a_chart_marks_at_most_five_events_the_best_ranked():
    events = rank_events(frame(*[(f"holiday {i}", "holiday", date(2025, 1, 6) + timedelta(weeks=i), None, None)
                                 for i in range(7)], ("outage", "outage", date(2024, 1, 1), None, None)),
                         W + timedelta(days=6))
    shown, total = events_in_window(events, date(2025, 1, 6), W + timedelta(days=6))
    assert (shown.height, total) == (5, 7)  # the outage lies before the window
    assert shown.get_column("name").to_list() == ["holiday 6", "holiday 5", "holiday 4", "holiday 3", "holiday 2"]


def test_read_events_without_an_events_table_is_empty(tiny_ws):
    assert read_events(tiny_ws, Scope.everything()).height == 0
    assert build_review(tiny_ws, Scope.everything(), week=W).events.columns[:3] == ["rank", "event_id", "kind"]
