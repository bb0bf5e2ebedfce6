"""Related findings about one segment and cause become one card: the strongest tells the story, the others are its
sub-points, and a service credit is quoted once per card."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any, Mapping

from insights.catalog import Catalog
from insights.catalog.rules import Rules
from insights.detection import ranking
from insights.detection.explain import told_insight
from insights.detection.records import Insight
from insights.format import Names

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


HEADLINE_FACTS = ("shift_week", "weeks", "slope", "count", "adjusted", "share_before", "share_after", "open_weeks",
                  "open_since", "open_headline")


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


def cards(insights: list[Insight], rules: Rules, catalog: Catalog, names: Names | None = None) -> list[Insight]:
    """Related findings about one segment and cause become one card: the strongest tells the story, the others are
    its sub-points (`evidence.related`), and a service credit is quoted once per card."""
    found: list[list[Insight]] = []
    for ins in sorted(insights, key=ranking.rank_key):
        card = next((c for c in found if ins.type != "data_quality" and c[0].type != "data_quality"
                     and any(_linked(ins, member) for member in c)), None)
        if card is None:
            found.append([ins])
        else:
            card.append(ins)
    out = []
    for lead, *subs in found:
        if not subs:
            out.append(lead)
            continue
        money = _quotes_money(lead)
        related = []
        for sub in subs:
            related.append(_sub_point(sub, money=not money))
            money = money or _quotes_money(sub)
        out.append(told_insight(replace(lead, evidence={**lead.evidence, "related": related}), rules,
                                kpi=catalog.kpis.get(lead.kpi), names=names))
    return out


