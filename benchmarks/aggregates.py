"""The daily aggregate layer: what it costs an import, and what it saves a read.

Generates the sample workspace (each client in its own calendar), then measures on copies of it:

* rebuild: `Workspace.rebuild_aggregates` over every partition (what `bpo-insights store rebuild-aggregates` does);
* import overhead: the same incremental upsert (the last week's tickets updated, plus as many new ones) into a
  store without aggregates and into one that keeps them (best of 5 taken in turns, each run a newer version of the rows);
* read: every KPI the aggregates keep, by week, from the aggregates (`kpis_from_aggregates`) and from the rows
  (`compute_kpis`), whole store, per client and per client × channel (warm, best of 3); the two answers are
  checked equal (counts exactly, sums to 1e-9) before a time is reported.

    .venv/bin/python benchmarks/aggregates.py [--scale 1.0] [--weeks 78]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from connectors.store import Scope, Workspace
from insights.metrics.aggregates import TABLE, aggregate_spec, kpis_from_aggregates
from insights.metrics.kpis import compute_kpis
from sample_data.generator import generate

EVERYONE = Scope.everything()


def best(fn, runs: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--weeks", type=int, default=78)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bpo-agg-bench-"))
    try:
        base = root / "base"
        generate(base, weeks=args.weeks, scale=args.scale)
        toml = base / "bpo.toml"
        toml.write_text(toml.read_text().replace('id = "acme"\n', 'id = "acme"\ntimezone = "America/Chicago"\n', 1)
                        .replace('id = "globex"\n', 'id = "globex"\ntimezone = "Asia/Manila"\n', 1))
        plain, kept = root / "plain", root / "kept"
        shutil.copytree(base, plain)
        shutil.copytree(base, kept)
        ws_plain, ws_kept = Workspace.open(plain), Workspace.open(kept)
        tickets = ws_kept.row_counts()[TABLE]
        t = time.perf_counter()
        parts, agg_rows = ws_kept.rebuild_aggregates(TABLE, aggregate_spec())
        rebuild = time.perf_counter() - t

        rows = ws_plain.read(TABLE, EVERYONE)
        last = rows["created_at"].max()
        week = rows.filter(pl.col("created_at") > last - timedelta(days=7))
        stamp = [rows["updated_at"].max()]

        def batch() -> pl.DataFrame:
            stamp[0] = stamp[0] + timedelta(hours=1)
            return pl.concat([week.with_columns(pl.lit(stamp[0]).alias("updated_at")),
                              week.with_columns(pl.col("ticket_id") + f"-n{stamp[0].timestamp():.0f}",
                                                pl.lit(stamp[0]).alias("updated_at"))])

        plain_s, kept_s = [], []
        for _ in range(5):  # taking turns, so both see the same load on the machine
            b = batch()
            plain_s.append(best(lambda: ws_plain.upsert(TABLE, b), 1)[0])
            up, res = best(lambda: ws_kept.upsert(TABLE, b), 1)
            kept_s.append(up)
        up_plain, up_kept = min(plain_s), min(kept_s)

        print(f"{tickets:,} tickets in {parts} monthly partitions; {agg_rows:,} aggregate rows "
              f"({tickets / max(agg_rows, 1):.0f} tickets per aggregate row); rebuild {rebuild:.2f} s")
        print(f"incremental upsert of {2 * week.height:,} rows ({res.partitions_written} partition(s) rewritten): "
              f"{up_plain:.2f} s without aggregates, {up_kept:.2f} s keeping them "
              f"(+{up_kept - up_plain:.2f} s, {up_kept / up_plain:.2f}×)")
        print()
        print("| read (every kept KPI, weekly) | from rows s | from aggregates s | speed-up |")
        print("|---|---:|---:|---:|")
        for by in [(), ("client_id",), ("client_id", "channel")]:
            fast_s, fast = best(lambda: kpis_from_aggregates(ws_kept, EVERYONE, grain="week", by=by))
            names = fast["kpi"].unique().to_list()
            full_s, full = best(lambda: compute_kpis(ws_kept, EVERYONE, names, grain="week", by=by))
            keys = ["period", *by, "kpi"]
            j = fast.join(full, on=keys, how="full", nulls_equal=True, suffix="_f")
            a, b = pl.col("numerator"), pl.col("numerator_f")
            assert j.filter(~(a.eq_missing(b) | ((a - b).abs() <= 1e-9 * b.abs()))).height == 0, "answers differ"
            print(f"| by {', '.join(by) or '(all)'} ({len(names)} KPIs) | {full_s:.2f} | {fast_s:.3f} | "
                  f"{full_s / fast_s:.0f}× |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
