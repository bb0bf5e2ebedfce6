"""The events table: the operation's calendar plus the events the planted stories bring."""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl

from sample_data.calendar import Calendar
from sample_data.operation import ROUTING, SITES, SOURCE_SYSTEM
from sample_data.stories import Story
from sample_data.volume import operation_events

SCHEMA = {"event_id": pl.String, "kind": pl.String, "name": pl.String, "start_date": pl.Date, "end_date": pl.Date,
          "client_id": pl.String, "vendor_id": pl.String, "site_id": pl.String, "channel": pl.String,
          "description": pl.String}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _only_client(site_id: str | None) -> str | None:
    """The one client a site works for (None when it serves several or none): an event there is that client's."""
    clients = {c for (c, _), sites in ROUTING.items() if site_id in sites}
    return next(iter(clients)) if len(clients) == 1 else None


def events_frame(cal: Calendar, stories: tuple[Story, ...], instance: str) -> pl.DataFrame:
    """Holidays (client_id null), launches, promotions, an outage, and each story's release/pilot/change."""
    rows = []
    for e in operation_events(cal):
        channel = e.channels[0] if len(e.channels) == 1 else None
        rows.append(dict(event_id=f"{e.kind}-{e.start:%Y%m%d}-{_slug(e.name)}", kind=e.kind, name=e.name,
                         start_date=e.start, end_date=e.end, client_id=e.client, vendor_id=None, site_id=None,
                         channel=channel, description=e.description))
    for s in stories:
        if s.event is None:
            continue
        start = cal.end - timedelta(days=7 * s.event.weeks[0] + 6)
        end = start if s.event.one_day else cal.end - timedelta(days=7 * s.event.weeks[1])
        if end < cal.start:
            continue
        seg = s.segment
        channel = seg.get("channel") if seg.get("channel") and " " not in seg["channel"] else None
        rows.append(dict(event_id=f"{s.event.kind}-{start:%Y%m%d}-{_slug(s.event.name)}", kind=s.event.kind,
                         name=s.event.name, start_date=start, end_date=None if s.event.one_day else end,
                         client_id=seg.get("client_id") or _only_client(seg.get("site_id")), site_id=seg.get("site_id"),
                         vendor_id=seg.get("vendor_id") or (SITES[seg["site_id"]].vendor if "site_id" in seg else None),
                         channel=channel, description=s.event.description))
    f = pl.DataFrame(rows, schema=SCHEMA)
    stamp = pl.col("start_date").cast(pl.Datetime("us", "UTC")) - pl.duration(days=7)
    return f.with_columns(pl.lit(SOURCE_SYSTEM).alias("source_system"), pl.lit(instance).alias("source_instance"),
                          stamp.alias("updated_at"), (stamp + pl.duration(hours=2)).alias("ingested_at"))
