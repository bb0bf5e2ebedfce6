"""The insights engine: what changed for real, where, why, what it means and what to do.

`detect(ws, scope, week=..., filters=...)` reads the KPIs of the viewer's scope through
`compute_kpis` (one call per segment level, every segment of the level at once), runs the
detectors of `rules.toml` over every segment, adjusts every p-value of the run together
(Benjamini–Hochberg), keeps what is significant AND material AND not resting on a thin sample,
merges the findings that describe one story, explains each (drivers, co-moving KPIs, calendar
events), renders the five narrative slots and ranks them.  A vendor (and a site) serving several clients is
also scanned across them, for viewers who see every client (`cross_client_levels`), in its own BH family.

>>> findings = detect(ws, Scope.everything(), week=date(2026, 10, 19))  # doctest: +SKIP
>>> [i.headline for i in findings.top]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

import numpy as np
import polars as pl

from connectors.store import Scope, Workspace
from insights.detection import detectors as det
from insights.detection import drivers as drv
from insights import contracts
from insights.detection import narrative, ranking, stats
from insights import format
from insights.catalog import Catalog, load_catalog
from insights.metrics.kpis import compute_kpis
from insights.view import View
from insights.metrics.credits import CreditsAtStake, credits_at_stake
from insights.format import Names
from insights.catalog.rules import IN_HOUSE
from insights.metrics.periods import latest_complete_week, week_start

ROOT = ("client_id",)
DIMENSIONS = ("vendor_id", "site_id", "channel", "priority", "contact_reason")
SUSTAINED_DIMENSIONS = ("vendor_id", "site_id", "channel")  # searched for level shifts and trends
# a shift's onset is also searched in contact reasons, only to tell a problem still open: a release breaks one
# reason, and weeks later the weekly baseline has absorbed the fall while the reason is still far below where it was
OPEN_DIMENSIONS = ("contact_reason",)
PAIR = ("site_id", "channel")
ABSOLUTE_UNITS = ("percent", "ratio", "score")
CHANGE_TYPES = ("rate_change", "level_shift", "trend", "volume_anomaly", "small_count_rate", "improvement")
# the types whose driver windows are exactly the weeks their observed and expected pool: only these restate their
# change as rate + mix (a drift's first and last weeks are not its Sen-line levels)
SPLIT_TYPES = ("rate_change", "level_shift", "driver")
ANSWERS = {"csat": "CSAT responses"}


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Period:
    """The dates an insight covers (inclusive)."""

    start: date
    end: date


@dataclass(frozen=True)
class Action:
    """What to do, who owns it, and the KPI (and week) that will show whether it worked."""

    text: str
    owner: str
    verify_kpi: str
    verify_week: str = ""


@dataclass(frozen=True)
class Insight:
    """One insight: the DESIGN §6 record, every number of its sentences included."""

    id: str
    type: str
    kpi: str
    segment: dict[str, str]
    period: Period
    observed: float | None
    expected: float | None
    baseline: str
    delta: float | None
    unit: str
    ci: tuple[float, float] | None
    n: int
    test: str | None
    p_value: float | None
    q_value: float | None
    impact: dict[str, Any] | None
    confidence: float
    score: float
    headline: str
    meaning: str
    action: Action
    drivers: tuple[dict[str, Any], ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def tier(self) -> str:
        """headline | watch | standing | notice | context."""
        return str(self.evidence.get("tier", "context"))

    @property
    def period_start(self) -> date:
        """The first day the insight covers."""
        return self.period.start

    @property
    def period_end(self) -> date:
        """The last day the insight covers (inclusive)."""
        return self.period.end

    @property
    def confidence_label(self) -> str:
        """high | medium | low, in words for the reader (set by the engine from rules.toml [tiers.high_confidence])."""
        return str(self.evidence["confidence_label"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings, tuples as lists, NaN as None."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Findings:
    """A run's result: every insight ranked, the review's top list, and the data-quality notices."""

    week: date
    insights: list[Insight]
    top: list[Insight]
    notices: list[Insight]
    tests: int = 0
    withheld: tuple[str, ...] = ()  # what the viewer's scope keeps from being judged, and why

    @property
    def headlines(self) -> list[Insight]:
        """Top insights that report a change at headline strength (q <= the headline bar)."""
        return [i for i in self.top if i.tier == "headline" and i.type != "data_quality"]

    def markdown(self) -> str:
        """The review's insights as a reviewer reads them."""
        return narrative.markdown(self.top, title=f"Insights for the week of {self.week.isoformat()}")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, date):
        return x.isoformat()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    return x


def stable_id(type_: str, kpi: str, segment: Mapping[str, str], period_start: date) -> str:
    """A hash of type, KPI, segment and period: the same finding on a re-run has the same id.

    A viewer who sees only part of a segment gets the segment with the vendors it sees
    (`shown_segment`), so a partial finding never shares its id with the whole one."""
    key = "|".join([type_, kpi, ",".join(f"{k}={v}" for k, v in sorted(segment.items())), period_start.isoformat()])
    return hashlib.sha1(key.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- whole and partial segments


WHOLE = "*"


def part_of(segment: Mapping[str, str], scope: Scope, site_vendor: Mapping[str, str]) -> str:
    """Which vendors' work a finding about `segment` is computed on for a viewer reading through `scope`.

    A segment pinned to a vendor (by vendor_id, or by a site, which one vendor runs) is that
    vendor's work, which the viewer sees whole; a client-wide segment is seen whole ('*') unless
    the scope holds only some vendors: then it is their share ('northwind', 'a+b').
    """
    pinned = segment.get("vendor_id") or site_vendor.get(segment.get("site_id", ""))
    if pinned:
        return str(pinned)
    return WHOLE if scope.vendors is None else "+".join(sorted(scope.vendors))


def shown_segment(segment: Mapping[str, str], part: str) -> dict[str, str]:
    """The segment as the insight names it: a vendor's share of a client names the vendors it holds."""
    if part == WHOLE or "vendor_id" in segment or "site_id" in segment:
        return dict(segment)
    head = {k: v for k, v in segment.items() if k == "client_id"}
    return {**head, "vendor_id": part, **{k: v for k, v in segment.items() if k != "client_id"}}


# --------------------------------------------------------------------------- candidates


@dataclass
class _Candidate:
    """A detector's finding before BH, merging and narrative."""

    type: str
    kpi: str
    segment: dict[str, str]
    level: tuple[str, ...]
    period: Period
    observed: float | None
    expected: float | None
    delta: float
    ci: tuple[float, float] | None
    n: int
    baseline: str
    test: str
    p_value: float
    material: bool
    polarity: str
    reach: float
    weeks: int = 1
    seen_before: int = 0
    impact_value: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    windows: tuple[tuple[date, ...], tuple[date, ...]] = ((), ())  # (baseline weeks, current weeks) for drivers
    q_value: float | None = None
    tier: str = "context"
    p_material: float | None = None  # one-sided p that the change exceeds the KPI's materiality
    q_material: float | None = None


def polarity(direction: str, delta: float) -> str:
    """good / bad / neutral for a change of `delta` under the KPI's direction (AHT up is bad, CSAT up is good)."""
    if direction == "neutral" or delta == 0:
        return "neutral"
    return "good" if (delta > 0) == (direction == "higher_is_better") else "bad"


def _material_amount(kpi, baseline: float | None) -> float:
    """The smallest change of `kpi` worth a sentence: points for rates, else relative to the baseline (with a floor)."""
    if kpi.unit in ABSOLUTE_UNITS or baseline is None:
        return kpi.materiality
    return max(kpi.materiality * abs(baseline), kpi.materiality_floor)


# --------------------------------------------------------------------------- the run


def detect(ws: Workspace, scope: Scope, *, week: date | None = None, filters: dict | None = None,
           catalog: Catalog | None = None) -> Findings:
    """Insights for the week starting `week` (a Monday; default: the last complete week) in the viewer's scope.

    `filters` narrow the view: client / vendor narrow the scope, site / channel the rows; they
    never widen it.
    """
    catalog = catalog or load_catalog()
    rules = narrative.load_rules()
    th = rules.thresholds
    view = View.of(scope, filters, week)
    eff, fixed = view.scope_for_read(), view.fixed
    filters = view.filter_map
    _CREDITS.clear()  # credits are read fresh for every run

    daily = _daily(ws, eff, view, fixed, week, th.volume_history_days, catalog)
    last_day = daily.get_column("period").max() if daily.height else None
    if week is None:
        if last_day is None:
            return Findings(date.today(), [], [], [], 0)
        week = latest_complete_week(last_day)
    week = week_start(week)
    week_end = week + timedelta(days=6)
    history = th.history_weeks
    start = week - timedelta(weeks=history)
    periods = tuple(start + timedelta(weeks=i) for i in range(history + 1))

    specs = {d["kpi"]: d for d in rules.detect if d["kpi"] in catalog.kpis}
    site_vendor = {str(s["id"]): str(s["vendor"]) for s in getattr(ws.config, "sites", []) if s.get("vendor")}
    partial = eff.vendors is not None
    # with one vendor in view the client's work in view IS that vendor's: the root level is its segment
    one_vendor = partial and len(eff.vendors or ()) == 1
    levels = [ROOT + fixed] + [ROOT + fixed + (d,) for d in DIMENSIONS
                               if d not in fixed and not (one_vendor and d == "vendor_id")]
    if not set(PAIR) <= set(fixed):
        levels.append(ROOT + fixed + tuple(d for d in PAIR if d not in fixed))
    read = _LevelReader(ws, eff, tuple(specs), start, week_end, view, catalog)
    frames: dict[tuple[str, ...], pl.DataFrame] = {level: read(level) for level in levels}

    names = Names.of(ws.config, catalog)  # ids as people know them, in every sentence
    notices = _data_quality(daily, frames[levels[0]], week, last_day, specs, catalog, rules, names)
    notices += _duplicate_sources(ws, eff, view, week, th, catalog, rules, names)
    held_back = {n.segment.get("client_id") for n in notices if n.evidence.get("withhold")}

    cands: list[_Candidate] = []
    thin: list[dict[str, Any]] = []
    client_volume = _client_volume(frames[levels[0]], week)
    mature = max((spec["mature_days"] for spec in specs.values()), default=0)
    data_end = _data_end(ws, eff, week_end, mature, catalog) if mature else last_day
    client_series = {(k[0], k[1]): _series_of(rows, periods, specs[k[1]]["kind"])
                     for k, rows in frames[levels[0]].partition_by(["client_id", "kpi"], as_dict=True).items()
                     if k[1] in specs and specs[k[1]]["kind"] in ("proportion", "mean")}
    for level, frame in frames.items():
        _scan_level(level, frame, levels[0], periods, specs, catalog, rules, client_volume, cands, thin, week, ws, eff,
                    client_series, data_end)
    declared = frozenset(str(c["id"]) for c in getattr(ws.config, "clients", []))
    cross = cross_client_levels(declared, eff, fixed) if th.cross_client else []
    several = _serving_several(daily, site_vendor)
    cross_frames = {level: read(level) for level in (cross if several else [])}
    if cross_frames:
        _scan_cross(cross_frames, several, periods, specs, catalog, th, cands, thin, week, data_end)
    mix_level = levels[0] + ("channel",)
    if mix_level in frames:
        cands.extend(_mix_shifts(frames[mix_level], levels[0], specs, catalog, th, week, data_end))
    site_level = levels[0] + ("site_id",)
    withheld: list[str] = []
    if partial:  # peers: a site's share of its client, or its place among the client's sites, needs every vendor's work
        withheld.append("Routing shifts and peer outliers compare a site with every site of its client, and the "
                        "other vendors' sites are outside this view: they are not judged here.")
    if not partial and site_level in frames and "routing_shift" in specs.get("tickets_created", {}).get("detectors", ()):
        cands.extend(_routing_shifts(frames[site_level], levels[0], catalog, th, week))
    monthly = [name for name, spec in specs.items() if spec["grain"] == "month"]
    if monthly:
        cands.extend(_monthly(ws, eff, view, levels, monthly, specs, catalog, th, week, last_day))
    site_level, pair_level = levels[0] + ("site_id",), levels[0] + PAIR
    if not partial and site_level in frames and pair_level in frames:
        for name, spec in specs.items():
            if "peer_outlier" in spec["detectors"]:
                _peers(frames[site_level].filter(pl.col("kpi") == name), frames[pair_level].filter(pl.col("kpi") == name),
                       site_level, catalog.kpis[name], week, th, client_volume, cands)
    events = _events(ws, eff)
    demand = set(rules.tiers.demand_event_kinds)
    cands.extend(_volume(daily, levels[0], week, rules, client_volume, catalog, _declared_days(events, demand)))
    cands = [c for c in cands if c.segment.get("client_id") not in held_back
             and not (held_back and "client_id" not in c.segment)]  # a cross-client segment holds every client
    for c in cands:
        if c.type in ("target_miss", "peer_outlier", "small_count_rate"):
            continue
        on = [e for e in _aligned_events(events, c.segment, c.period.start, c.period.start + timedelta(days=6), 0)
              if e["kind"] in demand]
        if not on:
            continue
        if c.type == "volume_anomaly":  # a declared holiday, promotion or launch is the expected reason
            c.evidence["explained_by"] = on[0]["name"]
        else:  # knock-on effects of a declared demand event: worth watching, not news unless large
            c.evidence["coincides"] = on[0]["name"]

    # BH once per family of questions (rules.toml [fdr]) and per family of data, which the data fixes, not the
    # viewer: a client's week (every role that sees the client whole tests the same segments, so a segment
    # gets the same verdict from each), or the vendors' share of it for a partial view (client × vendor)
    share = WHOLE if eff.vendors is None else "+".join(sorted(eff.vendors))
    for c in cands:
        c.evidence["_material"] = _material_amount(catalog.kpis[c.kpi], c.expected)
        c.p_material = _p_material(c)
        c.evidence["_part"] = part_of(c.segment, eff, site_vendor)
        c.evidence["fdr_family"] = rules.family(c.type, c.evidence.get("grain"))
        c.evidence["fdr_data"] = (f"{c.segment.get('client_id')} × {share}" if "client_id" in c.segment
                                  else f"vendor {c.segment.get('vendor_id')} × every client")  # seen whole
    families: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for c in cands:
        families[(c.evidence["fdr_family"], c.evidence["fdr_data"])].append(c)
    for members in families.values():
        q = stats.benjamini_hochberg([c.p_value for c in members])
        qm = stats.benjamini_hochberg([c.p_material for c in members])
        for c, qv, qmv in zip(members, q, qm):
            c.q_value, c.q_material = float(qv), float(qmv)
            c.evidence["fdr_tests"] = len(members)
    for c in cands:
        if c.type in MATERIAL_TESTED:
            c.evidence["q_material"] = c.q_material
        c.tier = _tier(c, rules, catalog.kpis[c.kpi])
    tests = len(cands)
    kept = [c for c in cands if c.tier in ("headline", "watch", "standing")]
    tenants = _Tenants.of(ws.config)
    for c in kept:
        c.evidence["_segment_owner"], c.evidence["_vendor"], c.evidence["_site"] = _segment_owner(c, frames, tenants)
    merged = _merge(kept)
    currency = str(getattr(ws.config, "currency", None) or "")
    by_level = _Frames(read, {**frames, **cross_frames})
    insights = [_finish(group, by_level, cands, thin, events, catalog, rules, week, currency, tenants, names) for group in merged]
    # a card keeps its lead (and id) whatever the log says
    insights = _with_log_novelty(ws, _cards(insights, rules, catalog, names), rules, scope)
    insights.sort(key=lambda i: (-i.score, i.id))
    top = ranking.select_top(notices + insights, top_max=th.top_max)
    return Findings(week, notices + insights, top, notices, tests, tuple(withheld))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _LevelReader:
    """Reads the run's weekly KPI frame at one segment level (the view's row filters applied)."""

    ws: Workspace
    scope: Scope
    kpis: tuple[str, ...]
    start: date
    end: date
    view: View
    catalog: Catalog

    def __call__(self, level: tuple[str, ...]) -> pl.DataFrame:
        """Every KPI of the run by `level` and week."""
        f = compute_kpis(self.ws, self.scope, list(self.kpis), grain="week", by=level, start=self.start, end=self.end,
                         catalog=self.catalog)
        return self.view.apply(f, rows_only=True)


@dataclass
class _Frames:
    """The run's KPI frames by level: the levels scanned, and any other level the driver search asks for (read once)."""

    read: _LevelReader
    levels: dict[tuple[str, ...], pl.DataFrame]

    def at(self, dims: tuple[str, ...]) -> pl.DataFrame:
        """The frame of the level made of `dims` (in any order)."""
        key = next((level for level in self.levels if sorted(level) == sorted(dims)), None)
        if key is None:
            key = tuple(dims)
            self.levels[key] = self.read(key)
        return self.levels[key]


def _daily(ws: Workspace, scope: Scope, view: View, fixed: tuple[str, ...], week: date | None,
           history_days: int, catalog: Catalog) -> pl.DataFrame:
    """Daily tickets created per client × site × channel over the volume history."""
    end = week + timedelta(days=6) if week else None
    begin = week - timedelta(days=history_days + 7) if week else None
    f = compute_kpis(ws, scope, ["tickets_created"], grain="day", by=ROOT + PAIR, start=begin, end=end, catalog=catalog)
    f = view.apply(f, rows_only=True).filter(pl.col("value") > 0)
    if week is None and f.height:
        last = f.get_column("period").max()
        f = f.filter(pl.col("period") >= last - timedelta(days=history_days + 14))
    return f


def _data_end(ws: Workspace, scope: Scope, week_end: date, days: int, catalog: Catalog) -> date:
    """The last day with tickets up to `days` after the review week (how far outcomes can be known)."""
    f = compute_kpis(ws, scope, ["tickets_created"], grain="day", start=week_end, end=week_end + timedelta(days=days),
                     catalog=catalog).filter(pl.col("value") > 0)
    return f.get_column("period").max() if f.height else week_end


def _client_volume(frame: pl.DataFrame, week: date) -> dict[tuple[str, str], float]:
    """(client, kpi) -> the week's denominator, to weigh a segment's reach."""
    rows = frame.filter(pl.col("period") == week)
    return {(r["client_id"], r["kpi"]): float(r["denominator"] or r["n"] or 0) for r in rows.iter_rows(named=True)}


def _series_of(rows: pl.DataFrame, periods: tuple[date, ...], kind: str) -> det.WeeklySeries:
    by_p = {r[0]: r for r in rows.select("period", "value", "numerator", "denominator", "n").iter_rows()}
    vals, nums, dens, ns = [], [], [], []
    for p in periods:
        r = by_p.get(p)
        v = r[1] if r else None
        vals.append(v if v is not None and math.isfinite(v) else None)
        n = float(r[4] or 0) if r else 0.0
        den = r[3] if r and r[3] is not None else (n if v is not None else 0.0)
        nums.append((r[2] if r[2] is not None else (v or 0.0) * den) if r else 0.0)
        dens.append(den)
        ns.append(n)
    return det.WeeklySeries.of(periods, vals, nums, dens, ns, kind="proportion" if kind == "proportion" else "mean")


# --------------------------------------------------------------------------- detectors over a level


def _typical_share(s: det.WeeklySeries, parent: det.WeeklySeries | None) -> float:
    """The segment's share of its client's denominator over the history (1 when unknown)."""
    if parent is None:
        return 1.0
    total = float(parent.denominator.sum())
    return float(s.denominator.sum()) / total if total > 0 else 1.0


def _scan_level(level, frame, root, periods, specs, catalog, rules, client_volume, cands, thin, week, ws, scope,
                client_series, last_day) -> None:
    th = rules.thresholds
    depth = len(level) - len(root)
    min_share = th.min_test_share
    for (kpi_name,), kframe in frame.partition_by(["kpi"], as_dict=True).items():
        spec = specs.get(kpi_name)
        if spec is None or spec["kind"] == "count":
            continue
        kpi = catalog.kpis[kpi_name]
        if spec["kind"] == "small_count":
            if depth == 0 or level == root + ("site_id",):
                _small_counts(kframe, level, periods, kpi, spec, th, client_volume, cands)
            continue
        if spec["grain"] != "week":
            continue  # judged on its own grain (_monthly)
        if spec["within"] and spec["within"] not in level:
            continue  # only meaningful inside one value of that dimension (a median across channels)
        if last_day is not None and week + timedelta(days=6 + spec["mature_days"]) > last_day:
            continue  # the week's outcome is not known yet (a repeat contact can still come back)
        sustained = depth == 0 or (depth == 1 and level[-1] in SUSTAINED_DIMENSIONS)
        open_only = depth == 1 and level[-1] in OPEN_DIMENSIONS
        for key, rows in kframe.partition_by(list(level), as_dict=True).items():
            if any(v is None for v in key):
                continue
            segment = dict(zip(level, key))
            s = _series_of(rows, periods, spec["kind"])
            reach = float(s.denominator[-1]) / max(client_volume.get((segment["client_id"], kpi_name), 0.0), 1.0)
            dets = spec["detectors"]
            if depth and _typical_share(s, client_series.get((segment["client_id"], kpi_name))) < min_share:
                continue  # a sliver of the client's volume: shown through its parent and the drivers, not tested
            if "rate_change" in dets:
                _rate(s, segment, level, kpi, th, reach, cands, thin, week)
            if "level_shift" in dets and (sustained or open_only):
                _shift(s, segment, level, kpi, th, reach, cands, open_only=open_only)
            if "rate_change" in dets and sustained:
                _window(s, segment, level, kpi, th, reach, cands)
            if "trend" in dets and sustained:
                _trend(s, segment, level, kpi, th, reach, cands)
            target_level = root if "channel" in root else root + ("channel",)
            if level == target_level:  # every KPI with a contract target is judged against it (the contract decides)
                _target(s, segment, level, kpi, ws, scope, week, reach, cands)


def cross_client_levels(clients: frozenset[str], scope: Scope, fixed: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The levels a vendor's work is scanned at across the clients it serves: the vendor, its sites, and each by channel.

    Only for a viewer whose scope holds every client of the workspace (an admin, a vendor's own
    account manager), so a vendor in view is seen whole across its clients; a brand viewer who sees
    only its own clients gets none (the other clients' work is not theirs to see). `clients`: every
    client the workspace declares; `fixed`: the view's row-filter columns.
    """
    if scope.clients is not None and not (clients and clients <= scope.clients):
        return []
    extra = tuple(d for d in fixed if d not in ("client_id", "vendor_id"))
    levels = [("vendor_id",) + extra] + ([("vendor_id", "site_id") + extra] if "site_id" not in extra else [])
    return levels + ([level + ("channel",) for level in levels] if "channel" not in extra else [])


def _serving_several(daily: pl.DataFrame, site_vendor: Mapping[str, str]) -> frozenset[str]:
    """Vendors, sites, and vendor or site × channel lanes (`cross_key`) that handled tickets of two or more clients in
    the volume history (the others' work across clients is their work for one client, already scanned there: the same
    tickets would be told twice, once under each name)."""
    if daily.is_empty():
        return frozenset()
    clients: dict[str, set[str]] = defaultdict(set)
    channels = "channel" in daily.columns
    for client, site, channel in daily.select("client_id", "site_id", pl.col("channel") if channels else pl.lit(None)) \
            .unique().iter_rows():
        if site in site_vendor:
            for key in ({"vendor_id": site_vendor[site]}, {"vendor_id": site_vendor[site], "site_id": site}):
                clients[cross_key(key)].add(client)
                if channel is not None:
                    clients[cross_key({**key, "channel": channel})].add(client)
    return frozenset(v for v, cs in clients.items() if len(cs) >= 2)


def cross_key(segment: Mapping[str, str]) -> str:
    """The key a cross-client segment is known by in `_serving_several`: its site (else vendor), and its channel."""
    who = segment.get("site_id") or segment["vendor_id"]
    return f"{who}|{segment['channel']}" if segment.get("channel") else who


def _scan_cross(frames: Mapping[tuple[str, ...], pl.DataFrame], several: frozenset[str], periods, specs, catalog, th,
                cands, thin, week: date, last_day: Any) -> None:  # noqa: PLR0913  (last_day: a date or None, from polars)
    """Week-on-baseline rate changes and sustained windows of a vendor's work across its clients (a vendor's problem
    spread over the clients it serves, too diluted inside each to pass); the first level is the vendor's whole work,
    `several` the vendors and sites serving two or more clients (a site of one client is scanned inside it)."""
    names = list(several)
    root = next(iter(frames))
    totals = frames[root].filter(pl.col("vendor_id").is_in(names))
    whole = {(k[0], k[1]): _series_of(rows, periods, specs[k[1]]["kind"])
             for k, rows in totals.partition_by(["vendor_id", "kpi"], as_dict=True).items()
             if k[1] in specs and specs[k[1]]["kind"] in ("proportion", "mean")}
    for level, frame in frames.items():
        depth = len(level) - len(root)
        rows_in = pl.col("vendor_id").is_in(names)
        if "site_id" in level and "site_id" not in root:
            rows_in = rows_in & pl.col("site_id").is_in(names)
        for (kpi_name,), kframe in frame.filter(rows_in).partition_by(["kpi"], as_dict=True).items():
            spec = specs.get(kpi_name)
            if spec is None or spec["kind"] not in ("proportion", "mean") or spec["grain"] != "week":
                continue
            if "rate_change" not in spec["detectors"] or (spec["within"] and spec["within"] not in level):
                continue
            if last_day is not None and week + timedelta(days=6 + spec["mature_days"]) > last_day:
                continue
            kpi = catalog.kpis[kpi_name]
            for key, rows in kframe.partition_by(list(level), as_dict=True).items():
                if any(v is None for v in key):
                    continue
                segment = dict(zip(level, key))
                if cross_key(segment) not in several:  # one client's work: told inside that client already
                    continue
                s = _series_of(rows, periods, spec["kind"])
                parent = whole.get((segment["vendor_id"], kpi_name))
                if depth and _typical_share(s, parent) < th.min_test_share:
                    continue
                latest = float(parent.denominator[-1]) if parent is not None else 0.0
                reach = float(s.denominator[-1]) / max(latest, 1.0)
                _rate(s, segment, level, kpi, th, reach, cands, thin, week)
                _window(s, segment, level, kpi, th, reach, cands)


def _rate(s, segment, level, kpi, th, reach, cands, thin, week) -> None:
    r = det.rate_change(s, baseline_weeks=th.baseline_weeks)
    if r is None:
        return
    mat = _material_amount(kpi, r.expected)
    is_thin = r.n < (kpi.min_volume or 0) or (mat > 0 and r.mde > th.thin_mde_factor * mat)
    if is_thin:
        if abs(r.delta) >= mat and len(level) > 1:
            parent = dict(list(segment.items())[:-1])
            thin.append({"kpi": kpi.name, "segment": segment, "parent": parent, "n": r.n, "mde": r.mde,
                         "what": ANSWERS.get(kpi.name, "volume")})
        return
    cur = len(s) - 1
    base = _weeks(s, cur - th.baseline_weeks, cur)
    cands.append(_Candidate(
        "rate_change", kpi.name, segment, level, Period(week, week + timedelta(days=6)), r.observed, r.expected,
        r.delta, r.ci, r.n, r.baseline, r.test, r.p_value, abs(r.delta) >= mat, polarity(kpi.direction, r.delta),
        reach, 1, _seen_before(s, r), r.delta * float(s.denominator[-1]),
        {"sigma": r.sigma, "mde": r.mde, "z": r.z, "n_baseline": r.n_baseline}, (base, (week,))))


def _weeks(s: det.WeeklySeries, lo: int, hi: int) -> tuple[date, ...]:
    """The weeks with data among positions lo..hi-1 of the series: the weeks a detector's observed and expected pool."""
    has_data = det.weeks_with_data(s)
    return tuple(s.periods[i] for i in range(max(0, lo), hi) if has_data[i])


def _seen_before(s: det.WeeklySeries, r: det.RateChange) -> int:
    """Weeks just before the review week that were already off the baseline the same way (|z| > 2)."""
    count = 0
    for back in range(1, 4):
        i = len(s) - 1 - back
        if i < 0 or s.denominator[i] <= 0 or not math.isfinite(s.value[i]):
            break
        se = abs(r.delta / r.z) if r.z else 0.0
        if se <= 0 or (s.value[i] - r.expected) / se * np.sign(r.delta) < 2:
            break
        count += 1
    return count


def _shift(s, segment, level, kpi, th, reach, cands, *, open_only: bool = False) -> None:
    """A level shift (CUSUM + Welch) and, once it is old, whether the problem is still open; `open_only` keeps the
    second alone (a segment searched only for problems still open)."""
    r = det.level_shift(s, window=th.shift_window)
    if r is None or r.weeks_after < 2:
        return
    standing = bool(r.alarm_week and (s.periods[-1] - r.alarm_week).days // 7 >= th.shift_news_weeks)
    if standing and polarity(kpi.direction, r.delta) == "bad":
        _still_open(s, r, segment, level, kpi, th, reach, cands)
    if open_only:
        return
    mat = _material_amount(kpi, r.before) * th.shift_materiality
    # the weeks the detector pooled on each side of the shift: the drivers decompose the same change
    before = _weeks(s, len(s) - th.shift_window, r.shift_index)
    after = _weeks(s, r.shift_index, len(s))
    cands.append(_Candidate(
        "level_shift", kpi.name, segment, level, Period(r.shift_week, s.periods[-1] + timedelta(days=6)), r.after,
        r.before, r.delta, r.ci, r.n_after, f"the {r.n_before:,} before the shift", r.test, r.p_value,
        abs(r.delta) >= mat, polarity(kpi.direction, r.delta), reach, r.weeks_after, 1 if r.weeks_after > 2 else 0,
        r.delta * float(s.denominator[r.shift_index:].sum()) if kpi.unit in ABSOLUTE_UNITS else r.delta * float(s.n[r.shift_index:].sum()),
        {"shift_week": r.shift_week.isoformat(), "weeks": r.weeks_after, "z": r.z,
         "alarm_week": r.alarm_week.isoformat() if r.alarm_week else None,
         "standing": standing, "latest": float(s.value[-1])},
        (tuple(before), tuple(after))))


def _still_open(s, r: det.LevelShift, segment, level, kpi, th, reach, cands) -> None:
    """Whether a problem that began with an old shift is still far from where it was: the latest week against the
    weeks before the shift (its own baseline, not the trailing weeks that have absorbed the fall), tested like any
    week's change with the spread of the segment's weeks before it."""
    keep = [*range(r.shift_index), len(s) - 1]
    before_shift = det.WeeklySeries(tuple(s.periods[i] for i in keep), s.value[keep], s.numerator[keep],
                                    s.denominator[keep], s.n[keep], s.kind)
    nb = th.baseline_weeks
    o = det.rate_change(before_shift, baseline_weeks=nb)
    if o is None or o.n < (kpi.min_volume or 0) or o.delta * r.delta <= 0:
        return
    week = s.periods[-1]
    cands.append(_Candidate(
        "rate_change", kpi.name, segment, level, Period(week, week + timedelta(days=6)), o.observed, o.expected,
        o.delta, o.ci, o.n, f"the {o.baseline_weeks} weeks before it moved in the week of {r.shift_week.isoformat()}",
        o.test, o.p_value, abs(o.delta) >= _material_amount(kpi, o.expected), polarity(kpi.direction, o.delta), reach,
        r.weeks_after, r.weeks_after - 1, o.delta * float(s.denominator[-1]),
        {"sigma": o.sigma, "mde": o.mde, "z": o.z, "n_baseline": o.n_baseline, "standing": True,
         "shift_week": r.shift_week.isoformat(), "_open_weeks": r.weeks_after},
        (_weeks(s, r.shift_index - nb, r.shift_index), (week,))))


def _window(s, segment, level, kpi, th, reach, cands) -> None:
    """A sustained change over the last few weeks (a level shift too small for any one week), as its own test family."""
    k = th.window_weeks
    r = det.window_change(s, weeks=k, baseline_weeks=th.baseline_weeks)
    if r is None or r.n < (kpi.min_volume or 0) * k:
        return
    mat = _material_amount(kpi, r.expected) * th.shift_materiality
    first = len(s) - k
    win = _weeks(s, first, len(s))
    base = _weeks(s, first - th.baseline_weeks, first)
    impact = r.delta * float(s.denominator[-k:].sum() if kpi.unit in ABSOLUTE_UNITS else s.n[-k:].sum())
    cands.append(_Candidate(
        "level_shift", kpi.name, segment, level, Period(r.first_week, s.periods[-1] + timedelta(days=6)), r.observed,
        r.expected, r.delta, r.ci, r.n, f"the {r.n_baseline:,} in the weeks before", r.test, r.p_value,
        abs(r.delta) >= mat, polarity(kpi.direction, r.delta), reach, k, 0, impact,
        {"shift_week": r.first_week.isoformat(), "weeks": k, "z": r.z, "rho": r.rho, "window": True},
        (base, tuple(win))))


def _mix_shifts(frame: pl.DataFrame, root: tuple[str, ...], specs, catalog, th, week: date,
                data_end: date | None) -> list[_Candidate]:
    """Ratio KPIs whose overall change is mix, not performance (a `driver` insight).

    The exact mix/rate decomposition over channels between the baseline weeks and the current
    window (the review week alone, and the last `window_weeks`); the mix is news when it is
    material (at the sustained-shift share of the KPI's materiality), larger than the rate term,
    and the share change behind it is significant: a t test of the window's mean weekly share of
    the channel that carries most of the mix against the baseline's weekly shares (prediction
    form, df = baseline weeks − 1), Bonferroni over the windows tried.
    """
    nb = th.baseline_weeks
    windows = sorted({1, th.window_weeks})
    dim = "channel"
    out: list[_Candidate] = []
    for (client, name), rows in frame.partition_by(["client_id", "kpi"], as_dict=True).items():
        spec, kpi = specs.get(name), catalog.kpis.get(name)
        if spec is None or kpi is None or spec["kind"] != "proportion" or kpi.type != "ratio" or client is None:
            continue
        if data_end is not None and week + timedelta(days=6 + spec["mature_days"]) > data_end:
            continue
        rows = rows.filter(pl.col(dim).is_not_null())
        weekly = rows.group_by("period", dim).agg(pl.col("denominator").sum())
        totals = weekly.group_by("period").agg(pl.col("denominator").sum().alias("total"))
        found = []
        for k in windows:
            cur = tuple(week - timedelta(weeks=i) for i in range(k - 1, -1, -1))
            base = tuple(week - timedelta(weeks=i) for i in range(k + nb - 1, k - 1, -1))
            rb, rc = rows.filter(pl.col("period").is_in(list(base))), rows.filter(pl.col("period").is_in(list(cur)))
            if rb.get_column("period").n_unique() < nb // 2 or rc.get_column("period").n_unique() < k:
                continue
            dec = drv.decompose(dim, drv.cells_from_rows(rb.to_dicts(), dim), drv.cells_from_rows(rc.to_dicts(), dim))
            mat = _material_amount(kpi, dec.before) * th.shift_materiality
            if abs(dec.mix) < mat or abs(dec.mix) <= abs(dec.rate) or dec.mix * dec.total <= 0:
                continue
            top = max(dec.segments, key=lambda e: abs(e.mix_effect))
            sh = weekly.filter(pl.col(dim) == top.value).join(totals, on="period")
            share = dict(zip(sh.get_column("period").to_list(), (sh["denominator"] / sh["total"]).to_list()))
            t, p = stats.share_shift_test([share.get(w, 0.0) for w in base], [share.get(w, 0.0) for w in cur])
            found.append((p * len(windows), k, cur, base, dec, top, t))
        if not found:
            continue
        p, k, cur, base, dec, top, t = min(found, key=lambda f: f[0])
        n_cur = int(rows.filter(pl.col("period").is_in(list(cur))).get_column("denominator").sum())
        # the driver is the dimension's mix (the channels' shifts offset each other); its rates are the shares
        driver = drv.Driver(dim, str(top.value), "mix", dec.mix, dec.mix / dec.total, top.share_after,
                            t, top.share_before, top.share_after)
        out.append(_Candidate(
            "driver", name, {"client_id": client}, root, Period(cur[0], week + timedelta(days=6)), dec.after,
            dec.before, dec.total, None, n_cur, f"the {nb} weeks before", f"exact mix/rate decomposition by {dim}; "
            f"t test of {top.value}'s weekly share of volume vs the {nb} weeks before (Bonferroni over "
            f"{len(windows)} windows)", min(p, 1.0), True, polarity(kpi.direction, dec.total), 1.0, k, 0,
            dec.total * n_cur,
            {"shift_week": cur[0].isoformat(), "weeks": k, "mix": dec.mix, "rate": dec.rate,
             "share_before": top.share_before, "share_after": top.share_after, "t": t,
             "_drivers": [driver.to_dict()],
             "_decomposition": {"dimension": dim, "total": dec.total, "rate": dec.rate, "mix": dec.mix,
                                "before": dec.before, "after": dec.after}},
            (base, cur)))
    return out


def _routing_shifts(frame: pl.DataFrame, root: tuple[str, ...], catalog, th, week: date) -> list[_Candidate]:
    """A site whose share of its client's contacts moved (work routed elsewhere, or to it).

    Volume at a site can fall with the client's demand; its *share* of the client's contacts only
    moves when work is routed differently (a vendor change, an overflow rule, a queue moved), which
    is what committed minimums and capacity plans hang on.  The share of the review week (and of
    the last `window_weeks`) is tested against the baseline weeks' shares (prediction t, Bonferroni
    over the windows tried); material when the share moves by `routing_min_change` of itself.
    """
    nb, kw = th.baseline_weeks, th.window_weeks
    windows = sorted({1, kw})
    kpi = catalog.kpis["tickets_created"]
    rows = frame.filter((pl.col("kpi") == "tickets_created") & pl.col("site_id").is_not_null())
    out: list[_Candidate] = []
    for (client,), crows in rows.partition_by(["client_id"], as_dict=True).items():
        counts = {(r["period"], r["site_id"]): float(r["value"] or 0.0) for r in crows.iter_rows(named=True)}
        sites = sorted({k[1] for k in counts})
        totals: dict[date, float] = defaultdict(float)
        for (period, _), v in counts.items():
            totals[period] += v
        if len(sites) < 2:
            continue
        for site in sites:
            share = {p: counts.get((p, site), 0.0) / t for p, t in totals.items() if t > 0}
            found = []
            for k in windows:
                cur = [week - timedelta(weeks=i) for i in range(k - 1, -1, -1)]
                base = [week - timedelta(weeks=i) for i in range(k + nb - 1, k - 1, -1)]
                if any(w not in share for w in cur) or sum(w in share for w in base) < nb // 2 + 1:
                    continue
                base_shares, cur_shares = [share[w] for w in base if w in share], [share[w] for w in cur]
                before, after = float(np.mean(base_shares)), float(np.mean(cur_shares))
                if max(before, after) < th.min_test_share:
                    continue
                t, p = stats.share_shift_test(base_shares, cur_shares)
                found.append((min(1.0, p * len(windows)), k, cur, base, before, after, t))
            if not found:
                continue
            p, k, cur, base, before, after, t = min(found, key=lambda f: f[0])
            observed = sum(counts.get((w, site), 0.0) for w in cur)
            expected = before * sum(totals[w] for w in cur)
            delta = observed - expected
            material = abs(after - before) >= th.routing_min_change * before
            out.append(_Candidate(
                "routing_shift", kpi.name, {"client_id": client, "site_id": site}, root + ("site_id",),
                Period(cur[0], week + timedelta(days=6)), observed, expected, delta, None, int(observed),
                f"its share of {client}'s contacts in the {nb} weeks before", f"t test of the site's weekly share of "
                f"the client's contacts vs the {nb} weeks before (prediction form, Bonferroni over {len(windows)} "
                f"windows)", p, material, "neutral", min(1.0, after), k, 0, delta,
                {"share_before": before, "share_after": after, "t": t, "weeks": k, "shift_week": cur[0].isoformat()},
                (tuple(base), tuple(cur))))
    return out


def _trend(s, segment, level, kpi, th, reach, cands) -> None:
    r = det.trend(s, weeks=th.trend_weeks)
    if r is None:
        return
    mat = _material_amount(kpi, r.start_level)
    first = s.periods[-r.weeks:][:4]
    last = s.periods[-4:]
    seen = _trend_seen_before(s, r, mat, th.trend_weeks)
    cands.append(_Candidate(
        "trend", kpi.name, segment, level, Period(r.first_week, s.periods[-1] + timedelta(days=6)), r.end_level,
        r.start_level, r.total_change, (r.slope_lo, r.slope_hi), int(s.n[-1]), f"the level {r.weeks} weeks ago",
        r.test, r.p_value, abs(r.total_change) >= mat and r.slope_lo * r.slope_hi > 0,
        polarity(kpi.direction, r.total_change), reach, r.weeks, seen,
        r.total_change * float(s.denominator[-1] if kpi.unit in ABSOLUTE_UNITS else s.n[-1]),
        {"weeks": r.weeks, "slope": r.slope, "tau": r.tau, "weeks_already_drifting": seen,
         "standing": seen >= th.trend_news_weeks}, (tuple(first), tuple(last))))


def _trend_seen_before(s: det.WeeklySeries, r: det.Trend, material: float, weeks: int, look_back: int = 3) -> int:
    """Weeks just before the review week whose own drift test already showed this drift (p <= 0.05, same
    direction, material): a drift is news when it first shows, then it is standing until it stops."""
    count = 0
    for k in range(1, look_back + 1):
        past = det.WeeklySeries(s.periods[:-k], s.value[:-k], s.numerator[:-k], s.denominator[:-k], s.n[:-k], s.kind)
        t = det.trend(past, weeks=weeks)
        if t is None or t.p_value > 0.05 or t.total_change * r.total_change <= 0 or abs(t.total_change) < material:
            break
        count += 1
    return count


def _target(s, segment, level, kpi, ws, scope, week, reach, cands) -> None:
    """A target miss against the contract target in force for the segment this week (never a catalog default)."""
    if s.kind != "proportion" or s.denominator[-1] <= 0 or "channel" not in segment:
        return
    target = contracts.in_force(ws, scope, kpi.name, segment, week)
    if target is None:
        return
    value, higher = target.value, target.comparator == ">="
    past = det.backtest(s)
    sigma = max(1.0, stats.rms(past)) if len(past) >= 8 else 1.0
    r = det.target_miss(float(s.numerator[-1]), float(s.denominator[-1]), value, higher_is_better=higher, sigma_z=sigma)
    if r is None or int(s.n[-1]) < (kpi.min_volume or 0):
        return
    chronic = 0
    for i in range(len(s) - 2, -1, -1):  # the whole streak: a miss still open says for how long
        v = s.value[i]
        if not math.isfinite(v) or target.met(v):
            break
        chronic += 1
    ev = {"target": value, "certain": r.certain, "weeks_missed_before": chronic, "sigma_z": sigma}
    credit = _credit(ws, scope, kpi.name, segment, week) if target.penalty_per_point else None
    if credit is not None:  # the month's credit as the invoice owes it (metrics.credits.credits_at_stake), with its period
        ev["penalty"], ev["currency"], ev["penalty_period"] = credit
    cands.append(_Candidate(
        "target_miss", kpi.name, segment, level, Period(week, week + timedelta(days=6)), r.observed, value, r.delta,
        r.ci, r.n, "contract target", r.test, r.p_value, True, "bad", reach, chronic + 1, chronic,
        r.delta * r.n, ev, ((), (week,))))


_CREDITS: dict[tuple[str, str, date], CreditsAtStake] = {}  # one detect run's credits; cleared when a run starts


def _credit(ws: Workspace, scope: Scope, kpi: str, segment: Mapping[str, str], week: date) -> tuple[float, str, str] | None:
    """(credit owed, currency, period label) for the segment's lanes in the month of the week's Sunday; None when none is shown."""
    sunday = week + timedelta(days=6)
    key = (str(ws.path), scope.key, sunday)
    if key not in _CREDITS:
        _CREDITS[key] = credits_at_stake(ws, scope, month=sunday, through=sunday)
    credits = _CREDITS[key]
    if credits.total is None:
        return None
    lanes = credits.lanes.filter(pl.col("metric") == kpi)
    for column, value in segment.items():
        if column in lanes.columns:
            lanes = lanes.filter(pl.col(column) == value)
    owed = round(float(lanes.get_column("owed").sum()), 2)
    return (owed, credits.currency, credits.label) if owed > 0 else None


def _strata(frame: pl.DataFrame, dim: str) -> dict[str, dict[str, tuple[float, float]]]:
    """unit -> channel -> (numerator, denominator), the strata of the direct standardisation."""
    out: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    agg = frame.group_by(dim, "channel").agg(pl.col("numerator").sum(), pl.col("denominator").sum())
    for r in agg.iter_rows(named=True):
        if r[dim] is not None and r["channel"] is not None and (r["denominator"] or 0) > 0:
            out[r[dim]][r["channel"]] = (float(r["numerator"] or 0), float(r["denominator"]))
    return dict(out)


def _peers(kframe, pairs, level, kpi, week, th, client_volume, cands) -> None:  # noqa: PLR0913
    """Sites against the other sites of the same client (funnel on channel-standardised rates), this week and over the baseline."""
    dim = level[-1]
    cur = kframe.filter(pl.col("period") == week)
    base_start = week - timedelta(weeks=th.baseline_weeks)
    base = kframe.filter((pl.col("period") >= base_start) & (pl.col("period") < week))
    for (client,), rows in cur.partition_by(["client_id"], as_dict=True).items():
        rows = rows.filter(pl.col("denominator") > 0)
        units = rows.get_column(dim).to_list()
        cp = pairs.filter(pl.col("client_id") == client)
        found = det.peer_outlier(units, rows.get_column("numerator").to_list(), rows.get_column("denominator").to_list(),
                                 strata=_strata(cp.filter(pl.col("period") == week), dim))
        if not found:
            continue
        b = base.filter(pl.col("client_id") == client).group_by(dim).agg(pl.col("numerator").sum(), pl.col("denominator").sum())
        bp = cp.filter((pl.col("period") >= base_start) & (pl.col("period") < week))
        before = {o.unit: o for o in det.peer_outlier(b.get_column(dim).to_list(), b.get_column("numerator").to_list(),
                                                      b.get_column("denominator").to_list(), strata=_strata(bp, dim))}
        for o in found:
            mat = _material_amount(kpi, o.peer)
            o = replace(o, delta=o.adjusted_delta)  # judged on the mix-adjusted gap
            standing = o.unit in before and np.sign(before[o.unit].delta) == np.sign(o.delta)
            seg = {"client_id": client, dim: o.unit}
            reach = o.n / max(client_volume.get((client, kpi.name), 0.0), 1.0)
            cands.append(_Candidate(
                "peer_outlier", kpi.name, seg, level, Period(week, week + timedelta(days=6)), o.observed, o.peer,
                o.delta, o.limits, o.n, "its peers this week", o.test, o.p_value, abs(o.delta) >= mat,
                polarity(kpi.direction, o.delta), reach, 1, 4 if standing else 0, o.delta * o.n,
                {"adjusted": o.adjusted, "adjusted_delta": o.adjusted_delta, "tau": o.tau, "z": o.z,
                 "standing": bool(standing)}, ((), (week,))))


def _month_bounds(week_end: date) -> tuple[date, date]:
    """(first day, last day) of the latest calendar month complete by `week_end`."""
    last = week_end if (week_end + timedelta(days=1)).day == 1 else week_end.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def _monthly(ws, scope, view, levels, names, specs, catalog, th, week, last_day) -> list[_Candidate]:  # noqa: PLR0913
    """KPIs billed by the month (cost per contact), judged on complete months only.

    Invoices cover whole months, so a week's share of a month's invoice is an allocation, not a
    measurement (and a month not yet invoiced makes its weeks look free): the latest month complete
    by the review week is compared with the months before it, like with like, for a few weeks after
    it closes.
    """
    week_end = week + timedelta(days=6)
    m_start, m_end = _month_bounds(week_end)
    since = (week_end - m_end).days // 7
    if last_day is None or last_day < m_end or since >= th.month_news_weeks:
        return []
    months = th.history_months
    first = m_start
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    out: list[_Candidate] = []
    for level in levels:
        if len(level) > len(levels[0]) + 1 or (len(level) > len(levels[0]) and level[-1] not in SUSTAINED_DIMENSIONS):
            continue
        f = compute_kpis(ws, scope, names, grain="month", by=level, start=first, end=m_end, catalog=catalog)
        f = view.apply(f, rows_only=True).filter(pl.col("numerator").is_not_null() & (pl.col("numerator") != 0) & (pl.col("denominator") > 0))
        for key, rows in f.partition_by([*level, "kpi"], as_dict=True).items():
            if any(v is None for v in key):
                continue
            segment, kpi = dict(zip(level, key[:-1])), catalog.kpis[key[-1]]
            periods = tuple(sorted(rows.get_column("period").to_list()))
            if not periods or periods[-1] != m_start:
                continue
            s = _series_of(rows, periods, "mean")
            r = det.rate_change(s, baseline_weeks=th.baseline_months, history_weeks=months,
                                min_history=th.min_history_months)
            if r is None or r.n < (kpi.min_volume or 0):
                continue
            mat = _material_amount(kpi, r.expected)
            label = f"trailing {r.baseline_weeks} complete months"
            out.append(_Candidate(
                "rate_change", kpi.name, segment, level, Period(m_start, m_end), r.observed, r.expected, r.delta, r.ci,
                r.n, label, r.test, r.p_value, abs(r.delta) >= mat, polarity(kpi.direction, r.delta), 1.0, 1, since,
                r.delta * float(s.denominator[-1]), {"sigma": r.sigma, "mde": r.mde, "z": r.z, "grain": "month",
                                                     "n_baseline": r.n_baseline, "standing": since > 0}, ((), ())))
    return out


def _small_counts(kframe, level, periods, kpi, spec, th, client_volume, cands) -> None:
    window = th.attrition_window
    for key, rows in kframe.partition_by(list(level), as_dict=True).items():
        if any(v is None for v in key):
            continue
        segment = dict(zip(level, key))
        s = _series_of(rows, periods, "mean")
        r = det.small_count_rate(s.numerator, s.denominator, periods, window=window)
        if r is None or r.count < 1:
            continue
        first = periods[-window]
        cands.append(_Candidate(
            "small_count_rate", kpi.name, segment, level, Period(first, periods[-1] + timedelta(days=6)), r.rate,
            r.expected_rate, r.rate - r.expected_rate, r.ci, int(s.n[-window:].sum()), "the previous 26 weeks' rate",
            r.test, r.p_value, r.count - r.expected_count >= 2 and r.ratio >= 1.5,
            polarity(kpi.direction, r.rate - r.expected_rate), 1.0, window, 0, r.count - r.expected_count,
            {"count": r.count, "expected_count": r.expected_count, "weeks": window, "exposure": r.exposure},
            ((), tuple(periods[-window:]))))


def _declared_days(events: pl.DataFrame, kinds: set[str]) -> dict[str | None, frozenset[date]]:
    """Client (None: every client) -> the days of declared demand events (holidays, promotions, launches)."""
    out: dict[str | None, set[date]] = defaultdict(set)
    if events.is_empty():
        return {}
    for e in events.filter(pl.col("kind").is_in(sorted(kinds))).iter_rows(named=True):
        start = e["start_date"]
        end = e.get("end_date") or start
        out[e.get("client_id")].update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return {k: frozenset(v) for k, v in out.items()}


def _volume(daily: pl.DataFrame, root: tuple[str, ...], week: date, rules, client_volume, catalog,
            declared: Mapping[str | None, frozenset[date]]) -> list[_Candidate]:
    """Volume anomalies of tickets created per client, client × site and client × channel."""
    th = rules.thresholds
    out: list[_Candidate] = []
    if daily.is_empty():
        return out
    first = daily.get_column("period").min()
    days = [first + timedelta(days=i) for i in range((week + timedelta(days=6) - first).days + 1)]
    # lanes (site × channel) are too thin to judge; a dimension the view already filters on is in root
    for level in [root] + [root + (d,) for d in ("site_id", "channel") if d not in root]:
        agg = daily.group_by([*level, "period"]).agg(pl.col("value").sum())
        for key, rows in agg.partition_by(list(level), as_dict=True).items():
            segment = dict(zip(level, key))
            by_day = dict(zip(rows.get_column("period").to_list(), rows.get_column("value").to_list()))
            counts = [float(by_day.get(d, 0.0)) for d in days]
            if sum(counts[-7:]) < 7 * 10:
                continue
            client_days = declared.get(None, frozenset()) | declared.get(segment["client_id"], frozenset())
            r = det.volume_anomaly(counts, days, week, history_days=th.volume_history_days,
                                   declared=client_days)
            if r is None:
                continue
            total = client_volume.get((segment["client_id"], "tickets_created"), 0.0)
            material = abs(r.delta) >= th.volume_min_change * r.expected
            r_rel = r.delta / max(r.expected, 1.0)
            out.append(_Candidate(
                "volume_anomaly", "tickets_created", segment, level, Period(week, week + timedelta(days=6)), r.observed,
                r.expected, r.delta, (r.lo, r.hi), int(r.observed), "robust STL expectation", r.test, r.p_value,
                material, "neutral", r.observed / max(total, 1.0), 1, 0, r.delta,
                {"robust_z": r.robust_z, "dispersion": r.dispersion, "relative": r_rel}, ((), (week,))))
    return out


# --------------------------------------------------------------------------- tiers, merging


MATERIAL_TESTED = ("rate_change", "level_shift")
KEPT = ("headline", "watch", "standing")


def _p_material(c: _Candidate) -> float:
    """One-sided p that |change| exceeds the KPI's materiality (the change's own p for other detectors).

    A headline must be material with confidence, not merely non-zero: a 3-point move with a
    standard error of 0.6 points is surely real but not surely larger than a 2-point materiality.
    """
    z = c.evidence.get("z")
    if c.type not in MATERIAL_TESTED or not z or not math.isfinite(z) or c.delta == 0:
        return c.p_value
    se = abs(c.delta / z)
    return float(0.5 * math.erfc((abs(c.delta) - c.evidence.get("_material", 0.0)) / se / math.sqrt(2.0)))


def _change_interval(c: _Candidate) -> tuple[float, float] | None:
    """The 95% interval of the change itself (None when the finding carries none): a shift's and a drift's own
    interval; an observed value's interval less the expectation; the observation less an expected range."""
    if c.ci is None or c.expected is None or c.observed is None:
        return None
    lo, hi = c.ci
    if c.type in ("level_shift", "trend"):
        return lo, hi
    if c.type in ("volume_anomaly", "peer_outlier"):  # the interval is around the expectation
        return c.observed - hi, c.observed - lo
    return lo - c.expected, hi - c.expected  # the interval is around the observed value


def _excludes_zero(c: _Candidate) -> bool | None:
    """Whether the change's 95% interval leaves zero out (touching it does not); None without an interval."""
    ci = _change_interval(c)
    return None if ci is None else ci[0] * ci[1] > 0


def _headline_evidence(c: _Candidate, rules, kpi) -> bool:
    """Whether the finding has the least evidence a headline needs (rules.toml [tiers.headline])."""
    need = rules.tiers.headline
    if c.n < need.min_volume_multiple * (kpi.min_volume or 0):
        return False
    return not (need.ci_excludes_zero and _excludes_zero(c) is False)


def _confidence_label(tier: str, confidence: float, excludes_zero: bool | None, rules) -> str:
    """high | medium | low, in words for the reader (rules.toml [tiers.high_confidence], [tiers.medium_confidence])."""
    def clears(bar) -> bool:
        return confidence >= bar.min_confidence and not (bar.ci_excludes_zero and excludes_zero is False)

    if tier == "notice" or (tier in ("headline", "standing") and clears(rules.tiers.high_confidence)):
        return "high"
    return "medium" if tier != "context" and clears(rules.tiers.medium_confidence) else "low"


def _tier(c: _Candidate, rules, kpi) -> str:
    tier = _significance_tier(c, rules)
    return "watch" if tier == "headline" and not _headline_evidence(c, rules, kpi) else tier


def _significance_tier(c: _Candidate, rules) -> str:
    th, tiers = rules.thresholds, rules.tiers
    if not c.material:
        return "context"
    q = c.q_value if c.q_value is not None else 1.0
    if c.type in tiers.standing_types:
        chronic = c.seen_before >= tiers.chronic_weeks or c.evidence.get("standing")
        if q > th.headline_q:
            return "context"
        if c.type == "target_miss" and not c.evidence.get("certain"):
            return "context"
        return "standing" if chronic else "headline"
    chronic_change = c.type == "rate_change" and c.seen_before >= tiers.chronic_weeks
    if c.evidence.get("standing") or c.evidence.get("explained_by") or chronic_change:
        # (a week off its baseline for the fourth week running is no longer a change: the level moved)
        # an old shift is the new normal, and a holiday dip is expected: context, not news
        return "standing" if q <= th.headline_q else "context"
    large = abs(c.delta) >= tiers.event_materiality_multiple * c.evidence.get("_material", 0.0)
    surely_material = (c.q_material if c.q_material is not None else q) <= th.headline_q
    if q <= th.headline_q and surely_material and (not c.evidence.get("coincides") or large):
        return "headline"
    if q <= th.headline_q:
        return "watch"
    if q <= th.watch_q:
        return "watch"
    return "context"


def _family(c: _Candidate) -> tuple:
    if c.type == "routing_shift":  # the site that lost the work and the one that took it are one story
        return (c.type, c.kpi, c.segment.get("client_id"))
    if c.type in ("target_miss", "peer_outlier"):
        return (c.type, c.kpi, c.segment.get("client_id"), c.polarity, tuple(sorted(c.segment.items())))
    sign = "up" if c.delta > 0 else "down"
    where = c.segment.get("client_id") or f"vendor {c.segment.get('vendor_id')}"  # a vendor across clients is its own story
    return ("change", c.kpi, where, c.polarity, sign)


def _rank_key(c: _Candidate, rules) -> float:
    mat = 1.0
    return _factors(c, rules).score * mat


def _factors(c: _Candidate, rules) -> ranking.Factors:
    kpi_mat = c.evidence.get("_material", 0.0)
    impact = ranking.impact_factor(c.delta, kpi_mat, c.reach)
    certain = c.evidence.get("certain")
    conf = ranking.confidence_factor(c.q_value, certain)
    book = rules.playbook(kpi=c.kpi, type_=c.type, driver_kind=None, polarity=c.polarity,
                          segment_owner=c.evidence["_segment_owner"])
    return ranking.Factors(impact, conf, ranking.persistence_factor(c.weeks), book.actionability,
                           ranking.novelty_factor(c.seen_before))


def _merge(cands: list[_Candidate]) -> list[list[_Candidate]]:
    """Findings that tell one story (same KPI, client, direction of change) become one insight."""
    groups: dict[tuple, list[_Candidate]] = defaultdict(list)
    for c in cands:
        groups[_family(c)].append(c)
    return list(groups.values())


# --------------------------------------------------------------------------- explanation and record


def _events(ws: Workspace, scope: Scope) -> pl.DataFrame:
    try:
        return ws.read("events", scope)
    except Exception:  # a workspace without an events table has no calendar to align with
        return pl.DataFrame()


def _aligned_events(events: pl.DataFrame, segment: Mapping[str, str], start: date, end: date, margin: int) -> list[dict]:
    if events.is_empty():
        return []
    lo, hi = start - timedelta(days=margin), end  # an event after the change cannot line up with its start
    out = []
    for e in events.iter_rows(named=True):
        e_end = e.get("end_date") or e["start_date"]
        if e_end < lo or e["start_date"] > hi:
            continue
        if any(e.get(k) not in (None, v) for k, v in segment.items() if k in ("client_id", "site_id", "channel")):
            continue
        if "client_id" not in segment and e.get("vendor_id") not in (None, segment.get("vendor_id")):
            continue  # a vendor's work across clients lines up with its own events only (not a pilot at another's site)
            continue
        out.append({"kind": e["kind"], "name": e["name"], "start": e["start_date"].isoformat(), "end": e_end.isoformat()})
    out.sort(key=lambda e: (e["kind"] == "holiday", e["start"]))
    return out


@dataclass(frozen=True)
class _DriverFindings:
    """What the driver search says about a change: its drivers, its mix/rate split, and what it searched."""

    drivers: list[dict[str, Any]] = field(default_factory=list)
    decomposition: dict[str, Any] | None = None
    broad_based: bool = False
    searched: tuple[str, ...] = ()


def _driver_search(rep: _Candidate, frames: _Frames, kpi, th) -> _DriverFindings:
    """Drivers of the representative's change, one dimension at a time (every dimension its segment leaves free), over
    the very weeks its observed and expected pool, so the decomposition splits the change the headline states."""
    base_weeks, cur_weeks = rep.windows
    if not base_weeks or not cur_weeks:
        return _DriverFindings()
    cells = {}
    for d in ("client_id",) + DIMENSIONS:  # a vendor's work across clients is also split by client
        if d in rep.segment:
            continue
        f = frames.at((*rep.segment, d)).filter(pl.col("kpi") == rep.kpi)
        for k, v in rep.segment.items():
            f = f.filter(pl.col(k) == v)
        if kpi.type != "ratio":  # quantiles: per-record means as an approximation
            f = f.with_columns((pl.col("value") * pl.col("n")).alias("numerator"), pl.col("n").cast(pl.Float64).alias("denominator"))
        base = drv.cells_from_rows(f.filter(pl.col("period").is_in(list(base_weeks))).to_dicts(), d)
        cur = drv.cells_from_rows(f.filter(pl.col("period").is_in(list(cur_weeks))).to_dicts(), d)
        if len((set(base) | set(cur)) - {drv.MISSING}) > 1:  # one value (a site's vendor) explains nothing
            cells[d] = (base, cur)
    if not cells:
        return _DriverFindings()
    found = drv.search(cells, min_support=th.min_support)
    dec = None
    top_dim = found.drivers[0].dimension if found.drivers else None
    for dcomp in found.decompositions:
        if dcomp.dimension == (top_dim or "channel"):
            dec = {"dimension": dcomp.dimension, "total": dcomp.total, "rate": dcomp.rate, "mix": dcomp.mix,
                   "before": dcomp.before, "after": dcomp.after}
    return _DriverFindings([d.to_dict() for d in found.drivers], dec, found.broad_based, tuple(cells))


def _impact(rep: _Candidate, kpi, rules, spec_impact: str | None, currency: str) -> dict[str, Any]:
    imp = rules.impact.get(spec_impact or "", {"formula": "delta", "label": kpi.unit})
    value = rep.impact_value
    if imp["formula"] == "delta_x_n_hours":
        value = value / 3600.0
    label = currency if imp["label"] == "currency" else imp["label"]
    if rep.type == "target_miss" and kpi.name.startswith("sla"):
        label = "tickets outside SLA"
    return {"value": round(abs(value), 1), "unit": label}


def _with_log_novelty(ws: Workspace, insights: list[Insight], rules, scope: Scope) -> list[Insight]:
    """Novelty from what people did with an insight (the Insights page's log, by stable id): a finding the
    team acknowledged or is acting on ranks lower, one marked not useful lowest (rules.toml [novelty])."""
    factors = rules.novelty
    if not insights or not factors:
        return insights
    from insights.detection import insight_log

    try:
        logged = insight_log.states(ws, [i.id for i in insights], tenant=insight_log.tenant_of(scope))
    except Exception:  # noqa: BLE001 - a workspace without a metadata database has no history to weigh
        return insights
    out = []
    for ins in insights:
        status = logged[ins.id].status if ins.id in logged else "new"
        factor = factors[status]
        if factor == 1.0:
            out.append(ins)
            continue
        f = replace(ranking.Factors(**ins.evidence["factors"]),
                    novelty=round(ins.evidence["factors"]["novelty"] * factor, 4))
        out.append(replace(ins, score=f.score, evidence={**ins.evidence, "factors": asdict(f), "log_status": status}))
    return out


@dataclass(frozen=True, kw_only=True)
class _Tenants:
    """Who runs which site, and the names of vendors and sites (bpo.toml [[vendor]] and [[site]])."""

    site_vendor: Mapping[str, str]
    vendor_names: Mapping[str, str]
    site_names: Mapping[str, str]

    @classmethod
    def of(cls, config: Any) -> _Tenants:
        """The tenants a workspace declares."""
        return cls(site_vendor={s["id"]: s["vendor"] for s in config.sites if s.get("vendor")},
                   vendor_names={v["id"]: v.get("name", v["id"]) for v in config.vendors},
                   site_names={s["id"]: s.get("name", s["id"]) for s in config.sites})

    def vendor_name(self, vendor: str | None) -> str | None:
        """'Southpeak Contact' for 'southpeak' (the id when bpo.toml names none)."""
        return None if vendor is None else self.vendor_names.get(vendor, vendor)

    def site_name(self, site: str) -> str:
        """'Southpeak Kraków' for 'sp-krakow' (the id when bpo.toml names none)."""
        return self.site_names.get(site, site)


def _segment_owner(c: _Candidate, frames, tenants: _Tenants) -> tuple[str, str | None, str | None]:
    """(segment_owner, vendor, site): who runs the segment's work, for the playbook and its wording.

    'vendor' or 'in_house' when one vendor handled every ticket of the segment in the finding's
    weeks (named in the segment, through its site, or seen in the site × channel volumes), else
    'brand' (the work of several vendors, or a segment the site volumes cannot split).
    """
    seg = c.segment
    vendor, site = seg.get("vendor_id"), seg.get("site_id")
    if site is not None and vendor is None:
        vendor = tenants.site_vendor.get(site)
    pairs = next((f for level, f in frames.items() if "site_id" in level and "channel" in level), None)
    if vendor is None and pairs is not None and set(seg) <= {"client_id", "channel", "site_id"}:
        rows = pairs.filter((pl.col("kpi") == "tickets_created") & (pl.col("value") > 0)
                            & pl.col("period").is_between(c.period.start, c.period.end))
        for k, v in seg.items():
            rows = rows.filter(pl.col(k) == v)
        sites = set(rows.get_column("site_id").to_list())
        vendors = {tenants.site_vendor.get(s) for s in sites}
        if len(vendors) == 1 and None not in vendors:
            vendor = vendors.pop()
            site = site or (sites.pop() if len(sites) == 1 else None)
    if vendor is None:
        return "brand", None, None
    return ("in_house" if vendor == IN_HOUSE else "vendor"), vendor, site


def _coarseness(segment: Mapping[str, str]) -> int:
    """How coarse a segment's dimensions are: of two segments holding the same rows (a vendor with one
    site for this client), the site is named, being the place where somebody acts."""
    order = {"site_id": 0, "channel": 1, "contact_reason": 2, "priority": 3, "vendor_id": 4}
    return sum(order.get(k, 0) for k in segment)


def _open_weeks(c: _Candidate) -> int:
    """How many weeks a standing problem has been open, when it is still far from its baseline or its target (else 0).

    A shift older than the news window is standing, but if the latest week is still at least the KPI's materiality
    from the level before the shift, the problem is open and stays in front of the reviewer; a contract target missed
    week after week with certainty is open for as long as the streak.
    """
    if c.tier != "standing" or c.polarity != "bad":
        return 0
    if c.type == "level_shift" and "latest" in c.evidence and c.expected is not None:
        still = (c.evidence["latest"] - c.expected) * np.sign(c.delta) >= c.evidence.get("_material", 0.0)
        return int(c.weeks) if still else 0
    if c.type == "rate_change" and "_open_weeks" in c.evidence:  # the latest week against the weeks before the shift
        return int(c.evidence["_open_weeks"]) if abs(c.delta) >= c.evidence.get("_material", 0.0) else 0
    if c.type == "target_miss" and c.evidence.get("certain"):
        return int(c.evidence.get("weeks_missed_before", 0)) + 1
    return 0


def _finish(group: list[_Candidate], frames, all_cands, thin, events, catalog, rules, week, currency: str,
            tenants: _Tenants, names: Names | None = None) -> Insight:
    th = rules.thresholds
    kpi = catalog.kpis[group[0].kpi]
    for c in group:
        c.evidence["_material"] = _material_amount(kpi, c.expected)
    # the strongest evidence speaks for the group (not the newest: an old, sure shift is the story)
    group.sort(key=lambda c: (c.p_value, len(c.segment), _coarseness(c.segment), -_factors(c, rules).score, c.type))
    if group[0].type == "routing_shift":  # told from the site that lost work: its committed minimum is what bites
        group.sort(key=lambda c: c.delta > 0)
    rep = group[0]
    found = _driver_search(rep, frames, kpi, th) if rep.type in CHANGE_TYPES else _DriverFindings()
    drivers, dec = found.drivers, found.decomposition
    if rep.type == "driver":  # the mix finding carries its own decomposition and driver
        drivers, dec = list(rep.evidence["_drivers"]), rep.evidence["_decomposition"]
    if rep.type not in SPLIT_TYPES or kpi.type != "ratio":
        dec = None  # a split of another window's change, or of per-record means, would restate a different number
    seg_key = tuple(sorted(rep.segment.items()))
    co = []
    for c in all_cands:
        if c is rep or c.kpi == rep.kpi or tuple(sorted(c.segment.items())) != seg_key:
            continue
        if any(x["kpi"] == c.kpi for x in co):  # one line per co-moving KPI (weekly and window tests both find it)
            continue
        if c.tier in ("headline", "watch") and c.period.end >= rep.period.end - timedelta(days=6):
            ck = catalog.kpis[c.kpi]
            co.append({"kpi": c.kpi, "label": ck.label, "delta": c.delta, "unit": ck.unit})
    thin_notes = [t for t in thin if t["kpi"] == rep.kpi and t["parent"] == rep.segment]
    margin = th.event_margin_days
    # a calendar event lines up with a change's onset (a week's jump, a shift's first week); a drift over
    # months has no onset, so an event somewhere inside its window is not "coinciding"
    onset = date.fromisoformat(rep.evidence["shift_week"]) if "_open_weeks" in rep.evidence else rep.period.start
    aligned = [] if rep.type == "trend" else _aligned_events(events, rep.segment, onset, onset + timedelta(days=6), margin)
    if rep.type != "volume_anomaly":
        aligned = [e for e in aligned if e["kind"] != "holiday"]
    type_ = "improvement" if rep.polarity == "good" and rep.type in ("rate_change", "level_shift", "trend") else rep.type
    driver_kind = drivers[0]["kind"] if drivers else None
    owner, vendor, site = rep.evidence["_segment_owner"], rep.evidence["_vendor"], rep.evidence["_site"]
    book = rules.playbook(kpi=rep.kpi, type_=rep.type, driver_kind=driver_kind, polarity=rep.polarity, segment_owner=owner)
    shown = shown_segment(rep.segment, rep.evidence.get("_part", WHOLE))  # a vendor's share of a client says so
    action_text = book.text(segment=format.segment(shown, names), vendor=tenants.vendor_name(vendor),
                            unit=tenants.site_name(site) if site else None)
    verify = narrative.verify_week(week, book.verify_after_weeks)
    verify_kpi = rep.kpi if book.verify_kpi == "same" else book.verify_kpi  # "same": the insight's own KPI
    spec = next((d for d in rules.detect if d["kpi"] == rep.kpi), {})
    impact = _impact(rep, kpi, rules, spec.get("impact"), currency)
    factors = _factors(rep, rules)
    # a change that also breaks the contract (here or in the segment around it) says so, with the credit; the
    # target miss stays an insight of its own (the contract's view: its Wilson interval, streak and credit)
    missed = next((c for c in all_cands if c.type == "target_miss" and c.kpi == rep.kpi and c.tier in KEPT
                   and c.segment.items() <= rep.segment.items()), None)
    if missed is not None and rep.type in ("rate_change", "level_shift") and rep.polarity == "bad":
        rep.evidence["target_miss"] = {"target": missed.expected, "delta": missed.observed - missed.expected,
                                       "observed": missed.observed, "segment": dict(missed.segment),
                                       "week": missed.period.start.isoformat(),
                                       **{k: missed.evidence[k] for k in ("penalty", "currency", "penalty_period") if k in missed.evidence}}
    if rep.type == "routing_shift":
        rep.evidence["counterparts"] = [
            {"site_id": c.segment["site_id"], "share_before": c.evidence["share_before"],
             "share_after": c.evidence["share_after"]} for c in group[1:] if c.delta * rep.delta < 0][:2]
    open_weeks = _open_weeks(rep)
    evidence = {
        "tier": rep.tier, "polarity": rep.polarity, "detector": rep.type, "ci_level": 0.95,
        **({"open_weeks": open_weeks} if open_weeks else {}),
        **{k: v for k, v in rep.evidence.items() if not k.startswith("_")},
        "decomposition": dec, "broad_based": found.broad_based, "searched": list(found.searched), "co_moving": co,
        "events": aligned, "thin": thin_notes, "factors": asdict(factors),
        # the same change seen at the other levels of the segment tree (told once, from the representative)
        "merged": [{"type": c.type, "segment": c.segment, "delta": c.delta, "q_value": c.q_value} for c in group[1:]],
        "label": kpi.label,
    }
    if shown != rep.segment:
        evidence["share_of"] = dict(rep.segment)  # the client-wide segment this is the viewer's share of
    confidence = round(ranking.confidence_factor(rep.q_value, rep.evidence.get("certain")), 4)
    evidence["segment_owner"] = owner
    evidence["ci_excludes_zero"] = _excludes_zero(rep)
    evidence["confidence_label"] = _confidence_label(rep.tier, confidence, evidence["ci_excludes_zero"], rules)
    return _told(Insight(
        id=stable_id(type_, rep.kpi, shown, rep.period.start), type=type_, kpi=rep.kpi, segment=shown,
        period=rep.period, observed=rep.observed, expected=rep.expected, baseline=rep.baseline, delta=rep.delta,
        unit=kpi.unit, ci=rep.ci, n=rep.n, test=rep.test, p_value=rep.p_value, q_value=rep.q_value, impact=impact,
        confidence=confidence, score=factors.score, headline="", meaning="",
        action=Action(action_text, book.owner, verify_kpi, verify), drivers=tuple(drivers), evidence=evidence),
        rules, kpi=kpi, names=names)


def _told(ins: Insight, rules, *, kpi: Any = None, names: Names | None = None) -> Insight:
    """The insight with its sentences rendered from its own record (the five slots, headline, meaning, action)."""
    draft = {"type": ins.type, "kpi": ins.kpi, "segment": ins.segment, "unit": ins.unit,
             "period": {"start": ins.period.start, "end": ins.period.end}, "observed": ins.observed,
             "expected": ins.expected, "delta": ins.delta, "ci": ins.ci, "n": ins.n, "baseline": ins.baseline,
             "impact": ins.impact, "drivers": list(ins.drivers), "evidence": ins.evidence,
             "action": asdict(ins.action)}
    text = narrative.render(draft, ins.evidence["label"], rules, kpi=kpi, names=names)
    evidence = {**ins.evidence, "narrative": {s: text[s] for s in narrative.SLOTS}}
    return replace(ins, headline=text["headline"], meaning=text["meaning"], evidence=evidence)


# --------------------------------------------------------------------------- cards


def _nested(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Whether one segment holds the other (acme · email holds acme · nw-manila · email)."""
    return a.items() <= b.items() or b.items() <= a.items()


def _onset(ins: Insight) -> date:
    """The week a finding began: a contract missed week after week began with its streak."""
    return ins.period.start - timedelta(weeks=int(ins.evidence.get("weeks_missed_before", 0)))


def _linked(a: Insight, b: Insight) -> bool:
    """Two findings of one story: nested segments of one client, the same onset week, and a shared cause: a change and
    the contract of its KPI it breaks, a co-moving KPI, or the same calendar event."""
    if a.segment.get("client_id") != b.segment.get("client_id") or not _nested(a.segment, b.segment):
        return False
    if abs((_onset(a) - _onset(b)).days) > 6:
        return False
    co = {c["kpi"] for c in a.evidence.get("co_moving", [])} | {c["kpi"] for c in b.evidence.get("co_moving", [])}
    events = {e["name"] for e in a.evidence.get("events", [])} & {e["name"] for e in b.evidence.get("events", [])}
    # one KPI links only a change and its contract: two changes of one KPI the merge kept apart run opposite ways
    contract = a.kpi == b.kpi and "target_miss" in (a.type, b.type)
    return contract or a.kpi in co or b.kpi in co or bool(events)


HEADLINE_FACTS = ("shift_week", "weeks", "slope", "count", "adjusted", "share_before", "share_after", "open_weeks")


def _sub_point(ins: Insight, money: bool) -> dict[str, Any]:
    """A finding told inside another's card: its own numbers, and its service credit only when the card has none."""
    point = {"id": ins.id, "type": ins.type, "kpi": ins.kpi, "label": ins.evidence.get("label", ins.kpi),
             "segment": dict(ins.segment), "period": {"start": ins.period.start, "end": ins.period.end},
             "observed": ins.observed, "expected": ins.expected, "baseline": ins.baseline, "delta": ins.delta,
             "unit": ins.unit, "ci": ins.ci, "n": ins.n, "tier": ins.tier, "headline": ins.headline,
             "confidence_label": ins.evidence.get("confidence_label"),
             "drivers": list(ins.drivers[:1]), "facts": {k: ins.evidence[k] for k in HEADLINE_FACTS if k in ins.evidence}}
    if money and ins.evidence.get("penalty"):
        point.update(penalty=ins.evidence["penalty"], currency=ins.evidence.get("currency", ""),
                     **({"penalty_period": ins.evidence["penalty_period"]} if ins.evidence.get("penalty_period") else {}))
    return point


def _quotes_money(ins: Insight) -> bool:
    """Whether the insight's own sentences already quote a service credit."""
    return bool(ins.evidence.get("penalty") or (ins.evidence.get("target_miss") or {}).get("penalty"))


def _cards(insights: list[Insight], rules, catalog: Catalog, names: Names | None = None) -> list[Insight]:
    """Related findings about one segment and cause become one card: the strongest tells the story, the others are
    its sub-points (`evidence.related`), and a service credit is quoted once per card."""
    cards: list[list[Insight]] = []
    for ins in sorted(insights, key=ranking.rank_key):
        card = next((c for c in cards if ins.type != "data_quality" and c[0].type != "data_quality"
                     and any(_linked(ins, member) for member in c)), None)
        if card is None:
            cards.append([ins])
        else:
            card.append(ins)
    out = []
    for lead, *subs in cards:
        if not subs:
            out.append(lead)
            continue
        money = _quotes_money(lead)
        related = []
        for sub in subs:
            related.append(_sub_point(sub, money=not money))
            money = money or _quotes_money(sub)
        out.append(_told(replace(lead, evidence={**lead.evidence, "related": related}), rules,
                         kpi=catalog.kpis.get(lead.kpi), names=names))
    return out


# --------------------------------------------------------------------------- data quality


def _data_quality(daily: pl.DataFrame, root_frame: pl.DataFrame, week: date, last_day: date | None, specs, catalog,
                  rules, names: Names | None = None) -> list[Insight]:
    """Notices about the data itself; `withhold` marks the clients whose insights are held back."""
    out: list[Insight] = []
    week_end = week + timedelta(days=6)
    clients = sorted(set(daily.get_column("client_id").drop_nulls().to_list())) if daily.height else []
    for client in clients:
        d = daily.filter(pl.col("client_id") == client).group_by("period").agg(pl.col("value").sum())
        by_day = dict(zip(d.get_column("period").to_list(), d.get_column("value").to_list()))
        seg = {"client_id": client}
        if last_day is not None and last_day < week_end:
            out.append(_notice("incomplete_week", seg, week, f"The week of {week.isoformat()} is not complete: the data "
                               f"ends on {last_day.isoformat()}.", {"days": [last_day.isoformat()], "withhold": True},
                               0, catalog, rules))
            continue
        issue = det.missing_days(by_day, week)
        if issue:
            days = ", ".join(x.isoformat() for x in issue.days)
            out.append(_notice("missing_days", seg, week, f"No tickets for {format.label('client', client, names)} on {days}: {issue.count} of the "
                               f"week's days are missing.", {"days": [x.isoformat() for x in issue.days],
                                                             "count": issue.count, "withhold": True},
                               issue.count, catalog, rules))
    periods = (week - timedelta(weeks=8),) + tuple(week - timedelta(weeks=8 - i) for i in range(1, 9))
    for (client, kpi_name), rows in root_frame.partition_by(["client_id", "kpi"], as_dict=True).items():
        if kpi_name not in specs or specs[kpi_name]["kind"] not in ("proportion", "mean"):
            continue
        s = _series_of(rows, tuple(periods), "mean")
        issue = det.denominator_zero(s)
        if issue:
            label = catalog.kpis[kpi_name].label
            out.append(_notice("denominator_zero", {"client_id": client, "kpi": kpi_name}, week,
                               f"{label} has no volume for {format.label('client', client, names)} in the week of {week.isoformat()} after "
                               f"weeks with volume: a feed may have stopped.", {"withhold": False}, 0, catalog, rules))
    return out


def _duplicate_sources(ws: Workspace, scope: Scope, view: View, week: date, th, catalog,
                       rules, names: Names | None = None) -> list[Insight]:
    """Tickets of the week that arrived from two sources under the same id (a file export and an API sync of the
    same helpdesk, named differently): every count is inflated; above `duplicate_withhold_share` the client's
    insights are withheld."""
    cols = ["client_id", "ticket_id", "source_system", "source_instance", "created_at", "site_id", "channel"]
    lf = view.apply(ws.scan("tickets", scope, columns=cols), rows_only=True)
    start = datetime.combine(week, time.min, tzinfo=timezone.utc)
    lf = lf.filter((pl.col("created_at") >= start) & (pl.col("created_at") < start + timedelta(days=7)))
    per_id = lf.group_by("client_id", "ticket_id").agg(
        (pl.col("source_system").fill_null("") + "/" + pl.col("source_instance").fill_null("")).n_unique().alias("sources"))
    counts = per_id.group_by("client_id").agg(pl.len().alias("total"), (pl.col("sources") > 1).sum().alias("dup")).collect()
    out = []
    for client, total, dup in counts.sort("client_id").iter_rows():
        issue = det.duplicate_ids(int(dup), int(total))
        if issue is None or client is None:
            continue
        withhold = dup / max(total, 1) > th.duplicate_withhold_share
        out.append(_notice(
            "duplicates", {"client_id": client}, week,
            f"{dup:,} of the {total:,} tickets {format.label('client', client, names)} opened in the week of {week.isoformat()} arrived from two "
            f"sources under the same id, so every count is inflated"
            + (": insights for the client are withheld until one source is removed or both are mapped to one "
               "source name." if withhold else "; remove one source or map both to one source name."),
            {"count": int(dup), "total": int(total), "withhold": withhold}, int(dup), catalog, rules))
    return out


def _notice(kind: str, segment: dict, week: date, message: str, extra: dict, count: int, catalog, rules) -> Insight:
    book = rules.playbook(kpi="tickets_created", type_="data_quality", driver_kind=None, polarity="bad",
                          segment_owner="brand")
    draft = {"type": "data_quality", "kpi": "tickets_created", "segment": segment, "unit": "count",
             "period": {"start": week, "end": week + timedelta(days=6)}, "observed": float(count), "expected": None,
             "delta": 0.0, "ci": None, "n": count, "baseline": "", "impact": None, "drivers": [],
             "evidence": {"message": message, **extra},
             "action": {"text": book.action, "owner": book.owner, "verify_kpi": book.verify_kpi,
                        "verify_week": week.isoformat()}}
    text = narrative.render(draft, "Data quality", rules)
    evidence = {"tier": "notice", "confidence_label": "high", "kind": kind, "message": message, **extra,
                "narrative": {s: text[s] for s in narrative.SLOTS}}
    return Insight(stable_id("data_quality", kind, segment, week), "data_quality", "tickets_created", segment,
                   Period(week, week + timedelta(days=6)), float(count), None, "", None, "count", None, count, None,
                   None, None, None, 1.0, 100.0, text["headline"], text["meaning"],
                   Action(book.action, book.owner, book.verify_kpi, week.isoformat()), (), evidence)
