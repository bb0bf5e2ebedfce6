"""Sync N tickets (default 50k) from the fake Zendesk incremental export; print pages/s and rows/s.

Measures our own cost (HTTP on 127.0.0.1, JSON, field map, hashing, derive, upsert, cursor) with
no rate limiting.  Zendesk's documented limit for the incremental export is 10 requests/minute,
i.e. 1,000 tickets per 6 s at most (~167 rows/s): anything far above that means our code is
not the bottleneck.

    .venv/bin/python benchmarks/sync_zendesk.py [--tickets 50000] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "connectors")]

from connectors.sync import sync_sources  # noqa: E402
from connectors.store import Workspace  # noqa: E402
from fake_apis.harness import TENANTS, ZENDESK  # noqa: E402

ZENDESK_LIMIT_ROWS_PER_S = 1000 * 10 / 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=50_000)
    ap.add_argument("--page-size", type=int, default=1000)
    args = ap.parse_args()
    os.environ[ZENDESK.env] = ZENDESK.token
    t0 = time.perf_counter()
    api = ZENDESK.make(args.tickets)
    build = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            toml = TENANTS + ZENDESK.source_toml(api.url, "").replace("page_size = 25", f"page_size = {args.page_size}")
            ws = Workspace.create(Path(tmp) / "ws", toml)
            t1 = time.perf_counter()
            [report] = sync_sources(ws)
            full = time.perf_counter() - t1
            t2 = time.perf_counter()
            [again] = sync_sources(ws)
            rerun = time.perf_counter() - t2
    finally:
        api.stop()
    assert report.exit_code == 0 and report.inserted == args.tickets, str(report)
    print(f"fake server built {args.tickets:,} tickets in {build:.1f} s")
    print(f"full sync:  {report.pages} pages, {report.rows_read:,} rows in {full:.2f} s = "
          f"{report.pages / full:.1f} pages/s, {report.rows_read / full:,.0f} rows/s "
          f"({report.rows_read / full / ZENDESK_LIMIT_ROWS_PER_S:.0f}x Zendesk's documented 10 requests/min)")
    print(f"re-run:     {again.pages} pages, {again.rows_read:,} rows, +{again.inserted} ~{again.updated} in {rerun:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
