"""Narrative: deterministic sentences over the insight record, from templates kept as data.

`rules.toml` holds five slots per insight type (what happened, where, why, so what, what to do);
`playbooks.toml` maps a pattern (KPI, type, driver kind, good/bad) to an action, an owner and the
KPI and week that will show whether it worked.  `render(draft)` fills the slots with values
formatted from the record's own fields only, so every number a reader sees can be traced back to
the record (a test checks each sentence, and that a sentence restating the change restates the
headline's number).  Events are said to "coincide with" a change, never to cause it.  A card's
related findings (`evidence.related`) are told as sub-points in its "why", each with its own
numbers; a service credit is quoted once per card.  A standing problem still far from its
baseline or target (`evidence.open_weeks`) is headed "Still open (N weeks)".
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

CATALOG_DIR = Path(__file__).with_name("catalog")
RULES_FILE, PLAYBOOKS_FILE = "rules.toml", "playbooks.toml"
SLOTS = ("what", "where", "why", "so_what", "do")
DIM_NAMES = {"client_id": "client", "vendor_id": "vendor", "site_id": "site", "channel": "channel",
             "priority": "priority", "contact_reason": "contact reason"}


@dataclass(frozen=True)
class Playbook:
    """One action pattern: when it applies, what to do, who owns it and how to verify it."""

    action: str
    owner: str
    verify_kpi: str
    verify_after_weeks: int
    actionability: float
    kpi: str | None = None
    type: str | None = None
    driver: str | None = None
    polarity: str | None = None

    def matches(self, kpi: str, type_: str, driver_kind: str | None, polarity: str) -> bool:
        """Whether every field the pattern names agrees with the insight."""
        return ((self.kpi is None or self.kpi == kpi) and (self.type is None or self.type == type_)
                and (self.driver is None or self.driver == driver_kind)
                and (self.polarity is None or self.polarity == polarity))


@dataclass(frozen=True)
class Rules:
    """The engine's rules (thresholds, detectors per KPI, impact formulas, templates) and playbooks."""

    thresholds: Mapping[str, float]
    tiers: Mapping[str, Any]
    detect: tuple[Mapping[str, Any], ...]
    impact: Mapping[str, Mapping[str, str]]
    templates: Mapping[str, Mapping[str, str]]
    playbooks: tuple[Playbook, ...] = field(default_factory=tuple)
    fdr: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # BH family -> detector types
    novelty: Mapping[str, float] = field(default_factory=dict)  # insight-log status -> novelty multiplier

    def family(self, type_: str, grain: str | None = None) -> str:
        """The BH family a finding is judged in (a KPI judged by the month joins the monthly family)."""
        if grain == "month" and "monthly" in self.fdr:
            return "monthly"
        return next((name for name, types in self.fdr.items() if type_ in types), "all")

    def playbook(self, kpi: str, type_: str, driver_kind: str | None, polarity: str) -> Playbook:
        """The first playbook matching the insight (the catalog ends with a catch-all)."""
        return next(p for p in self.playbooks if p.matches(kpi, type_, driver_kind, polarity))


class RulesError(ValueError):
    """rules.toml or playbooks.toml is not usable; the message lists every problem."""


@lru_cache(maxsize=4)
def load_rules(folder: Path = CATALOG_DIR) -> Rules:
    """Read and check rules.toml and playbooks.toml (every problem listed at once)."""
    rules = tomllib.loads((folder / RULES_FILE).read_text())
    books = tomllib.loads((folder / PLAYBOOKS_FILE).read_text())
    problems = []
    templates = rules.get("templates", {})
    for type_, slots in templates.items():
        missing = [s for s in SLOTS if s not in slots]
        if missing:
            problems.append(f"{RULES_FILE} [templates.{type_}]: missing slot(s) {', '.join(missing)}")
    impacts = rules.get("impact", {})
    for d in rules.get("detect", []):
        if d.get("impact") not in impacts:
            problems.append(f"{RULES_FILE} [[detect]] '{d.get('kpi')}': impact '{d.get('impact')}' is not an [impact.*] table")
    playbooks = []
    for i, p in enumerate(books.get("playbook", [])):
        need = [k for k in ("action", "owner", "verify_kpi") if k not in p]
        if need:
            problems.append(f"{PLAYBOOKS_FILE} [[playbook]] #{i + 1}: missing {', '.join(need)}")
            continue
        playbooks.append(Playbook(p["action"], p["owner"], p["verify_kpi"], int(p.get("verify_after_weeks", 1)),
                                  float(p.get("actionability", 0.5)), p.get("kpi"), p.get("type"), p.get("driver"),
                                  p.get("polarity")))
    if not playbooks or any(x is not None for x in (playbooks[-1].kpi, playbooks[-1].type, playbooks[-1].polarity)):
        problems.append(f"{PLAYBOOKS_FILE}: the last [[playbook]] must be a catch-all (no kpi, type or polarity)")
    fdr = {str(k): tuple(v) for k, v in rules.get("fdr", {}).items()}
    seen: dict[str, str] = {}
    for name, types in fdr.items():
        for t in types:
            if t in seen:
                problems.append(f"{RULES_FILE} [fdr]: '{t}' is in both '{seen[t]}' and '{name}'; a test belongs to one family")
            seen[t] = name
    if problems:
        raise RulesError("; ".join(problems))
    return Rules(rules.get("thresholds", {}), rules.get("tiers", {}), tuple(rules.get("detect", [])), impacts,
                 templates, tuple(playbooks), fdr, {str(k): float(v) for k, v in rules.get("novelty", {}).items()})


# --------------------------------------------------------------------------- formatting


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI value in the words of its unit: '82.0%', '4.2 min', '1,204', '3.17'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        a = abs(value)
        if a >= 3600:
            return f"{value / 3600:.1f} h"
        if a >= 60:
            return f"{value / 60:.1f} min"
        return f"{value:.0f} s"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "currency":
        return f"{value:,.2f}"
    return f"{value:.2f}"


def fmt_delta(delta: float, unit: str) -> str:
    """A change with its sign spelled out: '+6.3 pts', '-1.2 min', '+58'."""
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    if unit == "percent":
        return f"{sign}{abs(delta) * 100:.1f} pts"
    return f"{sign}{fmt_value(abs(delta), unit)}"


def fmt_interval(ci: tuple[float, float] | None, unit: str, *, delta: bool = False) -> str:
    """'80.1%–83.9%' (or signed changes when `delta`)."""
    if not ci:
        return "n/a"
    f = fmt_delta if delta else fmt_value
    return f"{f(ci[0], unit)} to {f(ci[1], unit)}"


def segment_text(segment: Mapping[str, str]) -> str:
    """'acme · site nw-manila · channel email'."""
    parts = []
    for k, v in segment.items():
        parts.append(v if k == "client_id" else f"{DIM_NAMES.get(k, k)} {v}")
    return " · ".join(parts) or "all work in view"


# --------------------------------------------------------------------------- rendering


OVERSHOOT = 1.2  # a driver carrying more than this share of the change is described without the share


def _where(draft: Mapping[str, Any]) -> str:
    seg = segment_text(draft["segment"])
    drivers = draft.get("drivers") or []
    ev = draft.get("evidence", {})
    if drivers:
        d = drivers[0]
        who = f"{DIM_NAMES.get(d['dimension'], d['dimension'])} {d['value']}"
        if d["kind"] == "mix":
            return (f"In {seg}, the change is mix: the share of {who} moved from {fmt_value(d['rate_before'], 'percent')} "
                    f"to {fmt_value(d['rate_after'], 'percent')} of the volume and carries "
                    f"{fmt_value(d['share_of_change'], 'percent')} of the change.")
        if d["share_of_change"] > OVERSHOOT:  # the rest moved the other way: a share far above 100% reads as an error
            return (f"In {seg}, it comes from {who} ({fmt_value(d['share_of_volume'], 'percent')} of the volume), "
                    f"which moved by more than the whole change while the rest of the work moved the other way.")
        return (f"In {seg}, it is concentrated in {who}: {fmt_value(d['share_of_change'], 'percent')} of the change "
                f"from {fmt_value(d['share_of_volume'], 'percent')} of the volume.")
    if ev.get("broad_based"):
        return f"In {seg}, it is broad-based: no single {_either(ev.get('searched') or DIM_NAMES)} explains it."
    return f"In {seg}."


def _either(dims: Any) -> str:
    """'vendor, site or contact reason': the dimensions a driver search went through, in words."""
    names = [DIM_NAMES.get(d, d) for d in dims if d != "client_id"]
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _why(draft: Mapping[str, Any], unit: str) -> str:
    ev = draft.get("evidence", {})
    parts = []
    dec = ev.get("decomposition")
    if dec:
        parts.append(f"Of the {fmt_delta(dec['total'], unit)}, rate changes within each {DIM_NAMES.get(dec['dimension'], dec['dimension'])} "
                     f"give {fmt_delta(dec['rate'], unit)} and the shift in mix {fmt_delta(dec['mix'], unit)}.")
    related = ev.get("related", [])
    told = {r["kpi"] for r in related if r["segment"] == draft["segment"]}
    for co in [c for c in ev.get("co_moving", []) if c["kpi"] not in told][:2]:
        parts.append(f"It coincides with {co['label']} {fmt_delta(co['delta'], co['unit'])} in the same segment.")
    for e in ev.get("events", [])[:2]:
        when = e["start"] if e["start"] == e["end"] else f"{e['start']} to {e['end']}"
        parts.append(f"It coincides with the {e['kind'].replace('_', ' ')} '{e['name']}' ({when}).")
    parts.extend(_sub_point_text(r, draft) for r in related)
    for t in ev.get("thin", [])[:1]:
        parts.append(f"Not enough {t['what']} to call a change at {segment_text(t['segment'])}: n = {t['n']:,}, "
                     f"smallest detectable change about {fmt_delta(t['mde'], unit).lstrip('+')}; shown at this level instead.")
    return " ".join(p for p in parts if p) or "No aligned event or co-moving KPI in the calendar."


def _sub_point_text(point: Mapping[str, Any], draft: Mapping[str, Any]) -> str:
    """A related finding told inside the card: where, its own headline, and the credit when the card quotes it here.
    The contract miss the card's own target sentence already tells is not told twice."""
    contract = draft.get("evidence", {}).get("target_miss") or {}
    if point["type"] == "target_miss" and point["kpi"] == draft["kpi"] and contract.get("segment") == point["segment"]:
        return ""
    credit = (f" That misses the contract: a service credit of about {point['penalty']:,.0f} {point.get('currency', '')}"
              .rstrip() + "." if point.get("penalty") else "")
    where = "the same segment" if point["segment"] == draft["segment"] else segment_text(point["segment"])
    return f"Also in {where}: {point['headline']}{credit}"


def _target_text(miss: Mapping[str, Any] | None, unit: str) -> str:
    """The sentence a change adds when it also misses the contract: ' The contract's target for acme · channel
    email is 85.0%: it is at 70.5%, 14.5 pts short (a service credit of about 3,631 USD).'"""
    if not miss:
        return ""
    credit = (f" (a service credit of about {miss['penalty']:,.0f} {miss.get('currency', '')}".rstrip() + ")"
              if miss.get("penalty") else "")
    where = f" for {segment_text(miss['segment'])}" if miss.get("segment") else ""
    when = f"in the week of {miss['week']} it was" if miss.get("week") else "it is"  # the contract is judged by the week
    return (f" The contract's target{where} is {fmt_value(miss['target'], unit)}: {when} at "
            f"{fmt_value(miss['observed'], unit)}, {fmt_delta(abs(miss['delta']), unit).lstrip('+')} short{credit}.")


def kpi_label(name: str) -> str:
    """A KPI's label from the catalog ('SLA attainment (first response)'); the name unspaced when unknown."""
    from insights.catalog import load_catalog

    kpi = load_catalog().kpis.get(name)
    return kpi.label if kpi else name.replace("_", " ")


def render(draft: Mapping[str, Any], label: str, rules: Rules) -> dict[str, str]:
    """The five slots, the headline, the meaning and the action sentence of a draft record."""
    ev = draft.get("evidence", {})
    # an improvement is told the way its detector saw it (a week's jump, a shift since a date, a drift)
    type_ = ev.get("detector", "rate_change") if draft["type"] == "improvement" else draft["type"]
    tmpl = rules.templates.get(type_) or rules.templates["rate_change"]
    unit = draft["unit"]
    impact = draft.get("impact") or {}
    action = draft["action"]
    polarity = ev.get("polarity", "neutral")
    up = (draft.get("delta") or 0) > 0
    moved = ("rose" if up else "fell") if type_ != "level_shift" else ("risen" if up else "fallen")
    ci_delta = type_ in ("level_shift", "trend")
    week = draft["period"]["start"]
    values = {
        "label": label,
        "moved": moved,
        "moved_dir": "up" if up else "down",
        "observed": fmt_value(draft.get("observed"), unit),
        "expected": fmt_value(draft.get("expected"), unit),
        "delta": fmt_delta(draft.get("delta") or 0.0, unit),
        "baseline": draft.get("baseline", ""),
        "ci": fmt_interval(draft.get("ci"), unit, delta=ci_delta),
        "n": f"{draft.get('n') or 0:,}",
        "week": week.isoformat(),
        "week_end": draft["period"]["end"].isoformat(),
        "shift_week": str(ev.get("shift_week", week.isoformat())),
        "weeks": f"{ev.get('weeks', 0)}",
        "slope": fmt_delta(ev.get("slope", 0.0), unit),
        "count": f"{ev.get('count', 0)}",
        "adjusted": fmt_value(ev.get("adjusted"), unit),
        "unit_name": segment_text(draft["segment"]),
        "impact": f"{abs(impact.get('value', 0.0)):,.0f}",
        "impact_label": impact.get("unit", ""),
        "impact_side": "more" if polarity != "good" else "fewer",
        "penalty_text": (f", and a service credit of about {ev['penalty']:,.0f} {ev.get('currency', '')}".rstrip()
                         if ev.get("penalty") else ""),
        "message": ev.get("message", ""),
        "target_text": _target_text(ev.get("target_miss"), unit),
        "share_before": fmt_value(ev.get("share_before"), "percent"),
        "share_after": fmt_value(ev.get("share_after"), "percent"),
        "routed": "away from" if not up else "to",
        "counterpart_text": "".join(
            f" The work {'went to' if not up else 'came from'} {DIM_NAMES.get('site_id', 'site')} {c['site_id']} "
            f"(share {fmt_value(c['share_before'], 'percent')} to {fmt_value(c['share_after'], 'percent')})."
            for c in ev.get("counterparts", [])),
        "where_text": _where(draft),
        "why_text": _why(draft, unit),
        "action_text": action["text"],
        "owner": action["owner"],
        "verify_label": kpi_label(action["verify_kpi"]),
        "verify_week": action["verify_week"],
    }
    if type_ in ("volume_anomaly", "routing_shift") and polarity != "good":
        values["impact_side"] = "more" if up else "fewer"
    slots = {s: tmpl[s].format(**values) for s in SLOTS}
    if ev.get("open_weeks"):  # a standing problem still far from its baseline or target
        weeks = int(ev["open_weeks"])
        slots["what"] = f"Still open ({weeks} week{'' if weeks == 1 else 's'}): {slots['what']}"
    headline = slots["what"]
    meaning = " ".join(slots[s] for s in ("where", "why", "so_what"))
    return {"headline": headline, "meaning": meaning, "action": slots["do"], **slots}


def verify_week(week: date, after_weeks: int) -> str:
    """The ISO date of the Monday `after_weeks` after the review week."""
    return (week + timedelta(weeks=after_weeks)).isoformat()


def markdown(insights: list[Any], *, title: str = "Insights") -> str:
    """The insights as a reviewer reads them: numbered, what / means / do, with the test and q-value."""
    lines = [f"# {title}", ""]
    for i, ins in enumerate(insights, 1):
        tier = ins.evidence.get("tier", "")
        lines.append(f"**{i}. [{tier}] {ins.headline}**")
        lines.append("")
        lines.append(f"- *What it means:* {ins.meaning}")
        lines.append(f"- *What to do:* {ins.action.text}")
        if ins.test:
            q = "n/a" if ins.q_value is None else f"{ins.q_value:.3g}"
            lines.append(f"- *Evidence:* {ins.test}; p = {ins.p_value:.3g}, q = {q}; id `{ins.id}`")
        lines.append("")
    return "\n".join(lines)
