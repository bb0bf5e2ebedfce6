"""Backtest of SLA at risk on the sample: each past week's P(miss) from the weeks before it, against what happened.

    .venv/bin/python benchmarks/sla_risk_backtest.py [--weeks 26] [--scale 1] [--paths 300]
    .venv/bin/python benchmarks/sla_risk_backtest.py --workspace DIR

For every live queue (voice/chat) and every week w once `min-weeks` whole weeks of history exist,
`insights.analyses.forecast.sla_risk_backtest` predicts P(service level below the contract target in w)
from data up to the end of w − 1 only, the same path `bpo-insights forecast` takes for next week.
Prints the calibration table (predicted bucket → forecasts, mean predicted, observed miss rate) and
the Brier score of ours, of the naive "misses if it missed last week" and of the base rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.store import Scope, Workspace  # noqa: E402
from insights.analyses.forecast import MIN_RISK_WEEKS, sla_risk_backtest  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", help="an existing workspace (default: generate the sample in a temp folder)")
    p.add_argument("--weeks", type=int, default=26)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--min-weeks", type=int, default=MIN_RISK_WEEKS)
    p.add_argument("--paths", type=int, default=300)
    args = p.parse_args()
    if args.workspace:
        ws = Workspace.open(args.workspace)
    else:
        from sample_data.generator import generate

        out = Path(tempfile.mkdtemp()) / "ws"
        generate(out, weeks=args.weeks, scale=args.scale, seed=args.seed)
        ws = Workspace.open(out)
    t0 = time.perf_counter()
    bt = sla_risk_backtest(ws, Scope.everything(), min_weeks=args.min_weeks, paths=args.paths)
    rows = bt.rows
    print(f"## SLA at risk: {rows.height} queue-weeks predicted one week ahead ({rows['queue_id'].n_unique()} queues, "
          f"{rows['week'].n_unique()} weeks, {rows['missed'].sum()} misses, {time.perf_counter() - t0:.0f} s)\n")
    print(bt.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
