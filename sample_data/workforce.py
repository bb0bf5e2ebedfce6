"""Agents: hiring cohorts, tenure, terminations, schedules; the staffing roster and who is on shift."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sample_data.calendar import Calendar
from sample_data.operation import (CHANNELS, GROUPS, HANDLE,
                                   HEADCOUNT_AT_SCALE_1, HIRE_EVERY_WEEKS, MONTHLY_ATTRITION, NESTING_DAYS,
                                   SHIFT_SECONDS, SITES, SOURCE_SYSTEM, TERMINATION_REASONS, VOICE_PARTS, VOLUNTARY_SHARE,
                                   group_of)
from sample_data.stories import Story
from sample_data.volume import CLIENT_IDS, SITE_IDS, Lanes

NEVER = 1 << 30
EARLY_TENURE_DAYS = 90
EARLY_TENURE_HAZARD = 1.6
TERM_TYPES = ("voluntary", "involuntary")
TERM_REASONS = [r for t in TERM_TYPES for r in TERMINATION_REASONS[t]]


@dataclass(frozen=True)
class Pool:
    """Agents of one site serving one client in one skill group."""

    site: int
    client: int
    group: int
    channels: tuple[int, ...]  # channels the pool's lanes carry
    channel_weights: tuple[float, ...]


@dataclass
class Agents:
    """Every agent who worked in the calendar, as parallel arrays (index = agent number)."""

    pool: np.ndarray
    hire_day: np.ndarray
    term_day: np.ndarray  # NEVER if still employed at the end
    term_reason: np.ndarray  # index into TERM_REASONS, -1 if none
    skill: np.ndarray  # handle-time multiplier (lower is faster)
    quality: np.ndarray  # QA accuracy level 0..1
    off_day: np.ndarray  # first of two consecutive weekdays off
    story_cohort: np.ndarray  # hired in a cohort that a story marks
    channel: np.ndarray  # primary channel index
    ids: np.ndarray  # agent ids (object array of str)


@dataclass
class Workforce:
    """Pools, agents, the roster frame and the on-shift lookup used to assign tickets."""

    pools: list[Pool]
    agents: Agents
    roster: pl.DataFrame
    slot_key: np.ndarray  # sorted pool * n_days + day of every on-shift agent-day
    slot_agent: np.ndarray
    lane_pool: np.ndarray  # pool index of every lane


def build_pools(lanes: Lanes) -> tuple[list[Pool], np.ndarray]:
    """One pool per (site, client, group) that has lanes; and each lane's pool."""
    keys: dict[tuple[int, int, int], list[int]] = {}
    lane_pool = np.zeros(lanes.n, dtype=np.int64)
    for i in range(lanes.n):
        k = (int(lanes.site[i]), int(lanes.client[i]), GROUPS.index(group_of(CHANNELS[lanes.channel[i]])))
        keys.setdefault(k, []).append(i)
    pools = []
    for p, (k, idx) in enumerate(sorted(keys.items())):
        lane_pool[idx] = p
        vol = lanes.baseline[idx].sum(axis=1)
        pools.append(Pool(k[0], k[1], k[2], tuple(int(lanes.channel[i]) for i in idx), tuple(vol / vol.sum())))
    return pools, lane_pool


def _median_handle(channel: int) -> float:
    ch = CHANNELS[channel]
    return sum(m for m, _ in VOICE_PARTS.values()) if ch == "voice" else HANDLE[ch][0]


def _pool_targets(cal: Calendar, lanes: Lanes, pools: list[Pool], lane_pool: np.ndarray, scale: float) -> np.ndarray:
    """Headcount each pool needs per day (workload-weighted share of the operation's headcount)."""
    work = np.zeros((len(pools), cal.n_days))
    for i in range(lanes.n):
        work[lane_pool[i]] += lanes.baseline[i] * _median_handle(int(lanes.channel[i])) * SITES[SITE_IDS[lanes.site[i]]].handle_factor
    kernel = np.ones(28) / 28
    smooth = np.array([np.convolve(np.pad(w, (14, 13), mode="edge"), kernel, mode="valid") for w in work])
    total = HEADCOUNT_AT_SCALE_1 * np.sqrt(scale)
    share = smooth / smooth.mean(axis=1, keepdims=True) * (work.sum(axis=1) / work.sum())[:, None]
    return np.maximum(3.0, total * share)


def _hazard(cal: Calendar, pools: list[Pool], stories: tuple[Story, ...]) -> np.ndarray:
    """Daily termination hazard per pool and day (story multipliers applied)."""
    base = -np.log(1 - MONTHLY_ATTRITION) / 30.44
    h = np.full((len(pools), cal.n_days), base)
    for story in stories:
        for eff in story.effects:
            if eff.kind != "attrition":
                continue
            w = slice(max(0, 7 * cal.week_index(eff.weeks[0])), max(0, 7 * (cal.week_index(eff.weeks[1]) + 1)))
            for p, pool in enumerate(pools):
                if _pool_in(pool, story.segment):
                    h[p, w] *= eff.size
    return h


def _pool_in(pool: Pool, segment: dict[str, str]) -> bool:
    site = SITE_IDS[pool.site]
    checks = {"site_id": site, "client_id": CLIENT_IDS[pool.client], "vendor_id": SITES[site].vendor,
              "group": GROUPS[pool.group]}
    return all(checks[k] == v for k, v in segment.items() if k in checks)


def _term_days(hire: np.ndarray, hazard: np.ndarray, rng: np.random.Generator, n_days: int) -> np.ndarray:
    """First day each agent's cumulative hazard (calendar x tenure) exceeds an Exp(1) draw."""
    if hire.size == 0:
        return hire.copy()
    days = np.arange(n_days)
    tenure = days[None, :] - hire[:, None]
    h = hazard[None, :] * np.where(tenure < EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, 1.0)
    h = np.where(tenure > 0, h, 0.0)
    cum = np.cumsum(h, axis=1)
    hit = cum >= rng.exponential(1.0, size=hire.size)[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), NEVER)


def simulate_agents(cal: Calendar, lanes: Lanes, scale: float, stories: tuple[Story, ...],
                    rng: np.random.Generator) -> tuple[list[Pool], np.ndarray, Agents]:
    """Initial staff, then a hiring cohort every few weeks sized to the pool's need."""
    pools, lane_pool = build_pools(lanes)
    target = _pool_targets(cal, lanes, pools, lane_pool, scale)
    hazard = _hazard(cal, pools, stories)
    cohort_weeks: dict[int, set[int]] = {}
    forced: dict[tuple[int, int], bool] = {}
    for story in stories:
        for eff in story.effects:
            if eff.kind == "cohort_handle" and 0 <= cal.week_index(eff.weeks[0]) < cal.weeks:
                for p, pool in enumerate(pools):
                    if _pool_in(pool, story.segment):
                        forced[(p, cal.week_index(eff.weeks[0]))] = True
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("pool", "hire", "term", "cohort")}
    leave_4w = 1 - np.exp(-28 * hazard.mean())
    for p in range(len(pools)):
        weeks = {w for w in range(1, cal.weeks) if (w - p) % HIRE_EVERY_WEEKS == 0}
        weeks |= {w for (q, w) in forced if q == p}
        n0 = int(round(target[p, 0]))
        hire = -rng.integers(60, 1100, size=n0)
        term = _term_days(hire, hazard[p], rng, cal.n_days)
        hires, terms, cohort = [hire], [term], [np.zeros(n0, dtype=bool)]
        for w in sorted(weeks):
            day = 7 * w
            all_hire, all_term = np.concatenate(hires), np.concatenate(terms)
            active = int(((all_hire <= day) & (all_term > day)).sum())
            need = target[p, min(day + 28, cal.n_days - 1)]
            n = int(round(need - active * (1 - leave_4w)))
            is_story = forced.get((p, w), False)
            if is_story:
                n = max(n, int(round(0.3 * target[p, day])), 4)
            if n <= 0:
                continue
            h = np.full(n, day)
            hires.append(h)
            terms.append(_term_days(h, hazard[p], rng, cal.n_days))
            cohort.append(np.full(n, is_story))
        cols["pool"].append(np.full(sum(len(h) for h in hires), p))
        cols["hire"].append(np.concatenate(hires))
        cols["term"].append(np.concatenate(terms))
        cols["cohort"].append(np.concatenate(cohort))
    pool = np.concatenate(cols["pool"])
    hire = np.concatenate(cols["hire"])
    term = np.concatenate(cols["term"])
    n = pool.size
    voluntary = rng.random(n) < VOLUNTARY_SHARE
    reason = np.where(
        voluntary,
        rng.choice(len(TERMINATION_REASONS["voluntary"]), size=n, p=list(TERMINATION_REASONS["voluntary"].values())),
        len(TERMINATION_REASONS["voluntary"])
        + rng.choice(len(TERMINATION_REASONS["involuntary"]), size=n, p=list(TERMINATION_REASONS["involuntary"].values())),
    )
    # a story's attrition wave is people leaving for a better offer
    spike = np.zeros(n, dtype=bool)
    for p_i in range(len(pools)):
        in_pool = (pool == p_i) & (term < cal.n_days)
        base = -np.log(1 - MONTHLY_ATTRITION) / 30.44
        mult = hazard[p_i, np.clip(term, 0, cal.n_days - 1)] / base
        spike |= in_pool & (rng.random(n) < 1 - 1 / np.maximum(mult, 1.0))
    reason = np.where(spike, TERM_REASONS.index("better offer"), reason)
    reason = np.where(term < cal.n_days, reason, -1)
    per_agent_channel = np.zeros(n, dtype=np.int64)
    for q, pl_ in enumerate(pools):
        members = pool == q
        per_agent_channel[members] = rng.choice(pl_.channels, size=int(members.sum()), p=pl_.channel_weights)
    order = np.lexsort((np.arange(n), hire, np.array([pools[q].site for q in pool])))
    ids = np.empty(n, dtype=object)
    site_of = np.array([pools[q].site for q in pool])
    for s in np.unique(site_of):
        members = order[site_of[order] == s]
        ids[members] = [f"{SITE_IDS[s]}-{k + 1:04d}" for k in range(members.size)]
    agents = Agents(
        pool=pool, hire_day=hire, term_day=term, term_reason=reason,
        skill=rng.lognormal(0.0, 0.12, size=n), quality=np.clip(rng.normal(0.9, 0.04, size=n), 0.6, 0.99),
        off_day=rng.choice(7, size=n, p=[0.06, 0.08, 0.1, 0.1, 0.14, 0.26, 0.26]),
        story_cohort=np.concatenate(cols["cohort"]), channel=per_agent_channel, ids=ids,
    )
    return pools, lane_pool, agents


def build_roster(cal: Calendar, pools: list[Pool], agents: Agents, stories: tuple[Story, ...],
                 rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """One row per agent per scheduled day (plus the termination day); and the on-shift lookup."""
    start = np.maximum(agents.hire_day, 0)
    stop = np.minimum(agents.term_day, cal.n_days - 1)
    length = np.maximum(stop - start + 1, 0)
    a = np.repeat(np.arange(agents.pool.size), length)
    offsets = np.repeat(np.cumsum(length) - length, length)
    day = start[a] + np.arange(a.size) - offsets
    dow = day % 7
    off = (dow == agents.off_day[a]) | (dow == (agents.off_day[a] + 1) % 7)
    terminated = day == agents.term_day[a]
    keep = ~off | terminated
    a, day, dow, terminated = a[keep], day[keep], dow[keep], terminated[keep]
    n = a.size
    tenure = day - agents.hire_day[a]
    nesting = tenure < NESTING_DAYS
    scheduled = np.where(terminated, 0.0, float(SHIFT_SECONDS))
    absent = (rng.random(n) < 0.045) & ~terminated
    absence = np.where(absent, scheduled, 0.0)
    logged = np.where(absent, 0.0, scheduled * np.clip(rng.normal(0.985, 0.02, n), 0.9, 1.02))
    training = np.where(nesting, 3 * 3600.0, np.where(dow == (agents.off_day[a] + 2) % 7, 3600.0, 0.0))
    training = _coaching_hours(cal, pools, agents, a, day, training, stories)
    training = np.minimum(training, logged)
    on_queue = np.maximum(logged - training - 3600.0 * (logged > 0), 0.0)
    handle = on_queue * np.clip(rng.normal(0.78, 0.06, n), 0.4, 0.95)
    adherent = np.maximum(scheduled * np.clip(rng.normal(0.92, 0.03, n), 0.7, 1.0) - absence, 0.0)
    status = np.where(terminated, 2, np.where(nesting, 0, 1))
    pool_site = np.array([p.site for p in pools])[agents.pool[a]]
    pool_client = np.array([p.client for p in pools])[agents.pool[a]]
    reason = agents.term_reason[a]
    term_type = np.where(reason < 0, -1, np.where(reason < len(TERMINATION_REASONS["voluntary"]), 0, 1))
    roster = pl.DataFrame({
        "agent_id": pl.Series(agents.ids[a], dtype=pl.String),
        "date_idx": day,
        "site_idx": pool_site,
        "client_idx": pool_client,
        "status_idx": status,
        "channel_idx": agents.channel[a],
        "hire_idx": agents.hire_day[a],
        "term_idx": np.where(terminated, agents.term_day[a], -(1 << 20)),
        "reason_idx": np.where(terminated, reason, -1),
        "type_idx": np.where(terminated, term_type, -1),
        "scheduled_seconds": scheduled, "logged_seconds": logged, "on_queue_seconds": on_queue,
        "handle_seconds": handle, "adherent_seconds": adherent, "absence_seconds": absence,
        "training_seconds": training,
    })
    on_shift = ~terminated & ~absent
    key = agents.pool[a[on_shift]].astype(np.int64) * cal.n_days + day[on_shift]
    order = np.argsort(key, kind="stable")
    return roster, key[order], a[on_shift][order]


def _coaching_hours(cal: Calendar, pools: list[Pool], agents: Agents, a: np.ndarray, day: np.ndarray,
                    training: np.ndarray, stories: tuple[Story, ...]) -> np.ndarray:
    """A coaching pilot adds an hour of 1:1 coaching a week to every agent of its segment."""
    for story in stories:
        if story.event is None or story.event.kind != "pilot":
            continue
        w0, w1 = cal.week_index(story.event.weeks[0]), cal.week_index(story.event.weeks[1])
        in_pool = np.array([_pool_in(p, story.segment) for p in pools])[agents.pool[a]]
        hit = in_pool & (day >= 7 * w0) & (day < 7 * (w1 + 1)) & (day % 7 == 2)
        training = np.where(hit, training + 3600.0, training)
    return training


def roster_frame(cal: Calendar, roster: pl.DataFrame, instance: str) -> pl.DataFrame:
    """The roster in the canonical staffing_roster shape."""
    day0 = pl.lit(cal.start)
    status = ("nesting", "active", "terminated")
    f = roster
    date_col = (day0 + pl.duration(days=pl.col("date_idx"))).cast(pl.Date)
    updated = (date_col.cast(pl.Datetime("us", "UTC")) + pl.duration(hours=23, minutes=30))
    return f.select(
        pl.lit(SOURCE_SYSTEM).alias("source_system"),
        pl.lit(instance).alias("source_instance"),
        (updated + pl.duration(hours=3)).alias("ingested_at"),
        updated.alias("updated_at"),
        pl.col("client_idx").replace_strict(dict(enumerate(CLIENT_IDS)), return_dtype=pl.String).alias("client_id"),
        pl.col("site_idx").replace_strict({i: SITES[s].vendor for i, s in enumerate(SITE_IDS)}, return_dtype=pl.String).alias("vendor_id"),
        pl.col("site_idx").replace_strict(dict(enumerate(SITE_IDS)), return_dtype=pl.String).alias("site_id"),
        pl.col("agent_id"),
        date_col.alias("date"),
        pl.lit("agent").alias("role"),
        pl.col("status_idx").replace_strict(dict(enumerate(status)), return_dtype=pl.String).alias("status"),
        pl.col("channel_idx").replace_strict(dict(enumerate(CHANNELS)), return_dtype=pl.String).alias("channel"),
        (day0 + pl.duration(days=pl.col("hire_idx"))).cast(pl.Date).alias("hire_date"),
        pl.when(pl.col("term_idx") >= 0).then((day0 + pl.duration(days=pl.col("term_idx"))).cast(pl.Date)).alias("termination_date"),
        pl.col("reason_idx").replace_strict(dict(enumerate(TERM_REASONS)), default=None, return_dtype=pl.String).alias("termination_reason"),
        pl.col("type_idx").replace_strict(dict(enumerate(TERM_TYPES)), default=None, return_dtype=pl.String).alias("termination_type"),
        "scheduled_seconds", "logged_seconds", "on_queue_seconds", "handle_seconds", "adherent_seconds",
        "absence_seconds", "training_seconds",
    )


def build_workforce(cal: Calendar, lanes: Lanes, scale: float, stories: tuple[Story, ...],
                    rng: np.random.Generator) -> Workforce:
    """Simulate the agents and their roster."""
    pools, lane_pool, agents = simulate_agents(cal, lanes, scale, stories, rng)
    roster, slot_key, slot_agent = build_roster(cal, pools, agents, stories, rng)
    return Workforce(pools, agents, roster, slot_key, slot_agent, lane_pool)
