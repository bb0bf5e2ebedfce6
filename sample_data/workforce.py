"""Agents sized from the workload: hiring cohorts, tenure, terminations, rotas; the roster and who is on shift.

Planning (before any ticket exists): each skill pool (site x client x voice/digital) needs
`weekly handle hours / (TARGET_OCCUPANCY x (1 - PLANNED_SHRINKAGE) x FTE_HOURS)` agents, computed per
lane (site x client x channel) from the expected contacts and the channel's mean handle time and summed
into the pool.  Cohorts are hired every `HIRE_EVERY_WEEKS` weeks, `NESTING_DAYS` ahead of the weeks they
must cover, so seasonal peaks and the launch are staffed before they arrive; attrition thins the pool
between cohorts.  Days off are rota'd so the agents on shift follow the pool's day-of-week workload.

Settling (after the tickets): every ticket was given to an agent on shift in its pool that day, in
proportion to the agent's on-queue time, so the roster's handle time is the tickets' handle time.
Real-time management then sends agents home (voluntary time off) on quiet pool-days and adds overtime on
busy ones, keeping occupancy inside `OCCUPANCY_BAND`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl
from scipy.optimize import nnls

from sample_data.calendar import Calendar
from sample_data.operation import (ABSENCE_RATE, AGENT_OCCUPANCY_CAP, AUX_SECONDS, BREAK_SECONDS, CHANNELS, FTE_HOURS,
                                   GROUPS, HANDLE, HIRE_EVERY_WEEKS, MAX_OVERTIME, MAX_VTO, MIN_POOL_AGENTS,
                                   MONTHLY_ATTRITION, NESTING_DAYS, OCCUPANCY_BAND, PLANNED_SHRINKAGE, REPEAT_BASE,
                                   SHIFT_SECONDS, SITES, SOURCE_SYSTEM, STAFFING_SLACK, TARGET_OCCUPANCY,
                                   TERMINATION_REASONS, VOICE_PARTS, VOLUNTARY_SHARE, group_of)
from sample_data.stories import Story
from sample_data.volume import CLIENT_IDS, SITE_IDS, Lanes, expected_volume

NEVER = 1 << 30
EARLY_TENURE_DAYS = 90
EARLY_TENURE_HAZARD = 1.6
LEARNING_EXCESS = 0.25  # new agents handle this much slower, back to normal after three nesting periods
SKILL_SIGMA = 0.12  # log-sd of agents' handle-time multiplier
PLANNED_EFFECTS = ("reroute",)  # story effects the planner knows in advance (a vendor change is announced)
TERM_TYPES = ("voluntary", "involuntary")
TERM_REASONS = [r for t in TERM_TYPES for r in TERMINATION_REASONS[t]]
WAVE_REASON = "better offer"
GOLDEN = 0.6180339887498949


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
    off_day: np.ndarray  # first of two consecutive days off (0 = Monday)
    story_cohort: np.ndarray  # hired in a cohort that a story marks
    channel: np.ndarray  # primary channel index
    ids: np.ndarray  # agent ids (object array of str)
    fte: np.ndarray  # contracted share of a full-time week (1.0, 0.75 or 0.5): shift length


@dataclass
class Workforce:
    """Pools, agents, the roster (handle time filled in by `settle`) and the on-shift lookup for tickets."""

    pools: list[Pool]
    agents: Agents
    roster: pl.DataFrame
    slot_key: np.ndarray  # sorted pool * n_days + day of every on-shift agent-day
    slot_agent: np.ndarray
    slot_upper: np.ndarray  # key + cumulative share of the key's on-queue capacity (assignment by stratified draw)
    slot_row: np.ndarray  # roster row of each slot
    lane_pool: np.ndarray  # pool index of every lane
    n_days: int
    cohort_excess: float = 0.0  # handle-time excess of the story cohort
    cohort_days: tuple[int, int] = (0, 0)  # [first, last) day the excess applies
    handled: np.ndarray = field(default_factory=lambda: np.zeros(0))  # handle seconds per slot, summed by `add_handle`

    def handle_factor(self, agent: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Handle-time multiplier of each agent on each day: skill x learning curve (x the story cohort's excess)."""
        ag = self.agents
        tenure = day - ag.hire_day[agent]
        learning = 1 + LEARNING_EXCESS * np.clip(1 - tenure / (3 * NESTING_DAYS), 0, 1)
        in_story = ag.story_cohort[agent] & (day >= self.cohort_days[0]) & (day < self.cohort_days[1])
        # the story cohort never climbs the learning curve back to tenured speed
        return ag.skill[agent] * np.where(in_story, 1 + self.cohort_excess, learning)

    def assign(self, lane: np.ndarray, day: np.ndarray, created: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Slot (agent-day) of each contact: spread over the pool's agents on shift by their capacity; -1 if none."""
        if lane.size == 0:
            return np.zeros(0, dtype=np.int64)
        key = self.lane_pool[lane] * self.n_days + day
        order = np.lexsort((created, key))
        k_sorted = key[order]
        first = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
        size = np.diff(np.r_[first, k_sorted.size])
        start = np.repeat(first, size)
        phase = np.repeat(rng.random(key.size)[order][first], size)  # one draw per contact: keeps the stream aligned
        u = (np.arange(k_sorted.size) - start + phase) / np.repeat(size, size)
        slot = np.full(key.size, -1, dtype=np.int64)
        if self.slot_key.size:
            pos = np.searchsorted(self.slot_upper, k_sorted + np.minimum(u, 1 - 1e-9), side="right")
            pos = np.minimum(pos, self.slot_key.size - 1)
            slot[order] = np.where(self.slot_key[pos] == k_sorted, pos, -1)
        return slot

    def add_handle(self, slot: np.ndarray, handle: np.ndarray) -> None:
        """Add contacts' handle seconds to the agent-days that worked them."""
        has = slot >= 0
        self.handled += np.bincount(slot[has], weights=handle[has], minlength=self.handled.size)

    def settle(self) -> pl.DataFrame:
        """The roster with handle time, overtime and voluntary time off from the work actually handled."""
        r = self.roster
        n = r.height
        handle = np.zeros(n)
        handle[self.slot_row] = self.handled
        on_queue = r["on_queue_seconds"].to_numpy().copy()
        # pool-day flex: voluntary time off on quiet days, overtime on busy ones
        flex = np.ones(n)
        if self.slot_row.size:
            first = np.flatnonzero(np.r_[True, self.slot_key[1:] != self.slot_key[:-1]])
            work = np.add.reduceat(self.handled, first)
            cap = np.add.reduceat(on_queue[self.slot_row], first)
            occ = work / np.maximum(cap, 1.0)
            low, high = OCCUPANCY_BAND
            f = np.where(occ > high, np.minimum(occ / high, 1 + MAX_OVERTIME),
                         np.where(occ < low, np.maximum(occ / low, 1 - MAX_VTO), 1.0))
            size = np.diff(np.r_[first, self.slot_key.size])
            flex[self.slot_row] = np.repeat(f, size)
        target = on_queue * flex
        # an agent busier than the cap stayed on (individual overtime)
        target = np.maximum(target, handle / AGENT_OCCUPANCY_CAP)
        delta = target - on_queue
        scheduled = r["scheduled_seconds"].to_numpy() + delta
        logged = r["logged_seconds"].to_numpy() + delta
        adherent = np.minimum(r["adherent_seconds"].to_numpy() + np.minimum(delta, 0.0) + np.maximum(delta, 0.0) * 0.97,
                              scheduled)
        return r.with_columns(
            pl.Series("scheduled_seconds", scheduled), pl.Series("logged_seconds", logged),
            pl.Series("on_queue_seconds", target), pl.Series("handle_seconds", handle),
            pl.Series("adherent_seconds", np.maximum(adherent, 0.0)),
        )


# --------------------------------------------------------------------------- planning


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


def mean_handle(channel: str) -> float:
    """Expected handle seconds of one contact on a channel (mean of the log-normal draws)."""
    if channel == "voice":
        talk, hold, acw = (m * np.exp(s * s / 2) for m, s in VOICE_PARTS.values())
        return float(talk + 0.45 * hold + acw)
    m, s = HANDLE[channel]
    return float(m * np.exp(s * s / 2))


def planned_hours(cal: Calendar, lanes: Lanes, pools: list[Pool], lane_pool: np.ndarray) -> np.ndarray:
    """Expected handle hours per pool and day (contacts incl. repeat contacts x mean handle x site factor)."""
    work = np.zeros((len(pools), cal.n_days))
    per_contact = (1 + REPEAT_BASE * 1.3) * np.exp(SKILL_SIGMA ** 2 / 2) / 3600
    for i in range(lanes.n):
        site = SITES[SITE_IDS[lanes.site[i]]]
        work[lane_pool[i]] += lanes.expected[i] * mean_handle(CHANNELS[lanes.channel[i]]) * site.handle_factor * per_contact
    return work


def required_agents(cal: Calendar, hours: np.ndarray) -> np.ndarray:
    """FTE each pool needs per week: weekly handle hours over one FTE's productive hours, plus slack."""
    weekly = hours.reshape(hours.shape[0], cal.weeks, 7).sum(axis=2)
    fte = weekly / (TARGET_OCCUPANCY * (1 - PLANNED_SHRINKAGE) * FTE_HOURS)
    return fte * (1 + STAFFING_SLACK)


def _pool_in(pool: Pool, segment: dict[str, str]) -> bool:
    site = SITE_IDS[pool.site]
    checks = {"site_id": site, "client_id": CLIENT_IDS[pool.client], "vendor_id": SITES[site].vendor,
              "group": GROUPS[pool.group]}
    return all(checks[k] == v for k, v in segment.items() if k in checks)


def _term_days(hire: np.ndarray, rng: np.random.Generator, n_days: int) -> np.ndarray:
    """First day each agent's cumulative hazard (base x early-tenure) exceeds an Exp(1) draw."""
    if hire.size == 0:
        return hire.copy()
    base = -np.log(1 - MONTHLY_ATTRITION) / 30.44
    days = np.arange(n_days)
    tenure = days[None, :] - hire[:, None]
    h = np.where(tenure > 0, base * np.where(tenure < EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, 1.0), 0.0)
    cum = np.cumsum(h, axis=1)
    hit = cum >= rng.exponential(1.0, size=hire.size)[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), NEVER)


@dataclass
class _Plan:
    """Story hooks for the hiring simulation: attrition waves and the marked cohort."""

    waves: list[tuple[set[int], float, int, int]]  # (pools, share leaving, first day, end day)
    cohort: dict[tuple[int, int], bool]  # (pool, week) -> the story's marked cohort is hired then


def _story_plan(cal: Calendar, pools: list[Pool], stories: tuple[Story, ...]) -> _Plan:
    waves, cohort = [], {}
    for story in stories:
        members = {p for p, pool in enumerate(pools) if _pool_in(pool, story.segment)}
        for eff in story.effects:
            w0, w1 = cal.week_index(eff.weeks[0]), cal.week_index(eff.weeks[1])
            if eff.kind == "attrition" and w1 >= 0:
                waves.append((members, eff.size, 7 * max(w0, 0), 7 * (w1 + 1)))
            if eff.kind == "cohort_handle" and 0 <= w0 < cal.weeks:
                cohort.update({(p, w0): True for p in members})
    return _Plan(waves, cohort)


def contracts(fte: float, heads: int) -> list[float]:
    """Contracts (1.0 full-time, 0.75 or 0.5 part-time) adding about `fte`, so the pool keeps MIN_POOL_AGENTS heads."""
    steps = round(max(fte, 0.0) * 4) / 4
    full = int(steps)
    rem = steps - full
    out = [1.0] * full + ([rem] if rem >= 0.5 else [])
    while heads + len(out) < MIN_POOL_AGENTS:
        if 1.0 in out:
            out.remove(1.0)
            out += [0.5, 0.5]
        else:
            out.append(0.5)
    return out


def simulate_agents(cal: Calendar, need: np.ndarray, pools: list[Pool], stories: tuple[Story, ...],
                    rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Initial staff, then cohorts every few weeks sized (in FTE) to cover the weeks after they finish nesting.

    Returns parallel arrays: pool, hire day, termination day, FTE, left in a story's wave, in the story cohort.
    """
    plan = _story_plan(cal, pools, stories)
    leave_4w = 1 - np.exp(-28 * (-np.log(1 - MONTHLY_ATTRITION) / 30.44) * 1.1)
    keys = ("pool", "hire", "term", "fte", "wave", "cohort")
    out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    nest_weeks = NESTING_DAYS // 7
    for p in range(len(pools)):
        story_weeks = {w for (q, w) in plan.cohort if q == p}
        phase = min(story_weeks) % HIRE_EVERY_WEEKS if story_weeks else p % HIRE_EVERY_WEEKS
        fte = np.array(contracts(need[p, :nest_weeks + HIRE_EVERY_WEEKS].mean(), 0))
        hire = -rng.integers(90, 1500, size=fte.size)
        term = _term_days(hire, rng, cal.n_days)
        wave, cohort = np.zeros(fte.size, dtype=bool), np.zeros(fte.size, dtype=bool)
        for w in range(1, cal.weeks):
            day = 7 * w
            for members, share, d0, d1 in plan.waves:
                if p in members and day - 7 < max(d0, 1) <= day:
                    # a competitor's offer: a share of the pool leaves, spread over the window
                    staff = np.flatnonzero((hire <= d0) & (term > d0))
                    k = min(int(np.round(share * staff.size)), staff.size)
                    gone = rng.choice(staff, size=k, replace=False)
                    term[gone] = np.minimum(term[gone], rng.integers(d0 + 1, d1, size=k))
                    wave[gone] = True
            active = (hire <= day) & (term > day)
            is_story = (p, w) in plan.cohort
            if (w - phase) % HIRE_EVERY_WEEKS == 0 or is_story:
                # the cohort graduates in `nest_weeks` and must cover the weeks until the next one does
                horizon = need[p, min(w + nest_weeks, cal.weeks - 1):min(w + nest_weeks + HIRE_EVERY_WEEKS, cal.weeks)]
                gap = horizon.mean() - fte[active].sum() * (1 - leave_4w)
                new = contracts(gap, int(active.sum()))
                if is_story:  # the marked cohort is the class recruited to replace a wave's leavers, like for like
                    replaced = fte[wave & (term <= day)]
                    new = list(replaced) + contracts(gap - replaced.sum(), int(active.sum()) + replaced.size)
            else:
                new = contracts(0.0, int(active.sum()))  # back-fill a pool that fell below its minimum heads
            if not new:
                continue
            h = np.full(len(new), day)
            hire = np.r_[hire, h]
            term = np.r_[term, _term_days(h, rng, cal.n_days)]
            fte = np.r_[fte, new]
            wave = np.r_[wave, np.zeros(len(new), dtype=bool)]
            cohort = np.r_[cohort, np.full(len(new), is_story)]
        for k, v in zip(keys, (np.full(fte.size, p), hire, term, fte, wave, cohort)):
            out[k].append(v)
    return tuple(np.concatenate(out[k]) for k in keys)


def _off_pairs(hours: np.ndarray) -> np.ndarray:
    """Share of agents to give each pair of consecutive days off (pair k: days k, k+1), matching the workload."""
    by_dow = hours.reshape(-1, 7).sum(axis=0)
    share = by_dow / by_dow.sum()
    off = np.clip(1 - 5 * share, 0.0, 1.0)  # share of agents off each weekday so that on-shift ~ workload
    a = np.zeros((7, 7))
    for k in range(7):
        a[k, k] = a[(k + 1) % 7, k] = 1.0
    x, _ = nnls(a, off)
    return x / x.sum() if x.sum() > 0 else np.full(7, 1 / 7)


def make_agents(cal: Calendar, pools: list[Pool], hours: np.ndarray, need: np.ndarray, stories: tuple[Story, ...],
                rng: np.random.Generator) -> Agents:
    """Simulate hiring and leaving, then give every agent a skill, a rota, a primary channel and an id."""
    pool, hire, term, fte, wave, cohort = simulate_agents(cal, need, pools, stories, rng)
    n = pool.size
    voluntary = rng.random(n) < VOLUNTARY_SHARE
    n_vol = len(TERMINATION_REASONS["voluntary"])
    reason = np.where(
        voluntary,
        rng.choice(n_vol, size=n, p=list(TERMINATION_REASONS["voluntary"].values())),
        n_vol + rng.choice(len(TERMINATION_REASONS["involuntary"]), size=n, p=list(TERMINATION_REASONS["involuntary"].values())),
    )
    reason = np.where(wave, TERM_REASONS.index(WAVE_REASON), reason)
    reason = np.where(term < cal.n_days, reason, -1)
    channel = np.zeros(n, dtype=np.int64)
    off_day = np.zeros(n, dtype=np.int64)
    for q, pl_ in enumerate(pools):
        members = np.flatnonzero(pool == q)
        members = members[np.lexsort((members, hire[members]))]
        channel[members] = rng.choice(pl_.channels, size=members.size, p=pl_.channel_weights)
        # rota: a low-discrepancy walk through the pair shares keeps any subset of the pool balanced
        u = (rng.random() + GOLDEN * np.arange(members.size)) % 1.0
        off_day[members] = np.minimum(np.searchsorted(np.cumsum(_off_pairs(hours[q])), u, side="right"), 6)
    site_of = np.array([pools[q].site for q in pool])
    order = np.lexsort((np.arange(n), hire, site_of))
    ids = np.empty(n, dtype=object)
    for s in np.unique(site_of):
        members = order[site_of[order] == s]
        ids[members] = [f"{SITE_IDS[s]}-{k + 1:04d}" for k in range(members.size)]
    return Agents(
        pool=pool, hire_day=hire, term_day=term, term_reason=reason,
        skill=rng.lognormal(0.0, SKILL_SIGMA, size=n), quality=np.clip(rng.normal(0.9, 0.04, size=n), 0.6, 0.99),
        off_day=off_day, story_cohort=cohort, channel=channel, ids=ids, fte=fte,
    )


# --------------------------------------------------------------------------- the roster


def _rota(cal: Calendar, pools: list[Pool], agents: Agents, hours: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(scheduled, absent) agent x day matrices; a pool-day with work but nobody on shift calls an agent in."""
    day = np.arange(cal.n_days)
    employed = (day[None, :] >= agents.hire_day[:, None]) & (day[None, :] < agents.term_day[:, None])
    dow = cal.dow[None, :]
    off = (dow == agents.off_day[:, None]) | (dow == (agents.off_day[:, None] + 1) % 7)
    scheduled = employed & ~off
    absent = scheduled & (rng.random(scheduled.shape) < ABSENCE_RATE)
    for q in range(len(pools)):
        members = np.flatnonzero(agents.pool == q)
        on = (scheduled[members] & ~absent[members]).sum(axis=0)
        for d in np.flatnonzero((on == 0) & (hours[q] > 0)):
            can = members[employed[members, d]]
            if can.size:
                a = can[d % can.size]
                scheduled[a, d], absent[a, d] = True, False
    return scheduled, absent


def build_roster(cal: Calendar, pools: list[Pool], agents: Agents, hours: np.ndarray, stories: tuple[Story, ...],
                 rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    """One row per agent per scheduled day (plus the termination day); and which rows are on shift."""
    scheduled_m, absent_m = _rota(cal, pools, agents, hours, rng)
    a, day = np.nonzero(scheduled_m)
    absent = absent_m[a, day]
    t_agents = np.flatnonzero(agents.term_day < cal.n_days)
    a = np.concatenate([a, t_agents])
    day = np.concatenate([day, agents.term_day[t_agents]])
    terminated = np.r_[np.zeros(absent.size, dtype=bool), np.ones(t_agents.size, dtype=bool)]
    absent = np.r_[absent, np.zeros(t_agents.size, dtype=bool)]
    order = np.lexsort((day, a))
    a, day, terminated, absent = a[order], day[order], terminated[order], absent[order]
    n = a.size
    dow = day % 7
    nesting = day - agents.hire_day[a] < NESTING_DAYS
    part = agents.fte[a]  # part-timers work shorter shifts, with breaks and training in proportion
    scheduled = np.where(terminated, 0.0, SHIFT_SECONDS * part)
    absence = np.where(absent, scheduled, 0.0)
    logged = np.where(absent, 0.0, scheduled * np.clip(rng.normal(0.985, 0.02, n), 0.9, 1.02))
    weekly = dow == (agents.off_day[a] + 2) % 7  # the first day back after the days off
    training = np.where(nesting, 3 * 3600.0, np.where(weekly, 3600.0, 0.0)) * part
    training = _coaching_hours(cal, pools, agents, a, day, training, stories)
    training = np.minimum(training, logged)
    aux = np.where(logged > 0, (BREAK_SECONDS + AUX_SECONDS * rng.gamma(4.0, 0.25, n)) * part, 0.0)
    on_queue = np.maximum(logged - training - aux, 0.0)
    adherent = np.maximum(scheduled * np.clip(rng.normal(0.92, 0.03, n), 0.7, 1.0) - absence, 0.0)
    status = np.where(terminated, 2, np.where(nesting, 0, 1))
    pool_site = np.array([p.site for p in pools])[agents.pool[a]]
    pool_client = np.array([p.client for p in pools])[agents.pool[a]]
    reason = agents.term_reason[a]
    term_type = np.where(reason < 0, -1, np.where(reason < len(TERMINATION_REASONS["voluntary"]), 0, 1))
    roster = pl.DataFrame({
        "agent_id": pl.Series(agents.ids[a], dtype=pl.String),
        "agent_idx": a,
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
        "handle_seconds": np.zeros(n), "adherent_seconds": adherent, "absence_seconds": absence,
        "training_seconds": training,
    })
    return roster, ~terminated & ~absent


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
    """The (settled) roster in the canonical staffing_roster shape."""
    day0 = pl.lit(cal.start)
    status = ("nesting", "active", "terminated")
    date_col = (day0 + pl.duration(days=pl.col("date_idx"))).cast(pl.Date)
    updated = (date_col.cast(pl.Datetime("us", "UTC")) + pl.duration(hours=23, minutes=30))
    return roster.select(
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
        pl.col("scheduled_seconds").round(1), pl.col("logged_seconds").round(1), pl.col("on_queue_seconds").round(1),
        pl.col("handle_seconds").round(1), pl.col("adherent_seconds").round(1), pl.col("absence_seconds").round(1),
        pl.col("training_seconds").round(1),
    )


def planning_lanes(cal: Calendar, scale: float, stories: tuple[Story, ...]) -> Lanes:
    """The volume the planner staffs for: the base operation plus the story effects announced in advance."""
    known = tuple(replace(s, effects=tuple(e for e in s.effects if e.kind in PLANNED_EFFECTS)) for s in stories)
    return expected_volume(cal, scale, known)


def build_workforce(cal: Calendar, lanes: Lanes, scale: float, stories: tuple[Story, ...],
                    rng: np.random.Generator) -> Workforce:
    """Size the pools from the planned workload, simulate the agents and lay out their roster."""
    pools, lane_pool = build_pools(lanes)
    hours = planned_hours(cal, planning_lanes(cal, scale, stories), pools, lane_pool)
    need = required_agents(cal, hours)
    agents = make_agents(cal, pools, hours, need, stories, rng)
    roster, on_shift = build_roster(cal, pools, agents, hours, stories, rng)
    rows = np.flatnonzero(on_shift)
    a = roster["agent_idx"].to_numpy()[rows]
    day = roster["date_idx"].to_numpy()[rows]
    key = agents.pool[a].astype(np.int64) * cal.n_days + day
    order = np.argsort(key, kind="stable")
    key, a, day, rows = key[order], a[order], day[order], rows[order]
    excess, days = 0.0, (0, 0)
    for story in stories:
        for eff in story.effects:
            if eff.kind == "cohort_handle":
                excess = eff.size
                days = (7 * cal.week_index(eff.weeks[0]), 7 * (cal.week_index(eff.weeks[1]) + 1))
    wf = Workforce(pools, agents, roster.drop("agent_idx"), key, a, np.zeros(0), rows, lane_pool, cal.n_days, excess, days,
                   np.zeros(key.size))
    # capacity weight: on-queue time over the agent's expected handle-time multiplier
    weight = roster["on_queue_seconds"].to_numpy()[rows] / wf.handle_factor(a, day)
    weight = np.maximum(weight, 1e-6)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, dtype=np.int64)
    size = np.diff(np.r_[first, key.size])
    cum = np.cumsum(weight)
    base = np.repeat(cum[first] - weight[first], size)
    total = np.repeat(np.add.reduceat(weight, first) if key.size else np.zeros(0), size)
    upper = key + (cum - base) / total
    if key.size:
        upper[first + size - 1] = key[first + size - 1] + 1.0
    wf.slot_upper = upper
    return wf
