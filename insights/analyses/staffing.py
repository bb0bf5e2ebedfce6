"""Staffing: Erlang C and Erlang A in vectorised numpy, agents needed, and the interval staffing gap.

Erlang C (M/M/N) assumes callers wait for ever; Erlang A (M/M/N+M, Palm) adds exponential
patience, so callers abandon.  Both take arrays and broadcast, so a whole week of intervals (or a
thousand simulated weeks) is one call:

>>> sl = service_level(agents=14, calls=100, aht=180, interval=1800, threshold=20)  # doctest: +SKIP
>>> round(float(sl), 3)  # doctest: +SKIP
0.887

`required_agents` finds the smallest staffing that meets a service-level target; `staffing_gap`
compares, per 30-minute interval, the agents the measured demand required with the agents the
roster put on queue, and names the worst intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from connectors.schema import CHANNELS
from connectors.store import Scope, Workspace
from insights import contracts, format
from insights.errors import InsightsError
from insights.metrics.contacts import intervals as contact_intervals
from insights.metrics.periods import local_clock, period_date
from insights.view import Calendars

MAX_AGENTS = 5000
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class StaffingError(InsightsError):
    """A staffing question cannot be answered as asked (bad target, no volume, no roster)."""


# --------------------------------------------------------------------------- Erlang C


def _erlang_b(agents: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Erlang B blocking probability by the stable recursion B(k) = A·B(k-1) / (k + A·B(k-1))."""
    n = np.asarray(agents, dtype=np.int64)
    a = np.asarray(load, dtype=float)
    n, a = np.broadcast_arrays(n, a)
    b = np.ones(a.shape)
    top = int(n.max(initial=0))
    for k in range(1, top + 1):
        step = a * b / (k + a * b)
        b = np.where(k <= n, step, b)
    return b


def erlang_c(agents: np.ndarray | int, load: np.ndarray | float) -> np.ndarray:
    """Probability that a contact waits (Erlang C) for `agents` serving `load` Erlangs; 1 when overloaded."""
    n = np.asarray(agents, dtype=np.int64)
    a = np.asarray(load, dtype=float)
    b = _erlang_b(n, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a * (1 - b))
    return np.where((n > a) & (n > 0), np.clip(c, 0.0, 1.0), np.where(a > 0, 1.0, 0.0))


def _load(calls: np.ndarray | float, aht: np.ndarray | float, interval: np.ndarray | float) -> np.ndarray:
    return np.asarray(calls, dtype=float) * np.asarray(aht, dtype=float) / np.asarray(interval, dtype=float)


def service_level(agents, calls, aht, interval, threshold) -> np.ndarray:
    """Erlang C share of contacts answered within `threshold` seconds (arrays broadcast)."""
    a = _load(calls, aht, interval)
    n = np.asarray(agents, dtype=np.int64)
    c = erlang_c(n, a)
    with np.errstate(over="ignore", invalid="ignore"):
        sl = 1.0 - c * np.exp(-(n - a) * np.asarray(threshold, dtype=float) / np.asarray(aht, dtype=float))
    return np.where(n > a, np.clip(sl, 0.0, 1.0), np.where(a > 0, 0.0, 1.0))


def service_level_at(agents, calls, aht, interval, threshold) -> np.ndarray:
    """Erlang C service level at a fractional number of agents: linear between the whole numbers either side.

    Rostered time spread over intervals gives fractional agents (0.6 agents = one agent 60 % of the
    interval); rounding 0.4 to 0 would make every contact in that interval a miss.
    """
    x = np.maximum(np.asarray(agents, dtype=float), 0.0)
    lo = np.floor(x)
    w = x - lo
    below = service_level(lo.astype(np.int64), calls, aht, interval, threshold)
    above = service_level(lo.astype(np.int64) + 1, calls, aht, interval, threshold)
    return below + w * (above - below)


def weighted_service_level(agents, calls, aht, interval, threshold) -> np.ndarray:
    """Offered-weighted Erlang C service level over the last axis (a week's intervals), fractional agents allowed."""
    c = np.asarray(calls, dtype=float)
    sl = service_level_at(agents, c, aht, interval, threshold)
    total = c.sum(axis=-1)
    return np.where(total > 0, (sl * c).sum(axis=-1) / np.maximum(total, 1e-12), 1.0)


FACTOR_RANGE = (1 / 32, 32.0)


def staffing_factor(*, scheduled: np.ndarray, calls: np.ndarray, aht, interval: float, threshold: float,
                    observed) -> np.ndarray:
    """The multiplier on rostered agents at which Erlang C gives the `observed` service level (nan without a roster).

    Erlang C at the roster's on-queue time assumes every rostered second is one agent free for this
    queue and contacts served one at a time; a roster that misses time, agents who take several
    chats at once, or a schedule that is not spread like the arrivals all break that, and the
    model then predicts a service level the queue never had.  This factor calibrates the model to
    what the queue delivered: 1 means the roster explains the measured service level, 2 that the
    queue performed as if it had twice the rostered agents.  Clamped to FACTOR_RANGE.

    `scheduled` and `calls` hold intervals on the last axis (one week, or weeks × intervals); `aht`
    and `observed` are one per week, and so is the answer.
    """
    sched = np.asarray(scheduled, dtype=float)
    c = np.asarray(calls, dtype=float)
    obs = np.asarray(observed, dtype=float)
    h = np.asarray(aht, dtype=float)
    usable = np.isfinite(obs) & (h > 0) & (c.sum(axis=-1) > 0) & ((sched * (c > 0)).sum(axis=-1) > 0)
    h = np.where(h > 0, h, 1.0)[..., None]

    def sl(log_k: np.ndarray) -> np.ndarray:
        return weighted_service_level(sched * np.exp(log_k)[..., None], c, h, interval, threshold)

    lo = np.full(obs.shape, np.log(FACTOR_RANGE[0]))
    hi = np.full(obs.shape, np.log(FACTOR_RANGE[1]))
    floor_ok, ceiling_short = sl(lo) >= obs, sl(hi) <= obs
    for _ in range(14):  # log-bisection to within 0.1 % of the factor
        mid = (lo + hi) / 2
        short = sl(mid) < obs
        lo, hi = np.where(short, mid, lo), np.where(short, hi, mid)
    k = np.exp(np.where(floor_ok, np.log(FACTOR_RANGE[0]), np.where(ceiling_short, np.log(FACTOR_RANGE[1]), (lo + hi) / 2)))
    return np.where(usable, k, np.nan)


def average_speed_of_answer(agents, calls, aht, interval) -> np.ndarray:
    """Erlang C mean wait in seconds over all contacts (inf when the queue is overloaded)."""
    a = _load(calls, aht, interval)
    n = np.asarray(agents, dtype=np.int64)
    c = erlang_c(n, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        asa = c * np.asarray(aht, dtype=float) / (n - a)
    return np.where(n > a, asa, np.where(a > 0, np.inf, 0.0))


# --------------------------------------------------------------------------- Erlang A


@dataclass(frozen=True)
class ErlangAResult:
    """Erlang A (M/M/N+M) figures for one queue: waiting, answered-in-threshold, abandonment, ASA."""

    p_wait: float
    service_level: float  # share of offered contacts answered within the threshold
    abandonment: float  # share of offered contacts that abandon
    asa: float  # mean wait of answered contacts, seconds
    occupancy: float


def _erlang_a_one(n: int, lam: float, mu: float, theta: float, threshold: float) -> ErlangAResult:
    """Exact Erlang A through the birth-death chain and the tagged contact's virtual wait."""
    # stationary distribution in log space: pi_k ∝ A^k/k! (k <= n), pi_n * prod lam/(n mu + i theta) beyond
    a = lam / mu
    k = np.arange(n + 1)
    from scipy.special import gammaln  # exact log-factorials; scipy ships with the project

    log_low = k * np.log(a) - gammaln(k + 1) if a > 0 else np.where(k == 0, 0.0, -np.inf)
    cap = 200_000
    i = np.arange(1, cap + 1, dtype=float)
    steps = np.log(lam) - np.log(n * mu + i * theta) if lam > 0 else np.full(cap, -np.inf)
    log_high = log_low[-1] + np.cumsum(steps)
    keep = log_high > log_high.max(initial=-np.inf) - 60 if log_high.size else np.zeros(0, dtype=bool)
    last = int(np.nonzero(keep)[0].max()) + 1 if keep.any() else 0
    log_high = log_high[:last]
    logs = np.concatenate([log_low, log_high])
    pi = np.exp(logs - logs.max())
    pi /= pi.sum()
    queued = pi[n:]  # arrivals that find all agents busy, with j = 0.. contacts ahead
    j = np.arange(queued.size)
    p_wait = float(queued.sum())
    # a contact with j ahead waits V = sum of Exp(n mu + m theta), m = 0..j; it is served if V < patience.
    # Tilting by exp(-theta V) gives P(served | j) = prod r_m/(r_m+theta) and V' with rates n mu + (m+1) theta.
    log_ratio = np.log(n * mu + j * theta) - np.log(n * mu + (j + 1) * theta)
    p_served_j = np.exp(np.cumsum(log_ratio))
    within_j = _absorbed_by(n * mu, theta, threshold, queued.size)
    mean_j = np.cumsum(1.0 / (n * mu + (j + 1) * theta))
    served_wait = float(np.sum(queued * p_served_j * mean_j))
    p_served_queued = float(np.sum(queued * p_served_j))
    answered = (1 - p_wait) + p_served_queued
    sl = (1 - p_wait) + float(np.sum(queued * p_served_j * within_j))
    abandon = 1 - answered
    busy = float(np.sum(pi[:n] * k[:n]) + n * p_wait)
    return ErlangAResult(p_wait, sl, abandon, served_wait / answered if answered > 0 else float("inf"),
                         busy / n if n else 1.0)


def _absorbed_by(base: float, theta: float, t: float, states: int) -> np.ndarray:
    """P(a pure-death chain with rates base + m·theta, started at m = j+1, reaches 0 by time t), j = 0..states-1.

    Uniformisation: the jump chain steps down with probability rate(m)/Λ, and the number of jumps by
    `t` is Poisson(Λt); everything is vectorised over the starting states.
    """
    if states == 0:
        return np.zeros(0)
    m = np.arange(states + 1, dtype=float)
    rate = np.where(m > 0, base + m * theta, 0.0)
    lam_u = float(rate.max())
    if lam_u * t == 0:
        return np.zeros(states)
    down = rate / lam_u
    u = (m == 0).astype(float)  # u[m] = P(absorbed within the jumps so far | start m)
    mean = lam_u * t
    n_max = int(mean + 12 * np.sqrt(mean) + 30)
    log_w = -mean  # log Poisson weight of 0 jumps
    out = np.exp(log_w) * u
    for step in range(1, n_max + 1):
        u = np.concatenate([[1.0], down[1:] * u[:-1] + (1 - down[1:]) * u[1:]])
        log_w += np.log(mean) - np.log(step)
        out = out + np.exp(log_w) * u
    return np.clip(out[1:], 0.0, 1.0)


def erlang_a(agents, calls, aht, interval, threshold, patience) -> dict[str, np.ndarray]:
    """Erlang A figures for every element of the broadcast arrays: p_wait, service_level, abandonment, asa, occupancy."""
    n, c, h, iv, t, p = np.broadcast_arrays(np.asarray(agents, dtype=np.int64), *(np.asarray(x, dtype=float)
                                                                                    for x in (calls, aht, interval, threshold, patience)))
    fields = ("p_wait", "service_level", "abandonment", "asa", "occupancy")
    out = {f: np.empty(n.shape) for f in fields}
    cache: dict[tuple, ErlangAResult] = {}
    for idx in np.ndindex(n.shape):
        if n[idx] <= 0:
            raise StaffingError(f"Erlang A needs at least one agent (got {n[idx]})")
        key = (int(n[idx]), float(c[idx]), float(h[idx]), float(iv[idx]), float(t[idx]), float(p[idx]))
        if key not in cache:
            cache[key] = _erlang_a_one(key[0], key[1] / key[3], 1.0 / key[2], 1.0 / key[5], key[4])
        for f in fields:
            out[f][idx] = getattr(cache[key], f)
    return out


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class StaffingTarget:
    """A service-level target: `share` of contacts answered within `seconds` (80/20 → 0.8, 20)."""

    share: float
    seconds: float

    @classmethod
    def parse(cls, text: str) -> "StaffingTarget":
        """'0.8/20', '80/20' or '80%/20' → StaffingTarget(0.8, 20)."""
        try:
            share_text, secs_text = text.replace("%", "").split("/")
            share, secs = float(share_text), float(secs_text)
        except ValueError:
            raise StaffingError(f"target '{text}' is not SHARE/SECONDS; write it like 0.8/20 (80 % within 20 s)") from None
        share = share / 100 if share > 1 else share
        if not 0 < share < 1 or secs <= 0:
            raise StaffingError(f"target '{text}': the share must be between 0 and 1 (or 0-100 %) and the seconds positive")
        return cls(share, secs)

    def __str__(self) -> str:
        return f"{self.share:.0%}/{self.seconds:g}s"


@dataclass(frozen=True)
class StaffingPlan:
    """Agents needed for one interval's demand and what that staffing delivers."""

    calls: float
    aht: float
    interval_seconds: float
    target: StaffingTarget
    patience: float | None
    shrinkage: float
    load: float  # Erlangs
    agents: int  # on the phones
    fte: float  # agents / (1 - shrinkage): people to schedule
    service_level: float
    asa: float
    occupancy: float
    abandonment: float | None
    model: str  # "Erlang C" | "Erlang A"

    def to_dict(self) -> dict:
        """JSON-friendly fields."""
        return {"calls": self.calls, "aht_seconds": self.aht, "interval_minutes": self.interval_seconds / 60,
                "target": str(self.target), "patience_seconds": self.patience, "shrinkage": self.shrinkage,
                "load_erlangs": round(self.load, 4), "agents": self.agents, "fte": round(self.fte, 2),
                "service_level": round(self.service_level, 4), "asa_seconds": round(self.asa, 2),
                "occupancy": round(self.occupancy, 4),
                "abandonment": None if self.abandonment is None else round(self.abandonment, 4), "model": self.model}


def required_agents(calls, aht, interval, target: StaffingTarget, *, max_occupancy: float = 1.0) -> np.ndarray:
    """Smallest whole number of agents meeting `target` under Erlang C, element-wise (0 where no calls)."""
    a = _load(calls, aht, interval)
    n = np.floor(a).astype(np.int64) + 1
    n = np.maximum(n, np.ceil(a / max_occupancy - 1e-9).astype(np.int64))
    n = np.where(a > 0, n, 0)
    for _ in range(MAX_AGENTS):
        ok = (service_level(n, calls, aht, interval, target.seconds) >= target.share) | (a <= 0)
        if ok.all():
            return n
        n = np.where(ok, n, n + 1)
    raise StaffingError(f"no staffing up to {MAX_AGENTS} agents meets {target}; check calls and AHT")


def plan_staffing(*, calls: float, aht: float, interval_minutes: float, target: StaffingTarget,
                  patience: float | None = None, shrinkage: float = 0.0) -> StaffingPlan:
    """Agents needed for `calls` in an interval at `aht` seconds to meet `target` (Erlang A when `patience` is given).

    >>> plan = plan_staffing(calls=100, aht=180, interval_minutes=30, target=StaffingTarget(0.8, 20))  # doctest: +SKIP
    >>> plan.agents, round(plan.service_level, 3)  # doctest: +SKIP
    (14, 0.887)
    """
    if calls <= 0 or aht <= 0 or interval_minutes <= 0:
        raise StaffingError(f"calls, AHT and interval must be positive (got calls={calls}, aht={aht}, interval={interval_minutes})")
    if not 0 <= shrinkage < 1:
        raise StaffingError(f"shrinkage {shrinkage} must be in [0, 1); 0.3 means 30 % of paid time is off the phones")
    if patience is not None and patience <= 0:
        raise StaffingError(f"patience {patience} must be positive seconds (leave it out for Erlang C)")
    iv = interval_minutes * 60.0
    load = calls * aht / iv
    if patience is None:
        n = int(required_agents(calls, aht, iv, target))
        sl = float(service_level(n, calls, aht, iv, target.seconds))
        asa = float(average_speed_of_answer(n, calls, aht, iv))
        return StaffingPlan(calls, aht, iv, target, None, shrinkage, load, n, n / (1 - shrinkage), sl, asa,
                            load / n, None, "Erlang C")
    n = max(1, int(np.floor(load * 0.5)))
    while n <= MAX_AGENTS:
        r = _erlang_a_one(n, calls / iv, 1 / aht, 1 / patience, target.seconds)
        if r.service_level >= target.share:
            return StaffingPlan(calls, aht, iv, target, patience, shrinkage, load, n, n / (1 - shrinkage),
                                r.service_level, r.asa, r.occupancy, r.abandonment, "Erlang A")
        n += 1
    raise StaffingError(f"no staffing up to {MAX_AGENTS} agents meets {target}; check calls and AHT")


# --------------------------------------------------------------------------- interval staffing gap


@dataclass(frozen=True)
class StaffingGap:
    """Required vs scheduled agents per interval, the weekday × time-of-day pattern, and the worst slots.

    `required` is in rostered agents: Erlang C's requirement at the target divided by the queue's
    staffing factor (see `staffing_factor`), so a queue that met its target at its rostered time
    shows no overall shortfall, and one that missed shows where it fell short.
    """

    intervals: pl.DataFrame  # queue keys, interval_start, offered, aht, required, scheduled, gap
    pattern: pl.DataFrame  # queue keys, weekday, time, mean required, scheduled, gap
    worst: pl.DataFrame  # the `top` weekday × time slots with the largest mean shortfall
    target: StaffingTarget
    # per queue: measured service level over the period, its target, the staffing factor, the offered-weighted mean gap
    queues: pl.DataFrame = field(default_factory=pl.DataFrame)
    calendar: str = "UTC"  # the reporting calendar dates, weekdays and times of day are in (insights.view.Calendar.name)

    def worst_named(self, names: format.Names | None = None) -> list[str]:
        """'Mon 09:00 UTC acme-voice-sp-austin: short 3.2 agents' lines for the worst slots (times in `calendar`);
        with `names`, each queue by its name ('Mon 09:00 UTC Acme Home · site Southpeak Austin · channel voice: …',
        `format.queue`)."""
        def queue(r: dict) -> str:
            return str(r["queue_id"]) if names is None else format.queue(r, names)

        return [f"{r['weekday']} {r['time']} {self.calendar} {queue(r)}: short {r['gap']:.1f} agents "
                f"(needs {r['required']:.1f}, has {r['scheduled']:.1f})" for r in self.worst.iter_rows(named=True)]


QUEUE_KEYS = ("queue_id", "client_id", "vendor_id", "site_id", "channel")


@dataclass(frozen=True)
class ServiceLevelTargets:
    """The contract's service-level target per client, channel and week, by insights.contracts (read once per call)."""

    terms: contracts.Contracts
    _seen: dict[tuple[str, str, date, date], StaffingTarget | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def read(cls, ws: Workspace, scope: Scope) -> ServiceLevelTargets:
        """The terms `scope` may see, read now."""
        return cls(contracts.read(ws, scope))

    def at(self, client: str, channel: str, start: date, end: date | None = None) -> StaffingTarget | None:
        """The target in force for the client's channel from start to end (default: start's week); None without one."""
        end = start + timedelta(days=6) if end is None else end
        key = (client, channel, start, end)
        if key not in self._seen:
            t = self.terms.in_force("service_level", {"client_id": client, "channel": channel}, start, end)
            self._seen[key] = None if t is None else StaffingTarget(t.value, t.threshold_seconds or 20.0)
        return self._seen[key]


def _sl_targets(ws: Workspace, scope: Scope, at: date | None = None) -> dict[tuple[str, str], StaffingTarget]:
    """(client, channel) -> the contract's service-level target in force on `at` (default: today), by insights.contracts."""
    targets = ServiceLevelTargets.read(ws, scope)
    day = at or date.today()
    rows = targets.terms.rows.filter(pl.col("metric") == "service_level").select("client_id", "channel").unique()
    pairs = {(client, ch) for client, channel in rows.iter_rows() for ch in ((channel,) if channel else CHANNELS)}
    out = {}
    for client, channel in sorted(pairs):
        t = targets.at(client, channel, day, day)
        if t is not None:
            out[(client, channel)] = t
    return out


def measured_service_level(ws: Workspace, scope: Scope, *, start: date | None = None,
                           end: date | None = None) -> pl.DataFrame:
    """The service level each live queue delivered per week (the catalog KPI): period, queue_id, value, numerator, denominator."""
    from insights.metrics.kpis import compute_kpis

    k = compute_kpis(ws, scope, ["service_level"], grain="week", by=("queue_id",), start=start, end=end)
    return k.filter(pl.col("queue_id").is_not_null()).select("period", "queue_id", "value", "numerator", "denominator")


def group_of(channel: str) -> str:
    """The agent skill group that works a channel: voice agents take calls, digital agents every text channel."""
    return "voice" if channel == "voice" else "digital"


def daily_on_queue(ws: Workspace, scope: Scope, *, start: date | None = None, end: date | None = None) -> pl.DataFrame:
    """On-queue seconds per (client, site, channel, date): the skill group's roster time split by workload share.

    Digital agents are multi-skilled, so a text channel gets the share of its (client, site) group's
    on-queue time equal to its share of the group's handle time over the period.  The roster has no
    shift times; `staffing_gap` spreads each day's time over the day's intervals in proportion to the
    queue's average time-of-day arrival profile (a schedule built to the average day), so days whose
    demand departs from that profile (a Monday morning) show up as gaps.
    """
    group = pl.when(pl.col("channel") == "voice").then(pl.lit("voice")).otherwise(pl.lit("digital")).alias("group")
    roster = ws.scan("staffing_roster", scope).filter(pl.col("status") != "terminated")
    tickets = ws.scan("tickets", scope).filter(pl.col("handle_seconds").is_not_null())
    created = period_date(pl.col("created_at"), "day", pl.Datetime("us", "UTC"), Calendars.of(ws.config, scope.clients))
    if start is not None:
        roster = roster.filter(pl.col("date") >= start)
        tickets = tickets.filter(created >= start)
    if end is not None:
        roster = roster.filter(pl.col("date") <= end)
        tickets = tickets.filter(created <= end)
    daily = (roster.with_columns(group).group_by("client_id", "site_id", "group", "date")
             .agg(pl.col("on_queue_seconds").sum()))
    work = (tickets.with_columns(group).group_by("client_id", "site_id", "group", "channel")
            .agg(pl.col("handle_seconds").sum())
            .with_columns((pl.col("handle_seconds") / pl.col("handle_seconds").sum().over("client_id", "site_id", "group"))
                          .alias("work_share")))
    return (daily.join(work.select("client_id", "site_id", "group", "channel", "work_share"),
                       on=["client_id", "site_id", "group"])
            .select("client_id", "site_id", "channel", "date",
                    (pl.col("on_queue_seconds") * pl.col("work_share")).alias("on_queue_seconds"))
            .collect())


def staffing_gap(ws: Workspace, scope: Scope, *, start: date | None = None, end: date | None = None,
                 target: StaffingTarget | None = None, top: int = 5) -> StaffingGap:
    """Required (Erlang C at the contractual service level) vs scheduled agents per interval, worst slots named."""
    lf = contact_intervals(ws, scope).filter(pl.col("direction") == "inbound")
    cals = Calendars.of(ws.config, scope.clients)  # dates, times of day and weekdays are the client's local ones
    utc = pl.Datetime("us", "UTC")
    day = period_date(pl.col("interval_start"), "day", utc, cals)
    if start is not None:
        lf = lf.filter(day >= start)
    if end is not None:
        lf = lf.filter(day <= end)
    iv = (lf.group_by(*QUEUE_KEYS, "interval_start")
          .agg(pl.col("offered").sum(), pl.col("handled").sum(), pl.col("handle_seconds").sum(),
               pl.col("interval_minutes").first(), pl.col("sl_threshold_seconds").first())
          .collect())
    if iv.height == 0:
        raise StaffingError("no contact_intervals rows in scope for the period; import interval reports "
                            "(voice/chat queue statistics) first")
    targets = _sl_targets(ws, scope, at=end)
    # AHT per queue from the whole period (interval AHT is too noisy to staff to)
    aht = iv.group_by("queue_id").agg((pl.col("handle_seconds").sum() / pl.col("handled").sum()).alias("aht"))
    start_at = pl.col("interval_start")
    iv = iv.join(aht, on="queue_id").with_columns(
        period_date(start_at, "day", utc, cals).alias("date"),
        local_clock(start_at, utc, cals, lambda t: t.dt.hour().cast(pl.Int32) * 60 + t.dt.minute().cast(pl.Int32)).alias("minute_of_day"),
        local_clock(start_at, utc, cals, lambda t: t.dt.weekday()).alias("weekday_no"),
    )
    profile = iv.group_by("queue_id", "minute_of_day").agg(pl.col("offered").sum())
    profile = profile.with_columns((pl.col("offered") / pl.col("offered").sum().over("queue_id")).alias("profile")).drop("offered")
    sched = daily_on_queue(ws, scope, start=start, end=end)
    iv = iv.join(profile, on=["queue_id", "minute_of_day"], how="left").join(
        sched, on=["client_id", "site_id", "channel", "date"], how="left")
    iv = iv.with_columns(
        (pl.col("on_queue_seconds").fill_null(0) * pl.col("profile").fill_null(0)
         / (pl.col("interval_minutes") * 60)).alias("scheduled"))
    keys = iv.select("client_id", "channel", "sl_threshold_seconds").to_dicts()
    share_arr = np.array([(target or targets.get((k["client_id"], k["channel"]))
                           or StaffingTarget(0.8, k["sl_threshold_seconds"] or 20.0)).share for k in keys])
    secs_arr = np.array([(target or targets.get((k["client_id"], k["channel"]))
                          or StaffingTarget(0.8, k["sl_threshold_seconds"] or 20.0)).seconds for k in keys])
    required = _required_vector(iv["offered"].to_numpy().astype(float), iv["aht"].fill_nan(0).fill_null(0).to_numpy(),
                                iv["interval_minutes"].to_numpy().astype(float) * 60, share_arr, secs_arr)
    iv = iv.with_columns(pl.Series("required", required, dtype=pl.Float64), pl.Series("share", share_arr))
    # Erlang C's requirement in rostered agents: divided by the factor at which the model reproduces the
    # service level the queue measured over the same intervals
    measured = (measured_service_level(ws, scope, start=start, end=end).group_by("queue_id")
                .agg(pl.col("numerator").sum(), pl.col("denominator").sum()))
    factors = []
    for (queue_id,), g in iv.partition_by(["queue_id"], as_dict=True).items():
        m = measured.filter(pl.col("queue_id") == queue_id)
        observed = (m["numerator"].item() / m["denominator"].item()) if m.height and m["denominator"].item() else float("nan")
        factor = float(staffing_factor(scheduled=g["scheduled"].to_numpy(), calls=g["offered"].to_numpy().astype(float),
                                 aht=float(g["aht"].fill_nan(0).fill_null(0)[0]), interval=float(g["interval_minutes"][0]) * 60,
                                 threshold=float(g["sl_threshold_seconds"][0] or 20.0), observed=observed))
        factors.append({"queue_id": queue_id, "service_level": observed, "staffing_factor": factor})
    iv = iv.join(pl.DataFrame(factors, schema={"queue_id": pl.String, "service_level": pl.Float64,
                                               "staffing_factor": pl.Float64}), on="queue_id", how="left")
    iv = iv.with_columns(pl.col("required") / pl.col("staffing_factor").fill_nan(1.0).fill_null(1.0)).with_columns(
        (pl.col("required") - pl.col("scheduled")).alias("gap"))
    queues = (iv.group_by(*QUEUE_KEYS)
              .agg(pl.col("offered").sum(), pl.col("service_level").first(), pl.col("share").first().alias("target"),
                   pl.col("staffing_factor").first(),
                   ((pl.col("gap") * pl.col("offered")).sum() / pl.col("offered").sum()).alias("gap"))
              .with_columns((pl.col("service_level") >= pl.col("target")).alias("met"))
              .sort("queue_id"))
    intervals = iv.select(*QUEUE_KEYS, "interval_start", "offered", "aht", "required", "scheduled", "gap").sort(
        "queue_id", "interval_start")
    pattern = (iv.group_by(*QUEUE_KEYS, "weekday_no", "minute_of_day")
               .agg(pl.col("required").mean(), pl.col("scheduled").mean(), pl.col("gap").mean(), pl.len().alias("n"))
               .with_columns(pl.col("weekday_no").map_elements(lambda d: WEEKDAYS[d - 1], return_dtype=pl.String).alias("weekday"),
                             pl.format("{}:{}", (pl.col("minute_of_day") // 60).cast(pl.String).str.zfill(2),
                                       (pl.col("minute_of_day") % 60).cast(pl.String).str.zfill(2)).alias("time"))
               .sort(*QUEUE_KEYS, "weekday_no", "minute_of_day"))
    worst = pattern.filter(pl.col("gap") > 0).sort("gap", descending=True).head(top)
    return StaffingGap(intervals, pattern, worst, target or StaffingTarget(0.8, 20.0), queues, calendar=cals.reference.name)


def _required_vector(calls: np.ndarray, aht: np.ndarray, interval: np.ndarray, share: np.ndarray,
                     seconds: np.ndarray) -> np.ndarray:
    """required_agents with a per-element target."""
    a = _load(calls, aht, interval)
    n = np.where(a > 0, np.floor(a).astype(np.int64) + 1, 0)
    for _ in range(MAX_AGENTS):
        ok = (a <= 0) | (service_level(n, calls, aht, interval, seconds) >= share)
        if ok.all():
            return n.astype(float)
        n = np.where(ok, n, n + 1)
    raise StaffingError(f"no staffing up to {MAX_AGENTS} agents meets the target; check calls and AHT")
