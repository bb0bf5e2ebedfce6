"""Detectors over each segment's weekly series: a week's rate change, a level shift (and a problem still open), a
sustained window, a drift, a contract target missed; small-count rates; a vendor's work scanned across clients.

`scan_level` runs `SEGMENT_STEPS` in order over every segment of a level; each step emits its candidates for one
`SegmentSeries` and is switched on by rules.toml's `detectors` list for the KPI (a contract target is judged
wherever one is in force: the contract decides).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

import numpy as np
import polars as pl

from connectors.store import Scope
from insights import contracts
from insights.catalog import Kpi
from insights.detection import detectors as det
from insights.detection import stats
from insights.detection.reading import Run, series_of
from insights.detection.records import Candidate, Period, polarity
from insights.detection.tiers import ABSOLUTE_UNITS, material_amount
from insights.metrics.credits import credits_at_stake

SUSTAINED_DIMENSIONS = ("vendor_id", "site_id", "channel")  # searched for level shifts and trends
# a shift's onset is also searched in contact reasons, only to tell a problem still open: a release breaks one
# reason, and weeks later the weekly baseline has absorbed the fall while the reason is still far below where it was
OPEN_DIMENSIONS = ("contact_reason",)
ANSWERS = {"csat": "CSAT responses"}


@dataclass(frozen=True, kw_only=True)
class SegmentSeries:
    """One segment's weekly series of one KPI, and what its level is searched for."""

    segment: dict[str, str]
    level: tuple[str, ...]
    kpi: Kpi
    series: det.WeeklySeries
    reach: float  # the segment's share of its client's volume in the review week
    sustained: bool = False  # searched for level shifts, sustained windows and drifts (the client and its big splits)
    open_only: bool = False  # searched only for a problem still open since an old shift
    contract: bool = False  # the level contract targets are judged at


Find = Callable[[Run, SegmentSeries], list[Candidate]]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One detector's pass over a segment: which rules.toml detector switches it on, and on which segments it runs."""

    detector: str
    find: Find
    runs_on: Callable[[SegmentSeries], bool] = lambda seg: True
    switched: bool = True  # False: it runs wherever `runs_on` holds, whatever rules.toml lists (a contract decides)


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


def rate_week(run: Run, seg: SegmentSeries) -> list[Candidate]:
    """The review week against the baseline weeks (binomial score test, overdispersion from the segment's past);
    a material change on too thin a sample is noted for its parent's insight instead."""
    s, kpi, th, week = seg.series, seg.kpi, run.th, run.week
    r = det.rate_change(s, baseline_weeks=th.baseline_weeks)
    if r is None:
        return []
    mat = material_amount(kpi, r.expected)
    is_thin = r.n < (kpi.min_volume or 0) or (mat > 0 and r.mde > th.thin_mde_factor * mat)
    if is_thin:
        if abs(r.delta) >= mat and len(seg.level) > 1:
            parent = dict(list(seg.segment.items())[:-1])
            run.thin.append({"kpi": kpi.name, "segment": seg.segment, "parent": parent, "n": r.n, "mde": r.mde,
                             "what": ANSWERS.get(kpi.name, "volume")})
        return []
    cur = len(s) - 1
    base = _weeks(s, cur - th.baseline_weeks, cur)
    return [Candidate(
        type="rate_change", kpi=kpi.name, segment=seg.segment, level=seg.level,
        period=Period(week, week + timedelta(days=6)), observed=r.observed, expected=r.expected, delta=r.delta,
        ci=r.ci, n=r.n, baseline=r.baseline, test=r.test, p_value=r.p_value, material=abs(r.delta) >= mat,
        polarity=polarity(kpi.direction, r.delta), reach=seg.reach, weeks=1, seen_before=_seen_before(s, r),
        impact_value=r.delta * float(s.denominator[-1]),
        evidence={"sigma": r.sigma, "mde": r.mde, "z": r.z, "n_baseline": r.n_baseline}, windows=(base, (week,)))]


def level_shift(run: Run, seg: SegmentSeries) -> list[Candidate]:
    """A level shift (CUSUM + Welch) and, once it is old, whether the problem is still open (alone for a segment
    searched only for problems still open)."""
    s, kpi, th = seg.series, seg.kpi, run.th
    r = det.level_shift(s, window=th.shift_window)
    if r is None or r.weeks_after < 2:
        return []
    out = []
    standing = bool(r.alarm_week and (s.periods[-1] - r.alarm_week).days // 7 >= th.shift_news_weeks)
    if standing and polarity(kpi.direction, r.delta) == "bad":
        out += _still_open(run, seg, r)
    if seg.open_only:
        return out
    mat = material_amount(kpi, r.before) * th.shift_materiality
    # the weeks the detector pooled on each side of the shift: the drivers decompose the same change
    before = _weeks(s, len(s) - th.shift_window, r.shift_index)
    after = _weeks(s, r.shift_index, len(s))
    volume = s.denominator if kpi.unit in ABSOLUTE_UNITS else s.n
    out.append(Candidate(
        type="level_shift", kpi=kpi.name, segment=seg.segment, level=seg.level,
        period=Period(r.shift_week, s.periods[-1] + timedelta(days=6)), observed=r.after, expected=r.before,
        delta=r.delta, ci=r.ci, n=r.n_after, baseline=f"the {r.n_before:,} before the shift", test=r.test,
        p_value=r.p_value, material=abs(r.delta) >= mat, polarity=polarity(kpi.direction, r.delta), reach=seg.reach,
        weeks=r.weeks_after, seen_before=1 if r.weeks_after > 2 else 0,
        impact_value=r.delta * float(volume[r.shift_index:].sum()),
        evidence={"shift_week": r.shift_week.isoformat(), "weeks": r.weeks_after, "z": r.z,
                  "alarm_week": r.alarm_week.isoformat() if r.alarm_week else None,
                  "standing": standing, "latest": float(s.value[-1])},
        windows=(tuple(before), tuple(after))))
    return out


def _still_open(run: Run, seg: SegmentSeries, r: det.LevelShift) -> list[Candidate]:
    """Whether a problem that began with an old shift is still far from where it was: the latest week against the
    weeks before the shift (its own baseline, not the trailing weeks that have absorbed the fall), tested like any
    week's change with the spread of the segment's weeks before it."""
    s, kpi = seg.series, seg.kpi
    before_shift = s.take([*range(r.shift_index), len(s) - 1])
    nb = run.th.baseline_weeks
    o = det.rate_change(before_shift, baseline_weeks=nb)
    if o is None or o.n < (kpi.min_volume or 0) or o.delta * r.delta <= 0:
        return []
    week = s.periods[-1]
    return [Candidate(
        type="rate_change", kpi=kpi.name, segment=seg.segment, level=seg.level,
        period=Period(week, week + timedelta(days=6)), observed=o.observed, expected=o.expected, delta=o.delta,
        ci=o.ci, n=o.n, baseline=f"the {o.baseline_weeks} weeks before it moved in the week of {r.shift_week.isoformat()}",
        test=o.test, p_value=o.p_value, material=abs(o.delta) >= material_amount(kpi, o.expected),
        polarity=polarity(kpi.direction, o.delta), reach=seg.reach, weeks=r.weeks_after,
        seen_before=r.weeks_after - 1, impact_value=o.delta * float(s.denominator[-1]),
        evidence={"sigma": o.sigma, "mde": o.mde, "z": o.z, "n_baseline": o.n_baseline, "standing": True,
                  "shift_week": r.shift_week.isoformat(), "_open_weeks": r.weeks_after,
                  # when it became a problem still open, and the level it has held since (to tell it worsening)
                  "_alarm_week": r.alarm_week.isoformat() if r.alarm_week else None, "_level_since": r.after},
        windows=(_weeks(s, r.shift_index - nb, r.shift_index), (week,)))]


def rate_window(run: Run, seg: SegmentSeries) -> list[Candidate]:
    """A sustained change over the last few weeks (a level shift too small for any one week), as its own test family."""
    s, kpi, th = seg.series, seg.kpi, run.th
    k = th.window_weeks
    r = det.window_change(s, weeks=k, baseline_weeks=th.baseline_weeks)
    if r is None or r.n < (kpi.min_volume or 0) * k:
        return []
    mat = material_amount(kpi, r.expected) * th.shift_materiality
    first = len(s) - k
    win = _weeks(s, first, len(s))
    base = _weeks(s, first - th.baseline_weeks, first)
    impact = r.delta * float(s.denominator[-k:].sum() if kpi.unit in ABSOLUTE_UNITS else s.n[-k:].sum())
    return [Candidate(
        type="level_shift", kpi=kpi.name, segment=seg.segment, level=seg.level,
        period=Period(r.first_week, s.periods[-1] + timedelta(days=6)), observed=r.observed, expected=r.expected,
        delta=r.delta, ci=r.ci, n=r.n, baseline=f"the {r.n_baseline:,} in the weeks before", test=r.test,
        p_value=r.p_value, material=abs(r.delta) >= mat, polarity=polarity(kpi.direction, r.delta), reach=seg.reach,
        weeks=k, seen_before=0, impact_value=impact,
        evidence={"shift_week": r.first_week.isoformat(), "weeks": k, "z": r.z, "rho": r.rho, "window": True},
        windows=(base, tuple(win)))]


def trend(run: Run, seg: SegmentSeries) -> list[Candidate]:
    """A drift (Mann–Kendall with Sen's slope) over the trend weeks; news when it first shows, then standing."""
    s, kpi, th = seg.series, seg.kpi, run.th
    r = det.trend(s, weeks=th.trend_weeks)
    if r is None:
        return []
    mat = material_amount(kpi, r.start_level)
    first = s.periods[-r.weeks:][:4]
    last = s.periods[-4:]
    seen = _trend_seen_before(s, r, mat, th.trend_weeks)
    return [Candidate(
        type="trend", kpi=kpi.name, segment=seg.segment, level=seg.level,
        period=Period(r.first_week, s.periods[-1] + timedelta(days=6)), observed=r.end_level, expected=r.start_level,
        delta=r.total_change, ci=(r.slope_lo, r.slope_hi), n=int(s.n[-1]), baseline=f"the level {r.weeks} weeks ago",
        test=r.test, p_value=r.p_value, material=abs(r.total_change) >= mat and r.slope_lo * r.slope_hi > 0,
        polarity=polarity(kpi.direction, r.total_change), reach=seg.reach, weeks=r.weeks, seen_before=seen,
        impact_value=r.total_change * float(s.denominator[-1] if kpi.unit in ABSOLUTE_UNITS else s.n[-1]),
        evidence={"weeks": r.weeks, "slope": r.slope, "tau": r.tau, "weeks_already_drifting": seen,
                  "standing": seen >= th.trend_news_weeks},
        windows=(tuple(first), tuple(last)))]


def _trend_seen_before(s: det.WeeklySeries, r: det.Trend, material: float, weeks: int, look_back: int = 3) -> int:
    """Weeks just before the review week whose own drift test already showed this drift (p <= 0.05, same
    direction, material): a drift is news when it first shows, then it is standing until it stops."""
    count = 0
    for k in range(1, look_back + 1):
        past = s.take(range(len(s) - k))
        t = det.trend(past, weeks=weeks)
        if t is None or t.p_value > 0.05 or t.total_change * r.total_change <= 0 or abs(t.total_change) < material:
            break
        count += 1
    return count


def target_miss(run: Run, seg: SegmentSeries) -> list[Candidate]:
    """A target miss against the contract target in force for the segment this week (never a catalog default)."""
    s, kpi, segment, week = seg.series, seg.kpi, seg.segment, run.week
    if s.denominator[-1] <= 0 or "channel" not in segment:
        return []
    target = run.terms.in_force(kpi.name, contracts.in_view(run.scope, segment), week)
    if target is None:
        return []
    value, higher = target.value, target.comparator == ">="
    if s.kind == "proportion":
        past = det.backtest(s)
        sigma = max(1.0, stats.rms(list(past))) if len(past) >= 8 else 1.0
        r = det.target_miss(float(s.numerator[-1]), float(s.denominator[-1]), value, higher_is_better=higher,
                            sigma_z=sigma)
    else:  # a duration or an amount (AHT, ASA, a median wait): judged by its comparator, in its own unit
        sigma = 1.0
        r = det.duration_target_miss(s, value, higher_is_better=higher)
    if r is None or int(s.n[-1]) < (kpi.min_volume or 0):
        return []
    chronic = 0
    for i in range(len(s) - 2, -1, -1):  # the whole streak: a miss still open says for how long
        v = s.value[i]
        if not math.isfinite(v) or target.met(v):
            break
        chronic += 1
    ev: dict[str, Any] = {"target": value, "certain": r.certain, "weeks_missed_before": chronic, "sigma_z": sigma}
    if chronic:  # the level the streak held before this week: a miss still open is told again when it worsens
        ev["_level_since"] = float(np.mean(s.value[len(s) - 1 - chronic:len(s) - 1]))
    credit = _credit(run, kpi.name, segment) if target.penalty_per_point else None
    if credit is not None:  # the month's credit as the invoice owes it (metrics.credits.credits_at_stake), with its period
        ev["penalty"], ev["currency"], ev["penalty_period"] = credit
    return [Candidate(
        type="target_miss", kpi=kpi.name, segment=segment, level=seg.level, period=Period(week, week + timedelta(days=6)),
        observed=r.observed, expected=value, delta=r.delta, ci=r.ci, n=r.n, baseline="contract target", test=r.test,
        p_value=r.p_value, material=True, polarity="bad", reach=seg.reach, weeks=chronic + 1, seen_before=chronic,
        impact_value=r.delta * (r.n if s.kind == "proportion" else float(s.denominator[-1])), evidence=ev,
        windows=((), (week,)))]


def _credit(run: Run, kpi: str, segment: Mapping[str, str]) -> tuple[float, str, str] | None:
    """(credit owed, currency, period label) for the segment's lanes in the month of the week's Sunday; None when none
    is shown. Read once per month in a run (`Run.credits`), fresh for every run."""
    sunday = run.week_end
    key = (str(run.ws.path), run.scope.key, sunday)
    if key not in run.credits:
        run.credits[key] = credits_at_stake(run.ws, run.scope, month=sunday, through=sunday)
    credits = run.credits[key]
    if credits.total is None:
        return None
    lanes = credits.lanes.filter(pl.col("metric") == kpi)
    for column, value in segment.items():
        if column in lanes.columns:
            lanes = lanes.filter(pl.col(column) == value)
    owed = round(float(lanes.get_column("owed").sum()), 2)
    return (owed, credits.currency, credits.label) if owed > 0 else None


# the per-segment passes, in the order their candidates are emitted
SEGMENT_STEPS: tuple[Step, ...] = (
    Step(detector="rate_change", find=rate_week),
    Step(detector="level_shift", find=level_shift, runs_on=lambda seg: seg.sustained or seg.open_only),
    Step(detector="rate_change", find=rate_window, runs_on=lambda seg: seg.sustained),
    Step(detector="trend", find=trend, runs_on=lambda seg: seg.sustained),
    Step(detector="target_miss", find=target_miss, runs_on=lambda seg: seg.contract, switched=False),
)


# --------------------------------------------------------------------------- a level of the segment tree


def typical_share(s: det.WeeklySeries, parent: det.WeeklySeries | None) -> float:
    """The segment's share of its client's denominator over the history (1 when unknown)."""
    if parent is None:
        return 1.0
    total = float(parent.denominator.sum())
    return float(s.denominator.sum()) / total if total > 0 else 1.0


def scan_level(run: Run, *, level: tuple[str, ...], frame: pl.DataFrame, root: tuple[str, ...],
               client_series: Mapping[tuple[str, str], det.WeeklySeries]) -> list[Candidate]:
    """Every segment of `level` (inside one client) through `SEGMENT_STEPS`, and the small-count rates."""
    depth = len(level) - len(root)
    min_share = run.th.min_test_share
    contract_level = root if "channel" in root else root + ("channel",)
    out: list[Candidate] = []
    for (kpi_name,), kframe in frame.partition_by(["kpi"], as_dict=True).items():
        spec = run.specs.get(kpi_name)
        if spec is None or spec["kind"] == "count":
            continue
        kpi = run.catalog.kpis[kpi_name]
        if spec["kind"] == "small_count":
            if depth == 0 or level == root + ("site_id",):
                out += small_counts(run, kframe=kframe, level=level, kpi=kpi)
            continue
        if spec["grain"] != "week":
            continue  # judged on its own grain (level_scan.monthly)
        if spec["within"] and spec["within"] not in level:
            continue  # only meaningful inside one value of that dimension (a median across channels)
        if set(spec["not_by"]) & set(level):
            continue  # a KPI defined by that dimension (AI containment by handler) is not split by it
        if not run.matures(spec):
            continue  # the week's outcome is not known yet (a repeat contact can still come back)
        sustained = depth == 0 or (depth == 1 and level[-1] in SUSTAINED_DIMENSIONS)
        open_only = depth == 1 and level[-1] in OPEN_DIMENSIONS
        for key, rows in kframe.partition_by(list(level), as_dict=True).items():
            if any(v is None for v in key):
                continue
            segment = dict(zip(level, key))
            s = series_of(rows, run.periods, spec["kind"], points=spec["points"] or 1.0)
            reach = float(s.denominator[-1]) / max(run.client_volume.get((segment["client_id"], kpi_name), 0.0), 1.0)
            if depth and typical_share(s, client_series.get((segment["client_id"], kpi_name))) < min_share:
                continue  # a sliver of the client's volume: shown through its parent and the drivers, not tested
            seg = SegmentSeries(segment=segment, level=level, kpi=kpi, series=s, reach=reach, sustained=sustained,
                                open_only=open_only, contract=level == contract_level)
            for step in SEGMENT_STEPS:
                if (step.detector in spec["detectors"] or not step.switched) and step.runs_on(seg):
                    out += step.find(run, seg)
    return out


def small_counts(run: Run, *, kframe: pl.DataFrame, level: tuple[str, ...], kpi: Kpi) -> list[Candidate]:
    """Small-count rates (attrition) over the last weeks against the history (exact Poisson)."""
    window = run.th.attrition_window
    periods = run.periods
    out = []
    for key, rows in kframe.partition_by(list(level), as_dict=True).items():
        if any(v is None for v in key):
            continue
        segment = dict(zip(level, key))
        s = series_of(rows, periods, "mean")
        r = det.small_count_rate(list(s.numerator), list(s.denominator), periods, window=window)
        if r is None or r.count < 1:
            continue
        first = periods[-window]
        out.append(Candidate(
            type="small_count_rate", kpi=kpi.name, segment=segment, level=level,
            period=Period(first, periods[-1] + timedelta(days=6)), observed=r.rate, expected=r.expected_rate,
            delta=r.rate - r.expected_rate, ci=r.ci, n=int(s.n[-window:].sum()), baseline="the previous 26 weeks' rate",
            test=r.test, p_value=r.p_value, material=r.count - r.expected_count >= 2 and r.ratio >= 1.5,
            polarity=polarity(kpi.direction, r.rate - r.expected_rate), reach=1.0, weeks=window, seen_before=0,
            impact_value=r.count - r.expected_count,
            evidence={"count": r.count, "expected_count": r.expected_count, "weeks": window, "exposure": r.exposure},
            windows=((), tuple(periods[-window:]))))
    return out


# --------------------------------------------------------------------------- a vendor's work across clients


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


def serving_several(daily: pl.DataFrame, site_vendor: Mapping[str, str]) -> frozenset[str]:
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
    """The key a cross-client segment is known by in `serving_several`: its site (else vendor), and its channel."""
    who = segment.get("site_id") or segment["vendor_id"]
    return f"{who}|{segment['channel']}" if segment.get("channel") else who


def scan_cross(run: Run, *, frames: Mapping[tuple[str, ...], pl.DataFrame], several: frozenset[str]) -> list[Candidate]:
    """Week-on-baseline rate changes and sustained windows of a vendor's work across its clients (a vendor's problem
    spread over the clients it serves, too diluted inside each to pass); the first level is the vendor's whole work,
    `several` the vendors and sites serving two or more clients (a site of one client is scanned inside it)."""
    names = list(several)
    root = next(iter(frames))
    totals = frames[root].filter(pl.col("vendor_id").is_in(names))
    specs = run.specs
    whole = {(k[0], k[1]): series_of(rows, run.periods, specs[k[1]]["kind"], points=specs[k[1]]["points"] or 1.0)
             for k, rows in totals.partition_by(["vendor_id", "kpi"], as_dict=True).items()
             if k[1] in specs and specs[k[1]]["kind"] in det.WEEKLY_KINDS}
    out: list[Candidate] = []
    for level, frame in frames.items():
        depth = len(level) - len(root)
        rows_in = pl.col("vendor_id").is_in(names)
        if "site_id" in level and "site_id" not in root:
            rows_in = rows_in & pl.col("site_id").is_in(names)
        for (kpi_name,), kframe in frame.filter(rows_in).partition_by(["kpi"], as_dict=True).items():
            spec = specs.get(kpi_name)
            if spec is None or spec["kind"] not in det.WEEKLY_KINDS or spec["grain"] != "week":
                continue
            if "rate_change" not in spec["detectors"] or (spec["within"] and spec["within"] not in level):
                continue
            if set(spec["not_by"]) & set(level):
                continue
            if not run.matures(spec):
                continue
            kpi = run.catalog.kpis[kpi_name]
            for key, rows in kframe.partition_by(list(level), as_dict=True).items():
                if any(v is None for v in key):
                    continue
                segment = dict(zip(level, key))
                if cross_key(segment) not in several:  # one client's work: told inside that client already
                    continue
                s = series_of(rows, run.periods, spec["kind"], points=spec["points"] or 1.0)
                parent = whole.get((segment["vendor_id"], kpi_name))
                if depth and typical_share(s, parent) < run.th.min_test_share:
                    continue
                latest = float(parent.denominator[-1]) if parent is not None else 0.0
                seg = SegmentSeries(segment=segment, level=level, kpi=kpi, series=s,
                                    reach=float(s.denominator[-1]) / max(latest, 1.0))
                out += rate_week(run, seg)
                out += rate_window(run, seg)
    return out
