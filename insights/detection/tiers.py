"""How a run judges its candidates: materiality, Benjamini–Hochberg over each family of tests, and the tier each
finding earns (headline, watch, standing, context) with the evidence rules.toml [tiers] asks of it."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import Mapping

from connectors.store import Scope
from insights.catalog import Catalog, Kpi
from insights.catalog.rules import ConfidenceBar, Rules
from insights.detection import stats
from insights.detection.records import WHOLE, Candidate, Tier, part_of

ABSOLUTE_UNITS = ("percent", "ratio", "score")
MATERIAL_TESTED = ("rate_change", "level_shift")
KEPT = ("headline", "watch", "standing")


def material_amount(kpi: Kpi, baseline: float | None) -> float:
    """The smallest change of `kpi` worth a sentence: points for rates, else relative to the baseline (with a floor)."""
    if kpi.unit in ABSOLUTE_UNITS or baseline is None:
        return kpi.materiality
    return max(kpi.materiality * abs(baseline), kpi.materiality_floor)


def judge(cands: list[Candidate], *, scope: Scope, site_vendor: Mapping[str, str], catalog: Catalog,
          rules: Rules) -> list[Candidate]:
    """Every candidate with its materiality, q-values and tier, in the order given.

    BH runs once per family of questions (rules.toml [fdr]) and per family of data, which the data fixes, not the
    viewer: a client's week (every role that sees the client whole tests the same segments, so a segment gets the
    same verdict from each), or the vendors' share of it for a partial view (client × vendor).
    """
    share = WHOLE if scope.vendors is None else "+".join(sorted(scope.vendors))
    placed = []
    for c in cands:
        c = replace(c, materiality=material_amount(catalog.kpis[c.kpi], c.expected),
                    part=part_of(c.segment, scope, site_vendor),
                    evidence={**c.evidence, "fdr_family": rules.family(c.type, c.evidence.get("grain")),
                              "fdr_data": (f"{c.segment.get('client_id')} × {share}" if "client_id" in c.segment
                                           else f"vendor {c.segment.get('vendor_id')} × every client")})  # seen whole
        placed.append(replace(c, p_material=p_material(c)))
    families: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(placed):
        families[(c.evidence["fdr_family"], c.evidence["fdr_data"])].append(i)
    adjusted: dict[int, tuple[float, float, int]] = {}
    for members in families.values():
        q = stats.benjamini_hochberg([placed[i].p_value for i in members])
        qm = stats.benjamini_hochberg([p_material(placed[i]) for i in members])
        for i, qv, qmv in zip(members, q, qm):
            adjusted[i] = (float(qv), float(qmv), len(members))
    out = []
    for i, c in enumerate(placed):
        qv, qmv, tests = adjusted[i]
        evidence = {**c.evidence, "fdr_tests": tests, **({"q_material": qmv} if c.type in MATERIAL_TESTED else {})}
        c = replace(c, q_value=qv, q_material=qmv, evidence=evidence)
        out.append(replace(c, tier=tier(c, rules, catalog.kpis[c.kpi])))
    return out


def p_material(c: Candidate) -> float:
    """One-sided p that |change| exceeds the KPI's materiality (the change's own p for other detectors).

    A headline must be material with confidence, not merely non-zero: a 3-point move with a
    standard error of 0.6 points is surely real but not surely larger than a 2-point materiality.
    """
    z = c.evidence.get("z")
    if c.type not in MATERIAL_TESTED or not z or not math.isfinite(z) or c.delta == 0:
        return c.p_value
    se = abs(c.delta / z)
    return float(0.5 * math.erfc((abs(c.delta) - c.materiality) / se / math.sqrt(2.0)))


def change_interval(c: Candidate) -> tuple[float, float] | None:
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


def excludes_zero(c: Candidate) -> bool | None:
    """Whether the change's 95% interval leaves zero out (touching it does not); None without an interval."""
    ci = change_interval(c)
    return None if ci is None else ci[0] * ci[1] > 0


def headline_evidence(c: Candidate, rules: Rules, kpi: Kpi) -> bool:
    """Whether the finding has the least evidence a headline needs (rules.toml [tiers.headline])."""
    need = rules.tiers.headline
    if c.n < need.min_volume_multiple * (kpi.min_volume or 0):
        return False
    return not (need.ci_excludes_zero and excludes_zero(c) is False)


def confidence_label(tier: str, confidence: float, excludes_zero: bool | None, rules: Rules) -> str:
    """high | medium | low, in words for the reader (rules.toml [tiers.high_confidence], [tiers.medium_confidence])."""
    def clears(bar: ConfidenceBar) -> bool:
        return confidence >= bar.min_confidence and not (bar.ci_excludes_zero and excludes_zero is False)

    if tier == "notice" or (tier in ("headline", "standing") and clears(rules.tiers.high_confidence)):
        return "high"
    return "medium" if tier != "context" and clears(rules.tiers.medium_confidence) else "low"


def tier(c: Candidate, rules: Rules, kpi: Kpi) -> Tier:
    """The candidate's tier: its significance tier, and a headline short of a headline's evidence is on the watch list."""
    found = significance_tier(c, rules)
    return "watch" if found == "headline" and not headline_evidence(c, rules, kpi) else found


def significance_tier(c: Candidate, rules: Rules) -> Tier:
    """The tier its q-values, materiality and standing earn (rules.toml [thresholds] and [tiers])."""
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
    large = abs(c.delta) >= tiers.event_materiality_multiple * c.materiality
    surely_material = (c.q_material if c.q_material is not None else q) <= th.headline_q
    if q <= th.headline_q and surely_material and (not c.evidence.get("coincides") or large):
        return "headline"
    if q <= th.headline_q:
        return "watch"
    if q <= th.watch_q:
        return "watch"
    return "context"
