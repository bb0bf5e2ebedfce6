"""Rolling-origin backtest of the weekly volume forecast on the sample: WAPE (ETS vs seasonal-naive) and coverage per horizon.

    .venv/bin/python benchmarks/forecast_backtest.py [--weeks 78] [--scale 1] [--horizon 4] [--step 2]

For every origin (a Sunday, every `step` weeks once `min-train` weeks of history exist) the product's
own path is run, `forecast_volume(ws, scope, end=origin)` (events adjustments included), for every
queue (client × channel × vendor × site); its forecasts are compared with what the sample actually
received.  Also prints the forecast made just before the sample's two busiest weeks, against actuals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.store import Scope, Workspace  # noqa: E402
from insights.analyses.forecast import QUEUE, forecast_volume, volume_history  # noqa: E402


def run(ws: Workspace, *, horizon: int, min_train: int, step: int, paths: int, by: tuple[str, ...]) -> pl.DataFrame:
    """One row per (origin, queue, horizon): actual, forecast mean, naive and interval bounds."""
    scope = Scope.everything()
    actual = volume_history(ws, scope, grain="week", by=by).rename({"volume": "actual"})
    weeks = actual["period"].unique().sort().to_list()
    rows = []
    for i in range(min_train, len(weeks) - 1, step):
        origin = weeks[i - 1] + timedelta(days=6)  # the Sunday ending the last week of history
        fc = forecast_volume(ws, scope, weeks=horizon, by=by, paths=paths, end=origin).forecast_only()
        fc = fc.with_columns((((pl.col("period") - pl.lit(weeks[i])).dt.total_days() // 7) + 1).alias("horizon"),
                             pl.lit(origin).alias("origin"))
        rows.append(fc.join(actual, on=["period", *by], how="inner"))
    return pl.concat(rows)


def summary(errors: pl.DataFrame) -> pl.DataFrame:
    """WAPE and interval coverage per horizon."""
    inside = lambda lv: ((pl.col("actual") >= pl.col(f"lo{lv}")) & (pl.col("actual") <= pl.col(f"hi{lv}"))).mean()  # noqa: E731
    return (errors.group_by("horizon")
            .agg(((pl.col("actual") - pl.col("mean")).abs().sum() / pl.col("actual").sum()).alias("wape_ets"),
                 ((pl.col("actual") - pl.col("naive")).abs().sum() / pl.col("actual").sum()).alias("wape_naive"),
                 inside(80).alias("coverage80"), inside(95).alias("coverage95"), pl.len().alias("forecasts"))
            .sort("horizon"))


def markdown(frame: pl.DataFrame) -> str:
    """A frame as a Markdown table (floats to 3 decimals)."""
    cols = frame.columns
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in frame.iter_rows():
        out.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", help="an existing workspace (default: generate the sample in a temp folder)")
    p.add_argument("--weeks", type=int, default=78)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--horizon", type=int, default=4)
    p.add_argument("--min-train", type=int, default=30)
    p.add_argument("--step", type=int, default=2)
    p.add_argument("--paths", type=int, default=300)
    args = p.parse_args()
    if args.workspace:
        ws = Workspace.open(args.workspace)
    else:
        from sample_data.generator import generate

        out = Path(tempfile.mkdtemp()) / "ws"
        generate(out, weeks=args.weeks, scale=args.scale)
        ws = Workspace.open(out)
    t0 = time.perf_counter()
    errors = run(ws, horizon=args.horizon, min_train=args.min_train, step=args.step, paths=args.paths, by=QUEUE)
    print(f"## Weekly volume backtest per queue ({errors['origin'].n_unique()} origins, "
          f"{errors.select(QUEUE).n_unique()} queues, {time.perf_counter() - t0:.0f} s)\n")
    print(markdown(summary(errors)))
    totals = volume_history(ws, Scope.everything(), grain="week", by=()).sort("volume", descending=True)
    peaks = sorted(totals["period"].head(2).to_list())
    origin = peaks[0] - timedelta(days=1)
    fc = forecast_volume(ws, Scope.everything(), weeks=(peaks[-1] - peaks[0]).days // 7 + 1, by=("client_id", "channel"),
                         paths=args.paths, end=origin).forecast_only()
    actual = volume_history(ws, Scope.everything(), grain="week", by=("client_id", "channel")).rename({"volume": "actual"})
    peak = (fc.join(actual, on=["period", "client_id", "channel"]).filter(pl.col("period").is_in(peaks))
            .select("period", "client_id", "channel", "actual", pl.col("mean").round(0).alias("forecast"),
                    pl.format("{}–{}", pl.col("lo80").round(0), pl.col("hi80").round(0)).alias("80% interval"),
                    pl.col("naive").alias("seasonal naive")))
    print(f"\n## Forecast made on {origin} for the sample's busiest weeks ({', '.join(map(str, peaks))})\n")
    print(markdown(peak))
    return 0


if __name__ == "__main__":
    sys.exit(main())
