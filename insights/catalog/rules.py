"""The engine's rules and playbooks as data: `rules.toml` and `playbooks.toml`, validated at load time.

`load_rules()` reads both files beside the KPI catalog and checks every table, key and value
against what the engine knows (thresholds with their types and ranges, registered detectors, KPIs
of the catalog, template placeholders, playbook patterns); all problems are listed in one
`RulesError`, each naming the file, the object and the fix.  Nothing has a default in code: a
threshold the file leaves out is a problem, not a silent fallback.

>>> rules = load_rules()
>>> rules.thresholds.headline_q
0.05
>>> rules.playbook(kpi="csat", type_="rate_change", driver_kind=None, polarity="bad", segment_owner="brand").owner
'brand CX lead'
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import polars as pl

from insights.catalog import (
    CATALOG_DIR,
    KPIS_FILE,
    MEASURES_FILE,
    PRESETS_FILE,
    Catalog,
    Kpi,
    _Problems,
    _read,
    _unknown_keys,
    load_catalog,
    sql_refs,
)
from insights.errors import RulesError

RULES_FILE, PLAYBOOKS_FILE = "rules.toml", "playbooks.toml"
SLOTS = ("what", "where", "why", "so_what", "do")

# detector -> the kinds of KPI ([[detect]] kind) it can judge; the engine runs exactly these
DETECTORS: dict[str, tuple[str, ...]] = {
    "rate_change": ("proportion", "net_score", "mean"),
    "level_shift": ("proportion", "net_score", "mean"),
    "trend": ("proportion", "net_score", "mean"),
    "target_miss": ("proportion", "mean"),  # a rate against its floor or ceiling, a duration against its seconds
    "peer_outlier": ("proportion",),
    "volume_anomaly": ("count",),
    "routing_shift": ("count",),
    "small_count_rate": ("small_count",),
}
KINDS = ("proportion", "net_score", "mean", "count", "small_count")
TYPES = (*DETECTORS, "driver", "data_quality")  # insight types a template or playbook can name
GRAINS = ("week", "month")
SEGMENT_DIMENSIONS = ("vendor_id", "site_id", "channel", "priority", "contact_reason", "handled_by")
IMPACT_FORMULAS = ("delta", "delta_x_denominator", "delta_x_n_hours", "points_x_denominator")
LOG_STATUSES = ("new", "acknowledged", "in_progress", "not_useful", "done")  # insight_log.STATUSES
DRIVER_KINDS = ("mix", "rate")
POLARITIES = ("good", "bad", "neutral")
IN_HOUSE = "in_house"  # the vendor_id of work the brand's own team does (DESIGN §4)
SEGMENT_OWNERS = ("vendor", "in_house", "brand")  # who runs the segment's work: one vendor, the in-house team, or several
EVENT_KINDS = ("launch", "outage", "promotion", "holiday", "vendor_change", "pilot", "other")

# the fields narrative.render fills; a template may name only these
TEMPLATE_FIELDS = frozenset({
    "label", "moved", "moved_dir", "observed", "expected", "delta", "baseline", "ci", "n", "week", "week_end",
    "shift_week", "weeks", "slope", "count", "adjusted", "unit_name", "impact", "impact_label", "impact_side",
    "penalty_text", "message", "target_text", "share_before", "share_after", "routed", "counterpart_text",
    "where_text", "why_text", "action_text", "owner", "verify_label", "verify_week",
})
# the fields a playbook's action may name: the segment in words, and (when one vendor runs it) the vendor and the
# unit (the site when the segment's work is at one, else the segment)
ACTION_FIELDS = frozenset({"segment", "vendor", "unit"})
OWNED_FIELDS = frozenset({"vendor", "unit"})  # need segment_owner = "vendor" or "in_house"

_RULES_TABLES = {"thresholds", "fdr", "novelty", "tiers", "detect", "impact", "templates"}
_DETECT_KEYS = {"kpi", "kind", "detectors", "impact", "grain", "mature_days", "within", "not_by", "positive", "negative"}
NET_KEYS = ("positive", "negative")  # a net score's measures of the answers counted for and against it
_IMPACT_KEYS = {"formula", "label"}
_TIERS_KEYS = {"standing_types", "chronic_weeks", "still_open_remind_weeks", "demand_event_kinds",
               "event_materiality_multiple", "headline", "high_confidence", "medium_confidence"}
_PATTERN_KEYS = ("kpi", "type", "driver", "polarity", "segment_owner")
_PLAYBOOK_KEYS = {*_PATTERN_KEYS, "action", "owner", "verify_kpi", "verify_after_weeks", "actionability"}


def _bar(lo: float, hi: float = math.inf, *, open_lo: bool = False) -> Any:
    """A threshold field with its allowed range (lo inclusive unless open_lo, hi inclusive)."""
    return field(metadata={"lo": lo, "hi": hi, "open_lo": open_lo})


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The statistical bars every run applies: [thresholds] of rules.toml, every one required there."""

    headline_q: float = _bar(0, 1, open_lo=True)
    watch_q: float = _bar(0, 1, open_lo=True)
    thin_mde_factor: float = _bar(0, open_lo=True)
    shift_materiality: float = _bar(0, open_lo=True)
    min_support: float = _bar(0, 1)
    driver_min_surprise: float = _bar(0, 1)
    baseline_weeks: int = _bar(2)
    history_weeks: int = _bar(4)
    shift_window: int = _bar(4)
    trend_weeks: int = _bar(4)
    window_weeks: int = _bar(1)
    volume_history_days: int = _bar(28)
    volume_min_change: float = _bar(0, open_lo=True)
    routing_min_change: float = _bar(0, open_lo=True)
    min_test_share: float = _bar(0, 1)
    history_months: int = _bar(2)
    baseline_months: int = _bar(1)
    min_history_months: int = _bar(1)
    month_news_weeks: int = _bar(0)
    trend_news_weeks: int = _bar(0)
    shift_news_weeks: int = _bar(0)
    duplicate_withhold_share: float = _bar(0, 1)
    attrition_window: int = _bar(1)
    top_max: int = _bar(1)
    event_margin_days: int = _bar(0)
    cross_client: bool = field(metadata={})  # also scan a vendor's work across the clients it serves


@dataclass(frozen=True, kw_only=True)
class HeadlineEvidence:
    """The least evidence a headline rests on ([tiers.headline]); short of it the finding is on the watch list."""

    min_volume_multiple: float = _bar(0)  # n >= this x the KPI's min_volume (kpis.toml)
    ci_excludes_zero: bool = field(metadata={})  # the 95% interval of the change excludes zero (where there is one)


@dataclass(frozen=True, kw_only=True)
class ConfidenceBar:
    """When a finding is said to hold with "confidence high" or "medium" ([tiers.high_confidence], [tiers.medium_confidence])."""

    min_confidence: float = _bar(0, 1)  # the confidence factor (1 - q, or 0.9 for a certain interval)
    ci_excludes_zero: bool = field(metadata={})


@dataclass(frozen=True, kw_only=True)
class Tiers:
    """How findings are tiered: standing types, chronic and event rules, and the evidence each tier needs."""

    standing_types: tuple[str, ...]
    chronic_weeks: int
    still_open_remind_weeks: int  # a problem still open is headlined again every this many weeks (and when it worsens)
    demand_event_kinds: tuple[str, ...]
    event_materiality_multiple: float
    headline: HeadlineEvidence
    high_confidence: ConfidenceBar
    medium_confidence: ConfidenceBar


@dataclass(frozen=True, kw_only=True)
class Playbook:
    """One action pattern: when it applies, what to do, who owns it and how to verify it."""

    action: str
    owner: str
    verify_kpi: str
    verify_after_weeks: int
    actionability: float
    kpi: str | None = None
    type: str | None = None
    driver: Literal["mix", "rate"] | None = None
    polarity: Literal["good", "bad", "neutral"] | None = None
    segment_owner: Literal["vendor", "in_house", "brand"] | None = None

    def matches(self, *, kpi: str, type_: str, driver_kind: str | None, polarity: str, segment_owner: str) -> bool:
        """Whether every field the pattern names agrees with the insight."""
        asked = {"kpi": kpi, "type": type_, "driver": driver_kind, "polarity": polarity, "segment_owner": segment_owner}
        return all(getattr(self, k) is None or getattr(self, k) == v for k, v in asked.items())

    def text(self, *, segment: str, vendor: str | None, unit: str | None) -> str:
        """The action in words for one segment ('Ask Southpeak Contact for a recovery plan for Southpeak Kraków ...');
        the unit is the site when the work is at one, else the segment."""
        return self.action.format(segment=segment, vendor=vendor or segment, unit=unit or segment)


@dataclass(frozen=True, kw_only=True)
class Rules:
    """The engine's rules (thresholds, tiers, detectors per KPI, impact formulas, templates) and playbooks."""

    thresholds: Thresholds
    tiers: Tiers
    detect: tuple[Mapping[str, Any], ...]  # one per KPI; every key present (grain, mature_days, within filled)
    impact: Mapping[str, Mapping[str, str]]
    templates: Mapping[str, Mapping[str, str]]
    playbooks: tuple[Playbook, ...]
    fdr: Mapping[str, tuple[str, ...]]  # BH family -> detector types
    novelty: Mapping[str, float]  # insight-log status -> novelty multiplier

    def family(self, type_: str, grain: str | None = None) -> str:
        """The BH family a finding is judged in (a KPI judged by the month joins the monthly family)."""
        if grain == "month" and "monthly" in self.fdr:
            return "monthly"
        return next(name for name, types in self.fdr.items() if type_ in types)

    def playbook(self, *, kpi: str, type_: str, driver_kind: str | None, polarity: str, segment_owner: str) -> Playbook:
        """The first playbook matching the insight (the catalog ends with a catch-all)."""
        return next(p for p in self.playbooks if p.matches(kpi=kpi, type_=type_, driver_kind=driver_kind,
                                                           polarity=polarity, segment_owner=segment_owner))

    def net_parts(self, catalog: Catalog) -> dict[str, tuple[str, str]]:
        """Net-score KPI -> the names its answers for and against are read by (their measures, counted as KPIs by
        `reading_catalog`), for the KPIs of `catalog` judged as kind net_score."""
        return {d["kpi"]: (d["positive"], d["negative"]) for d in self.detect
                if d["kind"] == "net_score" and d["kpi"] in catalog.kpis}


def reading_catalog(catalog: Catalog, rules: Rules) -> Catalog:
    """`catalog` with a count KPI for each measure a net score's answers are counted by (rules.toml positive and
    negative), so the engine reads them with the score, from the same cells, by the same formulas; the catalog itself
    when there is none to add.  They are read, never shown: they stay out of kpis.toml, its README table and presets.

    >>> sorted(set(reading_catalog(load_catalog(), load_rules()).kpis) - set(load_catalog().kpis))
    ['nps_detractors', 'nps_promoters']
    """
    added = {m: Kpi(name=m, label=catalog.measures[m].description or m, type="simple", numerator=m, denominator=None,
                    direction="neutral", unit="count", format=",.0f", materiality=0.0, min_volume=0, target=None,
                    description=f"answers counted by the measure {m} (read with a net score, never shown)")
             for pair in rules.net_parts(catalog).values() for m in pair if m not in catalog.kpis}
    return replace(catalog, kpis={**catalog.kpis, **added}) if added else catalog


def net_points(numerator: str, positive: str, negative: str) -> float | None:
    """The points a net score's numerator gives per net answer: the a > 0 of `numerator` = a × (positive − negative),
    found by evaluating it (None when the numerator is not of that form).

    >>> net_points("100 * (nps_promoters - nps_detractors)", "nps_promoters", "nps_detractors")
    100.0
    """
    probe = pl.DataFrame({positive: [1.0, 0.0, 3.0, 0.0], negative: [0.0, 1.0, 2.0, 0.0]})
    try:
        got = probe.select(pl.sql_expr(numerator).cast(pl.Float64)).to_series().to_list()
    except Exception:  # noqa: BLE001 - another column, or no SQL: not a net score's numerator
        return None
    a = got[0]
    if a is None or not math.isfinite(a) or a <= 0:  # answers for the score raise it
        return None
    want = (a, -a, a, 0.0)
    return float(a) if all(g is not None and math.isclose(g, w, abs_tol=1e-9) for g, w in zip(got, want)) else None


# --------------------------------------------------------------------------- loading


@lru_cache(maxsize=8)
def _load_cached(folder: Path, stamp: tuple[float, ...]) -> Rules:
    return _load(folder)


def load_rules(folder: Path | None = None) -> Rules:
    """Load and validate rules.toml and playbooks.toml in `folder` (default: insights/catalog); every problem at once.

    KPI names are checked against the KPI catalog of the same folder.
    """
    folder = Path(folder) if folder is not None else CATALOG_DIR
    files = (RULES_FILE, PLAYBOOKS_FILE, MEASURES_FILE, KPIS_FILE, PRESETS_FILE)
    stamp = tuple((folder / f).stat().st_mtime if (folder / f).exists() else 0.0 for f in files)
    return _load_cached(folder.resolve(), stamp)


def _load(folder: Path) -> Rules:
    catalog = load_catalog(folder)
    problems = _Problems()
    rdoc = _read(folder, RULES_FILE, problems)
    pdoc = _read(folder, PLAYBOOKS_FILE, problems)
    for key in rdoc:
        if key not in _RULES_TABLES:
            _unknown_keys({key: None}, _RULES_TABLES, RULES_FILE, "(top level)", problems)
    for key in pdoc:
        if key != "playbook":
            problems.add(PLAYBOOKS_FILE, "(top level)", f"unknown table '{key}'; the file holds [[playbook]] entries only")
    thresholds = _thresholds(rdoc.get("thresholds", {}), problems)
    tiers = _tiers(rdoc.get("tiers", {}), problems)
    impact = _impact(rdoc.get("impact", {}), problems)
    detect = _detect(rdoc.get("detect", []), catalog, set(impact), problems)
    templates = _templates(rdoc.get("templates", {}), problems)
    fdr = _fdr(rdoc.get("fdr", {}), problems)
    novelty = _novelty(rdoc.get("novelty", {}), problems)
    playbooks = _playbooks(pdoc.get("playbook", []), catalog, problems)
    if thresholds and thresholds.watch_q < thresholds.headline_q:
        problems.add(RULES_FILE, "[thresholds]", f"watch_q = {thresholds.watch_q} is below headline_q = "
                     f"{thresholds.headline_q}; the watch list's bar must be at least the headline's")
    if problems or thresholds is None or tiers is None:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise RulesError(f"{len(problems)} problem(s) in the rules ({folder}):\n{listing}", list(problems))
    return Rules(thresholds=thresholds, tiers=tiers, detect=detect, impact=impact, templates=templates,
                 playbooks=playbooks, fdr=fdr, novelty=novelty)


def _number(value: Any, type_: str) -> bool:
    if isinstance(value, bool):
        return type_ == "bool"
    if type_ == "int":
        return isinstance(value, int)
    if type_ == "float":
        return isinstance(value, (int, float))
    return False


def _fill(cls: type, doc: Mapping[str, Any], obj: str, problems: _Problems) -> Any:
    """A frozen dataclass from a TOML table: every field required, typed and in range; None when any is wrong."""
    known = {f.name for f in fields(cls)}
    ok = True
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in doc:
            problems.add(RULES_FILE, obj, f"'{f.name}' is missing; every value is set in the file (none in code)")
            ok = False
            continue
        v = doc[f.name]
        if not _number(v, str(f.type)):
            problems.add(RULES_FILE, obj, f"{f.name} = {v!r} must be {'a whole number' if f.type == 'int' else 'true or false' if f.type == 'bool' else 'a number'}")
            ok = False
            continue
        lo, hi, open_lo = f.metadata.get("lo", -math.inf), f.metadata.get("hi", math.inf), f.metadata.get("open_lo", False)
        if (v <= lo if open_lo else v < lo) or v > hi:
            span = f"{'>' if open_lo else '>='} {lo}" + (f" and <= {hi}" if math.isfinite(hi) else "")
            problems.add(RULES_FILE, obj, f"{f.name} = {v!r} is out of range; it must be {span}")
            ok = False
            continue
        values[f.name] = float(v) if f.type == "float" else v
    _unknown_keys(dict(doc), known, RULES_FILE, obj, problems)
    return cls(**values) if ok else None


def _thresholds(doc: Mapping[str, Any], problems: _Problems) -> Thresholds | None:
    return _fill(Thresholds, doc, "[thresholds]", problems)


def _names(value: Any, allowed: tuple[str, ...], what: str, obj: str, key: str, problems: _Problems) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.add(RULES_FILE, obj, f"{key} must be a list of {what}: {', '.join(allowed)}")
        return ()
    for v in value:
        if v not in allowed:
            problems.add(RULES_FILE, obj, f"{key} names unknown {what[:-1]} '{v}'; use one of: {', '.join(allowed)}")
    return tuple(value)


def _tiers(doc: Mapping[str, Any], problems: _Problems) -> Tiers | None:
    obj = "[tiers]"
    _unknown_keys(dict(doc), _TIERS_KEYS, RULES_FILE, obj, problems)
    for key in sorted(_TIERS_KEYS - set(doc)):
        problems.add(RULES_FILE, obj, f"'{key}' is missing; every value is set in the file (none in code)")
    standing = _names(doc.get("standing_types", []), TYPES, "insight types", obj, "standing_types", problems)
    demand = _names(doc.get("demand_event_kinds", []), EVENT_KINDS, "event kinds", obj, "demand_event_kinds", problems)
    chronic: Any = doc.get("chronic_weeks")
    multiple: Any = doc.get("event_materiality_multiple")
    if "chronic_weeks" in doc and (not _number(chronic, "int") or chronic < 1):
        problems.add(RULES_FILE, obj, f"chronic_weeks = {chronic!r} must be a whole number >= 1")
    remind: Any = doc.get("still_open_remind_weeks")
    if "still_open_remind_weeks" in doc and (not _number(remind, "int") or remind < 1):
        problems.add(RULES_FILE, obj, f"still_open_remind_weeks = {remind!r} must be a whole number >= 1 (weeks between "
                                      f"the headlines of a problem still open; 1 headlines it every week)")
    if "event_materiality_multiple" in doc and (not _number(multiple, "float") or multiple <= 0):
        problems.add(RULES_FILE, obj, f"event_materiality_multiple = {multiple!r} must be a number > 0")
    headline = _fill(HeadlineEvidence, doc.get("headline", {}), "[tiers.headline]", problems) if "headline" in doc else None
    high, medium = (_fill(ConfidenceBar, doc[key], f"[tiers.{key}]", problems) if key in doc else None
                    for key in ("high_confidence", "medium_confidence"))
    if headline is None or high is None or medium is None or not _number(chronic, "int") or not _number(multiple, "float") \
            or not _number(remind, "int"):
        return None
    return Tiers(standing_types=standing, chronic_weeks=int(chronic), still_open_remind_weeks=int(remind),
                 demand_event_kinds=demand,
                 event_materiality_multiple=float(multiple), headline=headline, high_confidence=high,
                 medium_confidence=medium)


def _impact(doc: Mapping[str, Any], problems: _Problems) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, spec in doc.items():
        obj = f"[impact.{name}]"
        if not isinstance(spec, dict):
            problems.add(RULES_FILE, obj, "must be a table with 'formula' and 'label'")
            continue
        _unknown_keys(spec, _IMPACT_KEYS, RULES_FILE, obj, problems)
        if spec.get("formula") not in IMPACT_FORMULAS:
            problems.add(RULES_FILE, obj, f"formula {spec.get('formula')!r} is not one of: {', '.join(IMPACT_FORMULAS)}")
        if not isinstance(spec.get("label"), str) or not spec.get("label"):
            problems.add(RULES_FILE, obj, "'label' is missing; name what the impact counts ('tickets outside SLA')")
        out[name] = {"formula": str(spec.get("formula")), "label": str(spec.get("label"))}
    return out


def _detect(items: list[dict], catalog: Catalog, impacts: set[str], problems: _Problems) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    used: set[str] = set()
    for i, d in enumerate(items):
        kpi = d.get("kpi")
        obj = f"[[detect]] '{kpi}'" if kpi else f"[[detect]] #{i + 1}"
        _unknown_keys(d, _DETECT_KEYS, RULES_FILE, obj, problems)
        if kpi not in catalog.kpis:
            problems.add(RULES_FILE, obj, f"kpi {kpi!r} is not a KPI of {KPIS_FILE}; fix the name or add the KPI")
        elif kpi in seen:
            problems.add(RULES_FILE, obj, f"KPI '{kpi}' has two [[detect]] blocks; merge them into one")
        seen.add(str(kpi))
        kind = d.get("kind")
        if kind not in KINDS:
            problems.add(RULES_FILE, obj, f"kind {kind!r} is not one of: {', '.join(KINDS)}")
        dets = d.get("detectors")
        if not isinstance(dets, list) or not dets:
            problems.add(RULES_FILE, obj, f"'detectors' must be a non-empty list of: {', '.join(DETECTORS)}")
            dets = []
        for name in dets:
            if name not in DETECTORS:
                problems.add(RULES_FILE, obj, f"unknown detector '{name}'; registered detectors are: {', '.join(DETECTORS)}")
            elif kind in KINDS and kind not in DETECTORS[name]:
                problems.add(RULES_FILE, obj, f"detector '{name}' cannot judge a KPI of kind '{kind}' "
                             f"(it judges {', '.join(DETECTORS[name])}); remove it or change the kind")
        if d.get("impact") not in impacts:
            problems.add(RULES_FILE, obj, f"impact {d.get('impact')!r} is not an [impact.*] table; add one or fix the name")
        used.add(str(d.get("impact")))
        grain, mature, within = d.get("grain", "week"), d.get("mature_days", 0), d.get("within")
        if grain not in GRAINS:
            problems.add(RULES_FILE, obj, f"grain {grain!r} is not one of: {', '.join(GRAINS)}")
        if not _number(mature, "int") or mature < 0:
            problems.add(RULES_FILE, obj, f"mature_days = {mature!r} must be a whole number >= 0")
        if within is not None and within not in SEGMENT_DIMENSIONS:
            problems.add(RULES_FILE, obj, f"within {within!r} is not a segment dimension; use one of: {', '.join(SEGMENT_DIMENSIONS)}")
        not_by = d.get("not_by", [])
        if not isinstance(not_by, list) or any(x not in SEGMENT_DIMENSIONS for x in not_by):
            problems.add(RULES_FILE, obj, f"not_by = {not_by!r} must be a list of segment dimensions "
                         f"({', '.join(SEGMENT_DIMENSIONS)})")
            not_by = []
        if within is not None and within in not_by:
            problems.add(RULES_FILE, obj, f"within {within!r} is also in not_by; a KPI cannot be judged only inside a "
                         "dimension it is never split by")
        net = _net_score(d, catalog, obj, problems) if kind == "net_score" else {}
        if kind != "net_score":
            for key in NET_KEYS:
                if key in d:
                    problems.add(RULES_FILE, obj, f"'{key}' belongs to a KPI of kind 'net_score' (the measures of the "
                                 f"answers counted for and against it); remove it or set kind = \"net_score\"")
        out.append({"kpi": kpi, "kind": kind, "detectors": tuple(dets), "impact": d.get("impact"), "grain": grain,
                    "mature_days": mature, "within": within, "not_by": tuple(not_by), "positive": net.get("positive"),
                    "negative": net.get("negative"), "points": net.get("points")})
    for name in sorted(impacts - used):
        problems.add(RULES_FILE, f"[impact.{name}]", "is not used by any [[detect]]; remove it or name it in one")
    return tuple(out)


def _net_score(d: Mapping[str, Any], catalog: Catalog, obj: str, problems: _Problems) -> dict[str, Any]:
    """A net score's counts ([[detect]] kind = "net_score"): its positive and negative measures, checked against the
    KPI's own formula (a ratio whose numerator is points × (positive − negative)); {} when they do not hold."""
    names = {key: d.get(key) for key in NET_KEYS}
    for key, name in names.items():
        if not isinstance(name, str) or name not in catalog.measures:
            problems.add(RULES_FILE, obj, f"{key} = {name!r} must name a measure of {MEASURES_FILE} (kind 'net_score' "
                         f"reads the answers counted for and against the score: positive and negative)")
            return {}
    kpi = catalog.kpis.get(str(d.get("kpi")))
    if kpi is None:
        return {}
    numerator, denominator = kpi.formula()
    positive, negative = str(names["positive"]), str(names["negative"])
    points = net_points(numerator or "", positive, negative) if kpi.type == "ratio" else None
    if points is None:
        problems.add(RULES_FILE, obj, f"kind 'net_score' needs a ratio KPI whose numerator is points x (positive - "
                     f"negative); {kpi.name}'s numerator is {numerator!r}: fix positive/negative or the KPI")
        return {}
    tables = {catalog.measures[m].table for m in (positive, negative, *sql_refs(denominator or "")) if m in catalog.measures}
    if len(tables) != 1:
        problems.add(RULES_FILE, obj, f"the answers for and against and {kpi.name}'s denominator must count rows of one "
                     f"table (they come from {', '.join(sorted(tables))}); one multinomial sample needs one table")
        return {}
    return {**names, "points": points}


def placeholders(text: str) -> list[str]:
    """The field names a '{...}' template names (ValueError when the braces do not parse)."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


def _check_placeholders(text: Any, allowed: frozenset[str], file: str, obj: str, problems: _Problems) -> list[str]:
    if not isinstance(text, str):
        problems.add(file, obj, f"{text!r} must be a string")
        return []
    try:
        names = placeholders(text)
    except ValueError as e:
        problems.add(file, obj, f"braces do not parse ({e}); write {{field}} and double literal braces")
        return []
    for n in names:
        if n not in allowed:
            problems.add(file, obj, f"unknown placeholder '{{{n}}}'; known fields are: {', '.join(sorted(allowed))}")
    return names


def _templates(doc: Mapping[str, Any], problems: _Problems) -> dict[str, dict[str, str]]:
    for type_ in TYPES:
        if type_ not in doc:
            problems.add(RULES_FILE, f"[templates.{type_}]", "is missing; every insight type needs its five sentences")
    for type_, slots in doc.items():
        obj = f"[templates.{type_}]"
        if type_ not in TYPES:
            problems.add(RULES_FILE, obj, f"unknown insight type '{type_}'; types are: {', '.join(TYPES)}")
        missing = [s for s in SLOTS if s not in slots]
        if missing:
            problems.add(RULES_FILE, obj, f"missing slot(s) {', '.join(missing)}; write one sentence for each")
        _unknown_keys(slots, set(SLOTS), RULES_FILE, obj, problems)
        for slot, text in slots.items():
            _check_placeholders(text, TEMPLATE_FIELDS, RULES_FILE, f"{obj} {slot}", problems)
    return {str(k): dict(v) for k, v in doc.items()}


def _fdr(doc: Mapping[str, Any], problems: _Problems) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, types in doc.items():
        obj = f"[fdr] {name}"
        out[str(name)] = _names(types, (*DETECTORS, "driver"), "insight types", obj, name, problems)
        for t in out[str(name)]:
            if t in seen:
                problems.add(RULES_FILE, "[fdr]", f"'{t}' is in both '{seen[t]}' and '{name}'; a test belongs to one family")
            seen[t] = str(name)
    for t in (*DETECTORS, "driver"):
        if t not in seen:
            problems.add(RULES_FILE, "[fdr]", f"'{t}' is in no family; add it to one (its tests need a BH family)")
    return out


def _novelty(doc: Mapping[str, Any], problems: _Problems) -> dict[str, float]:
    _unknown_keys(dict(doc), set(LOG_STATUSES), RULES_FILE, "[novelty]", problems)
    for status in LOG_STATUSES:
        v = doc.get(status)
        if v is None:
            problems.add(RULES_FILE, "[novelty]", f"'{status}' is missing; give every insight-log status a multiplier")
        elif not _number(v, "float") or not 0 < v <= 1:
            problems.add(RULES_FILE, "[novelty]", f"{status} = {v!r} must be a number > 0 and <= 1")
    return {str(k): float(v) for k, v in doc.items() if _number(v, "float")}


def _playbooks(items: list[dict], catalog: Catalog, problems: _Problems) -> tuple[Playbook, ...]:
    out: list[Playbook] = []
    patterns: list[tuple[str, dict[str, Any]]] = []
    allowed = {"kpi": None, "type": TYPES, "driver": DRIVER_KINDS, "polarity": POLARITIES, "segment_owner": SEGMENT_OWNERS}
    for i, p in enumerate(items):
        obj = f"[[playbook]] #{i + 1}" + (f" ({', '.join(f'{k}={p[k]}' for k in _PATTERN_KEYS if k in p)})"
                                          if any(k in p for k in _PATTERN_KEYS) else " (catch-all)")
        _unknown_keys(p, _PLAYBOOK_KEYS, PLAYBOOKS_FILE, obj, problems)
        ok = True
        for key in ("action", "owner", "verify_kpi"):
            if not isinstance(p.get(key), str) or not p.get(key):
                problems.add(PLAYBOOKS_FILE, obj, f"'{key}' is missing; write it as text")
                ok = False
        if "kpi" in p and p["kpi"] not in catalog.kpis:
            problems.add(PLAYBOOKS_FILE, obj, f"kpi {p['kpi']!r} is not a KPI of {KPIS_FILE}; fix the name")
        for key, values in allowed.items():
            if key != "kpi" and key in p and p[key] not in (values or ()):
                problems.add(PLAYBOOKS_FILE, obj, f"{key} {p[key]!r} is not one of: {', '.join(values or ())}")
        verify = p.get("verify_kpi")
        if isinstance(verify, str) and verify != "same" and verify not in catalog.kpis:
            problems.add(PLAYBOOKS_FILE, obj, f"verify_kpi {verify!r} is not a KPI of {KPIS_FILE}; fix the name or use "
                         "\"same\" (the insight's own KPI)")
        weeks: Any = p.get("verify_after_weeks")
        able: Any = p.get("actionability")
        if not _number(weeks, "int") or weeks < 0:
            problems.add(PLAYBOOKS_FILE, obj, f"verify_after_weeks = {weeks!r} must be a whole number >= 0")
            ok = False
        if not _number(able, "float") or not 0 < able <= 1:
            problems.add(PLAYBOOKS_FILE, obj, f"actionability = {able!r} must be a number > 0 and <= 1")
            ok = False
        names = _check_placeholders(p.get("action", ""), ACTION_FIELDS, PLAYBOOKS_FILE, obj, problems)
        owned = sorted(OWNED_FIELDS & set(names))
        if owned and p.get("segment_owner") not in ("vendor", "in_house"):
            problems.add(PLAYBOOKS_FILE, obj, f"the action names {{{owned[0]}}} but the pattern does not set "
                         "segment_owner = \"vendor\" or \"in_house\"; only then is there one to name")
        pattern = {k: p[k] for k in _PATTERN_KEYS if k in p}
        for earlier_obj, earlier in patterns:
            if earlier.items() <= pattern.items():
                problems.add(PLAYBOOKS_FILE, obj, f"is never used: {earlier_obj} before it matches everything it "
                             "matches; move it above or narrow the earlier one")
                break
        patterns.append((obj, pattern))
        if ok:
            out.append(Playbook(action=p["action"], owner=p["owner"], verify_kpi=p["verify_kpi"],
                                verify_after_weeks=int(weeks), actionability=float(able),
                                **{k: p.get(k) for k in _PATTERN_KEYS}))
    if not items or any(k in items[-1] for k in _PATTERN_KEYS):
        problems.add(PLAYBOOKS_FILE, "(file)", "the last [[playbook]] must be a catch-all (no kpi, type, driver, "
                     "polarity or segment_owner) so that every insight gets an action")
    return tuple(out)
