"""The weekly KPI cube, side by side: our engine vs pandas vs DuckDB vs a naive Polars query.

Cube: 52 weeks × site × channel, with volume, SLA attainment (first response), CSAT (top box),
median and p90 first response time (exact), AHT.  Each engine runs in its own process (so peak
memory is that engine's own: ru_maxrss of the child), reads the same Parquet file, and its cube
is checked against DuckDB's before any time is reported.

    python benchmarks/kpi_cube.py                 # 1M and 10M rows, best of 3 processes, prints a table

Each process imports its libraries (untimed), runs the query once ("first": cold caches) and
once more ("warm": a long-running server's case).
    python benchmarks/kpi_cube.py --rows 1000000 --runs 1

Whole process (`--process`): the same cube as a user gets it from a shell, start to exit: `bpo-insights kpis`
over a workspace holding the same tickets (built once with `init` and upserts, under benchmarks/_data)
against a Python process that imports DuckDB and runs the hand-written query over the Parquet files that
workspace's manifest lists; both write the same output format, and ours (long: one row per KPI) is checked
against DuckDB's cube.  Wall time is taken around the process, CPU time and peak RSS by /usr/bin/time; the
contenders take turns (round robin), so a change in the machine's load hits all alike.  `--code DIR`
(repeatable) runs the command from another checkout of the product, e.g. the commit before a change.
    python benchmarks/kpi_cube.py --process --rows 1000000 --runs 5 --code . --code /tmp/main-checkout
`--output csv` (default: the command's own default, CSV on standard output) or `--output parquet` (a file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
ENGINES = ("duckdb", "ours", "polars_naive", "pandas")  # duckdb first: the reference cube
WEEK_US = 7 * 86_400 * 1_000_000
MONDAY_OFFSET_US = 3 * 86_400 * 1_000_000  # 1970-01-01 was a Thursday; the Monday before is 3 days earlier
COLUMNS = ["created_at", "site_id", "channel", "first_response_seconds", "first_response_breached",
           "csat_positive", "handle_seconds"]


# --------------------------------------------------------------------------- data


def make_data(rows: int) -> Path:
    """Synthetic canonical tickets (52 weeks, 6 sites, 5 channels), cached under benchmarks/_data."""
    import numpy as np
    import polars as pl

    path = DATA / f"tickets_{rows}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    sites = ["nw-manila", "nw-bogota", "sp-austin", "sp-krakow", "eb-cebu", "hq-denver"]
    channels = ["email", "chat", "voice", "messaging", "social"]
    start_us = 1_733_097_600_000_000  # 2024-12-02 00:00 UTC, a Monday
    span = 52 * WEEK_US
    chunks = []
    step = 2_000_000
    for lo in range(0, rows, step):
        n = min(step, rows - lo)
        ch = rng.integers(0, 5, n)
        frt = rng.lognormal(mean=np.array([8.0, 4.5, 3.0, 6.0, 7.5])[ch], sigma=0.9)
        target = np.array([14_400.0, 120.0, 30.0, 3_600.0, 7_200.0])[ch]
        has_csat = rng.random(n) < 0.2
        chunks.append(pl.DataFrame({
            "ticket_id": np.arange(lo, lo + n).astype(str),
            "client_id": np.where(rng.random(n) < 0.6, "acme", "globex"),
            "vendor_id": "v",
            "site_id": pl.Series(np.array(sites)[rng.integers(0, 6, n)]),
            "channel": pl.Series(np.array(channels)[ch]),
            "priority": pl.Series(np.array(["low", "normal", "high", "urgent"])[rng.integers(0, 4, n)]),
            "created_at": pl.Series(np.sort(start_us + rng.integers(0, span, n))).cast(pl.Datetime("us", "UTC")),
            "first_response_seconds": frt,
            "first_response_target_seconds": target,
            "first_response_breached": frt > target,
            "csat_positive": pl.Series(rng.random(n) < 0.8).set(pl.Series(~has_csat), None),
            "handle_seconds": rng.gamma(2.0, 200.0, n),
        }))
    frame = pl.concat(chunks).sort("created_at")
    frame.write_parquet(path, row_group_size=500_000)
    return path


# --------------------------------------------------------------------------- engines
# Every engine returns a frame with: week_us (Int64, Monday 00:00 UTC in epoch µs), site_id,
# channel, volume, sla, csat, frt_p50, frt_p90, aht.


def run_ours(path: Path):
    import polars as pl

    from insights.metrics.kpis import compute_from_frames

    kpis = ["tickets_created", "sla_first_response", "csat", "first_response_time_median",
            "first_response_time_p90", "ticket_handle_time"]
    long = compute_from_frames({"tickets": pl.scan_parquet(path)}, kpis, grain="week", by=("site_id", "channel"))
    wide = long.pivot(on="kpi", index=["period", "site_id", "channel"], values="value")
    return wide.select(
        (pl.col("period").cast(pl.Datetime("us")).cast(pl.Int64)).alias("week_us"), "site_id", "channel",
        pl.col("tickets_created").alias("volume"), pl.col("sla_first_response").alias("sla"),
        pl.col("csat"), pl.col("first_response_time_median").alias("frt_p50"),
        pl.col("first_response_time_p90").alias("frt_p90"), pl.col("ticket_handle_time").alias("aht"),
    )


def run_polars_naive(path: Path):
    import polars as pl

    return (
        pl.scan_parquet(path)
        .group_by(pl.col("created_at").dt.truncate("1w").cast(pl.Datetime("us")).cast(pl.Int64).alias("week_us"), "site_id", "channel")
        .agg(
            pl.len().alias("volume"),
            (1 - pl.col("first_response_breached").cast(pl.Float64).mean()).alias("sla"),
            pl.col("csat_positive").cast(pl.Float64).mean().alias("csat"),
            pl.col("first_response_seconds").median().alias("frt_p50"),
            pl.col("first_response_seconds").quantile(0.9, "linear").alias("frt_p90"),
            pl.col("handle_seconds").mean().alias("aht"),
        )
        .collect()
    )


def run_duckdb(path: Path):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    return con.sql(f"""
        SELECT ((epoch_us(created_at) + {MONDAY_OFFSET_US}) // {WEEK_US}) * {WEEK_US} - {MONDAY_OFFSET_US} AS week_us,
               site_id, channel,
               count(*) AS volume,
               avg(CASE WHEN first_response_breached THEN 0.0 ELSE 1.0 END) AS sla,
               avg(CASE WHEN csat_positive THEN 1.0 WHEN NOT csat_positive THEN 0.0 END) AS csat,
               quantile_cont(first_response_seconds, 0.5) AS frt_p50,
               quantile_cont(first_response_seconds, 0.9) AS frt_p90,
               avg(handle_seconds) AS aht
        FROM read_parquet('{path}')
        GROUP BY ALL
    """).pl()


def run_pandas(path: Path):
    import pandas as pd
    import polars as pl

    df = pd.read_parquet(path, columns=COLUMNS)
    ts = df["created_at"].astype("int64") // 1000 if str(df["created_at"].dtype).endswith("ns, UTC]") else df["created_at"].astype("int64")
    df["week_us"] = ((ts + MONDAY_OFFSET_US) // WEEK_US) * WEEK_US - MONDAY_OFFSET_US
    df["ok"] = (~df["first_response_breached"].astype(bool)).astype(float)
    df["csat_f"] = df["csat_positive"].astype("float")
    g = df.groupby(["week_us", "site_id", "channel"], sort=False, observed=True)
    out = g.agg(volume=("ok", "size"), sla=("ok", "mean"), csat=("csat_f", "mean"), aht=("handle_seconds", "mean"))
    q = g["first_response_seconds"].quantile([0.5, 0.9]).unstack()
    out["frt_p50"], out["frt_p90"] = q[0.5], q[0.9]
    return pl.from_pandas(out.reset_index())


IMPORTS = {"ours": ["polars", "insights.metrics.kpis"], "duckdb": ["duckdb", "polars"], "polars_naive": ["polars"],
           "pandas": ["pandas", "polars", "pyarrow.parquet"]}
RUNNERS = {"ours": run_ours, "duckdb": run_duckdb, "polars_naive": run_polars_naive, "pandas": run_pandas}


# --------------------------------------------------------------------------- whole processes

KPIS = ("tickets_created", "sla_first_response", "csat", "first_response_time_median", "first_response_time_p90",
        "ticket_handle_time")
CUBE = ("volume", "sla", "csat", "frt_p50", "frt_p90", "aht")
# argv: workspace folder, format (csv | parquet), output file ('-': standard output)
DUCKDB_PROCESS = f"""
import json, sys, duckdb
tables = sys.argv[1] + "/tables/tickets/"  # the files the manifest lists (a replaced file stays a while for old readers)
files = [tables + f for f in json.load(open(tables + "_manifest.json"))["files"].values()]
target = "/dev/stdout" if sys.argv[3] == "-" else sys.argv[3]
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")  # it would draw on standard output, into the CSV
con.execute(f\"\"\"COPY (
    SELECT ((epoch_us(created_at) + {MONDAY_OFFSET_US}) // {WEEK_US}) * {WEEK_US} - {MONDAY_OFFSET_US} AS week_us,
           site_id, channel,
           count(*) AS volume,
           avg(CASE WHEN first_response_breached THEN 0.0 ELSE 1.0 END) AS sla,
           avg(CASE WHEN csat_positive THEN 1.0 WHEN NOT csat_positive THEN 0.0 END) AS csat,
           quantile_cont(first_response_seconds, 0.5) AS frt_p50,
           quantile_cont(first_response_seconds, 0.9) AS frt_p90,
           avg(handle_seconds) AS aht
    FROM read_parquet({{files!r}})
    GROUP BY ALL) TO '{{target}}' (FORMAT {{sys.argv[2]}})\"\"\")
"""


def make_workspace(rows: int) -> Path:
    """A workspace (bpo-insights init, then upserts of 2M rows) holding the benchmark's tickets, cached under
    benchmarks/_data."""
    import polars as pl

    sys.path.insert(0, str(HERE.parent))  # this checkout's store writes the files
    from connectors.store import Workspace
    from connectors.store.starter import init_workspace

    ws_dir = DATA / f"workspace_{rows}"
    if (ws_dir / "tables" / "tickets" / "_manifest.json").exists():
        return ws_dir
    import shutil

    shutil.rmtree(ws_dir, ignore_errors=True)
    init_workspace(ws_dir, name="kpi cube benchmark", clients=("acme", "globex"), vendors=("v",))
    ws = Workspace.open(ws_dir)
    source = pl.scan_parquet(make_data(rows))
    for offset in range(0, rows, 2_000_000):  # batches keep the build's memory to a few GiB at 10M
        ws.upsert("tickets", source.slice(offset, 2_000_000).with_columns(
            pl.lit("bench").alias("source_system"), pl.lit("bench").alias("source_instance"),
            pl.lit("solved").alias("status")).collect())
    return ws_dir


def timed_process(cmd: list[str], env: dict[str, str], cwd: Path, stdout: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system: less sensitive to other work on the machine) and peak RSS bytes
    of one process, start to exit; its standard output goes to the file `stdout` (a shell's `> file`)."""
    stats = DATA / "time.txt"
    t0 = time.perf_counter()
    with stdout.open("wb") as fh:
        out = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%M %U %S", *cmd], env=env, cwd=cwd,
                             stdout=fh, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    peak, user, system = stats.read_text().split()[-3:]
    return wall, float(user) + float(system), int(peak) * 1024


def read_cube(path: Path, fmt: str, long: bool):
    """A process's output as the benchmark's cube: `bpo-insights kpis` writes one row per period, group and KPI."""
    import polars as pl

    frame = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path, infer_schema_length=None, try_parse_dates=True)
    if long:
        frame = frame.pivot(on="kpi", index=["period", "site_id", "channel"], values="value").select(
            pl.col("period").cast(pl.Datetime("us")).cast(pl.Int64).alias("week_us"), "site_id", "channel",
            *[pl.col(k).alias(c) for k, c in zip(KPIS, CUBE)])
    return frame.select(pl.col("week_us").cast(pl.Int64), pl.col("site_id").cast(pl.String),
                        pl.col("channel").cast(pl.String), *[pl.col(c).cast(pl.Float64) for c in CUBE]
                        ).sort("week_us", "site_id", "channel")


def whole_processes(rows_list: list[int], runs: int, codes: list[str], fmt: str) -> None:
    """`bpo-insights kpis` (from each checkout) vs a DuckDB process, best of `runs` each, cubes checked."""
    from polars.testing import assert_frame_equal

    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    table = []
    for rows in rows_list:
        t0 = time.perf_counter()
        ws = make_workspace(rows)
        print(f"# {rows:,} tickets: workspace {ws.name} (prepared in {time.perf_counter() - t0:.1f} s)", flush=True)
        files = [DATA / f"process_{i}_{rows}.{fmt}" for i in range(len(codes) + 1)]
        to = (lambda f: ["-"]) if fmt == "csv" else (lambda f: [str(f)])
        contenders = [("DuckDB process (python -c, duckdb)", [sys.executable, "-c", DUCKDB_PROCESS, str(ws), fmt, *to(files[0])],
                       base, HERE)]
        for code, out in zip(codes, files[1:]):
            code_dir = Path(code).resolve()
            git = ["git", "-C", str(code_dir)]
            commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
            if subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout:
                commit += " + uncommitted changes"
            cmd = [sys.executable, "-m", "insights.cli", "kpis", "--workspace", str(ws), "--kpi", ",".join(KPIS),
                   "--grain", "week", "--by", "site_id,channel", "--format", fmt, *(["--out", str(out)] if fmt == "parquet" else [])]
            contenders.append((f"bpo-insights kpis @ {commit}", cmd, {**base, "PYTHONPATH": str(code_dir)}, code_dir))
        stdouts = [f.with_suffix(".stdout") if fmt == "parquet" else f for f in files]
        reference = None
        for i, (name, cmd, env, cwd) in enumerate(contenders):
            timed_process(cmd, env, cwd, stdouts[i])  # warm-up, untimed: byte code compiled, files cached (an installed tool's case)
            cube = read_cube(files[i], fmt, long=i > 0)
            if reference is None:
                reference = cube
                continue
            try:  # the same cube as DuckDB's, or no time is reported
                assert_frame_equal(reference, cube, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
            except AssertionError as e:
                raise SystemExit(f"{name}'s cube differs from DuckDB's: {e}") from None
        runs_of: list[list[tuple[float, float, int]]] = [[] for _ in contenders]
        for _ in range(runs):  # round robin: a change in the machine's load hits every contender alike
            for i, (name, cmd, env, cwd) in enumerate(contenders):
                runs_of[i].append(timed_process(cmd, env, cwd, stdouts[i]))
        results = [(name, min(w for w, _, _ in r), min(c for _, c, _ in r), max(p for _, _, p in r))
                   for (name, *_), r in zip(contenders, runs_of)]
        ref, ref_cpu = results[0][1], results[0][2]
        for name, wall, cpu, peak in results:
            table.append((rows, name, wall, wall / ref, cpu, cpu / ref_cpu, peak / 2**20))
    print(f"\nOutput: {fmt}" + (" on standard output" if fmt == "csv" else " file") + f"; best of {runs} runs each, round robin")
    print("\n| tickets | process | wall s | vs DuckDB | CPU s | vs DuckDB | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rows, name, wall, ratio, cpu, cpu_ratio, peak in table:
        print(f"| {rows:,} | {name} | {wall:.2f} | {ratio:.2f}× | {cpu:.2f} | {cpu_ratio:.2f}× | {peak:,.0f} |")


# --------------------------------------------------------------------------- harness


def peak_rss_bytes() -> int:
    """This process's own peak RSS (VmHWM; ru_maxrss would include the parent's at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(engine: str, path: Path, check: Path | None) -> None:
    """Run one engine once in this process; print seconds and this process's peak RSS."""
    import polars as pl

    for module in IMPORTS[engine]:  # library imports are not part of a query's time
        __import__(module)
    t0 = time.perf_counter()
    cube = RUNNERS[engine](path)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    RUNNERS[engine](path)  # the same query again in a warm process (a dashboard server's case)
    warm = time.perf_counter() - t0
    peak = peak_rss_bytes()
    cube = cube.select(pl.col("week_us").cast(pl.Int64), pl.col("site_id").cast(pl.String), pl.col("channel").cast(pl.String),
                       *[pl.col(c).cast(pl.Float64) for c in ("volume", "sla", "csat", "frt_p50", "frt_p90", "aht")])
    cube = cube.sort("week_us", "site_id", "channel")
    if check is not None:
        cube.write_parquet(check)
    print(json.dumps({"engine": engine, "seconds": seconds, "warm": warm, "peak_bytes": peak, "groups": cube.height}))


def compare(reference: Path, other: Path, engine: str) -> None:
    import polars as pl
    from polars.testing import assert_frame_equal

    a, b = pl.read_parquet(reference), pl.read_parquet(other)
    try:
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
    except AssertionError as e:
        raise SystemExit(f"{engine}'s cube differs from DuckDB's: {e}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--engines", nargs="*", default=list(ENGINES))
    ap.add_argument("--process", action="store_true", help="whole processes: bpo-insights kpis vs a DuckDB process")
    ap.add_argument("--code", action="append", default=[], help="with --process: a checkout whose CLI runs (repeatable)")
    ap.add_argument("--output", choices=["csv", "parquet"], default="csv",
                    help="with --process: what both processes write (csv: to standard output, the command's default)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--check", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.path), Path(args.check) if args.check else None)
        return
    if args.process:
        whole_processes(args.rows, args.runs, args.code or [str(HERE.parent)], args.output)
        return

    env = {k: v for k, v in os.environ.items()}
    rows_out = []
    for rows in args.rows:
        t0 = time.perf_counter()
        path = make_data(rows)
        print(f"# {rows:,} tickets: {path.name} ({path.stat().st_size / 2**20:.0f} MiB, prepared in {time.perf_counter() - t0:.1f} s)", flush=True)
        results = {}
        for engine in args.engines:
            check = DATA / f"cube_{engine}_{rows}.parquet"
            runs = []
            for i in range(args.runs):
                out = subprocess.run([sys.executable, __file__, "--child", engine, "--path", str(path),
                                      "--check", str(check) if i == 0 else ""],
                                     capture_output=True, text=True, env=env, cwd=HERE.parent)
                if out.returncode:
                    raise SystemExit(f"{engine} failed:\n{out.stderr}")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            results[engine] = {"seconds": min(r["seconds"] for r in runs), "warm": min(r["warm"] for r in runs),
                               "peak": max(r["peak_bytes"] for r in runs), "groups": runs[0]["groups"]}
            if engine != "duckdb" and "duckdb" in args.engines:
                compare(DATA / f"cube_duckdb_{rows}.parquet", check, engine)
        ref = results.get("ours")
        for engine, r in results.items():
            ratio = f"{r['seconds'] / ref['seconds']:.2f}×" if ref else "-"
            warm_ratio = f"{r['warm'] / ref['warm']:.2f}×" if ref else "-"
            rows_out.append((rows, engine, r["seconds"], ratio, r["warm"], warm_ratio, r["peak"] / 2**20, r["groups"]))
    print("\n| tickets | engine | first query s | vs ours | warm query s | vs ours | peak RSS MiB | groups |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for rows, engine, first, ratio, warm, warm_ratio, peak, groups in rows_out:
        print(f"| {rows:,} | {engine} | {first:.2f} | {ratio} | {warm:.2f} | {warm_ratio} | {peak:.0f} | {groups} |")


if __name__ == "__main__":
    main()
