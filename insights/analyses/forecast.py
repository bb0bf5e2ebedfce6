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
* `sla_at_risk(ws, scope)` gives the probability each live queue misses its contractual service
  level next week, beside last week's measured level, and the extra FTE that brings that
  probability under `max_risk`: the queue's measured level moved by the change Erlang C (calibrated
  to what the queue delivered) expects at the latest roster and the volume forecast.
* `sla_risk_backtest(ws, scope)` predicts every past week from the weeks before it and reports the
  calibration table and Brier scores against "misses if it missed last week" and the base rate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import polars as pl

from connectors.store import Scope, Workspace
from insights.errors import InsightsError
from insights import format
from insights.metrics.contacts import intervals as contact_intervals
from insights.metrics.periods import latest_complete_week, local_clock, period_date, period_first_day
from insights.view import Calendar, Calendars
from insights.analyses.staffing import (ServiceLevelTargets, StaffingTarget, daily_on_queue, measured_service_level,
                                       staffing_factor, weighted_service_level)

Grain = str  # "day" | "week"
QUEUE = ("client_id", "channel", "vendor_id", "site_id")
LEVELS = (0.8, 0.95)
EVENT_KINDS_ADJUSTED = ("holiday", "promotion", "launch", "outage")
SEASON = {"day": 7, "week": 52}
MAX_WEEKS_AHEAD = 104  # two years: an ETS path further out is noise, and the work grows with every week asked
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
    """Contacts per period and queue, zero-filled, whole periods only (each client's local days and weeks): tickets
    created, and inbound calls/chats offered (from call records or interval reports) on lanes without tickets
    (`call_volumes`)."""
    if grain not in STEP:
        raise ForecastError(f"unknown grain '{grain}'; forecasts are made per 'day' or 'week'")
    lf = ws.scan("tickets", scope)
    bad = [d for d in by if d not in lf.collect_schema().names()]
    if bad:
        raise ForecastError(f"cannot forecast by {', '.join(bad)}: not a tickets column; use client_id, channel, vendor_id, site_id, queue")
    cals, utc = Calendars.of(ws.config, scope.clients), pl.Datetime("us", "UTC")
    period = period_first_day(pl.col("created_at"), grain, utc, cals)  # the periods compute_kpis cuts
    lf = lf.with_columns(period.alias("period"))
    if end is not None:
        lf = lf.filter(pl.col("period") <= end)
    counts = lf.group_by("period", *by).agg(pl.len().alias("volume")).collect()
    calls = call_volumes(ws, scope, grain=grain, by=by, end=end)
    if calls.height:
        counts = (pl.concat([counts, calls.select("period", *by, pl.col("volume").cast(counts.schema["volume"]))])
                  .group_by("period", *by).agg(pl.col("volume").sum()))
    if counts.height == 0:
        raise ForecastError("no tickets in scope to forecast; import tickets, call records or interval reports first")
    last_days = [lf.select(period_date(pl.col("created_at"), "day", utc, cals).max()).collect().item(),
                 calls["last_day"].max() if calls.height else None]
    last_day = max((d for d in last_days if d is not None), default=None)
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


LANE = ("client_id", "vendor_id", "site_id", "channel")  # whose demand one work lane is


def call_volumes(ws: Workspace, scope: Scope, *, grain: Grain, by: tuple[str, ...], end: date | None = None) -> pl.DataFrame:
    """Inbound contacts offered per period from call records and interval reports (`insights.metrics.contacts`), for
    the lanes (client, vendor, site, channel) that have no tickets: a lane's demand is counted once, from tickets
    where it has any.  Columns: period, *by, volume, last_day; empty when `by` names a dimension intervals lack."""
    columns = {d: "queue_id" if d == "queue" else d for d in by}
    iv = contact_intervals(ws, scope).filter(pl.col("direction") == "inbound")
    if any(c not in iv.collect_schema().names() for c in columns.values()):
        return pl.DataFrame()
    ticket_lanes = ws.scan("tickets", scope).select(LANE).unique()
    cals, utc, at = Calendars.of(ws.config, scope.clients), pl.Datetime("us", "UTC"), pl.col("interval_start")
    iv = iv.join(ticket_lanes, on=list(LANE), how="anti", nulls_equal=True).with_columns(
        period_first_day(at, grain, utc, cals).alias("period"), period_date(at, "day", utc, cals).alias("__day"))
    if end is not None:
        iv = iv.filter(pl.col("period") <= end)
    return (iv.group_by("period", *[pl.col(c).alias(d) for d, c in columns.items()])
            .agg(pl.col("offered").sum().alias("volume"), pl.col("__day").max().alias("last_day"))
            .filter(pl.col("volume") > 0).collect())


def forecast_volume(ws: Workspace, scope: Scope, *, weeks: int = 4, grain: Grain = "week", by: tuple[str, ...] = QUEUE,
                    paths: int = 500, seed: int = 0, levels: tuple[float, ...] = LEVELS, end: date | None = None,
                    min_history: int = 12, min_volume: float = 5.0) -> VolumeForecast:
    """Forecast contacts per queue for the next `weeks` weeks (daily or weekly), with events as adjustments.

    >>> fc = forecast_volume(ws, Scope.everything(), weeks=4, by=("client_id", "channel"))  # doctest: +SKIP
    >>> fc.forecast_only().columns[:4]  # doctest: +SKIP
    ['period', 'client_id', 'channel', 'kind']
    """
    if not 1 <= weeks <= MAX_WEEKS_AHEAD:
        raise ForecastError(f"--weeks {weeks}: forecast at least one week and at most {MAX_WEEKS_AHEAD} weeks ahead")
    if grain not in STEP:
        raise ForecastError(f"unknown grain '{grain}'; forecasts are made per 'day' or 'week'")
    daily = volume_history(ws, scope, grain="day", by=by, end=end)
    last = daily["period"].max()
    first_weekday = Calendars.of(ws.config, scope.clients).reference.week_start  # weeks are reporting weeks
    # forecast from the end of the latest complete week (days after it are partial)
    daily = daily.filter(pl.col("period") <= latest_complete_week(last, first_weekday) + timedelta(days=6))
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
            periods, y, y_fit, fut, factor = _weekly(dates, y_day, clean, future_dates, f_day, weeks, first_weekday)
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
            weeks: int, first_weekday: int = 0) -> tuple[list[date], np.ndarray, np.ndarray, list[date], np.ndarray]:
    """Daily history → whole reporting weeks (from `first_weekday`, 0 = Monday); the weekly event factor weights each
    day by its weekday share."""
    start = next(i for i, d in enumerate(dates) if d.weekday() == first_weekday)
    n = (len(dates) - start) // 7
    sl = slice(start, start + 7 * n)
    yw = y[sl].reshape(n, 7)
    cw = clean[sl].reshape(n, 7)
    dow_share = cw.sum(axis=0) / max(cw.sum(), 1.0)
    periods = [dates[start + 7 * i] for i in range(n)]
    f0 = next(i for i, d in enumerate(future) if d.weekday() == first_weekday)
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

MIN_RISK_WEEKS = 8  # whole weeks of a queue's history before its risk is forecast
MIN_FACTOR_WEEKS = 3  # calibrated weeks needed to spread the staffing factor


@dataclass(frozen=True, kw_only=True)
class QueueHistory:
    """One live queue's whole weeks: volume, measured service level, the roster as agents per slot, the staffing factor.

    Index i of every array is week `weeks[i]`; slots are the week's intervals (Monday 00:00 first).
    Everything at index i uses data up to the end of that week only, so a prediction for week i + 1
    made from index i never sees the week it predicts.
    """

    queue_id: str
    keys: dict[str, str]  # client_id, vendor_id, site_id, channel
    weeks: list[date]
    offered: np.ndarray  # contacts offered per week
    measured: np.ndarray  # service level delivered per week (the catalog KPI; nan: nothing to measure)
    share: np.ndarray  # week × slot: the arrival profile over the history window ending that week
    scheduled: np.ndarray  # week × slot: that week's rostered on-queue agents, spread by the profile
    aht: np.ndarray  # AHT seconds over the history window ending each week
    aht_week: np.ndarray  # AHT seconds of each week alone
    factor: np.ndarray  # per week: the staffing factor at which Erlang C gives the measured service level
    interval_seconds: float
    threshold: float  # seconds the measured service level counts against


def history_of(*, queue_id: str, keys: dict[str, str], weeks: list[date], offered: np.ndarray, measured: np.ndarray,
               share: np.ndarray, scheduled: np.ndarray, aht: np.ndarray, aht_week: np.ndarray,
               interval_seconds: float, threshold: float, counts: np.ndarray | None = None) -> QueueHistory:
    """A QueueHistory with each week's staffing factor calibrated on that week's own volume, AHT and measured level.

    `counts` (numerator, denominator per week) pull a measured 100 % just under 1 so the factor stays finite.
    """
    corrected = measured if counts is None else (counts[:, 0] + 0.5) / (counts[:, 1] + 1.0)
    factor = staffing_factor(scheduled=scheduled, calls=np.asarray(offered, dtype=float)[:, None] * share,
                             aht=aht_week, interval=interval_seconds, threshold=threshold, observed=corrected)
    return QueueHistory(queue_id=queue_id, keys=keys, weeks=list(weeks), offered=np.asarray(offered, dtype=float),
                        measured=np.asarray(measured, dtype=float), share=share, scheduled=scheduled,
                        aht=np.asarray(aht, dtype=float), aht_week=np.asarray(aht_week, dtype=float), factor=factor,
                        interval_seconds=interval_seconds,
                        threshold=threshold)


def queue_histories(ws: Workspace, scope: Scope, *, end: date | None = None, history_weeks: int = 8) -> list[QueueHistory]:
    """Every inbound voice/chat queue's whole weeks up to `end` (default: all), roster and measured service level."""
    lf = contact_intervals(ws, scope).filter(pl.col("direction") == "inbound")
    # days, weeks and times of day on each client's clock; `weekday` is the day's place in its reporting week (1-7)
    cals, utc, at = Calendars.of(ws.config, scope.clients), pl.Datetime("us", "UTC"), pl.col("interval_start")
    first = cals.reference.week_start
    day = period_date(at, "day", utc, cals)
    if end is not None:
        lf = lf.filter(day <= end)
    iv = (lf.with_columns(day.alias("date"), period_first_day(at, "week", utc, cals).alias("week"),
                          ((local_clock(at, utc, cals, lambda t: t.dt.weekday()) - 1 - first) % 7 + 1).alias("weekday"),
                          local_clock(at, utc, cals, lambda t: t.dt.hour().cast(pl.Int32) * 60
                                      + t.dt.minute().cast(pl.Int32)).alias("minute"))
          .collect())
    if iv.height == 0:
        raise ForecastError("no contact_intervals in scope; SLA at risk needs voice/chat interval reports")
    whole = (iv.group_by("queue_id", "week").agg(pl.col("date").n_unique().alias("days"))
             .filter(pl.col("days") == 7))  # interval grids start and end mid-week
    iv = iv.join(whole.select("queue_id", "week"), on=["queue_id", "week"], how="semi")
    if iv.height == 0:
        raise ForecastError("no whole week of contact_intervals in scope; SLA at risk needs at least one whole reporting week")
    all_weeks = sorted(iv["week"].unique().to_list())
    measured = measured_service_level(ws, scope, start=all_weeks[0], end=all_weeks[-1] + timedelta(days=6))
    roster = pl.concat([daily_on_queue(ws, scope, start=w, end=w + timedelta(days=6)) for w in all_weeks]).select(
        "client_id", "site_id", "channel", period_first_day(pl.col("date"), "week", pl.Date(), cals).alias("week"),
        ((pl.col("date").dt.weekday() - 1 - first) % 7 + 1).alias("weekday"), "on_queue_seconds")
    out = []
    for (queue_id,), g in iv.partition_by(["queue_id"], as_dict=True, maintain_order=True).items():
        head = g.row(0, named=True)
        step = int(head["interval_minutes"])
        per_day = 1440 // step
        weeks = sorted(g["week"].unique().to_list())
        index = {w: i for i, w in enumerate(weeks)}
        wi = np.array([index[w] for w in g["week"]])
        slot = (g["weekday"].to_numpy() - 1) * per_day + g["minute"].to_numpy() // step
        counts = np.zeros((len(weeks), 7 * per_day))
        np.add.at(counts, (wi, slot), g["offered"].to_numpy().astype(float))
        handle = np.bincount(wi, weights=g["handle_seconds"].fill_null(0).to_numpy(), minlength=len(weeks))
        handled = np.bincount(wi, weights=g["handled"].fill_null(0).to_numpy().astype(float), minlength=len(weeks))
        share = _trailing(counts, history_weeks)
        share = share / np.maximum(share.sum(axis=1, keepdims=True), 1e-12)
        days = share.reshape(len(weeks), 7, per_day)
        r = roster.filter((pl.col("client_id") == head["client_id"]) & (pl.col("site_id") == head["site_id"])
                          & (pl.col("channel") == head["channel"]))
        on_queue = np.zeros((len(weeks), 7))
        for w, d, secs in r.select("week", "weekday", "on_queue_seconds").iter_rows():
            if w in index:
                on_queue[index[w], d - 1] += secs
        # each day's rostered time over the day's slots as the arrivals are spread: agents per slot
        scheduled = (on_queue[:, :, None] * days / np.maximum(days.sum(axis=2, keepdims=True), 1e-12)
                     / (step * 60)).reshape(len(weeks), 7 * per_day)
        m = measured.filter(pl.col("queue_id") == queue_id)
        level = dict(zip(m["period"], m["value"]))
        nd = {p: (a, b) for p, a, b in m.select("period", "numerator", "denominator").iter_rows()}
        out.append(history_of(
            queue_id=queue_id, keys={k: head[k] for k in ("client_id", "vendor_id", "site_id", "channel")}, weeks=weeks,
            offered=counts.sum(axis=1), measured=np.array([level.get(w) for w in weeks], dtype=float),
            share=share, scheduled=scheduled,
            aht=_trailing(handle, history_weeks) / np.maximum(_trailing(handled, history_weeks), 1.0),
            aht_week=handle / np.maximum(handled, 1.0), interval_seconds=step * 60.0,
            threshold=float(head["sl_threshold_seconds"] or 20.0),
            counts=np.array([nd.get(w, (np.nan, np.nan)) for w in weeks], dtype=float)))
    return out


def _trailing(x: np.ndarray, n: int) -> np.ndarray:
    """Sum over the last `n` rows up to and including each row (axis 0)."""
    c = np.cumsum(x, axis=0)
    lagged = np.concatenate([np.zeros((n,) + x.shape[1:]), c[:-n]]) if x.shape[0] > n else np.zeros_like(c)
    return c - lagged[: x.shape[0]]


@dataclass(frozen=True, kw_only=True)
class RiskForecast:
    """One queue's service level next week as simulated weeks, and how it responds to more rostered time."""

    forecast: SeriesForecast
    factor: float  # staffing factor over the history window (geometric mean; nan: no roster)
    response: float  # share of Erlang's predicted week-to-week change the measured level has followed (0–1)
    simulate: Callable[[float], np.ndarray] = field(repr=False)  # roster scale -> simulated weekly service levels

    def p_miss(self, target: StaffingTarget, scale: float = 1.0) -> float:
        """Share of simulated weeks under the target's share."""
        return float(np.mean(self.simulate(scale) < target.share))


def risk_next_week(h: QueueHistory, i: int, target: StaffingTarget, *, history_weeks: int = 8, paths: int = 500,
                   seed: int = 0) -> RiskForecast | None:
    """Week i + 1's service level from weeks up to i: the measured level, moved by what Erlang C says changes.

    On the logit scale, next week = the mean of the last `history_weeks` measured levels + b × the
    change Erlang C (calibrated by the staffing factor) predicts between those weeks and next week
    (week i's roster carried forward, the ETS volume forecast, the recent AHT) + Student-t noise
    with the spread of the measured levels around that model.  b is the slope of measured on
    Erlang-predicted levels over the queue's past weeks, clipped to 0–1: how far this queue's
    service level has actually followed staffing and volume.  More rostered time (scale > 1) is
    priced by Erlang C in full.  None when the queue has too little history or volume.
    """
    y = h.offered[: i + 1]
    past = np.flatnonzero(np.isfinite(h.measured[: i + 1]))
    if y.size < MIN_RISK_WEEKS or y[-4:].mean() < 1 or past.size < MIN_FACTOR_WEEKS:
        return None
    fc = forecast_series(y, season=_season_for(y.size, "week"), horizon=1, paths=paths, seed=seed)
    window = past[-history_weeks:]
    z = _logit(h.measured[past])
    logk = np.log(h.factor[window])
    logk = logk[np.isfinite(logk)]
    erlang: Callable[[float], float] | None = None
    if logk.size >= MIN_FACTOR_WEEKS and h.scheduled[i].sum() > 0:
        k = float(np.exp(logk.mean()))
        e = _logit(weighted_service_level(k * h.scheduled[past], h.offered[past, None] * h.share[past],
                                          h.aht_week[past, None], h.interval_seconds, h.threshold))

        def erlang(scale: float) -> float:
            return float(_logit(weighted_service_level(k * scale * h.scheduled[i], fc.mean[0] * h.share[i], h.aht[i],
                                                       h.interval_seconds, target.seconds)))

        b = _slope(z, e)
        e_next = erlang(1.0)
    else:  # no roster to calibrate on: the measured level alone, and more staff cannot be priced
        k, b, e, e_next = float("nan"), 0.0, np.zeros(z.size), 0.0
    r = z[-window.size:] - b * e[-window.size:]
    n = r.size
    noise = r.std(ddof=1) * np.sqrt(1 + 1 / n) * np.random.default_rng(seed).standard_t(n - 1, paths)
    draws = r.mean() + b * e_next + noise

    def simulate(scale: float) -> np.ndarray:
        shift = erlang(scale) - e_next if erlang is not None and scale != 1.0 else 0.0
        return 1 / (1 + np.exp(-(draws + shift)))

    return RiskForecast(forecast=fc, factor=k, response=b, simulate=simulate)


def _logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 − p)), p held inside [1e-4, 1 − 1e-4]."""
    q = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


def _slope(z: np.ndarray, e: np.ndarray) -> float:
    """Least-squares slope of z on e, clipped to 0–1 (0 when e does not vary)."""
    if z.size < MIN_FACTOR_WEEKS or np.var(e) < 1e-12:
        return 0.0
    return float(np.clip(np.cov(z, e)[0, 1] / np.var(e, ddof=1), 0.0, 1.0))


@dataclass(frozen=True)
class SlaRisk:
    """Per live queue: P(missing its service level next week) at the scheduled staffing, and the FTE that fixes it."""

    frame: pl.DataFrame
    week: date
    max_risk: float
    paths: int


RISK_SCHEMA = {
    "queue_id": pl.String, "client_id": pl.String, "vendor_id": pl.String, "site_id": pl.String, "channel": pl.String,
    "week": pl.Date, "last_week": pl.Date, "last_week_service_level": pl.Float64, "last_week_met": pl.Boolean,
    "forecast_offered": pl.Float64, "lo80": pl.Float64, "hi80": pl.Float64, "aht_seconds": pl.Float64,
    "target": pl.String, "target_share": pl.Float64, "scheduled_on_queue_hours": pl.Float64,
    "staffing_factor": pl.Float64, "staffing_response": pl.Float64, "predicted_service_level": pl.Float64, "p_miss": pl.Float64,
    "extra_on_queue_hours": pl.Float64, "fte_needed": pl.Float64}


def sla_at_risk(ws: Workspace, scope: Scope, *, paths: int = 500, seed: int = 0, max_risk: float = 0.2,
                history_weeks: int = 8, shrinkage: float = 0.3, end: date | None = None) -> SlaRisk:
    """Probability each voice/chat queue misses its contractual service level next week, and the FTE to stay under `max_risk`.

    Erlang C at the rostered on-queue time is calibrated to what each queue delivered: every past
    week gets the staffing factor at which the model reproduces its measured service level
    (`staffing_factor`), and next week is simulated from volume paths and the recent factors'
    spread (`risk_next_week`).  Uncalibrated, the model read 100 % on every sample queue while they
    ran 77–98 %.  `sla_risk_backtest` checks these probabilities against what happened.  The FTE
    needed is the smallest uniform increase of rostered on-queue time that brings P(miss) under
    `max_risk`, in 40-hour FTE after `shrinkage`; last week's measured level sits beside each risk.
    """
    histories = queue_histories(ws, scope, end=end, history_weeks=history_weeks)
    last_monday = max(h.weeks[-1] for h in histories)
    week = last_monday + timedelta(days=7)
    contract = ServiceLevelTargets.read(ws, scope)
    rows = []
    for n, h in enumerate(histories):
        if h.weeks[-1] != last_monday:
            continue  # a queue without last week's data has no schedule to carry forward
        target = _target_at(contract, h, week)  # the week at risk is judged by the term in force then
        last_target = _target_at(contract, h, last_monday)
        risk = risk_next_week(h, len(h.weeks) - 1, target, history_weeks=history_weeks, paths=paths, seed=seed + n)
        if risk is None:
            continue
        p = risk.p_miss(target)
        hi = 1.0
        if p >= max_risk and np.isfinite(risk.factor):
            lo = 1.0
            while risk.p_miss(target, hi) >= max_risk and hi < 16:
                lo, hi = hi, hi * 1.5
            for _ in range(20):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if risk.p_miss(target, mid) >= max_risk else (lo, mid)
        sched_hours = float(h.scheduled[-1].sum() * h.interval_seconds / 3600)
        extra = (hi - 1.0) * sched_hours if np.isfinite(risk.factor) else None
        last = float(h.measured[-1])
        rows.append({
            "queue_id": h.queue_id, **h.keys, "week": week, "last_week": last_monday,
            "last_week_service_level": last if np.isfinite(last) else None,
            "last_week_met": bool(last >= last_target.share) if np.isfinite(last) else None,
            "forecast_offered": float(risk.forecast.mean[0]), "lo80": float(risk.forecast.lower[0.8][0]),
            "hi80": float(risk.forecast.upper[0.8][0]), "aht_seconds": float(h.aht[-1]), "target": str(target),
            "target_share": target.share, "scheduled_on_queue_hours": sched_hours,
            "staffing_factor": risk.factor if np.isfinite(risk.factor) else None, "staffing_response": risk.response,
            "predicted_service_level": float(np.median(risk.simulate(1.0))), "p_miss": p,
            "extra_on_queue_hours": extra, "fte_needed": None if extra is None else extra / (40 * (1 - shrinkage)),
        })
    frame = pl.DataFrame(rows, schema=RISK_SCHEMA)
    return SlaRisk(frame.sort("p_miss", descending=True), week, max_risk, paths)


# --------------------------------------------------------------------------- SLA at risk: the backtest

RISK_BUCKETS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


@dataclass(frozen=True, kw_only=True)
class SlaBacktest:
    """Each past queue-week's P(miss), made from the weeks before it, beside what happened; calibration and Brier scores."""

    rows: pl.DataFrame  # queue_id, week, p_miss, naive, measured, target, missed

    def calibration(self) -> pl.DataFrame:
        """Per bucket of predicted probability: forecasts, mean predicted, observed miss rate."""
        labels = [f"{lo:.0%}–{hi:.0%}" for lo, hi in pairwise(RISK_BUCKETS)]
        edges = np.array(RISK_BUCKETS[1:-1])
        b = self.rows.with_columns(pl.Series("bucket", np.searchsorted(edges, self.rows["p_miss"].to_numpy(), side="right")))
        agg = (b.group_by("bucket").agg(pl.len().alias("forecasts"), pl.col("p_miss").mean().alias("mean_predicted"),
                                         pl.col("missed").cast(pl.Float64).mean().alias("observed_miss_rate")))
        grid = pl.DataFrame({"bucket": list(range(len(labels))), "predicted": labels}, schema={"bucket": agg["bucket"].dtype,
                                                                                                "predicted": pl.String})
        return (grid.join(agg, on="bucket", how="left").with_columns(pl.col("forecasts").fill_null(0))
                .sort("bucket").drop("bucket"))

    def brier(self) -> pl.DataFrame:
        """Brier score of our P(miss), of 'misses if it missed last week', and of the overall miss rate."""
        y = self.rows["missed"].cast(pl.Float64).to_numpy()
        ours = self.rows["p_miss"].to_numpy()
        base = np.full(y.size, y.mean()) if y.size else y
        scores = {"SLA at risk (ours)": ours, "naive: misses if it missed last week": self.rows["naive"].to_numpy(),
                  "base rate (share of queue-weeks missed)": base}
        ref = float(np.mean((base - y) ** 2)) if y.size else float("nan")
        return pl.DataFrame([{"predictor": k, "brier": float(np.mean((v - y) ** 2)) if y.size else None,
                              "skill_vs_base_rate": (1 - float(np.mean((v - y) ** 2)) / ref) if y.size and ref > 0 else None}
                             for k, v in scores.items()])

    def to_markdown(self) -> str:
        """The calibration table and the Brier scores as Markdown."""
        c = self.calibration()
        out = ["| predicted P(miss) | forecasts | mean predicted | observed miss rate |", "|---|---|---|---|"]
        for r in c.iter_rows(named=True):
            out.append(f"| {r['predicted']} | {r['forecasts']} | "
                       + (f"{r['mean_predicted']:.1%} | {r['observed_miss_rate']:.1%} |" if r["forecasts"] else "– | – |"))
        out += ["", "| predictor | Brier score | skill vs base rate |", "|---|---|---|"]
        for r in self.brier().iter_rows(named=True):
            out.append(f"| {r['predictor']} | {r['brier']:.4f} | {r['skill_vs_base_rate']:+.2f} |")
        return "\n".join(out)


def _target_at(contract: ServiceLevelTargets, h: QueueHistory, week: date) -> StaffingTarget:
    """The queue's contractual service level in force in `week`, else 80 % within the queue's own threshold."""
    return contract.at(h.keys["client_id"], h.keys["channel"], week) or StaffingTarget(0.8, h.threshold)


WeeklyTargets = Mapping[str, StaffingTarget] | Callable[[QueueHistory, date], StaffingTarget]


def backtest_sla_risk(histories: list[QueueHistory], targets: WeeklyTargets, *, min_weeks: int = MIN_RISK_WEEKS,
                      history_weeks: int = 8, paths: int = 300, seed: int = 0) -> SlaBacktest:
    """For every queue and week w after `min_weeks`: P(miss in w) from weeks up to w − 1, beside the measured level of w.

    `targets` is each queue's target (queue_id -> target, the same every week) or a function (queue, week) -> the
    target in force that week: week w is judged by w's term, and "missed last week" by the term of the week before.
    """
    def at(h: QueueHistory, i: int) -> StaffingTarget:
        return targets(h, h.weeks[i]) if callable(targets) else targets[h.queue_id]

    rows = []
    for n, h in enumerate(histories):
        for i in range(min_weeks - 1, len(h.weeks) - 1):
            if not (np.isfinite(h.measured[i]) and np.isfinite(h.measured[i + 1])):
                continue
            target, before = at(h, i + 1), at(h, i)
            risk = risk_next_week(h, i, target, history_weeks=history_weeks, paths=paths, seed=seed + 1000 * n + i)
            if risk is None:
                continue
            rows.append({"queue_id": h.queue_id, "week": h.weeks[i + 1], "p_miss": risk.p_miss(target),
                         "naive": float(h.measured[i] < before.share), "measured": float(h.measured[i + 1]),
                         "target": target.share, "missed": bool(h.measured[i + 1] < target.share)})
    return SlaBacktest(rows=pl.DataFrame(rows, schema={"queue_id": pl.String, "week": pl.Date, "p_miss": pl.Float64,
                                                       "naive": pl.Float64, "measured": pl.Float64, "target": pl.Float64,
                                                       "missed": pl.Boolean}))


def sla_risk_backtest(ws: Workspace, scope: Scope, *, min_weeks: int = MIN_RISK_WEEKS, history_weeks: int = 8,
                      paths: int = 300, seed: int = 0, end: date | None = None) -> SlaBacktest:
    """`backtest_sla_risk` over every live queue of the workspace, each at its contractual target.

    >>> bt = sla_risk_backtest(ws, Scope.everything())  # doctest: +SKIP
    >>> bt.calibration().columns  # doctest: +SKIP
    ['predicted', 'forecasts', 'mean_predicted', 'observed_miss_rate']
    """
    histories = queue_histories(ws, scope, end=end, history_weeks=history_weeks)
    contract = ServiceLevelTargets.read(ws, scope)
    return backtest_sla_risk(histories, lambda h, week: _target_at(contract, h, week), min_weeks=min_weeks,
                             history_weeks=history_weeks, paths=paths, seed=seed)


# --------------------------------------------------------------------------- the `forecast` command's report


@dataclass(frozen=True)
class ForecastReport:
    """Volume forecast per queue plus next week's SLA risk: what `bpo-insights forecast` prints."""

    volume: VolumeForecast
    risk: SlaRisk | None
    calendar: Calendar = field(default_factory=Calendar)  # the reporting calendar the periods are cut in

    def table(self) -> pl.DataFrame:
        """Forecast rows (period, queue, mean, intervals, seasonal-naive), one per queue and period."""
        return self.volume.forecast_only().drop("volume", "kind")

    def to_dict(self) -> dict:
        """JSON-friendly: forecast rows and SLA-at-risk rows."""
        return {"volume": self.table().to_dicts(),
                "sla_at_risk": [] if self.risk is None else self.risk.frame.to_dicts()}

    def to_markdown(self, names: format.Names | None = None) -> str:
        """Markdown tables: the volume forecast, then the queues at risk next week (names from bpo.toml, not ids)."""
        t = self.table()
        by = list(self.volume.by)
        lines = ["# Volume forecast", "", f"_{format.markdown(self.calendar.cut[:1].upper() + self.calendar.cut[1:])}._", "", "| " + " | ".join(["period", *[format.dimension(b) for b in by], "forecast", "80% interval", "95% interval", "seasonal naive"]) + " |",
                 "|" + "---|" * (len(by) + 5)]
        for r in t.iter_rows(named=True):
            lines.append("| " + " | ".join([str(r["period"]), *[format.markdown(format.label(b.removesuffix("_id"), r[b], names))
                                                                for b in by], f"{r['mean']:,.0f}",
                                            f"{r['lo80']:,.0f}–{r['hi80']:,.0f}", f"{r['lo95']:,.0f}–{r['hi95']:,.0f}",
                                            f"{r['naive']:,.0f}"]) + " |")
        if self.risk is not None:
            lines += ["", f"# SLA at risk, week of {self.risk.week}", "",
                      (f"| queue | target | last week ({self.risk.frame['last_week'].max()}) | predicted service level "
                       f"| forecast offered | P(miss) | FTE to bring P(miss) under {self.risk.max_risk:.0%} |"),
                      "|---|---|---|---|---|---|---|"]
            for r in self.risk.frame.iter_rows(named=True):
                last = ("–" if r["last_week_service_level"] is None else
                        f"{r['last_week_service_level']:.1%} ({'met' if r['last_week_met'] else 'missed'})")
                fte = "–" if r["fte_needed"] is None else f"{r['fte_needed']:.1f}"
                lines.append(f"| {format.markdown(format.queue(r, names))} | {r['target']} | {last} | {r['predicted_service_level']:.1%} "
                             f"| {r['forecast_offered']:,.0f} ({r['lo80']:,.0f}–{r['hi80']:,.0f}) | {r['p_miss']:.0%} "
                             f"| {fte} |")
            lines += ["", ("P(miss) is calibrated on each queue's measured service level (see benchmarks/README.md, "
                           "'SLA at risk'); '–' FTE: no roster to price more staff against.")]
        return "\n".join(lines)


def forecast_report(ws: Workspace, scope: Scope, *, weeks: int = 4, by: tuple[str, ...] = QUEUE, grain: Grain = "week",
                    paths: int = 500, seed: int = 0, end: date | None = None) -> ForecastReport:
    """Volume forecast per queue for `weeks` weeks and, where interval data exist, next week's SLA risk."""
    volume = forecast_volume(ws, scope, weeks=weeks, grain=grain, by=by, paths=paths, seed=seed, end=end)
    has_intervals = contact_intervals(ws, scope).select(pl.len()).collect().item() > 0
    risk = sla_at_risk(ws, scope, paths=paths, seed=seed, end=end) if has_intervals else None
    return ForecastReport(volume, risk, Calendars.of(ws.config, scope.clients).reference)
