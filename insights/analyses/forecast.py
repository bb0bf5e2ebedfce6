"""Volume forecasts per queue (statsmodels ETS vs a seasonal-naive baseline), AHT levels, SLA at risk next week.

Configure → fit → results, statsmodels style:

* `forecast_series(y, season=7, horizon=14)` fits ETS (additive damped trend, additive seasonality)
  on log(1 + y), simulates `paths` future paths and returns their mean and quantiles; the mean is
  taken over back-transformed paths, so it is not biased low by the log.
* calendar events (holidays, promotions, launches, outages from the `events` table) are handled as
  multiplicative adjustments: each event kind's effect is measured on past event days against the
  same weekday of the surrounding weeks, those days are cleaned before fitting, and future event
  days get the measured factor back.
* `forecast_volume(ws, scope, weeks=4)` does that for every queue (client × channel × vendor/site).
* `backtest(y, ...)` is a rolling-origin backtest: WAPE of ETS and of seasonal-naive, and the
  coverage of the 80 % and 95 % intervals, per horizon.
* `sla_at_risk(ws, scope)` pushes next week's volume paths through Erlang C at the scheduled
  staffing and gives the probability each live queue misses its contractual service level, and
  the extra FTE that brings that probability under `max_risk`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from connectors.workspace import Scope, Workspace
from insights.errors import InsightsError
from insights.analyses.staffing import StaffingTarget, _sl_targets, daily_on_queue, service_level

Grain = str  # "day" | "week"
QUEUE = ("client_id", "channel", "vendor_id", "site_id")
LEVELS = (0.8, 0.95)
EVENT_KINDS_ADJUSTED = ("holiday", "promotion", "launch", "outage")
SEASON = {"day": 7, "week": 52}
STEP = {"day": timedelta(days=1), "week": timedelta(days=7)}


class ForecastError(InsightsError):
    """A forecast cannot be made as asked (too little history, unknown grain or dimension)."""


# --------------------------------------------------------------------------- one series


@dataclass(frozen=True)
class SeriesForecast:
    """Forecast of one series: mean, interval bounds per level, simulated paths and the baseline."""

    mean: np.ndarray
    lower: dict[float, np.ndarray]
    upper: dict[float, np.ndarray]
    paths: np.ndarray  # paths × horizon
    baseline: np.ndarray  # seasonal-naive point forecast
    method: str


def seasonal_naive(y: np.ndarray, season: int | None, horizon: int) -> np.ndarray:
    """Repeat the last full season (or the last value when the history is shorter than a season)."""
    y = np.asarray(y, dtype=float)
    if season and y.size >= season:
        last = y[-season:]
        return np.array([last[h % season] for h in range(horizon)])
    return np.full(horizon, y[-1])


def _season_for(n: int, grain: Grain) -> int | None:
    s = SEASON[grain]
    return s if n >= 2 * s + 2 else None


def forecast_series(y: np.ndarray, *, season: int | None, horizon: int, paths: int = 500, seed: int = 0,
                    levels: tuple[float, ...] = LEVELS, future_factor: np.ndarray | None = None) -> SeriesForecast:
    """ETS on log(1 + y) with simulated paths; `future_factor` multiplies each future step (events)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = np.asarray(y, dtype=float)
    if y.size < 8:
        raise ForecastError(f"{y.size} periods of history is too few to forecast; at least 8 are needed")
    z = np.log1p(np.maximum(y, 0))
    use_season = season if season and z.size >= 2 * season + 2 else None
    init = "heuristic" if use_season and z.size >= 3 * use_season + 2 else "estimated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ETS(A,N,·) and ETS(A,Ad,·) on the log scale; the lower AICc wins (a trend only when the data pay for it)
        fits = [ETSModel(z, error="add", trend=trend, damped_trend=trend is not None,
                         seasonal="add" if use_season else None, seasonal_periods=use_season,
                         initialization_method=init).fit(disp=False, maxiter=200) for trend in (None, "add")]
        res = min(fits, key=lambda r: r.aicc if np.isfinite(r.aicc) else np.inf)
        trended = res is fits[1]
        # innovations at the unbiased residual scale (SSE / (n - parameters)): the MLE sigma is
        # biased low on short series and intervals would under-cover
        sigma = float(np.sqrt(np.sum(np.asarray(res.resid) ** 2) / max(z.size - len(res.params), 1)))
        errors = np.random.default_rng(seed).normal(0.0, sigma, size=(horizon, paths))
        sims = np.asarray(res.simulate(nsimulations=horizon, repetitions=paths, anchor="end", random_errors=errors))
    sims = sims.reshape(horizon, paths).T if sims.ndim == 2 else sims.reshape(paths, horizon)
    out = np.expm1(sims).clip(min=0)
    factor = np.ones(horizon) if future_factor is None else np.asarray(future_factor, dtype=float)
    out = out * factor[None, :]
    lower = {lv: np.quantile(out, (1 - lv) / 2, axis=0) for lv in levels}
    upper = {lv: np.quantile(out, 1 - (1 - lv) / 2, axis=0) for lv in levels}
    method = f"ETS(A,{'Ad' if trended else 'N'},{'A' if use_season else 'N'}) on log1p" + (f", season {use_season}" if use_season else "")
    return SeriesForecast(out.mean(axis=0), lower, upper, out, seasonal_naive(y, season, horizon) * factor, method)


# --------------------------------------------------------------------------- rolling-origin backtest


def backtest(y: np.ndarray, *, season: int | None, horizon: int, min_train: int, step: int = 1,
             paths: int = 300, seed: int = 0, levels: tuple[float, ...] = LEVELS) -> pl.DataFrame:
    """Rolling-origin errors per horizon: one row per (origin, horizon) with actual, ETS mean, naive, bounds."""
    y = np.asarray(y, dtype=float)
    rows = []
    for origin in range(min_train, y.size - 1 + 1, step):
        h = min(horizon, y.size - origin)
        if h <= 0:
            break
        f = forecast_series(y[:origin], season=season, horizon=h, paths=paths, seed=seed + origin, levels=levels)
        for k in range(h):
            row = {"origin": origin, "horizon": k + 1, "actual": y[origin + k], "forecast": f.mean[k],
                   "naive": f.baseline[k]}
            for lv in levels:
                row[f"lo{int(lv * 100)}"] = f.lower[lv][k]
                row[f"hi{int(lv * 100)}"] = f.upper[lv][k]
            rows.append(row)
    return pl.DataFrame(rows)


def backtest_summary(errors: pl.DataFrame, levels: tuple[float, ...] = LEVELS) -> pl.DataFrame:
    """WAPE (ETS and seasonal-naive) and interval coverage per horizon from `backtest` rows."""
    cover = [((pl.col("actual") >= pl.col(f"lo{int(lv * 100)}")) & (pl.col("actual") <= pl.col(f"hi{int(lv * 100)}")))
             .mean().alias(f"coverage{int(lv * 100)}") for lv in levels]
    return (errors.group_by("horizon")
            .agg((((pl.col("actual") - pl.col("forecast")).abs().sum()) / pl.col("actual").sum()).alias("wape"),
                 (((pl.col("actual") - pl.col("naive")).abs().sum()) / pl.col("actual").sum()).alias("wape_naive"),
                 *cover, pl.len().alias("n"))
            .sort("horizon"))


# --------------------------------------------------------------------------- events


def event_days(ws: Workspace, scope: Scope) -> pl.DataFrame:
    """One row per (event day, kind) with the event's client/vendor/site/channel (null: applies to all)."""
    ev = ws.scan("events", scope).filter(pl.col("kind").is_in(list(EVENT_KINDS_ADJUSTED))).collect()
    if ev.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "kind": pl.String, "client_id": pl.String, "vendor_id": pl.String,
                                    "site_id": pl.String, "channel": pl.String})
    return (ev.with_columns(pl.date_ranges("start_date", pl.coalesce("end_date", "start_date")).alias("date"))
            .explode("date").select("date", "kind", "client_id", "vendor_id", "site_id", "channel"))


def _event_mask(days: pl.DataFrame, dates: list[date], keys: dict[str, str]) -> dict[str, np.ndarray]:
    """kind -> boolean mask over `dates` of the event days that apply to a queue with `keys`."""
    f = days
    for k, v in keys.items():
        if k in f.columns:
            f = f.filter(pl.col(k).is_null() | (pl.col(k) == v))
    index = {d: i for i, d in enumerate(dates)}
    out: dict[str, np.ndarray] = {}
    for kind, d in f.select("kind", "date").iter_rows():
        if d in index:
            out.setdefault(kind, np.zeros(len(dates), dtype=bool))[index[d]] = True
    return out


def event_factors(y: np.ndarray, masks: dict[str, np.ndarray], *, season: int = 7, window: int = 2) -> dict[str, float]:
    """Multiplicative effect per event kind: mean log ratio of event days to the same weekday ±`window` weeks."""
    any_event = np.zeros(y.size, dtype=bool)
    for m in masks.values():
        any_event |= m
    out = {}
    for kind, m in masks.items():
        logs = []
        for i in np.nonzero(m)[0]:
            ref = [y[j] for j in (i + season * k for k in range(-window, window + 1) if k) if 0 <= j < y.size and not any_event[j]]
            if ref:
                logs.append(np.log1p(y[i]) - np.log1p(np.median(ref)))
        if logs:
            out[kind] = float(np.exp(np.mean(logs)))
    return out


# --------------------------------------------------------------------------- workspace forecasts


@dataclass(frozen=True)
class VolumeForecast:
    """Per-queue forecasts: the long frame (history + forecast), the paths, and each queue's method."""

    frame: pl.DataFrame  # period, *by, kind ("actual" | "forecast"), volume, mean, lo80, hi80, lo95, hi95, naive
    paths: dict[tuple, np.ndarray] = field(repr=False)
    methods: dict[tuple, str]
    grain: Grain
    by: tuple[str, ...]

    def forecast_only(self) -> pl.DataFrame:
        """The forecast rows only."""
        return self.frame.filter(pl.col("kind") == "forecast")


def volume_history(ws: Workspace, scope: Scope, *, grain: Grain = "week", by: tuple[str, ...] = QUEUE,
                   end: date | None = None) -> pl.DataFrame:
    """Contacts created per period and queue, zero-filled, whole periods only."""
    if grain not in STEP:
        raise ForecastError(f"unknown grain '{grain}'; forecasts are made per 'day' or 'week'")
    lf = ws.scan("tickets", scope)
    bad = [d for d in by if d not in lf.collect_schema().names()]
    if bad:
        raise ForecastError(f"cannot forecast by {', '.join(bad)}: not a tickets column; use client_id, channel, vendor_id, site_id, queue")
    day = pl.col("created_at").dt.date()
    period = day if grain == "day" else day.dt.truncate("1w")
    lf = lf.with_columns(period.alias("period"))
    if end is not None:
        lf = lf.filter(pl.col("period") <= end)
    counts = lf.group_by("period", *by).agg(pl.len().alias("volume")).collect()
    if counts.height == 0:
        raise ForecastError("no tickets in scope to forecast; import tickets first")
    last_day = lf.select(pl.col("created_at").max().dt.date()).collect().item()
    lo, hi = counts["period"].min(), counts["period"].max()
    if grain == "week" and last_day is not None and last_day < hi + timedelta(days=6):
        hi -= timedelta(days=7)  # the latest week is incomplete
    grid = pl.DataFrame({"period": pl.date_range(lo, hi, STEP[grain], eager=True)})
    queues = counts.select(by).unique() if by else pl.DataFrame({"__all": [1]})
    full = grid.join(queues, how="cross")
    if not by:
        full = full.drop("__all")
    return (full.join(counts, on=["period", *by], how="left").with_columns(pl.col("volume").fill_null(0))
            .filter(pl.col("period") <= hi).sort(*by, "period"))


def forecast_volume(ws: Workspace, scope: Scope, *, weeks: int = 4, grain: Grain = "week", by: tuple[str, ...] = QUEUE,
                    paths: int = 500, seed: int = 0, levels: tuple[float, ...] = LEVELS, end: date | None = None,
                    min_history: int = 12, min_volume: float = 5.0) -> VolumeForecast:
    """Forecast contacts per queue for the next `weeks` weeks (daily or weekly), with events as adjustments.

    >>> fc = forecast_volume(ws, Scope.everything(), weeks=4, by=("client_id", "channel"))  # doctest: +SKIP
    >>> fc.forecast_only().columns[:4]  # doctest: +SKIP
    ['period', 'client_id', 'channel', 'kind']
    """
    if weeks < 1:
        raise ForecastError(f"--weeks {weeks}: forecast at least one week ahead")
    if grain not in STEP:
        raise ForecastError(f"unknown grain '{grain}'; forecasts are made per 'day' or 'week'")
    daily = volume_history(ws, scope, grain="day", by=by, end=end)
    last = daily["period"].max()
    if last.weekday() != 6:  # forecast from the end of the latest complete week (days after it are partial)
        daily = daily.filter(pl.col("period") <= last - timedelta(days=last.weekday() + 1))
    days_all = event_days(ws, scope)
    horizon = weeks * 7 if grain == "day" else weeks
    rows, all_paths, methods = [], {}, {}
    groups = daily.partition_by(list(by), as_dict=True, maintain_order=True) if by else {(): daily}
    for key, g in groups.items():
        key = tuple(key)
        dates = g["period"].to_list()
        y_day = g["volume"].to_numpy().astype(float)
        masks = _event_mask(days_all, dates, dict(zip(by, key)))
        factors = event_factors(y_day, masks)
        clean = y_day.copy()
        for kind, m in masks.items():
            clean[m] /= factors.get(kind, 1.0)
        future_dates = [dates[-1] + timedelta(days=i + 1) for i in range(weeks * 7 + 7)]
        fmasks = _event_mask(days_all, future_dates, dict(zip(by, key)))
        f_day = np.ones(len(future_dates))
        for kind, m in fmasks.items():
            f_day[m] *= factors.get(kind, 1.0)
        if grain == "day":
            periods, y, y_fit, factor = dates, y_day, clean, f_day[:horizon]
            fut = future_dates[:horizon]
        else:
            periods, y, y_fit, fut, factor = _weekly(dates, y_day, clean, future_dates, f_day, weeks)
        if len(y_fit) < min_history or float(np.mean(y[-min(8, len(y)):])) < min_volume:
            continue
        fc = forecast_series(y_fit, season=_season_for(len(y_fit), grain), horizon=len(fut), paths=paths,
                             seed=seed, levels=levels, future_factor=factor)
        all_paths[key], methods[key] = fc.paths, fc.method
        keycols = dict(zip(by, key))
        for p, v in zip(periods, y):
            rows.append({"period": p, **keycols, "kind": "actual", "volume": float(v)})
        for i, p in enumerate(fut):
            r = {"period": p, **keycols, "kind": "forecast", "volume": None, "mean": float(fc.mean[i]),
                 "naive": float(fc.baseline[i])}
            for lv in levels:
                r[f"lo{int(lv * 100)}"] = float(fc.lower[lv][i])
                r[f"hi{int(lv * 100)}"] = float(fc.upper[lv][i])
            rows.append(r)
    if not rows:
        raise ForecastError(f"no queue has {min_history} periods of history and {min_volume:g}+ contacts per period; "
                            "import more history or forecast at a coarser --by")
    schema = {"period": pl.Date, **{b: pl.String for b in by}, "kind": pl.String, "volume": pl.Float64,
              "mean": pl.Float64, "naive": pl.Float64,
              **{f"{s}{int(lv * 100)}": pl.Float64 for lv in levels for s in ("lo", "hi")}}
    frame = pl.DataFrame(rows, schema=schema).sort(*by, "period")
    return VolumeForecast(frame, all_paths, methods, grain, by)


def _weekly(dates: list[date], y: np.ndarray, clean: np.ndarray, future: list[date], f_day: np.ndarray,
            weeks: int) -> tuple[list[date], np.ndarray, np.ndarray, list[date], np.ndarray]:
    """Daily history → whole Monday weeks; the weekly event factor weights each day by its weekday share."""
    start = next(i for i, d in enumerate(dates) if d.weekday() == 0)
    n = (len(dates) - start) // 7
    sl = slice(start, start + 7 * n)
    yw = y[sl].reshape(n, 7)
    cw = clean[sl].reshape(n, 7)
    dow_share = cw.sum(axis=0) / max(cw.sum(), 1.0)
    periods = [dates[start + 7 * i] for i in range(n)]
    f0 = next(i for i, d in enumerate(future) if d.weekday() == 0)
    fut = [future[f0 + 7 * i] for i in range(weeks)]
    factor = np.array([float(np.dot(dow_share, f_day[f0 + 7 * i: f0 + 7 * i + 7])) / max(dow_share.sum(), 1e-9)
                       for i in range(weeks)])
    return periods, yw.sum(axis=1), cw.sum(axis=1), fut, factor


# --------------------------------------------------------------------------- AHT


def aht_levels(ws: Workspace, scope: Scope, *, by: tuple[str, ...] = QUEUE, window_weeks: int = 4,
               end: date | None = None) -> pl.DataFrame:
    """AHT forecast per queue = its recent level: Σ handle seconds / handled contacts over the last `window_weeks` weeks.

    A short recent window (rather than a long average) means a level shift older than the window
    is fully respected.
    """
    lf = ws.scan("tickets", scope).filter(pl.col("handle_seconds").is_not_null())
    last = end or lf.select(pl.col("created_at").max().dt.date()).collect().item()
    if last is None:
        raise ForecastError("no tickets with handle time in scope; AHT cannot be forecast")
    first = last - timedelta(days=7 * window_weeks - 1)
    return (lf.filter(pl.col("created_at").dt.date().is_between(first, last))
            .group_by(*by).agg((pl.col("handle_seconds").sum() / pl.len()).alias("aht_seconds"), pl.len().alias("n"))
            .with_columns(pl.lit(first).alias("window_start"), pl.lit(last).alias("window_end"))
            .sort(*by).collect())


# --------------------------------------------------------------------------- SLA at risk next week


@dataclass(frozen=True)
class SlaRisk:
    """Per live queue: P(missing its service level next week) at the scheduled staffing, and the FTE that fixes it."""

    frame: pl.DataFrame
    week: date
    max_risk: float
    paths: int


def _slot_profile(iv: pl.DataFrame) -> pl.DataFrame:
    """Per queue: share of a week's offered contacts in each (weekday, minute of day) slot."""
    return (iv.group_by("queue_id", "weekday", "minute").agg(pl.col("offered").sum())
            .with_columns((pl.col("offered") / pl.col("offered").sum().over("queue_id")).alias("share")).drop("offered"))


def sla_at_risk(ws: Workspace, scope: Scope, *, paths: int = 500, seed: int = 0, max_risk: float = 0.2,
                history_weeks: int = 8, shrinkage: float = 0.3, end: date | None = None) -> SlaRisk:
    """Probability each voice/chat queue misses its contractual service level next week, and the FTE to stay under `max_risk`.

    Weekly offered volume is forecast per queue (ETS paths); each path is spread over the week's
    intervals by the queue's recent weekday × time-of-day profile; Erlang C at the recent AHT and
    at the scheduled agents (the latest week's on-queue time, same weekday, spread by the profile)
    gives each interval's service level; the week misses when the offered-weighted service level
    falls below the target.  The FTE needed is the smallest uniform increase of scheduled on-queue
    time that brings P(miss) under `max_risk`, in 40-hour FTE after `shrinkage`.
    """
    lf = ws.scan("contact_intervals", scope).filter(pl.col("direction") == "inbound")
    if end is not None:
        lf = lf.filter(pl.col("interval_start").dt.date() <= end)
    iv = (lf.with_columns(pl.col("interval_start").dt.date().alias("date"),
                          pl.col("interval_start").dt.weekday().alias("weekday"),
                          (pl.col("interval_start").dt.hour().cast(pl.Int32) * 60 + pl.col("interval_start").dt.minute().cast(pl.Int32)).alias("minute"))
          .collect())
    if iv.height == 0:
        raise ForecastError("no contact_intervals in scope; SLA at risk needs voice/chat interval reports")
    last = iv["date"].max()
    last_monday = last - timedelta(days=last.weekday())
    if last.weekday() != 6:
        last_monday -= timedelta(days=7)  # last complete week
    iv = iv.filter(pl.col("date") < last_monday + timedelta(days=7))
    week = last_monday + timedelta(days=7)
    recent = iv.filter(pl.col("date") >= last_monday - timedelta(days=7 * (history_weeks - 1)))
    profile = _slot_profile(recent)
    aht = recent.group_by("queue_id").agg((pl.col("handle_seconds").sum() / pl.col("handled").sum()).alias("aht"))
    weekly = (iv.with_columns(pl.col("date").dt.truncate("1w").alias("week"))
              .group_by("queue_id", "client_id", "vendor_id", "site_id", "channel", "week")
              .agg(pl.col("offered").sum(), pl.col("interval_minutes").first(), pl.col("sl_threshold_seconds").first(),
                   pl.col("date").n_unique().alias("days"))
              .filter(pl.col("days") == 7)  # whole weeks only (interval grids start and end mid-week)
              .sort("queue_id", "week"))
    roster = (daily_on_queue(ws, scope, start=last_monday, end=last_monday + timedelta(days=6))
              .group_by("client_id", "site_id", "channel", pl.col("date").dt.weekday().alias("weekday"))
              .agg(pl.col("on_queue_seconds").sum()))
    targets = _sl_targets(ws, scope)
    rng_seed = seed
    rows = []
    for (queue_id,), g in weekly.partition_by(["queue_id"], as_dict=True, maintain_order=True).items():
        head = g.row(0, named=True)
        y = g["offered"].to_numpy().astype(float)
        if y.size < 8 or y[-4:].mean() < 1:
            continue
        target = targets.get((head["client_id"], head["channel"])) or StaffingTarget(0.8, head["sl_threshold_seconds"] or 20.0)
        fc = forecast_series(y, season=_season_for(y.size, "week"), horizon=1, paths=paths, seed=rng_seed)
        rng_seed += 1
        prof = profile.filter(pl.col("queue_id") == queue_id)
        day_share = prof.group_by("weekday").agg(pl.col("share").sum().alias("day_share"))
        prof = prof.join(day_share, on="weekday").join(
            roster.filter((pl.col("client_id") == head["client_id"]) & (pl.col("site_id") == head["site_id"])
                          & (pl.col("channel") == head["channel"])).select("weekday", "on_queue_seconds"),
            on="weekday", how="left").with_columns(pl.col("on_queue_seconds").fill_null(0.0))
        iv_secs = float(head["interval_minutes"]) * 60
        share = prof["share"].to_numpy()
        sched = prof["on_queue_seconds"].to_numpy() * share / np.maximum(prof["day_share"].to_numpy(), 1e-12) / iv_secs
        a = float(aht.filter(pl.col("queue_id") == queue_id)["aht"].item() or 0.0)
        calls = fc.paths[:, 0][:, None] * share[None, :]

        def p_miss(scale: float) -> float:
            agents = np.floor(sched * scale + 0.5).astype(np.int64)[None, :]
            sl = service_level(agents, calls, a, iv_secs, target.seconds)
            weekly_sl = (sl * calls).sum(axis=1) / np.maximum(calls.sum(axis=1), 1e-12)
            return float(np.mean(weekly_sl < target.share))

        risk = p_miss(1.0)
        hi = 1.0
        if risk >= max_risk:
            lo, hi = 1.0, 1.0
            while p_miss(hi) >= max_risk and hi < 16:
                lo, hi = hi, hi * 1.5
            for _ in range(20):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if p_miss(mid) >= max_risk else (lo, mid)
        sched_hours = float((sched.sum()) * iv_secs / 3600)
        rows.append({
            "queue_id": queue_id, "client_id": head["client_id"], "vendor_id": head["vendor_id"],
            "site_id": head["site_id"], "channel": head["channel"], "week": week,
            "forecast_offered": float(fc.mean[0]), "lo80": float(fc.lower[0.8][0]), "hi80": float(fc.upper[0.8][0]),
            "aht_seconds": a, "target": str(target), "scheduled_on_queue_hours": sched_hours,
            "p_miss": risk, "extra_on_queue_hours": (hi - 1.0) * sched_hours,
            "fte_needed": (hi - 1.0) * sched_hours / (40 * (1 - shrinkage)),
        })
    frame = pl.DataFrame(rows, schema={
        "queue_id": pl.String, "client_id": pl.String, "vendor_id": pl.String, "site_id": pl.String, "channel": pl.String,
        "week": pl.Date, "forecast_offered": pl.Float64, "lo80": pl.Float64, "hi80": pl.Float64, "aht_seconds": pl.Float64,
        "target": pl.String, "scheduled_on_queue_hours": pl.Float64, "p_miss": pl.Float64,
        "extra_on_queue_hours": pl.Float64, "fte_needed": pl.Float64})
    return SlaRisk(frame.sort("p_miss", descending=True), week, max_risk, paths)


# --------------------------------------------------------------------------- the `forecast` command's report


@dataclass(frozen=True)
class ForecastReport:
    """Volume forecast per queue plus next week's SLA risk: what `bpo-insights forecast` prints."""

    volume: VolumeForecast
    risk: SlaRisk | None

    def table(self) -> pl.DataFrame:
        """Forecast rows (period, queue, mean, intervals, seasonal-naive), one per queue and period."""
        return self.volume.forecast_only().drop("volume", "kind")

    def to_dict(self) -> dict:
        """JSON-friendly: forecast rows and SLA-at-risk rows."""
        return {"volume": self.table().to_dicts(),
                "sla_at_risk": [] if self.risk is None else self.risk.frame.to_dicts()}

    def to_markdown(self) -> str:
        """Markdown tables: the volume forecast, then the queues at risk next week."""
        t = self.table()
        by = list(self.volume.by)
        lines = ["# Volume forecast", "", "| " + " | ".join(["period", *by, "forecast", "80% interval", "95% interval", "seasonal naive"]) + " |",
                 "|" + "---|" * (len(by) + 5)]
        for r in t.iter_rows(named=True):
            lines.append("| " + " | ".join([str(r["period"]), *[str(r[b]) for b in by], f"{r['mean']:,.0f}",
                                            f"{r['lo80']:,.0f}–{r['hi80']:,.0f}", f"{r['lo95']:,.0f}–{r['hi95']:,.0f}",
                                            f"{r['naive']:,.0f}"]) + " |")
        if self.risk is not None:
            lines += ["", f"# SLA at risk, week of {self.risk.week}", "",
                      "| queue | target | forecast offered | P(miss) | FTE to bring P(miss) under "
                      f"{self.risk.max_risk:.0%} |", "|---|---|---|---|---|"]
            for r in self.risk.frame.iter_rows(named=True):
                lines.append(f"| {r['queue_id']} | {r['target']} | {r['forecast_offered']:,.0f} "
                             f"({r['lo80']:,.0f}–{r['hi80']:,.0f}) | {r['p_miss']:.0%} | {r['fte_needed']:.1f} |")
        return "\n".join(lines)


def forecast_report(ws: Workspace, scope: Scope, *, weeks: int = 4, by: tuple[str, ...] = QUEUE, grain: Grain = "week",
                    paths: int = 500, seed: int = 0, end: date | None = None) -> ForecastReport:
    """Volume forecast per queue for `weeks` weeks and, where interval data exist, next week's SLA risk."""
    volume = forecast_volume(ws, scope, weeks=weeks, grain=grain, by=by, paths=paths, seed=seed, end=end)
    has_intervals = ws.scan("contact_intervals", scope).select(pl.len()).collect().item() > 0
    risk = sla_at_risk(ws, scope, paths=paths, seed=seed, end=end) if has_intervals else None
    return ForecastReport(volume, risk)
