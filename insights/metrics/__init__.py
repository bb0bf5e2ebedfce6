"""KPIs from the catalog: Σnumerator/Σdenominator at every grain, exact quantiles, `n` carried along.

    from insights.metrics import compute_kpis
    frame = compute_kpis(ws, scope, grain="week", by=["client_id", "channel"])

`kpis` is the engine (Polars over the workspace's scoped scans); `cube` answers many queries of one view
(a review) from one pass per source (`KpiCube`); `periods` cuts days into weeks,
months, quarters and years and names them. The engine's names are imported on first use, so a
module that needs only `periods` (the command line's week parser) does not load the store and catalog.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from insights.metrics.periods import check_grain, period_end, period_key, period_start, week_start

if TYPE_CHECKING:
    from insights.metrics.cube import KpiCube
    from insights.metrics.kpis import KpiQueryNotes, compute_from_frames, compute_kpis, explain

_LAZY = {"KpiCube": "insights.metrics.cube", "KpiQueryNotes": "insights.metrics.kpis", "compute_from_frames": "insights.metrics.kpis",
         "compute_kpis": "insights.metrics.kpis", "explain": "insights.metrics.kpis"}


def __getattr__(name: str) -> Any:
    """The engine's names, imported when first asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = ["KpiCube", "KpiQueryNotes", "check_grain", "compute_from_frames", "compute_kpis", "explain", "period_end", "period_key",
           "period_start", "week_start"]
