"""The weekly cube inside PostgreSQL (compiled SQL) vs the Polars engine on Parquet.

Every ticket KPI of the catalog (volume, solved, backlog, SLA attainment, CSAT, FCR, reopen and repeat
rates, handle time, exact median and p90 of first response and resolution times: 17 KPIs) per week
x site x channel over 52 weeks.  The Polars engine reads the Parquet file; the SQL engine compiles
the catalog's measures and runs them in PostgreSQL, bringing back only aggregates (and the one or two
ranked values per group that an exact quantile needs).  Each engine runs in its own process (peak RSS
is that process's VmHWM; PostgreSQL's own memory is not counted), and the two cubes are compared
before any time is reported.

    python benchmarks/warehouse.py                       # 1M and 3M tickets
    python benchmarks/warehouse.py --rows 1000000 --runs 1
    python benchmarks/warehouse.py --local               # each client in its own calendar (LOCAL below)

`--local` cuts each client's rows in its own reporting calendar, as a bpo.toml with client time zones
does (both engines: the Polars engine converts the rows' times, the SQL engine compares them with each
client's UTC period bounds, no time-zone function in the database).

Tables go to PostgreSQL (127.0.0.1:5432, db test) under a prefix of the run and are dropped after.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KPIS = ["tickets_created", "tickets_solved", "backlog", "sla_first_response", "sla_resolution", "csat", "fcr",
        "reopen_rate", "repeat_contact_rate", "ticket_handle_time", "first_response_time_median",
        "first_response_time_p90", "resolution_time_median", "resolution_time_p90", "net_ticket_flow",
        "contacts_per_customer", "first_response_time_business_median"]
BY = ("site_id", "channel")
# --local: acme in Chicago (Monday weeks), globex in Manila with Sunday weeks, filed under the Monday reference
LOCAL = {"acme": ("America/Chicago", 0), "globex": ("Asia/Manila", 6)}
WEEK_US = 7 * 86_400 * 1_000_000


def make_data(rows: int) -> Path:
    """Synthetic canonical tickets (52 weeks, 6 sites, 5 channels, repeat customers), cached under benchmarks/_data."""
    import numpy as np
    import polars as pl

    path = DATA / f"wh_tickets_{rows}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    sites = np.array(["nw-manila", "nw-bogota", "sp-austin", "sp-krakow", "eb-cebu", "hq-denver"])
    channels = np.array(["email", "chat", "voice", "messaging", "social"])
    start_us = 1_733_097_600_000_000  # 2024-12-02 00:00 UTC, a Monday
    n = rows
    ch = rng.integers(0, 5, n)
    site = rng.integers(0, 6, n)
    created = np.sort(start_us + rng.integers(0, 52 * WEEK_US, n))
    frt = rng.lognormal(mean=np.array([8.0, 4.5, 3.0, 6.0, 7.5])[ch], sigma=0.9)
    res = frt + rng.lognormal(10.0, 1.0, n)
    solved = rng.random(n) < 0.93
    has_csat = rng.random(n) < 0.2
    frame = pl.DataFrame({
        "source_system": "bench", "source_instance": "b", "ticket_id": np.arange(n).astype(str),
        "client_id": np.where(rng.random(n) < 0.6, "acme", "globex"),
        "vendor_id": np.where(site < 2, "northwind", np.where(site < 4, "southpoint", "eastbay")),
        "site_id": sites[site], "channel": channels[ch],
        "status": np.where(solved, "solved", "open"),
        "created_at": pl.Series(created).cast(pl.Datetime("us", "UTC")),
        "resolved_at": pl.Series(np.where(solved, created + (res * 1e6).astype(np.int64), 0)).cast(pl.Datetime("us", "UTC")),
        "first_response_seconds": frt, "first_response_business_seconds": frt * 0.6,
        "resolution_seconds": np.where(solved, res, np.nan),
        "first_response_breached": frt > np.array([14_400.0, 120.0, 30.0, 3_600.0, 7_200.0])[ch],
        "resolution_breached": res > 172_800.0,
        "csat_positive": pl.Series(rng.random(n) < 0.8).set(pl.Series(~has_csat), None),
        "handle_seconds": rng.gamma(2.0, 200.0, n), "reopens": rng.poisson(0.1, n),
        "requester_hash": pl.Series(rng.integers(0, max(1, n // 3), n)).cast(pl.String),
        "updated_at": pl.Series(created).cast(pl.Datetime("us", "UTC")),
        "ingested_at": pl.Series(created).cast(pl.Datetime("us", "UTC")),
    }).with_columns(
        pl.when(pl.col("status") == "solved").then(pl.col("resolved_at")).alias("resolved_at"),
        pl.col("resolution_seconds").fill_nan(None),
    )
    frame.write_parquet(path, row_group_size=500_000)
    return path


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def calendars(local: bool):  # type: ignore[no-untyped-def]
    """The clients' calendars of the run: None (UTC days, Monday weeks) unless `local`."""
    if not local:
        return None
    from insights.view import Calendar, Calendars

    return Calendars(clients=tuple((c, Calendar(timezone=z, week_start=w)) for c, (z, w) in LOCAL.items()))


def child(engine: str, path: Path, prefix: str, out: Path, local: bool = False) -> None:
    """One engine, one process: import (untimed), the cube once, its peak RSS and what crossed the connection."""
    import polars as pl

    from connectors.store.warehouse import Warehouse
    from insights.metrics.kpis import compute_from_frames
    from insights.metrics.warehouse import compute_in_warehouse
    from connectors.store import Scope

    cals = calendars(local)

    moved = {"rows": 0, "queries": 0}
    t0 = time.perf_counter()
    if engine == "polars":
        cube = compute_from_frames({"tickets": pl.scan_parquet(path)}, KPIS, grain="week", by=BY, calendars=cals)
    else:
        class Counting(Warehouse):
            def fetch(self, stmt):  # type: ignore[no-untyped-def]
                rows = super().fetch(stmt)
                moved["rows"] += len(rows)
                moved["queries"] += 1
                return rows

        wh = Counting(PG_URL, table_prefix=prefix)
        cube = compute_in_warehouse(wh, Scope.everything(), KPIS, grain="week", by=BY, calendars=cals)
    seconds = time.perf_counter() - t0
    cube.write_parquet(out)
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_mib": _peak_mib(), **moved, "cells": cube.height}))


def run_child(engine: str, path: Path, prefix: str, out: Path, local: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", engine, "--path", str(path), "--prefix", prefix,
                           "--out", str(out), *(["--local"] if local else [])],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(a: Path, b: Path) -> None:
    import polars as pl

    x, y = pl.read_parquet(a), pl.read_parquet(b)
    keys = ["period", *BY, "kpi"]
    j = x.join(y, on=keys, how="full", nulls_equal=True, coalesce=True, suffix="_sql")
    bad = j.filter(((pl.col("value") - pl.col("value_sql")).abs() > 1e-9 * pl.col("value").abs().clip(1.0))
                   | (pl.col("value").is_null() != pl.col("value_sql").is_null()) | (pl.col("n") != pl.col("n_sql")))
    if bad.height or x.height != y.height:
        raise SystemExit(f"the cubes differ in {bad.height} cells ({x.height} vs {y.height}):\n{bad.head()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 3_000_000])
    ap.add_argument("--runs", type=int, default=3, help="processes per engine; the best is reported")
    ap.add_argument("--child")
    ap.add_argument("--path")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--out")
    ap.add_argument("--local", action="store_true", help="each client in its own calendar (LOCAL), not UTC")
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.path), args.prefix, Path(args.out), args.local)
        return

    import polars as pl

    from connectors.store.warehouse import Warehouse

    lines = ["| tickets | engine | cube s | rows back over the connection | queries | peak RSS MiB (client) |",
             "|---:|---|---:|---:|---:|---:|"]
    for rows in args.rows:
        path = make_data(rows)
        prefix = f"bench{uuid.uuid4().hex[:8]}_"
        wh = Warehouse(PG_URL, table_prefix=prefix)
        try:
            t0 = time.perf_counter()
            wh.create_tables(["tickets"])
            frame = pl.read_parquet(path)
            for batch in frame.iter_slices(500_000):
                wh.upsert("tickets", batch)
            del frame
            load = time.perf_counter() - t0
            with wh.engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {prefix}tickets")
            print(f"{rows:,} tickets loaded into PostgreSQL in {load:.1f} s (upsert, 500k-row transactions)", flush=True)
            best: dict[str, dict] = {}
            for _ in range(args.runs):
                for engine in ("polars", "sql"):
                    r = run_child(engine, path, prefix, DATA / f"cube_{engine}.parquet", args.local)
                    if engine not in best or r["seconds"] < best[engine]["seconds"]:
                        best[engine] = r
                    print(f"  {engine}: {r}", flush=True)
            compare(DATA / "cube_polars.parquet", DATA / "cube_sql.parquet")
            for engine, label in (("polars", "Polars engine on Parquet"), ("sql", "SQL engine in PostgreSQL")):
                r = best[engine]
                moved = f"{r['rows']:,}" if engine == "sql" else "(reads the Parquet file)"
                queries = str(r["queries"]) if engine == "sql" else ""
                lines.append(f"| {rows:,} | {label} | {r['seconds']:.2f} | {moved} | {queries} | {r['peak_mib']:,.0f} |")
        finally:
            wh.drop_tables()
            wh.close()
    print("\n".join(lines))
    zones = ", ".join(f"{c} {z}" + (" (Sunday weeks)" if w == 6 else "") for c, (z, w) in LOCAL.items())
    print(f"cells per cube: {best['sql']['cells']:,}; calendars: {zones if args.local else 'UTC'}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
