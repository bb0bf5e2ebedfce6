"""KPIs from the catalog: Σnumerator/Σdenominator at every grain, exact quantiles, `n` carried along.

    from insights.metrics import compute_kpis
    frame = compute_kpis(ws, scope, grain="week", by=["client_id", "channel"])

`kpis` is the engine (Polars over the workspace's scoped scans); `periods` cuts days into weeks,
months, quarters and years and names them.
"""
from insights.metrics.kpis import KpiQueryNotes, compute_from_frames, compute_kpis, explain
from insights.metrics.periods import check_grain, period_end, period_key, period_start, week_start

__all__ = ["KpiQueryNotes", "check_grain", "compute_from_frames", "compute_kpis", "explain", "period_end", "period_key",
           "period_start", "week_start"]
