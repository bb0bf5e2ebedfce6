"""Ranking: score = impact × confidence × persistence × actionability × novelty, and the review's top list.

Each factor is in [0, 1] except impact (materiality multiples, capped at 10, weighted by the
segment's share of its client's volume).  `select_top` puts data-quality notices first, then the
best headlines and the problems still open headlined this week (a standing finding still far from its baseline or
target that opened, worsened or is due its reminder), then the other problems still open, then the watch list, and
keeps one "what went well" when one qualifies.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

from connectors.store import Workspace
from insights.catalog.rules import Rules

MAX_MAGNITUDE = 10.0


@dataclass(frozen=True)
class Factors:
    """The five factors of an insight's score."""

    impact: float
    confidence: float
    persistence: float
    actionability: float
    novelty: float

    @property
    def score(self) -> float:
        return round(self.impact * self.confidence * self.persistence * self.actionability * self.novelty, 4)


def impact_factor(delta: float, material: float, reach: float) -> float:
    """Size of the change in materiality multiples (capped), weighted by √(share of the client's volume)."""
    if material <= 0:
        material = abs(delta) or 1.0
    magnitude = min(abs(delta) / material, MAX_MAGNITUDE)
    return magnitude * math.sqrt(min(max(reach, 0.0), 1.0))


def confidence_factor(q_value: float | None, certain: bool | None = None) -> float:
    """1 − q for tested findings; 0.9 / 0.5 for interval-based ones (certain or not)."""
    if q_value is not None:
        return max(0.0, 1.0 - q_value)
    return 0.9 if certain else 0.5


def persistence_factor(weeks: int) -> float:
    """A one-week blip counts 0.8; two weeks or more 1.0."""
    return min(1.0, 0.6 + 0.2 * max(weeks, 1))


def novelty_factor(weeks_seen_before: int) -> float:
    """New this week 1.0, then halving with every week it was already there (floor 0.2)."""
    return max(0.2, 0.5 ** max(weeks_seen_before, 0))


def select_top(insights: Sequence[Any], *, top_max: int) -> list[Any]:
    """Notices first, then headlines and watch-list items by score, one improvement kept when one qualifies;
    `top_max` is rules.toml's threshold of that name."""
    notices = [i for i in insights if i.type == "data_quality"]
    ranked = sorted((i for i in insights if i.type != "data_quality" and i.evidence.get("tier") in ("headline", "watch", "standing")),
                    key=rank_key)
    room = max(0, top_max - len(notices))
    chosen = ranked[:room]
    good = [i for i in ranked if i.evidence.get("polarity") == "good" and i.evidence.get("tier") == "headline"]
    if good and not any(i.evidence.get("polarity") == "good" for i in chosen) and room > 0:
        chosen = chosen[:room - 1] + [good[0]]
    return notices + sorted(chosen, key=rank_key)


def steady(x: float, digits: int = 10) -> float:
    """`x` to `digits` significant digits, for ordering: two numbers equal but for the order their sums were added in
    (the same rows read as a vendor and as its one site) tie, and the next key decides, the same way every run."""
    return float(f"{x:.{digits}g}") if x == x else x


def rank_key(insight: Any) -> tuple[int, float, str]:
    """The review's order: notices, then headlines and problems still open, watch, standing; by score within."""
    return (-1 if insight.type == "data_quality" else _tier_order(insight), -steady(insight.score), insight.id)


def _tier_order(insight: Any) -> int:
    """Headlines and the problems still open that are headlined this week (opened, worse, or due their reminder)
    first, then the other problems still open (known, certain and not worse: they stay on the list), then the watch
    list, then what is standing."""
    ev = insight.evidence
    if ev.get("open_weeks"):
        return 0 if ev.get("open_headline", True) else 1
    return {"headline": 0, "watch": 2, "standing": 3}.get(ev.get("tier", ""), 4)


def with_log_novelty(ws: Workspace, insights: list[Any], rules: Rules, *, tenant: str) -> list[Any]:
    """Novelty from what people did with an insight (the Insights page's log, by stable id): a finding the
    team acknowledged or is acting on ranks lower, one marked not useful lowest (rules.toml [novelty]).

    Only the viewer's own tenant's log counts (`tenant`, from `insight_log.tenant_of(viewer)`): a competitor's
    notes never move this viewer's ranking."""
    factors = rules.novelty
    if not insights or not factors:
        return insights
    from insights.detection import insight_log

    try:
        logged = insight_log.states(ws, [i.id for i in insights], tenant=tenant)
    except Exception:  # noqa: BLE001 - a workspace without a metadata database has no history to weigh
        return insights
    out = []
    for ins in insights:
        status = logged[ins.id].status if ins.id in logged else "new"
        factor = factors[status]
        if factor == 1.0:
            out.append(ins)
            continue
        f = replace(Factors(**ins.evidence["factors"]), novelty=round(ins.evidence["factors"]["novelty"] * factor, 4))
        out.append(replace(ins, score=f.score, evidence={**ins.evidence, "factors": asdict(f), "log_status": status}))
    return out
