"""Axis rules shared by the dashboard's Plotly charts and the exports' images, so both draw a KPI the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

MIN_SHARE_SPAN, SHARE_PAD = 0.10, 0.08  # a share axis spans at least 10 points, with 8 % of the span around the data
LABEL_RIGHT_FROM = 0.7  # share of the window after which an event's label is drawn to the left of its day


def share_range(values: Sequence[float | None]) -> list[float] | None:
    """A y range for shares that shows their movement: just around the values drawn (a 0–100 % axis flattens a
    28-point collapse into a wobble), at least 10 points tall, with room around the values so a point at 100 %
    is drawn (and clickable) whole; None without values. Its labels stop at 0 and 100 % (`share_ticks`).

    >>> [round(v, 3) for v in share_range([0.9, 0.62, 0.88])]
    [0.598, 0.922]
    """
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return None
    lo, hi = min(v), max(v)
    if hi - lo < MIN_SHARE_SPAN:
        mid = min(max((lo + hi) / 2, MIN_SHARE_SPAN / 2), 1 - MIN_SHARE_SPAN / 2)  # the 10 points stay inside 0–100 %
        lo, hi = mid - MIN_SHARE_SPAN / 2, mid + MIN_SHARE_SPAN / 2
    pad = SHARE_PAD * (hi - lo)
    return [lo - pad if lo > 0 else -pad, hi + pad]


TICK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25)
MAX_TICKS = 8


def share_ticks(span: Sequence[float]) -> list[float]:
    """Round tick values inside a share range and inside 0–100 % (the room above 100 % carries no label).

    >>> share_ticks([0.46, 1.04])
    [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    """
    lo, hi = span
    step = next((s for s in TICK_STEPS if (hi - lo) / s <= MAX_TICKS), TICK_STEPS[-1])
    first, last = math.ceil(round(max(lo, 0.0) / step, 9)), math.floor(round(min(hi, 1.0) / step, 9))
    return [round(k * step, 4) for k in range(first, last + 1)]


def label_on_the_left(day: date, start: date, end: date) -> bool:
    """Whether an event label at `day` ends at its day (drawn leftwards): one starting in the right part of the
    window would run past the chart's edge and be cut."""
    return (day - start).days / max((end - start).days, 1) > LABEL_RIGHT_FROM
