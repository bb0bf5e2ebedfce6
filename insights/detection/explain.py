"""From judged candidates to insights: findings of one story merged, the representative explained (drivers, co-moving
KPIs, aligned calendar events, impact, the owner of the segment's work and its playbook) and told in its five slots."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Mapping

import numpy as np
import polars as pl

from insights import format
from insights.catalog import Kpi
from insights.catalog.rules import IN_HOUSE, Rules, Thresholds
from insights.detection import drivers as drv
from insights.detection import narrative, ranking
from insights.detection.reading import Frames, Run
from insights.detection.records import DIMENSIONS, Action, Candidate, Insight, Owner, shown_segment, stable_id
from insights.detection.tiers import KEPT, confidence_label, excludes_zero
from insights.format import Names

CHANGE_TYPES = ("rate_change", "level_shift", "trend", "volume_anomaly", "small_count_rate", "improvement")
# the types whose driver windows are exactly the weeks their observed and expected pool: only these restate their
# change as rate + mix (a drift's first and last weeks are not its Sen-line levels)
SPLIT_TYPES = ("rate_change", "level_shift", "driver")


# --------------------------------------------------------------------------- merging


def _family(c: Candidate) -> tuple[Any, ...]:
    if c.type == "routing_shift":  # the site that lost the work and the one that took it are one story
        return (c.type, c.kpi, c.segment.get("client_id"))
    if c.type in ("target_miss", "peer_outlier"):
        return (c.type, c.kpi, c.segment.get("client_id"), c.polarity, tuple(sorted(c.segment.items())))
    sign = "up" if c.delta > 0 else "down"
    where = c.segment.get("client_id") or f"vendor {c.segment.get('vendor_id')}"  # a vendor across clients is its own story
    return ("change", c.kpi, where, c.polarity, sign)


def merge(cands: list[Candidate]) -> list[list[Candidate]]:
    """Findings that tell one story (same KPI, client, direction of change) become one insight."""
    groups: dict[tuple[Any, ...], list[Candidate]] = defaultdict(list)
    for c in cands:
        groups[_family(c)].append(c)
    return list(groups.values())


def factors(c: Candidate, rules: Rules) -> ranking.Factors:
    """The five factors of the candidate's score (its playbook's actionability for its segment's owner)."""
    impact = ranking.impact_factor(c.delta, c.materiality, c.reach)
    certain = c.evidence.get("certain")
    conf = ranking.confidence_factor(c.q_value, certain)
    book = rules.playbook(kpi=c.kpi, type_=c.type, driver_kind=None, polarity=c.polarity, segment_owner=c.owner)
    return ranking.Factors(impact, conf, ranking.persistence_factor(c.weeks), book.actionability,
                           ranking.novelty_factor(c.seen_before))


# --------------------------------------------------------------------------- explanation


def aligned_events(events: pl.DataFrame, segment: Mapping[str, str], start: date, end: date,
                   margin: int) -> list[dict[str, Any]]:
    """The calendar events of the segment that line up with a change starting between `start` and `end`."""
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
        out.append({"kind": e["kind"], "name": e["name"], "start": e["start_date"].isoformat(), "end": e_end.isoformat()})
    out.sort(key=lambda e: (e["kind"] == "holiday", e["start"]))
    return out


@dataclass(frozen=True, kw_only=True)
class DriverFindings:
    """What the driver search says about a change: its drivers, its mix/rate split, and what it searched."""

    drivers: list[dict[str, Any]] = field(default_factory=list)
    decomposition: dict[str, Any] | None = None
    broad_based: bool = False
    searched: tuple[str, ...] = ()


def driver_search(rep: Candidate, frames: Frames, kpi: Kpi, th: Thresholds, not_by: tuple[str, ...] = ()) -> DriverFindings:
    """Drivers of the representative's change, one dimension at a time (every dimension its segment leaves free and
    its rules do not exclude: `not_by`), over the very weeks its observed and expected pool, so the decomposition
    splits the change the headline states."""
    base_weeks, cur_weeks = rep.windows
    if not base_weeks or not cur_weeks:
        return DriverFindings()
    cells = {}
    for d in ("client_id",) + DIMENSIONS:  # a vendor's work across clients is also split by client
        if d in rep.segment or d in not_by:
            continue
        f = frames.at((*rep.segment, d), rep.kpi)
        for k, v in rep.segment.items():
            f = f.filter(pl.col(k) == v)
        if kpi.type != "ratio":  # quantiles: per-record means as an approximation
            f = f.with_columns((pl.col("value") * pl.col("n")).alias("numerator"), pl.col("n").cast(pl.Float64).alias("denominator"))
        base = drv.cells_from_rows(f.filter(pl.col("period").is_in(list(base_weeks))).to_dicts(), d)
        cur = drv.cells_from_rows(f.filter(pl.col("period").is_in(list(cur_weeks))).to_dicts(), d)
        if len((set(base) | set(cur)) - {drv.MISSING}) > 1:  # one value (a site's vendor) explains nothing
            cells[d] = (base, cur)
    if not cells:
        return DriverFindings()
    found = drv.search(cells, min_support=th.min_support, min_surprise=th.driver_min_surprise)
    dec = None
    top_dim = found.drivers[0].dimension if found.drivers else None
    for dcomp in found.decompositions:
        if dcomp.dimension == (top_dim or "channel"):
            dec = {"dimension": dcomp.dimension, "total": dcomp.total, "rate": dcomp.rate, "mix": dcomp.mix,
                   "before": dcomp.before, "after": dcomp.after}
    return DriverFindings(drivers=[d.to_dict() for d in found.drivers], decomposition=dec,
                          broad_based=found.broad_based, searched=tuple(cells))


def _impact(rep: Candidate, kpi: Kpi, rules: Rules, spec_impact: str | None, currency: str) -> dict[str, Any]:
    imp = rules.impact.get(spec_impact or "", {"formula": "delta", "label": kpi.unit})
    value = rep.impact_value
    if imp["formula"] == "delta_x_n_hours":
        value = value / 3600.0
    elif imp["formula"] == "points_x_denominator":  # a score in points out of 100 (NPS): points x answers / 100
        value = value / 100.0
    label = currency if imp["label"] == "currency" else imp["label"]
    if rep.type == "target_miss" and kpi.name.startswith("sla"):
        label = "tickets outside SLA"
    return {"value": round(abs(value), 1), "unit": label}


def segment_owner(c: Candidate, frames: Mapping[tuple[str, ...], pl.DataFrame],
                  names: Names) -> tuple[Owner, str | None, str | None]:
    """(segment_owner, vendor, site): who runs the segment's work, for the playbook and its wording.

    'vendor' or 'in_house' when one vendor handled every ticket of the segment in the finding's
    weeks (named in the segment, through its site, or seen in the site × channel volumes), else
    'brand' (the work of several vendors, or a segment the site volumes cannot split).
    """
    seg = c.segment
    vendor, site = seg.get("vendor_id"), seg.get("site_id")
    if site is not None and vendor is None:
        vendor = names.site_vendor.get(site)
    pairs = next((f for level, f in frames.items() if "site_id" in level and "channel" in level), None)
    if vendor is None and pairs is not None and set(seg) <= {"client_id", "channel", "site_id"}:
        rows = pairs.filter((pl.col("kpi") == "tickets_created") & (pl.col("value") > 0)
                            & pl.col("period").is_between(c.period.start, c.period.end))
        for k, v in seg.items():
            rows = rows.filter(pl.col(k) == v)
        sites = set(rows.get_column("site_id").to_list())
        vendors = {names.site_vendor.get(s) for s in sites}
        if len(vendors) == 1 and None not in vendors:
            vendor = vendors.pop()
            site = site or (sites.pop() if len(sites) == 1 else None)
    if vendor is None:
        return "brand", None, None
    return ("in_house" if vendor == IN_HOUSE else "vendor"), vendor, site


def _coarseness(segment: Mapping[str, str]) -> int:
    """How coarse a segment's dimensions are: of two segments holding the same rows (a vendor with one
    site for this client), the site is named, being the place where somebody acts."""
    order = {"site_id": 0, "channel": 1, "contact_reason": 2, "handled_by": 2, "priority": 3, "vendor_id": 4}
    return sum(order.get(k, 0) for k in segment)


def _open_weeks(c: Candidate) -> int:
    """How many weeks a standing problem has been open, when it is still far from its baseline or its target (else 0).

    A shift older than the news window is standing, but if the latest week is still at least the KPI's materiality
    from the level before the shift, the problem is open and stays in front of the reviewer; a contract target missed
    week after week with certainty is open for as long as the streak.
    """
    if c.tier != "standing" or c.polarity != "bad":
        return 0
    if c.type == "level_shift" and "latest" in c.evidence and c.expected is not None:
        still = (c.evidence["latest"] - c.expected) * np.sign(c.delta) >= c.materiality
        return int(c.weeks) if still else 0
    if c.type == "rate_change" and "_open_weeks" in c.evidence:  # the latest week against the weeks before the shift
        return int(c.evidence["_open_weeks"]) if abs(c.delta) >= c.materiality else 0
    if c.type == "target_miss" and c.evidence.get("certain"):
        return int(c.evidence.get("weeks_missed_before", 0)) + 1
    return 0


def still_open(c: Candidate, *, week: date, rules: Rules) -> dict[str, Any]:
    """What the record says of a problem still open: `open_weeks`, `open_since` (the week it began) and whether this
    week headlines it (`open_headline`, with `open_news`: 'opened', 'worse' or 'reminder'); {} when none is open.

    It is headlined the first week it counts as open, when the latest week is worse than the level it has held since
    by at least the KPI's materiality (and, where the record holds the week's interval, the whole interval is
    beyond that level: one noisy week is not a worsening), and every `still_open_remind_weeks` (rules.toml [tiers]) after it opened;
    in the other weeks it stays on the list, after the headlines and the watch list.
    """
    weeks = _open_weeks(c)
    if not weeks:
        return {}
    ev, th, tiers = c.evidence, rules.thresholds, rules.tiers
    sign = float(np.sign(c.delta or 0.0))
    if c.type == "target_miss":
        before = int(ev.get("weeks_missed_before", 0))
        since = week - timedelta(weeks=before)
        standing_for = before - tiers.chronic_weeks  # 0: the first week the streak is standing
        level, latest = ev.get("_level_since"), c.observed
    else:
        since = date.fromisoformat(str(ev["shift_week"]))
        alarm = ev.get("alarm_week") or ev.get("_alarm_week")
        standing_for = ((week - date.fromisoformat(alarm)).days // 7 - th.shift_news_weeks) if alarm else weeks
        level, latest = (c.observed, ev.get("latest")) if c.type == "level_shift" else (ev.get("_level_since"), c.observed)
    # worse: beyond that level by the KPI's materiality, and (where the record holds the week's interval) surely so
    near = None if c.type == "level_shift" or c.ci is None else (min(c.ci) if sign > 0 else max(c.ci))
    worse = (level is not None and latest is not None
             and (float(latest) - float(level)) * sign >= c.materiality > 0
             and (near is None or (near - float(level)) * sign > 0))
    news = ("opened" if standing_for <= 0 else "worse" if worse
            else "reminder" if standing_for % tiers.still_open_remind_weeks == 0 else None)
    return {"open_weeks": weeks, "open_since": since.isoformat(), "open_headline": news is not None,
            **({"open_news": news} if news else {})}


# --------------------------------------------------------------------------- the record


def finish(run: Run, *, group: list[Candidate], frames: Frames, all_cands: list[Candidate], events: pl.DataFrame,
           currency: str) -> Insight:
    """One story's insight: the strongest of its findings (`group`) explained, with the others merged into it."""
    rules, catalog, names, week, th = run.rules, run.catalog, run.names, run.week, run.th
    kpi = catalog.kpis[group[0].kpi]
    # the strongest evidence speaks for the group (not the newest: an old, sure shift is the story)
    group.sort(key=lambda c: (ranking.steady(c.p_value), len(c.segment), _coarseness(c.segment),
                              -ranking.steady(factors(c, rules).score), c.type, tuple(sorted(c.segment.items()))))
    if group[0].type == "routing_shift":  # told from the site that lost work: its committed minimum is what bites
        group.sort(key=lambda c: c.delta > 0)
    rep = group[0]
    spec = run.specs.get(rep.kpi) or {}
    found = (driver_search(rep, frames, kpi, th, tuple(spec.get("not_by", ()))) if rep.type in CHANGE_TYPES
             else DriverFindings())
    drivers, dec = found.drivers, found.decomposition
    if rep.type == "driver":  # the mix finding carries its own decomposition and driver
        drivers, dec = list(rep.evidence["_drivers"]), rep.evidence["_decomposition"]
    if rep.type not in SPLIT_TYPES or kpi.type != "ratio":
        dec = None  # a split of another window's change, or of per-record means, would restate a different number
    seg_key = tuple(sorted(rep.segment.items()))
    co: list[dict[str, Any]] = []
    for c in all_cands:
        if c is rep or c.kpi == rep.kpi or tuple(sorted(c.segment.items())) != seg_key:
            continue
        if any(x["kpi"] == c.kpi for x in co):  # one line per co-moving KPI (weekly and window tests both find it)
            continue
        if c.tier in ("headline", "watch") and c.period.end >= rep.period.end - timedelta(days=6):
            ck = catalog.kpis[c.kpi]
            co.append({"kpi": c.kpi, "label": ck.label, "delta": c.delta, "unit": ck.unit})
    thin_notes = [t for t in run.thin if t["kpi"] == rep.kpi and t["parent"] == rep.segment]
    margin = th.event_margin_days
    # a calendar event lines up with a change's onset (a week's jump, a shift's first week); a drift over
    # months has no onset, so an event somewhere inside its window is not "coinciding"
    onset = date.fromisoformat(rep.evidence["shift_week"]) if "_open_weeks" in rep.evidence else rep.period.start
    aligned = [] if rep.type == "trend" else aligned_events(events, rep.segment, onset, onset + timedelta(days=6), margin)
    if rep.type != "volume_anomaly":
        aligned = [e for e in aligned if e["kind"] != "holiday"]
    type_ = "improvement" if rep.polarity == "good" and rep.type in ("rate_change", "level_shift", "trend") else rep.type
    driver_kind = drivers[0]["kind"] if drivers else None
    owner, vendor, site = rep.owner, rep.owner_vendor, rep.owner_site
    book = rules.playbook(kpi=rep.kpi, type_=rep.type, driver_kind=driver_kind, polarity=rep.polarity, segment_owner=owner)
    shown = shown_segment(rep.segment, rep.part)  # a vendor's share of a client says so
    action_text = book.text(segment=format.segment(shown, names),
                            vendor=None if vendor is None else names.vendor.get(vendor, vendor),
                            unit=names.site.get(site, site) if site else None)
    verify = narrative.verify_week(week, book.verify_after_weeks)
    verify_kpi = rep.kpi if book.verify_kpi == "same" else book.verify_kpi  # "same": the insight's own KPI
    spec = next((d for d in rules.detect if d["kpi"] == rep.kpi), {})
    impact = _impact(rep, kpi, rules, spec.get("impact"), currency)
    score = factors(rep, rules)
    told = dict(rep.evidence)  # the detector's facts, and what the run adds to them below
    # a change that also breaks the contract (here or in the segment around it) says so, with the credit; the
    # target miss stays an insight of its own (the contract's view: its Wilson interval, streak and credit)
    missed = next((c for c in all_cands if c.type == "target_miss" and c.kpi == rep.kpi and c.tier in KEPT
                   and c.segment.items() <= rep.segment.items()), None)
    if missed is not None and missed.observed is not None and missed.expected is not None \
            and rep.type in ("rate_change", "level_shift") and rep.polarity == "bad":
        told["target_miss"] = {"target": missed.expected, "delta": missed.observed - missed.expected,
                               "observed": missed.observed, "segment": dict(missed.segment),
                               "week": missed.period.start.isoformat(),
                               **{k: missed.evidence[k] for k in ("penalty", "currency", "penalty_period")
                                  if k in missed.evidence}}
    if rep.type == "routing_shift":
        told["counterparts"] = [
            {"site_id": c.segment["site_id"], "share_before": c.evidence["share_before"],
             "share_after": c.evidence["share_after"]} for c in group[1:] if c.delta * rep.delta < 0][:2]
    evidence = {
        "tier": rep.tier, "polarity": rep.polarity, "detector": rep.type, "ci_level": 0.95,
        **still_open(rep, week=week, rules=rules),
        **{k: v for k, v in told.items() if not k.startswith("_")},
        "decomposition": dec, "broad_based": found.broad_based, "searched": list(found.searched), "co_moving": co,
        "events": aligned, "thin": thin_notes, "factors": asdict(score),
        # the same change seen at the other levels of the segment tree (told once, from the representative)
        "merged": [{"type": c.type, "segment": c.segment, "delta": c.delta, "q_value": c.q_value} for c in group[1:]],
        "label": kpi.label,
    }
    if shown != rep.segment:
        evidence["share_of"] = dict(rep.segment)  # the client-wide segment this is the viewer's share of
    confidence = round(ranking.confidence_factor(rep.q_value, rep.evidence.get("certain")), 4)
    evidence["segment_owner"] = owner
    evidence["ci_excludes_zero"] = excludes_zero(rep)
    evidence["confidence_label"] = confidence_label(rep.tier, confidence, evidence["ci_excludes_zero"], rules)
    return told_insight(Insight(
        id=stable_id(type_, rep.kpi, shown, rep.period.start), type=type_, kpi=rep.kpi, segment=shown,
        period=rep.period, observed=rep.observed, expected=rep.expected, baseline=rep.baseline, delta=rep.delta,
        unit=kpi.unit, ci=rep.ci, n=rep.n, test=rep.test, p_value=rep.p_value, q_value=rep.q_value, impact=impact,
        confidence=confidence, score=score.score, headline="", meaning="",
        action=Action(text=action_text, owner=book.owner, verify_kpi=verify_kpi, verify_week=verify),
        drivers=tuple(drivers), evidence=evidence),
        rules, kpi=kpi, names=names)


def told_insight(ins: Insight, rules: Rules, *, kpi: Any = None, names: Names | None = None) -> Insight:
    """The insight with its sentences rendered from its own record (the five slots, headline, meaning, action)."""
    draft = {"type": ins.type, "kpi": ins.kpi, "segment": ins.segment, "unit": ins.unit,
             "period": {"start": ins.period.start, "end": ins.period.end}, "observed": ins.observed,
             "expected": ins.expected, "delta": ins.delta, "ci": ins.ci, "n": ins.n, "baseline": ins.baseline,
             "impact": ins.impact, "drivers": list(ins.drivers), "evidence": ins.evidence,
             "action": asdict(ins.action)}
    text = narrative.render(draft, ins.evidence["label"], rules, kpi=kpi, names=names)
    evidence = {**ins.evidence, "narrative": {s: text[s] for s in narrative.SLOTS}}
    return replace(ins, headline=text["headline"], meaning=text["meaning"], evidence=evidence)
