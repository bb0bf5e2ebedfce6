"""What an import pays for the store's upkeep: one day of tickets upserted into a copy of a workspace.

    .venv/bin/python benchmarks/upsert.py --workspace /tmp/ws10m              # a day added to the last month
    .venv/bin/python benchmarks/upsert.py --workspace /tmp/ws10m --first-day  # ... on that month's first day

The day's tickets are copied under new ticket ids (the same customers, times and vendors), so the upsert
inserts them all. `--first-day` copies the last month's first day: the month before must then be looked at
again, because its last tickets' customers came back (the repeat flag kept in the rows). Each run works
on a fresh copy of the workspace (the workspace given is never changed) and prints the upsert's wall time
and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.store import Scope, Workspace  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--first-day", action="store_true", help="copy the last month's first day instead of its last")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(args.workspace, copy)
        ws = Workspace.open(copy)
        lf = ws.scan("tickets", Scope.everything())
        last = lf.select(pl.col("created_at").max()).collect().item()
        day = last.replace(day=1, hour=0, minute=0, second=0, microsecond=0) if args.first_day else last - timedelta(days=1)
        rows = lf.filter(pl.col("created_at").is_between(day, day + timedelta(days=1), closed="left")).collect()
        later = rows["updated_at"].max() + timedelta(hours=1)
        batch = rows.with_columns(pl.col("ticket_id") + "-copy", pl.lit(later).alias("updated_at"))
        t = time.perf_counter()
        result = ws.upsert("tickets", batch)
        seconds = time.perf_counter() - t
    kept = "kept" if (args.workspace / "tables" / "tickets" / "_manifest.json").read_text().find('"windows"') >= 0 else "not kept"
    print(f"{args.workspace}: {result.inserted:,} tickets of {day:%Y-%m-%d} upserted in {seconds:.2f} s "
          f"(repeat flag {kept}); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:,} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
