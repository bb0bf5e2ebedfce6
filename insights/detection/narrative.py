"""Narrative: deterministic sentences over the insight record, from templates kept as data.

`rules.toml` holds five slots per insight type (what happened, where, why, so what, what to do);
`playbooks.toml` maps a pattern (KPI, detector, driver kind, good/bad, who runs the segment) to an
action, an owner and the KPI and week that will show whether it worked; both are loaded and
validated by `insights.catalog.rules` (re-exported here).  `render(draft)` fills the slots with values
formatted from the record's own fields only, so every number a reader sees can be traced back to
the record (a test checks each sentence, and that a sentence restating the change restates the
headline's number).  Events are said to "coincide with" a change, never to cause it.  A card's
related findings (`evidence.related`) are told as sub-points in its "why", each with its own
numbers; a service credit is quoted once per card.  A standing problem still far from its
baseline or target (`evidence.open_weeks`) is headed "Still open since the week of … (N weeks)" the weeks it
is headlined (`evidence.open_headline`) and "Open since … (N weeks), not worse" in the weeks between.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from insights import format
from insights.catalog.rules import PLAYBOOKS_FILE, RULES_FILE, SLOTS, TEMPLATE_FIELDS, Playbook, Rules, load_rules
from insights.errors import RulesError
from insights.format import Names

__all__ = ["PLAYBOOKS_FILE", "RULES_FILE", "SLOTS", "TEMPLATE_FIELDS", "Playbook", "Rules", "RulesError", "load_rules",
           "markdown", "render", "verify_week"]


# --------------------------------------------------------------------------- rendering


CHANGE_INTERVALS = ("level_shift", "trend")  # detectors whose 95% interval is of the change, not of the value
OVERSHOOT = 1.2  # a driver carrying more than this share of the change is described without the share


def _where(draft: Mapping[str, Any], names: Names | None = None) -> str:
    seg = format.segment(draft["segment"], names)
    drivers = draft.get("drivers") or []
    ev = draft.get("evidence", {})
    if drivers:
        d = drivers[0]
        who = format.part(d["dimension"], d["value"], names)
        if d["kind"] == "mix":
            return (f"In {seg}, the change is mix: the share of {who} moved from {format.share(d['rate_before'])} "
                    f"to {format.share(d['rate_after'])} of the volume and carries "
                    f"{format.share(d['share_of_change'])} of the change.")
        if d["share_of_change"] > OVERSHOOT:  # the rest moved the other way: a share far above 100% reads as an error
            return (f"In {seg}, it comes from {who} ({format.share(d['share_of_volume'])} of the volume), "
                    f"which moved by more than the whole change while the rest of the work moved the other way.")
        return (f"In {seg}, it is concentrated in {who}: {format.share(d['share_of_change'])} of the change "
                f"from {format.share(d['share_of_volume'])} of the volume.")
    if ev.get("broad_based"):
        searched = ev.get("searched") or ("vendor_id", "site_id", "channel", "priority", "contact_reason", "handled_by")
        return f"In {seg}, it is broad-based: no single {_either(searched)} explains it."
    return f"In {seg}."


def _either(dims: Any) -> str:
    """'vendor, site or contact reason': the dimensions a driver search went through, in words."""
    words = [format.dimension(d) for d in dims if d != "client_id"]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


def _why(draft: Mapping[str, Any], kpi: format.Kpi, names: Names | None = None) -> str:
    ev = draft.get("evidence", {})
    parts = []
    dec = ev.get("decomposition")
    if dec:
        parts.append(f"Of the {format.delta(kpi, dec['total'])}, rate changes within each {format.dimension(dec['dimension'])} "
                     f"give {format.delta(kpi, dec['rate'])} and the shift in mix {format.delta(kpi, dec['mix'])}.")
    related = ev.get("related", [])
    told = {r["kpi"] for r in related if r["segment"] == draft["segment"]}
    for co in [c for c in ev.get("co_moving", []) if c["kpi"] not in told][:2]:
        parts.append(f"It coincides with {co['label']} {format.delta(format.of(co.get('kpi'), co['unit']), co['delta'])} "
                     f"in the same segment.")
    for e in ev.get("events", [])[:2]:
        when = e["start"] if e["start"] == e["end"] else f"{e['start']} to {e['end']}"
        parts.append(f"It coincides with the {e['kind'].replace('_', ' ')} '{e['name']}' ({when}).")
    parts.extend(_sub_point_text(r, draft, names) for r in related)
    for t in ev.get("thin", [])[:1]:
        parts.append(f"Not enough {t['what']} to call a change at {format.segment(t['segment'], names)}: "
                     f"n = {format.count(t['n'])}, smallest detectable change about "
                     f"{format.magnitude(kpi, t['mde'])}; shown at this level instead.")
    return " ".join(p for p in parts if p) or "No aligned event or co-moving KPI in the calendar."


def _sub_point_text(point: Mapping[str, Any], draft: Mapping[str, Any], names: Names | None = None) -> str:
    """A related finding told inside the card: where, its own headline, and the credit when the card quotes it here.
    The contract miss the card's own target sentence already tells is not told twice."""
    contract = draft.get("evidence", {}).get("target_miss") or {}
    if point["type"] == "target_miss" and point["kpi"] == draft["kpi"] and contract.get("segment") == point["segment"]:
        return ""
    credit = (f" That misses the contract: a service credit of about "
              f"{format.money(point['penalty'], point.get('currency', ''), cents=False)}." if point.get("penalty") else "")
    where = "the same segment" if point["segment"] == draft["segment"] else format.segment(point["segment"], names)
    return f"Also in {where}: {point['headline']}{credit}"


def _target_text(miss: Mapping[str, Any] | None, kpi: format.Kpi, names: Names | None = None) -> str:
    """The sentence a change adds when it also misses the contract: ' The contract's target for Acme Home ·
    channel email is 85.0%: it is at 70.5%, 14.5 pts short (a service credit of about USD 3,631).'"""
    if not miss:
        return ""
    period = f", {miss['penalty_period']}" if miss.get("penalty_period") else ""
    credit = (f" (a service credit of about {format.money(miss['penalty'], miss.get('currency', ''), cents=False)}{period})"
              if miss.get("penalty") else "")
    where = f" for {format.segment(miss['segment'], names)}" if miss.get("segment") else ""
    when = f"in the week of {miss['week']} it was" if miss.get("week") else "it is"  # the contract is judged by the week
    return (f" The contract's target{where} is {format.value(kpi, miss['target'])}: {when} at "
            f"{format.value(kpi, miss['observed'])}, {format.magnitude(kpi, miss['delta'])} {_side(miss)}{credit}.")


def _side(miss: Mapping[str, Any]) -> str:
    """'short' of a floor (attainment, CSAT), 'over' a ceiling (AHT, ASA, abandonment): the side the miss is on."""
    return "over" if miss["delta"] > 0 else "short"


def render(draft: Mapping[str, Any], label: str, rules: Rules, *, kpi: format.Shown | None = None,
           names: Names | None = None) -> dict[str, str]:
    """The five slots, the headline, the meaning and the action sentence of a draft record.

    `kpi` (the catalog KPI) gives values its format, as on the tiles; `names` turns ids into names.
    """
    ev = draft.get("evidence", {})
    # an improvement is told the way its detector saw it (a week's jump, a shift since a date, a drift)
    type_ = ev.get("detector", "rate_change") if draft["type"] == "improvement" else draft["type"]
    tmpl = rules.templates[type_]
    shown: format.Kpi = kpi if kpi is not None else draft["unit"]  # the KPI and its format, else just its unit
    impact = draft.get("impact") or {}
    action = draft["action"]
    polarity = ev.get("polarity", "neutral")
    up = (draft.get("delta") or 0) > 0
    moved = ("rose" if up else "fell") if type_ != "level_shift" else ("risen" if up else "fallen")
    ci_delta = ci_is_change(draft["type"], ev)
    week = draft["period"]["start"]
    ci = draft.get("ci")
    values = {
        "label": label,
        "moved": moved,
        "moved_dir": "up" if up else "down",
        "observed": format.value(shown, draft.get("observed")),
        "expected": format.value(shown, draft.get("expected")),
        "delta": format.delta(shown, draft.get("delta") or 0.0),
        "baseline": draft.get("baseline", ""),
        "ci": format.interval(shown, *(ci or (None, None)), change=ci_delta),
        "n": format.count(draft.get("n") or 0),
        "week": week.isoformat(),
        "week_end": draft["period"]["end"].isoformat(),
        "shift_week": str(ev.get("shift_week", week.isoformat())),
        "weeks": f"{ev.get('weeks', 0)}",
        "slope": format.delta(shown, ev.get("slope", 0.0)),
        "count": f"{ev.get('count', 0)}",
        "adjusted": format.value(shown, ev.get("adjusted")),
        "unit_name": format.segment(draft["segment"], names),
        "impact": format.count(abs(impact.get("value", 0.0))),
        "impact_label": impact.get("unit", ""),
        "impact_side": "more" if polarity != "good" else "fewer",
        "penalty_text": (f", and a service credit of about {format.money(ev['penalty'], ev.get('currency', ''), cents=False)}"
                         + (f" ({ev['penalty_period']})" if ev.get("penalty_period") else "")
                         if ev.get("penalty") else ""),
        "message": ev.get("message", ""),
        "target_text": _target_text(ev.get("target_miss"), shown, names),
        "share_before": format.share(ev.get("share_before")),
        "share_after": format.share(ev.get("share_after")),
        "routed": "away from" if not up else "to",
        "counterpart_text": "".join(
            f" The work {'went to' if not up else 'came from'} {format.part('site_id', c['site_id'], names)} "
            f"(share {format.share(c['share_before'])} to {format.share(c['share_after'])})."
            for c in ev.get("counterparts", [])),
        "where_text": _where(draft, names),
        "why_text": _why(draft, shown, names),
        "action_text": action["text"],
        "owner": action["owner"],
        "verify_label": format.label("kpi", action["verify_kpi"], names),
        "verify_week": action["verify_week"],
    }
    if type_ in ("volume_anomaly", "routing_shift") and polarity != "good":
        values["impact_side"] = "more" if up else "fewer"
    slots = {s: tmpl[s].format(**values) for s in SLOTS}
    if ev.get("open_weeks"):  # a standing problem still far from its baseline or target
        slots["what"] = f"{_open_text(ev)}: {slots['what']}"
    headline = slots["what"]
    meaning = " ".join(slots[s] for s in ("where", "why", "so_what"))
    return {"headline": headline, "meaning": meaning, "action": slots["do"], **slots}


def _open_text(ev: Mapping[str, Any]) -> str:
    """'Still open since the week of 2026-03-02 (12 weeks)' the weeks it is headlined (it opened, worsened or is due
    its reminder), 'Open since the week of 2026-03-02 (13 weeks), not worse' in the weeks between."""
    weeks = int(ev["open_weeks"])
    since = f" since the week of {ev['open_since']}" if ev.get("open_since") else ""
    span = f"{weeks} week{'' if weeks == 1 else 's'}"
    if ev.get("open_headline", True):
        return f"Still open{since} ({span})" + (", and worse" if ev.get("open_news") == "worse" else "")
    return f"Open{since} ({span}), not worse"


def ci_is_change(type_: str, evidence: Mapping[str, Any]) -> bool:
    """Whether an insight's interval is of the change (a shift, a drift) rather than of the value."""
    detector = evidence.get("detector", "rate_change") if type_ == "improvement" else type_
    return detector in CHANGE_INTERVALS


def verify_week(week: date, after_weeks: int) -> str:
    """The ISO date of the Monday `after_weeks` after the review week."""
    return (week + timedelta(weeks=after_weeks)).isoformat()


def markdown(insights: list[Any], *, title: str = "Insights") -> str:
    """The insights as a reviewer reads them: numbered, what / means / do, with the test and q-value."""
    lines = [f"# {title}", ""]
    for i, ins in enumerate(insights, 1):
        tier = ins.evidence.get("tier", "")
        lines.append(f"**{i}. [{format.markdown(tier)}] {format.markdown(ins.headline)}**")
        lines.append("")
        lines.append(f"- *What it means:* {format.markdown(ins.meaning)}")
        lines.append(f"- *What to do:* {format.markdown(ins.action.text)}")
        if ins.test:
            lines.append(f"- *Evidence:* {format.markdown(ins.test)}; p = {format.p_value(ins.p_value)}, "
                         f"q = {format.p_value(ins.q_value)}; id `{ins.id}`")
        lines.append("")
    return "\n".join(lines)
