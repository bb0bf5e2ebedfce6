"""Insights detection on the sample: time per review week, and story-free headline rate per 100 segment-weeks.

    .venv/bin/python benchmarks/detection.py [--scale 1] [--weeks 52] [--review-weeks 8]

Generates the sample (with stories, and the `stories=False` twin) in a temporary directory, runs
`detect` on the last `review-weeks` weeks of each and prints: seconds per week (imports and
generation outside the timer), tests per run, headlines on the story-free twin and the false-alarm
rate per 100 tested segment-weeks, beside a pandas rolling z-score detector (|z| > 3 on the weekly
value against the trailing 8 weeks) run on the same segment series.  Prophet is not installed here
(it would need a download at run time), so it is not compared.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.workspace import Scope, Workspace  # noqa: E402
from insights.engine import DIMENSIONS, ROOT, detect  # noqa: E402
from insights.kpis import compute_kpis  # noqa: E402
from sample_data.generator import generate  # noqa: E402
from sample_data.operation import DEFAULT_END  # noqa: E402

LATEST = DEFAULT_END - timedelta(days=6)
KPIS = ["sla_first_response", "csat", "fcr", "service_level", "ticket_handle_time", "first_response_time_median"]


def engine_runs(ws: Workspace, weeks: int) -> tuple[list[float], int, int]:
    """(seconds per week, headlines, tests) over the last `weeks` weeks."""
    seconds, headlines, tests = [], 0, 0
    for k in range(weeks):
        t = time.perf_counter()
        f = detect(ws, Scope.everything(), week=LATEST - timedelta(weeks=k))
        seconds.append(time.perf_counter() - t)
        headlines += len(f.headlines)
        tests += f.tests
    return seconds, headlines, tests


def rolling_z_alarms(ws: Workspace, weeks: int, *, window: int = 8, limit: float = 3.0) -> tuple[int, int, float]:
    """(alarms, segment-weeks, seconds) of a rolling z-score on every client × dimension segment's weekly value."""
    t = time.perf_counter()
    alarms = cells = 0
    for dim in (None, *DIMENSIONS):
        by = ROOT + ((dim,) if dim else ())
        f = compute_kpis(ws, Scope.everything(), KPIS, grain="week", by=by).to_pandas()
        f = f[f["n"] >= 30].sort_values("period")
        for _, g in f.groupby([*by, "kpi"], dropna=False):
            v = g.set_index("period")["value"]
            base = v.shift(1).rolling(window, min_periods=window)
            z = (v - base.mean()) / base.std()
            z = z[pd.to_datetime(z.index) > pd.Timestamp(LATEST - timedelta(weeks=weeks))]
            alarms += int((z.abs() > limit).sum())
            cells += int(z.notna().sum())
    return alarms, cells, time.perf_counter() - t


def main() -> None:
    """Generate, run, print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--review-weeks", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        null = Path(tmp) / "null"
        generate(null, weeks=a.weeks, scale=a.scale, seed=7, stories=False)
        ws = Workspace.open(null)
        detect(ws, Scope.everything(), week=LATEST)  # warm: catalog, imports
        seconds, headlines, tests = engine_runs(ws, a.review_weeks)
        alarms, cells, z_seconds = rolling_z_alarms(ws, a.review_weeks)
    per_100 = 100.0 * headlines / max(tests, 1)
    print(f"scale {a.scale}, {a.weeks} weeks, story-free sample, last {a.review_weeks} weeks")
    print("| detector | seconds per week | alarms | segment-weeks tested | false alarms per 100 segment-weeks |")
    print("|---|---|---|---|---|")
    print(f"| insights engine (headlines) | {sum(seconds) / len(seconds):.2f} (max {max(seconds):.2f}) | {headlines} | "
          f"{tests} | {per_100:.3f} |")
    print(f"| pandas rolling z (|z| > 3, 8 weeks) | {z_seconds / a.review_weeks:.2f} | {alarms} | {cells} | "
          f"{100.0 * alarms / max(cells, 1):.3f} |")


if __name__ == "__main__":
    main()
