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

The steps live beside it: `reading` (the run's context and frames), `scan` and `level_scan` (the detectors, listed
in `registry`), `tiers` (BH and tiers), `explain` (merging, drivers, the record), `cards`, `data_quality`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from connectors.store import Scope, Workspace
from insights.catalog import Catalog, load_catalog
from insights.catalog.rules import reading_catalog
from insights.detection import insight_log, narrative, ranking
from insights.detection.cards import cards
from insights.detection.data_quality import data_quality, duplicate_sources
from insights.detection.detectors import WEEKLY_KINDS
from insights.detection.explain import aligned_events, finish, merge, segment_owner
from insights.detection.level_scan import monthly, peers, routing_shifts, volume
from insights.detection.reading import (
    Frames,
    LevelReader,
    Run,
    client_volume,
    daily_volumes,
    data_end,
    declared_days,
    last_period,
    read_events,
    series_of,
)
from insights.detection.records import DIMENSIONS, PAIR, ROOT, Candidate, Findings
from insights.detection.registry import DETECTORS, MIX
from insights.detection.scan import cross_client_levels, scan_cross, scan_level, serving_several
from insights.detection.tiers import KEPT, judge
from insights.format import Names
from insights.metrics.cube import KpiCube
from insights.metrics.periods import latest_complete_week
from insights.view import View

UNTOUCHED_BY_EVENTS = ("target_miss", "peer_outlier", "small_count_rate")  # a declared demand event neither explains nor tempers these


@dataclass(frozen=True)
class Reach:
    """What a run for one week reads: the days from `start` to `end`, the KPIs its rules judge (with the counts of a
    net score's answers for and against), and the catalog that computes them all (`rules.reading_catalog`)."""

    start: date
    end: date
    kpis: tuple[str, ...]
    catalog: Catalog


def engine_reach(week: date, catalog: Catalog) -> Reach:
    """The days a run for `week` (its first day in the view's calendar) reads (its weekly history, the daily volume
    history, the months judged by the month, the days after the week its outcomes need) and the KPIs it reads, so
    one cube can answer the whole run."""
    rules = narrative.load_rules()
    th = rules.thresholds
    specs = {d["kpi"]: d for d in rules.detect if d["kpi"] in catalog.kpis}
    week_end = week + timedelta(days=6)
    months = week_end.replace(day=1)
    for _ in range(th.history_months + 1):
        months = (months - timedelta(days=1)).replace(day=1)
    start = min(week - timedelta(weeks=th.history_weeks), week - timedelta(days=th.volume_history_days + 7), months)
    mature = max((int(spec["mature_days"]) for spec in specs.values()), default=0)
    parts = [p for pair in rules.net_parts(catalog).values() for p in pair]  # a net score's answers for and against
    return Reach(start=start, end=week_end + timedelta(days=mature),
                 kpis=tuple(dict.fromkeys((*specs, *parts, "tickets_created"))), catalog=reading_catalog(catalog, rules))


def run_cube(ws: Workspace, scope: Scope, week: date, catalog: Catalog, fixed: tuple[str, ...] = ()) -> KpiCube:
    """The cube one run reads: every KPI it judges, by day × every dimension it scans, over its reach."""
    reach = engine_reach(week, catalog)
    return KpiCube(ws, scope, catalog=reach.catalog, dims=tuple(dict.fromkeys((*ROOT, *DIMENSIONS, *fixed))),
                   start=reach.start, end=reach.end, kpis=reach.kpis)


def detect(ws: Workspace, scope: Scope, *, week: date | None = None, filters: dict[str, str] | None = None,
           catalog: Catalog | None = None, tenant: str | None = None, cube: KpiCube | None = None) -> Findings:
    """Insights for the week starting `week` (a Monday; default: the last complete week) in the viewer's scope.

    `filters` narrow the view: client / vendor narrow the scope, site / channel the rows; they
    never widen it.  `tenant` is the viewer's insight-log tenant (`insight_log.tenant_of(viewer)`),
    whose notes alone weigh novelty; pass it whenever the scope was narrowed before the call (a
    brand user's `--vendor` must not read that vendor's notes).  Default: the tenant of `scope`.
    Every KPI the run reads comes from one `KpiCube` (`cube`, e.g. the review's; else one built for the run).
    """
    catalog = catalog or load_catalog()
    rules = narrative.load_rules()
    th = rules.thresholds
    view = View.of(scope, filters, week, config=ws.config)  # the week is cut in the view's reporting calendar
    eff, fixed = view.scope_for_read(), view.fixed
    week = view.week

    def usable(c: KpiCube | None, w: date) -> KpiCube:
        reach = engine_reach(w, catalog)
        ok = (c is not None and c.scope.key == eff.key and set(fixed) <= set(c.dims)
              and c.start <= reach.start and reach.end <= c.end and all(k in c.catalog.kpis for k in reach.kpis))
        return c if ok and c is not None else run_cube(ws, eff, w, catalog, fixed)

    cube = usable(cube, week) if week is not None else None
    daily = daily_volumes(ws, eff, view, week=week, history_days=th.volume_history_days, catalog=catalog, cube=cube)
    last_day = last_period(daily)
    if week is None:
        if last_day is None:
            return Findings(week=date.today(), insights=[], top=[], notices=[], tests=0, calendar=view.calendar)
        week = latest_complete_week(last_day, view.calendar.week_start)
    week = view.calendar.week_of(week)
    cube = usable(cube, week)
    week_end = week + timedelta(days=6)
    history = th.history_weeks
    start = week - timedelta(weeks=history)
    periods = tuple(start + timedelta(weeks=i) for i in range(history + 1))

    specs = {d["kpi"]: d for d in rules.detect if d["kpi"] in catalog.kpis}
    names = Names.of_view(ws, eff, catalog)  # ids as people know them, in every sentence
    partial = eff.vendors is not None
    # with one vendor in view the client's work in view IS that vendor's: the root level is its segment
    one_vendor = partial and len(eff.vendors or ()) == 1
    root = ROOT + fixed
    levels = [root] + [root + (d,) for d in DIMENSIONS if d not in fixed and not (one_vendor and d == "vendor_id")]
    if not set(PAIR) <= set(fixed):
        levels.append(root + tuple(d for d in PAIR if d not in fixed))
    read = LevelReader(ws=ws, scope=eff, kpis=tuple(specs), start=start, end=week_end, view=view,
                       catalog=reading_catalog(catalog, rules), cube=cube, parts=rules.net_parts(catalog))
    frames: dict[tuple[str, ...], pl.DataFrame] = {level: read(level) for level in levels}

    notices = data_quality(daily, frames[root], week=week, last_day=last_day, specs=specs, catalog=catalog,
                           rules=rules, names=names)
    notices += duplicate_sources(ws, eff, view, week=week, th=th, catalog=catalog, rules=rules, names=names)
    held_back = {n.segment.get("client_id") for n in notices if n.evidence.get("withhold")}

    mature = max((spec["mature_days"] for spec in specs.values()), default=0)
    run = Run(ws=ws, scope=eff, view=view, week=week, catalog=catalog, rules=rules, names=names, specs=specs,
              periods=periods, client_volume=client_volume(frames[root], week),
              data_end=data_end(ws, eff, week_end=week_end, days=mature, catalog=catalog, cube=cube) if mature else last_day,
              cube=cube)

    cands: list[Candidate] = []
    client_series = {(k[0], k[1]): series_of(rows, periods, specs[k[1]]["kind"], points=specs[k[1]]["points"] or 1.0)
                     for k, rows in frames[root].partition_by(["client_id", "kpi"], as_dict=True).items()
                     if k[1] in specs and specs[k[1]]["kind"] in WEEKLY_KINDS}
    for level, frame in frames.items():
        cands += scan_level(run, level=level, frame=frame, root=root, client_series=client_series)
    declared = frozenset(str(c["id"]) for c in getattr(ws.config, "clients", []))
    cross = cross_client_levels(declared, eff, fixed) if th.cross_client else []
    several = serving_several(daily, names.site_vendor)
    cross_frames = {level: read(level) for level in (cross if several else [])}
    if cross_frames:
        cands += scan_cross(run, frames=cross_frames, several=several)
    mix_level = root + ("channel",)
    if mix_level in frames:
        cands += MIX(run, frame=frames[mix_level], root=root)
    site_level, pair_level = root + ("site_id",), root + PAIR
    withheld: list[str] = []
    if partial:  # peers: a site's share of its client, or its place among the client's sites, needs every vendor's work
        withheld.append("Routing shifts and peer outliers compare a site with every site of its client, and the "
                        "other vendors' sites are outside this view: they are not judged here.")
    if not partial and site_level in frames and DETECTORS["routing_shift"].on(specs.get("tickets_created")):
        cands += routing_shifts(run, frame=frames[site_level], root=root)
    by_month = [name for name, spec in specs.items() if spec["grain"] == "month"]
    if by_month:
        cands += monthly(run, levels=levels, kpis=by_month, last_day=last_day)
    if not partial and site_level in frames and pair_level in frames:
        for name, spec in specs.items():
            if DETECTORS["peer_outlier"].on(spec):
                cands += peers(run, kframe=frames[site_level].filter(pl.col("kpi") == name),
                               pairs=frames[pair_level].filter(pl.col("kpi") == name), level=site_level,
                               kpi=catalog.kpis[name])
    events = read_events(ws, eff)
    demand = set(rules.tiers.demand_event_kinds)
    cands += volume(run, daily=daily, root=root, declared=declared_days(events, demand))
    cands = [_with_demand_event(c, events, demand) for c in cands
             if c.segment.get("client_id") not in held_back
             and not (held_back and "client_id" not in c.segment)]  # a cross-client segment holds every client

    judged = judge(cands, scope=eff, site_vendor=names.site_vendor, catalog=catalog, rules=rules)
    judged = [_owned(c, frames, names) if c.tier in KEPT else c for c in judged]
    by_level = Frames(read=read, levels={**frames, **cross_frames})
    currency = str(getattr(ws.config, "currency", None) or "")
    insights = [finish(run, group=group, frames=by_level, all_cands=judged, events=events, currency=currency)
                for group in merge([c for c in judged if c.tier in KEPT])]
    # a card keeps its lead (and id) whatever the log says
    insights = ranking.with_log_novelty(ws, cards(insights, rules, catalog, names), rules,
                                        tenant=tenant if tenant is not None else insight_log.tenant_of(scope))
    insights.sort(key=lambda i: (-ranking.steady(i.score), i.id))
    top = ranking.select_top(notices + insights, top_max=th.top_max)
    return Findings(week=week, insights=notices + insights, top=top, notices=notices, tests=len(cands),
                    withheld=tuple(withheld), calendar=view.calendar)


def _with_demand_event(c: Candidate, events: pl.DataFrame, demand: set[str]) -> Candidate:
    """A volume anomaly on a declared holiday, promotion or launch is explained by it; another change coinciding with
    one is a knock-on effect, worth watching, not news unless large."""
    if c.type in UNTOUCHED_BY_EVENTS:
        return c
    on = [e for e in aligned_events(events, c.segment, c.period.start, c.period.start + timedelta(days=6), 0)
          if e["kind"] in demand]
    if not on:
        return c
    key = "explained_by" if c.type == "volume_anomaly" else "coincides"
    return replace(c, evidence={**c.evidence, key: on[0]["name"]})


def _owned(c: Candidate, frames: dict[tuple[str, ...], pl.DataFrame], names: Names) -> Candidate:
    """The candidate with who runs its segment's work (for its playbook and wording)."""
    owner, vendor, site = segment_owner(c, frames, names)
    return replace(c, owner=owner, owner_vendor=vendor, owner_site=site)
