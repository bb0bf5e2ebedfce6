"""Pilots: before/after or pilot vs control, with a difference-in-differences estimate, its interval, test and verdict.

A pilot is defined in the workspace, either as an `events` row with kind = "pilot" (its
client/vendor/site/channel are the scope, start_date/end_date the window; `client_id` names whose
pilot it is) or as a `[[pilot]]` table in bpo.toml, which may add KPIs, a control group, a
pre-period length and goals:

```toml
[[pilot]]
name = "nw-bogota coaching pilot"
scope = { client_id = "acme", site_id = "nw-bogota" }
start = 2026-08-10
end = 2026-09-20
kpis = ["csat", "repeat_contact_rate"]
control = { site_id = ["nw-manila"] }     # optional; default: the pilot clients' other sites
pre_weeks = 8
goals = { csat = 0.03 }                  # optional: the change that counts as success
```

A viewer sees a pilot only when it may see every tenant the pilot names (the events table's rule,
`connectors.store.tenancy`): a pilot naming no client is the workspace holder's (admin's) alone,
one naming a vendor or site only its viewers', so a Northwind pilot never reaches Globex.

The read-out's "after" runs from the pilot's first week to the latest complete week of data: the end
date is when the trial was judged, not when its practice stopped, and the weeks that follow are
evidence too (cutting them left 9 weeks of data unread and a verdict of "not enough data yet").

The control group is the whole group the pilot names (or, by default, the pilot clients' other
sites or vendors whose work people handle: a site where an AI agent, a bot, self-service or an IVR
handles most tickets in the pilot's weeks is left out, as its KPIs move with the automation, not with
the practice on trial), for every viewer who may see it whole.  A viewer who sees only some vendors'
work (a BPO account manager) cannot see the other vendors' sites: the control is then the part of
it in view, and the report says so (`control_note`), so its estimate is never mistaken for the
brand's.

The estimate is (pilot after − pilot before) − (control after − control before) of each KPI as
Σnumerator/Σdenominator per cell; its standard error is the ratio estimator's linearised variance
over weekly clusters (so overdispersion between weeks is counted), and the test is a two-sided z
test.  Without a control group the estimate is the plain before/after change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
from scipy import stats

from connectors.store import Scope, Workspace
from connectors.store.tenancy import allows
from insights import format
from insights.errors import InsightsError
from insights.metrics.periods import latest_complete_week, week_start
from insights.view import Calendars

DEFAULT_KPIS = ("csat", "repeat_contact_rate", "fcr", "aht")
DIMENSIONS = ("client_id", "vendor_id", "site_id", "channel")
MAX_EXTRA_WEEKS = 26


class PilotError(InsightsError):
    """A pilot is not defined, or not defined well enough to evaluate."""


@dataclass(frozen=True)
class Pilot:
    """A pilot: where (scope), when, which KPIs, against what (control group or pre-period)."""

    name: str
    scope: dict[str, tuple[str, ...]]
    start: date
    end: date | None
    kpis: tuple[str, ...] = DEFAULT_KPIS
    control: dict[str, tuple[str, ...]] | None = None
    pre_weeks: int = 8
    goals: dict[str, float] = field(default_factory=dict)


def _as_tuple(v) -> tuple[str, ...]:
    return (v,) if isinstance(v, str) else tuple(v)


def load_pilots(ws: Workspace, scope: Scope) -> dict[str, Pilot]:
    """Every pilot the viewer may see: events rows of kind 'pilot', overridden/extended by bpo.toml [[pilot]] tables
    (each listed only to viewers who may see every tenant it and its events row name)."""
    out: dict[str, Pilot] = {}
    ev = ws.scan("events", scope).filter(pl.col("kind") == "pilot").collect()
    for r in ev.iter_rows(named=True):
        sc = {d: (r[d],) for d in DIMENSIONS if r.get(d)}
        out[r["name"]] = Pilot(r["name"], sc, r["start_date"], r["end_date"])
    for i, p in enumerate(ws.config.pilots):
        name = p.get("name")
        if not name:
            raise PilotError(f"bpo.toml [[pilot]] #{i + 1}: 'name' is missing")
        base = out.get(name)
        start = p.get("start", base.start if base else None)
        if start is None:
            raise PilotError(f"bpo.toml [[pilot]] '{name}': 'start' is missing (a date like 2026-08-10)")
        bad = [d for d in list(p.get("scope", {})) + list(p.get("control", {}) or {}) if d not in DIMENSIONS]
        if bad:
            raise PilotError(f"bpo.toml [[pilot]] '{name}': unknown dimension(s) {', '.join(bad)}; use {', '.join(DIMENSIONS)}")
        named = {**(base.scope if base else {}), **{k: _as_tuple(v) for k, v in p.get("scope", {}).items()}}
        if not allows(ws, scope, named):
            continue
        out[name] = Pilot(
            name=name,
            scope={k: _as_tuple(v) for k, v in p.get("scope", {}).items()} or (base.scope if base else {}),
            start=start, end=p.get("end", base.end if base else None),
            kpis=tuple(p.get("kpis", DEFAULT_KPIS)),
            control={k: _as_tuple(v) for k, v in p["control"].items()} if p.get("control") else None,
            pre_weeks=int(p.get("pre_weeks", 8)), goals={k: float(v) for k, v in p.get("goals", {}).items()},
        )
    return out


# --------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Cell:
    """One of the four cells (group × period): Σnumerator, Σdenominator, ratio, its variance, weeks."""

    numerator: float
    denominator: float
    value: float
    variance: float
    weeks: int


def ratio_cell(weekly: pl.DataFrame) -> Cell:
    """Σnum/Σden over weekly rows and its linearised (week-clustered) variance."""
    w = weekly.filter(pl.col("denominator") > 0)
    k = w.height
    num, den = float(w["numerator"].sum()), float(w["denominator"].sum())
    if k == 0 or den == 0:
        return Cell(num, den, float("nan"), float("nan"), k)
    r = num / den
    resid = w["numerator"].to_numpy() - r * w["denominator"].to_numpy()
    var = float(k / max(k - 1, 1) * (resid ** 2).sum() / den ** 2) if k > 1 else float("nan")
    return Cell(num, den, r, var, k)


@dataclass(frozen=True)
class KpiEffect:
    """The pilot's effect on one KPI: the four cells, the DiD estimate, interval, test and verdict."""

    kpi: str
    label: str
    unit: str
    direction: str
    design: str  # "difference-in-differences" | "before/after"
    pilot_before: Cell
    pilot_after: Cell
    control_before: Cell | None
    control_after: Cell | None
    estimate: float
    ci: tuple[float, float]
    p_value: float
    test: str
    goal: float | None
    weeks_needed: int | None  # more post weeks needed to call it, when not yet significant
    verdict: str

    def to_dict(self) -> dict:
        """JSON-friendly fields."""
        cell = lambda c: None if c is None else c.__dict__  # noqa: E731
        return {"kpi": self.kpi, "label": self.label, "unit": self.unit, "design": self.design,
                "pilot_before": cell(self.pilot_before), "pilot_after": cell(self.pilot_after),
                "control_before": cell(self.control_before), "control_after": cell(self.control_after),
                "estimate": self.estimate, "ci": list(self.ci), "p_value": self.p_value, "test": self.test,
                "goal": self.goal, "weeks_needed": self.weeks_needed, "verdict": self.verdict}


def did_effect(*, kpi: str, label: str, unit: str, direction: str, pilot_before: pl.DataFrame, pilot_after: pl.DataFrame,
               control_before: pl.DataFrame | None = None, control_after: pl.DataFrame | None = None,
               goal: float | None = None, level: float = 0.95) -> KpiEffect:
    """Difference-in-differences (or before/after without control) of weekly numerator/denominator frames, with a verdict."""
    pb, pa = ratio_cell(pilot_before), ratio_cell(pilot_after)
    cells = [pb, pa]
    has_control = control_before is not None and control_after is not None
    cb = ratio_cell(control_before) if has_control else None
    ca = ratio_cell(control_after) if has_control else None
    if has_control:
        cells += [cb, ca]
    est = (pa.value - pb.value) - ((ca.value - cb.value) if has_control else 0.0)
    var_fixed = pb.variance + (cb.variance + ca.variance if has_control else 0.0)
    var_post = pa.variance
    se = math.sqrt(var_fixed + var_post) if all(math.isfinite(c.variance) for c in cells) else float("nan")
    z = stats.norm.ppf(0.5 + level / 2)
    if not math.isfinite(se) or se == 0 or not math.isfinite(est):
        ci, p = (float("nan"), float("nan")), float("nan")
    else:
        ci, p = (est - z * se, est + z * se), float(2 * stats.norm.sf(abs(est) / se))
    sign = -1.0 if direction == "lower_is_better" else 1.0
    good = sign * est > 0
    shown = format.of(kpi, unit)  # the KPI's format, as on the tiles
    weeks_needed = None
    if not math.isfinite(p):
        verdict = "not enough data yet: fewer than two weeks with data in a period"
    elif p < 1 - level:
        moved = "rose" if est > 0 else "fell"
        head = f"{label} {moved} {format.magnitude(shown, est)}, {int(level * 100)}% CI {format.interval(shown, *ci, change=True)}"
        if not good:
            verdict = f"{head}: the pilot made it worse"
        elif goal is not None and sign * est < abs(goal):
            verdict = f"{head}: better, but short of the {format.magnitude(shown, goal)} goal"
        else:
            verdict = f"{head}: the pilot met its goal"
    else:
        target = abs(goal) if goal is not None else (abs(est) if good else None)
        if target:
            # post-period variance shrinks about as 1/weeks: weeks at which target / se reaches z
            room = (target / z) ** 2 - var_fixed
            if room > 0 and pa.weeks > 0:
                weeks_needed = max(1, math.ceil(var_post * pa.weeks / room) - pa.weeks)
        if weeks_needed is not None and weeks_needed <= MAX_EXTRA_WEEKS:
            verdict = (f"not enough data yet: about {weeks_needed} more week{'s' if weeks_needed != 1 else ''} needed "
                       f"({label} {format.delta(shown, est)} so far, {int(level * 100)}% CI "
                       f"{format.interval(shown, *ci, change=True)})")
        else:
            verdict = (f"no measurable effect on {label}: {format.delta(shown, est)}, "
                       f"{int(level * 100)}% CI {format.interval(shown, *ci, change=True)} includes zero")
    design = "difference-in-differences" if has_control else "before/after"
    test = f"z test on the {'DiD' if has_control else 'before/after'} of ratios, week-clustered SE"
    return KpiEffect(kpi, label, unit, direction, design, pb, pa, cb, ca, est, ci, p, test, goal, weeks_needed, verdict)


# --------------------------------------------------------------------------- evaluating a pilot


@dataclass(frozen=True)
class PilotReport:
    """A pilot's evaluation: windows, groups and one KpiEffect per KPI."""

    pilot: Pilot
    before: tuple[date, date]
    after: tuple[date, date]
    control: dict[str, tuple[str, ...]] | None
    effects: tuple[KpiEffect, ...]
    control_note: str = ""  # set when the viewer sees only part of the control group, saying which part

    def to_dict(self) -> dict:
        """JSON-friendly fields."""
        return {"name": self.pilot.name, "scope": {k: list(v) for k, v in self.pilot.scope.items()},
                "before": [d.isoformat() for d in self.before], "after": [d.isoformat() for d in self.after],
                "control": None if self.control is None else {k: list(v) for k, v in self.control.items()},
                "control_note": self.control_note, "effects": [e.to_dict() for e in self.effects]}

    def to_markdown(self) -> str:
        """A short report: one line per KPI with the verdict."""
        ctrl = ("before/after (no control group)" if self.control is None else
                "vs control " + ", ".join(f"{k} in {'/'.join(v)}" for k, v in self.control.items()))
        where = ", ".join(f"{k}={'/'.join(v)}" for k, v in self.pilot.scope.items()) or "everything"
        ran = f"ran {self.pilot.start} – {self.pilot.end}" if self.pilot.end else f"running since {self.pilot.start}"
        lines = [f"# Pilot: {format.markdown(self.pilot.name)}", "",
                 format.markdown(f"Scope {where}; the pilot {ran}; before {self.before[0]} – {self.before[1]}, "
                                 f"after {self.after[0]} – {self.after[1]}; {ctrl}."), "",
                 *([format.markdown(self.control_note), ""] if self.control_note else []),
                 "| KPI | pilot before | pilot after | control before | control after | estimate | p | verdict |",
                 "|---|---|---|---|---|---|---|---|"]
        for e in self.effects:
            shown = format.of(e.kpi, e.unit)
            f = lambda c: format.value(shown, None if c is None else c.value)  # noqa: E731
            lines.append(f"| {e.label} | {f(e.pilot_before)} | {f(e.pilot_after)} | {f(e.control_before)} | "
                         f"{f(e.control_after)} | {format.delta(shown, e.estimate)} | {format.p_value(e.p_value)} | "
                         f"{format.markdown(e.verdict)} |")
        return "\n".join(lines)


def _match(spec: dict[str, tuple[str, ...]]) -> pl.Expr:
    e = pl.lit(True)
    for k, v in spec.items():
        e = e & pl.col(k).is_in(list(v))
    return e


def _control_seen_whole(scope: Scope, control: dict[str, tuple[str, ...]], site_vendor: dict[str, str]) -> bool:
    """Whether the viewer sees every row of a control group the pilot names (its vendors, or its sites' vendors)."""
    if scope.vendors is None:
        return True
    vendors = set(control.get("vendor_id", ())) | {site_vendor.get(s, "") for s in control.get("site_id", ())}
    return bool(vendors) and vendors <= scope.vendors


def _automated(ws: Workspace, scope: Scope, dim: str, clients: tuple[str, ...], start: date, end: date) -> set[str]:
    """The sites (or vendors) of `clients` where an AI agent, a bot, self-service or an IVR handled most tickets
    between start and end: not like the pilot's work, so never in a default control group."""
    from connectors.schema import UNATTENDED

    tickets = ws.scan("tickets", scope)
    if "handled_by" not in tickets.collect_schema().names():
        return set()
    day = pl.col("created_at").dt.date()
    share = (tickets.filter(pl.col("client_id").is_in(list(clients)) & day.is_between(start, end))
             .group_by(dim).agg(pl.col("handled_by").is_in(list(UNATTENDED)).fill_null(False).mean().alias("share"))
             .filter(pl.col("share") >= 0.5).collect())
    return {str(v) for v in share.get_column(dim).drop_nulls().to_list()}


def evaluate_pilot(ws: Workspace, scope: Scope, name: str, *, today: date | None = None, level: float = 0.95) -> PilotReport:
    """Evaluate the pilot called `name`: each KPI before/after (vs control when there is one), with a verdict."""
    from insights.catalog import load_catalog
    from insights.metrics.kpis import compute_kpis

    pilots = load_pilots(ws, scope)
    if name not in pilots:
        raise PilotError(f"no pilot named '{name}' in scope; defined pilots: {', '.join(sorted(pilots)) or 'none'} "
                         "(add an events row with kind='pilot' or a [[pilot]] table in bpo.toml)")
    p = pilots[name]
    catalog = load_catalog()
    unknown = [k for k in p.kpis if k not in catalog.kpis]
    if unknown:
        raise PilotError(f"pilot '{name}': unknown KPI(s) {', '.join(unknown)}; see the KPI catalog for names")
    first = Calendars.of(ws.config, scope.clients).reference.week_start  # the weeks compute_kpis cuts
    monday = week_start(p.start, first)
    before = (monday - timedelta(days=7 * p.pre_weeks), monday - timedelta(days=1))
    last = today or ws.scan("tickets", scope).select(pl.col("created_at").max().dt.date()).collect().item()
    last_full = latest_complete_week(last, first) + timedelta(days=6)  # the latest week's last day on or before the data end
    after = (monday, last_full)  # to the latest complete week, past the pilot's end date (see the module notes)
    if after[1] < after[0]:
        raise PilotError(f"pilot '{name}' starts {p.start}, after the latest complete week of data ({last_full}); nothing to evaluate yet")
    control = p.control
    site_vendor = {str(s["id"]): str(s["vendor"]) for s in ws.config.sites if s.get("id") and s.get("vendor")}
    whole = control is None or _control_seen_whole(scope, control, site_vendor)
    if control is None and any(d in p.scope for d in ("site_id", "vendor_id")):
        dim = "site_id" if "site_id" in p.scope else "vendor_id"
        control = {dim: ()}  # every other site/vendor (filled below)
        whole = scope.vendors is None  # the client's other sites run under vendors a vendor viewer does not see
    dims = tuple(sorted(set(p.scope) | set(control or {}) | ({"client_id"} if control else set())))
    frame = compute_kpis(ws, scope, list(p.kpis), grain="week", by=dims, start=before[0], end=after[1], catalog=catalog)
    pilot_rows = frame.filter(_match(p.scope))
    if control is not None and any(len(v) == 0 for v in control.values()):
        dim = next(k for k, v in control.items() if len(v) == 0)
        clients = p.scope.get("client_id") or tuple(pilot_rows["client_id"].unique().drop_nulls().to_list())
        others = frame.filter(~pl.col(dim).is_in(list(p.scope[dim])) & pl.col("client_id").is_in(list(clients)))
        automated = _automated(ws, scope, dim, clients, before[0], after[1])
        control = {dim: tuple(sorted(v for v in others[dim].unique().drop_nulls().to_list() if v not in automated)),
                   "client_id": tuple(sorted(clients))}
    control_rows = frame.filter(_match(control)) if control else None
    note = ""
    if control is not None and not whole:
        mine = " and ".join(sorted(scope.vendors or ()))
        if control_rows is None or control_rows.is_empty():
            control, control_rows = None, None
            note = (f"The control group is outside your view (it is other vendors' work, not {mine}'s): "
                    "this is the pilot's own before/after change; the brand reads it against the control group.")
        else:
            note = (f"Control group: only the part in your view ({mine}'s work); the rest of the control group is "
                    f"other vendors' work, so this estimate differs from the one the brand reads.")
    effects = []
    for kpi in p.kpis:
        k = catalog.kpis[kpi]

        def weekly(rows: pl.DataFrame, lo: date, hi: date) -> pl.DataFrame:
            return (rows.filter((pl.col("kpi") == kpi) & pl.col("period").is_between(lo, hi))
                    .group_by("period").agg(pl.col("numerator").sum(), pl.col("denominator").sum()).sort("period"))

        effects.append(did_effect(
            kpi=kpi, label=k.label, unit=k.unit, direction=k.direction,
            pilot_before=weekly(pilot_rows, *before), pilot_after=weekly(pilot_rows, *after),
            control_before=weekly(control_rows, *before) if control_rows is not None else None,
            control_after=weekly(control_rows, *after) if control_rows is not None else None,
            goal=p.goals.get(kpi), level=level))
    return PilotReport(p, before, after, control, tuple(effects), note)
