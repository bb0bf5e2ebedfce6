"""The Weekly review's time: first and warm `build_review`, the engine alone, peak memory; this code vs another.

    .venv/bin/python benchmarks/review.py                                  # the default sample (scale 1)
    .venv/bin/bpo-insights sample --out /tmp/ws4 --scale 4                 # ~2M tickets
    .venv/bin/python benchmarks/review.py --workspace /tmp/ws4 --before /tmp/main-worktree

Each measurement runs in its own fresh Python process (imports done before the clock starts), reading
the same workspace:

- **first**: `build_review(ws, scope, week=W, filters={"client": C})`, the process's first review (what the
  first visit to the Weekly review page pays; the OS file cache is warm from earlier runs);
- **warm**: the same call again in the same process (catalog loaded, the Parquet files' metadata cached;
  nothing of the first review is kept between the calls: a review builds its own cube);
- **engine**: `detect(ws, scope, week=W, filters=...)` alone in a third call (the Insights page's read);
- **peak RSS**: the process's maximum resident set (`ru_maxrss`) after the three calls;
- **tickets scans**: how many times the tickets table was opened (`Workspace.scan`) during the first review.

`--cube-split` also times the review cube's one pass built for every KPI of the review, then without the
quantile KPIs, without the KPIs over the `next_within` window (repeat contacts), and without either: where the
pass's time goes.

`--before DIR` runs the same measurements with DIR (a worktree of another commit, e.g. main before the
cube) first on `sys.path`, so the two rows compare code on the same data, machine and load.  The load
average during each row is printed beside it.  Figures are seconds of wall time, best of `--repeat`
processes (the first-call figure is each process's first call).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
from collections import Counter
from datetime import date
sys.path.insert(0, os.environ["BENCH_CODE"])
from connectors.store import Scope, Workspace
from insights.detection import detect
from insights.review import build_review

ws = Workspace.open(os.environ["BENCH_WS"])
week = date.fromisoformat(os.environ["BENCH_WEEK"])
filters = {"client": os.environ["BENCH_CLIENT"]} if os.environ["BENCH_CLIENT"] else {}
scans = Counter()
scan = Workspace.scan
def counted(self, table, *a, **k):
    scans[table] += 1
    return scan(self, table, *a, **k)
Workspace.scan = counted
t = time.perf_counter(); r = build_review(ws, Scope.everything(), week=week, filters=filters)
first = time.perf_counter() - t
tickets = scans["tickets"]
t = time.perf_counter(); build_review(ws, Scope.everything(), week=week, filters=filters)
warm = time.perf_counter() - t
t = time.perf_counter(); detect(ws, Scope.everything(), week=week, filters=filters)
engine = time.perf_counter() - t
print(json.dumps({"first": first, "warm": warm, "engine": engine, "tickets_scans": tickets,
                  "insights": len(r.insights), "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


SPLIT = r"""
import json, os, sys, time
from datetime import date
sys.path.insert(0, os.environ["BENCH_CODE"])
from connectors.store import Scope, Workspace
from insights.catalog import load_catalog
from insights.metrics import kpis as engine
from insights.metrics.cube import KpiCube
from insights.review import review_cube
from insights.view import View

ws = Workspace.open(os.environ["BENCH_WS"])
week = date.fromisoformat(os.environ["BENCH_WEEK"])
filters = {"client": os.environ["BENCH_CLIENT"]} if os.environ["BENCH_CLIENT"] else {}
view = View.of(Scope.everything(), filters, week, config=ws.config)
scope = view.scope_for_read()
review = review_cube(ws, scope, week, load_catalog(), view=view)
catalog = review.catalog

def windowed(kpi):
    plan = engine.plan_of(catalog, [kpi], (), ws.config.settings)
    return any(c.window == "next_within" for s, ms in plan.sources.items()
               for c in engine._derived_closure([i for m in ms for i in m.inputs], s.table, catalog))

quantile = {k for k in review.kpis if catalog.kpis[k].type == "quantile"}
window = {k for k in review.kpis if windowed(k)}
out = {}
for label, leave in (("every KPI of the review", set()), ("without the quantile KPIs", quantile),
                     ("without the KPIs over the next_within window", window), ("without either", quantile | window)):
    kpis = tuple(k for k in review.kpis if k not in leave)
    cube = KpiCube(ws, scope, catalog=catalog, dims=review.dims, start=review.start, end=review.end, kpis=kpis)
    t = time.perf_counter()
    cube.compute([kpis[0]], grain="week", by=(), start=review.start, end=review.end)
    out[label] = {"seconds": time.perf_counter() - t, "left_out": sorted(leave)}
print(json.dumps(out))
"""


def cube_split(code: Path, ws: Path, week: str, client: str, repeat: int) -> dict[str, dict]:
    """The review cube's one pass, built for all of the review's KPIs and for subsets (best of `repeat` processes)."""
    best: dict[str, dict] = {}
    for _ in range(repeat):
        env = {**os.environ, "BENCH_CODE": str(code), "BENCH_WS": str(ws), "BENCH_WEEK": week, "BENCH_CLIENT": client,
               "PYTHONPATH": str(code)}
        out = subprocess.run([sys.executable, "-c", SPLIT], env=env, capture_output=True, text=True, check=True)
        for label, r in json.loads(out.stdout.strip().splitlines()[-1]).items():
            if label not in best or r["seconds"] < best[label]["seconds"]:
                best[label] = r
    return best


def measure(code: Path, ws: Path, week: str, client: str, repeat: int) -> dict[str, float]:
    """Best of `repeat` fresh processes running the child with `code` first on sys.path."""
    runs = []
    for _ in range(repeat):
        env = {**os.environ, "BENCH_CODE": str(code), "BENCH_WS": str(ws), "BENCH_WEEK": week, "BENCH_CLIENT": client,
               "PYTHONPATH": str(code)}
        load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
        runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "load": load})
    best = {k: min(r[k] for r in runs) for k in ("first", "warm", "engine", "peak_mib")}
    return {**best, "tickets_scans": runs[0]["tickets_scans"], "insights": runs[0]["insights"],
            "load": sum(r["load"] for r in runs) / len(runs)}


def tickets_of(ws: Path) -> int:
    """The tickets in the workspace, as the store reads them."""
    import polars as pl

    sys.path.insert(0, str(ROOT))
    from connectors.store import Scope, Workspace

    return Workspace.open(ws).scan("tickets", Scope.everything()).select(pl.len()).collect().item()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", type=Path, help="default: the sample (scale 1) generated into a temporary folder")
    p.add_argument("--before", type=Path, help="a worktree of the code to compare with (e.g. main before the cube)")
    p.add_argument("--week", default="2026-10-26", help="the review week's Monday (default: the sample's W44)")
    p.add_argument("--client", default="acme", help="the client filter ('' for every client)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--cube-split", action="store_true",
                   help="also time the review cube's pass built without the quantile and/or the windowed KPIs")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = args.workspace
        if ws is None:
            ws = Path(tmp) / "ws"
            subprocess.run([sys.executable, "-m", "insights.cli", "sample", "--out", str(ws)], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
        rows = []
        for name, code in ([("before", args.before)] if args.before else []) + [("after", ROOT)]:
            rows.append((name, code, measure(code.resolve(), ws, args.week, args.client, args.repeat)))
        split = cube_split(ROOT, ws, args.week, args.client, args.repeat) if args.cube_split else {}
        n = tickets_of(ws)
    print(f"{n:,} tickets, week {args.week}, client {args.client or '(all)'}, {os.cpu_count()} cores\n")
    print("| code | first review s | warm review s | engine s | peak RSS MiB | tickets scans | insights | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, code, m in rows:
        commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        print(f"| {name} ({commit}) | {m['first']:.2f} | {m['warm']:.2f} | {m['engine']:.2f} | {m['peak_mib']:,.0f} | "
              f"{m['tickets_scans']:.0f} | {m['insights']:.0f} | {m['load']:.1f} |")
    if split:
        print("\n| the review cube's pass, built for | pass s | KPIs left out |\n|---|---:|---|")
        for label, r in split.items():
            print(f"| {label} | {r['seconds']:.2f} | {', '.join(r['left_out']) or '–'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
