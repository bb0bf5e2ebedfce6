"""Write the sample operation (two brands, three BPOs + in-house, six sites) as a workspace.

The operation and its planted stories are declared as data in `sample_data.operation` and
`sample_data.stories`; this module runs the pipeline: calendar → volume → workforce → tickets (in
blocks of days, vectorised) → intervals, QA, invoices, targets, events → `Workspace.upsert`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from connectors.store import UpsertResult, Workspace
from sample_data.calendar import Calendar
from sample_data.events import events_frame
from sample_data.intervals import interval_sums, intervals_frame
from sample_data.invoices import invoices_frame, month_sums
from sample_data.operation import CLIENTS, DEFAULT_END, bpo_toml
from sample_data.quality import evaluations
from sample_data.stories import STORIES, Story
from sample_data.targets import sla_targets_frame
from sample_data.tickets import Context, generate_block
from sample_data.volume import CLIENT_IDS, draw_counts, expected_volume
from sample_data.workforce import build_workforce, roster_frame

BLOCK_DAYS = 28
FLUSH_ROWS = 1_500_000  # upsert buffered tickets once this many are waiting (bounds memory at large scales)
TABLE_ORDER = ("tickets", "contact_intervals", "qa_evaluations", "staffing_roster", "cost_invoices", "sla_targets", "events")


@dataclass
class SampleSummary:
    """What `generate` wrote: rows per table, the stories planted, and how long it took."""

    path: Path
    rows: dict[str, int]
    stories: tuple[str, ...]
    seconds: float
    seed: int
    weeks: int
    scale: float
    timings: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{name:<18} {n:>12,} rows" for name, n in self.rows.items()]
        lines.append(f"{'stories':<18} {', '.join(self.stories) or 'none'}")
        lines.append(f"{'workspace':<18} {self.path} (seed {self.seed}, {self.weeks} weeks, scale {self.scale:g}, "
                     f"{self.seconds:.1f} s)")
        return "\n".join(lines)


def stories_in(cal: Calendar, stories: bool) -> tuple[Story, ...]:
    """The stories whose window overlaps the calendar (none when `stories` is False)."""
    if not stories:
        return ()
    return tuple(s for s in STORIES if cal.week_index(s.weeks[1]) >= 0)


def _note(progress: bool, message: str) -> None:
    if progress:
        sys.stderr.write(f"  {message}\n")
        sys.stderr.flush()


def generate(out: Path, *, seed: int = 7, weeks: int = 78, scale: float = 1.0, stories: bool = True,
             progress: bool = False) -> SampleSummary:
    """Write the sample workspace at `out` and return what was written.

    Deterministic for given arguments (no clock, no global random state).  `scale=1` is about
    500k tickets over 78 weeks; `stories=False` gives the same operation without the planted
    stories (the null case for detectors).

    >>> summary = generate(Path("/tmp/ws"), weeks=8, scale=0.05)  # doctest: +SKIP
    >>> summary.rows["tickets"] > 0  # doctest: +SKIP
    True
    """
    if weeks < 1 or scale <= 0:
        raise ValueError(f"weeks must be >= 1 and scale > 0 (got weeks={weeks}, scale={scale})")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(out)
    instance = f"seed-{seed}"
    cal = Calendar(DEFAULT_END, weeks)
    planted = stories_in(cal, stories)
    ws = Workspace.create(out, bpo_toml())
    rows = {name: 0 for name in TABLE_ORDER}

    lanes = expected_volume(cal, scale, planted)
    counts = draw_counts(lanes, np.random.default_rng([seed, 1]), np.random.default_rng([seed, 11]))
    workforce = build_workforce(cal, lanes, scale, planted, np.random.default_rng([seed, 2]))
    offsets = np.stack([cal.utc_offset(CLIENTS[c].timezone) for c in CLIENT_IDS])
    ctx = Context(cal, lanes, counts, workforce, planted, instance, seed, offsets)
    timings["setup"] = time.perf_counter() - t0
    _note(progress, f"{int(counts.sum()):,} first contacts over {cal.n_days} days; {workforce.agents.pool.size} agents")

    interval_parts, month_parts, qa_parts, buffer = [], [], [], []
    buffered, next_id = 0, 1
    t1 = time.perf_counter()
    for d0 in range(0, cal.n_days, BLOCK_DAYS):
        frame, t = generate_block(ctx, d0, min(d0 + BLOCK_DAYS, cal.n_days), next_id)
        workforce.add_handle(t["slot"], t["handle"])
        interval_parts.append(interval_sums(t))
        month_parts.append(month_sums(t))
        qa_parts.append(evaluations(cal, workforce.agents, t, next_id, instance, np.random.default_rng([seed, 404, d0])))
        next_id += frame.height
        buffer.append(frame)
        buffered += frame.height
        if buffered >= FLUSH_ROWS:
            rows["tickets"] += _flush(ws, buffer)
            buffer, buffered = [], 0
        _note(progress, f"tickets: {cal.dates[min(d0 + BLOCK_DAYS, cal.n_days) - 1]} ({next_id - 1:,})")
    rows["tickets"] += _flush(ws, buffer)
    timings["tickets"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    roster = workforce.settle()
    tables = {
        "contact_intervals": intervals_frame(cal, lanes, interval_parts, instance, seed),
        "qa_evaluations": pl.concat(qa_parts),
        "staffing_roster": roster_frame(cal, roster, instance),
        "cost_invoices": invoices_frame(cal, lanes, roster, month_parts, instance),
        "sla_targets": sla_targets_frame(cal, instance),
        "events": events_frame(cal, planted, instance),
    }
    for name, frame in tables.items():
        rows[name] = _stored(ws.upsert(name, frame))
        _note(progress, f"{name}: {rows[name]:,} rows")
    timings["other tables"] = time.perf_counter() - t2
    return SampleSummary(out, rows, tuple(s.key for s in planted), time.perf_counter() - t0, seed, weeks, scale, timings)


def _flush(ws: Workspace, frames: list[pl.DataFrame]) -> int:
    """Upsert the buffered ticket blocks in one go."""
    if not frames:
        return 0
    return _stored(ws.upsert("tickets", pl.concat(frames)))


def _stored(result: UpsertResult) -> int:
    """Rows of the sample now in the table (re-running into the same folder changes nothing)."""
    return result.inserted + result.updated + result.unchanged
