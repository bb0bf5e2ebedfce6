"""Voice and chat queue statistics per 30-minute interval, aggregated from the tickets they carried."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from sample_data.calendar import Calendar
from sample_data.operation import CHANNELS, SITES, SOURCE_SYSTEM
from sample_data.targets import SERVICE_LEVEL
from sample_data.volume import CLIENT_IDS, SITE_IDS, Lanes

INTERVAL = 1800
SHORT_ABANDON_SHARE = 0.35
LIVE_QUEUES = ("voice", "chat")


def interval_sums(t: dict[str, np.ndarray]) -> pl.DataFrame:
    """Per (lane, interval): handled contacts and the sums of their times (one block of tickets)."""
    live = np.isin(t["channel"], [CHANNELS.index(c) for c in LIVE_QUEUES]) & t["fr_known"]
    thr = np.where(t["channel"] == CHANNELS.index("voice"), SERVICE_LEVEL["voice"][0], SERVICE_LEVEL["chat"][0])
    f = pl.DataFrame({
        "lane": t["lane"][live],
        "interval": (t["created"][live] // INTERVAL).astype(np.int64) * INTERVAL,
        "within": (t["fr"] <= thr)[live],
        "wait": t["fr"][live], "talk": t["talk"][live], "hold": t["hold"][live], "acw": t["acw"][live],
        "handle": t["handle"][live], "transfers": t["transfers"][live],
    })
    return f.group_by("lane", "interval").agg(
        pl.len().alias("handled"), pl.col("within").sum().alias("within"),
        *[pl.col(c).sum() for c in ("wait", "talk", "hold", "acw", "handle", "transfers")],
    )


def intervals_frame(cal: Calendar, lanes: Lanes, sums: list[pl.DataFrame], instance: str, seed: int) -> pl.DataFrame:
    """The canonical contact_intervals table: every 30-minute interval of every voice/chat queue."""
    rng = np.random.default_rng([seed, 303])
    live_lanes = [i for i in range(lanes.n) if CHANNELS[lanes.channel[i]] in LIVE_QUEUES]
    first = int(cal.day_epoch[0]) - 14 * 3600
    starts = np.arange(first - first % INTERVAL, cal.end_epoch, INTERVAL, dtype=np.int64)
    grid = pl.DataFrame({
        "lane": np.repeat(np.array(live_lanes, dtype=np.int64), starts.size),
        "interval": np.tile(starts, len(live_lanes)),
    })
    agg = pl.concat(sums).group_by("lane", "interval").agg(pl.all().sum()) if sums else None
    f = grid.join(agg, on=["lane", "interval"], how="left") if agg is not None else grid
    f = f.with_columns(pl.exclude("lane", "interval").fill_null(0)).sort("lane", "interval")
    handled = f["handled"].to_numpy()
    within = f["within"].to_numpy()
    sl = np.where(handled > 0, within / np.maximum(handled, 1), 1.0)
    rate = 0.015 + 0.30 * (1 - sl) ** 1.5
    abandoned = rng.poisson(handled * rate / (1 - rate))
    short = rng.binomial(abandoned, SHORT_ABANDON_SHARE)
    ab_in_sl = short + rng.binomial(abandoned - short, 0.25)
    lane = f["lane"].to_numpy()
    channel = lanes.channel[lane]
    threshold = np.where(channel == CHANNELS.index("voice"), SERVICE_LEVEL["voice"][0], SERVICE_LEVEL["chat"][0])
    queue = {i: f"{CLIENT_IDS[lanes.client[i]]}-{CHANNELS[lanes.channel[i]]}-{SITE_IDS[lanes.site[i]]}" for i in live_lanes}
    start = pl.Series(f["interval"] * 1_000_000).cast(pl.Datetime("us", "UTC"))
    updated = start + timedelta(minutes=35)
    return pl.DataFrame({
        "source_system": SOURCE_SYSTEM,
        "source_instance": instance,
        "ingested_at": updated.dt.truncate("1d") + timedelta(days=1, hours=2),
        "updated_at": updated,
        "client_id": pl.Series(lane).replace_strict({i: CLIENT_IDS[lanes.client[i]] for i in live_lanes}, return_dtype=pl.String),
        "vendor_id": pl.Series(lane).replace_strict({i: SITES[SITE_IDS[lanes.site[i]]].vendor for i in live_lanes}, return_dtype=pl.String),
        "site_id": pl.Series(lane).replace_strict({i: SITE_IDS[lanes.site[i]] for i in live_lanes}, return_dtype=pl.String),
        "queue_id": pl.Series(lane).replace_strict(queue, return_dtype=pl.String),
        "channel": pl.Series(lane).replace_strict({i: CHANNELS[lanes.channel[i]] for i in live_lanes}, return_dtype=pl.String),
        "direction": "inbound",
        "interval_start": start,
        "interval_minutes": INTERVAL // 60,
        "offered": handled + abandoned,
        "handled": handled,
        "abandoned": abandoned,
        "short_abandoned": short,
        "answered_within_sl": within,
        "abandoned_within_sl": ab_in_sl,
        "sl_threshold_seconds": threshold.astype(float),
        "wait_seconds": f["wait"].round(1),
        "talk_seconds": f["talk"].round(1),
        "hold_seconds": f["hold"].round(1),
        "acw_seconds": f["acw"].round(1),
        "handle_seconds": f["handle"].round(1),
        "transfers": f["transfers"],
    })

