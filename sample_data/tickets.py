"""Tickets, generated vectorised one block of days at a time, with the aggregates other tables need."""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.special import ndtri

from sample_data.calendar import DAY, Calendar
from sample_data.operation import (AI_CHANNELS, AI_CLIENT, AI_INVOLVEMENT, AI_RESOLUTION, AI_RETURN_RATE,
                                   AI_SELF_SERVED, AI_SITE, ATTAINMENT_OFFSET, AUTO_CLOSE_DAYS, BUSINESS_HOURS,
                                   CHANNELS, CLIENTS, CSAT_RESPONSE_RATE, GROUPS, HANDLE, INTRADAY, NPS_CLIENT,
                                   NPS_DISSATISFIED, NPS_RESPONSE_RATE, NPS_SATISFIED, PRIORITIES,
                                   PRIORITY_MIX, REOPEN_RATE, REPEAT_BASE, REPEAT_SAME_CHANNEL, REPLIES_MEAN,
                                   RESOLUTION_ATTAINMENT, RESPONSE_SPREAD, SITES, SOURCE_SYSTEM, TRANSFER_RATE,
                                   VOICE_PARTS)
from sample_data.stories import Story
from sample_data.targets import SERVICE_LEVEL, threshold_lookup
from sample_data.volume import CLIENT_IDS, SITE_IDS, Lanes
from sample_data.workforce import Workforce

REQUESTER_KEY = b"bpo-insights-sample-requester-key"
VOICE, CHAT = CHANNELS.index("voice"), CHANNELS.index("chat")
LIVE = np.array([c in ("voice", "chat", "messaging") for c in CHANNELS])
STATUSES = ("new", "open", "pending", "solved", "closed")
REASONS = sorted({r for c in CLIENTS.values() for r in c.reasons})
QUEUES = sorted({q for c in CLIENTS.values() for _, q in c.reasons.values()})
LANGUAGES = sorted({lang for s in SITES.values() for lang in s.languages})
FIVE_POINT_NEGATIVE = (0.35, 0.30, 0.35)  # shares of 1, 2, 3 among unhappy ratings
FIVE_POINT_TOP = 0.62  # share of 5 among happy ratings
HANDLERS = ("human", "human_after_ai", "ai_agent")  # handled_by codes of the sample's tickets
AI_RETURN_MEAN_DAYS = 1.6  # mean days before an AI-resolved customer who comes back does (within 7 days)


@dataclass
class Context:
    """Everything a block of tickets is drawn from."""

    cal: Calendar
    lanes: Lanes
    counts: np.ndarray
    workforce: Workforce
    stories: tuple[Story, ...]
    instance: str
    seed: int
    offsets: np.ndarray  # client x day: local minus UTC seconds
    frt: np.ndarray = field(init=False)
    res: np.ndarray = field(init=False)
    customers: np.ndarray = field(init=False)  # requester pool size per client

    def __post_init__(self) -> None:
        self.frt = threshold_lookup(self.cal, "sla_first_response")
        self.res = threshold_lookup(self.cal, "sla_resolution")
        per_client = np.bincount(self.lanes.client, weights=self.lanes.baseline.sum(axis=1), minlength=len(CLIENT_IDS))
        self.customers = np.maximum((per_client * 0.9).astype(np.int64), 50)


# --------------------------------------------------------------------------- story masks


def _segment_mask(t: dict[str, np.ndarray], segment: dict[str, str]) -> np.ndarray:
    m = np.ones(t["lane"].size, dtype=bool)
    for key, value in segment.items():
        values = value.split()
        if key == "client_id":
            m &= np.isin(t["client"], [CLIENT_IDS.index(v) for v in values])
        elif key == "site_id":
            m &= np.isin(t["site"], [SITE_IDS.index(v) for v in values])
        elif key == "vendor_id":
            m &= np.isin(t["site"], [i for i, s in enumerate(SITE_IDS) if SITES[s].vendor in values])
        elif key == "channel":
            m &= np.isin(t["channel"], [CHANNELS.index(v) for v in values])
        elif key == "contact_reason":
            m &= np.isin(t["reason"], [REASONS.index(v) for v in values])
        elif key == "group":
            m &= np.isin(np.where(t["channel"] == VOICE, 0, 1), [GROUPS.index(v) for v in values])
        elif key == "language":
            m &= np.isin(t["language"], [LANGUAGES.index(v) for v in values])
        elif key == "hours":  # customer-local arrival hours "from-to" (to exclusive), across midnight when from > to
            lo, hi = (int(x) for x in value.split("-"))
            h = t["local_hour"]
            m &= ((h >= lo) & (h < hi)) if lo < hi else ((h >= lo) | (h < hi))
        else:
            raise ValueError(f"story segment key {key!r} is not one the generator can apply")
    return m


def _in_window(cal: Calendar, day: np.ndarray, weeks: tuple[int, int]) -> np.ndarray:
    return (day >= 7 * cal.week_index(weeks[0])) & (day < 7 * (cal.week_index(weeks[1]) + 1))


def _effects(ctx: Context, kind: str):
    """(segment the effect applies to, effect) for every story effect of `kind`."""
    return [(s.segment_of(e), e) for s in ctx.stories for e in s.effects if e.kind == kind]


# --------------------------------------------------------------------------- core draws


def _business_clock(local: np.ndarray) -> np.ndarray:
    """Business seconds elapsed since a fixed Monday, at local epoch seconds `local`."""
    opens = np.array([o * 3600 for o, _ in BUSINESS_HOURS], dtype=np.float64)
    closes = np.array([c * 3600 for _, c in BUSINESS_HOURS], dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(closes - opens)])
    s = local - 4 * DAY  # 1970-01-05 was a Monday
    week = np.floor(s / (7 * DAY))
    r = s - week * 7 * DAY
    dow = np.minimum((r // DAY).astype(np.int64), 6)
    tod = r - dow * DAY
    return week * cum[-1] + cum[dow] + np.clip(tod, opens[dow], closes[dow]) - opens[dow]


def _arrivals(ctx: Context, rng: np.random.Generator, d0: int, d1: int) -> dict[str, np.ndarray]:
    """Expand the block's lane-day counts into tickets with created times, priority and reason."""
    block = ctx.counts[:, d0:d1]
    flat = block.ravel()
    idx = np.repeat(np.arange(flat.size), flat)
    lane = idx // block.shape[1]
    day = d0 + idx % block.shape[1]
    t = _lane_fields(ctx, lane)
    n = lane.size
    t["day"] = day
    hour = np.empty(n, dtype=np.int64)
    live = LIVE[t["channel"]]
    for kind, mask in (("live", live), ("async", ~live)):
        w = np.asarray(INTRADAY[kind])
        hour[mask] = np.searchsorted(np.cumsum(w / w.sum()), rng.random(int(mask.sum())), side="right")
    sod = hour * 3600 + rng.random(n) * 3600
    t["created"] = ctx.cal.day_epoch[day] + sod - ctx.offsets[t["client"], day]
    t["priority"] = rng.choice(len(PRIORITIES), size=n, p=PRIORITY_MIX)
    t["reason"] = np.empty(n, dtype=np.int64)
    for ci, cid in enumerate(CLIENT_IDS):
        m = t["client"] == ci
        names = list(CLIENTS[cid].reasons)
        shares = np.array([CLIENTS[cid].reasons[r][0] for r in names])
        t["reason"][m] = np.array([REASONS.index(r) for r in names])[rng.choice(len(names), size=int(m.sum()), p=shares / shares.sum())]
    t["requester"] = rng.integers(0, ctx.customers[t["client"]])
    t["repeat"] = np.zeros(n, dtype=bool)
    return t


def _lane_fields(ctx: Context, lane: np.ndarray) -> dict[str, np.ndarray]:
    return {"lane": lane, "client": ctx.lanes.client[lane], "site": ctx.lanes.site[lane], "channel": ctx.lanes.channel[lane]}


def _assign_agents(ctx: Context, t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Give each contact an agent on shift in its pool that day (`slot`: the agent-day, -1 if nobody)."""
    wf = ctx.workforce
    t["slot"] = wf.assign(t["lane"], t["day"], t["created"], rng)
    t["agent"] = wf.slot_agent[np.maximum(t["slot"], 0)] if wf.slot_agent.size else np.zeros(t["slot"].size, dtype=np.int64)
    t["agent"] = np.where(t["slot"] >= 0, t["agent"], -1)


def _handle_factor(ctx: Context, t: dict[str, np.ndarray]) -> np.ndarray:
    a = t["agent"]
    has = a >= 0
    factor = np.where(has, ctx.workforce.handle_factor(np.where(has, a, 0), t["day"]), 1.0)
    site_factor = np.array([SITES[s].handle_factor for s in SITE_IDS])[t["site"]]
    return factor * site_factor


def _outcomes(ctx: Context, t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Agent, handle time, language, response and resolution times, status, CSAT: filled into `t` in place.

    Every random number is drawn first, in one fixed order (so adding an effect never moves another draw), then
    the outcomes are worked out from them: a story may condition on the language the customer wrote in."""
    n = t["lane"].size
    _assign_agents(ctx, t, rng)
    d: dict[str, np.ndarray] = {k: rng.lognormal(np.log(m), s, n) for k, (m, s) in VOICE_PARTS.items()}
    d["no_hold"] = rng.random(n) < 0.55
    text_median = np.array([HANDLE[c][0] if c in HANDLE else 1.0 for c in CHANNELS])[t["channel"]]
    text_sigma = np.array([HANDLE[c][1] if c in HANDLE else 0.5 for c in CHANNELS])[t["channel"]]
    d["text"] = rng.lognormal(np.log(text_median), text_sigma)
    d["z_response"] = rng.standard_normal(n)
    d["u_on_contact"] = rng.random(n)
    d["z_follow_up"] = rng.standard_normal(n)
    d["u_status"] = rng.random(n)
    d["u_reopen"] = rng.random(n)
    d["u_transfer"] = rng.random(n)
    replies_mean = np.array([REPLIES_MEAN[c] for c in CHANNELS])[t["channel"]]
    d["extra_replies"] = rng.poisson(np.maximum(replies_mean - 1, 0.0))
    d["u_survey"] = rng.random(n)
    d["u_satisfied"] = rng.random(n)
    d["negative"] = rng.choice(3, size=n, p=FIVE_POINT_NEGATIVE) + 1
    d["u_top"] = rng.random(n)
    langs = np.zeros(n, dtype=np.int64)
    for si, sid in enumerate(SITE_IDS):
        m = t["site"] == si
        if m.any():
            names = list(SITES[sid].languages)
            langs[m] = np.array([LANGUAGES.index(x) for x in names])[rng.choice(len(names), size=int(m.sum()), p=list(SITES[sid].languages.values()))]
    t["language"] = langs
    _local_hours(ctx, t)
    _work_out(ctx, t, d)


def _work_out(ctx: Context, t: dict[str, np.ndarray], d: dict[str, np.ndarray]) -> None:
    """The outcomes of `_outcomes` from its draws `d` and the story effects."""
    cal = ctx.cal
    n = t["lane"].size
    ch = t["channel"]
    factor = _handle_factor(ctx, t)
    voice = ch == VOICE
    parts = {k: d[k] * factor for k in VOICE_PARTS}
    parts["hold"] = np.where(d["no_hold"], 0.0, parts["hold"])
    text = d["text"] * factor
    t["talk"] = np.where(voice, parts["talk"], np.where(ch == CHAT, text * 0.88, 0.0))
    t["hold"] = np.where(voice, parts["hold"], 0.0)
    t["acw"] = np.where(voice, parts["acw"], np.where(ch == CHAT, text * 0.12, 0.0))
    t["handle"] = np.where(voice, parts["talk"] + parts["hold"] + parts["acw"], text)

    # first response: target-relative log-normal so a site's attainment sits where its profile says
    frt_t = ctx.frt[t["client"], ch, t["priority"], t["day"]]
    sl_t = np.where(voice, SERVICE_LEVEL["voice"][0], np.where(ch == CHAT, SERVICE_LEVEL["chat"][0], np.nan))
    anchor = np.where(np.isnan(frt_t), sl_t, frt_t)
    site_fr = np.array([SITES[s].first_response_attainment for s in SITE_IDS])[t["site"]]
    site_sl = np.array([SITES[s].service_level for s in SITE_IDS])[t["site"]]
    offset = np.array([ATTAINMENT_OFFSET.get(c, 0.0) for c in CHANNELS])[ch]
    p = np.where(voice, site_sl, np.clip(site_fr + offset, 0.5, 0.985))
    drift = np.ones(n)
    for segment, eff in _effects(ctx, "attainment"):
        hit = _segment_mask(t, segment) & _in_window(cal, t["day"], eff.weeks)
        p = np.where(hit, eff.size, p)
    for segment, eff in _effects(ctx, "frt_drift"):
        start = 7 * cal.week_index(eff.weeks[0])
        hit = _segment_mask(t, segment) & _in_window(cal, t["day"], eff.weeks)
        drift = np.where(hit, (1 + eff.size) ** ((t["day"] - start) / 7.0), drift)
    sigma = np.where(voice, 1.0, RESPONSE_SPREAD)
    fr = anchor * np.exp(sigma * (d["z_response"] - ndtri(p))) * drift
    fr = np.where(ch == VOICE, np.minimum(fr, 1800.0), fr)

    res_t = ctx.res[t["client"], ch, t["priority"], t["day"]]
    on_contact = np.where(voice, 0.88, np.where(ch == CHAT, 0.8, 0.0)) > d["u_on_contact"]
    follow_up = res_t * np.exp(0.9 * (d["z_follow_up"] - ndtri(RESOLUTION_ATTAINMENT)))
    res = np.maximum(fr + t["handle"], np.where(on_contact, 0.0, follow_up))
    t["fr"], t["res"], t["frt_target"], t["res_target"] = fr, res, frt_t, res_t

    now = cal.end_epoch
    created = t["created"]
    responded = created + fr <= now
    resolved = responded & (created + res <= now)
    closed = resolved & (created + res + AUTO_CLOSE_DAYS * DAY <= now)
    t["status"] = np.where(closed, 4, np.where(resolved, 3, np.where(responded, np.where(d["u_status"] < 0.6, 1, 2), 0)))
    t["fr_known"], t["res_known"], t["closed"] = responded, resolved, closed
    elapsed = now - created
    t["fr_breached"] = np.where(np.isnan(frt_t), -1, np.where(responded, fr > frt_t, elapsed > frt_t).astype(np.int64))
    t["res_breached"] = np.where(np.isnan(res_t), -1, np.where(resolved, res > res_t, elapsed > res_t).astype(np.int64))

    reopen_p = REOPEN_RATE * np.where(t["res_breached"] == 1, 1.6, 1.0)
    u = d["u_reopen"]
    t["reopens"] = np.where(resolved, (u < reopen_p).astype(np.int64) + (u < reopen_p / 6), 0)
    u = d["u_transfer"]
    tr = np.array([TRANSFER_RATE[c] for c in CHANNELS])[ch]
    t["transfers"] = (u < tr).astype(np.int64) + (u < tr / 8)
    t["replies"] = np.where(voice | ~responded, 0, 1 + d["extra_replies"])

    p_pos = np.array([SITES[s].csat_positive for s in SITE_IDS])[t["site"]].astype(float)
    p_pos = p_pos - 0.16 * (t["res_breached"] == 1) - 0.22 * (t["reopens"] > 0) - 0.06 * (t["transfers"] > 0)
    for segment, eff in _effects(ctx, "csat"):
        p_pos = p_pos + eff.size * (_segment_mask(t, segment) & _in_window(cal, t["day"], eff.weeks))
    t["csat_given"] = resolved & (d["u_survey"] < CSAT_RESPONSE_RATE)
    t["csat_pos"] = d["u_satisfied"] < np.clip(p_pos, 0.02, 0.99)
    t["csat_5"] = np.where(t["csat_pos"], np.where(d["u_top"] < FIVE_POINT_TOP, 5, 4), d["negative"])
    t["p_pos"] = p_pos


def _local_hours(ctx: Context, t: dict[str, np.ndarray]) -> None:
    local = t["created"] + ctx.offsets[t["client"], t["day"]]
    t["local_hour"] = ((local % DAY) // 3600).astype(np.int64)


def _repeat_contacts(ctx: Context, t: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Follow-up tickets from the same requester within 7 days, often on another channel."""
    cal = ctx.cal
    q = REPEAT_BASE * (1 + 1.2 * (t["res_breached"] == 1) + 1.0 * (t["reopens"] > 0)
                       + 0.8 * (t["csat_given"] & ~t["csat_pos"]))
    for segment, eff in _effects(ctx, "repeat"):
        q = q * np.where(_segment_mask(t, segment) & _in_window(cal, t["day"], eff.weeks), 1 + eff.size, 1.0)
    parent = np.flatnonzero(rng.random(q.size) < q)
    n = parent.size
    mean = 1.6 * DAY
    gap = -mean * np.log(1 - rng.random(n) * (1 - np.exp(-7 * DAY / mean)))
    created = t["created"][parent] + gap
    client = t["client"][parent]
    same = rng.random(n) < REPEAT_SAME_CHANNEL
    # another channel from the client's mix (never the same one)
    mixes = np.array([[CLIENTS[c].channel_mix[ch] for ch in CHANNELS] for c in CLIENT_IDS])
    w = mixes[client].copy()
    w[np.arange(n), t["channel"][parent]] = 0.0
    cw = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    other = np.minimum((cw < rng.random(n)[:, None]).sum(axis=1), len(CHANNELS) - 1)
    channel = np.where(same, t["channel"][parent], other)
    # the site that takes it: routing shares of (client, channel)
    lanes = ctx.lanes
    lane_w = lanes.baseline.sum(axis=1)
    lane = np.empty(n, dtype=np.int64)
    for ci in range(len(CLIENT_IDS)):
        for c in range(len(CHANNELS)):
            m = (client == ci) & (channel == c)
            if not m.any():
                continue
            cand = np.flatnonzero((lanes.client == ci) & (lanes.channel == c))
            lane[m] = cand[rng.choice(cand.size, size=int(m.sum()), p=lane_w[cand] / lane_w[cand].sum())]
    local = created + ctx.offsets[client, t["day"][parent]]
    day = ((local - cal.day_epoch[0]) // DAY).astype(np.int64)
    keep = (created < cal.end_epoch) & (day < cal.n_days)
    child = _lane_fields(ctx, lane[keep])
    child.update(day=day[keep], created=created[keep], priority=t["priority"][parent][keep],
                 reason=t["reason"][parent][keep], requester=t["requester"][parent][keep],
                 repeat=np.ones(int(keep.sum()), dtype=bool))
    return child


def requester_hashes(client: np.ndarray, requester: np.ndarray) -> pl.Series:
    """Keyed BLAKE2b of each requester (16 hex characters); the raw id never leaves this function."""
    combined = client.astype(np.int64) * (1 << 40) + requester.astype(np.int64)
    uniq, inverse = np.unique(combined, return_inverse=True)
    raw = b"".join(hashlib.blake2b(f"{CLIENT_IDS[u >> 40]}:customer:{u & ((1 << 40) - 1)}".encode(),
                                   key=REQUESTER_KEY, digest_size=8).digest() for u in uniq.tolist())
    hexed = pl.Series(np.frombuffer(binascii.hexlify(raw), dtype="S16")).cast(pl.String)
    return hexed.gather(pl.Series(inverse.ravel(), dtype=pl.UInt32))


# --------------------------------------------------------------------------- frames


def _datetime(seconds: np.ndarray, known: np.ndarray | None = None) -> pl.Series:
    us = pl.Series((np.round(seconds * 1e6)).astype(np.int64))
    if known is not None:
        us = pl.select(pl.when(pl.Series(known)).then(us)).to_series()
    return us.cast(pl.Datetime("us", "UTC"))


def _maybe(values: np.ndarray | pl.Series, known: np.ndarray) -> pl.Series:
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    return pl.select(pl.when(pl.Series(known)).then(series)).to_series()


def _names(names, codes: np.ndarray) -> pl.Series:
    return pl.Series(list(names), dtype=pl.String).gather(pl.Series(codes, dtype=pl.UInt32))


def _ticket_ids(first_id: int, n: int) -> pl.Series:
    digits = pl.Series(np.arange(first_id, first_id + n, dtype=np.int64)).cast(pl.String).str.zfill(9)
    return pl.select(pl.format("T{}", pl.lit(digits))).to_series()


def tickets_frame(ctx: Context, t: dict[str, np.ndarray], first_id: int) -> pl.DataFrame:
    """The block's tickets in the canonical shape, numbered from `first_id` in creation order."""
    n = t["lane"].size
    created = t["created"]
    fr_at, res_at = created + t["fr"], created + t["res"]
    closed_at = res_at + AUTO_CLOSE_DAYS * DAY
    latest = np.where(t["closed"], closed_at, np.where(t["res_known"], res_at, np.where(t["fr_known"], fr_at, created)))
    latest = latest + 60.0  # the source records the change a minute later
    ingested = (np.floor(latest / DAY) + 1) * DAY + 2 * 3600
    offsets = ctx.offsets[t["client"], t["day"]]
    # business time never exceeds calendar time (the two clocks can disagree by float rounding)
    fr_b = np.minimum(_business_clock(fr_at + offsets) - _business_clock(created + offsets), t["fr"])
    res_b = np.minimum(_business_clock(res_at + offsets) - _business_clock(created + offsets), t["res"])
    vendor = np.array([list(dict.fromkeys(SITES[s].vendor for s in SITE_IDS)).index(SITES[s].vendor) for s in SITE_IDS])
    vendor_names = list(dict.fromkeys(SITES[s].vendor for s in SITE_IDS))
    is_five = np.array([CLIENTS[c].csat_format == "five_point" for c in CLIENT_IDS])[t["client"]]
    raw_code = np.where(is_five, t["csat_5"] + 1, np.where(t["csat_pos"], 0, 1))  # 0 good, 1 bad, 2.. = "1".."5"
    score = np.where(is_five, (t["csat_5"] - 1) / 4.0, t["csat_pos"].astype(float))
    positive = np.where(is_five, t["csat_5"] >= 4, t["csat_pos"])
    given, nps_given = t["csat_given"], t["nps_given"]
    agents = pl.Series(ctx.workforce.agents.ids.tolist(), dtype=pl.String)
    agent_codes = np.where(t["agent"] >= 0, t["agent"], 0)
    has_frt, has_res = ~np.isnan(t["frt_target"]), ~np.isnan(t["res_target"])
    reasons = _names(REASONS, t["reason"])
    escalated = pl.Series(np.where(t["transfers"] > 0, " escalated", np.where(t["repeat"], " follow_up", "")))
    escalated = escalated + pl.Series(np.array(["", " ai_handoff", " ai_agent"])[t["handled"]])
    frame = pl.DataFrame({
        "source_system": pl.Series([SOURCE_SYSTEM]).gather(np.zeros(n, dtype=np.uint32)),
        "source_instance": pl.Series([ctx.instance]).gather(np.zeros(n, dtype=np.uint32)),
        "ingested_at": _datetime(ingested),
        "updated_at": _datetime(latest),
        "client_id": _names(CLIENT_IDS, t["client"]),
        "vendor_id": _names(vendor_names, vendor[t["site"]]),
        "site_id": _names(SITE_IDS, t["site"]),
        "ticket_id": _ticket_ids(first_id, n),
        "channel": _names(CHANNELS, t["channel"]),
        "status": _names(STATUSES, t["status"]),
        "priority": _names(PRIORITIES, t["priority"]),
        "queue": _names(QUEUES, np.array([QUEUES.index(CLIENTS[c].reasons[r][1]) if r in CLIENTS[c].reasons else 0
                                          for c in CLIENT_IDS for r in REASONS]).reshape(len(CLIENT_IDS), -1)[t["client"], t["reason"]]),
        "tags": reasons + escalated,
        "contact_reason": reasons,
        "language": _names(LANGUAGES, t["language"]),
        "created_at": _datetime(created),
        "first_response_at": _datetime(fr_at, t["fr_known"]),
        "resolved_at": _datetime(res_at, t["res_known"]),
        "closed_at": _datetime(closed_at, t["closed"]),
        "first_response_seconds": _maybe(np.round(t["fr"], 1), t["fr_known"]),
        "first_response_business_seconds": _maybe(np.round(fr_b, 1), t["fr_known"]),
        "resolution_seconds": _maybe(np.round(t["res"], 1), t["res_known"]),
        "resolution_business_seconds": _maybe(np.round(res_b, 1), t["res_known"]),
        "handle_seconds": _maybe(np.round(t["handle"], 1), ~np.isnan(t["handle"])),
        "replies": t["replies"].astype(np.int64),
        "reopens": t["reopens"].astype(np.int64),
        "transfers": t["transfers"].astype(np.int64),
        "csat_raw": _maybe(_names(["good", "bad", "1", "2", "3", "4", "5"], raw_code), given),
        "csat_score": _maybe(score, given),
        "csat_positive": _maybe(positive, given),
        "survey_type": _maybe(np.where(given, "csat", "nps"), given | nps_given),
        "rating_value": _maybe(np.where(given, np.where(is_five, t["csat_5"], np.nan), t["nps"]).astype(float),
                               (given & is_five) | nps_given),
        "rating_scale": _maybe(np.where(given, np.where(is_five, "1-5", "labels"), "0-10"), given | nps_given),
        "handled_by": _names(HANDLERS, t["handled"]),
        "first_response_target_seconds": _maybe(np.nan_to_num(t["frt_target"]), has_frt),
        "resolution_target_seconds": _maybe(np.nan_to_num(t["res_target"]), has_res),
        "first_response_breached": _maybe(t["fr_breached"] == 1, t["fr_breached"] >= 0),
        "resolution_breached": _maybe(t["res_breached"] == 1, t["res_breached"] >= 0),
        "requester_hash": requester_hashes(t["client"], t["requester"]),
        "agent_id": _maybe(agents.gather(pl.Series(agent_codes, dtype=pl.UInt32)), t["agent"] >= 0),
    })
    return frame


def generate_block(ctx: Context, d0: int, d1: int, first_id: int) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Tickets created by the lane counts of days d0..d1-1, their repeat contacts, and the AI agent's
    conversations of those days; the arrays returned are the people's tickets (what agents, intervals, QA and
    invoices are built from)."""
    rng = np.random.default_rng([ctx.seed, 101, d0])
    t = _arrivals(ctx, rng, d0, d1)
    _outcomes(ctx, t, rng)
    child = _repeat_contacts(ctx, t, rng)
    _outcomes(ctx, child, rng)
    both = {k: np.concatenate([t[k], child[k]]) for k in t}
    order = np.argsort(both["created"], kind="stable")
    both = {k: v[order] for k, v in both.items()}
    blended = np.random.default_rng([ctx.seed, 606, d0])
    _nps(both, blended)
    ai = _ai_conversations(ctx, both, blended, d0, d1)
    frames = [tickets_frame(ctx, both, first_id)]
    if ai["lane"].size:
        frames.append(tickets_frame(ctx, ai, first_id + both["lane"].size))
    return pl.concat(frames), both


# --------------------------------------------------------------------------- blended operations


def _nps(t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """NPS_CLIENT surveys a share of its solved tickets that got no CSAT survey; the answer follows the customer's
    satisfaction with the contact (the same draw a CSAT answer would have shown)."""
    n = t["lane"].size
    t["nps_given"] = ((t["client"] == CLIENT_IDS.index(NPS_CLIENT)) & t["res_known"] & ~t["csat_given"]
                      & (rng.random(n) < NPS_RESPONSE_RATE))
    satisfied = t["csat_pos"]
    happy = np.array(list(NPS_SATISFIED))[rng.choice(len(NPS_SATISFIED), size=n, p=list(NPS_SATISFIED.values()))]
    unhappy = np.array(list(NPS_DISSATISFIED))[rng.choice(len(NPS_DISSATISFIED), size=n, p=list(NPS_DISSATISFIED.values()))]
    t["nps"] = np.where(satisfied, happy, unhappy)


def _ai_days(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per day: AI-involved share of the AI client's AI-channel conversations, the share of those the AI agent
    resolves alone, and the chance its customers come back within 7 days (story effects included)."""
    cal = ctx.cal
    days_before = (cal.n_days - 1 - np.arange(cal.n_days)).astype(float)
    lo, hi = AI_INVOLVEMENT
    involved = hi - (hi - lo) * np.minimum(days_before / (78 * 7), 1.0)
    alone = np.full(cal.n_days, AI_SELF_SERVED)
    back = np.full(cal.n_days, AI_RETURN_RATE)
    day = np.arange(cal.n_days)
    for segment, eff in _effects(ctx, "containment"):
        if segment.get("client_id", AI_CLIENT) != AI_CLIENT:
            continue
        hit = _in_window(cal, day, eff.weeks)
        alone = np.where(hit, alone + eff.size, alone)
        back = np.where(hit, back * 2, back)
    return involved, np.clip(alone, 0.05, 0.95), back


def _ai_conversations(ctx: Context, t: dict[str, np.ndarray], rng: np.random.Generator, d0: int,
                      d1: int) -> dict[str, np.ndarray]:
    """Mark the people's AI hand-offs (handled_by human_after_ai) in `t` and return the conversations the AI agent
    resolved alone (handled_by ai_agent) on days d0..d1-1, some of whose customers come back within 7 days."""
    cal, lanes = ctx.cal, ctx.lanes
    n = t["lane"].size
    t["handled"] = np.zeros(n, dtype=np.int64)
    ci = CLIENT_IDS.index(AI_CLIENT)
    ai_ch = np.array([CHANNELS.index(c) for c in AI_CHANNELS])
    involved, alone, back = _ai_days(ctx)
    per_contact = 1 + REPEAT_BASE * 1.3  # first contacts -> contacts, as the lanes were sized
    people = np.stack([lanes.baseline[(lanes.client == ci) & (lanes.channel == c)].sum(axis=0) for c in ai_ch]) * per_contact
    ri = alone * involved
    ai_expected = people * (ri / (1 - ri))  # AI-resolved conversations per (AI channel, day)
    handoff = (1 - alone) * involved / (1 - ri)  # share of the people's AI-channel conversations the AI handed over
    on_ai = (t["client"] == ci) & np.isin(t["channel"], ai_ch)
    p = handoff[t["day"]]
    for segment, eff in _effects(ctx, "handoffs"):  # a story's extra hand-off volume: all of it came from the AI
        hit = on_ai & _segment_mask(t, segment) & _in_window(cal, t["day"], eff.weeks)
        p = np.where(hit, (p + eff.size) / (1 + eff.size), p)
    t["handled"] = np.where(on_ai & (rng.random(n) < p), HANDLERS.index("human_after_ai"), 0)

    # resolved alone, customer not back: Poisson per (channel, day) of the block
    days = np.arange(d0, d1)
    stay = rng.poisson(ai_expected[:, d0:d1] * (1 - back[d0:d1]))
    channel = np.repeat(np.repeat(ai_ch, days.size), stay.ravel())
    day = np.repeat(np.tile(days, ai_ch.size), stay.ravel())
    w = np.asarray(INTRADAY["live"])
    hour = np.searchsorted(np.cumsum(w / w.sum()), rng.random(day.size), side="right")
    created = cal.day_epoch[day] + hour * 3600 + rng.random(day.size) * 3600 - ctx.offsets[ci, day]
    requester = rng.integers(0, ctx.customers[ci], day.size)
    # resolved alone, customer back within 7 days: each of the client's people's tickets of the block follows an AI
    # conversation of the same customer with the chance that makes `back` of the AI's resolutions come back
    mine = np.flatnonzero(t["client"] == ci)
    all_people = lanes.baseline[lanes.client == ci].sum(axis=0) * per_contact
    rate = back * ai_expected.sum(axis=0) / np.maximum(all_people, 1e-9)
    came = mine[rng.random(mine.size) < rate[t["day"][mine]]]
    mean = AI_RETURN_MEAN_DAYS * DAY
    gap = -mean * np.log(1 - rng.random(came.size) * (1 - np.exp(-7 * DAY / mean)))
    share = ai_expected[:, t["day"][came]]
    came_ch = ai_ch[(rng.random(came.size) > share[0] / np.maximum(share.sum(axis=0), 1e-9)).astype(np.int64)]
    came_created = t["created"][came] - np.maximum(gap, 1.0)
    came_day = ((came_created + ctx.offsets[ci, t["day"][came]] - cal.day_epoch[0]) // DAY).astype(np.int64)
    keep = came_day >= 0
    channel = np.concatenate([channel, came_ch[keep]])
    day = np.concatenate([day, came_day[keep]])
    created = np.concatenate([created, came_created[keep]])
    requester = np.concatenate([requester, t["requester"][came][keep]])
    order = np.argsort(created, kind="stable")
    channel, day, created, requester = channel[order], day[order], created[order], requester[order]
    return _ai_outcomes(ctx, rng, ci, channel, day, created, requester)


def _ai_outcomes(ctx: Context, rng: np.random.Generator, ci: int, channel: np.ndarray, day: np.ndarray,
                 created: np.ndarray, requester: np.ndarray) -> dict[str, np.ndarray]:
    """The AI agent's conversations as ticket arrays: resolved by the agent, no person, no contract target, no survey."""
    n = channel.size
    cal = ctx.cal
    site = SITE_IDS.index(AI_SITE)
    names = list(CLIENTS[AI_CLIENT].reasons)
    shares = np.array([CLIENTS[AI_CLIENT].reasons[r][0] for r in names])
    langs = SITES[AI_SITE].languages
    res = rng.lognormal(np.log(AI_RESOLUTION[0]), AI_RESOLUTION[1], n)
    now = cal.end_epoch
    resolved = created + res <= now
    closed = resolved & (created + res + AUTO_CLOSE_DAYS * DAY <= now)
    nan, zeros, false = np.full(n, np.nan), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    t = {
        "lane": np.full(n, -1, dtype=np.int64), "client": np.full(n, ci, dtype=np.int64), "site": np.full(n, site),
        "channel": channel, "day": day, "created": created, "requester": requester, "repeat": false,
        "priority": rng.choice(len(PRIORITIES), size=n, p=PRIORITY_MIX),
        "reason": np.array([REASONS.index(r) for r in names])[rng.choice(len(names), size=n, p=shares / shares.sum())],
        "language": np.array([LANGUAGES.index(x) for x in langs])[rng.choice(len(langs), size=n, p=list(langs.values()))],
        "slot": np.full(n, -1, dtype=np.int64), "agent": np.full(n, -1, dtype=np.int64),
        "talk": zeros.astype(float), "hold": zeros.astype(float), "acw": zeros.astype(float), "handle": nan,
        "fr": zeros.astype(float), "res": res, "frt_target": nan, "res_target": nan,
        "status": np.where(closed, 4, np.where(resolved, 3, 1)), "fr_known": false, "res_known": resolved,
        "closed": closed, "fr_breached": np.full(n, -1), "res_breached": np.full(n, -1),
        "reopens": zeros, "transfers": zeros, "replies": zeros, "csat_given": false, "csat_pos": false,
        "csat_5": np.full(n, 3), "p_pos": nan, "nps_given": false, "nps": zeros,
        "handled": np.full(n, HANDLERS.index("ai_agent")),
    }
    _local_hours(ctx, t)
    return t
