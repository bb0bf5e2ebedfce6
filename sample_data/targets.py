"""Contractual SLA targets (effective-dated) and the per-ticket lookup the generator uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from sample_data.calendar import Calendar
from sample_data.operation import CHANNELS, CLIENTS, CURRENCY, PRIORITIES, SOURCE_SYSTEM

CONTRACT_START = date(2024, 1, 1)
H = 3600

# metric -> channel -> (thresholds per priority low..urgent, attainment target, penalty per point or None)
FIRST_RESPONSE: dict[str, tuple[tuple[int, ...], float, float | None]] = {
    "email": ((24 * H, 8 * H, 4 * H, 1 * H), 0.85, 250.0),
    "chat": ((60, 60, 60, 60), 0.90, None),
    "messaging": ((2 * H, 1 * H, H // 2, H // 4), 0.85, None),
    "social": ((4 * H, 2 * H, 1 * H, H // 2), 0.80, None),
}
RESOLUTION: dict[str, tuple[tuple[int, ...], float, float | None]] = {
    "email": ((72 * H, 48 * H, 24 * H, 8 * H), 0.85, None),
    "chat": ((24 * H, 24 * H, 12 * H, 4 * H), 0.85, None),
    "voice": ((24 * H, 24 * H, 12 * H, 4 * H), 0.85, None),
    "messaging": ((48 * H, 24 * H, 12 * H, 4 * H), 0.85, None),
    "social": ((72 * H, 48 * H, 24 * H, 8 * H), 0.80, None),
}
SERVICE_LEVEL: dict[str, tuple[int, float, float | None]] = {"voice": (20, 0.80, 300.0), "chat": (60, 0.80, None)}
CSAT_TARGET: dict[str, float] = {"acme": 0.85, "globex": 0.80}


@dataclass(frozen=True)
class TargetChange:
    """A target renegotiated mid-history: new threshold from `weeks_before_end` weeks before the latest week."""

    client: str
    metric: str
    channel: str
    priority: str
    threshold_seconds: int
    weeks_before_end: int
    reason: str


TARGET_CHANGES: tuple[TargetChange, ...] = (
    TargetChange("acme", "sla_first_response", "email", "normal", 6 * H, 30, "contract renewal: 8 h -> 6 h"),
)


def _change_date(ch: TargetChange, end: date) -> date:
    return end - timedelta(days=7 * ch.weeks_before_end + 6)


def target_rows(end: date) -> list[dict]:
    """Every target row (the canonical sla_targets rows, without lineage)."""
    rows: list[dict] = []

    def add(client: str, metric: str, channel: str | None, priority: str | None, threshold: int | None,
            attainment: float, penalty: float | None, comparator: str = ">=") -> None:
        tid = "-".join(x for x in (client, metric.removeprefix("sla_"), channel, priority) if x)
        change = next((c for c in TARGET_CHANGES if (c.client, c.metric, c.channel, c.priority) == (client, metric, channel, priority)), None)
        base = dict(client_id=client, vendor_id=None, site_id=None, target_id=tid, channel=channel, priority=priority,
                    queue=None, metric=metric, threshold_seconds=None if threshold is None else float(threshold),
                    comparator=comparator, attainment_target=attainment, business_hours=False,
                    penalty_per_point=penalty, currency=CURRENCY if penalty else None)
        if change is None:
            rows.append({**base, "effective_from": CONTRACT_START, "effective_to": None})
            return
        d = _change_date(change, end)
        rows.append({**base, "effective_from": CONTRACT_START, "effective_to": d - timedelta(days=1)})
        rows.append({**base, "effective_from": d, "effective_to": None, "threshold_seconds": float(change.threshold_seconds)})

    for client in CLIENTS:
        for metric, table in (("sla_first_response", FIRST_RESPONSE), ("sla_resolution", RESOLUTION)):
            for channel, (thresholds, attainment, penalty) in table.items():
                for priority, t in zip(PRIORITIES, thresholds):
                    add(client, metric, channel, priority, t, attainment, penalty)
        for channel, (t, attainment, penalty) in SERVICE_LEVEL.items():
            add(client, "service_level", channel, None, t, attainment, penalty)
        add(client, "csat", None, None, None, CSAT_TARGET[client], None)
    return rows


def sla_targets_frame(cal: Calendar, instance: str) -> pl.DataFrame:
    """The canonical sla_targets table."""
    f = pl.DataFrame(target_rows(cal.end), infer_schema_length=None)
    stamp = pl.col("effective_from").cast(pl.Datetime("us", "UTC")) - pl.duration(days=14)
    return f.with_columns(
        pl.lit(SOURCE_SYSTEM).alias("source_system"), pl.lit(instance).alias("source_instance"),
        stamp.alias("updated_at"), (stamp + pl.duration(hours=2)).alias("ingested_at"),
    )


def threshold_lookup(cal: Calendar, metric: str) -> np.ndarray:
    """Threshold seconds per (client, channel, priority, day); NaN where no target binds."""
    out = np.full((len(CLIENTS), len(CHANNELS), len(PRIORITIES), cal.n_days), np.nan)
    for r in target_rows(cal.end):
        if r["metric"] != metric or r["priority"] is None:
            continue
        d0 = max(cal.day_of(r["effective_from"]), 0)
        d1 = cal.n_days if r["effective_to"] is None else min(cal.day_of(r["effective_to"]) + 1, cal.n_days)
        if d1 <= d0:
            continue
        out[list(CLIENTS).index(r["client_id"]), CHANNELS.index(r["channel"]), PRIORITIES.index(r["priority"]), d0:d1] = r["threshold_seconds"]
    return out


def penalties() -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(client, metric, channel) -> (threshold, attainment target, penalty per point) for targets with a penalty."""
    out = {}
    for r in target_rows(date(2100, 1, 1)):
        if r["penalty_per_point"] and r["effective_to"] is None:
            out[(r["client_id"], r["metric"], r["channel"])] = (r["threshold_seconds"], r["attainment_target"], r["penalty_per_point"])
    return out
