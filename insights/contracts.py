"""Contract targets in force: the one matcher every surface asks (tiles, engine, SLA page, staffing, credits).

Targets live only in `sla_targets`, read fresh from the store through the viewer's scope on every
call (no process cache: a renegotiated target shows on the next read, for every viewer at once).
Which term binds which work is `connectors.targets` (the same matcher binds each ticket's target at
import): a term binds the work of its client and of each condition it names (vendor, site, channel,
priority, queue; null: every value) from `effective_from` to `effective_to`; where several bind the
same work the one with the most conditions wins, then by precedence of condition, then the newest.

For a KPI, a segment (canonical columns → values) and a span of days, the terms are those that win
for some of the segment's work in the span, the newest version of each.  The target in force is
theirs when they all agree (one value and comparator, e.g. one attainment for every priority of a
channel); when they differ there is no single contract target for the segment (`terms` still lists them).

A catalog default (`Kpi.target`) is never a contract: it is labelled "default target" and nothing
is judged met or missed against it (`judge`).

>>> contracts = read(ws, viewer.scope)                                          # doctest: +SKIP
>>> contracts.in_force("sla_first_response", {"client_id": "acme", "channel": "email"}, date(2026, 10, 26))  # doctest: +SKIP
Target(kpi='sla_first_response', value=0.85, comparator='>=', source='contract', ...)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import polars as pl

from connectors import targets as matcher
from connectors.store import Scope, Workspace
from insights.catalog import load_catalog
from insights.errors import ContractError

Source = Literal["contract", "catalog default"]
Comparator = Literal[">=", "<="]
Verdict = Literal["met", "missed"]

# target row columns that narrow the work a term binds (null: every value)
CONDITIONS = matcher.CONDITIONS
# dimensions a term's `conditions` map may name beyond the columns, and the map's reader
MAP_DIMENSIONS = matcher.MAP_DIMENSIONS
parse_conditions = matcher.parse
# names a segment may use for its dimensions (review filters, SLA splits) -> canonical column
DIMENSION_NAMES = matcher.NAMES
COLUMNS: dict[str, Any] = {
    "target_id": pl.String, "client_id": pl.String, "metric": pl.String, **{c: pl.String for c in CONDITIONS},
    matcher.MAP: pl.String,
    "threshold_seconds": pl.Float64, "comparator": pl.String, "attainment_target": pl.Float64,
    "penalty_per_point": pl.Float64, "currency": pl.String, "effective_from": pl.Date, "effective_to": pl.Date,
}
NO_CONTRACT_TARGET = "no contract target"
NOUNS: dict[Source, str] = {"contract": "contract target", "catalog default": "default target"}


@dataclass(frozen=True, kw_only=True)
class Target:
    """A target for a KPI on some work: a contract term (or the terms that agree), or the catalog's default."""

    kpi: str
    value: float
    comparator: Comparator
    source: Source
    client_id: str | None = None
    conditions: Mapping[str, str] = field(default_factory=dict)
    threshold_seconds: float | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    penalty_per_point: float | None = None
    currency: str | None = None
    target_ids: tuple[str, ...] = ()

    @property
    def is_contract(self) -> bool:
        """True for a contract term (the only kind anything is judged met or missed against)."""
        return self.source == "contract"

    @property
    def noun(self) -> str:
        """'contract target' or 'default target', the words every surface puts before the value."""
        return NOUNS[self.source]

    def met(self, value: float) -> bool:
        """Whether `value` meets the target by its comparator."""
        return value >= self.value if self.comparator == ">=" else value <= self.value

    def points_short(self, value: float) -> float:
        """Percentage points on the wrong side of the target (0 when met)."""
        gap = self.value - value if self.comparator == ">=" else value - self.value
        return max(gap, 0.0) * 100


def judge(target: Target | None, value: float | None) -> Verdict | None:
    """'met' or 'missed' against a contract target; None without a value, without a target, or for a default."""
    if target is None or value is None or not target.is_contract:
        return None
    return "met" if target.met(value) else "missed"


def default_target(kpi: Any) -> Target | None:
    """The catalog's default target of `kpi` (a catalog Kpi), labelled as one; None when it has none."""
    if kpi.target is None:
        return None
    return Target(kpi=kpi.name, value=float(kpi.target), comparator=_comparator_of(kpi.direction),
                  source="catalog default")


# dimensions no contract term conditions on: every term binds all their values (a Spanish ticket is bound by
# its client's and channel's terms), so a segment or filter naming one narrows nothing here
UNCONDITIONED = ("language",)


def columns_of(segment: Mapping[str, Any]) -> dict[str, str]:
    """A segment keyed by canonical columns ('client' → 'client_id'); empty values and UNCONDITIONED dimensions
    dropped, unknown keys refused."""
    try:
        out = matcher.columns({k: v for k, v in segment.items() if v not in (None, "") and k not in UNCONDITIONED})
    except matcher.TargetError as e:
        raise ContractError(str(e)) from None
    return {k: v for k, v in out.items() if v is not None}


def in_view(scope: Scope, segment: Mapping[str, Any]) -> dict[str, str]:
    """`segment` as canonical columns, plus the client and vendor a scope holds only one of (the work in view is theirs).

    A vendor filter and a viewer who may see one vendor describe the same work, so they find the same term.
    """
    out = columns_of(segment)
    for column, allowed in (("client_id", scope.clients), ("vendor_id", scope.vendors)):
        if column not in out and allowed is not None and len(allowed) == 1:
            out[column] = next(iter(allowed))
    return out


effective = matcher.effective  # rows in force at some day of a span: effective dating in one place
newest = matcher.newest  # the newest version of each term per key


def _comparator_of(direction: str) -> Comparator:
    return "<=" if direction == "lower_is_better" else ">="


def _directions() -> dict[str, str]:
    return {name: k.direction for name, k in load_catalog().kpis.items()}


@dataclass(frozen=True)
class Contracts:
    """The contract terms a viewer may see, as read once (build one per request or review; never keep it)."""

    rows: pl.DataFrame
    # a review asks the same question of the same rows hundreds of times (a tile's target line: one per week):
    # (kpi, segment) -> its binding terms and their effective spans; (kpi, segment, terms in force) -> the winners
    _bound: dict[tuple[Any, ...], tuple[pl.DataFrame, list[tuple[Any, ...]]]] = field(default_factory=dict,
                                                                                     compare=False, repr=False)
    _asked: dict[tuple[Any, ...], tuple[Target, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, frame: pl.DataFrame, directions: Mapping[str, str] | None = None) -> Contracts:
        """Terms from `sla_targets` rows; a missing comparator follows the KPI's direction (lower is better: <=)."""
        if frame.is_empty():
            return cls(pl.DataFrame(schema=COLUMNS))
        directions = _directions() if directions is None else directions
        lower = sorted(k for k, d in directions.items() if d == "lower_is_better")
        t = matcher.prepare(frame.select([pl.col(c).cast(dtype) if c in frame.columns else pl.lit(None, dtype).alias(c)
                                          for c, dtype in COLUMNS.items()]))
        fill = pl.when(pl.col("metric").is_in(lower)).then(pl.lit("<=")).otherwise(pl.lit(">="))
        return cls(t.with_columns(pl.col("comparator").fill_null(fill)))

    def binding(self, segment: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """The rows binding work in a view: of its client, and naming no other value of a dimension it fixes."""
        return matcher.binding(self.rows, columns_of(segment or {}), prepared=True)

    def terms(self, kpi: str, segment: Mapping[str, Any], start: date, end: date | None = None) -> tuple[Target, ...]:
        """Every term for `kpi` binding `segment` in force between start and end (default: start's week), newest versions."""
        seg = columns_of(segment)
        where = tuple(sorted(seg.items()))
        if (kpi, where) not in self._bound:  # the segment's binding terms of the KPI, kept for every week asked
            rows = matcher.binding(self.rows, seg, prepared=True).filter(pl.col("metric") == kpi)
            self._bound[(kpi, where)] = (rows, rows.select("effective_from", "effective_to").rows())
        rows, spans = self._bound[(kpi, where)]
        last = start + timedelta(days=6) if end is None else end
        # the terms in force some day of the span (`matcher.effective`, row by row): the winners depend on them alone
        live = tuple(i for i, (since, until) in enumerate(spans)
                     if since is not None and since <= last and (until is None or until >= start))
        if (kpi, where, live) not in self._asked:
            t = matcher.in_force(rows[list(live)], kpi, seg, start, last, prepared=True, bound=True)
            self._asked[(kpi, where, live)] = tuple(_term(r) for r in t.iter_rows(named=True))
        return self._asked[(kpi, where, live)]

    def in_force(self, kpi: str, segment: Mapping[str, Any], start: date, end: date | None = None) -> Target | None:
        """The one contract target binding all of `segment`'s work in the span; None when none binds or terms differ."""
        return _agreed(self.terms(kpi, segment, start, end))

    def differ(self, kpi: str, segment: Mapping[str, Any], start: date, end: date | None = None) -> bool:
        """True when terms bind the segment but disagree (several clients or channels with different targets)."""
        terms = self.terms(kpi, segment, start, end)
        return bool(terms) and _agreed(terms) is None

    def target(self, kpi: Any, segment: Mapping[str, Any], start: date, end: date | None = None) -> Target | None:
        """The contract target of catalog KPI `kpi` for the segment, else its catalog default (labelled so), else None."""
        return self.in_force(kpi.name, segment, start, end) or default_target(kpi)

    def line(self, kpi: str, segment: Mapping[str, Any], weeks: Sequence[date]) -> list[float | None]:
        """Per week (a Monday each), the contract target's value in force, None where none binds or terms differ."""
        out: list[float | None] = []
        for week in weeks:
            t = self.in_force(kpi, segment, week)
            out.append(None if t is None else t.value)
        return out


def _term(row: Mapping[str, Any]) -> Target:
    return Target(
        kpi=row["metric"], value=float(row["attainment_target"]), comparator=row["comparator"], source="contract",
        client_id=row["client_id"],
        conditions={c: ", ".join(sorted(v)) for c, v in matcher.dimensions(row).items()},
        threshold_seconds=row["threshold_seconds"], effective_from=row["effective_from"],
        effective_to=row["effective_to"], penalty_per_point=row["penalty_per_point"], currency=row["currency"],
        target_ids=(row["target_id"],))


def _common(values: Sequence[Any]) -> Any:
    return values[0] if len(set(values)) == 1 else None


def _agreed(terms: Sequence[Target]) -> Target | None:
    """The terms as one target when they agree on value and comparator; each other field kept where all agree."""
    if not terms or len({(t.value, t.comparator) for t in terms}) > 1:
        return None
    if len(terms) == 1:
        return terms[0]
    first = terms[0]
    shared = set.intersection(*(set(t.conditions.items()) for t in terms))
    ends = [t.effective_to for t in terms]
    return Target(
        kpi=first.kpi, value=first.value, comparator=first.comparator, source="contract",
        client_id=_common([t.client_id for t in terms]), conditions=dict(sorted(shared)),
        threshold_seconds=_common([t.threshold_seconds for t in terms]),
        effective_from=max(t.effective_from for t in terms if t.effective_from is not None),
        effective_to=None if any(e is None for e in ends) else min(e for e in ends if e is not None),
        penalty_per_point=_common([t.penalty_per_point for t in terms]),
        currency=_common([t.currency for t in terms]), target_ids=tuple(tid for t in terms for tid in t.target_ids))


def read(ws: Workspace, scope: Scope) -> Contracts:
    """The contract terms `scope` may see, read from the store now (every call reads afresh)."""
    return Contracts.of(ws.read("sla_targets", scope))


def in_force(ws: Workspace, scope: Scope, kpi: str, segment: Mapping[str, Any], start: date,
             end: date | None = None) -> Target | None:
    """The contract target for `kpi` binding `segment` of the work `scope` sees, start to end (default: start's week), read fresh."""
    return read(ws, scope).in_force(kpi, in_view(scope, segment), start, end)
