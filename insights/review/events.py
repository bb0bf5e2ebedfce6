"""The events calendar of a view: which declared events (releases, outages, promotions, pilots, vendor
changes, holidays) apply to the viewer's scope and filters, ranked by how likely they are to explain
a move, and how they are labelled on a chart.

Charts (dashboard/charts.py, export images) mark at most `MAX_EVENTS` of them; the engine's own
"coincides with" alignment is in insights/detection/explain.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from connectors.store import Scope, Workspace
from insights.view import View

# how likely a kind of event is to explain a move in the KPIs (lower ranks first); unknown kinds rank as "other"
EVENT_KIND_RANK = {"outage": 0, "launch": 1, "release": 1, "vendor_change": 2, "pilot": 3, "promotion": 4,
                   "other": 5, "holiday": 6}
EVENT_COLUMNS = ("event_id", "kind", "name", "start_date", "end_date", "client_id", "vendor_id", "site_id", "channel",
                 "description")
EVENT_RECENT_WEEKS = 6  # events touching the charts' shaded last weeks rank before older ones
MAX_EVENTS = 5  # events marked on one chart: the best-ranked; more would hide the lines
EVENT_LABEL_CHARS = 16
EVENT_LANE_DAYS = 105  # labels closer than this go to the next row (a label is ~100 px, a year ~450 px on a chart)


def empty_events() -> pl.DataFrame:
    """An events frame with no rows (the columns `read_events` returns)."""
    from connectors.schema import TABLES

    spec = TABLES["events"].columns
    return pl.DataFrame(schema={"rank": pl.UInt32, **{c: spec[c].dtype for c in EVENT_COLUMNS}, "last_day": pl.Date})


def rank_events(events: pl.DataFrame, week_end: date) -> pl.DataFrame:
    """Events most worth marking first, numbered in `rank`: those touching the last six weeks, then by kind
    (outages, launches and releases, vendor changes, pilots, promotions, other, holidays), then the more
    specific (naming a client, vendor, site or channel), then the newest."""
    recent_from = week_end - timedelta(weeks=EVENT_RECENT_WEEKS) + timedelta(days=1)
    recent = (pl.col("last_day") >= recent_from) & (pl.col("start_date") <= week_end)
    kind = pl.col("kind").replace_strict(EVENT_KIND_RANK, default=EVENT_KIND_RANK["other"], return_dtype=pl.Int8)
    specific = pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int8) for c in ("client_id", "vendor_id", "site_id",
                                                                                   "channel")])
    ranked = events.drop("rank", strict=False).sort([recent, kind, specific, pl.col("start_date")],
                                                    descending=[True, False, True, True])
    return ranked.with_row_index("rank", offset=1)


def events_in_window(events: pl.DataFrame | None, start: date, end: date,
                     limit: int = MAX_EVENTS) -> tuple[pl.DataFrame, int]:
    """(the `limit` best-ranked events overlapping start..end, how many overlap in all)."""
    if events is None or events.height == 0:
        return empty_events(), 0
    inside = events.filter((pl.col("last_day") >= start) & (pl.col("start_date") <= end))
    if "rank" in inside.columns:
        inside = inside.sort("rank")
    return inside.head(limit), inside.height


def event_label(name: str, chars: int = EVENT_LABEL_CHARS) -> str:
    """An event's name cut to fit above a chart ('Acme order-delay e…')."""
    return name if len(name) <= chars else name[:chars - 1].rstrip() + "…"


def event_lanes(starts: Sequence[date], gap_days: int = EVENT_LANE_DAYS) -> list[int]:
    """The label row of each event (sorted by start): the first row whose last label is `gap_days` or more before."""
    last: list[date] = []
    lanes = []
    for d in starts:
        lane = next((i for i, prev in enumerate(last) if (d - prev).days >= gap_days), len(last))
        if lane == len(last):
            last.append(d)
        last[lane] = d
        lanes.append(lane)
    return lanes


def read_events(ws: Workspace, scope: Scope, filters: Mapping[str, Any] | None = None, *, start: date | None = None,
                end: date | None = None) -> pl.DataFrame:
    """The events calendar of the view between start and end (inclusive), ranked by `rank_events`.

    Read through the viewer's scope narrowed by the client/vendor filters (a client's own events
    and the shared ones, whose client is null); an event naming a site or channel is kept only when
    the site/channel filter is unset or the same (null means every site or channel).  Example:
    `read_events(ws, viewer.scope, {"client": "acme"}, start=date(2025, 1, 6), end=date(2025, 3, 9))`.
    """
    view = View.of(scope, filters)
    rows = view.apply(ws.read("events", view.scope_for_read()), keep_null=True, rows_only=True)
    rows = rows.select(EVENT_COLUMNS).with_columns(pl.col("end_date").fill_null(pl.col("start_date")).alias("last_day"))
    if start is not None:
        rows = rows.filter(pl.col("last_day") >= start)
    if end is not None:
        rows = rows.filter(pl.col("start_date") <= end)
    return rank_events(rows, end or (rows.get_column("last_day").max() if rows.height else date.today()))
