"""The detection engine's records: an insight (DESIGN §6) and a run's findings, the candidate a detector emits before
the run judges it, and the whole-or-partial segment rules that name what an insight is about.

Every record is frozen and built by keyword; a run's judgement of a candidate (its q-values and tier) is a new
candidate (`dataclasses.replace`), never an edit of the detector's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal, Mapping

import numpy as np

from connectors.store import Scope
from insights import format
from insights.detection import narrative

# segment levels: every segment is inside one client (ROOT), one dimension below it, or a site's channel (PAIR)
ROOT = ("client_id",)
DIMENSIONS = ("vendor_id", "site_id", "channel", "priority", "contact_reason", "handled_by", "language")
PAIR = ("site_id", "channel")

Tier = Literal["headline", "watch", "standing", "notice", "context"]
Polarity = Literal["good", "bad", "neutral"]
Owner = Literal["vendor", "in_house", "brand"]


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Period:
    """The dates an insight covers (inclusive)."""

    start: date
    end: date


@dataclass(frozen=True, kw_only=True)
class Action:
    """What to do, who owns it, and the KPI (and week) that will show whether it worked."""

    text: str
    owner: str
    verify_kpi: str
    verify_week: str = ""


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class Findings:
    """A run's result: every insight ranked, the review's top list, and the data-quality notices."""

    week: date
    insights: list[Insight]
    top: list[Insight]
    notices: list[Insight]
    tests: int = 0
    withheld: tuple[str, ...] = ()  # what the viewer's scope keeps from being judged, and why
    calendar: Any = None  # the view's reporting calendar (insights.view.Calendar) the week is cut in

    @property
    def headlines(self) -> list[Insight]:
        """Top insights that report a change at headline strength (q <= the headline bar)."""
        return [i for i in self.top if i.tier == "headline" and i.type != "data_quality"]

    def markdown(self) -> str:
        """The review's insights as a reviewer reads them."""
        return narrative.markdown(self.top, title=f"Insights for the {format.period(self.week, 'week', self.calendar)}")


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


Weeks = tuple[date, ...]


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A detector's finding before the run judges it (BH, tiers), merges it with others and tells it.

    `evidence` holds the detector's own facts (told in the insight's evidence); keys starting with '_' are the
    engine's working notes, never shown. The fields after `windows` are the run's judgement, set by `replace`.
    """

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
    polarity: Polarity
    reach: float
    weeks: int = 1
    seen_before: int = 0
    impact_value: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    windows: tuple[Weeks, Weeks] = ((), ())  # (baseline weeks, current weeks) for drivers
    # the run's judgement
    materiality: float = 0.0  # the smallest change of the KPI worth a sentence, at this candidate's baseline
    part: str = WHOLE  # whose work the finding is computed on (`part_of`)
    p_material: float | None = None  # one-sided p that the change exceeds the KPI's materiality
    q_value: float | None = None
    q_material: float | None = None
    tier: Tier = "context"
    owner: Owner = "brand"  # who runs the segment's work, for the playbook (set on the findings kept)
    owner_vendor: str | None = None
    owner_site: str | None = None


def polarity(direction: str, delta: float) -> Polarity:
    """good / bad / neutral for a change of `delta` under the KPI's direction (AHT up is bad, CSAT up is good)."""
    if direction == "neutral" or delta == 0:
        return "neutral"
    return "good" if (delta > 0) == (direction == "higher_is_better") else "bad"
