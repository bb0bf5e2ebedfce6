"""Peak memory and wall time of `bpo-insights import` on a large tickets CSV, next to Polars' own read_csv.

Generates a canonical tickets CSV of about `--mb` megabytes (rows shaped like
sample_data/examples/canonical_tickets.csv, 12 months, under benchmarks/_data/, never committed), then runs
each contender in its own process under `/usr/bin/time -v` (peak RSS = "Maximum resident set size") into a
fresh workspace.  A contender whose memory passes `--cap-gib` is stopped and reported as "> cap".

    python benchmarks/import_memory.py --code . --code ../other-checkout   # two importers side by side, ~300 MB
    python benchmarks/import_memory.py --mb 60                         # this checkout on a smaller file
    python benchmarks/import_memory.py --code . --bad                  # also every row bad: refused, and --quarantine

`--bad` adds two runs on the same file with `created_at` set to `31/02/2025 25:00` in every row: plain (the
file is refused, nothing stored) and `--quarantine` (every row rejected and recorded in the import log).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
HEADER = ("ticket_id,client_id,vendor_id,site_id,channel,status,priority,queue,tags,contact_reason,created_at,"
          "first_response_at,resolved_at,closed_at,replies,reopens,csat_raw,agent_id,requester_hash")
CHANNELS = ("email", "chat", "voice", "web_form")
PEER = "import polars as pl, sys; f = pl.read_csv(sys.argv[1]); print(f.height, 'rows')"


def generate(path: Path, mb: int) -> int:
    """Write about `mb` MB of tickets in blocks of 100k rows; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows, block = 0, 100_000
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        while fh.tell() < mb * 1_000_000:
            n = pl.int_range(rows, rows + block, eager=True)
            start = pl.datetime(2025, 1, 1, time_zone="UTC") + pl.duration(minutes=(n * 7919) % (365 * 24 * 60))
            frame = pl.DataFrame({"n": n}).with_columns(start.alias("created")).select(
                ("T-" + pl.col("n").cast(pl.String)).alias("ticket_id"),
                pl.lit("acme").alias("client_id"), pl.lit("northwind").alias("vendor_id"),
                pl.lit("nw-manila").alias("site_id"),
                pl.col("n").mod(4).replace_strict(dict(enumerate(CHANNELS)), return_dtype=pl.String).alias("channel"),
                pl.lit("solved").alias("status"), pl.lit("normal").alias("priority"), pl.lit("billing").alias("queue"),
                pl.lit("refund vip").alias("tags"), pl.lit("refund_status").alias("contact_reason"),
                pl.col("created").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("created_at"),
                (pl.col("created") + pl.duration(minutes=pl.col("n").mod(90) + 1)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                .alias("first_response_at"),
                (pl.col("created") + pl.duration(hours=pl.col("n").mod(30) + 2)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                .alias("resolved_at"),
                pl.lit("").alias("closed_at"), pl.col("n").mod(6).alias("replies"), pl.col("n").mod(2).alias("reopens"),
                (pl.col("n").mod(5) + 1).alias("csat_raw"), ("agent-" + pl.col("n").mod(300).cast(pl.String)).alias("agent_id"),
                ("cust-" + pl.col("n").mod(200_000).cast(pl.String)).alias("requester_hash"),
            )
            fh.write(frame.write_csv(include_header=False))
            rows += block
    return rows


def measure(cmd: list[str], env: dict[str, str], cap_gib: float) -> tuple[float, float | None, str]:
    """(wall seconds, peak RSS MiB or None when stopped at the cap, last line of output)."""
    started = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    watched = psutil.Process(proc.pid)
    capped = False
    while proc.poll() is None:
        try:
            rss = sum(c.memory_info().rss for c in watched.children(recursive=True))
        except psutil.Error:
            rss = 0
        if rss > cap_gib * 2**30:
            for c in watched.children(recursive=True):
                c.kill()
            capped = True
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    last = (out.strip().splitlines() or err.strip().splitlines() or [""])[-1]
    return wall, None if capped or not peak else int(peak.group(1)) / 1024, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--code", action="append", default=[], help="a checkout whose importer runs (repeatable)")
    ap.add_argument("--cap-gib", type=float, default=12.0)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bad", action="store_true", help="also import the file with a bad created_at in every row")
    args = ap.parse_args()
    path = DATA / f"tickets_{args.mb}mb.csv"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        generate(path, args.mb)
    size = path.stat().st_size / 1e6
    rows = sum(1 for _ in open(path, "rb")) - 1
    print(f"file: {size:,.0f} MB, {rows:,} rows\n")
    runs = [("clean file", path, [])]
    if args.bad:
        bad = DATA / f"tickets_{args.mb}mb_bad.csv"
        if not bad.exists():
            pl.scan_csv(path, infer_schema=False).with_columns(pl.lit("31/02/2025 25:00").alias("created_at")).sink_csv(bad)
        runs += [("every row bad", bad, []), ("every row bad, --quarantine", bad, ["--quarantine"])]
    print("| contender | wall s | peak RSS MiB |\n|---|---:|---:|")
    for code in args.code or [str(HERE.parent)]:
        code = str(Path(code).resolve())
        for label, file, flags in runs:
            ws = DATA / "ws_import"
            shutil.rmtree(ws, ignore_errors=True)
            subprocess.run([args.python, "-c", "import sys; from connectors.store import Workspace; "
                            "from sample_data.operation import bpo_toml; Workspace.create(sys.argv[1], bpo_toml('t'))",
                            str(ws)], env={**os.environ, "PYTHONPATH": code}, check=True)
            wall, peak, last = measure([args.python, "-m", "insights.cli", "import", "--workspace", str(ws),
                                        "--preset", "canonical", *flags, str(file)], {**os.environ, "PYTHONPATH": code},
                                       args.cap_gib)
            shown = f"{peak:,.0f}" if peak is not None else f"> {args.cap_gib * 1024:,.0f} (stopped)"
            print(f"| bpo-insights import, {label} ({code}) | {wall:.1f} | {shown} |   {last[:90]}", flush=True)
            shutil.rmtree(ws, ignore_errors=True)
    wall, peak, last = measure([args.python, "-c", PEER, str(path)], dict(os.environ), args.cap_gib)
    print(f"| polars {pl.__version__} read_csv (peer: reading only) | {wall:.1f} | {peak or 0:,.0f} |   {last}")


if __name__ == "__main__":
    main()
