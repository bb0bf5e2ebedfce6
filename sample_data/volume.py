"""Contact volume per lane (client, site, channel) and day, and the events that shape it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from sample_data.calendar import Calendar, seasonality, thanksgiving
from sample_data.operation import (CHANNELS, CLIENTS, DAY_OF_WEEK, HOLIDAY_FACTOR, REPEAT_BASE, SITES,
                                   site_channels)
from sample_data.stories import Story


@dataclass(frozen=True)
class OperationEvent:
    """A dated event of the base operation; `factor` multiplies volume, decaying over `decay_days`."""

    kind: str
    name: str
    start: date
    end: date | None
    client: str | None
    channels: tuple[str, ...] = CHANNELS
    factor: float = 1.0
    decay_days: float | None = None
    description: str = ""


def operation_events(cal: Calendar) -> list[OperationEvent]:
    """Holidays, promotions, the acme launch and an outage that fall inside the calendar."""
    end = cal.end
    events = [OperationEvent("holiday", name, d, None, None, factor=HOLIDAY_FACTOR, description="US public holiday")
              for d, name in sorted(cal.holidays.items())]
    for year in range(cal.start.year, cal.end.year + 1):
        bf = thanksgiving(year) + timedelta(days=1)
        events.append(OperationEvent("promotion", f"Acme Black Friday – Cyber Monday {year}", bf, bf + timedelta(days=3),
                                     "acme", factor=1.35, description="Storewide discounts; order-status contacts up"))
    events += [
        OperationEvent("launch", "Acme Hub 3 launch", end - timedelta(weeks=33, days=3), None, "acme",
                       factor=1.55, decay_days=8.0, description="New smart-home hub on sale; setup questions"),
        OperationEvent("promotion", "Globex summer flash sale", end - timedelta(weeks=24, days=6),
                       end - timedelta(weeks=24), "globex", factor=1.22, description="48-hour fares sale, one week"),
        OperationEvent("outage", "Acme payment gateway outage", end - timedelta(weeks=44, days=5), None, "acme",
                       channels=("voice", "chat"), factor=1.9, description="Checkout failed for 5 hours"),
    ]
    return [e for e in events if e.start <= cal.end and (e.end or e.start) >= cal.start]


@dataclass
class Lanes:
    """The lanes and their expected daily volume: `expected` with stories, `baseline` without."""

    client: np.ndarray
    site: np.ndarray
    channel: np.ndarray
    expected: np.ndarray  # lanes x days
    baseline: np.ndarray  # lanes x days, stories not applied
    extra: np.ndarray | None = None  # lanes x days: contacts a story adds that are drawn apart (`handoffs`)

    @property
    def n(self) -> int:
        return len(self.client)


CLIENT_IDS = list(CLIENTS)
SITE_IDS = list(SITES)


def _lane_mask(lanes: Lanes, segment: dict[str, str]) -> np.ndarray:
    m = np.ones(lanes.n, dtype=bool)
    if "client_id" in segment:
        m &= lanes.client == CLIENT_IDS.index(segment["client_id"])
    if "site_id" in segment:
        m &= lanes.site == SITE_IDS.index(segment["site_id"])
    if "vendor_id" in segment:
        m &= np.isin(lanes.site, [i for i, s in enumerate(SITE_IDS) if SITES[s].vendor == segment["vendor_id"]])
    if "channel" in segment:
        m &= np.isin(lanes.channel, [CHANNELS.index(c) for c in segment["channel"].split()])
    return m


def _window(cal: Calendar, weeks: tuple[int, int]) -> slice:
    return slice(max(0, 7 * cal.week_index(weeks[0])), max(0, 7 * (cal.week_index(weeks[1]) + 1)))


def expected_volume(cal: Calendar, scale: float, stories: tuple[Story, ...]) -> Lanes:
    """Expected contacts per lane and day at `scale` (before repeat contacts are added)."""
    spec = site_channels()
    client = np.array([CLIENT_IDS.index(c) for c, _, _, _ in spec])
    site = np.array([SITE_IDS.index(s) for _, s, _, _ in spec])
    channel = np.array([CHANNELS.index(ch) for _, _, ch, _ in spec])
    base = np.zeros((len(spec), cal.n_days))
    years = (np.arange(cal.n_days) - cal.n_days) / 365.0
    per_client = {}
    for cid, c in CLIENTS.items():
        level = c.daily_volume * scale / (1.0 + REPEAT_BASE * 1.3)
        curve = level * np.asarray(DAY_OF_WEEK[cid])[cal.dow] * seasonality(cal, cid) * (1 + c.growth_per_year) ** years
        per_client[cid] = curve
    events = operation_events(cal)
    for i, (cid, sid, ch, share) in enumerate(spec):
        row = per_client[cid] * CLIENTS[cid].channel_mix[ch] * share
        for e in events:
            if (e.client is not None and e.client != cid) or ch not in e.channels:
                continue
            d0 = cal.day_of(e.start)
            d1 = cal.day_of(e.end or e.start)
            if e.decay_days:
                t = np.arange(cal.n_days) - d0
                row = row * np.where(t >= 0, 1 + (e.factor - 1) * np.exp(-np.clip(t, 0, None) / e.decay_days), 1.0)
            else:
                row = row.copy()
                row[max(d0, 0):max(d1 + 1, 0)] *= e.factor
        base[i] = row
    lanes = Lanes(client, site, channel, base.copy(), base, np.zeros_like(base))
    for story in stories:
        for eff in story.effects:
            apply = _VOLUME_EFFECTS.get(eff.kind)
            if apply is not None:
                apply(lanes, cal, story, eff)
    return lanes


def _volume(lanes: Lanes, cal: Calendar, story: Story, eff) -> None:
    lanes.expected[_lane_mask(lanes, story.segment_of(eff)), _window(cal, eff.weeks)] *= 1 + eff.size


def _mix(lanes: Lanes, cal: Calendar, story: Story, eff) -> None:
    w = _window(cal, eff.weeks)
    seg = {k: v for k, v in story.segment.items() if k != "channel"}
    src = _lane_mask(lanes, {**seg, "channel": eff.params["from_channel"]})
    dst = _lane_mask(lanes, {**seg, "channel": eff.params["to_channel"]})
    moved = lanes.expected[src, w].sum(axis=0) * eff.size
    lanes.expected[src, w] *= 1 - eff.size
    dst_share = lanes.baseline[dst, w] / lanes.baseline[dst, w].sum(axis=0)
    lanes.expected[dst, w] += dst_share * moved


def _reroute(lanes: Lanes, cal: Calendar, story: Story, eff) -> None:
    w = _window(cal, eff.weeks)
    for ch in eff.params["channels"].split():
        src = _lane_mask(lanes, {**story.segment, "channel": ch})
        dst = _lane_mask(lanes, {"client_id": story.segment["client_id"], "site_id": eff.params["to_site"], "channel": ch})
        moved = lanes.expected[src, w].sum(axis=0) * eff.size
        lanes.expected[src, w] *= 1 - eff.size
        lanes.expected[dst, w] += moved / dst.sum()


def _handoffs(lanes: Lanes, cal: Calendar, story: Story, eff) -> None:
    assert lanes.extra is not None
    mask, window = _lane_mask(lanes, story.segment_of(eff)), _window(cal, eff.weeks)
    lanes.extra[mask, window] += lanes.expected[mask, window] * eff.size


_VOLUME_EFFECTS = {"volume": _volume, "mix": _mix, "reroute": _reroute, "handoffs": _handoffs}


def draw_counts(lanes: Lanes, rng: np.random.Generator, extra_rng: np.random.Generator | None = None) -> np.ndarray:
    """Contacts per lane and day: Poisson around the expectation with day-to-day overdispersion.

    A story's `extra` contacts are a second Poisson draw from `extra_rng`, so they leave every other lane-day's
    count as it is without them (a Poisson draw's use of random numbers depends on its mean)."""
    noise = rng.lognormal(0.0, 0.07, size=(len(CLIENT_IDS), lanes.expected.shape[1]))
    lane_noise = rng.lognormal(0.0, 0.04, size=lanes.expected.shape)
    counts = rng.poisson(lanes.expected * noise[lanes.client] * lane_noise)
    if lanes.extra is not None and lanes.extra.any():
        extra_rng = extra_rng if extra_rng is not None else np.random.default_rng(rng.integers(2**63))
        counts = counts + extra_rng.poisson(lanes.extra * noise[lanes.client] * lane_noise)
    return counts
